"""Structured step events: what every role and shim reports, in virtual time.

An event has a name, the clock time it happened at, a result (``ok`` or the reason it failed), the
actor that saw it and optionally the peer it talks to, and details.  An event that is one end of a
message (``MESSAGES``: a frame or exchange one side sends and the other receives) also names its
``sender`` and ``receiver`` (the actor and the peer, in the message's direction) and the ``message``:
the sequence diagram draws one arrow per message from sender to receiver, however many ends log it.
The scenario report, the ``--json`` output and the test transcripts all read the same ``EventLog``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from rig.clock import Clock

LOGGER = logging.getLogger("rig.events")     # every event at DEBUG too: a failed test's rig.log shows them

SENT, RECEIVED = "sent", "received"

#: Events that are one end of a message: event name -> (message, which end logs it).  ``None`` as the
#: message: a GBCS message, named by its use case and CRA flag (``CCS01 command``), whose bytes (the
#: detail's ``hex``) tell the two ends' events apart from other messages.  An exchange (CBKE, a join,
#: a scan) is drawn as one arrow from the side that starts it.
MESSAGES: dict[str, tuple[str | None, str]] = {
    "hht.scan": ("scan (beacon request)", SENT),
    "hht.cbke_interpan": ("CBKE over inter-PAN", SENT),
    "ch.cbke_interpan": ("CBKE over inter-PAN", RECEIVED),
    "hht.ccs01_sent": (None, SENT),
    "hht.ccs01_response": (None, RECEIVED),
    "hht.gbcs_sent": (None, SENT),
    "hht.gbcs_response": (None, RECEIVED),
    "ch.gbcs_received": (None, RECEIVED),
    "ch.gbcs_answered": (None, SENT),
    "ch.gbcs_relayed": (None, SENT),
    "hht.joined_han": ("join", SENT),
    "ppmid.joined_han": ("join", SENT),
    "meter.joined_han": ("join", SENT),
    "ch.device_joined": ("join", RECEIVED),
    "hht.cbke_han": ("CBKE", SENT),
    "ppmid.cbke_han": ("CBKE", SENT),
    "meter.cbke_with_ch": ("CBKE", SENT),
    "ch.cbke_han": ("CBKE", RECEIVED),
    "hht.tunnel": ("tunnel request", SENT),
    "ch.tunnel_opened": ("tunnel request", RECEIVED),
    "hht.left_han": ("leave", SENT),
    "ch.device_left": ("leave", RECEIVED),
    "ch.leave_requested": ("leave request", SENT),
    "meter.report_to_partner": ("ESME report", SENT),
    "ppmid.esme_report": ("ESME report", RECEIVED),
    "meter.read_answered": ("read response", SENT),
    "ppmid.esme_read": ("read response", RECEIVED),
    "gsme.tunnel": ("tunnel request", SENT),
    "ch.gbcs_released": (None, SENT),             # a held command, in the GET-RESPONSE to a sleepy GSME
    "gsme.gbcs_received": (None, RECEIVED),
    "gsme.gbcs_put": (None, SENT),                # its response, PUT
    "gsme.mirror_put": ("mirror update (PUT)", SENT),
    "gpf.mirror_updated": ("mirror update (PUT)", RECEIVED),
    "gpf.read_answered": ("gas read response", SENT),
    "ppmid.gas_read": ("gas read response", RECEIVED),
}

#: What a step's result says when it is a success.
SUCCESS = frozenset({"ok", "paired"})
#: Events whose result says why a normal thing happened (an HHT's residency ended), not a failure.
RESULT_IS_WHY = frozenset({"ch.device_log_removed", "ch.session_evicted"})


def failed(name: str, result: str) -> bool:
    """Whether a step went wrong (what a table or the report may show in red; a success never is)."""
    return result not in SUCCESS and name not in RESULT_IS_WHY


def message_of(name: str, detail: dict[str, Any]) -> str | None:
    """The message an event is one end of (``MESSAGES``), or None."""
    if name not in MESSAGES:
        return None
    label = MESSAGES[name][0]
    if label is None:
        label = " ".join(str(detail[k]) for k in ("use_case", "cra") if detail.get(k)) or "GBCS"
    return label


@dataclass(frozen=True)
class Event:
    name: str
    time: float             # seconds since the log's origin (the scenario's start)
    result: str = "ok"
    actor: str = ""
    peer: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    sender: str | None = None       # for one end of a message (MESSAGES): who sent it ...
    receiver: str | None = None     # ... and who it was for (actor and peer, in that order or reversed)
    message: str | None = None

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
        sender = receiver = message = None
        if name in MESSAGES:
            message = message_of(name, detail)
            sender, receiver = (actor, peer) if MESSAGES[name][1] == SENT else (peer, actor)
        event = Event(name, self.now(), result, actor, peer, detail, sender, receiver, message)
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
