"""An HHT that stays on the SM HAN is sent away (ZDO Mgmt_Leave_req) when its residency ends: after 18 h,
or at the next CH power-on, whichever comes first; a device no longer in the log gets no tunnel."""

from __future__ import annotations

import asyncio

import bellows.types as t
import pytest

from rig import pairing
from rig.events import EventLog
from rig.gbcs import Builder, Role
from rig.roles.ch.shim import ChShim
from rig.roles.hht import Hht
from rig.scenarios.bench import SimBench
from rig.transport import open_ezsp


@pytest.fixture
async def paired(tmp_path):
    bench = await SimBench(tmp_path).setup()
    ids = bench.ids
    events = EventLog(bench.clock)
    ch = ChShim(bench.url("ch"), clock=bench.clock, events=events, policy="secmp0037", keys=ids.keys,
                state_dir=tmp_path / "ch")
    await ch.power_on()
    ezsp = await open_ezsp(bench.url("ppmid"))
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    hht = Hht(ezsp, bench.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    await hht.power_on(ids.gpf)
    down = asyncio.get_running_loop().create_future()
    hht.role.on("stackStatusHandler", lambda status, *_: t.sl_Status.from_ember_status(status)
                == t.sl_Status.NETWORK_DOWN and not down.done() and down.set_result(True))
    yield bench, events, ch, hht, down
    await ezsp.disconnect()
    await ch.power_off()
    await bench.close()


async def test_hht_sent_off_the_han_after_18_hours(paired):
    bench, events, ch, _hht, down = paired
    await bench.clock.advance(pairing.HHT_RESIDENCY_S - 60)
    assert not down.done() and bench.ids.hht in ch.core.log
    await bench.clock.advance(61)
    assert await bench.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert bench.ids.hht not in ch.core.log
    assert [e.result for e in events.named("ch.leave_requested")] == ["ok"]


async def test_hht_sent_off_the_han_at_next_ch_power_on(paired):
    bench, events, ch, _hht, down = paired
    await bench.clock.advance(3600)
    await bench.power_cycle("ch")
    await ch.power_off()
    await ch.power_on()
    assert await bench.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert bench.ids.hht not in ch.core.log
    assert [e.result for e in events.named("ch.device_log_removed")] == ["ch_power_on"]


async def test_tunnel_refused_once_the_device_is_out_of_the_log(paired):
    bench, events, ch, hht, _down = paired
    ch.core.log.remove(bench.ids.hht)
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    task = asyncio.ensure_future(hht.open_tunnel())
    event = await bench.clock.wait_for(refused, 5, "the CH refusing the tunnel")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert event.result == "not_in_device_log" and event.peer == bench.ids.hht


async def test_hht_own_ccs01_through_its_tunnel_refused_so_it_still_leaves_after_18_hours(paired):
    bench, events, ch, hht, down = paired
    ids = bench.ids
    expiry = ch.core.log.get(ids.hht).hht_expiry
    before = ch.core.log.snapshot(), dict(ch.core.counters.counters)
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    own = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    task = asyncio.ensure_future(hht.send_gbcs(own))
    event = await bench.clock.wait_for(refused, 5, "the CH refusing the HHT's own CCS01 in the tunnel")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert event.result == "ccs01_names_sender" and event.peer == ids.hht
    assert (ch.core.log.snapshot(), dict(ch.core.counters.counters)) == before
    assert ch.core.log.get(ids.hht).hht_expiry == expiry
    await bench.clock.advance(pairing.HHT_RESIDENCY_S)
    assert await bench.clock.wait_for(down, 5, "the HHT leaving the HAN")
    assert ids.hht not in ch.core.log
