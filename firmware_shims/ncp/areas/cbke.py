"""CBKE area (suite 2, sect283k1): the NCP's crypto library over EZSP.

The library (``rig.cbke.engine.CbkeEngine``) holds MFG_CBKE_283K1_DATA from NV; its temporary data
is RAM (lost at reset).  Results of the slow operations come back as callbacks after the
IN_PROGRESS reply.  A link key the host asks to keep goes into the key table (keys area).
"""

from __future__ import annotations

import bellows.types as t

from .base import Area


class CbkeArea(Area):
    """The CBKE library commands and the factory CBKE token."""

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
