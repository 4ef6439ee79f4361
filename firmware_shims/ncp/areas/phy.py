"""PHY area: the radio's interfaces, duty cycle, scheduler priorities and the v18+ calibration tokens.

One 2.4 GHz interface (``getPhyInterfaceCount`` 1): the sub-GHz multi-PHY commands answer for
interface 0 only ([I] a second PHY index is an invalid parameter).  Duty-cycle tracking is a sub-GHz
(GB868/Europe) feature: on 2.4 GHz it is off.  The calibration values of EZSP v18+ (CTUNE, RSSI offset,
PA mode/voltage, the DHC power-amplifier tables) live in RAM with the defaults a fresh part reads
([I]: erased tokens; the PA tables report NOT_FOUND until written).
"""

from __future__ import annotations

import bellows.types as t

from ..ezsp import ZeroRest
from .base import Area


class PhyArea(Area):
    """Radio interfaces, duty cycle, priorities, calibration."""

    def cmd_getPhyInterfaceCount(self, p):
        return {"interfaceCount": 1}

    def _radio_parameters(self) -> dict:
        channel = self.stack.channel if self.stack is not None else 11
        if self.network is not None:
            channel = self.network.channel
        return {"radioTxPower": self.state.radio_power, "radioPage": 0, "radioChannel": channel}

    def cmd_getRadioParameters(self, p):
        if int(p["phyIndex"]) != 0:
            return ZeroRest(status="INVALID_PARAMETER")
        return {"status": "OK", "parameters": self._radio_parameters()}

    def cmd_multiPhyStart(self, p):
        # interface 0 is the primary PHY, always started; there is no second one [I]
        return {"status": "INVALID_PARAMETER" if int(p["phyIndex"]) else "INVALID_STATE"}

    def cmd_multiPhyStop(self, p):
        return {"status": "INVALID_PARAMETER" if int(p["phyIndex"]) else "INVALID_STATE"}

    def cmd_multiPhySetRadioPower(self, p):
        if int(p["phyIndex"]) != 0:
            return {"status": "INVALID_PARAMETER"}
        self.state.radio_power = int(p["power"])
        return {"status": "OK"}

    def cmd_multiPhySetRadioChannel(self, p):
        channel = int(p["channel"])
        if int(p["phyIndex"]) != 0 or int(p["page"]) != 0 or not 11 <= channel <= 26:
            return {"status": "INVALID_PARAMETER"}
        if self.stack is not None:
            self.stack.set_channel(channel)
        return {"status": "OK"}

    # --- duty cycle (sub-GHz only) -------------------------------------------------------------------
    def cmd_getDutyCycleState(self, p):
        return {"status": "OK", "returnedState": t.EmberDutyCycleState.DUTY_CYCLE_TRACKING_OFF}

    def cmd_setDutyCycleLimitsInStack(self, p):
        # bellows declares EmberDutyCycleLimits as vendorId + vendorString (9 bytes) where EmberZNet's
        # struct is limitThresh, critThresh, suspLimit; the frame follows the declared table, and the
        # limits are kept as sent (tracking is off on 2.4 GHz, nothing reads them) [I]
        self.state.duty_cycle_limits = p["limits"]
        return {"status": "OK"}

    def cmd_getDutyCycleLimits(self, p):
        if self.state.duty_cycle_limits is None:
            return ZeroRest(status="OK")          # no limits set: all zero
        return {"status": "OK", "limits": self.state.duty_cycle_limits}

    def cmd_getCurrentDutyCycle(self, p):
        # per-device consumption, an array of maxDevices entries (node, consumed); tracking is off
        count = int(p["maxDevices"])
        entries = [t.EmberPerDeviceDutyCycle(nodeId=0xFFFF, dutyCycleConsumed=0)] * min(count, 16)
        return {"status": "OK", "arrayOfDeviceDutyCycles": bytes(b"".join(e.serialize() for e in entries)) +
                bytes(134 - 4 * len(entries))}

    def cmd_radioSetSchedulerPriorities(self, p):
        self.state.scheduler_priorities = p["priorities"]
        return {}

    # --- calibration (EZSP v18+) ------------------------------------------------------------------
    def _cal(self, name, default=0):
        return self.state.calibration.get(name, default)

    def _set_cal(self, name, value):
        self.state.calibration[name] = value
        return {"status": "OK"}

    def cmd_readCtune(self, p):
        return {"status": "OK", "ctune": self._cal("ctune", 0x0000)}

    def cmd_writeCtune(self, p):
        return self._set_cal("ctune", int(p["ctune"]))

    def cmd_readRssiOffset(self, p):
        return {"status": "OK", "rssi_offset": self._cal("rssi_offset")}

    def cmd_writeRssiOffset(self, p):
        return self._set_cal("rssi_offset", int(p["rssi_offset"]))

    def cmd_readPaMode(self, p):
        return {"status": "OK", "pa_mode": self._cal("pa_mode")}

    def cmd_writePaMode(self, p):
        return self._set_cal("pa_mode", int(p["pa_mode"]))

    def cmd_readPaVoltage(self, p):
        return {"status": "OK", "pa_voltage": self._cal("pa_voltage", 3300)}   # mV [I]

    def cmd_writePaVoltage(self, p):
        return self._set_cal("pa_voltage", int(p["pa_voltage"]))

    def cmd_readDhcVersion(self, p):
        return {"status": "OK", "dhc_version": self._cal("dhc_version")}

    def cmd_writeDhcVersion(self, p):
        return self._set_cal("dhc_version", int(p["dhc_version"]))

    def cmd_readPaVersion(self, p):
        return {"status": "OK", "pa_version": self._cal("pa_version")}

    def cmd_readPaSignature(self, p):
        return {"status": "OK", "pa_signature": self._cal("pa_signature")}

    def cmd_writePaSignature(self, p):
        return self._set_cal("pa_signature", int(p["pa_signature"]))

    def _read_table(self, name: str, field: str):
        value = self.state.calibration.get(name)
        if value is None:
            return ZeroRest(status="NOT_FOUND")
        return {"status": "OK", field: value}

    def cmd_readPaMetadata(self, p):
        return self._read_table("pa_metadata", "metadata")

    def cmd_writePaMetadata(self, p):
        return self._set_cal("pa_metadata", p["metadata"])

    def cmd_readPaDescriptor(self, p):
        return self._read_table(f"pa_descriptor{int(p['index'])}", "descriptor")

    def cmd_writePaDescriptor(self, p):
        return self._set_cal(f"pa_descriptor{int(p['index'])}", p["descriptor"])

    def cmd_readPaCurve(self, p):
        return self._read_table(f"pa_curve{int(p['index'])}", "curve")

    def cmd_writePaCurve(self, p):
        return self._set_cal(f"pa_curve{int(p['index'])}", p["curve"])

    def cmd_readPaCurveSegment(self, p):
        return self._read_table(f"pa_segment{int(p['index'])}.{int(p['segment_index'])}", "segment")

    def cmd_writePaCurveSegment(self, p):
        return self._set_cal(f"pa_segment{int(p['index'])}.{int(p['segment_index'])}", p["segment"])

    def cmd_readPaTable(self, p):
        return self._read_table(f"pa_table{int(p['index'])}", "table")

    def cmd_writePaTable(self, p):
        return self._set_cal(f"pa_table{int(p['index'])}", p["table"])
