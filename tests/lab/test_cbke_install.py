"""`rig cbke install PORT FILE` against emulated dongles on tcp:// (the real transport): the EZSP path of
issue 13 — setValue of the 283k1 certificate / CA public key / private key, savePreinstalledCbkeData283k1 —
write-once, guarded by --burn, read back; and the emulator's answers it relies on."""

import pytest
from typer.testing import CliRunner

from rig.cbke.ca import TestCa
from rig.cbke.token import load_token
from rig.cli import app


def run(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def ca():
    return TestCa.create()


def token_file(tmp_path, ca, eui, name="token.json"):
    path = tmp_path / name
    ca.issue(bytes.fromhex(eui)).save(path)
    return path


def test_install_needs_burn_then_writes_once_and_reads_back(dongles, ca, tmp_path):
    dongle = dongles.start("ch", eui64="00124B0001C0FFEE")          # a new dongle: no certificate
    assert not dongle.nv.state.cbke_283k1
    mine = token_file(tmp_path, ca, "00124B0001C0FFEE")

    refused = run("cbke", "install", dongle.url, mine, "--yes")
    assert refused.exit_code == 1, refused.output
    assert "MFG_CBKE_283K1_DATA is write-once. Pass --burn to write it: that can NEVER be undone" in refused.output
    assert not dongle.nv.state.cbke_283k1                                  # nothing written
    declined = run("cbke", "install", dongle.url, mine, "--burn", input="n\n")
    assert declined.exit_code == 1 and "nothing written" in declined.output and not dongle.nv.state.cbke_283k1

    done = run("cbke", "install", dongle.url, mine, "--burn", input="y\n")
    assert done.exit_code == 0, done.output
    assert "installed and read back: certificate for 00124B0001C0FFEE" in done.output
    assert dongle.nv.state.cbke_283k1["certificate"] == load_token(mine).certificate.hex().upper()
    assert dongle.nv.state.mfg_custom_eui64 == "FFFFFFFFFFFFFFFF"         # same EUI: no side effect

    again = run("cbke", "install", dongle.url, mine, "--burn", "--yes")    # re-running provisioning is harmless
    assert again.exit_code == 0 and "already holds this certificate" in again.output
    other = run("cbke", "install", dongle.url, token_file(tmp_path, ca, "00124B0001C0FFEE", "b.json"), "--burn",
                "--yes")
    assert other.exit_code == 1
    assert "already holds another certificate (subject 00124B0001C0FFEE)" in other.output


def test_a_certificate_for_another_eui64_also_burns_the_custom_eui64_used_from_the_next_boot(dongles, ca, tmp_path):
    dongle = dongles.start("ppmid", eui64="00124B0001C0FFEE")
    path = token_file(tmp_path, ca, "00DB5A5A5A5A0A01")
    refused = run("cbke", "install", dongle.url, path, "--yes")
    assert refused.exit_code == 1
    assert "saving also burns 00DB5A5A5A5A0A01 into MFG_CUSTOM_EUI_64" in refused.output
    done = run("cbke", "install", dongle.url, path, "--burn", "--yes")
    assert done.exit_code == 0, done.output
    assert "custom EUI-64 00DB5A5A5A5A0A01 from the next boot" in done.output
    assert dongle.nv.state.mfg_custom_eui64 == "00DB5A5A5A5A0A01"
    dongles.power_cycle(dongle)
    assert dongle.nv.state.effective_eui64() == "00DB5A5A5A5A0A01"


def test_install_refuses_what_the_ncp_would_refuse_before_writing(dongles, ca, tmp_path):
    burnt = dongles.start("ch", eui64="00124B0001C0FFEE")
    burnt.nv.state.mfg_custom_eui64 = "00124B00000B0B02"          # the write-once token already used
    burnt.nv.save()
    res = run("cbke", "install", burnt.url, token_file(tmp_path, ca, "00DB5A5A5A5A0A01"), "--burn", "--yes")
    assert res.exit_code == 1 and "MFG_CUSTOM_EUI_64 is already burnt to 00124B00000B0B02" in res.output
    assert not burnt.nv.state.cbke_283k1

    stub = dongles.start("esme", cbke_library=False)
    res = run("cbke", "install", stub.url, token_file(tmp_path, ca, "00124B0001C0FFEE"), "--burn", "--yes")
    assert res.exit_code == 1 and "built without the CBKE 283k1 library" in res.output

    forged = TestCa.create().issue(bytes.fromhex("00124B0001C0FFEE"))
    forged = type(forged)(certificate=forged.certificate, ca_public_key=ca.public_key, private_key=forged.private_key,
                          flags=0)                                      # another CA's certificate, our CA's key
    forged.save(tmp_path / "forged.json")
    fresh = dongles.start("hht", eui64="00124B0001C0FFEE")
    res = run("cbke", "install", fresh.url, tmp_path / "forged.json", "--burn", "--yes")
    assert res.exit_code == 1 and "does not match the certificate and CA public key" in res.output
    assert not fresh.nv.state.cbke_283k1


@pytest.mark.parametrize(("args", "message"), [
    (["tcp://127.0.0.1:9", "missing.json"], "cannot read token file missing.json"),
    (["tcp:/nowhere", "t.json"], "PORT"),
])
def test_install_bad_input_is_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.json").write_text("{}")
    res = run("cbke", "install", *args)
    assert res.exit_code in (1, 2) and message in res.output and "Traceback" not in res.output


def test_install_names_a_port_that_does_not_answer(tmp_path, ca):
    res = run("cbke", "install", "tcp://127.0.0.1:9", token_file(tmp_path, ca, "00124B0001C0FFEE"), "--timeout", "1")
    assert res.exit_code == 2 and "error: NCP at tcp://127.0.0.1:9 did not answer within 1 s" in res.output
