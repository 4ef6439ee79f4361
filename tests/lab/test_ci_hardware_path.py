"""The whole hardware path, as CI proves it without radios (issue 16): dongles served over TCP by
`rig sim up` in another process (as ser2net serves real ones), new and unprovisioned; an inventory naming
their tcp:// URLs; `rig provision INVENTORY --burn`; then `pytest --rig=INVENTORY -m hardware` on a small
real subset (a scenario, a matrix row, a role test, the role fixtures and an attack) in a subprocess —
green, with tests collected and none skipped.  Real dongles keep real pace (no discrete-event time, a real
NCP's CBKE delays), so the subset is short."""

from __future__ import annotations

from benches import PPMID_A, PPMID_B, bench_pytest, rig, sim_up

SUBSET = [
    "tests/scenarios/test_secmp0037_scenarios.py::test_both_policies_pair_fully_inside_the_first_hour[0-secmp0037]",
    "tests/scenarios/test_secmp0037_scenarios.py::test_gbcs_refuses_after_60_minutes_with_named_reason_and_log_unchanged",
    "tests/roles/test_interpan_negatives.py::test_altered_ccs01_refused_bad_mac",
    "tests/plugin/test_role_fixtures.py::test_hht_fixture_is_refused_after_the_window_closes",
    "tests/attacks/test_attack_catalogue.py::test_attack_is_held[interpan.plaintext_other_cluster-secmp0037]",
]


def test_sim_up_dongles_provisioned_and_the_hardware_subset_green_on_their_inventory(tmp_path):
    with sim_up("--dongles", "ch,esme,ppmid,attacker", "--state-dir", str(tmp_path / "state"), lines=4) as urls:
        assert set(urls) == {"ch", "esme", "ppmid", "attacker"}, urls
        lab = tmp_path / "lab.yaml"
        lab.write_text(f"""\
dongles:
  ch-dongle: {{port: "{urls['ch']}", role: ch}}
  esme-dongle: {{port: "{urls['esme']}", role: esme}}
  ppmid-dongle: {{port: "{urls['ppmid']}", role: ppmid, eui64s: ["{PPMID_A}", "{PPMID_B}"]}}
  attacker-dongle: {{port: "{urls['attacker']}", role: attacker}}
roles: [ch, esme, ppmid]
""")
        provisioned = rig("provision", str(lab), "--burn", "--yes", timeout=300)
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        assert "4 dongle(s) provisioned, 0 failed" in provisioned.stdout
        assert provisioned.stdout.count("CBKE certificate for") == 4          # they were new

        run, tail = bench_pytest(lab, SUBSET, tmp_path / "artifacts", timeout=900)
        assert run.returncode == 0, tail
        assert f"rig: inventory {lab}" in run.stdout, tail
        assert f"{len(SUBSET)} passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1], tail
