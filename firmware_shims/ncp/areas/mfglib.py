"""Manufacturing-library area (mfglib): the radio without the ZigBee stack, e.g. as a sniffer.

``mfglibStart(rxCallback)`` takes the radio away from the stack: the radio receives every frame on
its channel (no address filter, no MAC acks) and, when ``rxCallback`` is set, hands each to the host
in ``mfglibRxHandler(linkQuality, rssi, packetContents)`` — the PSDU with its two trailing bytes,
where a real NCP puts two bytes that are not an FCS (bellows drops them); the emulator leaves the
FCS there [I].  ``mfglibSendPacket`` transmits ``packetContents`` whose last two bytes the radio
overwrites with the FCS.  ``mfglibEnd`` gives the radio back to the stack.  Tone and stream are the
test carriers; the virtual air has no energy model for them, they only change the mode [I].

EmberZNet answers mfglib commands issued while the library is not started, and mfglibStart while a
network is up, with an error: [I] INVALID_STATE (EMBER_INVALID_CALL on v13).
"""

from __future__ import annotations

from ..radio import CHANNELS, fcs
from .base import Area

MAX_PSDU = 127


class MfglibArea(Area):
    """mfglib start/end, channel, power, tone/stream, send and receive."""

    def _mfglib(self) -> dict | None:
        return self.state.mfglib

    def cmd_mfglibStart(self, p):
        if self.state.mfglib is not None or self.state.network_up or self.stack is None:
            return {"status": "INVALID_STATE"}
        radio = self.stack.radio
        self.state.mfglib = {"rx": bool(p["rxCallback"]), "power": self.state.radio_power, "power_mode": 0,
                             "tone": False, "stream": False, "stack_receive": radio.on_receive,
                             "promiscuous": getattr(radio, "promiscuous", None), "sent": 0, "received": 0}
        radio.on_receive = self._mfglib_receive
        if hasattr(radio, "promiscuous"):
            radio.promiscuous = True        # the radio's frame filter and auto-ack are off
        return {"status": "OK"}

    def cmd_mfglibEnd(self, p):
        if self.state.mfglib is None:
            return {"status": "INVALID_STATE"}
        self.mfglib_stop()
        return {"status": "OK"}

    def mfglib_stop(self) -> None:
        """Give the radio back to the stack (mfglibEnd, and any reset: the library is RAM)."""
        mfg = self.state.mfglib
        if mfg is None or self.stack is None:
            return
        radio = self.stack.radio
        radio.on_receive = mfg["stack_receive"]
        if mfg["promiscuous"] is not None:
            radio.promiscuous = mfg["promiscuous"]
        self.state.mfglib = None

    def _mfglib_receive(self, psdu: bytes, lqi: int, rssi: int) -> None:
        mfg = self.state.mfglib
        if mfg is None:                      # reset meanwhile: the stack's handler is back next boot
            return
        mfg["received"] += 1
        if mfg["rx"]:
            self.callback("mfglibRxHandler", linkQuality=lqi, rssi=max(-128, min(127, rssi)),
                          packetContents=bytes(psdu))

    def cmd_mfglibSetChannel(self, p):
        channel = int(p["channel"])
        if self.state.mfglib is None:
            return {"status": "INVALID_STATE"}
        if channel not in CHANNELS:
            return {"status": "INVALID_PARAMETER"}
        self.stack.radio.set_channel(channel)
        return {"status": "OK"}

    def cmd_mfglibGetChannel(self, p):
        return {"channel": self.stack.radio.channel if self.stack is not None else 11}

    def cmd_mfglibSetPower(self, p):
        if self.state.mfglib is None:
            return {"status": "INVALID_STATE"}
        power = int(p["power"])
        if not -43 <= power <= 20:           # [I] the EFR32 2.4 GHz PA range in dBm
            return {"status": "INVALID_PARAMETER"}
        self.state.mfglib["power"], self.state.mfglib["power_mode"] = power, int(p["txPowerMode"])
        return {"status": "OK"}

    def cmd_mfglibGetPower(self, p):
        mfg = self.state.mfglib
        return {"power": mfg["power"] if mfg else self.state.radio_power}

    def cmd_mfglibSendPacket(self, p):
        mfg = self.state.mfglib
        contents = bytes(p["packetContents"])
        if mfg is None:
            return {"status": "INVALID_STATE"}
        if not 5 <= len(contents) <= MAX_PSDU:
            return {"status": "INVALID_PARAMETER"}
        if mfg["tone"] or mfg["stream"]:
            return {"status": "INVALID_STATE"}           # the radio is busy sending a test carrier
        frame = contents[:-2]
        mfg["sent"] += 1
        self.stack.spawn(self.stack.radio.transmit(frame + fcs(frame)))
        return {"status": "OK"}

    def _carrier(self, kind: str, on: bool):
        mfg = self.state.mfglib
        if mfg is None or (on and (mfg["tone"] or mfg["stream"])) or (not on and not mfg[kind]):
            return {"status": "INVALID_STATE"}
        mfg[kind] = on
        return {"status": "OK"}

    def cmd_mfglibStartTone(self, p):
        return self._carrier("tone", True)

    def cmd_mfglibStopTone(self, p):
        return self._carrier("tone", False)

    def cmd_mfglibStartStream(self, p):
        return self._carrier("stream", True)

    def cmd_mfglibStopStream(self, p):
        return self._carrier("stream", False)
