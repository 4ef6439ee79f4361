"""The refusal value every role returns when it declines a message (CH, ESME, GPF alike).

Its own module so that the meter shims and the CH program both import it without one importing the other.
``reason`` is a short machine-readable name (the tests and the attack verdicts compare it exactly);
``detail`` is free text for people.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    reason: str
    detail: str = ""
    ok = False
