"""The CH refuses a replayed, altered, wrongly addressed or foreign CCS01 over inter-PAN, and plaintext
inter-PAN outside the allow-list, each with its reason; the device log does not change."""

from __future__ import annotations

import asyncio

import pytest

from rig import pairing
from rig.events import EventLog
from rig.gbcs import Builder, Role
from rig.roles.ch.shim import ChShim
from rig.roles.ezsp_role import RoleError
from rig.roles.hht import Hht
from rig.scenarios.bench import SimBench
from rig.transport import open_ezsp


@pytest.fixture
async def lab(tmp_path):
    bench = await SimBench(tmp_path).setup()
    events = EventLog(bench.clock)
    ch = ChShim(bench.url("ch"), clock=bench.clock, events=events, policy="secmp0037", keys=bench.ids.keys,
                state_dir=tmp_path / "ch")
    await ch.power_on()
    ezsp = await open_ezsp(bench.url("ppmid"))
    yield bench, events, ch, ezsp
    await ezsp.disconnect()
    await ch.power_off()
    await bench.close()


async def refused_with(bench, events, ch, ezsp, ccs01: bytes) -> str:
    """Run an HHT with ``ccs01`` until the CH refuses; return the CH's reason."""
    ids = bench.ids
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    before = ch.core.log.snapshot(), dict(ch.core.counters.counters)
    hht = Hht(ezsp, bench.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    task = asyncio.ensure_future(hht.power_on(ids.gpf))
    try:
        event = await bench.clock.wait_for(refused, 20, "the CH's refusal")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        hht.role.detach()
    assert (ch.core.log.snapshot(), dict(ch.core.counters.counters)) == before
    return event.result


async def test_altered_ccs01_refused_bad_mac(lab):
    bench, events, ch, ezsp = lab
    ids = bench.ids
    ccs01 = bytearray(Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes())
    ccs01[-1] ^= 0x01
    assert await refused_with(bench, events, ch, ezsp, bytes(ccs01)) == "gbcs_rejected:bad_mac"


async def test_wrongly_addressed_ccs01_refused(lab):
    bench, events, ch, ezsp = lab
    ids = bench.ids
    ccs01 = Builder(ids.keys).ccs01(ids.gpf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    assert await refused_with(bench, events, ch, ezsp, ccs01) == "gbcs_rejected:wrong_recipient"


async def test_ccs01_for_another_device_refused(lab):
    bench, events, ch, ezsp = lab
    ids = bench.ids
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.ppmid, Role.HHT, ids.install_codes[ids.ppmid]).to_bytes()
    assert await refused_with(bench, events, ch, ezsp, ccs01) == "ccs01_not_for_sender"


async def test_hht_ccs01_claiming_to_be_an_esme_refused(lab):
    bench, events, ch, ezsp = lab
    ids = bench.ids
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.ESME, ids.install_codes[ids.hht]).to_bytes()
    assert await refused_with(bench, events, ch, ezsp, ccs01) == "interpan_device_type_not_hht"


async def test_ccs02_over_interpan_refused_and_the_esme_stays(lab):
    bench, events, ch, ezsp = lab
    ids = bench.ids
    dcc = Builder(ids.keys)
    assert await ch.add_from_wan(dcc.ccs01(ids.chf, ids.esme, Role.ESME, ids.install_codes[ids.esme]).to_bytes()) is None
    ccs02 = dcc.ccs02(ids.chf, ids.esme).to_bytes()
    assert await refused_with(bench, events, ch, ezsp, ccs02) == "interpan_command_not_allowed"
    assert ids.esme in ch.core.log


async def test_replayed_ccs01_refused_counter_not_newer(lab):
    bench, events, ch, ezsp = lab
    ids = bench.ids
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    first = Hht(ezsp, bench.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    await first.power_on(ids.gpf)
    await first.leave()
    first.role.detach()
    assert await refused_with(bench, events, ch, ezsp, ccs01) == "gbcs_rejected:counter_not_newer"


async def test_plaintext_interpan_outside_allow_list_refused(lab):
    bench, events, ch, ezsp = lab
    ids = bench.ids
    hht = Hht(ezsp, bench.clock, events, install_code=ids.install_codes[ids.hht], ccs01=b"")
    await hht.role.read_eui64()
    await hht.find_ch(ids.gpf)
    await ezsp.setRadioChannel(channel=int(hht.network.channel))
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    zcl = hht.role.zcl(pairing.CMD_TRANSFER_DATA_C2S, b"\x00\x00\xdd\x00", direction=0)
    assert await hht.role.send_interpan(ids.gpf, int(hht.network.panId), pairing.TUNNEL_CLUSTER, zcl)
    event = await bench.clock.wait_for(refused, 5, "the CH's refusal")
    assert (event.result, event.peer) == ("not_allow_listed", hht.role.eui64)
    assert [r.reason for r in ch.refusals] == ["not_allow_listed"] and ch.core.sessions == {}


async def test_gbcs_window_closed_frames_never_reach_the_ch_host(tmp_path):
    bench = await SimBench(tmp_path).setup()
    events = EventLog(bench.clock)
    ch = ChShim(bench.url("ch"), clock=bench.clock, events=events, policy="gbcs", keys=bench.ids.keys,
                state_dir=tmp_path / "ch")
    ezsp = None
    try:
        await ch.power_on()
        seen = []
        ch.role.on("macFilterMatchMessageHandler", lambda *a: seen.append(a))
        await bench.clock.advance(pairing.INTERPAN_WINDOW_S + 1)
        ids = bench.ids
        ezsp = await open_ezsp(bench.url("ppmid"))
        ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
        hht = Hht(ezsp, bench.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
        with pytest.raises(RoleError) as err:
            await hht.power_on(ids.gpf)
        assert err.value.reason == "no_answer_from_ch"
        assert seen == [] and ids.hht not in ch.core.log
    finally:
        if ezsp is not None:
            await ezsp.disconnect()
        await ch.power_off()
        await bench.close()
