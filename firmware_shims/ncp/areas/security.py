"""Security-management area: key look-ups by EUI-64 and context, network-key updates, trust-centre
requests, and the suite-1 (sect163k1) CBKE library this firmware is built without.

The key table and transient keys are the keys area's (``keys.py``); this module only reads them.
Network-key rotation keeps the next key and the switch in the trust centre's NV ([I] the APS
transport-key and switch-key frames to the joined devices are not put on the air by the emulator).
The 163k1 CBKE commands answer NOT_AVAILABLE (EMBER_LIBRARY_NOT_PRESENT): the image links only the
283k1 library, which is what GB smart metering uses (``getLibraryStatus`` says the same).
"""

from __future__ import annotations

import os

import bellows.types as t

from ..ezsp import ZeroRest
from .base import Area, eui_from_hex, eui_to_hex


def _context(key_type, index: int, eui) -> t.SecurityManagerContextV13:
    return t.SecurityManagerContextV13(
        core_key_type=key_type, key_index=index, derived_type=t.SecurityManagerDerivedKeyTypeV13.NONE,
        eui64=eui, multi_network_index=0, flags=t.SecurityManagerContextFlags.NONE, psa_key_alg_permission=0)


def _metadata(entry: dict) -> t.SecurityManagerAPSKeyMetadata:
    return t.SecurityManagerAPSKeyMetadata(bitmask=0, outgoing_frame_counter=entry.get("tx", 0),
                                           incoming_frame_counter=entry.get("rx", 0), ttl_in_seconds=0)


class SecurityArea(Area):
    """Key look-ups, network-key updates, TC requests, the absent 163k1 library."""

    def _key_index(self, eui) -> int | None:
        wanted = eui_to_hex(eui)
        for index, entry in enumerate(self.nv.state.key_table):
            if entry["eui64"] == wanted:
                return index
        return None

    def cmd_exportLinkKeyByEui(self, p):
        index = self._key_index(p["eui64"])
        if index is None:
            return ZeroRest(status="NOT_FOUND", index=0xFF)
        entry = self.nv.state.key_table[index]
        eui = eui_from_hex(entry["eui64"])
        return {"status": "OK", "index": index, "context": _context(t.SecurityManagerKeyType.APP_LINK, index, eui),
                "plaintext_key": t.KeyData(bytes.fromhex(entry["key"])), "key_data": _metadata(entry)}

    def cmd_exportTransientKeyByIndex(self, p):
        index = int(p["index"])
        now = self.clock.now()
        live = [(eui, key) for eui, (key, expiry) in self.state.transient_keys.items() if expiry > now]
        if index >= len(live):
            return ZeroRest(status="NOT_FOUND")
        eui, key = live[index]
        ctx = _context(t.SecurityManagerKeyType.TC_LINK_WITH_TIMEOUT, index, t.EUI64(eui))
        return {"status": "OK", "context": ctx, "plaintext_key": t.KeyData(key),
                "key_data": _metadata({})}

    def _entry_for_context(self, ctx) -> tuple[int, dict] | None:
        key_type = int(ctx.core_key_type)
        if key_type != t.SecurityManagerKeyType.APP_LINK:
            return None
        table = self.nv.state.key_table
        index = self._key_index(ctx.eui64)
        if index is None and 0 <= int(ctx.key_index) < len(table) and bytes(ctx.eui64) == bytes(8):
            index = int(ctx.key_index)
        return (index, table[index]) if index is not None else None

    def cmd_getApsKeyInfo(self, p):
        ctx = p["context_in"]
        found = self._entry_for_context(ctx)
        if found is None:
            return ZeroRest(status="NOT_FOUND", context=ctx)
        index, entry = found
        eui = eui_from_hex(entry["eui64"])
        return {"status": "OK", "eui": eui, "key_data": _metadata(entry),
                "context": _context(t.SecurityManagerKeyType.APP_LINK, index, eui)}

    def cmd_checkKeyContext(self, p):
        ctx = p["context"]
        key_type = int(ctx.core_key_type)
        if key_type in (t.SecurityManagerKeyType.NETWORK, t.SecurityManagerKeyType.TC_LINK):
            return {"status": "OK" if self.network else "NOT_FOUND"}
        return {"status": "OK" if self._entry_for_context(ctx) else "NOT_FOUND"}

    # --- network key updates (trust centre) ------------------------------------------------------
    def _tc_up(self) -> str | None:
        if not self.state.network_up:
            return "NETWORK_DOWN"
        if self.network.node_id != 0x0000:
            return "INVALID_STATE"          # only the trust centre distributes network keys
        return None

    def cmd_broadcastNextNetworkKey(self, p):
        err = self._tc_up()
        if err:
            return {"status": err}
        key = bytes(p["key"])
        # an all-zero key asks the stack for a random one (EZSP reference)
        self.state.next_network_key = key if any(key) else os.urandom(16)
        return {"status": "OK"}

    def cmd_broadcastNetworkKeySwitch(self, p):
        err = self._tc_up()
        if err:
            return {"status": err}
        if self.state.next_network_key is None:
            return {"status": "INVALID_STATE"}     # no key was distributed to switch to [I]
        net = self.network
        net.network_key = self.state.next_network_key.hex().upper()
        net.network_key_seq = (net.network_key_seq + 1) & 0xFF
        net.nwk_frame_counter = 0
        self.state.next_network_key = None
        self.nv.save()
        self.key_hint(bytes.fromhex(net.network_key), "network key")
        return {"status": "OK"}

    def cmd_unicastNwkKeyUpdate(self, p):
        err = self._tc_up()
        return {"status": err or "OK"}

    def cmd_unicastCurrentNetworkKey(self, p):
        err = self._tc_up()
        return {"status": err or "OK"}

    def cmd_sendTrustCenterLinkKey(self, p):
        err = self._tc_up()
        return {"status": err or "OK"}

    def cmd_removeDevice(self, p):
        err = self._tc_up()
        if err:
            return {"status": err}
        devices = getattr(self.stack, "devices", None)
        if devices is not None:
            devices.pop(int.from_bytes(bytes(p["targetLong"]), "little"), None)
        return {"status": "OK"}

    def cmd_requestLinkKey(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN"}
        return {"status": "OK"}

    def cmd_updateTcLinkKey(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN"}
        if self.network.node_id == 0x0000:
            return {"status": "INVALID_STATE"}      # the trust centre has no TC link key to update
        return {"status": "OK"}

    # --- CBKE suite 1 (sect163k1): not linked ----------------------------------------------------
    def _no_163k1(self, p):
        return {"status": "NOT_AVAILABLE"}

    cmd_generateCbkeKeys = _no_163k1
    cmd_calculateSmacs = _no_163k1
    cmd_clearTemporaryDataMaybeStoreLinkKey = _no_163k1
    cmd_dsaSign = _no_163k1
    cmd_dsaVerify = _no_163k1
    cmd_setPreinstalledCbkeData = _no_163k1

    def cmd_getCertificate(self, p):
        return ZeroRest(status="NOT_AVAILABLE")
