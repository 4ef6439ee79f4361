"""Local-delivery bundles: DUIS import (CV2 + CV6), refusals, raw files, the generator, save/load."""

from __future__ import annotations

import base64

import pytest
from gbcs_testdata import INSTALL_CODE, PPMID

from rig.gbcs.bundle import (
    Bundle,
    BundleEntry,
    BundleError,
    NoLocalDelivery,
    duis_response_xml,
    generate_bundle,
    import_duis,
    import_file,
    import_raw,
)
from rig.gbcs.message import Message
from rig.gbcs.usecases import DeviceType, Role
from rig.gbcs.validate import CounterStore, Device, validate

REQUEST_CV1 = b"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.1">
  <sr:Header><sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A2:1002</sr:RequestID>
    <sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>8.11</sr:ServiceReference>
    <sr:ServiceReferenceVariant>8.11</sr:ServiceReferenceVariant></sr:Header>
  <sr:Body><sr:UpdateHANDeviceLog/></sr:Body>
</sr:Request>"""


def response_xml(inner: str) -> bytes:
    return (f'<?xml version="1.0"?><sr:Response xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway">'
            f"<sr:Header><sr:ResponseCode>I0</sr:ResponseCode></sr:Header><sr:Body><sr:ResponseMessage>"
            f"<sr:ServiceReference>8.11</sr:ServiceReference><sr:ServiceReferenceVariant>8.11"
            f"</sr:ServiceReferenceVariant>{inner}</sr:ResponseMessage></sr:Body></sr:Response>").encode()


@pytest.fixture
def dcc(store, builder):
    """The DCC's local-delivery responses for a CCS01 (CV2) and a critical CS03A1 (CV6)."""
    ccs01 = builder.ccs01(store.one(Role.CHF), PPMID, DeviceType.PPMID, INSTALL_CODE)
    cs03a1 = builder.join("CS03A1", store.one(Role.ESME), PPMID, DeviceType.PPMID, critical=True)
    return {
        "cv2": duis_response_xml(BundleEntry(ccs01.to_bytes(), 2, "8.11")),
        "cv6": duis_response_xml(BundleEntry(cs03a1.to_bytes(), 6, "8.7.1")),
        "ccs01": ccs01, "cs03a1": cs03a1,
    }


def test_cv2_and_cv6_responses_import_into_an_ordered_bundle(dcc, store, tmp_path):
    (tmp_path / "cs03a1.xml").write_bytes(dcc["cv6"])
    (tmp_path / "ccs01.xml").write_bytes(dcc["cv2"])
    entries = [import_file(tmp_path / "cs03a1.xml", command_variant=6),
               import_file(tmp_path / "ccs01.xml", command_variant=2)]
    bundle = Bundle(entries, "pairing").ordered()
    assert [e.use_case.name for e in bundle.entries] == ["CCS01", "CS03A1"]  # device log first
    assert [e.service_reference_variant for e in bundle.entries] == ["8.11", "8.7.1"]
    assert bundle.entries[0].gbcs == dcc["ccs01"].to_bytes()
    bundle.save(tmp_path / "bundle.json")
    loaded = Bundle.load(tmp_path / "bundle.json")
    assert [e.gbcs for e in loaded.entries] == [e.gbcs for e in bundle.entries]
    assert [e.command_variant for e in loaded.entries] == [2, 6]
    # the HHT delivers them; each device accepts its own command
    for entry, role in zip(loaded.entries, (Role.CHF, Role.ESME), strict=True):
        assert validate(entry.gbcs, Device.from_store(store, store.one(role)), CounterStore()).ok


def test_cv_read_from_the_command_when_not_given(dcc):
    assert import_duis(dcc["cv6"]).message.signed
    assert import_duis(dcc["cv2"]).command_variant is None


def test_variant_must_fit_the_command(dcc):
    with pytest.raises(BundleError, match="CV 6 does not fit a non-critical CCS01"):
        import_duis(dcc["cv2"], command_variant=6)
    with pytest.raises(BundleError, match="CV 2 does not fit a critical"):
        import_duis(dcc["cv6"], command_variant=2)


def test_cv1_is_refused(dcc):
    with pytest.raises(NoLocalDelivery, match=r"Command Variant 1 \(.*SM WAN\) returns no command for local"):
        import_duis(dcc["cv2"], command_variant=1)
    with pytest.raises(NoLocalDelivery, match="Command Variant 1"):
        import_duis(REQUEST_CV1)
    device_response = response_xml(f"<sr:GBCSPayload>{base64.b64encode(dcc['ccs01'].to_bytes()).decode()}"
                                   "</sr:GBCSPayload>")
    with pytest.raises(NoLocalDelivery, match="CV1 sends the command over the SM WAN"):
        import_duis(device_response)


def test_pre_command_and_request_are_refused(dcc):
    with pytest.raises(NoLocalDelivery, match="pre-command"):
        import_duis(response_xml("<sr:PreCommand><sr:GBCSVersion>4.0</sr:GBCSVersion>"
                                 "<sr:GBCSPayload>3wk=</sr:GBCSPayload></sr:PreCommand>"))
    with pytest.raises(BundleError, match="DUIS request"):
        import_duis(REQUEST_CV1.replace(b">1<", b">2<"))


@pytest.mark.parametrize(("xml", "message"), [
    (b"<sr:Response xmlns:sr='x'><sr:Body>", "malformed DUIS XML"),
    (b"not xml at all <", "malformed DUIS XML"),
    (response_xml("<sr:LocalCommand><sr:GBCSPayload>3QAA*AAA</sr:GBCSPayload></sr:LocalCommand>"),
     "not valid Base64"),
    (response_xml("<sr:LocalCommand><sr:GBCSPayload></sr:GBCSPayload></sr:LocalCommand>"), "empty"),
    (response_xml("<sr:LocalCommand><sr:GBCSPayload>AAEC</sr:GBCSPayload></sr:LocalCommand>"),
     "not a GBCS message"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><sr:Response/>', "DOCTYPE or ENTITY"),
])
def test_malformed_xml_and_base64_give_clear_errors(xml, message):
    with pytest.raises(BundleError, match=message):
        import_duis(xml)


def test_raw_files(dcc, tmp_path):
    data = dcc["ccs01"].to_bytes()
    for name, content in (("bin", data), ("hex", data.hex().encode() + b"\n"), ("b64", base64.b64encode(data))):
        (tmp_path / name).write_bytes(content)
        assert import_file(tmp_path / name).gbcs == data
    with pytest.raises(BundleError, match="neither hex nor valid Base64"):
        import_raw(b"zz!!")
    with pytest.raises(BundleError, match="MAC'd"):
        import_raw(Message.from_bytes(data).apdu())  # the bare DF form cannot be delivered


def test_generator_makes_a_deliverable_bundle(store, tmp_path):
    bundle = generate_bundle(store, PPMID, INSTALL_CODE)
    assert [(e.use_case.name, e.command_variant, e.service_reference_variant) for e in bundle.entries] == [
        ("CCS01", 2, "8.11"), ("CS03A1", 6, "8.7.1"), ("CS03C", 2, "8.7.2"), ("CS03A1", 6, "8.7.1")]
    targets = [Role.CHF, Role.ESME, Role.GPF, Role.GSME]
    for entry, role in zip(bundle.entries, targets, strict=True):
        result = validate(entry.gbcs, Device.from_store(store, store.one(role)), CounterStore())
        assert result.ok, result
        assert result.payload.get("partner_id", result.payload.get("device_id")) == PPMID
        # and it survives a trip through the DUIS response the DCC would send
        assert import_duis(duis_response_xml(entry), command_variant=entry.command_variant).gbcs == entry.gbcs


def test_bundle_load_errors(tmp_path):
    (tmp_path / "x.json").write_text("{]")
    with pytest.raises(BundleError, match="not a readable JSON bundle"):
        Bundle.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"format": "something else"}')
    with pytest.raises(BundleError, match="not a secmp0037-rig"):
        Bundle.load(tmp_path / "y.json")


def test_the_gas_side_join_carries_the_ppmids_ka_key_and_goes_last(store):
    """GBCS joins a PPMID to the GSME as well (CS03A1, critical); only a GSME <-> PPMID join carries the
    partner's KA credential, and the GSME (sleepy) is asked last."""
    from cryptography.hazmat.primitives import serialization

    bundle = generate_bundle(store, PPMID, INSTALL_CODE)
    last = bundle.entries[-1]
    assert last.message.recipient == store.one(Role.GSME) and last.use_case.name == "CS03A1"
    result = validate(last.gbcs, Device.from_store(store, store.one(Role.GSME)), CounterStore())
    assert result.ok, result
    want = store.public_key(PPMID, "ka").public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    assert bytes(result.payload["ka_certificate"]) == want
    assert all(not validate(e.gbcs, Device.from_store(store, e.message.recipient), CounterStore()).payload
               .get("ka_certificate") for e in bundle.entries[1:-1])
    electricity_only = generate_bundle(store, PPMID, INSTALL_CODE, gas=False)
    assert [e.message.recipient for e in electricity_only.entries] == [e.message.recipient for e in bundle.entries[:-1]]
