"""The ZigBee AES-MMO hash and the HMAC built on it (ZigBee spec B.1.4, B.6).

One implementation for every user: install-code link keys (``rig.zigbee.install_code``), the NWK/APS
key-transport, key-load and verify-key hashes (``rig.zigbee.security``), and CBKE's certificate hash,
KDF and key-confirmation MACs (``rig.cbke.crypto``).  The hash is zigpy's ``aes_mmo_hash``.
"""

from __future__ import annotations

from zigpy.util import aes_mmo_hash

from rig.cputime import crypto

KEY_SIZE = 16
"""The HMAC's key is one AES block, so it is used as is (no hashing or padding)."""


@crypto
def mmo_hash(data: bytes) -> bytes:
    """The ZigBee AES-128 Matyas-Meyer-Oseas hash (16 bytes)."""
    return bytes(aes_mmo_hash(bytes(data)))


@crypto
def mmo_hmac(key: bytes, message: bytes) -> bytes:
    """``HMAC(K, M) = H((K ^ opad) ‖ H((K ^ ipad) ‖ M))`` over AES-MMO, ipad 0x36.., opad 0x5C..; 16-byte K."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"the MMO-HMAC key is {KEY_SIZE} bytes, got {len(key)}")
    inner = mmo_hash(bytes(b ^ 0x36 for b in key) + bytes(message))
    return mmo_hash(bytes(b ^ 0x5C for b in key) + inner)


__all__ = ["mmo_hash", "mmo_hmac"]
