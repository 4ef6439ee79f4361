"""Structured step events: what every role and shim reports, in virtual time.

An event has a name, the clock time it happened at, a result (``ok`` or the reason it failed), the
actor that saw it and optionally the peer it talks to (the sequence diagram's arrow) and details.
The scenario report, the ``--json`` output and the test transcripts all read the same ``EventLog``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from rig.clock import Clock

LOGGER = logging.getLogger("rig.events")     # every event at DEBUG too: a failed test's rig.log shows them


@dataclass(frozen=True)
class Event:
    name: str
    time: float             # seconds since the log's origin (the scenario's start)
    result: str = "ok"
    actor: str = ""
    peer: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = round(self.time, 3)
        return d


class EventLog:
    """Append-only list of events stamped with ``clock`` (relative to the log's creation)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.origin = clock.now()
        self.events: list[Event] = []
        self.listeners: list = []

    def now(self) -> float:
        return self.clock.now() - self.origin

    def emit(self, actor: str, name: str, result: str = "ok", *, peer: str | None = None, **detail: Any) -> Event:
        event = Event(name, self.now(), result, actor, peer, detail)
        self.events.append(event)
        if LOGGER.isEnabledFor(logging.DEBUG):
            LOGGER.debug("%.3f %s %s %s peer=%s %s", event.time, actor, name, result, peer,
                         {k: v for k, v in detail.items() if k != "hex"})
        for listener in self.listeners:
            listener(event)
        return event

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.events]
