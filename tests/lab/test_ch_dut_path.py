"""The external-CH path, as CI proves it without a real Communications Hub (issue 16 item 3): `rig sim up
--ch-dut secmp0037` puts a complete CH on the air as a black box, beside the rig's dongles, in another
process; an inventory says the CH is external (its PKI, its control line for the WAN and power, the
sniffer stream); `rig provision` issues the rig's certificates from the CH's CA; then
`pytest --rig=INVENTORY -m hardware` runs the over-the-air scenario and attacks against it at real pace —
green, with each test run or skipped for a reason it names (never "nothing collected")."""

from __future__ import annotations

import sys

from benches import bench_pytest, external_ch_inventory, rig, sim_up

SUBSET = [
    "tests/scenarios/test_over_the_air.py",
    "tests/attacks/test_attack_catalogue.py::test_attack_is_held[interpan.plaintext_other_cluster-secmp0037]",
    "tests/attacks/test_attack_catalogue.py::test_attack_is_held[gbcs.ccs01_replay_same_frames-secmp0037]",
    "tests/attacks/test_attack_catalogue.py::test_attack_is_held[residency.removed_hht_rejoins_after_power_on-secmp0037]",
    "tests/attacks/test_attack_catalogue.py::test_attack_is_held[window.new_hht_during_grace-gbcs]",
    "tests/roles/test_interpan_negatives.py::test_altered_ccs01_refused_bad_mac",
]


def test_a_black_box_ch_is_tested_over_the_air_by_the_bench_suite(tmp_path):
    with sim_up("--dongles", "esme,ppmid,attacker", "--state-dir", str(tmp_path / "state"), "--ch-dut", "secmp0037",
                lines=5) as urls:
        assert set(urls) == {"esme", "ppmid", "attacker", "ch-dut", "sniffer"}, urls
        lab = tmp_path / "lab.yaml"
        lab.write_text(external_ch_inventory(urls, policy="secmp0037", pki="state/ch-pki",
                                             power=f"{sys.executable} -m rig.cli sim power-cycle {urls['ch-dut']}"))
        provisioned = rig("provision", str(lab), "--burn", "--yes", timeout=300)
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        assert "3 dongle(s) provisioned, 0 failed" in provisioned.stdout
        assert "the CH's PKI and the rig's devices" in provisioned.stdout

        run, tail = bench_pytest(lab, SUBSET, tmp_path / "artifacts", timeout=1200)
        assert run.returncode == 0, tail
        # run against the black box: the pairing and three attacks (one power-cycling it through the
        # inventory's command); skipped with their reasons: the power cycle 30 minutes on (its own time),
        # the gbcs-only attack, and a test that reads our CH program's insides
        assert "4 passed, 3 skipped" in run.stdout.splitlines()[-1], tail
        assert "waits 30m of the CH's own time" in run.stdout, tail
        assert "the CH under test implements secmp0037" in run.stdout, tail
        assert "needs the rig's own CH program" in run.stdout, tail
        events = (tmp_path / "state" / "ch-dut-events.jsonl").read_text()
        assert '"ch.powered_on"' in events and events.count('"ch.powered_on"') >= 2     # it was power-cycled
