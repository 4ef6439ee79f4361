"""The GSME behind the GPF: the CHF's held-message queue and tunnel header (radio-free), the GPF's mirror,
and on emulated dongles the GSME joining as a sleepy end device, its commands held while it sleeps,
GET / GET-RESPONSE / PUT served by the CH, and a PPMID reading gas data from the GPF."""

from __future__ import annotations

import struct

import bellows.types as t
import pytest
from zigpy.zcl.foundation import DataTypeId, GeneralCommand, Status

from rig import pairing
from rig.clock import VirtualClock
from rig.events import EventLog
from rig.gbcs import Role
from rig.premises import sim_premises
from rig.roles.ch.gpf import (
    GasMirror,
    SleepyQueue,
    get_response,
    parse_records,
    put,
    report_records,
    split_sleepy,
)
from rig.roles.ezsp_role import RoleError
from rig.roles.meters import ATTR_CURRENT_SUMMATION
from rig.zigbee.zcl import ZclHeader

GSME = "0052494700000004"


def report(value: int, *, command=GeneralCommand.Report_Attributes, direction=1) -> bytes:
    records = report_records({ATTR_CURRENT_SUMMATION: (int(DataTypeId.uint48), value)})
    return ZclHeader(frame_type=0, direction=direction, disable_default_response=1, seq=7, command_id=command,
                     payload=records).encode()


def read_request(*attrs: int) -> ZclHeader:
    return ZclHeader(frame_type=0, direction=0, disable_default_response=0, seq=9,
                     command_id=GeneralCommand.Read_Attributes, payload=b"".join(struct.pack("<H", a) for a in attrs))


# --- the protocol table and the queue (no radio) ------------------------------------------------------
def test_the_tunnel_headers_are_silicon_labs_values():
    """GET 0x01, GET-RESPONSE 0x02 ‖ remaining, PUT 0x03 (SL comms-hub-function, gbcs.md §7); only the GSME
    sends GET and PUT; a GET is answered with a GET-RESPONSE."""
    assert {h: s.name for h, s in pairing.SLEEPY_PROTOCOL.items()} == {1: "GET", 2: "GET-RESPONSE", 3: "PUT"}
    assert pairing.SLEEPY_PROTOCOL[pairing.TUNNEL_GET].answer == pairing.TUNNEL_GET_RESPONSE
    assert {h for h, s in pairing.SLEEPY_PROTOCOL.items() if s.sender == "gsme"} == {0x01, 0x03}
    assert get_response(2, b"\xdd\x00") == b"\x02\x02\xdd\x00" and get_response(0) == b"\x02\x00"
    assert split_sleepy(put(b"\xdf\x09")) == (0x03, b"\xdf\x09")
    assert split_sleepy(b"\x04abc") is None and split_sleepy(b"") is None


async def test_queue_holds_in_order_bounded_and_expires():
    clock = VirtualClock()
    events = EventLog(clock)
    expired = []
    queue = SleepyQueue(clock, events, size=3, timeout_s=100, on_expired=expired.append)
    assert queue.hold(GSME, b"one") is None and queue.hold(GSME.lower(), b"two") is None
    assert queue.pending(GSME) == 2 and queue.take("0052494700000005") == (None, 0)
    held, remaining = queue.take(GSME)
    assert (held.data, remaining) == (b"one", 1)
    await clock.advance(50)
    assert queue.hold(GSME, b"three") is None and queue.hold(GSME, b"four") is None
    refusal = queue.hold(GSME, b"five")
    assert refusal.reason == "sleepy_queue_full" and len(queue) == 3
    await clock.advance(50)                     # "two" was held at 0: dropped at 100 s, "one" was taken
    assert [h.data for h in expired] == [b"two"]
    assert [e.result for e in events.named("ch.sleepy_message_expired")] == ["not_retrieved"]
    assert [h.data for h in queue.drop(GSME)] == [b"three", b"four"] and len(queue) == 0
    await clock.advance(100)                    # dropped messages never expire later
    assert len(expired) == 1


async def test_queue_expiry_on_the_clock():
    clock = VirtualClock()
    queue = SleepyQueue(clock, EventLog(clock))
    queue.hold(GSME, b"x")
    await clock.advance(pairing.SLEEPY_QUEUE_TIMEOUT_S - 1)
    assert queue.pending(GSME) == 1
    await clock.advance(1)
    assert queue.pending(GSME) == 0


def test_mirror_takes_a_report_and_answers_reads():
    mirror = GasMirror()
    assert mirror.update(GSME, report(4242), now=5.0) is None
    assert mirror.source == GSME and mirror.updated_at == 5.0
    answer = mirror.read_answer(read_request(ATTR_CURRENT_SUMMATION, 0x0400), authorized=True)
    assert answer.command_id == GeneralCommand.Read_Attributes_rsp and answer.seq == 9
    assert answer.payload == (struct.pack("<HBB", ATTR_CURRENT_SUMMATION, 0, DataTypeId.uint48) + (4242).to_bytes(6, "little")
                              + struct.pack("<HB", 0x0400, Status.UNSUPPORTED_ATTRIBUTE))
    refused = mirror.read_answer(read_request(ATTR_CURRENT_SUMMATION), authorized=False)
    assert refused.command_id == GeneralCommand.Default_Response and refused.payload[1] == Status.NOT_AUTHORIZED


@pytest.mark.parametrize(("frame", "reason"), [
    (b"\x08", "mirror_update_malformed"),
    (report(1, command=GeneralCommand.Read_Attributes), "mirror_update_not_report"),
    (report(1, direction=0), "mirror_update_not_report"),
    (ZclHeader(frame_type=0, direction=1, disable_default_response=1, seq=1,
               command_id=GeneralCommand.Report_Attributes, payload=b"\x00\x00\x42abc").encode(), "mirror_update_malformed"),
])
def test_mirror_refuses_what_is_no_metering_report(frame, reason):
    mirror = GasMirror()
    refusal = mirror.update(GSME, frame, now=0.0)
    assert refusal.reason == reason and mirror.attributes == {}


def test_report_records_round_trip():
    values = {0x0000: (int(DataTypeId.uint48), 2**40 + 5), 0x0200: (int(DataTypeId.map8), 3)}
    assert parse_records(report_records(values)) == values
    with pytest.raises(ValueError, match="cut short"):
        parse_records(report_records(values)[:-1])


# --- on emulated dongles ----------------------------------------------------------------------------
async def test_gsme_joins_sleepy_and_its_command_waits_at_the_chf_until_it_wakes(tmp_path):
    """The GSME joins as a sleepy end device, runs CBKE, opens its own tunnel and PUTs its reading; the
    PPMID's gas-side join is held by the CHF until the GSME's next wake (its GET), executed there, and the
    response PUT back reaches the PPMID; identity B then reads gas data from the GPF's mirror."""
    wake_s = 120.0
    premises = await sim_premises(tmp_path)
    ids, events = premises.ids, premises.events
    ch = premises.ch("secmp0037", state_dir=tmp_path / "ch")
    gsme = ppmid = None
    try:
        await ch.power_on()
        _esme, status = await premises.esme(ch)
        assert status == "ok"
        gsme, status = await premises.gsme(ch, wake_s=wake_s)
        assert status == "ok" and ids.gsme == GSME
        (_status, node_type, _params) = await gsme.ezsp.getNetworkParameters()
        assert node_type == t.EmberNodeType.SLEEPY_END_DEVICE
        entry = ch.core.log.get(GSME)
        assert entry.device_type == 0 and entry.join_state == "joined"
        assert [e.peer for e in events.named("ch.tunnel_opened")] == [GSME]       # the GSME asked for it
        assert ch.mirror.attributes[ATTR_CURRENT_SUMMATION][1] == gsme.reading and ch.mirror.source == GSME

        ppmid = await premises.ppmid()
        responses = await ppmid.phase1(ids.gpf)
        assert len(responses) == 4
        (held,) = events.named("ch.gbcs_held")
        (released,) = events.named("ch.gbcs_released")
        (received,) = events.named("gsme.gbcs_received")
        assert held.peer == GSME and held.detail["use_case"] == "CS03A1" and held.detail["held"] == 1
        # nothing reached the GSME while it slept: the command left the CHF at its next wake only
        assert wake_s - 10 < released.detail["held_s"] <= wake_s and released.detail["remaining"] == 0
        assert received.time >= held.time + wake_s - 10
        assert ids.ppmid in gsme.core.partners and gsme.executed == ["CS03A1"]
        assert events.named("gsme.gbcs_put")[0].detail["cra"] == "response"
        assert events.named("hht.gbcs_response")[-1].detail["originator"] == GSME

        await ppmid.switch_identity()
        await ppmid.phase2()
        assert await ppmid.read_gas() == gsme.reading
        (answered,) = events.named("gpf.read_answered")
        assert answered.peer == ids.ppmid and answered.detail["source"] == GSME
    finally:
        if gsme is not None:
            await gsme.close()
        await ch.power_off()
        await premises.close()


async def test_gpf_refuses_a_gas_read_from_a_ppmid_it_did_not_join(tmp_path):
    premises = await sim_premises(tmp_path)
    ids, events = premises.ids, premises.events
    ch = premises.ch("gbcs", state_dir=tmp_path / "ch")
    gsme = None
    try:
        await ch.power_on()
        gsme, status = await premises.gsme(ch)
        assert status == "ok"
        # B is in the CHF log (it may join) but no CS03C reached the GPF
        await ch.add_from_wan(premises.builder.ccs01(ids.chf, ids.ppmid, Role.PPMID,
                                                     ids.install_codes[ids.ppmid]).to_bytes())
        ppmid = await premises.ppmid()
        from rig.roles.hht import Hht
        scout = Hht(ppmid.ezsp, premises.clock, events, install_code=b"", ccs01=b"")
        await scout.role.read_eui64()
        await scout.find_ch(ids.gpf)
        scout.role.detach()
        ppmid.network, ppmid.hht = scout.network, scout      # B's CBKE with the CH needs the CH's EUI-64
        await ppmid.switch_identity()
        await ppmid.phase2()
        with pytest.raises(RoleError) as err:
            await ppmid.read_gas()
        assert err.value.reason == "refused_by_gpf"
        assert [e.result for e in events.named("gpf.read_refused")] == ["not_joined_partner"]
    finally:
        if gsme is not None:
            await gsme.close()
        await ch.power_off()
        await premises.close()
