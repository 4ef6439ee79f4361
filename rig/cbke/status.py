"""Status values the CBKE EZSP frames carry (notes/cbke.md §7; values as in bellows 1.2.1).

EZSP v4–v13 carry an ``EmberStatus`` (u8), v14 on an ``sl_Status`` (u32); ``ezsp_status`` picks.
"""

from __future__ import annotations

from enum import IntEnum


class EmberStatus(IntEnum):
    SUCCESS = 0x00
    ERR_FATAL = 0x01
    INVALID_CALL = 0x70
    LIBRARY_NOT_PRESENT = 0xB5
    SIGNATURE_VERIFY_FAILURE = 0xB9
    OPERATION_IN_PROGRESS = 0xBA


class SlStatus(IntEnum):
    OK = 0x0000
    FAIL = 0x0001
    INVALID_STATE = 0x0002
    IN_PROGRESS = 0x0005
    NOT_AVAILABLE = 0x000E
    ZIGBEE_SIGNATURE_VERIFY_FAILURE = 0x0C0D


EMBER_TO_SL: dict[EmberStatus, SlStatus] = {
    EmberStatus.SUCCESS: SlStatus.OK,
    EmberStatus.ERR_FATAL: SlStatus.FAIL,
    EmberStatus.INVALID_CALL: SlStatus.INVALID_STATE,
    EmberStatus.LIBRARY_NOT_PRESENT: SlStatus.NOT_AVAILABLE,
    EmberStatus.SIGNATURE_VERIFY_FAILURE: SlStatus.ZIGBEE_SIGNATURE_VERIFY_FAILURE,
    EmberStatus.OPERATION_IN_PROGRESS: SlStatus.IN_PROGRESS,
}

# What generateCbkeKeys*/calculateSmacs*/dsaVerify* answer at once on a real NCP; the result follows
# in the handler callback.
IMMEDIATE_STATUS = EmberStatus.OPERATION_IN_PROGRESS


def to_sl_status(status: EmberStatus) -> SlStatus:
    return EMBER_TO_SL[EmberStatus(status)]


def ezsp_status(status: EmberStatus, ezsp_version: int) -> int:
    """The number to put on the wire for ``status`` in a frame of this EZSP protocol version."""
    return int(to_sl_status(status)) if ezsp_version >= 14 else int(status)
