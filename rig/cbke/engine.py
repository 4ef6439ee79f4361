"""What an EmberZNet NCP's CBKE library does, as a pure object the emulated NCP can expose over EZSP.

``CbkeEngine(token)`` holds the MFG_CBKE_283K1_DATA token (and optionally the suite-1
MFG_CBKE_DATA one) and answers the EZSP CBKE commands (notes/cbke.md §7):

=============================================  ===============================================
EZSP frame                                     method (returns the *callback's* payload)
=============================================  ===============================================
generateCbkeKeys283k1 / ...Handler283k1        ``generate_cbke_keys_283k1()``
calculateSmacs283k1 / ...Handler283k1          ``calculate_smacs_283k1(am_initiator, cert, qe)``
clearTemporaryDataMaybeStoreLinkKey283k1       ``clear_temporary_data_maybe_store_link_key_283k1``
getCertificate283k1                            ``get_certificate_283k1()``
dsaVerify283k1 / dsaVerifyHandler              ``dsa_verify_283k1(digest, cert, signature)``
generateCbkeKeys, calculateSmacs, ... (163k1)  the same names without ``_283k1``
=============================================  ===============================================

On a real NCP generate/calculate/dsaVerify answer ``OPERATION_IN_PROGRESS`` at once
and report the result below in their handler callback; the emulated NCP does that split.  Statuses
are bellows' ``EmberStatus``; for EZSP v14+ the NCP sends the ``sl_Status`` bellows maps each one to.

Choices where no public source says what an NCP does ([I] in the notes): an uninitialised token
gives ERR_FATAL for every operation; calculateSmacs before generateCbkeKeys gives INVALID_CALL; a
partner certificate or ephemeral key that does not decode (or an ECMQV result at infinity) gives
ERR_FATAL in the handler; dsaVerify of a certificate that does not reconstruct gives
SIGNATURE_VERIFY_FAILURE.  Pure: no I/O, no asyncio, no clocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bellows.types import EmberStatus

from rig.cbke import crypto
from rig.cbke.crypto import CbkeCryptoError, CryptoSuite
from rig.cbke.token import CbkeToken, CbkeToken163k1

SMAC_SIZE = 16


@dataclass(frozen=True)
class GenerateKeysResult:
    status: EmberStatus
    ephemeral_public_key: bytes  # zero-filled unless SUCCESS


@dataclass(frozen=True)
class SmacsResult:
    status: EmberStatus
    initiator_smac: bytes  # MACU, whatever am_initiator was; zero-filled unless SUCCESS
    responder_smac: bytes  # MACV


@dataclass(frozen=True)
class ClearResult:
    status: EmberStatus
    link_key: bytes | None = None  # the key stored (SUCCESS only)
    partner_eui64: bytes | None = None  # its partner, most significant byte first (as in the cert)

    @property
    def partner_eui64_le(self) -> bytes | None:
        """The partner EUI64 in EZSP / zigpy byte order (least significant first)."""
        return None if self.partner_eui64 is None else self.partner_eui64[::-1]


@dataclass(frozen=True)
class CertificateResult:
    status: EmberStatus
    certificate: bytes  # the token's bytes (all 0xFF when empty) -- what the NCP answers


class _SuiteSide:
    """One suite's token and temporary data."""

    def __init__(self, suite: CryptoSuite, token: CbkeToken | CbkeToken163k1 | None) -> None:
        self.suite = suite
        self.token = token
        self._ca_public = None
        self._static_private: int | None = None
        self.clear()

    @property
    def ready(self) -> bool:
        return self.token is not None and self.token.initialised

    def keys(self) -> tuple[int, tuple[int, int]]:
        """(static private key, CA public key point), decoded once."""
        if self._static_private is None:
            self._static_private = crypto.decode_private_key(self.suite, self.token.private_key)
            self._ca_public = crypto.decode_point(self.suite, self.token.ca_public_key)
        return self._static_private, self._ca_public

    def clear(self) -> None:
        self.ephemeral_private: int | None = None
        self.ephemeral_public: tuple[int, int] | None = None
        self.pending: crypto.SideKeys | None = None


class CbkeEngine:
    """The NCP-side CBKE library for one device (see the module docstring)."""

    def __init__(
        self,
        token: CbkeToken | None,
        *,
        token_163k1: CbkeToken163k1 | None = None,
        rng: Callable[[int], bytes] | None = None,
    ) -> None:
        self._sides = {2: _SuiteSide(crypto.SUITE2, token), 1: _SuiteSide(crypto.SUITE1, token_163k1)}
        self._rng = rng
        # link keys stored by clear...(True): partner EUI64 (MSB first) -> key
        self.key_table: dict[bytes, bytes] = {}

    @property
    def token(self) -> CbkeToken | None:
        return self._sides[2].token

    # -- generic (suite number) --------------------------------------------------------------------

    def generate_keys(self, suite: int, *, ephemeral_private_key: bytes | None = None) -> GenerateKeysResult:
        """A fresh ephemeral key pair; ``ephemeral_private_key`` is a test hook (published data)."""
        side = self._sides[suite]
        zero = bytes(side.suite.point_size)
        if not side.ready:
            return GenerateKeysResult(EmberStatus.ERR_FATAL, zero)
        side.clear()
        if ephemeral_private_key is not None:
            d = crypto.decode_private_key(side.suite, ephemeral_private_key)
        else:
            d = crypto.random_scalar(side.suite, self._rng)
        side.ephemeral_private = d
        side.ephemeral_public = crypto.public_key(side.suite, d)
        return GenerateKeysResult(EmberStatus.SUCCESS, crypto.encode_point(side.suite, side.ephemeral_public))

    def calculate_smacs(
        self, suite: int, am_initiator: bool, partner_certificate: bytes, partner_ephemeral_public_key: bytes
    ) -> SmacsResult:
        side = self._sides[suite]
        zero = bytes(SMAC_SIZE)
        if not side.ready:
            return SmacsResult(EmberStatus.ERR_FATAL, zero, zero)
        if side.ephemeral_private is None:
            return SmacsResult(EmberStatus.INVALID_CALL, zero, zero)
        try:
            static_private, ca_public = side.keys()
            keys = crypto.derive_side(
                side.suite,
                am_initiator=bool(am_initiator),
                own_certificate=side.token.certificate,
                static_private=static_private,
                ephemeral_private=side.ephemeral_private,
                ephemeral_public=side.ephemeral_public,
                ca_public_key=ca_public,
                partner_certificate=bytes(partner_certificate),
                partner_ephemeral_public=bytes(partner_ephemeral_public_key),
            )
        except (CbkeCryptoError, ValueError):
            side.pending = None
            return SmacsResult(EmberStatus.ERR_FATAL, zero, zero)
        side.pending = keys
        return SmacsResult(EmberStatus.SUCCESS, keys.macu, keys.macv)

    def clear_temporary_data(self, suite: int, store_link_key: bool) -> ClearResult:
        """Forget the ephemeral keys and SMACs; with ``store_link_key`` keep the link key first.

        As on the NCP: ``False`` always answers ERR_FATAL; ``True`` answers SUCCESS only when a key
        was computed (and is now in ``key_table``).
        """
        side = self._sides[suite]
        pending = side.pending
        side.clear()
        if not store_link_key or pending is None:
            return ClearResult(EmberStatus.ERR_FATAL)
        self.key_table[pending.partner_eui64] = pending.key_data
        return ClearResult(EmberStatus.SUCCESS, pending.key_data, pending.partner_eui64)

    def get_certificate(self, suite: int) -> CertificateResult:
        side = self._sides[suite]
        if not side.ready:
            size = side.suite.cert_size
            cert = side.token.certificate if side.token is not None else b"\xff" * size
            return CertificateResult(EmberStatus.ERR_FATAL, cert)
        return CertificateResult(EmberStatus.SUCCESS, side.token.certificate)

    def dsa_verify(
        self, suite: int, digest: bytes, signer_certificate: bytes, signature: bytes
    ) -> EmberStatus:
        """ECDSA check of ``signature`` (r || s) over a 16-byte digest by the certificate's key."""
        side = self._sides[suite]
        if not side.ready:
            return EmberStatus.ERR_FATAL
        try:
            _, ca_public = side.keys()
            q = crypto.reconstruct_public_key(side.suite, bytes(signer_certificate), ca_public)
        except (CbkeCryptoError, ValueError):
            return EmberStatus.SIGNATURE_VERIFY_FAILURE
        ok = crypto.ecdsa_verify(side.suite, q, bytes(digest), bytes(signature))
        return EmberStatus.SUCCESS if ok else EmberStatus.SIGNATURE_VERIFY_FAILURE

    # -- EZSP-named, suite 2 ---------------------------------------------------------------------

    def generate_cbke_keys_283k1(self, *, ephemeral_private_key: bytes | None = None) -> GenerateKeysResult:
        return self.generate_keys(2, ephemeral_private_key=ephemeral_private_key)

    def calculate_smacs_283k1(
        self, am_initiator: bool, partner_certificate: bytes, partner_ephemeral_public_key: bytes
    ) -> SmacsResult:
        return self.calculate_smacs(2, am_initiator, partner_certificate, partner_ephemeral_public_key)

    def clear_temporary_data_maybe_store_link_key_283k1(self, store_link_key: bool) -> ClearResult:
        return self.clear_temporary_data(2, store_link_key)

    def get_certificate_283k1(self) -> CertificateResult:
        return self.get_certificate(2)

    def dsa_verify_283k1(self, digest: bytes, signer_certificate: bytes, received_sig: bytes) -> EmberStatus:
        return self.dsa_verify(2, digest, signer_certificate, received_sig)

    # -- EZSP-named, suite 1 ---------------------------------------------------------------------

    def generate_cbke_keys(self, *, ephemeral_private_key: bytes | None = None) -> GenerateKeysResult:
        return self.generate_keys(1, ephemeral_private_key=ephemeral_private_key)

    def calculate_smacs_163k1(
        self, am_initiator: bool, partner_certificate: bytes, partner_ephemeral_public_key: bytes
    ) -> SmacsResult:
        """EZSP ``calculateSmacs`` (suite 1)."""
        return self.calculate_smacs(1, am_initiator, partner_certificate, partner_ephemeral_public_key)

    def clear_temporary_data_maybe_store_link_key(self, store_link_key: bool) -> ClearResult:
        return self.clear_temporary_data(1, store_link_key)

    def get_certificate_163k1(self) -> CertificateResult:
        """EZSP ``getCertificate`` (suite 1)."""
        return self.get_certificate(1)
