"""``rig gbcs ...`` and ``rig install-code`` through typer's CliRunner on an app of our own."""

from __future__ import annotations

import base64
import json

import pytest
import typer
from gbcs_testdata import INSTALL_CODE, PPMID, params, rtds_store
from typer.testing import CliRunner

from rig.gbcs.bundle import BundleEntry, duis_response_xml
from rig.gbcs.cli import register
from rig.gbcs.keystore import DEFAULT_IDS
from rig.gbcs.usecases import DeviceType, Role

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def run(app, *args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


CCS01 = next(p.values[0] for p in params("gbcs-command-mac", "mac_vectors")
             if p.values[0]["id"] == "ccs01_success_command")


def test_registered_in_the_rig_cli():
    from rig import cli

    assert "rig.gbcs.cli" in cli.REGISTRARS


def test_decode_json_with_rtds_keys(app, tmp_path):
    store = rtds_store(tmp_path / "keys")
    (tmp_path / "m.hex").write_text(CCS01["message_hex"] + "\n")
    result = run(app, "gbcs", "decode", tmp_path / "m.hex", "--keys", store.path, "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["message_code"] == 1 and d["use_case"] == "CCS01" and d["cra_flag"] == 1
    assert (d["originator"], d["recipient"], d["counter"]) == ("90B3D51F30000002", "00DB1234567890A2", 0x516)
    assert d["supplementary_remote_party_id"] == "90B3D51F30010000"
    assert d["payload"]["device_id"] == "00DB1234567890A0" and d["payload"]["device_type"] == "ESME"
    assert d["payload"]["join_timeout"] == 90
    assert d["mac_valid"] is True and d["signature_valid"] is None and d["reason"] is None


def test_decode_bad_mac(app, tmp_path):
    store = rtds_store(tmp_path / "keys")
    bad = bytearray.fromhex(CCS01["message_hex"])
    bad[-1] ^= 1
    (tmp_path / "m.bin").write_bytes(bad)
    result = run(app, "gbcs", "decode", tmp_path / "m.bin", "--keys", store.path, "--json")
    assert result.exit_code == 1
    d = json.loads(result.output)
    assert d["mac_valid"] is False and d["reason"] == "bad_mac"


def two_pem_store(path, *, flip: bool = False, with_roles: bool = False):
    """A store holding exactly the two PEMs CCS01's MAC needs: the ACB's private key and the CH's
    certificate (``flip``: the same two PEMs filed under other Entity IDs, a store that cannot check)."""
    from rig.gbcs.keystore import KeyStore

    path.mkdir(parents=True)
    store = KeyStore(path)
    owner, peer = CCS01["ka_private_key_owner"], CCS01["ka_peer_owner"]
    if flip:
        owner, peer = "0000000000000001", "0000000000000002"
    store.add_pem(owner, "ka", CCS01["ka_private_key_pem"].encode())
    store.add_pem(peer, "ka", CCS01["ka_peer_certificate_pem"].encode())
    if with_roles:
        store.set_role(CCS01["ka_private_key_owner"], Role.ACB)
    return store


@pytest.mark.parametrize("with_roles", [False, True])
def test_decode_checks_the_mac_with_a_store_of_just_the_two_pems_it_needs(app, tmp_path, with_roles):
    """No roles.json naming the ACB: the originator's and the recipient's keys check the command's MAC
    (gbcs-parser's rule); with roles.json naming the ACB, the ACB's and the recipient's."""
    store = two_pem_store(tmp_path / "keys", with_roles=with_roles)
    assert sorted(p.name for p in store.path.iterdir() if p.suffix == ".pem") == [
        "00DB1234567890A2.ka.pub.pem", "90B3D51F30000002.ka.key.pem"]
    (tmp_path / "m.hex").write_text(CCS01["message_hex"])
    result = run(app, "gbcs", "decode", tmp_path / "m.hex", "--keys", store.path, "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["mac_valid"] is True and d["reason"] is None and d["notes"] == []

    bad = bytearray.fromhex(CCS01["message_hex"])
    bad[-1] ^= 1
    (tmp_path / "bad.bin").write_bytes(bad)
    result = run(app, "gbcs", "decode", tmp_path / "bad.bin", "--keys", store.path, "--json")
    d = json.loads(result.output)
    assert result.exit_code == 1 and d["mac_valid"] is False and d["reason"] == "bad_mac"


def test_decode_says_which_key_pairs_it_lacked_when_the_store_cannot_check_the_mac(app, tmp_path):
    store = two_pem_store(tmp_path / "keys", flip=True)
    (tmp_path / "m.hex").write_text(CCS01["message_hex"])
    d = json.loads(run(app, "gbcs", "decode", tmp_path / "m.hex", "--keys", store.path, "--json").output)
    assert d["mac_valid"] is None
    (note,) = d["notes"]
    assert "00DB1234567890A2 x 90B3D51F30000002" in note and "MAC not checked" in note


def test_decode_malformed(app, tmp_path):
    (tmp_path / "m.hex").write_text(CCS01["message_hex"][:-10])
    result = run(app, "gbcs", "decode", tmp_path / "m.hex", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["reason"] == "malformed"
    (tmp_path / "junk").write_text("not a message!")
    result = run(app, "gbcs", "decode", tmp_path / "junk")
    assert result.exit_code == 1 and "neither hex nor valid Base64" in result.output


def test_decode_human_and_duis_xml(app, tmp_path):
    (tmp_path / "r.xml").write_bytes(duis_response_xml(BundleEntry(bytes.fromhex(CCS01["message_hex"]), 2)))
    result = run(app, "gbcs", "decode", tmp_path / "r.xml")
    assert result.exit_code == 0, result.output
    for text in ("CCS01 Add Device to CHF Device Log", "90B3D51F30000002", "00DB1234567890A0", "ESME",
                 "ASCII '0123456789ABCDEF'", "7C0607034DC39F5F32153966", "not checked"):
        assert text in result.output


def test_keystore_and_bundle_commands(app, tmp_path):
    keys = tmp_path / "keys"
    result = run(app, "gbcs", "keystore", keys, "--ppmid", PPMID)
    assert result.exit_code == 0, result.output
    assert (keys / f"{PPMID}.ka.key.pem").exists() and (keys / f"{PPMID}.ds.pub.pem").exists()
    assert "ppmid" in result.output and "acb" in result.output
    assert run(app, "gbcs", "keystore", keys).exit_code == 1  # refuses to overwrite

    out, duis = tmp_path / "bundle.json", tmp_path / "duis"
    result = run(app, "gbcs", "bundle", "generate", out, "--keys", keys, "--ppmid", PPMID,
                 "--install-code", INSTALL_CODE.hex(), "--duis-dir", duis)
    assert result.exit_code == 0, result.output
    commands = json.loads(out.read_text())["commands"]
    assert [c["use_case"] for c in commands] == ["CCS01", "CS03A1", "CS03C", "CS03A1"]   # the last: the GSME's
    assert [c["recipient"] for c in commands][1::2] == [DEFAULT_IDS[Role.ESME], DEFAULT_IDS[Role.GSME]]
    xml_files = sorted(duis.iterdir())
    assert [p.name for p in xml_files] == ["01_CCS01_CV2_DUIS.XML", "02_CS03A1_CV6_DUIS.XML",
                                           "03_CS03C_CV2_DUIS.XML", "04_CS03A1_CV6_DUIS.XML"]
    no_gas = tmp_path / "no-gas.json"
    result = run(app, "gbcs", "bundle", "generate", no_gas, "--keys", keys, "--ppmid", PPMID,
                 "--install-code", INSTALL_CODE.hex(), "--no-gas")
    assert result.exit_code == 0, result.output
    assert [c["use_case"] for c in json.loads(no_gas.read_text())["commands"]] == ["CCS01", "CS03A1", "CS03C"]

    imported = tmp_path / "imported.json"
    result = run(app, "gbcs", "bundle", "import", imported, *xml_files[1:], xml_files[0])  # CCS01 goes first
    assert result.exit_code == 0, result.output
    assert ([c["gbcs"] for c in json.loads(imported.read_text())["commands"]]
            == [c["gbcs"] for c in json.loads(out.read_text())["commands"]])
    assert "CS03A1" in run(app, "gbcs", "bundle", "show", imported).output

    result = run(app, "gbcs", "bundle", "import", imported, xml_files[0], "--cv", "1")
    assert result.exit_code == 1 and "Command Variant 1" in result.output

    first = base64.b64decode(json.loads(out.read_text())["commands"][0]["gbcs"])
    (tmp_path / "c.b64").write_bytes(base64.b64encode(first))
    result = run(app, "gbcs", "decode", tmp_path / "c.b64", "--keys", keys, "--json")
    d = json.loads(result.output)
    assert d["mac_valid"] is True and d["recipient_role"] == "chf" and d["payload"]["device_type"] == "PPMID"


def test_decode_signed_command_with_generated_store(app, tmp_path, store, builder):
    cs03a1 = builder.join("CS03A1", store.one(Role.ESME), PPMID, DeviceType.PPMID)
    (tmp_path / "c.bin").write_bytes(cs03a1.to_bytes())
    d = json.loads(run(app, "gbcs", "decode", tmp_path / "c.bin", "--keys", store.path, "--json").output)
    assert d["signature_valid"] is True and d["mac_valid"] is True and d["critical"] is True


@pytest.mark.parametrize(("code", "exit_code", "text"), [
    ("83FED3407A939723A5C639B26916D505C3B5", 0, "66B6900981E1EE3CA4206B6B861C02BB"),
    ("83:FE:D3:40:7A:93:97:23:A5:C6:39:B2:69:16:D5:05:C3:B5", 0, "66B6900981E1EE3CA4206B6B861C02BB"),
    ("83FED3407A939723A5C639B26916D505B5C3", 2, "bad CRC"),
    ("83FED3407A939723A5C639B26916D505", 2, "bad length"),
    ("xyz", 2, "'x' at character 1 is not a hex digit"),
    ("83FED3407A939723A5C639B26916D505C3B", 2, "odd number of hex digits (35)"),
])
def test_install_code(app, code, exit_code, text):
    result = run(app, "install-code", code)
    assert result.exit_code == exit_code
    assert text in result.output
