"""CPU seconds spent in cryptography, for the scenarios' ``crypto_cpu_seconds``.

``@crypto`` wraps the crypto entry points (CBKE's ECMQV, certificates and ECDSA on the Koblitz curves,
GBCS ECDH/ECDSA/GMAC, ZigBee AES-CCM* and AES-MMO).  It reads the thread's CPU clock at the outermost
call only, so nested entry points (ECMQV calling the point decoder) count once; the total is
per process (each scenario reads it before and after).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

_total = 0.0
_depth = 0
_clock = time.thread_time


def crypto(fn: F) -> F:
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        global _total, _depth
        if _depth:
            return fn(*args, **kwargs)
        _depth = 1
        t0 = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            _total += _clock() - t0
            _depth = 0

    return timed  # type: ignore[return-value]


def crypto_seconds() -> float:
    """CPU seconds this process has spent inside ``@crypto`` functions."""
    return _total
