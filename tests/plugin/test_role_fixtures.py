"""The plugin's role fixtures: the same test code pairs a PPMID on emulated dongles (default) or on an
inventory's dongles (``--rig=lab.yaml``, ``-m hardware``); nothing here knows which."""

import pytest


@pytest.mark.hardware
@pytest.mark.rig_policy("gbcs")
async def test_ppmid_pairs_inside_the_window_with_the_fixtures(ch, esme, gpf, ppmid, premises, rig_events):
    ids = premises.ids
    assert ch.core.policy == "gbcs" and ch.core.interpan_open
    assert ids.esme in ch.core.log
    responses = await ppmid.phase1(ids.gpf)
    assert len(responses) == 3
    await ppmid.switch_identity()
    await ppmid.phase2()
    await ppmid.exchange_with_esme(ids.esme)
    assert ids.hht in ch.core.log and ids.ppmid in ch.core.log
    assert ids.ppmid in esme.core.partners and ids.ppmid in gpf.partners
    assert rig_events.named("hht.scan")
    # identity B ran CBKE with the CH with host-held credentials: both NCPs hold the same link key
    (cbke_b,) = rig_events.named("ppmid.cbke_han")
    assert cbke_b.result == "ok"
    key_at_ch = await ch.role.link_key_for(ids.ppmid)
    key_at_ppmid = await ppmid.role_b.link_key_for(ids.gpf)
    assert key_at_ch is not None and key_at_ch == key_at_ppmid


@pytest.mark.hardware
@pytest.mark.rig_policy("gbcs")
async def test_hht_fixture_is_refused_after_the_window_closes(ch, hht, premises):
    from rig.gbcs import CounterStore
    from rig.roles.ezsp_role import RoleError

    await premises.clock.advance(60 * 60 + 1)          # the jump costs no real time
    assert not ch.core.interpan_open
    log, counters = ch.core.log.snapshot(), (dict(ch.core.counters.counters), dict(ch.gpf.counters.counters))
    hht.attempts = 1                                   # unanswered whatever the retries: one attempt shows it
    with pytest.raises(RoleError) as err:
        await hht.power_on(premises.ids.gpf)
    # the CH closed inter-PAN reception with the window: the HHT's Key Establishment goes unanswered
    assert err.value.reason == "no_answer_from_ch"
    assert premises.ids.hht not in ch.core.log and ch.core.log.snapshot() == log
    assert (ch.core.counters.counters, ch.gpf.counters.counters) == counters
    for store in (ch.core.counters, ch.gpf.counters):      # and what is on disk is what is in memory
        assert not store.path.exists() or CounterStore.load(store.path).counters == store.counters


@pytest.mark.sim_only("the virtual air")
def test_air_fixture_is_the_virtual_medium_on_sim(air, rig_target):
    from firmware_shims.air import Air

    assert rig_target.kind == "sim" and isinstance(air, Air)
