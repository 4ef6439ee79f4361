"""Tokens area: the EUI-64, manufacturing tokens and the NV3 restored EUI-64.

``setMfgToken`` writes MFG_CUSTOM_EUI_64 and MFG_INSTALLATION_CODE, once each (write-once flash); the NV3 token
``NV3_RESTORED_EUI64`` is rewritable and takes effect at the next boot.  ``tokenFactoryReset`` drops
the network (network area) and the key table but keeps the manufacturing tokens.
"""

from __future__ import annotations

import struct

import bellows.types as t

from ..ezsp import ZeroRest
from ..nv import UNSET_EUI64
from .base import Area

NV3_RESTORED_EUI64 = (0x0000E12A,)          # NCP firmware key (0x1E12A is the RCP key: not here)

MFG_TOKEN_SIZES = {  # bytes returned for manufacturing tokens we do not model (erased flash)
    t.EzspMfgTokenId.MFG_CUSTOM_VERSION: 2, t.EzspMfgTokenId.MFG_MANUF_ID: 2,
    t.EzspMfgTokenId.MFG_PHY_CONFIG: 2, t.EzspMfgTokenId.MFG_BOOTLOAD_AES_KEY: 16,
    t.EzspMfgTokenId.MFG_ASH_CONFIG: 40, t.EzspMfgTokenId.MFG_STORAGE: 8,
    t.EzspMfgTokenId.STACK_CAL_DATA: 2, t.EzspMfgTokenId.MFG_CBKE_DATA: 92,
    t.EzspMfgTokenId.STACK_CAL_FILTER: 2, t.EzspMfgTokenId.MFG_CTUNE: 2,
}


class TokensArea(Area):
    """EUI-64 and manufacturing / NV3 tokens."""

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
        if tid == t.EzspMfgTokenId.MFG_INSTALLATION_CODE:
            return self._set_install_code(data)
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

    def _set_install_code(self, data: bytes) -> dict:
        """MFG_INSTALLATION_CODE (flags u16 | value[16] | CRC u16), written once like every token in the
        CIB: setMfgToken writes a token only while it is erased (EZSP reference: not for the CBKE, ASH or
        calibration tokens).  [I] A second write answers FAIL, as MFG_CUSTOM_EUI_64's does here."""
        size = {0: 6, 2: 8, 4: 12, 6: 16}.get(int.from_bytes(data[:2], "little") & 0x06) if len(data) == 20 else None
        if size is None or data[:2] == b"\xff\xff":
            return {"status": "INVALID_PARAMETER"}
        if self.nv.state.install_code:
            return {"status": "FAIL"}
        self.nv.state.install_code = (data[2:2 + size] + data[18:20]).hex()
        self.nv.save()
        return {"status": "OK"}

    def cmd_getTokenData(self, p):
        token, index = int(p["token"]), int(p["index"])
        if token in NV3_RESTORED_EUI64 and index == 0:
            return {"status": "OK",
                    "value": t.LVBytes32(bytes.fromhex(self.nv.state.nv3_restored_eui64)[::-1])}
        return ZeroRest(status="NOT_FOUND")

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
