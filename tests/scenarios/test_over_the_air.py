"""The scenario and the matrix judged over the air only (``over_the_air``): the same tests run on emulation
(the rig's CH program), on a bench's dongles, and against an external CH (inventory ``external_ch``, a
device under test — ``rig sim up --ch-dut`` serves one in CI).  Against our CH every check is made;
against an external one, what only its insides could show is listed as not checked, never passed."""

from __future__ import annotations

import pytest

from rig.scenarios import matrix as mx
from rig.scenarios.secmp0037 import run

pytestmark = [pytest.mark.hardware, pytest.mark.over_the_air]

OVER_THE_AIR = {"bundle_responses_success", "esme_accepts_ppmid", "ppmid_reads_esme_at_end"}
INSIDE = {"log_has_hht_and_ppmid", "gpf_accepts_ppmid", "hht_removed_after_18h", "ppmid_stays"}


def policy_of(premises) -> str:
    return premises.external.policy if premises.external is not None else "secmp0037"


async def test_the_ppmid_pairs_and_reads_the_esme(premises):
    result = await run(premises, policy=policy_of(premises), ppmid_delay=0)
    assert (result.outcome, result.reason) == ("paired", None), result.steps
    assert all(result.checks.values()), result.checks
    assert OVER_THE_AIR <= set(result.checks)
    if premises.external is None:
        assert INSIDE <= set(result.checks) and not result.not_checked
    else:
        assert INSIDE <= set(result.not_checked) and not INSIDE & set(result.checks)


async def test_a_ch_power_cycle_after_pairing_keeps_the_ppmid_reading(premises):
    row = mx.Row(policy_of(premises), 0.0, mx.power_cycle_time(0.0), "paired", None)
    await mx.run_row(row, premises=premises)
    if row.skipped:                       # an external CH without power control, or without --real-time
        pytest.skip(f"not run against this CH: {row.skipped}")
    assert row.as_expected, row.to_json()
    assert row.result.checks["ppmid_reads_esme_after_ch_power_cycle"]
