"""Every published vector in tests/vectors (install codes, GBCS KDF/MAC/signature, both levels) through the public API."""

from __future__ import annotations

import pytest
from gbcs_testdata import VECTORS, all_messages, params, rtds_store

from rig.gbcs import crypto
from rig.gbcs.fields import DecodeError
from rig.gbcs.message import Message
from rig.gbcs.usecases import decode_payload, payload_layout
from rig.gbcs.validate import CounterStore, Device, Reason, validate
from rig.zigbee import install_code as ic
from rig.zigbee.mmo import mmo_hash


def test_vector_files_are_there():
    assert VECTORS.is_dir(), f"published vectors missing from the project: {VECTORS}"
    assert len(params("gbcs-command-mac", "mac_vectors")) >= 7
    assert len(params("zigbee-install-code", "valid")) >= 12


# --- install codes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", params("zigbee-install-code", "valid"))
def test_install_code_valid(v):
    code = bytes.fromhex(v["install_code_hex"])
    assert ic.crc16_x25(code) == int(v["crc16_x25_value"], 16)
    assert ic.with_crc(code).hex().upper() == v["install_code_with_crc_hex"]
    assert ic.link_key(bytes.fromhex(v["install_code_with_crc_hex"])).hex().upper() == v["link_key_hex"]
    assert ic.link_key_from_code(code).hex().upper() == v["link_key_hex"]


@pytest.mark.parametrize("v", params("zigbee-install-code", "invalid"))
def test_install_code_invalid(v):
    error = {"bad_crc": ic.BadCrc, "bad_length": ic.BadLength}[v["reason"]]
    with pytest.raises(error) as exc:
        ic.link_key(bytes.fromhex(v["input_hex"]))
    if v["reason"] == "bad_crc":
        assert exc.value.expected.hex().upper() == v["correct_crc_bytes_hex"]


@pytest.mark.parametrize("v", params("zigbee-install-code", "mmo_hash"))
def test_mmo_hash(v):
    assert mmo_hash(bytes.fromhex(v["input_hex"])).hex().upper() == v["digest_hex"]


# --- GBCS MAC --------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", params("gbcs-command-mac", "kdf_vectors"))
def test_kdf(v):
    z = crypto.ecdh(crypto.load_private_key(v["private_key_pem"].encode()),
                    crypto.load_public_key(v["peer_certificate_pem"].encode()))
    assert z.hex().upper() == v["ecdh_shared_secret_z_hex"]
    other = crypto.kdf_other_info(v["originator_system_title_hex"], v["cra_flag"],
                                  int(v["originator_counter_hex"], 16), v["recipient_system_title_hex"])
    assert other.hex().upper() == v["kdf_other_info_hex"]
    assert crypto.kdf(z, other).hex().upper() == v["expected_key_hex"]


def _keys(v):
    return (crypto.load_private_key(v["ka_private_key_pem"].encode()),
            crypto.load_public_key(v["ka_peer_certificate_pem"].encode()))


@pytest.mark.parametrize("v", params("gbcs-command-mac", "mac_vectors"))
def test_mac(v):
    data = bytes.fromhex(v["message_hex"])
    m = Message.from_bytes(data)
    assert (m.message_code, int(m.cra), m.counter) == (int(v["message_code"], 16), v["cra_flag"],
                                                       int(v["originator_counter_hex"], 16))
    assert (m.originator, m.recipient) == (v["originator_system_title_hex"], v["recipient_system_title_hex"])
    private, peer = _keys(v)
    assert peer.public_numbers() == crypto.public_key_from_point(
        bytes.fromhex(v["ka_peer_public_key_uncompressed_hex"])).public_numbers()
    assert crypto.ecdh(private, peer).hex().upper() == v["ecdh_shared_secret_z_hex"]
    assert crypto.mac_key(m, private, peer).hex().upper() == v["derived_mac_key_hex"]
    assert crypto.mac_iv(m.originator).hex().upper() == v["iv_hex"]
    assert (crypto.AAD_PREFIX + m.apdu()).hex().upper() == v["aad_hex"]
    assert data.index(m.apdu()) == v["aad_message_offset"] and len(data) - 12 == v["mac_offset"]
    assert crypto.compute_mac(m, private, peer).hex().upper() == v["expected_mac_hex"] == m.mac.hex().upper()
    assert crypto.verify_mac(m, private, peer)
    if "recipient_ka_private_key_pem" in v:  # the device side computes the same MAC
        device = crypto.load_private_key(v["recipient_ka_private_key_pem"].encode())
        assert crypto.verify_mac(m, device, crypto.load_public_key(v["acb_ka_certificate_pem"].encode()))


MAC_BY_ID = {v.values[0]["id"]: v.values[0] for v in params("gbcs-command-mac", "mac_vectors")}


@pytest.mark.parametrize("v", params("gbcs-command-mac", "negative_vectors"))
def test_mac_negative(v):
    base = MAC_BY_ID[v["based_on"]]
    private, peer = _keys(base)
    m = Message.from_bytes(bytes.fromhex(v["message_hex"]))
    key, iv, aad = crypto.mac_key(m, private, peer), crypto.mac_iv(m.originator), crypto.AAD_PREFIX + m.apdu()
    if "wrong_key_hex" in v:
        assert key.hex().upper() != v["wrong_key_hex"]
        key = bytes.fromhex(v["wrong_key_hex"])
    elif "wrong_iv_hex" in v:
        assert iv.hex().upper() != v["wrong_iv_hex"]
        iv = bytes.fromhex(v["wrong_iv_hex"])
    elif v["id"].endswith("aad_without_prefix"):
        aad = m.apdu()
    else:
        assert not crypto.verify_mac(m, private, peer)
    assert crypto.gmac(key, iv, aad) != m.mac


# --- GBCS signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize("v", params("gbcs-ecdsa-signature", "vectors"))
def test_signature(v):
    pre = Message.from_bytes(bytes.fromhex(v["precommand_hex"]))
    command = Message.from_bytes(bytes.fromhex(v["signed_command_hex"]))
    assert pre.form == "pre-command" and command.form == "general-ciphering"
    assert pre.signed_data().hex().upper() == command.signed_data().hex().upper() == v["signed_data_hex"]
    assert command.signature.hex().upper() == v["signature_rs_hex"]
    assert bytes.fromhex(v["signed_command_hex"]).index(command.signature) == v["signature_offset_in_command"]
    assert command.originator == v["signer_system_title_hex"]
    public = crypto.load_public_key(v["signer_ds_certificate_pem"].encode())
    assert public.public_numbers() == crypto.public_key_from_point(
        bytes.fromhex(v["signer_public_key_uncompressed_hex"])).public_numbers()
    assert crypto.verify_message_signature(command, public)
    assert not crypto.verify(public, bytes.fromhex(v["negative"]["signed_data_last_byte_xor_01_hex"]),
                             command.signature)


# --- every RTDS message decodes and re-encodes byte for byte --------------------------------------


NOT_DECODABLE = {
    # negative vectors whose first payload byte is XORed with 01 ("change" in the vector file): the
    # envelope still parses, the payload's leading tag no longer matches its layout
    "gbcs_mac.json:ccs01_payload_bit_flipped:message_hex":
        "CCS01 Add Device to CHF Device Log command payload: offset 0: expected D9 (DLMS access-request), got D8",
    "more/gbcs_mac.json:cs03a1_payload_bit_flipped:message_hex":
        "CS03A1 Method A Join (Meter) command payload: offset 0: expected 30 (SEQUENCE), got 31",
    "more/gbcs_mac.json:ccs01rsp_payload_bit_flipped:message_hex":
        "CCS01 Add Device to CHF Device Log response payload: offset 0: expected DA (DLMS access-response), got DB",
}


def test_the_messages_known_not_to_decode_are_vectors_that_exist():
    assert set(NOT_DECODABLE) <= {p.id for p in all_messages()}


@pytest.mark.parametrize("data", all_messages())
def test_rtds_round_trip(data, request):
    m = Message.from_bytes(data)
    assert m.to_bytes() == data
    reason = NOT_DECODABLE.get(request.node.callspec.id)
    if reason is not None:
        with pytest.raises(DecodeError) as exc:
            decode_payload(m)
        assert str(exc.value) == reason
        return
    payload = decode_payload(m)
    assert payload_layout(m.message_code, m.cra).encode(payload) == m.content


def test_rtds_commands_accepted_by_the_device(tmp_path):
    """The ESME 00DB1234567890A0 (its RTDS key is published) accepts the real CS03A1 and CS04AC."""
    store = rtds_store(tmp_path)
    assert store.role("90B3D51F30000002") == "acb" and store.role("90B3D51F30010000") == "supplier"
    store.set_role("00DB1234567890A0", "esme")
    esme = Device.from_store(store, "00DB1234567890A0")
    counters = CounterStore()
    cs03a1 = next(v.values[0] for v in params("gbcs-command-mac", "mac_vectors")
                  if v.values[0]["id"] == "cs03a1_success_command")
    cs04ac = next(v.values[0] for v in params("gbcs-ecdsa-signature", "vectors")
                  if v.values[0]["id"] == "cs04ac_critical_signature")
    for hex_message in (cs03a1["message_hex"], cs04ac["signed_command_hex"]):
        result = validate(bytes.fromhex(hex_message), esme, counters)
        assert result.ok, result
    assert counters.last("90B3D51F30010000") == 0x3E9
    again = validate(bytes.fromhex(cs03a1["message_hex"]), esme, counters)
    assert again.reason == Reason.COUNTER_NOT_NEWER
