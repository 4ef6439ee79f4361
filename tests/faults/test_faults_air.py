"""A full SECMP0037 pairing on a faulty virtual air (issue #12 item 7): 20 % frame loss, 20 % corruption
and 20 % reordering, each alone and all together, on several air seeds.

The faults apply to every receiver and every frame (acks too) from the CH's power-on to the end of the
HHT's residency.  Whatever a seed does, the pairing completes (every check of the scenario passing) or
ends with one named reason; the CH's device log is whole, holds only the premises' devices, each once
with its own key; and nothing hangs (the run is bounded in virtual time).  Which seeds pair is printed,
not asserted: it is the air's dice, and the first seeds are pinned only to pair at least once per fault.
"""

from __future__ import annotations

import pytest
from fault_helpers import check_ch_state, check_outcome, pairing_under, scaled

from firmware_shims.air import Faults

pytestmark = pytest.mark.sim_only

FAULTS = {
    "loss": Faults(loss=0.2),
    "corruption": Faults(corruption=0.2),
    "reorder": Faults(reorder=0.2),
    "combined": Faults(loss=0.2, corruption=0.2, reorder=0.2),
}


async def faulty_pairing(tmp_path, kind: str, seed: int):
    def setup(premises):
        premises.air.faults = FAULTS[kind]

    result, premises = await pairing_under(tmp_path / f"{kind}-{seed}", seed=seed, setup=setup)
    check_outcome(result)
    check_ch_state(result, premises)
    stats = premises.air.stats
    print(f"{kind} seed {seed}: {result.outcome} {result.reason or ''} (lost {stats.lost}, corrupted "
          f"{stats.corrupted}, reordered {stats.reordered} of {stats.transmissions} transmissions)")
    return result, stats


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(FAULTS))
async def test_pairing_on_a_faulty_air_completes_or_ends_with_a_named_reason_and_the_log_stays_whole(tmp_path, kind):
    runs = [await faulty_pairing(tmp_path, kind, seed) for seed in range(1, scaled(2, 25) + 1)]
    print(f"{kind}: {[result.outcome for result, _stats in runs]}")
    # the fault happened (over the seeds: a run that ends early, e.g. ch_not_found after some 50
    # transmissions, may see no reordering, which needs a second frame within the hold time)
    if kind in ("loss", "combined"):
        assert sum(stats.lost for _r, stats in runs) > 0
    if kind in ("corruption", "combined"):
        assert sum(stats.corrupted for _r, stats in runs) > 0
    if kind in ("reorder", "combined"):
        assert sum(stats.reordered for _r, stats in runs) > 0
