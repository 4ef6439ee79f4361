"""Keys area: the key table (NV), transient keys (RAM), security state and key export.

``key_hint``, ``store_link_key``, ``link_key_for`` and ``transient_key_for`` are also what the
stack (trust centre, APS security) and the CBKE area use.
"""

from __future__ import annotations

import struct

import bellows.types as t
import zigpy.types as zt

from ..ezsp import ZeroRest
from .base import Area, eui_from_hex, eui_to_hex

#: What ``store_link_key`` returns when the key became the trust-centre link key (no key-table slot).
TC_LINK_KEY_SLOT = -1


class KeysArea(Area):
    """Key table, transient keys and security state."""

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
            return ZeroRest(status="NOT_JOINED")
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
            return ZeroRest(status="NOT_FOUND")
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

    def is_my_trust_centre(self, eui_hex: str) -> bool:
        """``eui_hex`` is the trust centre of the network this (non-TC) node is on."""
        net = self.network
        return net is not None and net.node_type != t.EmberNodeType.COORDINATOR and eui_hex == net.tc_eui64.upper()

    def store_link_key(self, eui_hex: str, key: bytes) -> int | None:
        """Keep a link key with ``eui_hex``: the key-table entry (added or replaced; None when the table is
        full) — or, when ``eui_hex`` is this node's trust centre, the trust-centre link key
        (``TC_LINK_KEY_SLOT``), which is what APS security with the trust centre uses.

        [I] As Silicon Labs' SE key-establishment plugin has it: CBKE with the trust centre updates the
        trust-centre link key (EmberZNet's clearTemporaryDataMaybeStoreLinkKey stores a partner's key in
        the key table, the trust centre's as the TC link key)."""
        self.key_hint(key, f"link key with {eui_hex}")
        if self.is_my_trust_centre(eui_hex):
            self.network.tc_link_key = key.hex().upper()
            self.nv.save()
            return TC_LINK_KEY_SLOT
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
        """The APS link key with ``eui_hex``: the TC link key for our trust centre, else the key table's."""
        if self.is_my_trust_centre(eui_hex):
            return bytes.fromhex(self.network.tc_link_key)
        for entry in self.nv.state.key_table:
            if entry["eui64"] == eui_hex:
                return bytes.fromhex(entry["key"])
        return None

    def cmd_eraseKeyTableEntry(self, p):
        index = int(p["index"])
        table = self.nv.state.key_table
        if index >= self.state.config[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE]:
            return {"status": "INVALID_INDEX"}      # sl_Status; INDEX_OUT_OF_RANGE where the status is EmberStatus
        if index < len(table):
            del table[index]            # the emulated table is kept dense: later entries move up one
            self.nv.save()
        return {"status": "OK"}

    def cmd_importKey(self, p):
        """Security manager import (v13+): the TC link key or an application link key by index."""
        ctx, key = p["context"], bytes(p["key"])
        kind = int(ctx.core_key_type)
        if kind == t.SecurityManagerKeyType.TC_LINK:
            if self.network is None:
                return {"status": "INVALID_STATE", "context": ctx}
            self.key_hint(key, "trust centre link key (imported)")
            self.network.tc_link_key = key.hex().upper()
            self.nv.save()
            return {"status": "OK", "context": ctx}
        if kind == t.SecurityManagerKeyType.APP_LINK:
            result = self.cmd_importLinkKey({"index": int(ctx.key_index), "address": ctx.eui64, "key": key})
            return {**result, "context": ctx}
        return {"status": "INVALID_PARAMETER", "context": ctx}

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
            return ZeroRest(status="NOT_FOUND")
        return ZeroRest(status="OK", plaintext_key=t.KeyData(key))
