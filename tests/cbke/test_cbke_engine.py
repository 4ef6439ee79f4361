"""The NCP-side engine (rig.cbke.engine), the token images and the test CA."""

from __future__ import annotations

import random

import pytest
from bellows.types import EmberStatus, sl_Status

from rig.cbke import crypto
from rig.cbke.ca import DEFAULT_ISSUER, TestCa, parse_eui64
from rig.cbke.engine import CbkeEngine
from rig.cbke.token import CbkeToken, CbkeToken163k1, load_token

H = bytes.fromhex


def _token(vector: dict, role: str, cls=CbkeToken):
    party = vector[role]
    return cls(
        certificate=H(party["certificate"]),
        ca_public_key=H(vector["ca_public_key"]),
        private_key=H(party["static_private_key"]),
        flags=0,
    )


@pytest.fixture
def c6_engines(annex_c6):
    return CbkeEngine(_token(annex_c6, "initiator_U")), CbkeEngine(_token(annex_c6, "responder_V"))


def test_annex_c6_through_two_engines(annex_c6, c6_engines):
    v = annex_c6
    u, r = c6_engines
    gu = u.generate_cbke_keys_283k1(ephemeral_private_key=H(v["initiator_U"]["ephemeral_private_key"]))
    gv = r.generate_cbke_keys_283k1(ephemeral_private_key=H(v["responder_V"]["ephemeral_private_key"]))
    assert gu.status == gv.status == EmberStatus.SUCCESS
    assert gu.ephemeral_public_key == H(v["initiator_U"]["ephemeral_public_key"])
    assert gv.ephemeral_public_key == H(v["responder_V"]["ephemeral_public_key"])
    su = u.calculate_smacs_283k1(True, r.get_certificate_283k1().certificate, gv.ephemeral_public_key)
    sv = r.calculate_smacs_283k1(False, u.get_certificate_283k1().certificate, gu.ephemeral_public_key)
    for s in (su, sv):  # initiatorSmac = MACU, responderSmac = MACV on both sides
        assert s.status == EmberStatus.SUCCESS
        assert (s.initiator_smac, s.responder_smac) == (H(v["mac_u"]), H(v["mac_v"]))
    cu = u.clear_temporary_data_maybe_store_link_key_283k1(True)
    cv = r.clear_temporary_data_maybe_store_link_key_283k1(True)
    assert cu.status == cv.status == EmberStatus.SUCCESS
    assert cu.link_key == cv.link_key == H(v["key_data"])
    assert cu.partner_eui64 == H(v["responder_V"]["eui64"]) and cv.partner_eui64 == H(
        v["initiator_U"]["eui64"]
    )
    assert cu.partner_eui64_le == H(v["responder_V"]["eui64"])[::-1]
    assert u.key_table == {H(v["responder_V"]["eui64"]): H(v["key_data"])}
    # the temporary data is gone
    assert u.clear_temporary_data_maybe_store_link_key_283k1(True).status == EmberStatus.ERR_FATAL


def test_wrong_role_gives_different_smacs(annex_c6, c6_engines):
    """am_initiator selects which local key plays U: the wrong flag cannot agree with the partner."""
    v = annex_c6
    u, _r = c6_engines
    u.generate_cbke_keys_283k1(ephemeral_private_key=H(v["initiator_U"]["ephemeral_private_key"]))
    s = u.calculate_smacs_283k1(
        False, H(v["responder_V"]["certificate"]), H(v["responder_V"]["ephemeral_public_key"])
    )
    assert s.status == EmberStatus.SUCCESS and s.initiator_smac != H(v["mac_u"])


def test_clear_without_store_stores_nothing(annex_c6, c6_engines):
    u, r = c6_engines
    u.generate_cbke_keys_283k1()
    qe = r.generate_cbke_keys_283k1().ephemeral_public_key
    assert (
        u.calculate_smacs_283k1(True, H(annex_c6["responder_V"]["certificate"]), qe).status
        == EmberStatus.SUCCESS
    )
    res = u.clear_temporary_data_maybe_store_link_key_283k1(False)
    assert res.status == EmberStatus.ERR_FATAL and res.link_key is None and u.key_table == {}
    assert u.clear_temporary_data_maybe_store_link_key_283k1(True).status == EmberStatus.ERR_FATAL


def test_call_order_and_bad_input_statuses(annex_c6, c6_engines):
    u, _r = c6_engines
    cert_v = H(annex_c6["responder_V"]["certificate"])
    qe_v = H(annex_c6["responder_V"]["ephemeral_public_key"])
    res = u.calculate_smacs_283k1(True, cert_v, qe_v)
    assert res.status == EmberStatus.INVALID_CALL and res.initiator_smac == bytes(16)
    u.generate_cbke_keys_283k1()
    assert u.calculate_smacs_283k1(True, cert_v, b"\x04" + qe_v[1:]).status == EmberStatus.ERR_FATAL
    assert u.calculate_smacs_283k1(True, cert_v[:-1], qe_v).status == EmberStatus.ERR_FATAL
    bad_cert = cert_v[:37] + b"\x07" + cert_v[38:]
    assert u.calculate_smacs_283k1(True, bad_cert, qe_v).status == EmberStatus.ERR_FATAL
    assert u.clear_temporary_data_maybe_store_link_key_283k1(True).status == EmberStatus.ERR_FATAL
    # a small-order partner ephemeral key (the 2-torsion point, x = 0) decodes; cofactor clearing
    # removes it, so the result is just a key the partner cannot match -- never an exception
    u.generate_cbke_keys_283k1()
    assert u.calculate_smacs_283k1(True, cert_v, b"\x02" + bytes(36)).status == EmberStatus.SUCCESS


def test_empty_token():
    for engine in (CbkeEngine(None), CbkeEngine(CbkeToken.erased())):
        assert engine.generate_cbke_keys_283k1().status == EmberStatus.ERR_FATAL
        cert = engine.get_certificate_283k1()
        assert cert.status == EmberStatus.ERR_FATAL and cert.certificate == b"\xff" * 74
        assert engine.calculate_smacs_283k1(True, bytes(74), bytes(37)).status == EmberStatus.ERR_FATAL
        assert engine.dsa_verify_283k1(bytes(16), bytes(74), bytes(72)) == EmberStatus.ERR_FATAL
        assert engine.clear_temporary_data_maybe_store_link_key_283k1(True).status == EmberStatus.ERR_FATAL
    assert CbkeEngine(None).generate_cbke_keys().status == EmberStatus.ERR_FATAL  # no suite-1 token


def test_dsa_verify(annex_c6):
    token = _token(annex_c6, "initiator_U")
    engine = CbkeEngine(_token(annex_c6, "responder_V"))
    rng = random.Random(5).randbytes
    digest = crypto.mmo_hash(b"some signed payload")
    d = crypto.decode_private_key(crypto.SUITE2, token.private_key)
    sig = crypto.ecdsa_sign(crypto.SUITE2, d, digest, rng)
    assert engine.dsa_verify_283k1(digest, token.certificate, sig) == EmberStatus.SUCCESS
    bad = EmberStatus.SIGNATURE_VERIFY_FAILURE
    assert engine.dsa_verify_283k1(digest[::-1], token.certificate, sig) == bad
    assert engine.dsa_verify_283k1(digest, H(annex_c6["responder_V"]["certificate"]), sig) == bad
    assert engine.dsa_verify_283k1(digest, b"\x00" * 74, sig) == bad


def test_annex_c5_suite1_engine(cbke_json):
    v = next(v for v in cbke_json["vectors"] if v["id"] == "se_annex_c5_suite1_cbke")
    u = CbkeEngine(None, token_163k1=_token(v, "initiator_U", CbkeToken163k1))
    r = CbkeEngine(None, token_163k1=_token(v, "responder_V", CbkeToken163k1))
    qu = u.generate_cbke_keys(
        ephemeral_private_key=H(v["initiator_U"]["ephemeral_private_key"])
    ).ephemeral_public_key
    qv = r.generate_cbke_keys(
        ephemeral_private_key=H(v["responder_V"]["ephemeral_private_key"])
    ).ephemeral_public_key
    su = u.calculate_smacs_163k1(True, r.get_certificate_163k1().certificate, qv)
    sv = r.calculate_smacs_163k1(False, u.get_certificate_163k1().certificate, qu)
    assert su == sv and (su.initiator_smac, su.responder_smac) == (H(v["mac_u"]), H(v["mac_v"]))
    assert u.clear_temporary_data_maybe_store_link_key(True).link_key == H(v["key_data"])
    assert u.generate_cbke_keys_283k1().status == EmberStatus.ERR_FATAL  # no suite-2 token


def test_statuses_are_bellows_own():
    """The engine answers bellows' EmberStatus; an EZSP v14+ NCP sends the sl_Status bellows maps it to."""
    assert CbkeEngine(None).get_certificate_283k1().status is EmberStatus.ERR_FATAL
    assert sl_Status.from_ember_status(EmberStatus.OPERATION_IN_PROGRESS) == sl_Status.IN_PROGRESS == 0x0005
    assert sl_Status.from_ember_status(EmberStatus.LIBRARY_NOT_PRESENT) == sl_Status.NOT_AVAILABLE == 0x000E
    assert sl_Status.from_ember_status(EmberStatus.SIGNATURE_VERIFY_FAILURE) == 0x0C0D


def test_token_image_and_file(annex_c6, tmp_path):
    token = _token(annex_c6, "initiator_U")
    image = token.encode()
    assert len(image) == 148 and image[-1] == 0 and CbkeToken.decode(image) == token
    assert image[:74] == token.certificate and image[74:111] == token.ca_public_key
    assert token.initialised and not CbkeToken.erased().initialised
    assert token.subject == H("0A0B0C0D0E0F1012")
    path = token.save(tmp_path / "u.json")
    assert load_token(path) == token == CbkeToken.load(path)
    with pytest.raises(ValueError, match="suite"):
        CbkeToken163k1.load(path)
    with pytest.raises(ValueError, match="148 bytes"):
        CbkeToken.decode(image[:-1])


def test_test_ca_tokens_agree(tmp_path):
    rng = random.Random(9).randbytes
    ca = TestCa.create(rng=rng)
    assert ca.issuer == DEFAULT_ISSUER and len(ca.public_key) == 37
    ca.save(tmp_path)
    assert TestCa.load(tmp_path) == ca
    with pytest.raises(FileExistsError):
        ca.save(tmp_path)
    ch = ca.issue("00:0D:6F:00:00:00:00:01", rng=rng)
    hht = ca.issue("000D6F0000000002", rng=rng, key_usage=0x08)
    for t in (ch, hht):
        d = crypto.decode_private_key(crypto.SUITE2, t.private_key)
        assert crypto.reconstruct_public_key(
            crypto.SUITE2, t.certificate, t.ca_public_key
        ) == crypto.public_key(crypto.SUITE2, d)
        assert crypto.SUITE2.certificate.decode(t.certificate).problems() == []
    assert ch.subject == H("000D6F0000000001")
    a, b = CbkeEngine(ch, rng=rng), CbkeEngine(hht, rng=rng)
    qa = a.generate_cbke_keys_283k1().ephemeral_public_key
    qb = b.generate_cbke_keys_283k1().ephemeral_public_key
    sa = a.calculate_smacs_283k1(True, hht.certificate, qb)
    sb = b.calculate_smacs_283k1(False, ch.certificate, qa)
    assert sa == sb and sa.status == EmberStatus.SUCCESS
    ka = a.clear_temporary_data_maybe_store_link_key_283k1(True).link_key
    assert ka == b.clear_temporary_data_maybe_store_link_key_283k1(True).link_key and len(ka) == 16


def test_parse_eui64():
    assert (
        parse_eui64("00:0d:6f:00:0a:0b:0c:0d") == H("000D6F000A0B0C0D") == parse_eui64("0x000D6F000A0B0C0D")
    )
    for bad in ("0011", "zz" * 8, "00" * 9):
        with pytest.raises(ValueError):
            parse_eui64(bad)
