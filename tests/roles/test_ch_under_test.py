"""A CH the rig does not run, judged over the air only (issue 16 item 3): the rig's CH program served as a
black box (``rig.ch_dut``, what ``rig sim up --ch-dut`` runs), an inventory whose ``external_ch:`` names it
(its PKI, its control line), the bench provisioned from that PKI, then the scenario, the matrix and the
attack catalogue against it.  In-process on one loop, so the CH's ECC delays cost no wall time here;
tests/lab/test_ch_dut_path.py runs the same path across processes at real pace."""

from __future__ import annotations

from dataclasses import replace

import pytest
from benches import PPMID_A, PPMID_B, external_ch_inventory

from rig.attacks import load
from rig.attacks.runner import run_attack
from rig.backend import InventoryBackend
from rig.ch_dut import ChDut
from rig.clock import RealClock
from rig.gbcs import Role
from rig.inventory import load_inventory
from rig.premises import Premises, PremisesError
from rig.provision import provision
from rig.roles.ch.external import ExternalChError
from rig.roles.ch.wan import WanClient
from rig.scenarios import matrix as mx
from rig.scenarios.secmp0037 import ScenarioError, run
from rig.sim import SimLab, new_air, tap_server


@pytest.fixture
async def bench(tmp_path):
    """A black-box CH (policy secmp0037) and the rig's dongles on one air, an inventory naming them with
    external_ch, provisioned; yields (inventory path, the ChDut)."""
    clock = RealClock()
    air = new_air(clock, seed=3)
    lab = SimLab(clock=clock, state_dir=tmp_path / "state", air=air)
    dut = ChDut(lab, policy="secmp0037", pki=tmp_path / "state" / "ch-pki", clock=clock, state_dir=tmp_path / "state")
    urls = await lab.start(["esme", "ppmid", "attacker"])
    control = await dut.start()
    tap = tap_server(air)
    sniffer = await tap.start("127.0.0.1")
    lab_yaml = tmp_path / "lab.yaml"
    lab_yaml.write_text(external_ch_inventory({**urls, "ch-dut": control, "sniffer": sniffer}, policy="secmp0037",
                                              pki="state/ch-pki"))
    done = await provision(load_inventory(lab_yaml), lab_yaml, burn=True, say=lambda _line: None)
    assert not done.failed, done.failed
    try:
        yield lab_yaml, dut
    finally:
        await tap.stop()
        await dut.stop()
        await lab.stop()
        air.close()


async def premises_on(lab_yaml, work, **changes) -> Premises:
    inventory = load_inventory(lab_yaml)
    if changes:
        inventory.external_ch = replace(inventory.external_ch, **changes)
    premises = Premises(InventoryBackend(inventory), work)
    await premises.setup()
    return premises


async def test_the_scenario_pairs_against_the_black_box_and_lists_what_it_could_not_see(bench, tmp_path):
    lab_yaml, dut = bench
    premises = await premises_on(lab_yaml, tmp_path / "p")
    try:
        assert premises.external is not None and not premises.ch_clock_jumps
        assert premises.ids.gpf == dut.ch.gpf_id            # the PKI's GPF = the CH's dongle = the HAN's EPID
        result = await run(premises, policy="secmp0037", ppmid_delay=0)
    finally:
        await premises.close()
    assert (result.outcome, result.reason) == ("paired", None)
    assert result.ch_external and result.checks and all(result.checks.values()), result.checks
    assert {"bundle_responses_success", "esme_accepts_ppmid", "ppmid_reads_esme_at_end"} <= set(result.checks)
    assert {"log_has_hht_and_ppmid", "gpf_accepts_ppmid", "ppmid_stays", "hht_removed_after_18h"} \
        <= set(result.not_checked)
    assert result.device_log_after == []                  # never read from the CH's insides
    # the black box did pair them: its own log (which the rig never read) holds HHT and PPMID
    assert {PPMID_A, PPMID_B} <= {e["eui64"] for e in dut.ch.log_snapshot()}


async def test_a_run_that_needs_the_chs_own_time_is_refused_without_real_time(bench, tmp_path):
    lab_yaml, _ = bench
    premises = await premises_on(lab_yaml, tmp_path / "p")
    try:
        with pytest.raises(ScenarioError, match="keeps its own time.*--real-time"):
            await run(premises, policy="secmp0037", ppmid_delay=3600)
        with pytest.raises(PremisesError, match="implements policy secmp0037"):
            premises.ch("gbcs")
    finally:
        await premises.close()


async def test_matrix_rows_run_only_where_the_ch_under_test_allows_and_say_why(bench, tmp_path):
    lab_yaml, _ = bench
    premises = await premises_on(lab_yaml, tmp_path / "p")
    try:
        rows = [await mx.run_row(row, premises=premises) for row in mx.rows()]
    finally:
        await premises.close()
    ran = [r for r in rows if not r.skipped]
    assert [(r.policy, r.delay, r.power_cycle_at) for r in ran] == [("secmp0037", 0, None)]
    assert ran[0].as_expected, ran[0].to_json()
    reasons = {r.skipped for r in rows if r.skipped}
    assert "the CH under test implements secmp0037" in reasons
    assert "the bench cannot power-cycle the CH under test (no external_ch.power)" in reasons
    assert all(r.to_json()["skipped"] for r in rows if r not in ran)


async def test_attacks_are_judged_over_the_air_and_those_needing_the_chs_clock_are_skipped(bench, tmp_path):
    lab_yaml, _ = bench
    catalogue = load()

    async def attack(name, policy="secmp0037"):          # each on a premises of its own, as `rig attack run`
        premises = await premises_on(lab_yaml, tmp_path / name)
        try:
            return await run_attack(catalogue[name], premises, policy)
        finally:
            await premises.close()
    held = await attack("interpan.plaintext_other_cluster")
    replay = await attack("gbcs.ccs01_replay_same_frames")
    clock = await attack("residency.removed_hht_rejoins_after_18h")
    other = await attack("window.new_hht_during_grace", "gbcs")
    for result in (held, replay):
        assert result.outcome == "held", result.to_json()
        assert result.state_unchanged is None and result.reason_expected is None     # nothing seen inside
    assert any("no answer" in line or "refused" in line for line in replay.observed), replay.observed
    assert clock.outcome == "skipped" and "CH's own time" in clock.reason
    assert other.outcome == "skipped" and other.reason == "the CH under test implements secmp0037"


async def test_the_wan_line_commissions_and_refuses_as_the_ch_does(bench, tmp_path):
    lab_yaml, dut = bench
    inventory = load_inventory(lab_yaml)
    wan = WanClient(inventory.external_ch.wan)
    assert await wan.send_gbcs(b"\x00" * 20) is not None                    # junk: refused with a reason
    premises = await premises_on(lab_yaml, tmp_path / "p")
    try:
        ids = premises.ids
        command = premises.builder.ccs01(ids.chf, ids.esme, Role.ESME, ids.install_codes[ids.esme]).to_bytes()
        assert await wan.send_gbcs(command) is None
        assert ids.esme in {e["eui64"] for e in dut.ch.log_snapshot()}
        assert await wan.send_gbcs(command) == "gbcs_rejected:counter_not_newer"     # the same again: a replay
    finally:
        await premises.close()


async def test_a_ch_that_is_not_on_the_air_is_named(bench, tmp_path):
    lab_yaml, _ = bench
    premises = await premises_on(lab_yaml, tmp_path / "p", gpf="00124B0001ABCDEF")
    try:
        with pytest.raises(ExternalChError, match="GPF 00124B0001ABCDEF.*not found"):
            await premises.ch("secmp0037").power_on()
    finally:
        await premises.close()
