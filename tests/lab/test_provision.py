"""`rig provision INVENTORY` against new (unprovisioned) emulated dongles on tcp://: install codes and CBKE
certificates into the dongles (write-once: only with --burn), identity B, the test CA, token files and the
GBCS key store beside the inventory; idempotent; one line per failing dongle; a premises builds on it."""

import json

import pytest
from typer.testing import CliRunner

from rig.cli import app

PPMID_A, PPMID_B = "00DB5A5A5A5A0A01", "00DB5A5A5A5A0B02"


def run(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def bench(dongles, tmp_path):
    new = {role: dongles.start(role) for role in ("ch", "esme", "ppmid", "hht")}
    assert not any(d.nv.state.cbke_283k1 or d.nv.state.install_code for d in new.values())
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"""\
dongles:
  ch-dongle: {{port: "{new['ch'].url}", role: ch}}
  esme-dongle: {{port: "{new['esme'].url}", role: esme}}
  ppmid-dongle: {{port: "{new['ppmid'].url}", role: ppmid, eui64s: ["{PPMID_A}", "{PPMID_B}"]}}
  hht-dongle: {{port: "{new['hht'].url}", role: hht}}
""")
    return new, lab


def test_provision_writes_nothing_without_burn_and_says_so_per_dongle(bench):
    new, lab = bench
    res = run("provision", lab)
    assert res.exit_code == 1
    for name in ("ch", "esme", "ppmid", "hht"):
        assert (f"FAILED dongle {name}-dongle (role {name}) at {new[name].url}: MFG_INSTALLATION_CODE is erased and "
                "write-once; pass --burn to write one") in res.output
    assert "0 dongle(s) provisioned, 4 failed" in res.output
    assert not any(d.nv.state.cbke_283k1 or d.nv.state.install_code for d in new.values())


def test_provision_gives_every_dongle_its_tokens_and_writes_the_host_side_beside_the_inventory(bench, dongles):
    new, lab = bench
    declined = run("provision", lab, "--burn", input="n\n")
    assert declined.exit_code == 1 and "nothing written" in declined.output
    res = run("provision", lab, "--burn", "--yes")
    assert res.exit_code == 0, res.output
    assert "4 dongle(s) provisioned, 0 failed" in res.output
    folder = lab.with_name("lab.provisioned")
    for role, dongle in new.items():
        state = dongle.nv.state
        assert state.install_code and state.cbke_283k1, role
        assert json.loads((folder / "tokens" / f"{role}-dongle.json").read_text())["certificate"] == \
            state.cbke_283k1["certificate"]
    # the PPMID's label names A: the certificate burnt it into MFG_CUSTOM_EUI_64 and the dongle uses it
    assert new["ppmid"].nv.state.mfg_custom_eui64 == PPMID_A and new["ppmid"].nv.state.effective_eui64() == PPMID_A
    assert f"ppmid-dongle (ppmid, {PPMID_A}): install code written; CBKE certificate for {PPMID_A} installed; " \
           f"uses {PPMID_A} from now on (MFG_CUSTOM_EUI_64)" in res.output
    labels = json.loads((folder / "labels.json").read_text())
    assert labels["ppmid"]["eui64s"] == [PPMID_A, PPMID_B] and len(bytes.fromhex(
        labels["ppmid"]["install_codes"][PPMID_B])) == 16
    assert json.loads((folder / labels["ppmid"]["cbke_tokens"][PPMID_B]).read_text())["subject"] == PPMID_B
    assert labels["ch"]["eui64s"] == [new["ch"].nv.state.effective_eui64()]
    roles = json.loads((folder / "keys" / "roles.json").read_text())["roles"]
    assert {new["ch"].nv.state.effective_eui64(), new["esme"].nv.state.effective_eui64(), PPMID_A, PPMID_B} <= \
        set(roles)

    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    tokens = {role: dict(d.nv.state.cbke_283k1) for role, d in new.items()}
    again = run("provision", lab, "--burn", "--yes")                      # idempotent
    assert again.exit_code == 0, again.output
    assert again.output.count("install code kept; CBKE certificate kept") == 4
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert {role: d.nv.state.cbke_283k1 for role, d in new.items()} == tokens


def test_a_premises_builds_on_the_provisioned_bench(bench, tmp_path):
    import asyncio

    from rig.backend import InventoryBackend
    from rig.premises import Premises

    new, lab = bench
    assert run("provision", lab, "--burn", "--yes").exit_code == 0
    backend = InventoryBackend.from_file(lab)
    assert backend.keys_dir() == lab.with_name("lab.provisioned") / "keys"
    premises = Premises(backend, tmp_path / "work")
    ids = asyncio.run(build(premises))
    assert (ids.gpf, ids.esme, ids.hht, ids.ppmid) == (new["ch"].nv.state.effective_eui64(),
                                                       new["esme"].nv.state.effective_eui64(), PPMID_A, PPMID_B)
    assert ids.install_codes[ids.esme] == bytes.fromhex(new["esme"].nv.state.install_code)[:-2]
    assert ids.host_credentials[PPMID_B]["subject"] == PPMID_B
    assert not (tmp_path / "work" / "keys").exists()                      # the bench's store is used


async def build(premises):
    try:
        await premises.setup()
        return premises.ids
    finally:
        await premises.close()


def test_a_dongle_that_does_not_answer_is_one_line_and_the_others_are_provisioned(bench, tmp_path):
    _new, lab = bench
    lab.write_text(lab.read_text() + '  attacker-dongle: {port: "tcp://127.0.0.1:9", role: attacker}\n')
    res = run("provision", lab, "--burn", "--yes", "--timeout", "1")
    assert res.exit_code == 1
    assert ("FAILED dongle attacker-dongle (role attacker) at tcp://127.0.0.1:9: NCP at tcp://127.0.0.1:9 did not "
            "answer within 1 s") in res.output
    assert "4 dongle(s) provisioned, 1 failed" in res.output and "Traceback" not in res.output


def test_a_bad_inventory_is_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("dongles:\n  ch: {port: /dev/ttyUSB0, role: coordinator}\n")
    res = run("provision", tmp_path / "bad.yaml")
    assert res.exit_code == 2 and "dongles.ch.role: 'coordinator' is not one of" in res.output
    assert len(res.output.strip().splitlines()) == 1
