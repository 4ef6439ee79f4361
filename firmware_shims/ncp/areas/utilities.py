"""Utilities area: extended values, library status, timers, random numbers, AES, EZSP app tokens,
the NCP's own reset and bootloader, debug output, and the small flags an NCP keeps for its host.

EmberZNet semantics where the EZSP reference gives them; each inference is tagged [I].
"""

from __future__ import annotations

import os
import struct

import bellows.types as t
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from zigpy.util import aes_mmo_hash_update

from ..ezsp import ZeroRest
from .base import Area

#: EzspEndpointFlags (ezsp-enum.h): an endpoint added with addEndpoint is enabled
ENDPOINT_ENABLED = 0x0001
#: EmberLibraryId (ember-types.h) → EmberLibraryStatus of this firmware ([I] an ncp-uart-hw image with the
#: SE CBKE 283k1 library, install codes, no ZLL, no multi-network; 0x80 = present, 0xFF = not present)
LIBRARY_NOT_PRESENT = 0xFF
LIBRARY_PRESENT = 0x80
_LIBRARIES = {
    0: LIBRARY_PRESENT | 0x01,      # ZigBee PRO, router capable
    1: LIBRARY_PRESENT,             # binding
    2: LIBRARY_PRESENT,             # end-device bind
    3: LIBRARY_PRESENT | 0x01,      # security core, router support
    4: LIBRARY_PRESENT,             # security link keys
    5: LIBRARY_PRESENT,             # alarm
    6: LIBRARY_NOT_PRESENT,         # CBKE 163k1
    7: LIBRARY_NOT_PRESENT,         # CBKE DSA sign (163k1)
    8: LIBRARY_NOT_PRESENT,         # ECC 163k1
    9: LIBRARY_NOT_PRESENT,         # CBKE DSA verify (163k1)
    10: LIBRARY_PRESENT,            # packet validate, checks enabled
    11: LIBRARY_PRESENT,            # install code
    12: LIBRARY_NOT_PRESENT,        # ZLL
    13: LIBRARY_PRESENT,            # CBKE 283k1
    14: LIBRARY_PRESENT,            # ECC 283k1
    15: LIBRARY_PRESENT,            # CBKE core
    16: LIBRARY_PRESENT,            # NCP
    17: LIBRARY_NOT_PRESENT,        # multi-network
    18: LIBRARY_PRESENT,            # enhanced beacon request
    19: LIBRARY_PRESENT,            # CBKE 283k1 DSA verify
    20: LIBRARY_NOT_PRESENT,        # multi-PAN
}
CBKE_LIBRARIES = (13, 14, 15, 19)
#: EZSP's application tokens: getToken/setToken address 8 tokens of 8 bytes (EZSP reference)
EZSP_TOKEN_COUNT, EZSP_TOKEN_SIZE = 8, 8
#: [I] APS payload of an unfragmented unicast: 127 - MAC(11+2) - NWK(8) - NWK aux(14) - MIC(4) - APS(8)
MAX_APS_PAYLOAD = 82
#: [I] bootloader version 0xFFFF means "no standalone bootloader" (EZSP reference); plat 4 = EFR32,
#: micro 0x18 [I], phy 8 = EFR32 2.4 GHz [I]
BOOTLOADER_INFO = {"bootloader_version": 0xFFFF, "nodePlat": 4, "nodeMicro": 0x18, "nodePhy": 8}
#: The one token the NVM3 token interface exposes here: NV3_RESTORED_EUI64 (tokens area)
_TOKEN_INFO = [{"nvm3Key": 0x0000E12A, "isCnt": False, "isIdx": False, "size": 8, "arraySize": 1}]
AES_BLOCK = 16


def aes_mmo_final(length: int, result: bytes, data: bytes) -> bytes:
    """Finish an AES-MMO hash begun with ``length`` bytes already hashed into ``result`` (ZigBee B.6)."""
    total = length + len(data)
    length, result = aes_mmo_hash_update(length, bytes(result), data)
    tail = data[len(data) - len(data) % AES_BLOCK:] if len(data) % AES_BLOCK else b""
    bits = total * 8
    if bits < 1 << 16:
        trailer = bits.to_bytes(2, "big")
    else:
        trailer = bits.to_bytes(4, "big") + b"\x00\x00"
    padded = tail + b"\x80"
    padded += b"\x00" * ((-len(padded) - len(trailer)) % AES_BLOCK) + trailer
    return bytes(aes_mmo_hash_update(length, bytes(result), padded)[1])


class UtilitiesArea(Area):
    """Extended values, libraries, timers, random, AES, app tokens, reset, debug, host flags."""

    #: set by the dongle: reboot the NCP on its own (resetNode); None where nothing can reboot it
    reboot = None

    def cmd_getExtendedValue(self, p):
        vid, characteristics = int(p["valueId"]), int(p["characteristics"])
        if vid == t.EzspExtendedValueId.EXTENDED_VALUE_ENDPOINT_FLAGS:
            endpoint = characteristics & 0xFF
            # the value is two bytes even for an unknown endpoint (zigbee-herdsman reads both before the
            # status, as it does on a real NCP): [I] flags 0 and an invalid-value status then
            if endpoint not in self.state.endpoints:
                return {"status": "INVALID_PARAMETER", "value": struct.pack("<H", 0)}
            flags = self.state.endpoint_flags.get(endpoint, ENDPOINT_ENABLED)
            return {"status": "OK", "value": struct.pack("<H", flags)}
        if vid == t.EzspExtendedValueId.EXTENDED_VALUE_LAST_LEAVE_REASON:
            reason, node = self.state.last_leave
            return {"status": "OK", "value": struct.pack("<BH", reason, node)}
        if vid == t.EzspExtendedValueId.EXTENDED_VALUE_GET_SOURCE_ROUTE_OVERHEAD:
            relays = self.state.source_routes.get(characteristics & 0xFFFF)
            # NWK source-route subframe: relay count, relay index, 2 bytes per relay; 0 when none is known
            return {"status": "OK", "value": bytes((2 + 2 * len(relays) if relays else 0,))}
        return {"status": "INVALID_PARAMETER", "value": b""}

    def cmd_getLibraryStatus(self, p):
        library = int(p["libraryId"])
        status = _LIBRARIES.get(library, LIBRARY_NOT_PRESENT)
        if library in CBKE_LIBRARIES and not getattr(self, "cbke_library", True):
            status = LIBRARY_NOT_PRESENT
        return {"status": status}

    # --- random numbers -------------------------------------------------------------------------
    def cmd_getRandomNumber(self, p):
        return {"status": "OK", "value": int.from_bytes(os.urandom(2), "little")}

    def cmd_getTrueRandomEntropySource(self, p):
        return {"entropySource": t.EmberEntropySource.ENTROPY_SOURCE_MBEDTLS_TRNG}

    # --- AES --------------------------------------------------------------------------------------
    def cmd_aesEncrypt(self, p):
        key, plaintext = bytes(p["key"]), bytes(p["plaintext"])
        encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        return {"ciphertext": t.FixedList[t.uint8_t, 16](ciphertext)}

    def cmd_aesMmoHash(self, p):
        context, data, finalize = p["context"], bytes(p["data"]), bool(p["finalize"])
        result, length = bytes(context.result), int(context.length)
        if not finalize and len(data) % AES_BLOCK:
            # emberAesMmoHashUpdate hashes whole blocks only: [I] anything else is a bad argument
            return ZeroRest(status="INVALID_PARAMETER")
        if finalize:
            digest, new_length = aes_mmo_final(length, result, data), length + len(data)
        else:
            new_length, digest = aes_mmo_hash_update(length, result, data)
        return {"status": "OK", "returnContext": {"result": t.FixedList[t.uint8_t, 16](bytes(digest)),
                                                  "length": new_length}}

    # --- timers (the EZSP application timers 0 and 1) -------------------------------------------
    def cmd_setTimer(self, p):
        timer = int(p["timerId"])
        if timer > 1:
            return {"status": "INVALID_PARAMETER"}
        old = self.state.timers.pop(timer, None)
        if old is not None and old["handle"] is not None:
            old["handle"].cancel()
        units, time, repeat = int(p["units"]), int(p["time"]), bool(p["repeat"])
        entry = {"time": time, "units": units, "repeat": repeat, "handle": None}
        scale = {1: 0.001, 2: 0.256, 3: 65.536, 4: 0.0}.get(units)
        if scale is not None:
            def fire(state=self.state, entry=entry):
                if self.state is not state or state.timers.get(timer) is not entry:
                    return
                self.callback("timerHandler", timerId=timer)
                if entry["repeat"]:
                    entry["handle"] = self.clock.call_later(time * scale, fire)
                else:
                    entry["units"] = 0
            entry["handle"] = self.clock.call_later(time * scale, fire)
        self.state.timers[timer] = entry
        return {"status": "OK"}

    def cmd_getTimer(self, p):
        entry = self.state.timers.get(int(p["timerId"]))
        if entry is None:
            return {"time": 0, "units": t.EmberEventUnits.EVENT_INACTIVE, "repeat": False}
        return {"time": entry["time"], "units": entry["units"], "repeat": entry["repeat"]}

    # --- EZSP app tokens (NV) and the NVM3 token interface ---------------------------------------
    def cmd_getToken(self, p):
        token = int(p["tokenId"])
        if token >= EZSP_TOKEN_COUNT:
            return {"status": "INVALID_PARAMETER", "tokenData": t.FixedList[t.uint8_t, 8](bytes(8))}
        data = bytes.fromhex(self.nv.state.ezsp_tokens.get(str(token), "FF" * EZSP_TOKEN_SIZE))
        return {"status": "OK", "tokenData": t.FixedList[t.uint8_t, 8](data)}

    def cmd_setToken(self, p):
        token = int(p["tokenId"])
        if token >= EZSP_TOKEN_COUNT:
            return {"status": "INVALID_PARAMETER"}
        self.nv.state.ezsp_tokens[str(token)] = bytes(p["tokenData"]).hex().upper()
        self.nv.save()
        return {"status": "OK"}

    def cmd_getTokenCount(self, p):
        return {"count": len(_TOKEN_INFO)}

    def cmd_getTokenInfo(self, p):
        index = int(p["index"])
        if index >= len(_TOKEN_INFO):
            return ZeroRest(status="INVALID_PARAMETER")
        return {"status": "OK", "token_info": dict(_TOKEN_INFO[index])}

    # --- the NCP itself -------------------------------------------------------------------------
    def cmd_resetNode(self, p):
        # halReboot(): the answer goes out, then the NCP restarts (RSTACK, reset code SOFTWARE)
        if self.reboot is not None:
            self.clock.call_later(0, self.reboot)
        return {}

    def cmd_callback(self, p):
        return {}                       # answered as noCallbacks (ezsp.ANSWERED_BY)

    def cmd_delayTest(self, p):
        return {}                       # [I] the NCP delays its answer; the emulator answers at once

    def cmd_debugWrite(self, p):
        self.state.debug_log.append(bytes(p["messageContents"]))
        del self.state.debug_log[:-64]
        return {"status": "OK"}

    def cmd_maximumPayloadLength(self, p):
        return {"apsLength": MAX_APS_PAYLOAD}

    def cmd_getStandaloneBootloaderVersionPlatMicroPhy(self, p):
        return dict(BOOTLOADER_INFO)

    def cmd_launchStandaloneBootloader(self, p):
        return {"status": "NOT_AVAILABLE"}     # no standalone bootloader in this image [I]

    def cmd_sendBootloadMessage(self, p):
        return {"status": "NOT_AVAILABLE"}     # [I] the bootload library is not linked

    def cmd_readAttribute(self, p):
        # the NCP has no ZCL attribute table (the host keeps its clusters): [I] answered with the
        # library-not-present EmberStatus (this frame's status is an EmberStatus on every version)
        return {"status": "NOT_AVAILABLE", "dataType": 0, "data": b""}

    def cmd_writeAttribute(self, p):
        return {"status": "NOT_AVAILABLE"}

    # --- host flags ---------------------------------------------------------------------------------
    def cmd_setHubConnectivity(self, p):
        self.state.hub_connected = bool(p["connected"])
        return {}

    def cmd_isHubConnected(self, p):
        return {"connected": self.state.hub_connected}

    def cmd_setLongUpTime(self, p):
        self.state.long_up_time = bool(p["hasLongUpTime"])
        return {}

    def cmd_isUpTimeLong(self, p):
        return {"hasLongUpTime": self.state.long_up_time}

    def cmd_setParentClassificationEnabled(self, p):
        self.state.parent_classification = bool(p["enabled"])
        return {}

    def cmd_getParentClassificationEnabled(self, p):
        return {"enabled": self.state.parent_classification}

    def cmd_setMacPollFailureWaitTime(self, p):
        self.state.mac_poll_failure_wait_ms = int(p["waitBeforeRetryIntervalMs"])
        return {}

    def cmd_setPowerDescriptor(self, p):
        self.state.power_descriptor = int(p["descriptor"])
        return {"status": "OK"}

    def cmd_writeNodeData(self, p):
        # writes the node data (network tokens) to NV; ``erase`` wipes the node data first [I]
        if p["erase"]:
            self.drop_network()
        else:
            self.nv.save()
        return {"status": "OK"}
