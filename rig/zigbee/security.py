"""ZigBee CCM* frame protection: NWK security, APS security, APS-secured inter-PAN.

ZigBee PRO secures at security level 5 (ENC-MIC-32: AES-128 encryption + 4-byte MIC) and sends the
level bits of the security control byte as 0; both ends patch them back to 5 before building the
CCM* inputs.  With a 13-byte nonce and a 4-byte MIC, CCM* is plain CCM (L=2), so
``cryptography``'s ``AESCCM(key, tag_length=4)`` does the work:

* nonce = source EUI-64 as on the air (little-endian) ‖ frame counter (LE32) ‖ patched security control
* AAD   = the layer's header (NWK header, or APS header) ‖ auxiliary header with the patched control byte
* the on-air payload is ciphertext ‖ MIC.

The source EUI-64 is the aux header's extended source when the extended-nonce bit is set (always for
NWK); otherwise the caller supplies it (APS frames without extended nonce use the NWK/MAC source).

Which key a frame uses follows the aux header's key identifier: 0 data (link) key, 1 network key,
2 key-transport key = HMAC-MMO(link key, 0x00), 3 key-load key = HMAC-MMO(link key, 0x02) (ZigBee
spec 4.5.3, "hashed keys").  Functions here take the *base* key (network key or link key) and derive.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from rig.cputime import crypto
from rig.zigbee.frames import (
    APS_INTERPAN,
    KEY_ID_DATA,
    KEY_ID_KEY_LOAD,
    KEY_ID_KEY_TRANSPORT,
    KEY_ID_NWK,
    ApsFrame,
    AuxHeader,
    FrameError,
    NwkFrame,
)
from rig.zigbee.mmo import mmo_hmac

SECURITY_LEVEL = 5
"""ENC-MIC-32, the level every ZigBee PRO network uses."""
MIC_LENGTH = 4

_MIC_BY_LEVEL = {0: 0, 1: 4, 2: 8, 3: 16, 4: 0, 5: 4, 6: 8, 7: 16}


class SecurityError(ValueError):
    """A secured frame that does not authenticate (wrong key, nonce, counter, tampered bytes)."""


# ---------------------------------------------------------------------------------------------
# Keys


@crypto
def hashed_key(key: bytes, input_byte: int) -> bytes:
    """ZigBee keyed hash (spec B.1.4 / 4.5.3): HMAC-MMO of a 16-byte key over a one-byte message."""
    return mmo_hmac(key, bytes([input_byte]))


def key_transport_key(link_key: bytes) -> bytes:
    """Key protecting Transport-Key commands that carry the network key (key id 2)."""
    return hashed_key(link_key, 0x00)


def key_load_key(link_key: bytes) -> bytes:
    """Key protecting Transport-Key commands that carry link keys (key id 3)."""
    return hashed_key(link_key, 0x02)


def verify_key_hash(link_key: bytes) -> bytes:
    """The 16-byte hash a Verify-Key command carries (HMAC-MMO(link key, 0x03))."""
    return hashed_key(link_key, 0x03)


def key_for(key_id: int, base_key: bytes) -> bytes:
    """The CCM* key for an aux-header key identifier, given the network key or the link key."""
    if key_id in (KEY_ID_DATA, KEY_ID_NWK):
        return base_key
    if key_id == KEY_ID_KEY_TRANSPORT:
        return _hashed_cached(base_key, 0x00)
    if key_id == KEY_ID_KEY_LOAD:
        return _hashed_cached(base_key, 0x02)
    raise ValueError(f"unknown key identifier {key_id}")  # pragma: no cover - 2-bit field


@lru_cache(maxsize=256)
def _hashed_cached(key: bytes, input_byte: int) -> bytes:
    return hashed_key(key, input_byte)


@lru_cache(maxsize=256)
def _aesccm(key: bytes, mic_length: int) -> AESCCM:
    return AESCCM(key, tag_length=mic_length)


# ---------------------------------------------------------------------------------------------
# CCM* primitive


def nonce(source: int, frame_counter: int, security_control: int) -> bytes:
    """13-byte CCM* nonce: EUI-64 LE ‖ counter LE32 ‖ security control (already patched)."""
    return struct.pack("<QIB", source, frame_counter, security_control)


@crypto
def ccm_encrypt(key: bytes, nonce_: bytes, aad: bytes, plaintext: bytes, mic_length: int = MIC_LENGTH) -> bytes:
    """CCM* with encryption: returns ciphertext ‖ MIC."""
    return _aesccm(bytes(key), mic_length).encrypt(nonce_, bytes(plaintext), bytes(aad))


@crypto
def ccm_decrypt(key: bytes, nonce_: bytes, aad: bytes, data: bytes, mic_length: int = MIC_LENGTH) -> bytes:
    """Inverse of ``ccm_encrypt``; ``SecurityError`` when the MIC does not verify."""
    if len(data) < mic_length:
        raise SecurityError(f"secured payload of {len(data)} bytes is shorter than its {mic_length}-byte MIC")
    try:
        return _aesccm(bytes(key), mic_length).decrypt(nonce_, bytes(data), bytes(aad))
    except InvalidTag:
        raise SecurityError("MIC check failed (wrong key, nonce or tampered frame)") from None


# ---------------------------------------------------------------------------------------------
# Shared NWK/APS machinery


def _patched(sc: int, level: int) -> int:
    return (sc & 0xF8) | level


def _protect(frame: NwkFrame | ApsFrame, base_key: bytes, plaintext: bytes, source: int | None,
             level: int) -> bytes:
    aux = frame.aux
    if aux is None:
        raise FrameError(type(frame).__name__, "aux", None, "a secured frame needs an auxiliary header")
    if aux.level != 0:
        aux = aux.replace(level=0)  # on the air the level bits are always 0
    src = aux.source if aux.ext_nonce else source
    if src is None:
        raise SecurityError("no extended source in the aux header: pass source= (the sender's EUI-64)")
    header = frame.replace(aux=aux, security=1, payload=b"").encode()
    aux_off = len(header) - aux.size
    sc = _patched(header[aux_off], level)
    aad = header[:aux_off] + bytes([sc]) + header[aux_off + 1:]
    ct = ccm_encrypt(key_for(aux.key_id, base_key), nonce(src, aux.frame_counter, sc), aad, plaintext,
                     _MIC_BY_LEVEL[level])
    return header + ct


def _unprotect(cls: type, data: bytes, base_key: bytes, source: int | None, level: int) -> tuple:
    frame = cls.decode(data)
    if not frame.security or frame.aux is None:
        raise SecurityError(f"{cls.__name__} is not secured")
    aux = frame.aux
    src = aux.source if aux.ext_nonce else source
    if src is None:
        raise SecurityError("no extended source in the aux header: pass source= (the sender's EUI-64)")
    hdr_len = len(data) - len(frame.payload)
    aux_off = hdr_len - aux.size
    sc = _patched(data[aux_off], level)
    aad = bytes(data[:aux_off]) + bytes([sc]) + bytes(data[aux_off + 1:hdr_len])
    plaintext = ccm_decrypt(key_for(aux.key_id, base_key), nonce(src, aux.frame_counter, sc), aad,
                            frame.payload, _MIC_BY_LEVEL[level])
    return frame, plaintext


# ---------------------------------------------------------------------------------------------
# NWK


def secure_nwk(frame: NwkFrame, network_key: bytes, plaintext: bytes, *, level: int = SECURITY_LEVEL) -> bytes:
    """Encode ``frame`` with ``plaintext`` (the APS frame or NWK command) encrypted under the network key.

    ``frame.aux`` supplies frame counter, extended source and key sequence number (``key_id`` 1,
    ``ext_nonce`` 1); ``frame.payload`` is ignored.  Returns the NWK bytes as sent on the air.
    """
    return _protect(frame, network_key, plaintext, None, level)


def unsecure_nwk(data: bytes, network_key: bytes, *, source: int | None = None,
                 level: int = SECURITY_LEVEL) -> tuple[NwkFrame, bytes]:
    """Decode and decrypt a secured NWK frame: ``(frame, plaintext)``; ``frame.payload`` stays ciphertext.

    Raises ``FrameError`` for undecodable bytes, ``SecurityError`` for unsecured or forged frames.
    """
    return _unprotect(NwkFrame, data, network_key, source, level)


def nwk_nonce_and_aad(data: bytes, *, level: int = SECURITY_LEVEL) -> tuple[bytes, bytes]:
    """The CCM* nonce and AAD of a secured NWK frame (for tests and diagnostics)."""
    frame = NwkFrame.decode(data)
    if frame.aux is None or not frame.aux.ext_nonce:
        raise SecurityError("not a secured NWK frame with extended nonce")
    hdr_len = len(data) - len(frame.payload)
    aux_off = hdr_len - frame.aux.size
    sc = _patched(data[aux_off], level)
    return (nonce(frame.aux.source, frame.aux.frame_counter, sc),
            bytes(data[:aux_off]) + bytes([sc]) + bytes(data[aux_off + 1:hdr_len]))


# ---------------------------------------------------------------------------------------------
# APS


def secure_aps(frame: ApsFrame, key: bytes, plaintext: bytes, *, source: int | None = None,
               level: int = SECURITY_LEVEL) -> bytes:
    """Encode ``frame`` with ``plaintext`` (APS payload: ZCL/ZDO data or APS command) encrypted.

    ``key`` is the link key (key id 0 uses it as is, 2/3 derive the key-transport/key-load key) or,
    for key id 1, the network key.  ``source`` is the sender's EUI-64 when the aux header has no
    extended source.
    """
    return _protect(frame, key, plaintext, source, level)


def unsecure_aps(data: bytes, key: bytes, *, source: int | None = None,
                 level: int = SECURITY_LEVEL) -> tuple[ApsFrame, bytes]:
    """Decode and decrypt an APS-secured frame: ``(frame, plaintext)``."""
    return _unprotect(ApsFrame, data, key, source, level)


def secure_interpan(frame: ApsFrame, link_key: bytes, plaintext: bytes, *, sender: int, frame_counter: int,
                    extended_nonce: bool = True) -> bytes:
    """APS-secured inter-PAN stub frame (APS FC ``0x23``/``0x2B``/``0x2F``), inter-pan.md §5.

    ``frame`` is the APS stub (``frame_type`` 3, cluster, profile, group); the aux header is built
    here: data key (link key, key id 0), ``frame_counter``, and -- with ``extended_nonce`` (the
    default) -- the sender's EUI-64, which Wireshark needs to decrypt the capture.  Silicon Labs'
    plugin sends the 5-byte form (``extended_nonce=False``); the nonce is the same, taken from the
    MAC source.
    """
    if frame.frame_type != APS_INTERPAN:
        raise FrameError("ApsFrame", "frame_type", None, "secure_interpan needs the inter-PAN stub (type 3)")
    aux = AuxHeader(key_id=KEY_ID_DATA, frame_counter=frame_counter, source=sender if extended_nonce else None)
    return secure_aps(frame.replace(aux=aux, security=1), link_key, plaintext, source=sender)


def unsecure_interpan(data: bytes, link_key: bytes, *, sender: int | None = None) -> tuple[ApsFrame, bytes]:
    """Decrypt an APS-secured inter-PAN stub frame (``sender`` = MAC source EUI-64 for the 5-byte form)."""
    frame, plaintext = unsecure_aps(data, link_key, source=sender)
    if frame.frame_type != APS_INTERPAN:
        raise SecurityError("not an inter-PAN APS frame")
    return frame, plaintext


__all__ = [
    "MIC_LENGTH",
    "SECURITY_LEVEL",
    "SecurityError",
    "ccm_decrypt",
    "ccm_encrypt",
    "hashed_key",
    "key_for",
    "key_load_key",
    "key_transport_key",
    "nonce",
    "nwk_nonce_and_aad",
    "secure_aps",
    "secure_interpan",
    "secure_nwk",
    "unsecure_aps",
    "unsecure_interpan",
    "unsecure_nwk",
    "verify_key_hash",
]
