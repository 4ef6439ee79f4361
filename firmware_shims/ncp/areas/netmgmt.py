"""Network-management area: rejoin, PAN-ID and channel management, energy-scan requests, the stored
beacons, beacon classification, polling, the v13 address-table setters and the alias/proxy sends.

What needs the air goes through the stack where the stack has it (scans, channel); [I] marks what the
emulator answers without putting a frame on the air.
"""

from __future__ import annotations

import bellows.types as t

from ..ezsp import ZeroRest
from .base import Area

#: EmberZNet's default beacon classification (sl_zigbee_beacon_classification_params: min RSSI -40 dBm
#: [I], mask 0: no prioritisation)
BEACON_CLASSIFICATION = {"minRssiForReceivingPkts": -40, "beaconClassificationMask": 0}
POLL_S = 0.01           # [I] a data request and its MAC ack


class NetworkManagementArea(Area):
    """Rejoin, PAN/channel management, beacons, polling, table setters, alias sends."""

    def cmd_findAndRejoinNetwork(self, p):
        if self.network is None:
            return {"status": "NOT_JOINED"}
        if self.state.network_up:
            return {"status": "INVALID_STATE"}        # already on the network [I]
        # a rejoin restores the network from its tokens, as networkInit does (the emulated parent is
        # always in reach [I]); NETWORK_UP follows in stackStatusHandler
        return self.cmd_networkInit({})

    def cmd_findUnusedPanId(self, p):
        if self.state.network_up:
            return {"status": "INVALID_STATE"}
        channels = [c for c in range(11, 27) if int(p["channelMask"]) & (1 << c)]
        if not channels:
            return {"status": "INVALID_CHANNEL_MASK"}
        if self.stack is None:
            return {"status": "NOT_AVAILABLE"}
        # an active scan for beacons ends in scanCompleteHandler; [I] the unused PAN ID is then formed on
        # by the host (the form-and-join library's callback is not part of EZSP)
        self.stack.scan(1, channels, int(p["duration"]))
        return {"status": "OK"}

    def cmd_energyScanRequest(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN"}
        return {"status": "OK"}     # Mgmt_NWK_Update_req to ``target``; [I] not put on the air

    def cmd_sendPanIdUpdate(self, p):
        # Bool status on v14+: True when the PAN-ID update was scheduled; only the network manager may
        if not self.state.network_up or self.network.node_id != 0x0000:
            return {"status": "FAIL"}
        self.state.pending_pan_id = int(p["newPan"])
        return {"status": "OK"}

    def cmd_setPendingNetworkUpdateChannel(self, p):      # v18+
        self.state.pending_channel = int(p["channel"])
        return {}

    def cmd_joinNetworkDirectly(self, p):
        if self.state.network_up or self.network is not None:
            return {"status": "INVALID_STATE"}
        beacon = p["beacon"]
        params = t.EmberNetworkParameters(
            extendedPanId=beacon.extendedPanId, panId=beacon.panId, radioTxPower=int(p["radioTxPower"]) & 0xFF,
            radioChannel=beacon.channel, joinMethod=0, nwkManagerId=0, nwkUpdateId=beacon.nwkUpdateId,
            channels=1 << int(beacon.channel) if 11 <= int(beacon.channel) <= 26 else 0)
        if not 11 <= int(beacon.channel) <= 26:
            return {"status": "INVALID_PARAMETER"}
        return self.cmd_joinNetwork({"nodeType": p["localNodeType"], "parameters": params})

    # --- stored beacons (filled by scans; [I] the emulator keeps none) ---------------------------
    def cmd_getNumStoredBeacons(self, p):
        return {"numStoredBeacons": 0}

    def cmd_clearStoredBeacons(self, p):
        return {"status": "OK"}

    def cmd_getFirstBeacon(self, p):                      # v13
        return ZeroRest(status="NOT_FOUND")

    def cmd_getNextBeacon(self, p):                       # v13
        return ZeroRest(status="NOT_FOUND")

    def cmd_setBeaconClassificationParams(self, p):
        param = p["param"]
        self.state.beacon_classification = {k: int(getattr(param, k)) for k in BEACON_CLASSIFICATION}
        return {"status": "OK"}

    def cmd_getBeaconClassificationParams(self, p):
        return {"status": "OK", "param": dict(self.state.beacon_classification or BEACON_CLASSIFICATION)}

    # --- end devices ------------------------------------------------------------------------------
    def cmd_pollForData(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN"}
        if self.network.node_type not in (3, 4):               # only end devices poll their parent
            return {"status": "INVALID_STATE"}
        # the poll's outcome follows the answer, as EmberZNet's pollCompleteHandler does; [I] the emulated
        # air has no indirect queue (a parent's frames reach a joined end device at once), so the parent
        # never has data waiting: MAC_NO_DATA.  Only a single poll (interval 0) is emulated.
        self.clock.call_later(POLL_S, lambda: self.callback("pollCompleteHandler", status="MAC_NO_DATA"))
        return {"status": "OK"}

    def cmd_sendLinkPowerDeltaRequest(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN"}
        return {"status": "OK"}          # [I] link power delta is not put on the air

    # --- address table (v13 setters) ---------------------------------------------------------------
    def cmd_setAddressTableRemoteEui64(self, p):
        index = int(p["addressTableIndex"])
        if index >= self._address_table_size():
            return {"status": "ADDRESS_TABLE_INDEX_OUT_OF_RANGE"}
        _eui, nwk = self.state.address_table.get(index, (b"\xff" * 8, 0xFFFF))
        self.state.address_table[index] = (bytes(p["eui64"]), nwk)
        return {"status": "OK"}

    def cmd_setAddressTableRemoteNodeId(self, p):
        index = int(p["addressTableIndex"])
        if index < self._address_table_size():
            eui, _nwk = self.state.address_table.get(index, (b"\xff" * 8, 0xFFFF))
            self.state.address_table[index] = (eui, int(p["id"]))
        return {}

    def cmd_addressTableEntryIsActive(self, p):
        eui, _nwk = self.state.address_table.get(int(p["addressTableIndex"]), (b"\xff" * 8, 0xFFFF))
        return {"active": eui != b"\xff" * 8}

    # --- sends with another source (v13) ----------------------------------------------------------
    def cmd_proxyBroadcast(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN", "apsSequence": 0}
        return {"status": "OK", "apsSequence": self.next_aps_seq()}   # [I] not put on the air

    def cmd_sendMulticastWithAlias(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN", "sequence": 0}
        return {"status": "OK", "sequence": self.next_aps_seq()}      # [I] not put on the air
