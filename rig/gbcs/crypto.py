"""GBCS cryptography with ``cryptography`` only (team notes, ``gbcs.md`` §2).

* MAC key: Z = ECDH P-256 (x-coordinate); key = SHA-256(00000001 ‖ Z ‖ OtherInfo)[0:16], OtherInfo =
  ``60 85 74 06 08 03 00`` ‖ originator ‖ ``09`` ‖ CRA ‖ originator counter ‖ recipient.
* MAC: AES-128-GCM over an empty plaintext (GMAC), IV = originator ‖ ``00000000``,
  AAD = ``11 00 00 00 00 00`` ‖ General-Signing APDU, tag cut to 12 bytes.
* Signature: ECDSA P-256/SHA-256 over ``Message.signed_data()``, stored raw r‖s (64 bytes).

Key pairs: a command (CRA 1) is MAC'd by the ACB's key-agreement key with the recipient's, whoever the
grouping-header originator is; responses and alerts by the device's key with the recipient's.  ECDH
is symmetric, so either side computes the same key from its private key and the other's public key.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rig.cputime import crypto

from .message import MAC_LENGTH, Cra, Message, entity_id

ALGORITHM_ID = bytes.fromhex("60857406080300")
AAD_PREFIX = bytes.fromhex("110000000000")
PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


@crypto
def ecdh(private_key: PrivateKey, peer_public_key: PublicKey) -> bytes:
    """Shared secret Z (32-byte x-coordinate)."""
    return private_key.exchange(ec.ECDH(), peer_public_key)


def kdf_other_info(originator: str, cra: int, counter: int, recipient: str) -> bytes:
    return (ALGORITHM_ID + bytes.fromhex(entity_id(originator)) + bytes([0x09, Cra(cra)])
            + counter.to_bytes(8, "big") + bytes.fromhex(entity_id(recipient)))


@crypto
def kdf(z: bytes, other_info: bytes) -> bytes:
    """NIST SP 800-56A single-step KDF, one SHA-256 round, first 16 bytes."""
    return hashlib.sha256(b"\x00\x00\x00\x01" + z + other_info).digest()[:16]


def mac_iv(originator: str) -> bytes:
    return bytes.fromhex(entity_id(originator)) + bytes(4)


@crypto
def gmac(key: bytes, iv: bytes, aad: bytes) -> bytes:
    """AES-GCM tag over an empty plaintext, truncated to 12 bytes."""
    return AESGCM(key).encrypt(iv, b"", aad)[:MAC_LENGTH]


def mac_key(message: Message, private_key: PrivateKey, peer_public_key: PublicKey) -> bytes:
    other = kdf_other_info(message.originator, message.cra, message.counter, message.recipient)
    return kdf(ecdh(private_key, peer_public_key), other)


@crypto
def compute_mac(message: Message, private_key: PrivateKey, peer_public_key: PublicKey) -> bytes:
    """The MAC ``message`` should carry, from one side's private key and the other side's public key."""
    key = mac_key(message, private_key, peer_public_key)
    return gmac(key, mac_iv(message.originator), AAD_PREFIX + message.apdu())


@crypto
def verify_mac(message: Message, private_key: PrivateKey, peer_public_key: PublicKey) -> bool:
    if message.mac is None:
        return False
    return hmac.compare_digest(message.mac, compute_mac(message, private_key, peer_public_key))


@crypto
def sign(private_key: PrivateKey, data: bytes) -> bytes:
    """ECDSA P-256/SHA-256, raw r‖s."""
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@crypto
def verify(public_key: PublicKey, data: bytes, signature_rs: bytes) -> bool:
    if len(signature_rs) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature_rs[:32], "big"), int.from_bytes(signature_rs[32:], "big"))
    try:
        public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_message_signature(message: Message, public_key: PublicKey) -> bool:
    return bool(message.signature) and verify(public_key, message.signed_data(), message.signature)


# --- key material ------------------------------------------------------------------------------------


@crypto
def new_private_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("not a P-256 private key")
    return key


def load_public_key(pem: bytes) -> PublicKey:
    """A P-256 public key from a PEM public key or an X.509 certificate."""
    if b"CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not a P-256 public key")
    return key


def public_key_from_point(uncompressed: bytes) -> PublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), uncompressed)


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
