"""The firmware of one emulated EmberZNet NCP above EZSP: state and command handlers.

Every handler is ``cmd_<ezspCommandName>(p) -> dict``: ``p`` holds the decoded request fields by
their bellows names, the returned dict holds response fields by name (status values by name, e.g.
``"OK"``).  Field names that differ between EZSP versions are read with ``_pick``; responses list
both spellings and ``ezsp.encode_fields`` keeps those the negotiated version declares.

Radio work (forming is local, but joining, APS delivery to other nodes, raw inter-PAN frames and
scans go on the air) is delegated to ``self.stack`` (``firmware_shims.ncp.stack``), which sits on
the ``Radio`` interface.  Nothing here knows whether that radio is the virtual air or a loopback.
"""

from __future__ import annotations

import logging
import os
import struct
from typing import TYPE_CHECKING, Any

import bellows.types as t
import zigpy.types as zt

from rig.clock import Clock

from .nv import UNSET_EUI64, NetworkTokens, NvStore
from .state import COUNTER_COUNT, NcpState

if TYPE_CHECKING:
    from .stack import Stack

LOGGER = logging.getLogger(__name__)

NV3_RESTORED_EUI64 = (0x0000E12A,)          # NCP firmware key (0x1E12A is the RCP key: not here)
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
    t.EzspConfigId.CONFIG_MAC_FILTER_TABLE_SIZE: 0,
}

MFG_TOKEN_SIZES = {  # bytes returned for manufacturing tokens we do not model (erased flash)
    t.EzspMfgTokenId.MFG_CUSTOM_VERSION: 2, t.EzspMfgTokenId.MFG_MANUF_ID: 2,
    t.EzspMfgTokenId.MFG_PHY_CONFIG: 2, t.EzspMfgTokenId.MFG_BOOTLOAD_AES_KEY: 16,
    t.EzspMfgTokenId.MFG_ASH_CONFIG: 40, t.EzspMfgTokenId.MFG_STORAGE: 8,
    t.EzspMfgTokenId.STACK_CAL_DATA: 2, t.EzspMfgTokenId.MFG_CBKE_DATA: 92,
    t.EzspMfgTokenId.STACK_CAL_FILTER: 2, t.EzspMfgTokenId.MFG_CTUNE: 2,
}


def _pick(p: dict, *names: str) -> Any:
    for name in names:
        if name in p:
            return p[name]
    raise KeyError(f"none of {names} in request")


def eui_from_hex(value: str) -> zt.EUI64:
    """Big-endian hex (as written on labels) → zigpy EUI64."""
    return zt.EUI64(bytes.fromhex(value)[::-1])


def eui_to_hex(eui: zt.EUI64) -> str:
    return bytes(eui)[::-1].hex().upper()


class Node:
    """EmberZNet-like firmware: RAM state, NV tokens, and one handler per EZSP command."""

    state: NcpState

    def __init__(self, nv: NvStore, clock: Clock, callback) -> None:
        self.nv = nv
        self.clock = clock
        self.callback = callback           # callback(name, **fields) → EZSP callback frame
        self.stack: Stack | None = None
        self.boot()

    # --- lifecycle ------------------------------------------------------------------------------
    def boot(self) -> None:
        """Reset: RAM is cleared, NV is read back (what a reset or a power cycle does)."""
        tokens = self.nv.reload()
        tokens.boot_counter += 1
        self.nv.save()
        self.state = NcpState(eui64=eui_from_hex(tokens.effective_eui64()),
                              config={int(k): v for k, v in DEFAULT_CONFIG.items()})
        if self.stack is not None:
            self.stack.reset()

    @property
    def network(self) -> NetworkTokens | None:
        return self.nv.state.network

    @property
    def eui64(self) -> zt.EUI64:
        """The EUI-64 this boot runs with (custom token, NV3 restored EUI or the factory one)."""
        return self.state.eui64

    def handlers(self) -> dict:
        return {name[4:]: getattr(self, name) for name in dir(self) if name.startswith("cmd_")}

    def next_aps_seq(self) -> int:
        self.state.aps_seq = (self.state.aps_seq + 1) & 0xFF
        return self.state.aps_seq

    # --- configuration --------------------------------------------------------------------------
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
            self.state.mac_filters = [v for (v,) in struct.iter_unpack("<H", value)]
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
        return {"status": "INVALID_STATE"}

    stack_version: tuple[int, int, int, int] = (8, 0, 2, 0)

    # --- tokens and identity --------------------------------------------------------------------
    def cmd_getEui64(self, p):
        return {"eui64": self.state.eui64}

    def cmd_getMfgToken(self, p):
        tid = int(p["tokenId"])
        state = self.nv.state
        if tid == t.EzspMfgTokenId.MFG_STRING:
            data = state.mfg_string.encode()[:16].ljust(16, b"\x00")
        elif tid == t.EzspMfgTokenId.MFG_BOARD_NAME:
            data = state.mfg_board.encode()[:16].ljust(16, b"\x00")
        elif tid == t.EzspMfgTokenId.MFG_CUSTOM_EUI_64:
            data = bytes.fromhex(state.mfg_custom_eui64)[::-1]
        elif tid == t.EzspMfgTokenId.MFG_INSTALLATION_CODE:
            code = bytes.fromhex(state.install_code) if state.install_code else b""
            if code:   # flags (size code) | 16-byte value | CRC (UG100 tokInstallationCode)
                flags = {8: 0, 10: 2, 14: 4, 18: 6}.get(len(code), 6)
                data = struct.pack("<H", flags) + code[:-2].ljust(16, b"\xff") + code[-2:]
            else:
                data = b"\xff" * 20
        else:
            data = b"\xff" * MFG_TOKEN_SIZES.get(tid, 0)
        return {"tokenData": data}

    def cmd_setMfgToken(self, p):
        tid, data = int(p["tokenId"]), bytes(p["tokenData"])
        if tid != t.EzspMfgTokenId.MFG_CUSTOM_EUI_64:
            return {"status": "INVALID_PARAMETER"}
        if len(data) != 8:
            return {"status": "INVALID_PARAMETER"}
        if self.nv.state.mfg_custom_eui64.upper() != UNSET_EUI64:
            # write-once flash: a second write cannot clear bits back to 1
            return {"status": "FAIL"}
        self.nv.state.mfg_custom_eui64 = data[::-1].hex().upper()
        self.nv.save()
        return {"status": "OK"}

    def cmd_getTokenData(self, p):
        token, index = int(p["token"]), int(p["index"])
        if token in NV3_RESTORED_EUI64 and index == 0:
            return {"status": "OK",
                    "value": t.LVBytes32(bytes.fromhex(self.nv.state.nv3_restored_eui64)[::-1])}
        return {"status": "NOT_FOUND"}

    def cmd_setTokenData(self, p):
        token, index, data = int(p["token"]), int(p["index"]), bytes(p["token_data"])
        if token in NV3_RESTORED_EUI64 and index == 0:
            if len(data) != 8:
                return {"status": "INVALID_PARAMETER"}
            self.nv.state.nv3_restored_eui64 = data[::-1].hex().upper()   # applied at next boot
            self.nv.save()
            return {"status": "OK"}
        return {"status": "NOT_FOUND"}

    def cmd_tokenFactoryReset(self, p):
        self.drop_network(save=False)
        self.nv.state.key_table.clear()
        self.nv.save()
        return {}

    # --- security -------------------------------------------------------------------------------
    def cmd_clearKeyTable(self, p):
        self.nv.state.key_table.clear()
        self.nv.save()
        return {"status": "OK"}

    def cmd_clearTransientLinkKeys(self, p):
        self.state.transient_keys.clear()
        return {}

    def cmd_setInitialSecurityState(self, p):
        if self.state.network_up:
            return {"status": "INVALID_STATE"}
        s = p["state"]
        self.state.initial_security = {
            "bitmask": int(s.bitmask), "preconfigured_key": bytes(s.preconfiguredKey),
            "network_key": bytes(s.networkKey), "key_seq": int(s.networkKeySequenceNumber),
            "tc_eui64": eui_to_hex(s.preconfiguredTrustCenterEui64),
        }
        return {"status": "OK"}

    def cmd_getCurrentSecurityState(self, p):
        if not self.network:
            return {"status": "NOT_JOINED"}
        bitmask = 0x0010                                      # HAVE_TRUST_CENTER_LINK_KEY
        bitmask |= self.network.security_bitmask & 0x0084     # hashed-TCLK mode, echoed as set
        state = t.EmberCurrentSecurityState(bitmask=bitmask,
                                            trustCenterLongAddress=eui_from_hex(self.network.tc_eui64))
        return {"status": "OK", "state": state}

    def cmd_exportKey(self, p):
        ctx = p["context"]
        key_type = int(ctx.core_key_type)
        if not self.network:
            return {"status": "NOT_FOUND", "key": t.KeyData(bytes(16)), "context": ctx}
        if key_type == t.SecurityManagerKeyType.NETWORK:
            key = bytes.fromhex(self.network.network_key)
        elif key_type == t.SecurityManagerKeyType.TC_LINK:
            key = bytes.fromhex(self.network.tc_link_key)
        else:
            return {"status": "NOT_FOUND", "key": t.KeyData(bytes(16)), "context": ctx}
        return {"status": "OK", "key": t.KeyData(key), "context": ctx}

    def cmd_getNetworkKeyInfo(self, p):
        net = self.network
        info = t.SecurityManagerNetworkKeyInfo(
            network_key_set=net is not None, alternate_network_key_set=False,
            network_key_sequence_number=net.network_key_seq if net else 0,
            alt_network_key_sequence_number=0,
            network_key_frame_counter=net.nwk_frame_counter if net else 0,
        )
        return {"status": "OK", "network_key_info": info}

    def _key_entry(self, index: int) -> dict | None:
        table = self.nv.state.key_table
        return table[index] if 0 <= index < len(table) else None

    def cmd_exportLinkKeyByIndex(self, p):
        entry = self._key_entry(int(p["index"]))
        if entry is None:
            return {"status": "NOT_FOUND"}
        eui = eui_from_hex(entry["eui64"])
        ctx = t.SecurityManagerContextV13(
            core_key_type=t.SecurityManagerKeyType.APP_LINK, key_index=int(p["index"]),
            derived_type=t.SecurityManagerDerivedKeyTypeV13.NONE, eui64=eui, multi_network_index=0,
            flags=t.SecurityManagerContextFlags.NONE, psa_key_alg_permission=0)
        meta = t.SecurityManagerAPSKeyMetadata(bitmask=0, outgoing_frame_counter=entry.get("tx", 0),
                                               incoming_frame_counter=entry.get("rx", 0), ttl_in_seconds=0)
        return {"status": "OK", "context": ctx, "eui64": eui, "plaintext_key": t.KeyData(bytes.fromhex(entry["key"])),
                "key_data": meta}

    def cmd_importLinkKey(self, p):
        index, eui, key = int(p["index"]), eui_to_hex(p["address"]), bytes(p["key"]).hex().upper()
        table = self.nv.state.key_table
        if index >= self.state.config[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE]:
            return {"status": "INVALID_PARAMETER"}
        entry = {"eui64": eui, "key": key, "tx": 0, "rx": 0}
        if index < len(table):
            table[index] = entry
        else:
            table.append(entry)
        self.nv.save()
        return {"status": "OK"}

    def key_hint(self, key: bytes, label: str) -> None:
        if self.stack is not None:
            self.stack.radio.key_hint(bytes(key), label)

    def store_link_key(self, eui_hex: str, key: bytes) -> int | None:
        """Add/replace the key-table entry for ``eui_hex``; None when the table is full."""
        self.key_hint(key, f"link key with {eui_hex}")
        table = self.nv.state.key_table
        for i, entry in enumerate(table):
            if entry["eui64"] == eui_hex:
                table[i] = {"eui64": eui_hex, "key": key.hex().upper(), "tx": 0, "rx": 0}
                self.nv.save()
                return i
        if len(table) >= self.state.config[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE]:
            return None
        table.append({"eui64": eui_hex, "key": key.hex().upper(), "tx": 0, "rx": 0})
        self.nv.save()
        return len(table) - 1

    def link_key_for(self, eui_hex: str) -> bytes | None:
        for entry in self.nv.state.key_table:
            if entry["eui64"] == eui_hex:
                return bytes.fromhex(entry["key"])
        return None

    def cmd_findKeyTableEntry(self, p):
        eui = eui_to_hex(p["address"])
        for i, entry in enumerate(self.nv.state.key_table):
            if entry["eui64"] == eui:
                return {"index": i}
        return {"index": 0xFF}

    def cmd_importTransientKey(self, p):
        self.key_hint(bytes(p["plaintext_key"]), f"transient key for {eui_to_hex(p['eui64'])}")
        timeout = self.state.values.get(t.EzspValueId.VALUE_TRANSIENT_KEY_TIMEOUT_S)
        seconds = struct.unpack("<H", timeout)[0] if timeout and len(timeout) == 2 else 300
        self.state.transient_keys[bytes(p["eui64"])] = (bytes(p["plaintext_key"]), self.clock.now() + seconds)
        return {"status": "OK"}

    def transient_key_for(self, eui: zt.EUI64) -> bytes | None:
        """The transient key for ``eui`` (or the wildcard FF×8 entry), if not expired."""
        now = self.clock.now()
        for candidate in (bytes(eui), b"\xff" * 8):
            found = self.state.transient_keys.get(candidate)
            if found and found[1] >= now:
                return found[0]
        return None

    def cmd_exportTransientKeyByEui(self, p):
        key = self.transient_key_for(p["eui64"])
        if key is None:
            return {"status": "NOT_FOUND"}
        return {"status": "OK", "plaintext_key": t.KeyData(key)}

    # --- network --------------------------------------------------------------------------------
    def cmd_networkState(self, p):
        if self.state.network_up:
            return {"status": t.EmberNetworkStatus.JOINED_NETWORK}
        return {"status": t.EmberNetworkStatus.NO_NETWORK}

    def cmd_networkInit(self, p):
        if self.state.network_up:
            return {"status": "INVALID_STATE"}
        if self.network is None:
            return {"status": "NOT_JOINED"}
        self._bring_up()
        return {"status": "OK"}

    def _bring_up(self) -> None:
        self.state.network_up = True
        self.key_hint(bytes.fromhex(self.network.network_key), "network key")
        if self.stack is not None:
            self.stack.network_up()
        self.callback("stackStatusHandler", status="NETWORK_UP")

    def cmd_formNetwork(self, p):
        if self.state.network_up or self.network is not None:
            return {"status": "INVALID_STATE"}
        params = p["parameters"]
        sec = self.state.initial_security or {"bitmask": 0, "preconfigured_key": bytes(16),
                                        "network_key": bytes(16), "key_seq": 0, "tc_eui64": "0" * 16}
        network_key = sec["network_key"] if sec["bitmask"] & 0x0200 else os.urandom(16)
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
            return {"status": "NOT_JOINED"}
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
        return {"status": "NOT_JOINED"}

    def _address_table_size(self) -> int:
        return self.state.config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]

    def cmd_getAddressTableInfo(self, p):
        index = int(p["index"])
        if index >= self._address_table_size():
            return {"status": "INVALID_PARAMETER"}
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
            return {"status": "INVALID_PARAMETER"}
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
            return {"status": "INVALID_PARAMETER"}
        group, ep, net = self.state.multicast.get(index, (0, 0, 0))
        return {"status": "OK", "value": t.EmberMulticastTableEntry(multicastId=group, endpoint=ep,
                                                                   networkIndex=net)}

    def cmd_setMulticastTableEntry(self, p):
        index = int(p["index"])
        if index >= self.state.config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": "INVALID_PARAMETER"}
        v = p["value"]
        self.state.multicast[index] = (int(v.multicastId), int(v.endpoint), int(v.networkIndex))
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

    # --- messaging (delegated to the stack) ------------------------------------------------------
    def _stack_or_down(self):
        if not self.state.network_up:
            return "NETWORK_DOWN"
        if self.stack is None:
            return "NOT_AVAILABLE"
        return None

    def _send(self, p, deliver) -> dict:
        """Common to the APS sends: refuse when the network is down, number the APS frame, hand it on."""
        err = self._stack_or_down()
        if err:
            return {"status": err, "sequence": 0}
        aps = _pick(p, "aps_frame", "apsFrame")
        aps.sequence = self.next_aps_seq()
        deliver(aps, int(_pick(p, "message_tag", "messageTag")), bytes(_pick(p, "message", "messageContents")))
        return {"status": "OK", "sequence": aps.sequence}

    def cmd_sendUnicast(self, p):
        return self._send(p, lambda aps, tag, message: self.stack.send_unicast(
            nwk=int(_pick(p, "nwk", "indexOrDestination")), aps=aps, tag=tag, message=message,
            message_type=int(_pick(p, "message_type", "type"))))

    def cmd_sendBroadcast(self, p):
        return self._send(p, lambda aps, tag, message: self.stack.send_broadcast(
            dest=int(p["destination"]), aps=aps, radius=int(p["radius"]), tag=tag, message=message))

    def cmd_sendMulticast(self, p):
        return self._send(p, lambda aps, tag, message: self.stack.send_multicast(
            aps=aps, hops=int(p["hops"]), tag=tag, message=message))

    def cmd_sendReply(self, p):
        err = self._stack_or_down()
        if err:
            return {"status": err}
        self.stack.send_unicast(nwk=int(p["sender"]), aps=p["apsFrame"], tag=0,
                                message=bytes(p["messageContents"]), message_type=0, reply=True)
        return {"status": "OK"}

    def cmd_sendRawMessageExtended(self, p):
        if self.stack is None:
            return {"status": "NOT_AVAILABLE"}
        message = bytes(_pick(p, "message", "messageContents"))
        if len(message) < 3 or len(message) > 125:
            return {"status": "INVALID_PARAMETER"}
        self.stack.send_raw(message)
        return {"status": "OK"}

    cmd_sendRawMessage = cmd_sendRawMessageExtended

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

    # --- CBKE (suite 2, sect283k1): the NCP's crypto library over EZSP ------------------------------
    @property
    def cbke(self):
        """The CBKE library, holding MFG_CBKE_283K1_DATA from NV (RAM state lost at reset)."""
        if self.state.cbke_engine is None:
            from rig.cbke.engine import CbkeEngine
            from rig.cbke.token import CbkeToken

            data = self.nv.state.cbke_283k1
            token = CbkeToken.from_json(data) if data else None
            self.state.cbke_engine = CbkeEngine(token)
        return self.state.cbke_engine

    def _later(self, fn, *args) -> None:
        """Report a result through a callback after the immediate answer, as a real NCP does."""
        import asyncio

        asyncio.get_running_loop().call_soon(fn, *args)

    @staticmethod
    def _status_name(ember_status) -> str:
        return {0x00: "OK", 0x01: "FAIL", 0x70: "INVALID_STATE", 0xB5: "NOT_AVAILABLE",
                0xB9: "ZIGBEE_SIGNATURE_VERIFY_FAILURE", 0xBA: "IN_PROGRESS"}[int(ember_status)]

    def cmd_getCertificate283k1(self, p):
        result = self.cbke.get_certificate_283k1()
        return {"status": self._status_name(result.status), "localCert": t.EmberCertificate283k1Data(result.certificate)}

    def cmd_generateCbkeKeys283k1(self, p):
        def run():
            r = self.cbke.generate_cbke_keys_283k1()
            self.callback("generateCbkeKeysHandler283k1", status=self._status_name(r.status),
                          ephemeralPublicKey=t.EmberPublicKey283k1Data(r.ephemeral_public_key))
        self._later(run)
        return {"status": "IN_PROGRESS"}

    def cmd_calculateSmacs283k1(self, p):
        args = (bool(p["amInitiator"]), bytes(p["partnerCertificate"]), bytes(p["partnerEphemeralPublicKey"]))

        def run():
            r = self.cbke.calculate_smacs_283k1(*args)
            self.callback("calculateSmacsHandler283k1", status=self._status_name(r.status),
                          initiatorSmac=t.EmberSmacData(r.initiator_smac),
                          responderSmac=t.EmberSmacData(r.responder_smac))
        self._later(run)
        return {"status": "IN_PROGRESS"}

    def cmd_clearTemporaryDataMaybeStoreLinkKey283k1(self, p):
        result = self.cbke.clear_temporary_data_maybe_store_link_key_283k1(bool(p["storeLinkKey"]))
        stored = result.link_key is not None and result.partner_eui64 is not None
        if stored and self.store_link_key(result.partner_eui64.hex().upper(), result.link_key) is None:
            return {"status": "FULL"}
        return {"status": self._status_name(result.status)}

    def cmd_dsaVerify283k1(self, p):
        args = (bytes(p["digest"]), bytes(p["signerCertificate"]), bytes(p["receivedSig"]))

        def run():
            status = self.cbke.dsa_verify_283k1(*args)
            self.callback("dsaVerifyHandler", status=self._status_name(status))
        self._later(run)
        return {"status": "IN_PROGRESS"}

    def cmd_savePreinstalledCbkeData283k1(self, p):
        staged = self.state.cbke_staged
        need = (t.EzspValueId.VALUE_CERTIFICATE_283K1, t.EzspValueId.VALUE_PUBLIC_KEY_283K1,
                t.EzspValueId.VALUE_PRIVATE_KEY_283K1)
        if not all(int(v) in staged for v in need):
            return {"status": "INVALID_STATE"}
        if self.nv.state.cbke_283k1:
            return {"status": "FAIL"}                      # write-once manufacturing token
        from rig.cbke.token import CbkeToken

        token = CbkeToken(certificate=staged[int(need[0])], ca_public_key=staged[int(need[1])],
                          private_key=staged[int(need[2])], flags=0)
        self.install_cbke_token(token.to_json())
        return {"status": "OK"}

    def install_cbke_token(self, token_json: dict) -> None:
        """Factory-programme MFG_CBKE_283K1_DATA (what a manufacturing line or `rig cbke issue` does)."""
        self.nv.state.cbke_283k1 = dict(token_json)
        self.nv.save()
        self.state.cbke_engine = None

    # --- green power (not emulated: tables are always empty) -------------------------------------
    def cmd_gpSinkTableClearAll(self, p):
        return {}

    def cmd_gpClearProxyTable(self, p):
        return {}
