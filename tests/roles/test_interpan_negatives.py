"""The CH refuses a replayed, altered, wrongly addressed or foreign CCS01 over inter-PAN, and plaintext
inter-PAN outside the allow-list, each with its reason; the device log and the GBCS counters do not
change (a foreign CCS01 passed the GBCS checks, so its counter is used up)."""

from __future__ import annotations

import asyncio

import pytest
from ch_state import ch_state

from rig import pairing
from rig.gbcs import Builder, Role
from rig.premises import sim_premises
from rig.roles.ezsp_role import RoleError
from rig.roles.hht import Hht


async def refused_with(premises, events, ch, ezsp, ccs01: bytes) -> str:
    """Run an HHT with ``ccs01`` until the CH refuses; return the CH's reason.  Neither the device log nor
    the GBCS counters change (counters move only on acceptance), in memory or on disk."""
    ids = premises.ids
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    before = ch_state(ch)
    hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    task = asyncio.ensure_future(hht.power_on(ids.gpf))
    try:
        event = await premises.clock.wait_for(refused, 20, "the CH's refusal")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        hht.role.detach()
    assert ch_state(ch) == before                        # log and counter stores, memory and files
    return event.result


@pytest.mark.hardware
async def test_altered_ccs01_refused_bad_mac(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    ccs01 = bytearray(Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes())
    ccs01[-1] ^= 0x01
    assert await refused_with(premises, events, ch, ezsp, bytes(ccs01)) == "gbcs_rejected:bad_mac"


@pytest.mark.hardware
async def test_wrongly_addressed_ccs01_refused(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    ccs01 = Builder(ids.keys).ccs01(ids.gpf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    assert await refused_with(premises, events, ch, ezsp, ccs01) == "gbcs_rejected:wrong_recipient"


@pytest.mark.hardware
async def test_ccs01_for_another_device_refused(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    message = Builder(ids.keys).ccs01(ids.chf, ids.ppmid, Role.HHT, ids.install_codes[ids.ppmid])
    # authenticated, but refused: its counter is not used up, so the sender's next valid command still counts
    assert await refused_with(premises, events, ch, ezsp, message.to_bytes()) == "ccs01_not_for_sender"


@pytest.mark.hardware
async def test_hht_ccs01_claiming_to_be_an_esme_refused(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.ESME, ids.install_codes[ids.hht]).to_bytes()
    assert await refused_with(premises, events, ch, ezsp, ccs01) == "interpan_device_type_not_hht"


@pytest.mark.hardware
async def test_ccs02_over_interpan_refused_and_the_esme_stays(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    dcc = Builder(ids.keys)
    assert await ch.add_from_wan(dcc.ccs01(ids.chf, ids.esme, Role.ESME, ids.install_codes[ids.esme]).to_bytes()) is None
    ccs02 = dcc.ccs02(ids.chf, ids.esme).to_bytes()
    assert await refused_with(premises, events, ch, ezsp, ccs02) == "interpan_command_not_allowed"
    assert ids.esme in ch.core.log


@pytest.mark.hardware
async def test_replayed_ccs01_refused_counter_not_newer(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    first = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    await first.power_on(ids.gpf)
    await first.leave()
    first.role.detach()
    assert await refused_with(premises, events, ch, ezsp, ccs01) == "gbcs_rejected:counter_not_newer"


@pytest.mark.hardware
async def test_plaintext_interpan_outside_allow_list_refused(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=b"")
    await hht.role.read_eui64()
    await hht.find_ch(ids.gpf)
    await ezsp.setRadioChannel(channel=int(hht.network.channel))
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    zcl = hht.role.zcl(pairing.CMD_TRANSFER_DATA_C2S, b"\x00\x00\xdd\x00", direction=0)
    before = ch_state(ch)
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    assert await hht.role.send_interpan(ids.gpf, int(hht.network.panId), pairing.TUNNEL_CLUSTER, zcl)
    event = await premises.clock.wait_for(refused, 5, "the CH's refusal")
    assert (event.result, event.peer) == ("not_allow_listed", hht.role.eui64)
    assert [r.reason for r in ch.refusals] == ["not_allow_listed"] and ch.core.sessions == {}
    assert ch_state(ch) == before


async def test_gbcs_window_closed_frames_never_reach_the_ch_host(tmp_path):
    premises = await sim_premises(tmp_path)
    events = premises.events
    ch = premises.ch("gbcs", state_dir=tmp_path / "ch")
    ezsp = None
    try:
        await ch.power_on()
        seen = []
        ch.role.on("macFilterMatchMessageHandler", lambda *a: seen.append(a))
        await premises.clock.advance(pairing.INTERPAN_WINDOW_S + 1)
        before = ch_state(ch)
        ids = premises.ids
        ezsp = await premises.open("ppmid")
        ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
        hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01,
                  attempts=1)              # nothing reaches the host whatever the retries: one attempt shows it
        with pytest.raises(RoleError) as err:
            await hht.power_on(ids.gpf)
        assert err.value.reason == "no_answer_from_ch"
        assert seen == [] and ids.hht not in ch.core.log
        assert ch_state(ch) == before
    finally:
        if ezsp is not None:
            await ezsp.disconnect()
        await ch.power_off()
        await premises.close()
