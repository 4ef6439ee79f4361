"""CBKE area (suite 2, sect283k1): the NCP's crypto library over EZSP.

The library (``rig.cbke.engine.CbkeEngine``) holds MFG_CBKE_283K1_DATA from NV; its temporary data
is RAM (lost at reset).  As on a real NCP the slow ECC operations (``generateCbkeKeys283k1``,
``calculateSmacs283k1``, ``dsaVerify283k1``) answer IN_PROGRESS and report their result in a handler
callback after ``CbkeTiming`` seconds of the node's clock; the library runs one ECC operation at a time,
and a request while one runs is refused.  A dongle built without the SE CBKE library (``Node.cbke_library``
False: the stub library) answers NOT_AVAILABLE (EMBER_LIBRARY_NOT_PRESENT).  A link key the host asks
to keep goes into the key table (keys area).
"""

from __future__ import annotations

from dataclasses import dataclass

import bellows.types as t

from ..nv import UNSET_EUI64
from .base import Area


@dataclass(frozen=True)
class CbkeTiming:
    """How long the NCP's ECC operations take before their callback, in node-clock seconds.

    Defaults are the upper bounds issue 13 gives for an EmberZNet NCP ("calls back after up to 1 s /
    3.5 s"): [I] not confirmed by a public Silicon Labs text — the SE key-establishment plugin only
    advertises 10+1 s (ephemeral data) and 15+1 s (shared secret) to its partner as the longest it may
    take (key-establishment.h, DEFAULT_EPHEMERAL_DATA_GENERATE_TIME_SECONDS /
    DEFAULT_GENERATE_SHARED_SECRET_TIME_SECONDS).  dsaVerify283k1 [I]: as long as key generation.
    """

    generate_keys_s: float = 1.0
    calculate_smacs_s: float = 3.5
    dsa_verify_s: float = 1.0


REAL_NCP_TIMING = CbkeTiming()


class CbkeArea(Area):
    """The CBKE library commands and the factory CBKE token."""

    cbke_library: bool = True                   # False: built with the CBKE stub library
    cbke_timing: CbkeTiming = REAL_NCP_TIMING

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

    def _ecc(self, operation: str, seconds: float, run) -> dict:
        """Start one slow ECC operation: IN_PROGRESS now, ``run()`` (which raises the callback) later.

        [I] A request while another ECC operation runs is refused as an invalid call (EmberStatus
        INVALID_CALL on v13, SL_STATUS_INVALID_STATE on v14+): the library has one set of temporary
        data and works on one operation at a time.  A reset meanwhile loses the operation (RAM)."""
        if not self.cbke_library:
            return {"status": "NOT_AVAILABLE"}
        if self.state.cbke_busy is not None:
            return {"status": "INVALID_STATE"}
        state = self.state
        state.cbke_busy = operation

        def done() -> None:
            if self.state is not state:
                return                                   # the NCP was reset: no callback
            state.cbke_busy = None
            run()
        self.clock.call_later(seconds, done)
        return {"status": "IN_PROGRESS"}

    @staticmethod
    def _status_name(ember_status) -> str:
        return {0x00: "OK", 0x01: "FAIL", 0x70: "INVALID_STATE", 0xB5: "NOT_AVAILABLE",
                0xB9: "ZIGBEE_SIGNATURE_VERIFY_FAILURE", 0xBA: "IN_PROGRESS"}[int(ember_status)]

    def cmd_getCertificate283k1(self, p):
        if not self.cbke_library:
            return {"status": "NOT_AVAILABLE", "localCert": t.EmberCertificate283k1Data(bytes(74))}
        result = self.cbke.get_certificate_283k1()
        return {"status": self._status_name(result.status), "localCert": t.EmberCertificate283k1Data(result.certificate)}

    def cmd_generateCbkeKeys283k1(self, p):
        def run():
            r = self.cbke.generate_cbke_keys_283k1()
            self.callback("generateCbkeKeysHandler283k1", status=self._status_name(r.status),
                          ephemeralPublicKey=t.EmberPublicKey283k1Data(r.ephemeral_public_key))
        return self._ecc("generateCbkeKeys283k1", self.cbke_timing.generate_keys_s, run)

    def cmd_calculateSmacs283k1(self, p):
        args = (bool(p["amInitiator"]), bytes(p["partnerCertificate"]), bytes(p["partnerEphemeralPublicKey"]))

        def run():
            r = self.cbke.calculate_smacs_283k1(*args)
            self.callback("calculateSmacsHandler283k1", status=self._status_name(r.status),
                          initiatorSmac=t.EmberSmacData(r.initiator_smac),
                          responderSmac=t.EmberSmacData(r.responder_smac))
        return self._ecc("calculateSmacs283k1", self.cbke_timing.calculate_smacs_s, run)

    def cmd_clearTemporaryDataMaybeStoreLinkKey283k1(self, p):
        if not self.cbke_library:
            return {"status": "NOT_AVAILABLE"}
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
        return self._ecc("dsaVerify283k1", self.cbke_timing.dsa_verify_s, run)

    def cmd_savePreinstalledCbkeData283k1(self, p):
        if not self.cbke_library:
            return {"status": "NOT_AVAILABLE"}
        staged = self.state.cbke_staged
        need = (t.EzspValueId.VALUE_CERTIFICATE_283K1, t.EzspValueId.VALUE_PUBLIC_KEY_283K1,
                t.EzspValueId.VALUE_PRIVATE_KEY_283K1)
        if not all(int(v) in staged for v in need):
            return {"status": "INVALID_STATE"}
        # [I] as issue 13 reads the SDK: MFG_CBKE_283K1_DATA is write-once flash, a second save answers
        # FLASH_WRITE_INHIBITED; a certificate naming another EUI-64 than the device's also burns that
        # EUI-64 into MFG_CUSTOM_EUI_64 (effective at the next boot) — refused the same way when that
        # write-once token already holds a different address
        if self.nv.state.cbke_283k1:
            return {"status": "FLASH_WRITE_INHIBITED"}
        from rig.cbke.certificate import Certificate283k1
        from rig.cbke.token import CbkeToken
        from rig.zigbee.eui64 import eui_hex as _hex

        certificate = staged[int(need[0])]
        subject = Certificate283k1.decode(certificate).subject.hex().upper()
        custom = self.nv.state.mfg_custom_eui64.upper()
        if subject != _hex(self.state.eui64):
            if custom not in (UNSET_EUI64, subject):
                return {"status": "FLASH_WRITE_INHIBITED"}
            self.nv.state.mfg_custom_eui64 = subject
        token = CbkeToken(certificate=certificate, ca_public_key=staged[int(need[1])],
                          private_key=staged[int(need[2])], flags=0)
        self.install_cbke_token(token.to_json())
        return {"status": "OK"}

    def install_cbke_token(self, token_json: dict) -> None:
        """Factory-programme MFG_CBKE_283K1_DATA (what a manufacturing line or `rig cbke issue` does)."""
        self.nv.state.cbke_283k1 = dict(token_json)
        self.nv.save()
        self.state.cbke_engine = None
