"""The GPF's side of a sleepy GSME, with no radio: the held-message queue, the tunnel header, the mirror.

``rig.pairing`` (``SLEEPY_PROTOCOL``) says what travels; this module keeps the state and is driven by the
CH shim (``rig.roles.ch.shim``), as Silicon Labs' comms-hub-function drives its sleepy-message-queue
and meter-mirror plugins:

* ``SleepyQueue``: GBCS messages the CHF holds for sleepy devices, oldest first, at most
  ``SLEEPY_QUEUE_SIZE`` in all (a further one is refused ``sleepy_queue_full``), each dropped
  ``SLEEPY_QUEUE_TIMEOUT_S`` after it was held (``ch.sleepy_message_expired``, GBCS event 0x809D
  "GSME command not retrieved" in SL).  ``take(eui)`` gives the oldest and how many are still held.
* ``split_sleepy(data)``: the header byte of a sleepy device's tunnel data and what follows.
* ``GasMirror``: the attributes the GSME last PUT (a ZCL Report Attributes frame of its Metering
  server); ``read_answer`` builds the GPF's answer to a Metering Read Attributes from it.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from zigpy.zcl.foundation import DataTypeId, GeneralCommand, Status

from rig import pairing
from rig.clock import Clock, Timer
from rig.events import EventLog
from rig.roles.refusal import Refusal
from rig.zigbee.zcl import ZclHeader

#: ZCL data types a mirror update may carry: type id -> value length (ZCL spec table 2-10)
MIRROR_TYPES = {int(DataTypeId.uint8): 1, int(DataTypeId.uint16): 2, int(DataTypeId.uint24): 3,
                int(DataTypeId.uint32): 4, int(DataTypeId.uint48): 6, int(DataTypeId.map8): 1,
                int(DataTypeId.map32): 4, int(DataTypeId.enum8): 1}


@dataclass
class HeldMessage:
    eui64: str
    data: bytes
    held_at: float
    timer: Timer | None = field(default=None, repr=False)


class SleepyQueue:
    """GBCS messages held for sleepy devices until they GET them."""

    def __init__(self, clock: Clock, events: EventLog | None = None, *, size: int = pairing.SLEEPY_QUEUE_SIZE,
                 timeout_s: float = pairing.SLEEPY_QUEUE_TIMEOUT_S,
                 on_expired: Callable[[HeldMessage], None] | None = None) -> None:
        self.clock = clock
        self.events = events
        self.size = size
        self.timeout_s = timeout_s
        self.on_expired = on_expired
        self._held: dict[str, deque[HeldMessage]] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self._held.values())

    def pending(self, eui64: str) -> int:
        return len(self._held.get(eui64.upper(), ()))

    def hold(self, eui64: str, data: bytes) -> Refusal | None:
        eui64 = eui64.upper()
        if len(self) >= self.size:
            return Refusal("sleepy_queue_full", f"the CHF already holds {len(self)} messages for sleepy devices "
                           f"(SLEEPY_QUEUE_SIZE {self.size})")
        held = HeldMessage(eui64, data, self.clock.now())
        held.timer = self.clock.call_later(self.timeout_s, self._expire, held)
        self._held.setdefault(eui64, deque()).append(held)
        return None

    def take(self, eui64: str) -> tuple[HeldMessage | None, int]:
        """The oldest message held for ``eui64`` (None: nothing) and how many are still held after it."""
        queue = self._held.get(eui64.upper())
        if not queue:
            return None, 0
        held = queue.popleft()
        if held.timer is not None:
            held.timer.cancel()
        if not queue:
            del self._held[eui64.upper()]
        return held, len(queue)

    def drop(self, eui64: str) -> list[HeldMessage]:
        """Forget every message for ``eui64`` (it left the device log); returns them."""
        queue = self._held.pop(eui64.upper(), deque())
        for held in queue:
            if held.timer is not None:
                held.timer.cancel()
        return list(queue)

    def clear(self) -> None:
        for eui in list(self._held):
            self.drop(eui)

    def _expire(self, held: HeldMessage) -> None:
        queue = self._held.get(held.eui64)
        if queue is None or held not in queue:
            return
        queue.remove(held)
        if not queue:
            del self._held[held.eui64]
        if self.events is not None:
            self.events.emit("CH", "ch.sleepy_message_expired", "not_retrieved", peer=held.eui64,
                             held_s=round(self.clock.now() - held.held_at, 3))
        if self.on_expired is not None:
            self.on_expired(held)


def split_sleepy(data: bytes) -> tuple[int, bytes] | None:
    """``(header, rest)`` of a sleepy device's tunnel data; None when the header is not in ``SLEEPY_PROTOCOL``."""
    if not data or data[0] not in pairing.SLEEPY_PROTOCOL:
        return None
    return data[0], data[1:]


def get_response(remaining: int, message: bytes = b"") -> bytes:
    return bytes([pairing.TUNNEL_GET_RESPONSE, min(remaining, 0xFF)]) + message


def put(data: bytes) -> bytes:
    return bytes([pairing.TUNNEL_PUT]) + data


def is_gbcs(body: bytes) -> bool:
    return bool(body) and body[0] in pairing.GBCS_FIRST_BYTES


def report_records(values: dict[int, tuple[int, int]]) -> bytes:
    """Report Attributes records: attribute id -> (ZCL type, value)."""
    out = b""
    for attr, (type_id, value) in values.items():
        out += struct.pack("<HB", attr, type_id) + value.to_bytes(MIRROR_TYPES[type_id], "little")
    return out


def parse_records(payload: bytes) -> dict[int, tuple[int, int]]:
    """The records of a Report Attributes payload; ``ValueError`` names what does not fit."""
    out, i = {}, 0
    while i < len(payload):
        if i + 3 > len(payload):
            raise ValueError(f"record at byte {i} is cut short")
        attr, type_id = struct.unpack_from("<HB", payload, i)
        size = MIRROR_TYPES.get(type_id)
        if size is None:
            raise ValueError(f"attribute 0x{attr:04X} has ZCL type 0x{type_id:02X}, which a mirror does not take")
        if i + 3 + size > len(payload):
            raise ValueError(f"attribute 0x{attr:04X}'s value is cut short")
        out[attr] = (type_id, int.from_bytes(payload[i + 3:i + 3 + size], "little"))
        i += 3 + size
    if not out:
        raise ValueError("no attribute records")
    return out


@dataclass
class GasMirror:
    """The GPF's copy of the GSME's Metering attributes (what the GSME last PUT)."""

    attributes: dict[int, tuple[int, int]] = field(default_factory=dict)
    source: str | None = None
    updated_at: float | None = None

    def update(self, eui64: str, zcl_frame: bytes, now: float) -> Refusal | None:
        try:
            zcl = ZclHeader.decode(zcl_frame)
        except Exception as exc:  # noqa: BLE001 - a malformed frame is named, not raised
            return Refusal("mirror_update_malformed", f"not a ZCL frame: {exc}")
        if zcl.frame_type != 0 or zcl.command_id != GeneralCommand.Report_Attributes or zcl.direction != 1:
            return Refusal("mirror_update_not_report", f"a mirror takes a Metering server's Report Attributes, not "
                           f"ZCL command 0x{zcl.command_id:02X} (frame type {zcl.frame_type}, direction {zcl.direction})")
        try:
            records = parse_records(zcl.payload)
        except ValueError as exc:
            return Refusal("mirror_update_malformed", str(exc))
        self.attributes.update(records)
        self.source, self.updated_at = eui64.upper(), now
        return None

    def clear(self) -> None:
        self.attributes.clear()
        self.source = self.updated_at = None

    def read_answer(self, request: ZclHeader, *, authorized: bool) -> ZclHeader:
        """The GPF's answer to a Metering Read Attributes: Default Response NOT_AUTHORIZED for a device it
        has not joined, else Read Attributes Response from the mirror (UNSUPPORTED_ATTRIBUTE for an
        attribute the GSME never put)."""
        if not authorized:
            return ZclHeader(frame_type=0, direction=1, disable_default_response=1, seq=request.seq,
                             command_id=GeneralCommand.Default_Response,
                             payload=bytes([request.command_id, Status.NOT_AUTHORIZED]))
        out = b""
        for i in range(0, len(request.payload) - 1, 2):
            (attr,) = struct.unpack_from("<H", request.payload, i)
            if attr in self.attributes:
                type_id, value = self.attributes[attr]
                out += struct.pack("<HBB", attr, Status.SUCCESS, type_id) + value.to_bytes(MIRROR_TYPES[type_id], "little")
            else:
                out += struct.pack("<HB", attr, Status.UNSUPPORTED_ATTRIBUTE)
        return ZclHeader(frame_type=0, direction=1, disable_default_response=1, seq=request.seq,
                         command_id=GeneralCommand.Read_Attributes_rsp, payload=out)
