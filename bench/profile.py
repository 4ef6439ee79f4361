"""Where a run's CPU goes: a statistical profile by the code that spends it (for the bench's limits).

``Sampler`` is a small in-process sampling profiler: ``setitimer(ITIMER_PROF)`` fires every
``interval`` seconds of this process's CPU time, and the signal handler (main thread, between
bytecodes) files the interrupted stack under one of ``SHARES``.  Sampling on CPU time means an idle
loop is never sampled, and unlike cProfile it does not inflate code made of many small calls.

A sample is ``crypto`` when any frame on its stack is inside a ``rig.cputime.crypto`` entry point (the
same CPU the scenarios report as ``crypto_cpu_seconds``); otherwise it belongs to the innermost frame
that is neither the standard library nor zigpy (``json`` called by the NV store is the NV store's, a
zigpy type built by the emulated NCP is the NCP's, one built by bellows is bellows'), and that frame's
file names its share.  ``ours`` lists the shares this repository can change; the rest is the host
stack (bellows, serialx), asyncio's loop and other libraries.
"""

from __future__ import annotations

import collections
import os
import signal
from pathlib import Path
from typing import Self

ROOT = str(Path(__file__).resolve().parents[1])
_SITE = ("site-packages", "dist-packages")

#: share -> who can change it
SHARES = {
    "crypto (CBKE, ECDSA, ECDH, AES)": "ours: the CBKE maths",
    "host stack: bellows, serialx": "libraries",
    "asyncio loop and selectors": "standard library",
    "other libraries": "libraries",
    "emulated NCP: ASH": "ours",
    "emulated NCP: EZSP, stack, NV": "ours",
    "virtual air": "ours",
    "rig: roles, CH, GBCS, ZigBee codecs": "ours",
    "rig: clock, des, events, files": "ours",
    "standard library (no caller of ours)": "standard library",
}
OURS = tuple(k for k, v in SHARES.items() if v == "ours")


def _share(path: str) -> str | None:
    """The share of a frame's file, or None for the standard library (look further out)."""
    if any(s in path for s in _SITE):
        tail = path.split("-packages" + os.sep, 1)[1]
        if tail.startswith("zigpy"):
            return None    # zigpy's types count for whoever uses them: bellows, or our NCP and roles
        return "host stack: bellows, serialx" if tail.startswith(("bellows", "serialx")) else "other libraries"
    if path.startswith(ROOT):
        rel = path[len(ROOT) + 1:]
        if rel.startswith("firmware_shims/ncp/ash"):
            return "emulated NCP: ASH"
        if rel.startswith("firmware_shims/air"):
            return "virtual air"
        if rel.startswith("firmware_shims"):
            return "emulated NCP: EZSP, stack, NV"
        if rel.startswith(("rig/clock", "rig/des", "rig/events", "rig/atomic", "rig/cputime")):
            return "rig: clock, des, events, files"
        if rel.startswith("rig"):
            return "rig: roles, CH, GBCS, ZigBee codecs"
        return None        # bench/, the caller: look further in
    if "asyncio" in path or path.endswith("selectors.py"):
        return "asyncio loop and selectors"
    return None


class Sampler:
    """``with Sampler() as s: ...``; then ``s.counts`` (share -> samples) and ``s.shares()``."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.counts: collections.Counter[str] = collections.Counter()
        self.where: collections.Counter[tuple[str, str]] = collections.Counter()   # (file, function)
        self._cputime = os.path.join(ROOT, "rig", "cputime.py")
        self._cache: dict[str, str | None] = {}
        self._previous = None

    def _handler(self, _signum, frame) -> None:
        leaf = None
        code = None
        while frame is not None:
            path = frame.f_code.co_filename
            if path == self._cputime:
                self.counts["crypto (CBKE, ECDSA, ECDH, AES)"] += 1
                return
            if leaf is None:
                share = self._cache.get(path, "?")
                if share == "?":
                    share = self._cache[path] = _share(path)
                if share is not None:
                    leaf, code = share, frame.f_code
            frame = frame.f_back
        self.counts[leaf or "standard library (no caller of ours)"] += 1
        if code is not None:
            self.where[(code.co_filename.replace(ROOT + os.sep, ""), code.co_name)] += 1

    def __enter__(self) -> Self:
        self._previous = signal.signal(signal.SIGPROF, self._handler)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous or signal.SIG_DFL)

    def shares(self) -> dict[str, float]:
        total = sum(self.counts.values()) or 1
        return {k: self.counts[k] / total for k in SHARES if self.counts[k]}


def summary(sampler: Sampler, cpu_seconds: float, *, indent: str = "    ") -> list[str]:
    """Lines: each share of the sampled ``cpu_seconds`` with its seconds, and the CPU/crypto ratio if
    all of ours but the crypto took no time at all (the floor the libraries and the loop leave)."""
    shares = sampler.shares()
    lines = [f"{indent}{share:40} {100 * f:5.1f} %  {f * cpu_seconds:6.3f} s  ({SHARES[share]})"
             for share, f in sorted(shares.items(), key=lambda kv: -kv[1])]
    ours = sum(shares.get(k, 0.0) for k in OURS)
    crypto = shares.get("crypto (CBKE, ECDSA, ECDH, AES)", 0.0)
    if crypto:
        floor = (1.0 - ours) / crypto
        lines.append(f"{indent}{sum(sampler.counts.values())} samples; ours beside the crypto {100 * ours:.1f} %; "
                     f"were all of it free, CPU/crypto would be {floor:.2f}x (libraries + loop + crypto)")
    return lines
