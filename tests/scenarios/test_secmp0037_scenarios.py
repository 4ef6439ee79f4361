"""The SECMP0037 scenarios (issue 7's test list), on the plugin's ``premises`` (``hardware``: emulated
dongles by default, a bench's with ``--rig=lab.yaml``); the runs that pick an emulated firmware, transport
or capture are ``sim_only``.

Every run is a whole scenario: CH power-on, ESME commissioning, the dual-address PPMID's two phases,
then the HHT's 18-hour residency; virtual hours are RealClock jumps, so a run takes a few seconds.
"""

from __future__ import annotations

import re

import pytest
from scapy.utils import RawPcapReader

from rig.capture import KeyRing, summarize
from rig.premises import sim_premises
from rig.scenarios import matrix as mx
from rig.scenarios.secmp0037 import ScenarioError, parse_duration, run

PAIRED_CHECKS = {"bundle_responses_success", "log_has_hht_and_ppmid", "esme_accepts_ppmid", "gpf_accepts_ppmid",
                 "hht_removed_after_18h", "ppmid_stays", "ppmid_reads_esme_at_end"}
GAS_CHECKS = {"gsme_accepts_ppmid", "ppmid_reads_gas"}       # wherever the premises has a GSME (always emulated)


async def scenario(premises, policy, delay, power_cycle_at=None):
    return await run(premises, policy=policy, ppmid_delay=parse_duration(delay),
                     ch_power_cycle_at=None if power_cycle_at is None else parse_duration(power_cycle_at))


async def sim_scenario(tmp_path, policy, delay, **premises_kw):
    premises = await sim_premises(tmp_path / "premises", **premises_kw)
    try:
        return await scenario(premises, policy, delay)
    finally:
        await premises.close()


async def matrix_row(premises, policy: str, delay: str, *, power_cycle: bool, outcome: tuple[str, str | None]):
    """Run one row of the matrix ``make run`` runs (``rig.scenarios.matrix``), as that command does, and
    assert the scenario's outcome, the matrix's expectation and ``outcome`` (what SECMP0037 says) agree
    and that every check of the run passed."""
    (row,) = [r for r in mx.rows(policies=[policy], delays=[delay]) if (r.power_cycle_at is not None) == power_cycle]
    assert (row.expected_outcome, row.expected_reason) == outcome
    await mx.run_row(row, premises=premises)
    assert row.error is None, row.error
    assert (row.result.outcome, row.result.reason) == outcome, row.result.steps
    assert row.failed_checks == [] and row.as_expected, row.result.checks
    return row


def step_names(result, ok_only=True):
    return [s["name"] for s in result.steps if not ok_only or s["result"] == "ok"]


@pytest.mark.hardware
@pytest.mark.parametrize("policy", ["gbcs", "secmp0037"])
@pytest.mark.parametrize("delay", ["0", "59m59s"])
async def test_both_policies_pair_fully_inside_the_first_hour(premises, policy, delay):
    result = await scenario(premises, policy, delay)
    assert (result.outcome, result.reason) == ("paired", None), result.steps
    assert PAIRED_CHECKS <= set(result.checks) and all(result.checks.values()), result.checks
    assert GAS_CHECKS <= set(result.checks) or not premises.has_gsme()
    after = {e["eui64"]: e for e in result.device_log_after_pairing}
    assert after[result.identities["PPMID/A"]]["device_type"] == 6 and after[result.identities["PPMID/A"]]["hht_expiry"]
    assert after[result.identities["PPMID/B"]]["device_type"] == 5 and after[result.identities["PPMID/B"]]["join_state"] == "joined"
    names = step_names(result)
    for name in ("hht.cbke_interpan", "hht.ccs01_response", "hht.joined_han", "hht.cbke_han", "hht.tunnel",
                 "ppmid.identity_switched", "ppmid.joined_han", "ppmid.esme_read", "meter.partner_joined"):
        assert name in names


@pytest.mark.sim_only("emulated firmware of a chosen EZSP version")
@pytest.mark.parametrize("ezsp_version", [13, 19])     # v14, the default, runs in every other scenario test
async def test_the_scenario_pairs_on_every_ezsp_version(tmp_path, ezsp_version):
    result = await sim_scenario(tmp_path, "secmp0037", "0", ezsp_version=ezsp_version)
    assert (result.outcome, result.reason) == ("paired", None), result.steps
    assert PAIRED_CHECKS | GAS_CHECKS <= set(result.checks) and all(result.checks.values()), result.checks


# The matrix rows where the policy decides the outcome (60 minutes 1 second after the CH's power-on,
# with and without a CH power cycle 30 minutes before), run as ``make run`` runs them; ``make run``
# runs the whole matrix.


@pytest.mark.hardware
async def test_gbcs_refuses_after_60_minutes_with_named_reason_and_log_unchanged(premises):
    row = await matrix_row(premises, "gbcs", "60m1s", power_cycle=False, outcome=("refused", "interpan_window_closed"))
    result = row.result
    assert result.checks == {"device_log_unchanged": True}
    assert result.device_log_after_pairing == result.device_log_before
    closed = [s for s in result.steps if s["name"] == "ch.interpan_closed"]
    assert closed and closed[0]["time"] == pytest.approx(3600, abs=1)
    assert "ch.cbke_interpan" not in step_names(result, ok_only=False)    # no inter-PAN frame reached the CH host


@pytest.mark.hardware
async def test_secmp0037_pairs_at_60_minutes_1_second(premises):
    row = await matrix_row(premises, "secmp0037", "60m1s", power_cycle=False, outcome=("paired", None))
    assert PAIRED_CHECKS <= set(row.result.checks)


@pytest.mark.hardware
async def test_ch_power_cycle_reopens_the_gbcs_window(premises):
    row = await matrix_row(premises, "gbcs", "60m1s", power_cycle=True, outcome=("paired", None))
    assert row.power_cycle_at == parse_duration("30m1s")
    assert PAIRED_CHECKS <= set(row.result.checks)


@pytest.mark.hardware
async def test_hht_gone_at_next_ch_power_on_ppmid_stays_and_keeps_working(premises):
    result = await scenario(premises, "gbcs", "0", power_cycle_at="30m")
    assert result.outcome == "paired"
    assert result.checks["hht_removed_at_ch_power_on"]
    assert result.checks["ppmid_kept_after_ch_power_cycle"]
    assert result.checks["ppmid_reads_esme_after_ch_power_cycle"]
    assert "hht_removed_after_18h" not in result.checks          # already gone: power-on came first
    removed = [s for s in result.steps if s["name"] == "ch.device_log_removed"]
    assert [s["result"] for s in removed] == ["ch_power_on"]
    assert all(result.checks.values())


def test_bad_durations_are_named():
    with pytest.raises(ScenarioError, match="bad duration '5x'"):
        parse_duration("5x")
    assert parse_duration("59m59s") == 3599 and parse_duration("5d") == 432000 and parse_duration("90") == 90


@pytest.mark.sim_only("the emulated air's capture")
async def test_pcap_shows_interpan_exchange_both_joins_and_tunnelled_gbcs(tmp_path):
    pcap = tmp_path / "run.pcap"
    result = await sim_scenario(tmp_path, "secmp0037", "0", pcap=pcap)
    assert result.outcome == "paired"
    keys = KeyRing()
    for line in (tmp_path / "run.wireshark" / "zigbee_pc_keys").read_text().splitlines():
        keys.add(bytes.fromhex(line.split(",")[0].strip('"')))
    lines = [summarize(psdu, keys) for psdu, _meta in RawPcapReader(str(pcap))]
    a, b = (re.sub("(..)", r"\1:", result.identities[k].lower()).rstrip(":") for k in ("PPMID/A", "PPMID/B"))
    interpan = [s for src, dst, s in lines if "inter-PAN" in s]
    assert any("cluster=0x0800" in s for s in interpan)                   # CBKE over inter-PAN
    assert any("cluster=0x0704" in s and "APS sec" in s for s in interpan)  # CCS01, APS-secured
    assocs = [src for src, _dst, s in lines if s.lower().startswith("association request")]
    assert any(a in src for src in assocs) and any(b in src for src in assocs)   # both identities joined
    tunnel = [s for _src, _dst, s in lines if "cluster=0x0704" in s and "inter-PAN" not in s]
    assert len(tunnel) >= 6                                              # GBCS segments through the HAN tunnel
    assert any("APS sec" in s for s in tunnel)                           # APS-encrypted with the CBKE key


@pytest.mark.sim_only("emulated dongles served on ptys")
async def test_same_scenario_over_pty_transport(tmp_path):
    result = await sim_scenario(tmp_path, "gbcs", "59m59s", transport="pty")
    assert result.outcome == "paired" and all(result.checks.values())
