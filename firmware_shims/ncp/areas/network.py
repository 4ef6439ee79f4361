"""Network area: form/join/leave, network parameters, permit joining, channel, scans, tables.

Forming is local; joining, leaving and scans go through the stack.  ``joined``/``join_failed`` are
the stack's reports back, ``drop_network`` is also used by a token factory reset and by a
Mgmt_Leave_req heard on the air.  The address, multicast and extended-timeout tables are RAM.
"""

from __future__ import annotations

import os

import bellows.types as t
import zigpy.types as zt

from ..ezsp import ZeroRest
from ..nv import NetworkTokens
from .base import Area, eui_from_hex, eui_to_hex

#: [I] How long after answering ``networkInit`` the stack reports NETWORK_UP (an NCP restores the network
#: from its tokens and starts the radio; the EZSP reference only says the status comes in a callback).
NETWORK_INIT_S = 0.1


class NetworkArea(Area):
    """Network lifecycle, radio channel, scans and the RAM tables."""

    def cmd_networkState(self, p):
        if self.state.network_up:
            return {"status": t.EmberNetworkStatus.JOINED_NETWORK}
        return {"status": t.EmberNetworkStatus.NO_NETWORK}

    def cmd_networkInit(self, p):
        if self.state.network_up or self.state.network_initialising:
            return {"status": "INVALID_STATE"}
        if self.network is None:
            return {"status": "NOT_JOINED"}
        # The stack comes up after the answer: NETWORK_UP is a later stackStatusHandler, and until then
        # the network is down (bellows' own application awaits it; so must every host).
        self.state.network_initialising = True
        state = self.state
        self.clock.call_later(NETWORK_INIT_S, self._init_done, state)
        return {"status": "OK"}

    def _init_done(self, state) -> None:
        if self.state is not state or not state.network_initialising:
            return                                        # reset (RAM lost) or left meanwhile
        state.network_initialising = False
        if self.network is not None and not state.network_up:
            self._bring_up()

    def _bring_up(self) -> None:
        self.state.network_up = True
        self.state.config_locked = True
        self.key_hint(bytes.fromhex(self.network.network_key), "network key")
        if self.stack is not None:
            self.stack.network_up()
        self.callback("stackStatusHandler", status="NETWORK_UP")

    def cmd_formNetwork(self, p):
        if self.state.network_up or self.network is not None:
            return {"status": "INVALID_STATE"}
        params = p["parameters"]
        if not 11 <= int(params.radioChannel) <= 26:
            return {"status": "INVALID_PARAMETER"}      # no 2.4 GHz channel to form on [I]
        sec = self.state.initial_security or {"bitmask": 0, "preconfigured_key": bytes(16),
                                        "network_key": bytes(16), "key_seq": 0, "tc_eui64": "0" * 16}
        network_key = (sec["network_key"] if sec["bitmask"] & t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY
                       else os.urandom(16))
        ext_pan = bytes(params.extendedPanId)
        if ext_pan == bytes(8):
            ext_pan = bytes(self.state.eui64)
        self.nv.state.network = NetworkTokens(
            node_type=int(t.EmberNodeType.COORDINATOR), node_id=0x0000, pan_id=int(params.panId),
            extended_pan_id=ext_pan[::-1].hex().upper(), channel=int(params.radioChannel),
            tx_power=int(params.radioTxPower), update_id=int(params.nwkUpdateId),
            channels=int(params.channels), network_key=network_key.hex().upper(),
            network_key_seq=sec["key_seq"], nwk_frame_counter=self.state.pending_nwk_fc or 0,
            aps_frame_counter=self.state.pending_aps_fc or 0, security_bitmask=sec["bitmask"],
            preconfigured_key=sec["preconfigured_key"].hex().upper(), tc_eui64=eui_to_hex(self.state.eui64),
            tc_link_key=sec["preconfigured_key"].hex().upper(),
        )
        self.nv.save()
        self._bring_up()
        return {"status": "OK"}

    def cmd_joinNetwork(self, p):
        if self.state.network_up or self.network is not None:
            return {"status": "INVALID_STATE"}
        if self.stack is None:
            return {"status": "NOT_AVAILABLE"}
        node_type = int(p["nodeType"])
        if node_type not in (2, 3, 4):
            return {"status": "INVALID_PARAMETER"}
        self.stack.join(node_type, p["parameters"], self.state.initial_security)
        return {"status": "OK"}

    def joined(self, tokens: NetworkTokens) -> None:
        """Called by the stack when a join completed (network key received)."""
        self.nv.state.network = tokens
        self.nv.save()
        self._bring_up()

    def join_failed(self, status: str) -> None:
        self.callback("stackStatusHandler", status=status)

    def cmd_getNetworkParameters(self, p):
        net = self.network
        if net is None:
            return ZeroRest(status="NOT_JOINED")
        params = t.EmberNetworkParameters(
            extendedPanId=t.ExtendedPanId(bytes.fromhex(net.extended_pan_id)[::-1]), panId=net.pan_id,
            radioTxPower=net.tx_power & 0xFF, radioChannel=net.channel, joinMethod=0, nwkManagerId=0,
            nwkUpdateId=net.update_id, channels=net.channels)
        return {"status": "OK", "nodeType": net.node_type, "parameters": params}

    def cmd_getNodeId(self, p):
        return {"nodeId": self.network.node_id if self.state.network_up else 0xFFFE}

    def cmd_getParentChildParameters(self, p):
        net = self.network
        return {"childCount": 0, "parentEui64": eui_from_hex(net.parent_eui64) if net else zt.EUI64(bytes(8)),
                "parentNodeId": net.parent_node_id if net else 0xFFFF}

    def cmd_leaveNetwork(self, p):
        if not self.state.network_up:
            return {"status": "INVALID_STATE"}
        if self.stack is not None:
            self.stack.leave()
        self.drop_network()
        self.callback("stackStatusHandler", status="NETWORK_DOWN")
        return {"status": "OK"}

    def drop_network(self, save: bool = True) -> None:
        self.state.network_up = False
        self.nv.state.network = None
        if self.stack is not None:
            self.stack.network_down()
        if save:
            self.nv.save()

    def cmd_permitJoining(self, p):
        if not self.state.network_up:
            return {"status": "INVALID_STATE"}
        duration = int(p["duration"])
        now = self.clock.now()
        self.state.permit_until = float("inf") if duration == 0xFF else now + duration
        self.callback("stackStatusHandler",
                      status="ZIGBEE_NETWORK_OPENED" if duration else "ZIGBEE_NETWORK_CLOSED")
        if 0 < duration < 0xFF:
            self.clock.call_later(duration, self._permit_expired, self.state.permit_until)
        return {"status": "OK"}

    def _permit_expired(self, until: float) -> None:
        if self.state.permit_until == until:
            self.state.permit_until = 0.0
            self.callback("stackStatusHandler", status="ZIGBEE_NETWORK_CLOSED")

    def permitting(self) -> bool:
        return self.state.network_up and self.clock.now() < self.state.permit_until

    def cmd_getChildData(self, p):
        return ZeroRest(status="NOT_JOINED")

    def _address_table_size(self) -> int:
        return self.state.config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]

    def cmd_getAddressTableInfo(self, p):
        index = int(p["index"])
        if index >= self._address_table_size():
            return ZeroRest(status="INVALID_PARAMETER")
        if index in self.state.address_table:
            eui, nwk = self.state.address_table[index]
            return {"status": "OK", "nwk": nwk, "eui64": zt.EUI64(eui)}
        return {"status": "OK", "nwk": 0xFFFF, "eui64": zt.EUI64(b"\xff" * 8)}

    def cmd_setAddressTableInfo(self, p):
        index = int(p["index"])
        if index >= self._address_table_size():
            return {"status": "INVALID_PARAMETER"}
        self.state.address_table[index] = (bytes(p["eui64"]), int(p["nwk"]))
        return {"status": "OK"}

    def cmd_getAddressTableRemoteNodeId(self, p):            # v13 and older
        return {"nodeId": self.state.address_table.get(int(p["addressTableIndex"]), (b"", 0xFFFF))[1]}

    def cmd_getAddressTableRemoteEui64(self, p):             # v13 and older
        eui = self.state.address_table.get(int(p["addressTableIndex"]), (b"\xff" * 8, 0))[0]
        return {"eui64": zt.EUI64(eui)}

    def cmd_replaceAddressTableEntry(self, p):
        index = int(p["addressTableIndex"])
        if index >= self._address_table_size():
            return ZeroRest(status="INVALID_PARAMETER")
        old_eui, old_nwk = self.state.address_table.get(index, (b"\xff" * 8, 0xFFFF))
        old_ext = old_eui in self.state.extended_timeout
        new_eui = bytes(p["newEui64"])
        self.state.address_table[index] = (new_eui, int(p["newId"]))
        if p["newExtendedTimeout"]:
            self.state.extended_timeout.add(new_eui)
        else:
            self.state.extended_timeout.discard(new_eui)
        return {"status": "OK", "oldEui64": zt.EUI64(old_eui), "oldId": old_nwk, "oldExtendedTimeout": old_ext}

    def cmd_getMulticastTableEntry(self, p):
        index = int(p["index"])
        if index >= self.state.config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return ZeroRest(status="INVALID_PARAMETER")
        group, ep, net = self.state.multicast.get(index, (0, 0, 0))
        return {"status": "OK", "value": t.EmberMulticastTableEntry(multicastId=group, endpoint=ep,
                                                                   networkIndex=net)}

    def cmd_setMulticastTableEntry(self, p):
        index = int(p["index"])
        if index >= self.state.config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": "INVALID_PARAMETER"}
        v = p["value"]
        # networkIndex is optional in bellows' struct (absent from older frames): network 0 then
        network = 0 if v.networkIndex is None else int(v.networkIndex)
        self.state.multicast[index] = (int(v.multicastId), int(v.endpoint), network)
        return {"status": "OK"}

    def cmd_getExtendedTimeout(self, p):
        extended = bytes(p["remoteEui64"]) in self.state.extended_timeout
        return {"status": "OK" if extended else "FAIL", "extendedTimeout": extended}

    def cmd_setExtendedTimeout(self, p):
        eui = bytes(p["remoteEui64"])
        if p["extendedTimeout"]:
            self.state.extended_timeout.add(eui)
        else:
            self.state.extended_timeout.discard(eui)
        return {"status": "OK"}

    def cmd_lookupNodeIdByEui64(self, p):
        nwk = self.stack.lookup_nwk(p["eui64"]) if self.stack is not None else None
        for eui, short in self.state.address_table.values():
            if nwk is None and eui == bytes(p["eui64"]):
                nwk = short
        if bytes(p["eui64"]) == bytes(self.state.eui64) and self.state.network_up:
            nwk = self.network.node_id
        if nwk is None:
            return {"status": "NOT_FOUND", "nodeId": 0xFFFF}
        return {"status": "OK", "nodeId": nwk}

    def cmd_lookupEui64ByNodeId(self, p):
        nwk = int(p["nodeId"])
        if self.state.network_up and nwk == self.network.node_id:
            return {"status": "OK", "eui64": self.state.eui64}
        eui = self.stack.eui_of(nwk) if self.stack is not None and hasattr(self.stack, "eui_of") else None
        if eui is None:
            for entry_eui, short in self.state.address_table.values():
                if short == nwk:
                    return {"status": "OK", "eui64": zt.EUI64(entry_eui)}
            return {"status": "NOT_FOUND", "eui64": zt.EUI64(b"\xff" * 8)}
        return {"status": "OK", "eui64": eui_from_hex(f"{eui:016X}")}

    # --- radio ----------------------------------------------------------------------------------
    def cmd_setLogicalAndRadioChannel(self, p):
        channel = int(next(iter(p.values())))
        if not 11 <= channel <= 26:
            return {"status": "INVALID_PARAMETER"}
        if self.network:
            self.network.channel = channel
            self.nv.save()
        if self.stack is not None:
            self.stack.set_channel(channel)
        return {"status": "OK"}

    def cmd_getLogicalChannel(self, p):
        channel = self.stack.channel if self.stack is not None else 11
        return {"radioChannel": self.network.channel if self.network else channel}

    def cmd_setRadioChannel(self, p):
        channel = int(p["channel"])
        if not 11 <= channel <= 26:
            return {"status": "INVALID_PARAMETER"}
        if self.stack is not None:
            self.stack.set_channel(channel)
        return {"status": "OK"}

    def cmd_setRadioPower(self, p):
        self.state.radio_power = int(p["power"])
        return {"status": "OK"}

    # --- the receiver off the network (ZLL commands, also how an unjoined inter-PAN device listens) ----
    def cmd_zllSetRadioIdleMode(self, p):
        self.state.rx_idle_on = int(p["mode"]) == int(t.EmberRadioPowerMode.RADIO_POWER_MODE_RX_ON)
        return {}

    def cmd_zllSetRxOnWhenIdle(self, p):
        duration_ms = int(p["durationMs"])                 # 0 cancels
        self.state.rx_on_until = self.clock.now() + duration_ms / 1000 if duration_ms else 0.0
        return {"status": "OK"}

    def cmd_zllRxOnWhenIdleGetActive(self, p):
        state = self.state
        return {"zllRxOnWhenIdleGetActive": state.rx_idle_on or self.clock.now() < state.rx_on_until}

    # --- scans ----------------------------------------------------------------------------------
    def cmd_startScan(self, p):
        if self.stack is None:
            return {"status": "NOT_AVAILABLE"}
        scan_type = int(p["scanType"])
        if scan_type not in (0, 1):
            return {"status": "INVALID_PARAMETER"}
        channels = [c for c in range(11, 27) if int(p["channelMask"]) & (1 << c)]
        if not channels:
            return {"status": "INVALID_PARAMETER"}
        self.stack.scan(scan_type, channels, int(p["duration"]))
        return {"status": "OK"}

    def cmd_stopScan(self, p):
        if self.stack is not None:
            self.stack.stop_scan()
        return {"status": "OK"}

    # --- green power (not emulated: tables are always empty) -------------------------------------
    def cmd_gpSinkTableClearAll(self, p):
        return {}

    def cmd_gpClearProxyTable(self, p):
        return {}
