"""Every item of the published CBKE test data (tests/vectors/cbke.json)."""

from __future__ import annotations

import random

import pytest

from rig.cbke import crypto as c
from rig.cbke.certificate import Certificate163k1, Certificate283k1

H = bytes.fromhex


def test_every_vector_kind_is_covered(cbke_json):
    kinds = {v["kind"] for v in cbke_json["vectors"]}
    assert kinds == {"cbke_full_exchange", "certificate_keypair", "aes_mmo_hash", "mmo_hmac"}
    assert any(v["suite"] == 2 for v in cbke_json["vectors"] if "suite" in v)


@pytest.mark.cbke_kind("aes_mmo_hash")
def test_aes_mmo_hash(vector):
    v = vector
    assert c.mmo_hash(H(v["message"])) == H(v["digest"])


@pytest.mark.cbke_kind("mmo_hmac")
def test_mmo_hmac(vector):
    v = vector
    assert c.mmo_hmac(H(v["key"]), H(v["message"])) == H(v["mac"])


@pytest.mark.cbke_kind("certificate_keypair")
def test_certificate_keypair(vector):
    v = vector
    suite = c.SUITES[v["suite"]]
    cert = H(v["certificate"])
    assert suite.certificate.decode(cert).encode() == cert
    d = c.decode_private_key(suite, H(v["private_key"]))
    assert c.encode_point(suite, c.public_key(suite, d)) == H(v["public_key"])
    assert c.mmo_hash(cert) == H(v["derived"]["e_mmo_of_cert"])
    q = c.reconstruct_public_key(suite, cert, H(v["ca_public_key"]))
    assert (c.encode_point(suite, q) == H(v["public_key"])) is v["expect_ecqv_match"]


@pytest.mark.cbke_kind("cbke_full_exchange")
@pytest.mark.parametrize("role", ["initiator_U", "responder_V"])
def test_full_exchange_from_each_side(vector, role):
    v = vector
    suite = c.SUITES[v["suite"]]
    other = "responder_V" if role == "initiator_U" else "initiator_U"
    me, peer = v[role], v[other]
    ca = H(v["ca_public_key"])
    for party in (me, peer):
        d = c.decode_private_key(suite, H(party["static_private_key"]))
        assert c.encode_point(suite, c.public_key(suite, d)) == H(party["static_public_key"])
        assert c.encode_point(suite, c.reconstruct_public_key(suite, H(party["certificate"]), ca)) == H(
            party["static_public_key"]
        )
        assert suite.certificate.decode(H(party["certificate"])).subject == H(party["eui64"])
    d1 = c.decode_private_key(suite, H(me["static_private_key"]))
    d2 = c.decode_private_key(suite, H(me["ephemeral_private_key"]))
    qe = c.public_key(suite, d2)
    assert c.encode_point(suite, qe) == H(me["ephemeral_public_key"])
    derived = v["derived"]
    key = "U" if role == "initiator_U" else "V"
    assert c.associate_value(suite, qe) == int(derived[f"qbar_{key}"], 16)
    s = (d2 + c.associate_value(suite, qe) * d1) % suite.curve.n
    assert s == int(derived[f"s_{key}_implicit_signature"], 16)
    keys = c.derive_side(
        suite,
        am_initiator=role == "initiator_U",
        own_certificate=H(me["certificate"]),
        static_private=d1,
        ephemeral_private=d2,
        ephemeral_public=qe,
        ca_public_key=ca,
        partner_certificate=H(peer["certificate"]),
        partner_ephemeral_public=H(peer["ephemeral_public_key"]),
    )
    assert keys.shared_secret == H(v["shared_secret_Z"])
    assert keys.shared_secret + b"\x00\x00\x00\x01" == H(derived["kdf_input_1"])
    assert (keys.mac_key, keys.key_data) == (H(v["mac_key"]), H(v["key_data"]))
    assert (keys.macu, keys.macv) == (H(v["mac_u"]), H(v["mac_v"]))
    assert keys.partner_eui64 == H(peer["eui64"])


def test_mac_messages_layout(annex_c6):
    """The MACU/MACV inputs are exactly those recorded with the vector."""
    v = annex_c6
    u, r = v["initiator_U"], v["responder_V"]
    msg_u = (
        b"\x02" + H(u["eui64"]) + H(r["eui64"]) + H(u["ephemeral_public_key"]) + H(r["ephemeral_public_key"])
    )
    assert msg_u == H(v["derived"]["macu_message"])
    assert c.mmo_hmac(H(v["mac_key"]), msg_u) == H(v["mac_u"])
    msg_v = (
        b"\x03" + H(r["eui64"]) + H(u["eui64"]) + H(r["ephemeral_public_key"]) + H(u["ephemeral_public_key"])
    )
    assert msg_v == H(v["derived"]["macv_message"])


def test_responder_ephemeral_key_above_n_is_reduced(annex_c6):
    raw = int(annex_c6["responder_V"]["ephemeral_private_key"], 16)
    assert raw >= c.SUITE2.curve.n
    d = c.decode_private_key(c.SUITE2, H(annex_c6["responder_V"]["ephemeral_private_key"]))
    assert d == raw % c.SUITE2.curve.n


def test_certificate_fields_decode(annex_c6):
    cert = Certificate283k1.decode(H(annex_c6["initiator_U"]["certificate"]))
    assert cert.type == 0 and cert.curve == 0x0D and cert.hash == 0x08
    assert cert.issuer == H("1112131415161718") and cert.subject == H("0A0B0C0D0E0F1012")
    assert cert.valid_to == 0xFFFFFFFF and cert.key_usage == 0x88 and cert.problems() == []
    assert cert.encode() == H(annex_c6["initiator_U"]["certificate"])
    assert cert.replace(key_usage=0x80).problems() == ["key usage 0x80 lacks key agreement (0x08)"]
    with pytest.raises(ValueError, match="74 bytes"):
        Certificate283k1.decode(b"\x00" * 73)
    with pytest.raises(ValueError, match="serial"):
        cert.replace(serial=b"\x00")
    with pytest.raises(ValueError, match="valid_from"):
        cert.replace(valid_from=1 << 40)


def test_suite1_certificate_fields(cbke_json):
    v = next(v for v in cbke_json["vectors"] if v["id"] == "se_annex_c5_suite1_cbke")
    cert = Certificate163k1.decode(H(v["initiator_U"]["certificate"]))
    assert cert.subject == H(v["initiator_U"]["eui64"]) and cert.issuer == b"TESTSECA"


@pytest.mark.parametrize("suite", [c.SUITE2, c.SUITE1], ids=["suite2", "suite1"])
def test_issue_certificate_round_trip(suite):
    rnd = random.Random(suite.number)
    rng = rnd.randbytes
    ca_d = c.random_scalar(suite, rng)
    ca_q = c.public_key(suite, ca_d)
    if suite is c.SUITE2:
        template = Certificate283k1(
            type=0,
            serial=b"\x00" * 7 + b"\x01",
            curve=0x0D,
            hash=0x08,
            issuer=b"RIGTSTCA",
            valid_from=0,
            valid_to=0xFFFFFFFF,
            subject=H("0011223344556677"),
            key_usage=0x88,
            public_key_reconstruction=b"\x02" + b"\x00" * 36,
        )
    else:
        template = Certificate163k1(
            public_key_reconstruction=b"\x02" + b"\x00" * 21,
            subject=H("0011223344556677"),
            issuer=b"RIGTSTCA",
            profile_attribute_data=b"\x00" * 10,
        )
    cert, d = c.issue_certificate(suite, ca_d, template, rng)
    assert c.reconstruct_public_key(suite, cert, ca_q) == c.public_key(suite, d)
    assert c.reconstruct_public_key(suite, cert, c.public_key(suite, ca_d + 1)) != c.public_key(suite, d)


def test_ecdsa_sign_verify():
    suite = c.SUITE2
    rng = random.Random(1).randbytes
    d = c.random_scalar(suite, rng)
    q = c.public_key(suite, d)
    digest = c.mmo_hash(b"signed message")
    sig = c.ecdsa_sign(suite, d, digest, rng)
    assert len(sig) == 72 and c.ecdsa_verify(suite, q, digest, sig)
    assert not c.ecdsa_verify(suite, q, c.mmo_hash(b"other"), sig)
    assert not c.ecdsa_verify(suite, q, digest, sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not c.ecdsa_verify(suite, q, digest, b"\x00" * 72)
    assert not c.ecdsa_verify(suite, q, digest, sig[:71])


def test_bad_inputs_raise_crypto_error(annex_c6):
    suite = c.SUITE2
    ca = H(annex_c6["ca_public_key"])
    cert = bytearray(H(annex_c6["initiator_U"]["certificate"]))
    cert[37] = 0x05  # reconstruction point prefix
    with pytest.raises(c.CbkeCryptoError, match="prefix"):
        c.reconstruct_public_key(suite, bytes(cert), ca)
    with pytest.raises(c.CbkeCryptoError, match="74 bytes"):
        c.reconstruct_public_key(suite, bytes(cert[:70]), ca)
    with pytest.raises(c.CbkeCryptoError):
        c.decode_private_key(suite, b"\x00" * 36)
    with pytest.raises(c.CbkeCryptoError):
        c.decode_private_key(suite, b"\x01" * 35)
    with pytest.raises(ValueError):
        c.mmo_hmac(b"short", b"")
