"""Every attack of the catalogue against our CH program, on every policy it applies to, through the
plugin's ``premises`` fixture (so ``--rig`` runs it on real dongles like the rest of the suite): each must
be *held* with one of its expected reasons.

``KNOWN_BREACHES`` lists what this branch's CH program and emulated NCP do not hold yet; each is a
strict xfail naming the breach and the item of issue 12 that fixes it, so the suite stays green and
flips loudly when the fix lands.
"""

from __future__ import annotations

import pytest

from rig.attacks import load
from rig.attacks.runner import run_attack

CATALOGUE = load()

KNOWN_BREACHES = {
}


# Attacks too slow for `make test` (only `make test-slow`).  Empty since CBKE's maths moved to libcrypto:
# the 1000-request flood, the slowest, takes 1.4-1.6 s a policy.
SLOW: set[str] = set()


def cases():
    for attack in CATALOGUE.values():
        for policy in attack.policies:
            why = KNOWN_BREACHES.get(attack.name)
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            marks += [pytest.mark.slow] if attack.name in SLOW else []
            yield pytest.param(attack.name, policy, id=f"{attack.name}-{policy}", marks=marks)


def test_known_breaches_name_real_attacks():
    assert set(KNOWN_BREACHES) <= set(CATALOGUE)


@pytest.mark.hardware
@pytest.mark.over_the_air
@pytest.mark.parametrize(("name", "policy"), list(cases()))
async def test_attack_is_held(name, policy, premises):
    attack = CATALOGUE[name]
    result = await run_attack(attack, premises, policy)
    if result.outcome == "skipped":
        pytest.skip(f"{name}: {result.reason}")
    detail = f"{result.reason}; observed: {result.observed}; state changes: {result.state_changes}"
    assert result.outcome == "held", detail
    if result.reason_expected is not None:          # the CH is ours: its reason must be one the attack expects
        assert result.reason_expected, f"held, but the CH's reason {result.ch_reason!r} is not one of {attack.expect}"
    assert result.state_unchanged in (True, None), detail
