"""The radio below the emulated NCP: an interface, plus a loopback stand-in.

The NCP's stack talks to a ``Radio``: it transmits 802.15.4 PSDUs (MAC header .. payload, *with* the
2-byte FCS) and receives them through a callback with link quality and RSSI.  The virtual air
(``firmware_shims/air``) supplies the real implementation; ``LoopbackRadio`` lets a lone dongle run
(transmissions go nowhere, energy reads as a quiet channel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rig.zigbee.frames import fcs as _fcs_int

ReceiveCallback = Callable[[bytes, int, int], None]
"""``(psdu_with_fcs, lqi, rssi_dbm)``."""

CHANNELS = range(11, 27)


def fcs(frame: bytes) -> bytes:
    """IEEE 802.15.4 FCS (CRC-16/KERMIT, little-endian) of a MAC frame."""
    return _fcs_int(frame).to_bytes(2, "little")


@dataclass
class TxResult:
    """What the radio reports after a transmission: ``acked`` only for frames that asked for one."""

    sent: bool
    acked: bool | None = None
    reason: str = ""


class Radio:
    """Interface every radio below the NCP implements."""

    channel: int = 11
    on_receive: ReceiveCallback | None = None
    listening: Callable[[], bool] | None = None      # set by the NCP's stack: is the receiver on now?

    def set_channel(self, channel: int) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"802.15.4 channel {channel} is outside 11..26")
        self.channel = channel

    async def transmit(self, psdu: bytes) -> TxResult:  # pragma: no cover - interface
        raise NotImplementedError

    def energy(self, channel: int) -> int:
        """Energy detected on ``channel`` in dBm."""
        raise NotImplementedError  # pragma: no cover - interface

    def close(self) -> None:
        """Detach from the medium (power off)."""

    def key_hint(self, key: bytes, label: str) -> None:
        """A key this node now uses.  Real radios ignore it; an emulated medium hands it to its
        capture's Wireshark keys folder so every emulated run leaves a decryptable pcap."""


class LoopbackRadio(Radio):
    """A radio alone in a shielded box: nothing is heard, every send 'succeeds' unacknowledged."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def transmit(self, psdu: bytes) -> TxResult:
        self.sent.append(psdu)
        wants_ack = bool(psdu and psdu[0] & 0x20)
        return TxResult(sent=True, acked=False if wants_ack else None,
                        reason="no receiver" if wants_ack else "")

    def energy(self, channel: int) -> int:
        return -95
