"""An HHT that stays on the SM HAN is sent away (ZDO Mgmt_Leave_req) when its residency ends: after 18 h,
or at the next CH power-on, whichever comes first; a device no longer in the log gets no tunnel."""

from __future__ import annotations

import asyncio

import bellows.types as t
import pytest
from ch_state import ch_state

from rig import pairing
from rig.gbcs import Builder, Role
from rig.roles.hht import Hht

pytestmark = pytest.mark.hardware


@pytest.fixture
async def paired(premises, tmp_path):
    ids = premises.ids
    events = premises.events
    ch = premises.ch("secmp0037", state_dir=tmp_path / "ch")
    await ch.power_on()
    ezsp = await premises.open("ppmid")
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    await hht.power_on(ids.gpf)
    down = asyncio.get_running_loop().create_future()
    hht.role.on("stackStatusHandler", lambda status, *_: t.sl_Status.from_ember_status(status)
                == t.sl_Status.NETWORK_DOWN and not down.done() and down.set_result(True))
    yield premises, events, ch, hht, down
    await premises.disconnect(ezsp)
    await ch.power_off()


async def test_hht_sent_off_the_han_after_18_hours(paired):
    premises, events, ch, _hht, down = paired
    await premises.clock.advance(pairing.HHT_RESIDENCY_S - 60)
    assert not down.done() and premises.ids.hht in ch.core.log
    await premises.clock.advance(61)
    assert await premises.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert premises.ids.hht not in ch.core.log
    assert [e.result for e in events.named("ch.leave_requested")] == ["ok"]


async def test_hht_sent_off_the_han_at_next_ch_power_on(paired):
    premises, events, ch, _hht, down = paired
    await premises.clock.advance(3600)
    await premises.power_cycle("ch")
    await ch.power_off()
    await ch.power_on()
    assert await premises.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert premises.ids.hht not in ch.core.log
    assert [e.result for e in events.named("ch.device_log_removed")] == ["ch_power_on"]


async def test_tunnel_refused_once_the_device_is_out_of_the_log(paired):
    premises, events, ch, hht, _down = paired
    ch.core.log.remove(premises.ids.hht)
    before = ch_state(ch)
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    task = asyncio.ensure_future(hht.open_tunnel())
    event = await premises.clock.wait_for(refused, 5, "the CH refusing the tunnel")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert event.result == "not_in_device_log" and event.peer == premises.ids.hht
    assert ch_state(ch) == before                    # log and counter stores, memory and files


async def test_hht_own_ccs01_through_its_tunnel_refused_so_it_still_leaves_after_18_hours(paired):
    premises, events, ch, hht, down = paired
    ids = premises.ids
    expiry = ch.core.log.get(ids.hht).hht_expiry
    before = ch_state(ch)
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    own = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    task = asyncio.ensure_future(hht.send_gbcs(own))
    event = await premises.clock.wait_for(refused, 5, "the CH refusing the HHT's own CCS01 in the tunnel")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert event.result == "ccs01_names_sender" and event.peer == ids.hht
    assert ch_state(ch) == before                    # log and counter stores, memory and files
    assert ch.core.log.get(ids.hht).hht_expiry == expiry
    await premises.clock.advance(pairing.HHT_RESIDENCY_S)
    assert await premises.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert ids.hht not in ch.core.log


async def test_a_removed_hht_loses_its_keys_at_the_trust_centre_and_cannot_rejoin_with_them(paired):
    premises, events, ch, _hht, down = paired
    ids = premises.ids
    assert await ch.role.link_key_for(ids.hht) is not None          # its CBKE link key, from pairing
    erased = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.keys_erased" and not erased.done() and erased.set_result(e))
    await premises.clock.advance(pairing.HHT_RESIDENCY_S + 1)
    assert await premises.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert (await premises.clock.wait_for(erased, 5, "the CH erasing the HHT's keys")).peer == ids.hht
    assert await ch.role.link_key_for(ids.hht) is None


async def test_the_same_hht_pairs_again_after_its_residency_ends(paired):
    """After its 18 h the HHT is sent off; with a fresh CCS01 from the DCC it pairs again over inter-PAN,
    joins with its install-code key and opens a tunnel: frame counters and keys left from its first stay
    (its NCP's and the trust centre's) do not keep it out."""
    premises, events, ch, hht, down = paired
    ids = premises.ids
    await premises.clock.advance(pairing.HHT_RESIDENCY_S + 1)
    assert await premises.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert ids.hht not in ch.core.log
    hht.ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    await hht.interpan_pairing()
    await hht.join_han()
    entry = ch.core.log.get(ids.hht)
    assert entry is not None and entry.join_state == "joined" and entry.is_hht
    assert hht.tunnel_id is not None
    assert [e.peer for e in events.named("ch.device_joined")].count(ids.hht) == 2
