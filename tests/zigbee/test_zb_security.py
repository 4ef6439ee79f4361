"""CCM* NWK/APS/inter-PAN security against the published vectors (tests/vectors, both levels)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zb_helpers import ccm_primitive_vectors, install_code_vectors, mmo_hmac_vectors, nwk_vectors
from zigpy.util import aes_mmo_hash

from rig.zigbee import frames as F
from rig.zigbee import security as S
from rig.zigbee.frames import ApsCommand, ApsFrame, AuxHeader, MacFrame, NwkFrame

H = bytes.fromhex
NWK_VECTORS = nwk_vectors()
CH_EUI = 0x00DB1234567890A3
HHT_EUI = 0x1122334455667788
NWK_KEY = H("01030507090B0D0F00020406080A0C0D")


def test_there_are_vectors_at_both_levels():
    assert len(NWK_VECTORS) >= 4
    assert {v["id"] for v in NWK_VECTORS} >= {"zoh_zcl_cmd_to_coord", "zbtk_example"}


@pytest.mark.parametrize("v", NWK_VECTORS, ids=lambda v: v["id"])
def test_nwk_vector_decrypts_and_reencrypts(v):
    key, data = H(v["network_key_hex"]), H(v["nwk_frame_hex"])
    frame, plaintext = S.unsecure_nwk(data, key)
    assert plaintext == H(v["plaintext_hex"])
    assert data.startswith(H(v["nwk_header_hex"]) + H(v["aux_header_on_air_hex"]))
    aux = frame.aux
    assert aux.frame_counter == v["frame_counter"]
    assert aux.source == int(v["source_eui64"].replace(":", ""), 16)
    assert aux.key_seq == v["key_sequence_number"] and aux.level == 0 and aux.key_id == 1
    assert frame.payload == H(v["ciphertext_hex"]) + H(v["mic_hex"])
    nonce, aad = S.nwk_nonce_and_aad(data)
    assert nonce == H(v["nonce_hex"]) and aad == H(v["aad_hex"])
    assert S.secure_nwk(frame, key, plaintext) == data
    # the plaintext is an APS frame
    F.ApsFrame.decode(plaintext)


@pytest.mark.parametrize("v", [v for v in NWK_VECTORS if "mac_frame_hex" in v], ids=lambda v: v["id"])
def test_nwk_vector_inside_its_captured_mac_frame(v):
    # the last two bytes are sniffer metadata, not an FCS
    mac = MacFrame.decode(H(v["mac_frame_hex"]), check_fcs=False)
    assert mac.payload == H(v["nwk_frame_hex"])
    assert (mac.frame_type, mac.dst_mode, mac.src_mode, mac.pan_id_compression) == (1, 2, 2, 1)
    with pytest.raises(F.FrameError, match="fcs"):
        MacFrame.decode(H(v["mac_frame_hex"]))


@pytest.mark.parametrize("v", NWK_VECTORS, ids=lambda v: v["id"])
def test_nwk_vector_negative_checks(v):
    """README: decryption fails with the control byte left unpatched, or with the EUI-64 reversed."""
    key, data = H(v["network_key_hex"]), H(v["nwk_frame_hex"])
    nonce, aad = S.nwk_nonce_and_aad(data)
    body = H(v["ciphertext_hex"]) + H(v["mic_hex"])
    assert S.ccm_decrypt(key, nonce, aad, body) == H(v["plaintext_hex"])
    sc_on_air = int(v["security_control_on_air"], 16)
    hdr = len(H(v["nwk_header_hex"]))
    unpatched_nonce = nonce[:12] + bytes([sc_on_air])
    unpatched_aad = aad[:hdr] + bytes([sc_on_air]) + aad[hdr + 1:]
    eui_be_nonce = nonce[:8][::-1] + nonce[8:]
    for n, a in ((unpatched_nonce, unpatched_aad), (unpatched_nonce, aad), (nonce, unpatched_aad),
                 (eui_be_nonce, aad)):
        with pytest.raises(S.SecurityError):
            S.ccm_decrypt(key, n, a, body)
    # and through the frame API: other level, wrong key, tampered byte, wrong counter
    with pytest.raises(S.SecurityError):
        S.unsecure_nwk(data, key, level=6)
    with pytest.raises(S.SecurityError):
        S.unsecure_nwk(data, bytes(16))
    for i in (0, hdr + 2, len(data) - 1):
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        with pytest.raises(S.SecurityError):
            S.unsecure_nwk(bytes(tampered), key)


@pytest.mark.parametrize("v", ccm_primitive_vectors(), ids=lambda v: v["id"])
def test_ccm_star_primitive_vectors(v):
    out = S.ccm_encrypt(H(v["key_hex"]), H(v["nonce_hex"]), H(v["aad_hex"]), H(v["plaintext_hex"]),
                        mic_length=v["mic_length"])
    assert out == H(v["ciphertext_hex"]) + H(v["mic_hex"])


@pytest.mark.parametrize("v", mmo_hmac_vectors(), ids=lambda v: v["id"])
def test_hashed_key_is_the_spec_hmac_mmo(v):
    assert S.hashed_key(H(v["key"]), H(v["message"])[0]) == H(v["mac"])


def test_derived_keys_follow_the_spec_construction():
    link = H(install_code_vectors()[0]["link_key_hex"])
    for fn, byte in ((S.key_transport_key, 0x00), (S.key_load_key, 0x02), (S.verify_key_hash, 0x03)):
        inner = bytes(aes_mmo_hash(bytes(b ^ 0x36 for b in link) + bytes([byte])))
        assert fn(link) == bytes(aes_mmo_hash(bytes(b ^ 0x5C for b in link) + inner))
    assert len({S.key_transport_key(link), S.key_load_key(link), S.verify_key_hash(link), link}) == 4
    with pytest.raises(ValueError):
        S.hashed_key(b"short", 0)


def transport_key_frame(link_key: bytes, counter: int = 1) -> tuple[bytes, bytes]:
    cmd = ApsCommand(command_id=F.APS_CMD_TRANSPORT_KEY, key_type=F.KEY_NWK, key=NWK_KEY, key_seq=0,
                     dst_ieee=HHT_EUI, src_ieee=CH_EUI).encode()
    aps = ApsFrame(frame_type=F.APS_COMMAND, counter=counter,
                   aux=AuxHeader(key_id=F.KEY_ID_KEY_TRANSPORT, frame_counter=counter, source=CH_EUI))
    return S.secure_aps(aps, link_key, cmd), cmd


@pytest.mark.parametrize("v", install_code_vectors(), ids=lambda v: v["id"])
def test_transport_key_under_install_code_link_key(v):
    link = H(v["link_key_hex"])
    data, cmd = transport_key_frame(link)
    assert data[:2] == bytes([0x21, 0x01])  # APS command, secured; counter
    assert data[2] == 0x30  # key-transport key, extended nonce, level 0 on the air
    frame, plaintext = S.unsecure_aps(data, link)
    assert plaintext == cmd and ApsCommand.decode(plaintext).key == NWK_KEY
    # encrypted with the *derived* key, not the link key itself
    nonce = S.nonce(CH_EUI, 1, 0x35)
    assert S.ccm_decrypt(S.key_transport_key(link), nonce, data[:2] + b"\x35" + data[3:15], frame.payload) == cmd
    with pytest.raises(S.SecurityError):
        S.unsecure_aps(data, bytes(16))  # a joiner with the wrong install code learns nothing


def test_aps_link_key_without_extended_nonce_needs_the_source():
    aps = ApsFrame(frame_type=0, dst_endpoint=1, cluster=0x0800, profile=0x0109, src_endpoint=1, counter=4,
                   aux=AuxHeader(key_id=F.KEY_ID_DATA, frame_counter=9))
    link = bytes(range(16))
    with pytest.raises(S.SecurityError, match="source"):
        S.secure_aps(aps, link, b"zcl")
    data = S.secure_aps(aps, link, b"zcl", source=HHT_EUI)
    assert S.unsecure_aps(data, link, source=HHT_EUI)[1] == b"zcl"
    with pytest.raises(S.SecurityError):
        S.unsecure_aps(data, link, source=CH_EUI)
    with pytest.raises(S.SecurityError, match="source"):
        S.unsecure_aps(data, link)
    with pytest.raises(S.SecurityError, match="not secured"):
        S.unsecure_aps(ApsFrame(frame_type=1, counter=1).encode(), link)


def test_key_load_key_frame():
    link = bytes(range(16))
    cmd = ApsCommand(command_id=F.APS_CMD_TRANSPORT_KEY, key_type=F.KEY_APP_LINK, key=bytes(16),
                     partner_ieee=HHT_EUI, initiator=1).encode()
    aps = ApsFrame(frame_type=1, counter=2, aux=AuxHeader(key_id=F.KEY_ID_KEY_LOAD, frame_counter=3, source=CH_EUI))
    data = S.secure_aps(aps, link, cmd)
    assert data[2] == 0x38
    assert S.unsecure_aps(data, link)[1] == cmd


def test_interpan_aps_security_extended_nonce_and_sl_form():
    link = bytes(range(16))
    zcl = bytes.fromhex("01420002001010")
    stub = ApsFrame(frame_type=F.APS_INTERPAN, cluster=0x0800, profile=0x0109)
    data = S.secure_interpan(stub, link, zcl, sender=HHT_EUI, frame_counter=0x10)
    # APS FC 0x23, cluster, profile, sc 0x20 (data key, ext nonce), counter, sender EUI, ciphertext, MIC
    assert data[:5] == bytes.fromhex("2300080901")
    assert data[5] == 0x20 and data[6:10] == (0x10).to_bytes(4, "little")
    assert data[10:18] == HHT_EUI.to_bytes(8, "little")
    assert len(data) == 18 + len(zcl) + 4
    frame, plaintext = S.unsecure_interpan(data, link)
    assert plaintext == zcl and frame.cluster == 0x0800
    sl = S.secure_interpan(stub, link, zcl, sender=HHT_EUI, frame_counter=0x10, extended_nonce=False)
    assert sl[5] == 0x00 and len(sl) == len(data) - 8  # Silicon Labs' 5-byte aux header
    assert S.unsecure_interpan(sl, link, sender=HHT_EUI)[1] == zcl
    # same nonce either way: the ciphertext only differs through the AAD (header bytes)
    with pytest.raises(S.SecurityError):
        S.unsecure_interpan(sl, link, sender=CH_EUI)
    with pytest.raises(F.FrameError):
        S.secure_interpan(stub.replace(frame_type=0), link, zcl, sender=HHT_EUI, frame_counter=1)
    nwk_plain = ApsFrame(frame_type=0, dst_endpoint=1, cluster=1, profile=1, src_endpoint=1, counter=1,
                         aux=AuxHeader(key_id=0, frame_counter=1, source=HHT_EUI))
    with pytest.raises(S.SecurityError, match="inter-PAN"):
        S.unsecure_interpan(S.secure_aps(nwk_plain, link, b"x"), link)


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(min_size=1, max_size=60), counter=st.integers(0, 2**32 - 1),
       src=st.integers(0, 2**64 - 1), key_seq=st.integers(0, 255), src_ieee=st.none() | st.integers(0, 2**64 - 1))
def test_nwk_secure_unsecure_roundtrip(plaintext, counter, src, key_seq, src_ieee):
    frame = NwkFrame(frame_type=0, dst=0, src=0x4567, radius=30, seq=1, src_ieee=src_ieee,
                     aux=AuxHeader(key_id=1, frame_counter=counter, source=src, key_seq=key_seq, level=5))
    data = S.secure_nwk(frame, NWK_KEY, plaintext)
    back, pt = S.unsecure_nwk(data, NWK_KEY)
    assert pt == plaintext and back.aux.level == 0 and back.aux.frame_counter == counter
    assert len(data) == len(frame.replace(payload=b"").encode()) + len(plaintext) + 4


def test_secure_requires_an_aux_header():
    with pytest.raises(F.FrameError, match="aux"):
        S.secure_nwk(NwkFrame(frame_type=0, dst=0, src=1, radius=1, seq=1), NWK_KEY, b"x")
    with pytest.raises(S.SecurityError, match="not secured"):
        S.unsecure_nwk(NwkFrame(frame_type=0, dst=0, src=1, radius=1, seq=1).encode(), NWK_KEY)
    with pytest.raises(S.SecurityError, match="shorter"):
        S.ccm_decrypt(NWK_KEY, bytes(13), b"", b"ab")
