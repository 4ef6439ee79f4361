"""The device-side checks: one test per rejection reason, each also proving the counters did not move."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
from gbcs_testdata import HHT, INSTALL_CODE, PPMID

from rig.gbcs.keystore import KeyStore
from rig.gbcs.message import Cra, Message
from rig.gbcs.usecases import ALERT_CODES, DeviceType, Role, use_case
from rig.gbcs.validate import CounterStore, Device, Reason, validate

STRANGER = "1122334455667788"  # an Entity ID no device trusts

ALERT_RAISED = {
    # the GBZ alert a device raises for each rejection ([I] choices, see validate.py), by value
    Reason.BAD_MAC: 0x8F1E,
    Reason.BAD_SIGNATURE: 0x8F1E,
    Reason.MALFORMED: 0x8F1E,
    Reason.TOO_LONG: 0x8F1E,
    Reason.UNSUPPORTED_MESSAGE_CODE: 0x8F1E,
    Reason.COUNTER_NOT_NEWER: 0x8F53,
    Reason.WRONG_RECIPIENT: 0x8F3E,
    Reason.UNAUTHORISED: 0x8F30,
}


@pytest.fixture
def counters(tmp_path, store):
    """A persisted counter store that already saw counter 50 from the ACB and the supplier."""
    c = CounterStore.load(tmp_path / "counters.json")
    c.accept(store.one(Role.ACB), 50)
    c.accept(store.one(Role.SUPPLIER), 50)
    return c


@pytest.fixture
def device(store):
    return lambda role: Device.from_store(store, store.one(role))


def rejected(data: bytes, dev: Device, counters: CounterStore, reason: Reason):
    """Validate, assert the rejection reason and that neither memory nor file counters moved."""
    before, on_disk = dict(counters.counters), counters.path.read_bytes()
    result = validate(data, dev, counters)
    assert not result.ok and result.reason == reason, result
    assert counters.counters == before
    assert counters.path.read_bytes() == on_disk
    assert CounterStore.load(counters.path).counters == before
    assert result.alert_code == ALERT_RAISED[reason]
    assert result.alert_code in ALERT_CODES            # a GBZ alert code the rig knows by name
    return result


def ccs01(builder, store, **kw) -> Message:
    return builder.ccs01(store.one(Role.CHF), PPMID, DeviceType.PPMID, INSTALL_CODE, **kw)


def test_accepted_moves_the_counter_and_persists_it(builder, store, counters, device):
    result = validate(ccs01(builder, store).to_bytes(), device(Role.CHF), counters)
    assert result.ok, result
    assert result.use_case.name == "CCS01"
    assert result.payload["device_id"] == PPMID and result.payload["device_type"] == DeviceType.PPMID
    assert result.payload["install_code"] == INSTALL_CODE
    assert CounterStore.load(counters.path).last(store.one(Role.ACB)) == 100


def test_hht_is_registered_as_type2(builder, store, counters, device):
    result = validate(builder.ccs01(store.one(Role.CHF), HHT, Role.HHT, INSTALL_CODE).to_bytes(),
                      device(Role.CHF), counters)
    assert result.ok and result.payload["device_type"] == DeviceType.TYPE2


def test_builder_originators_follow_rtds(builder, store, counters, device):
    """Critical: supplier-signed; CS03B: supplier, unsigned; non-critical CS03C and CCS01: the ACB,
    naming the supplier as Supplementary Remote Party."""
    esme, supplier, acb = store.one(Role.ESME), store.one(Role.SUPPLIER), store.one(Role.ACB)
    cases = [(builder.join("CS03A1", esme, PPMID, DeviceType.PPMID), supplier, None, True),
             (builder.join("CS03B", esme, HHT, DeviceType.TYPE2), supplier, None, False),
             (builder.join("CS03C", esme, PPMID, DeviceType.PPMID, critical=False), acb, supplier, True),
             (ccs01(builder, store), acb, supplier, False)]
    for message, originator, remote_party, signed in cases:
        assert (message.originator, message.supplementary_remote_party_id, message.signed) == (
            originator, remote_party, signed)
        target = Role.CHF if message.message_code == 1 else Role.ESME
        assert validate(message.to_bytes(), device(target), counters).ok
    with pytest.raises(ValueError, match="always a critical"):
        builder.join("CS03A1", esme, PPMID, DeviceType.PPMID, critical=False)
    with pytest.raises(ValueError, match="never a critical"):
        builder.join("CS03B", esme, PPMID, DeviceType.PPMID, critical=True)


def test_bad_mac(builder, store, counters, device):
    data = bytearray(ccs01(builder, store).to_bytes())
    data[-1] ^= 0x80
    rejected(bytes(data), device(Role.CHF), counters, Reason.BAD_MAC)


def test_bad_mac_when_command_has_no_mac(builder, store, counters, device):
    pre = builder.precommand(use_case("CCS01"), store.one(Role.ACB), store.one(Role.CHF),
                             {"device_id": PPMID, "device_type": DeviceType.PPMID, "install_code": INSTALL_CODE,
                              "trailing_enum": 0, "join_timeout": 90, "joining_enabled": True})
    rejected(replace(pre, signature=b"").to_bytes(), device(Role.CHF), counters, Reason.BAD_MAC)


def test_bad_signature(builder, store, counters, device):
    esme = store.one(Role.ESME)
    pre = builder.precommand(use_case("CS03A1"), store.one(Role.SUPPLIER), esme,
                             {"method_role": 0, "partner_id": PPMID, "partner_type": DeviceType.PPMID,
                              "ka_certificate": b""})
    signed = builder.sign(pre)
    forged = builder.wrap(replace(signed, signature=signed.signature[:-1] + bytes([signed.signature[-1] ^ 1])))
    result = rejected(forged.to_bytes(), device(Role.ESME), counters, Reason.BAD_SIGNATURE)
    assert "does not verify" in result.detail
    unsigned = builder.wrap(pre)  # a valid MAC, but a critical command without its signature
    rejected(unsigned.to_bytes(), device(Role.ESME), counters, Reason.BAD_SIGNATURE)
    by_network_operator = builder.wrap(builder.sign(pre, store.one(Role.NETWORK_OPERATOR)))
    rejected(by_network_operator.to_bytes(), device(Role.ESME), counters, Reason.BAD_SIGNATURE)


def test_counter_not_newer(builder, store, counters, device):
    for counter in (50, 7):
        rejected(ccs01(builder, store, counter=counter).to_bytes(), device(Role.CHF), counters,
                 Reason.COUNTER_NOT_NEWER)


def test_wrong_recipient(builder, store, counters, device):
    to_gsme = builder.join("CS03A1", store.one(Role.GSME), PPMID, DeviceType.PPMID)
    result = rejected(to_gsme.to_bytes(), device(Role.ESME), counters, Reason.WRONG_RECIPIENT)
    assert store.one(Role.GSME) in result.detail


def test_unauthorised_role(builder, store, counters, device):
    """CCS01 is the ACB's to send; a supplier-originated one (validly MAC'd) is refused."""
    pre = builder.precommand(use_case("CCS01"), store.one(Role.SUPPLIER), store.one(Role.CHF),
                             {"device_id": PPMID, "device_type": DeviceType.PPMID, "install_code": INSTALL_CODE,
                              "trailing_enum": 0, "join_timeout": 90, "joining_enabled": True})
    result = rejected(builder.wrap(pre).to_bytes(), device(Role.CHF), counters, Reason.UNAUTHORISED)
    assert "supplier may not send" in result.detail


def test_unauthorised_unknown_originator(builder, store, counters, device):
    pre = builder.precommand(use_case("CS03B"), STRANGER, store.one(Role.ESME),
                             {"method_role": 2, "partner_id": PPMID, "partner_type": DeviceType.TYPE2,
                              "ka_certificate": b""})
    result = rejected(builder.wrap(pre).to_bytes(), device(Role.ESME), counters, Reason.UNAUTHORISED)
    assert "unknown originator" in result.detail


def test_malformed_truncated(builder, store, counters, device):
    data = ccs01(builder, store).to_bytes()
    rejected(data[:-5], device(Role.CHF), counters, Reason.MALFORMED)
    rejected(b"", device(Role.CHF), counters, Reason.MALFORMED)


def test_malformed_payload(builder, store, counters, device):
    good = ccs01(builder, store)
    bad = builder.wrap(replace(good, content=good.content[:-1] + b"\x01", mac=None))  # boolean 01: not DLMS
    result = rejected(bad.to_bytes(), device(Role.CHF), counters, Reason.MALFORMED)
    assert "boolean" in result.detail


def test_too_long(builder, store, counters, device):
    long = builder.ccs01(store.one(Role.CHF), PPMID, DeviceType.PPMID, bytes(1600))
    rejected(long.to_bytes(), device(Role.CHF), counters, Reason.TOO_LONG)


def test_unsupported_message_code(builder, store, counters, device):
    chf, acb = store.one(Role.CHF), store.one(Role.ACB)
    unknown = builder.wrap(Message(Cra.COMMAND, 200, acb, chf, 0x0099, b"\x00"))
    rejected(unknown.to_bytes(), device(Role.CHF), counters, Reason.UNSUPPORTED_MESSAGE_CODE)
    as_response = builder.wrap(replace(ccs01(builder, store), cra=Cra.RESPONSE, mac=None))
    rejected(as_response.to_bytes(), device(Role.CHF), counters, Reason.UNSUPPORTED_MESSAGE_CODE)
    ccs01_to_esme = builder.ccs01(store.one(Role.ESME), PPMID, DeviceType.PPMID, INSTALL_CODE)
    rejected(ccs01_to_esme.to_bytes(), device(Role.ESME), counters, Reason.UNSUPPORTED_MESSAGE_CODE)


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x80])


def _cs03a1_unsigned(builder, store) -> bytes:
    pre = builder.precommand(use_case("CS03A1"), store.one(Role.SUPPLIER), store.one(Role.ESME),
                             {"method_role": 0, "partner_id": PPMID, "partner_type": DeviceType.PPMID,
                              "ka_certificate": b""})
    return builder.wrap(pre).to_bytes()


def _ccs01_from_supplier(builder, store) -> bytes:
    pre = builder.precommand(use_case("CCS01"), store.one(Role.SUPPLIER), store.one(Role.CHF),
                             {"device_id": PPMID, "device_type": DeviceType.PPMID, "install_code": INSTALL_CODE,
                              "trailing_enum": 0, "join_timeout": 90, "joining_enabled": True})
    return builder.wrap(pre).to_bytes()


REJECTIONS = {
    # reason -> (a message that must be refused with it, the role of the device it is delivered to)
    Reason.BAD_MAC: lambda b, s: (_flip_last_byte(ccs01(b, s).to_bytes()), Role.CHF),
    Reason.BAD_SIGNATURE: lambda b, s: (_cs03a1_unsigned(b, s), Role.ESME),
    Reason.COUNTER_NOT_NEWER: lambda b, s: (ccs01(b, s, counter=50).to_bytes(), Role.CHF),
    Reason.WRONG_RECIPIENT: lambda b, s: (b.join("CS03A1", s.one(Role.GSME), PPMID, DeviceType.PPMID).to_bytes(),
                                          Role.ESME),
    Reason.UNAUTHORISED: lambda b, s: (_ccs01_from_supplier(b, s), Role.CHF),
    Reason.MALFORMED: lambda b, s: (ccs01(b, s).to_bytes()[:-5], Role.CHF),
    Reason.TOO_LONG: lambda b, s: (b.ccs01(s.one(Role.CHF), PPMID, DeviceType.PPMID, bytes(1600)).to_bytes(),
                                   Role.CHF),
    Reason.UNSUPPORTED_MESSAGE_CODE: lambda b, s: (b.ccs01(s.one(Role.ESME), PPMID, DeviceType.PPMID,
                                                           INSTALL_CODE).to_bytes(), Role.ESME),
}


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_is_what_validate_returns_for_some_message(reason, builder, store, counters, device):
    """Each member of the closed ``Reason`` set is produced by ``validate``: a reason added without a
    message that triggers it fails here, as does a message that is refused for another reason."""
    assert reason in REJECTIONS, f"no message here is refused with {reason}"
    data, role = REJECTIONS[reason](builder, store)
    rejected(data, device(role), counters, reason)


def test_responses_and_alert_verify(builder, store, device):
    from rig.gbcs.validate import check_with_store

    command = builder.join("CS03A1", store.one(Role.ESME), PPMID, DeviceType.PPMID)
    response = Message.from_bytes(builder.response(command, result=3).to_bytes())
    assert response.form == "general-signing" and response.cra == Cra.RESPONSE
    assert (response.counter, response.recipient) == (command.counter, command.originator)
    assert check_with_store(response, store).signature_valid
    ccs01_response = builder.response(ccs01(builder, store), register_result=250)
    assert check_with_store(Message.from_bytes(ccs01_response.to_bytes()), store).mac_valid
    alert = builder.alert(store.one(Role.CHF), store.one(Role.ACB), ALERT_RAISED[Reason.BAD_MAC])
    assert check_with_store(Message.from_bytes(alert.to_bytes()), store).mac_valid


def test_counter_store_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    counters = CounterStore.load(path)
    counters.accept("0000000000000001", 5)
    assert json.loads(path.read_text()) == {"counters": {"0000000000000001": 5}}

    def crash(*_):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        counters.accept("0000000000000001", 6)
    with pytest.raises(OSError, match="power cut"):
        counters.accept("0000000000000002", 1)          # an originator seen for the first time
    assert json.loads(path.read_text()) == {"counters": {"0000000000000001": 5}}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind
    # a failed save accepts nothing: memory is what is on disk, not one step ahead of it
    assert counters.counters == CounterStore.load(path).counters == {"0000000000000001": 5}
    assert counters.is_newer("0000000000000001", 6) and counters.last("0000000000000002") is None
    monkeypatch.undo()
    counters.accept("0000000000000001", 6)              # the same counter is accepted once saving works
    assert counters.counters == CounterStore.load(path).counters == {"0000000000000001": 6}


def test_a_command_whose_counter_cannot_be_saved_is_not_accepted(builder, store, counters, device, monkeypatch):
    before = dict(counters.counters)
    command = ccs01(builder, store).to_bytes()

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        validate(command, device(Role.CHF), counters)
    assert counters.counters == CounterStore.load(counters.path).counters == before
    monkeypatch.undo()
    assert validate(command, device(Role.CHF), counters).ok              # not taken for a replay
    assert CounterStore.load(counters.path).last(store.one(Role.ACB)) == 100


def test_device_needs_a_role(store):
    with pytest.raises(LookupError):
        Device.from_store(KeyStore(store.path), "0102030405060708")
