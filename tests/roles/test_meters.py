"""ESME/GPF shims: CS03 joins validated by the GBCS layer, partners recorded, unjoined PPMID refused."""

from __future__ import annotations

import pytest
from roles_ids import INSTALL_CODE, PPMID_ID

from rig.clock import VirtualClock
from rig.events import EventLog
from rig.gbcs import Builder, CounterStore, Device, DeviceType, Message, Role, decode_payload
from rig.premises import sim_premises
from rig.roles.ch import ChCore, DeviceLog
from rig.roles.ezsp_role import RoleError
from rig.roles.meters import MeterCore
from rig.roles.ppmid import DualAddressPpmid


def esme_core(keys):
    return MeterCore("ESME", Device.from_store(keys, keys.one(Role.ESME)), CounterStore(), Builder(keys),
                     EventLog(VirtualClock()))


def test_cs03a1_join_recorded_and_answered(keys):
    core = esme_core(keys)
    command = Builder(keys).join("CS03A1", keys.one(Role.ESME), PPMID_ID, DeviceType.PPMID, critical=True)
    response, refusal = core.handle_command(command.to_bytes())
    assert refusal is None and core.partners == {PPMID_ID: DeviceType.PPMID}
    answer = Message.from_bytes(response)
    assert answer.originator == keys.one(Role.ESME) and answer.counter == command.counter
    assert decode_payload(answer)["result"] == 0


def test_bad_mac_join_refused_and_not_recorded(keys):
    core = esme_core(keys)
    data = bytearray(Builder(keys).join("CS03A1", keys.one(Role.ESME), PPMID_ID, DeviceType.PPMID,
                                        critical=True).to_bytes())
    data[-1] ^= 0xFF
    before = dict(core.counters.counters)
    response, refusal = core.handle_command(bytes(data))
    assert response is None and refusal.reason == "gbcs_rejected:bad_mac" and core.partners == {}
    assert core.counters.counters == before                     # the originator's counter did not move


def test_unjoin_removes_partner(keys):
    core = esme_core(keys)
    b = Builder(keys)
    core.handle_command(b.join("CS03A1", keys.one(Role.ESME), PPMID_ID, DeviceType.PPMID, critical=True).to_bytes())
    _response, refusal = core.handle_command(b.unjoin("CS04AC", keys.one(Role.ESME), PPMID_ID, critical=True).to_bytes())
    assert refusal is None and core.partners == {}


def test_ccs02_removes_a_device_from_the_chf_log(keys, tmp_path):
    core = ChCore(VirtualClock(), "gbcs", DeviceLog(tmp_path / "log.json"), Device.from_store(keys, keys.one(Role.CHF)),
                  CounterStore(), Builder(keys))
    core.power_on()
    b = Builder(keys)
    assert core.handle_command(b.ccs01(keys.one(Role.CHF), PPMID_ID, Role.PPMID, INSTALL_CODE).to_bytes(), via="wan").ok
    out = core.handle_command(b.ccs02(keys.one(Role.CHF), PPMID_ID).to_bytes(), via="tunnel")
    assert out.ok and PPMID_ID not in core.log
    again = core.handle_command(b.ccs02(keys.one(Role.CHF), PPMID_ID).to_bytes(), via="tunnel")
    assert decode_payload(Message.from_bytes(again.response))["unregister_result"] == 1


async def test_esme_refuses_a_ppmid_it_was_not_joined_to(tmp_path):
    premises = await sim_premises(tmp_path)
    ids = premises.ids
    events = premises.events
    ch = premises.ch("gbcs", state_dir=tmp_path / "ch")
    ezsps = []
    try:
        await ch.power_on()
        builder = premises.builder
        esme, status = await premises.esme(ch)
        assert status == "ok"
        # the PPMID is in the CHF log (so it may join) but no CS03A1 ever reached the ESME
        await ch.add_from_wan(builder.ccs01(ids.chf, ids.ppmid, Role.PPMID, ids.install_codes[ids.ppmid]).to_bytes())
        ezsps.append(await premises.open("ppmid"))
        ppmid = DualAddressPpmid(ezsps[-1], premises.clock, events, identity_a=ids.hht, identity_b=ids.ppmid,
                                 install_code_a=ids.install_codes[ids.hht], install_code_b=ids.install_codes[ids.ppmid],
                                 ccs01_a=b"", bundle=[])
        from rig.roles.hht import Hht
        scout = Hht(ezsps[-1], premises.clock, events, install_code=b"", ccs01=b"")
        await scout.role.read_eui64()
        await scout.find_ch(ids.gpf)
        scout.role.detach()
        ppmid.network = scout.network
        await ppmid.switch_identity()
        await ppmid.phase2()
        ppmid.esme = (ch.core.log.get(ids.esme).nwk, ids.esme)
        with pytest.raises(RoleError) as err:
            await ppmid.exchange_with_esme(ids.esme)
        assert err.value.reason == "refused_by_esme"
        assert esme.refused == [ids.ppmid]
        assert [e.result for e in events.named("meter.read_refused")] == ["not_joined_partner"]
    finally:
        for ezsp in ezsps:
            await ezsp.disconnect()
        await ch.power_off()
        await premises.close()
