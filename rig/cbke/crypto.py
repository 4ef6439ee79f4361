"""The CBKE cryptography: ECQV, ECMQV, KDF, key-confirmation MACs, ECDSA (AES-MMO, HMAC: ``rig.zigbee.mmo``).

Formats and steps follow the SE spec annexes as summarised in the team notes' ``cbke.md``:

* ECQV reconstruction: e = MMO(certificate) as an integer; Q = e*P + Q_CA, P the certificate's
  public-key reconstruction point.
* ECMQV (SEC1, cofactor form): s = (d2 + qbar(QE_own)*d1) mod n;
  P = h*s*(QE_peer + qbar(QE_peer)*Q1_peer); Z = x(P).
* KDF: MacKey = MMO(Z || 00000001), KeyData = MMO(Z || 00000002) (the new APS link key).
* MACU = HMAC(MacKey, 02 || IDU || IDV || QEU || QEV), MACV = HMAC(MacKey, 03 || IDV || IDU || QEV || QEU),
  U the initiator, V the responder.

Private keys may be >= n (published test data has one); they are reduced mod n.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from rig.cbke.certificate import Certificate163k1, Certificate283k1
from rig.cbke.curves import SECT163K1, SECT283K1
from rig.cbke.koblitz import KoblitzCurve, Point
from rig.cputime import crypto
from rig.zigbee.mmo import mmo_hash, mmo_hmac

Rng = Callable[[int], bytes]


class CbkeCryptoError(ValueError):
    """A certificate, key or point that cannot be used (bad encoding, not on the curve, ...)."""


@dataclass(frozen=True)
class CryptoSuite:
    """One SE key-establishment crypto suite."""

    number: int  # KeyEstablishmentSuite value: 0x0001 or 0x0002
    curve: KoblitzCurve
    certificate: type[Certificate283k1 | Certificate163k1]

    @property
    def cert_size(self) -> int:
        return self.certificate.SIZE

    @property
    def point_size(self) -> int:
        return self.curve.point_bytes

    @property
    def key_size(self) -> int:
        return self.curve.nbytes

    @property
    def half_bits(self) -> int:
        """ceil(bits(n) / 2): the width of the ECMQV associate value."""
        return (self.curve.n.bit_length() + 1) // 2


SUITE1 = CryptoSuite(0x0001, SECT163K1, Certificate163k1)
SUITE2 = CryptoSuite(0x0002, SECT283K1, Certificate283k1)
SUITES = {1: SUITE1, 2: SUITE2}


# ---- hash, HMAC, KDF, MACs ---------------------------------------------------------------------


@crypto
def kdf(shared_secret: bytes) -> tuple[bytes, bytes]:
    """(MacKey, KeyData) from the shared secret Z."""
    return mmo_hash(shared_secret + b"\x00\x00\x00\x01"), mmo_hash(shared_secret + b"\x00\x00\x00\x02")


@crypto
def confirm_macs(mac_key: bytes, id_u: bytes, id_v: bytes, qe_u: bytes, qe_v: bytes) -> tuple[bytes, bytes]:
    """(MACU, MACV): the initiator's and the responder's key-confirmation tags."""
    macu = mmo_hmac(mac_key, b"\x02" + id_u + id_v + qe_u + qe_v)
    macv = mmo_hmac(mac_key, b"\x03" + id_v + id_u + qe_v + qe_u)
    return macu, macv


# ---- keys and points -----------------------------------------------------------------------------


def random_scalar(suite: CryptoSuite, rng: Rng | None = None) -> int:
    """Uniform in [1, n-1]."""
    n = suite.curve.n
    if rng is None:
        return secrets.randbelow(n - 1) + 1
    nbits = n.bit_length()
    while True:
        k = int.from_bytes(rng((nbits + 7) // 8), "big") & ((1 << nbits) - 1)
        if 1 <= k < n:
            return k


@crypto
def decode_point(suite: CryptoSuite, data: bytes) -> tuple[int, int]:
    try:
        return suite.curve.decode_point(data)
    except ValueError as exc:
        raise CbkeCryptoError(str(exc)) from exc


def encode_point(suite: CryptoSuite, point: Point) -> bytes:
    return suite.curve.encode_point(point)


def decode_private_key(suite: CryptoSuite, data: bytes) -> int:
    if len(data) != suite.key_size:
        raise CbkeCryptoError(f"private key must be {suite.key_size} bytes")
    d = int.from_bytes(data, "big") % suite.curve.n
    if d == 0:
        raise CbkeCryptoError("private key is 0 mod n")
    return d


@crypto
def public_key(suite: CryptoSuite, private_key: int) -> tuple[int, int]:
    P = suite.curve.mul_base(private_key)
    if P is None:
        raise CbkeCryptoError("private key is 0 mod n")
    return P


# ---- ECQV ------------------------------------------------------------------------------------------


def certificate_hash(certificate: bytes) -> int:
    """e = MMO(certificate) read as a 128-bit big-endian integer (shorter than n: no truncation)."""
    return int.from_bytes(mmo_hash(certificate), "big")


def reconstruction_point(suite: CryptoSuite, certificate: bytes) -> tuple[int, int]:
    cert = suite.certificate.decode(certificate)
    return decode_point(suite, cert.public_key_reconstruction)


@crypto
def reconstruct_public_key(suite: CryptoSuite, certificate: bytes, ca_public_key: Point) -> tuple[int, int]:
    """ECQV: Q = e*P + Q_CA.  ``ca_public_key`` as a point or its compressed encoding."""
    if isinstance(ca_public_key, bytes | bytearray):
        ca_public_key = decode_point(suite, ca_public_key)
    try:
        cert = suite.certificate.decode(certificate)
    except ValueError as exc:
        raise CbkeCryptoError(str(exc)) from exc
    P = decode_point(suite, cert.public_key_reconstruction)
    Q = suite.curve.mul_add(certificate_hash(bytes(certificate)), P, ca_public_key)
    if Q is None:
        raise CbkeCryptoError("reconstructed public key is the point at infinity")
    return Q


@crypto
def issue_certificate(
    suite: CryptoSuite,
    ca_private_key: int,
    template: Certificate283k1 | Certificate163k1,
    rng: Rng | None = None,
) -> tuple[bytes, int]:
    """CA-side ECQV issuance where the CA also makes the subject's key pair.

    ``template`` supplies every field except the reconstruction point.  Returns (certificate
    bytes, subject private key d) with d*G == reconstruct_public_key(certificate, Q_CA).
    """
    curve = suite.curve
    while True:
        k = random_scalar(suite, rng)
        P = curve.mul_base(k)
        cert = template.replace(public_key_reconstruction=curve.encode_point(P)).encode()
        e = certificate_hash(cert)
        d = (e * k + ca_private_key) % curve.n
        if d:
            return cert, d


# ---- ECMQV ------------------------------------------------------------------------------------------


def associate_value(suite: CryptoSuite, point: tuple[int, int]) -> int:
    """qbar(Q) = (x(Q) mod 2^half) + 2^half."""
    half = suite.half_bits
    return (point[0] & ((1 << half) - 1)) | (1 << half)


@crypto
def ecmqv(
    suite: CryptoSuite,
    static_private: int,
    ephemeral_private: int,
    ephemeral_public: tuple[int, int],
    partner_static_public: tuple[int, int],
    partner_ephemeral_public: tuple[int, int],
) -> bytes:
    """The shared secret Z (field-size bytes), SEC1 cofactor ECMQV."""
    curve = suite.curve
    n = curve.n
    s = (ephemeral_private + associate_value(suite, ephemeral_public) * static_private) % n
    R = curve.mul_add(
        associate_value(suite, partner_ephemeral_public), partner_static_public, partner_ephemeral_public
    )
    # clear the cofactor before the subgroup multiplication (also kills any small-order part)
    for _ in range(curve.h.bit_length() - 1):
        R = curve.double(R)
    P = curve.mul_subgroup(s, R)
    if P is None:
        raise CbkeCryptoError("ECMQV result is the point at infinity")
    return P[0].to_bytes(curve.nbytes, "big")


@dataclass(frozen=True)
class SideKeys:
    """What one side derives: Z, MacKey, KeyData (the link key), MACU and MACV."""

    shared_secret: bytes
    mac_key: bytes
    key_data: bytes
    macu: bytes
    macv: bytes
    partner_eui64: bytes  # the partner certificate's subject, MSB first


@crypto
def derive_side(
    suite: CryptoSuite,
    *,
    am_initiator: bool,
    own_certificate: bytes,
    static_private: int,
    ephemeral_private: int,
    ephemeral_public: tuple[int, int],
    ca_public_key: Point,
    partner_certificate: bytes,
    partner_ephemeral_public: bytes,
) -> SideKeys:
    """Everything after ephemeral key generation, for either role."""
    if isinstance(ca_public_key, bytes | bytearray):
        ca_public_key = decode_point(suite, ca_public_key)
    try:
        own = suite.certificate.decode(own_certificate)
        partner = suite.certificate.decode(partner_certificate)
    except ValueError as exc:
        raise CbkeCryptoError(str(exc)) from exc
    partner_static = reconstruct_public_key(suite, partner_certificate, ca_public_key)
    partner_eph = decode_point(suite, partner_ephemeral_public)
    z = ecmqv(suite, static_private, ephemeral_private, ephemeral_public, partner_static, partner_eph)
    mac_key, key_data = kdf(z)
    own_qe = encode_point(suite, ephemeral_public)
    partner_qe = suite.curve.encode_point(partner_eph)
    if am_initiator:
        macu, macv = confirm_macs(mac_key, own.subject, partner.subject, own_qe, partner_qe)
    else:
        macu, macv = confirm_macs(mac_key, partner.subject, own.subject, partner_qe, own_qe)
    return SideKeys(z, mac_key, key_data, macu, macv, partner.subject)


# ---- ECDSA (dsaVerify283k1) ----------------------------------------------------------------------


def _digest_int(suite: CryptoSuite, digest: bytes) -> int:
    e = int.from_bytes(digest, "big")
    excess = 8 * len(digest) - suite.curve.n.bit_length()
    return e >> excess if excess > 0 else e


@crypto
def ecdsa_sign(suite: CryptoSuite, private_key: int, digest: bytes, rng: Rng | None = None) -> bytes:
    """SEC1 ECDSA over a message digest; r || s, each field-size big-endian."""
    curve = suite.curve
    n = curve.n
    e = _digest_int(suite, digest)
    while True:
        k = random_scalar(suite, rng)
        r = curve.mul_base(k)[0] % n
        if not r:
            continue
        s = pow(k, -1, n) * (e + r * private_key) % n
        if s:
            return r.to_bytes(curve.nbytes, "big") + s.to_bytes(curve.nbytes, "big")


@crypto
def ecdsa_verify(suite: CryptoSuite, public: tuple[int, int], digest: bytes, signature: bytes) -> bool:
    curve = suite.curve
    n = curve.n
    if len(signature) != 2 * curve.nbytes:
        return False
    r = int.from_bytes(signature[: curve.nbytes], "big")
    s = int.from_bytes(signature[curve.nbytes :], "big")
    if not (0 < r < n and 0 < s < n):
        return False
    w = pow(s, -1, n)
    u1 = _digest_int(suite, digest) * w % n
    u2 = r * w % n
    R = curve.mul_add(u2, public, curve.mul_base(u1))  # any point: no delta reduction
    return R is not None and R[0] % n == r
