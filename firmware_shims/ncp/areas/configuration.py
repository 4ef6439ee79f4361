"""Configuration area: configuration values, values, policies, endpoints, counters, stubs.

``setValue`` of the CBKE certificate and keys only stages them (``state.cbke_staged``) for
``savePreinstalledCbkeData283k1`` in the CBKE area.
"""

from __future__ import annotations

import struct

import bellows.types as t

from ..ezsp import ZeroRest
from ..state import COUNTER_COUNT
from .base import Area

FREE_BUFFERS = 250

#: Configuration values a fresh EmberZNet 7.4/8.x NCP reports (the ones bellows reads or sizes
#: loops with; others read as 0 until set).
DEFAULT_CONFIG = {
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 255,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 32,
    t.EzspConfigId.CONFIG_MAX_HOPS: 30,
    t.EzspConfigId.CONFIG_INDIRECT_TRANSMISSION_TIMEOUT: 7680,
    t.EzspConfigId.CONFIG_APS_UNICAST_MESSAGE_COUNT: 10,
    t.EzspConfigId.CONFIG_BROADCAST_TABLE_SIZE: 15,
    t.EzspConfigId.CONFIG_SOURCE_ROUTE_TABLE_SIZE: 200,
    t.EzspConfigId.CONFIG_NEIGHBOR_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_SUPPORTED_NETWORKS: 1,
    t.EzspConfigId.CONFIG_TRUST_CENTER_ADDRESS_CACHE_SIZE: 2,
    t.EzspConfigId.CONFIG_END_DEVICE_POLL_TIMEOUT: 8,
    t.EzspConfigId.CONFIG_TC_REJOINS_USING_WELL_KNOWN_KEY_TIMEOUT_S: 90,
    t.EzspConfigId.CONFIG_APPLICATION_ZDO_FLAGS: 0,
    # gecko_sdk's NCP default (SL_ZIGBEE_CUSTOM_MAC_FILTER_TABLE_SIZE / EMBER_CUSTOM_MAC_FILTER_TABLE_SIZE 2): the
    # interpan host plugin sizes it to its filter count + 1 before writing the list (interpan-host.c)
    t.EzspConfigId.CONFIG_MAC_FILTER_TABLE_SIZE: 2,
}


class ConfigurationArea(Area):
    """Configuration values, values, policies, endpoints, counters."""

    def cmd_nop(self, p):
        return {}

    def cmd_echo(self, p):
        return {"echo": p["data"]}

    def cmd_getConfigurationValue(self, p):
        cid = int(p["configId"])
        if cid not in self.state.config and cid not in {int(x) for x in t.EzspConfigId}:
            return {"status": "INVALID_PARAMETER", "value": 0}
        return {"status": "OK", "value": self.state.config.get(cid, 0)}

    def cmd_setConfigurationValue(self, p):
        # EZSP reference (setConfigurationValue): values can be modified after a reset; once the stack
        # status has changed to NETWORK_UP they can no longer be, and the answer is EZSP_ERROR_INVALID_CALL
        if self.state.config_locked:
            return {"status": "INVALID_STATE"}
        self.state.config[int(p["configId"])] = int(p["value"])
        return {"status": "OK"}

    def cmd_getValue(self, p):
        vid = int(p["valueId"])
        if vid == t.EzspValueId.VALUE_VERSION_INFO:
            major, minor, patch, special = self.stack_version
            value = struct.pack("<HBBBBB", 0x0100, major, minor, patch, special, 0xAA)  # 0xAA = GA build
        elif vid == t.EzspValueId.VALUE_FREE_BUFFERS:
            value = bytes((FREE_BUFFERS,))
        elif vid == t.EzspValueId.VALUE_MAC_PASSTHROUGH_FLAGS:
            value = bytes((self.state.passthrough_flags,))
        elif vid == t.EzspValueId.VALUE_MAC_FILTER_LIST:
            value = b"".join(struct.pack("<H", f) for f in self.state.mac_filters)
        elif vid == t.EzspValueId.VALUE_NODE_SHORT_ID:
            value = struct.pack("<H", self.network.node_id if self.network else 0xFFFE)
        elif vid in self.state.values:
            value = self.state.values[vid]
        else:
            return {"status": "INVALID_PARAMETER", "value": b""}
        return {"status": "OK", "value": value}

    def cmd_setValue(self, p):
        vid, value = int(p["valueId"]), bytes(p["value"])
        if vid in (t.EzspValueId.VALUE_NWK_FRAME_COUNTER, t.EzspValueId.VALUE_APS_FRAME_COUNTER):
            if self.state.network_up or len(value) != 4:
                return {"status": "INVALID_STATE" if self.state.network_up else "INVALID_PARAMETER"}
            counter = struct.unpack("<I", value)[0]
            if vid == t.EzspValueId.VALUE_NWK_FRAME_COUNTER:
                self.state.pending_nwk_fc = counter
            else:
                self.state.pending_aps_fc = counter
        elif vid == t.EzspValueId.VALUE_MAC_PASSTHROUGH_FLAGS:
            if len(value) != 1:
                return {"status": "INVALID_PARAMETER"}
            self.state.passthrough_flags = value[0]
        elif vid == t.EzspValueId.VALUE_MAC_FILTER_LIST:
            if len(value) % 2:
                return {"status": "INVALID_PARAMETER"}
            filters = [v for (v,) in struct.iter_unpack("<H", value)]
            if len(filters) + 1 > self.state.config[t.EzspConfigId.CONFIG_MAC_FILTER_TABLE_SIZE]:
                # the table holds the list and its end marker (hence Silicon Labs' interpan host plugin
                # sizes it to N + 1); [I] a longer list is refused as an invalid value
                # (EZSP_ERROR_INVALID_VALUE on v13; SL_STATUS_INVALID_PARAMETER on v14+)
                return {"status": "INVALID_PARAMETER"}
            self.state.mac_filters = filters
        elif vid in (t.EzspValueId.VALUE_CERTIFICATE_283K1, t.EzspValueId.VALUE_PUBLIC_KEY_283K1,
                     t.EzspValueId.VALUE_PRIVATE_KEY_283K1):
            sizes = {t.EzspValueId.VALUE_CERTIFICATE_283K1: 74, t.EzspValueId.VALUE_PUBLIC_KEY_283K1: 37,
                     t.EzspValueId.VALUE_PRIVATE_KEY_283K1: 36}
            if len(value) != sizes[t.EzspValueId(vid)]:
                return {"status": "INVALID_PARAMETER"}
            self.state.cbke_staged[vid] = value
        self.state.values[vid] = value
        return {"status": "OK"}

    def cmd_setPolicy(self, p):
        self.state.policies[int(p["policyId"])] = int(p["decisionId"])
        return {"status": "OK"}

    def cmd_getPolicy(self, p):
        pid = int(p["policyId"])
        return {"status": "OK", "decisionId": self.state.policies.get(pid, 0)}

    def cmd_addEndpoint(self, p):
        if self.state.config_locked:      # EZSP reference: no endpoints once the stack reported NETWORK_UP
            return {"status": "INVALID_STATE"}
        ep = int(p["endpoint"])
        if ep in self.state.endpoints or ep == 0:
            return {"status": "INVALID_PARAMETER"}
        self.state.endpoints[ep] = {
            "profile": int(p["profileId"]), "device": int(p["deviceId"]), "version": int(p["deviceVersion"]),
            "in": [int(c) for c in p["inputClusterList"]], "out": [int(c) for c in p["outputClusterList"]],
        }
        return {"status": "OK"}

    def cmd_readCounters(self, p):
        return {"values": [t.uint16_t(min(c, 0xFFFF)) for c in self.state.counters]}

    def cmd_readAndClearCounters(self, p):
        values = self.cmd_readCounters(p)
        self.state.counters = [0] * COUNTER_COUNT
        return values

    def cmd_customFrame(self, p):
        # No XNCP extension in this firmware (bellows treats any non-OK status as "no XNCP")
        return {"status": "INVALID_STATE", "reply": b""}

    def cmd_setManufacturerCode(self, p):
        self.state.manufacturer_code = int(p["code"])
        return {"status": "OK"}

    def cmd_setConcentrator(self, p):
        return {"status": "OK"}

    def cmd_setSourceRouteDiscoveryMode(self, p):
        return {"remainingTime": 0}

    def cmd_setRadioIeee802154CcaMode(self, p):
        return {"status": "OK"}

    def cmd_getXncpInfo(self, p):
        return ZeroRest(status="INVALID_STATE")
