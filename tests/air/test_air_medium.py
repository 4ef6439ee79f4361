"""The virtual air: delivery, channels, acks, filtering, seeded faults, link quality, timing."""

from __future__ import annotations

import asyncio

import pytest
from air_helpers import JOINER_EUI, PAN, TC_EUI, Inbox, data, pan, send

from firmware_shims.air import ACK_WAIT, TURNAROUND, Air, AirRadio, Faults, airtime, lqi_from_rssi
from firmware_shims.ncp.radio import Radio
from rig.clock import VirtualClock
from rig.zigbee import frames as F


@pytest.fixture
def clock():
    return VirtualClock()


def tap_log(air: Air) -> list:
    log: list = []
    air.add_tap(lambda t, ch, psdu: log.append((t, ch, psdu)))
    return log


async def test_radio_implements_the_interface(clock):
    air = Air(clock)
    r = air.attach("a")
    assert isinstance(r, Radio) and isinstance(r, AirRadio)
    with pytest.raises(ValueError):
        r.set_channel(27)
    with pytest.raises(ValueError):
        air.attach("a")
    assert r.energy(11) == -100


async def test_broadcast_reaches_every_other_radio_on_the_channel(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111, "r2": 0x2222, "r3": 0x3333})
    other = air.attach("elsewhere", channel=20)
    other.promiscuous = True
    other.on_receive = Inbox(clock)
    psdu = data(1, F.BROADCAST, 0x0000)
    result = await send(clock, rs["c"], psdu)
    assert result.sent and result.acked is None
    for name in ("r1", "r2", "r3"):
        assert rs[name].on_receive.psdus == [psdu]
        t = rs[name].on_receive.items[0][0]
        assert t == pytest.approx(airtime(len(psdu)))  # delivered when the last byte has arrived
    assert rs["c"].on_receive.psdus == []  # a radio does not hear itself
    assert other.on_receive.psdus == []  # channel separation, even for a sniffer


async def test_unicast_ack_request_is_acked_by_the_addressed_radio_only(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111, "r2": 0x2222})
    log = tap_log(air)
    psdu = data(7, 0x1111, 0x0000)
    result = await send(clock, rs["c"], psdu)
    assert result.sent and result.acked is True and result.reason == ""
    assert rs["r1"].on_receive.psdus == [psdu]
    assert rs["r2"].on_receive.psdus == []  # filtered: not its address
    assert air.stats.filtered == 1 and air.stats.acks_sent == 1
    # the ack is a real frame on the air, after the turnaround time
    assert [F.MacFrame.decode(p).frame_type for _, _, p in log] == [F.FT_DATA, F.FT_ACK]
    t_ack, ch, ack = log[1]
    assert ch == 15 and F.MacFrame.decode(ack).seq == 7 and len(ack) == 5
    assert t_ack == pytest.approx(airtime(len(psdu)) + TURNAROUND)
    assert rs["c"].stats.tx_acked == 1 and rs["r1"].stats.acks_sent == 1


async def test_unicast_to_nobody_is_not_acked(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    psdu = data(8, 0x9999, 0x0000)
    task = asyncio.ensure_future(rs["c"].transmit(psdu))
    await clock.advance(airtime(len(psdu)) + ACK_WAIT * 0.99)
    assert not task.done()  # still waiting for the ack
    await clock.advance(ACK_WAIT * 0.02)
    assert task.result().acked is False and task.result().reason == "no MAC ack"


async def test_no_ack_without_ack_request_and_for_broadcasts(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    f = F.mac_data(9, PAN, 0x1111, 0x0000, b"x", ack_request=False)
    assert (await send(clock, rs["c"], f.encode())).acked is None
    f = F.mac_data(10, PAN, F.BROADCAST, 0x0000, b"x", ack_request=True)
    assert (await send(clock, rs["c"], f.encode())).acked is None
    assert air.stats.acks_sent == 0 and len(rs["r1"].on_receive) == 2


async def test_filtering_by_pan_eui_and_coordinator(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    c, r1 = rs["c"], rs["r1"]
    c.ieee = TC_EUI
    stranger = air.attach("stranger", channel=15)
    stranger.pan_id, stranger.short_addr = 0x7777, 0x1111  # same short address, other PAN
    stranger.on_receive = Inbox(clock)
    await send(clock, c, data(1, 0x1111, 0x0000))
    assert len(r1.on_receive) == 1 and len(stranger.on_receive) == 0
    # an unjoined radio (PAN 0xFFFF): beacon request (broadcast PAN) reaches everyone
    joiner = air.attach("joiner", channel=15)
    joiner.ieee = JOINER_EUI
    joiner.on_receive = Inbox(clock)
    await send(clock, joiner, F.beacon_request(4).encode())
    assert len(stranger.on_receive) == 1 and len(c.on_receive) == 1
    # beacons reach radios of that PAN or unjoined ones
    bcn = F.beacon(5, PAN, 0x0000, TC_EUI, permit_joining=True).encode()
    await send(clock, c, bcn)
    assert joiner.on_receive.psdus == [bcn] and len(stranger.on_receive) == 1
    # association: the MAC sets macPANId first; request to the coordinator's short address
    joiner.pan_id = PAN
    req = F.association_request(3, PAN, 0x0000, JOINER_EUI, F.CAP_ALLOCATE_ADDRESS)
    assert (await send(clock, joiner, req.encode())).acked is True
    assert c.on_receive.psdus[-1] == req.encode()
    # ... and the response to the joiner's EUI-64
    rsp = F.association_response(2, PAN, JOINER_EUI, TC_EUI, 0x4567)
    assert (await send(clock, c, rsp.encode())).acked is True
    assert joiner.on_receive.psdus[-1] == rsp.encode()
    assert len(r1.on_receive) == 3  # its data frame, the beacon request and its own PAN's beacon
    # a frame without destination goes to the PAN coordinator only
    nodst = F.MacFrame(frame_type=F.FT_DATA, ack_request=1, seq=6, dst_mode=0, src_mode=2, src_pan=PAN,
                       src_addr=0x1111, payload=b"y").encode()
    assert (await send(clock, r1, nodst)).acked is True
    assert c.on_receive.psdus[-1] == nodst and nodst not in joiner.on_receive.psdus


async def test_joiner_pan_filter_for_association_response(clock):
    """An unjoined radio has PAN 0xFFFF: a frame for PAN 0x1a2b to its EUI is not for it until it sets its PAN."""
    air = Air(clock)
    c = air.attach("c", channel=15)
    j = air.attach("j", channel=15)
    j.ieee = JOINER_EUI
    j.on_receive = Inbox(clock)
    rsp = F.association_response(1, PAN, JOINER_EUI, TC_EUI, 0x4567).encode()
    assert (await send(clock, c, rsp)).acked is False
    j.pan_id = PAN
    assert (await send(clock, c, rsp)).acked is True


async def test_custom_filter_promiscuous_and_rx_off(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111, "r2": 0x2222})
    rs["r2"].address_filter = lambda frame: frame.dst_addr in (0x2222, 0x1111)
    result = await send(clock, rs["c"], data(1, 0x1111, 0x0000))
    assert result.acked is True and len(rs["r2"].on_receive) == 1  # both "accepted" (and acked)
    assert air.stats.acks_sent == 2
    sniffer = air.attach("sniffer", channel=15)
    sniffer.promiscuous = True
    sniffer.on_receive = Inbox(clock)
    await send(clock, rs["c"], data(2, 0x5555, 0x0000))
    assert len(sniffer.on_receive) == 1 and air.stats.acks_sent == 2  # sniffers never ack
    await send(clock, rs["c"], data(3, 0x1111, 0x0000))
    assert [F.MacFrame.decode(p).frame_type for p in sniffer.on_receive.psdus] == [1, 1, 2, 2]
    rs["r1"].rx_on = False
    assert (await send(clock, rs["c"], data(4, 0x1111, 0x0000))).acked is True  # r2's filter still acks
    rs["r2"].address_filter = None
    assert (await send(clock, rs["c"], data(5, 0x1111, 0x0000))).acked is False


async def test_frame_pending_in_ack_to_data_request(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "ed": 0x4567})
    rs["c"].frame_pending = lambda frame: frame.src_addr == 0x4567
    log = tap_log(air)
    assert (await send(clock, rs["ed"], F.data_request(1, PAN, 0x0000, 0x4567).encode())).acked is True
    assert F.MacFrame.decode(log[-1][2]).frame_pending == 1
    await send(clock, rs["ed"], data(2, 0x0000, 0x4567))
    assert F.MacFrame.decode(log[-1][2]).frame_pending == 0  # only data requests get the bit


async def test_out_of_range_pairs(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111, "r2": 0x2222})
    air.set_out_of_range("c", rs["r2"])
    await send(clock, rs["c"], data(1, F.BROADCAST, 0x0000))
    assert len(rs["r1"].on_receive) == 1 and len(rs["r2"].on_receive) == 0
    assert air.stats.out_of_range == 1
    assert (await send(clock, rs["c"], data(2, 0x2222, 0x0000))).acked is False
    # one-way: r2 hears c, c does not hear r2's ack
    air.set_out_of_range("c", "r2", False)
    air.set_out_of_range("r2", "c", True, symmetric=False)
    assert (await send(clock, rs["c"], data(3, 0x2222, 0x0000))).acked is False
    assert rs["r2"].on_receive.psdus[-1] == data(3, 0x2222, 0x0000)
    assert air.link("c", "r2").in_range and not air.link("r2", "c").in_range


async def test_link_quality_per_receiver(clock):
    air = Air(clock, default_rssi=-40)
    rs = pan(air, {"c": 0x0000, "near": 0x1111, "far": 0x2222, "fixed": 0x3333})
    air.set_link("c", "far", rssi=-90)
    air.set_link("c", "fixed", rssi=-60, lqi=77)
    await send(clock, rs["c"], data(1, F.BROADCAST, 0x0000))
    assert rs["near"].on_receive.items[0][2:] == (255, -40)
    assert rs["far"].on_receive.items[0][2:] == (lqi_from_rssi(-90), -90)
    assert rs["fixed"].on_receive.items[0][2:] == (77, -60)
    assert 0 < lqi_from_rssi(-90) < lqi_from_rssi(-60) < 255


async def test_energy_sees_ongoing_transmissions_and_interference(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    air.set_link("c", "r1", rssi=-55)
    air.set_interference(20, -70)
    assert rs["r1"].energy(15) == -100 and rs["r1"].energy(20) == -70
    psdu = data(1, F.BROADCAST, 0x0000, bytes(100))
    task = asyncio.ensure_future(rs["c"].transmit(psdu))
    await clock.advance(airtime(len(psdu)) / 2)
    assert rs["r1"].energy(15) == -55 and rs["c"].energy(15) == -100
    await clock.advance(airtime(len(psdu)))
    assert task.done() and rs["r1"].energy(15) == -100
    air.set_interference(20, None)
    assert rs["r1"].energy(20) == -100


async def test_channel_switch_midway_loses_the_frame(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    task = asyncio.ensure_future(rs["c"].transmit(data(1, F.BROADCAST, 0x0000)))
    await clock.advance(0.0001)
    rs["r1"].set_channel(16)
    await clock.advance(0.01)
    assert task.done() and len(rs["r1"].on_receive) == 0 and air.stats.not_listening == 1


async def test_loss_is_seeded_and_roughly_the_configured_rate(clock):
    async def run(seed: int) -> list[bool]:
        clk = VirtualClock()
        air = Air(clk, seed=seed, faults=Faults(loss=0.2))
        rs = pan(air, {"c": 0x0000, "r1": 0x1111})
        out = []
        for i in range(300):
            out.append((await send(clk, rs["c"], data(i & 0xFF, 0x1111, 0x0000), advance=0.003)).acked)
        return out

    a, b, c = await run(7), await run(7), await run(8)
    assert a == b and a != c
    # a unicast fails if the frame or its ack is lost: 1 - 0.8 ** 2 = 36 %
    failures = a.count(False) / len(a)
    assert 0.25 < failures < 0.47


async def test_corruption_is_dropped_by_the_fcs_check(clock):
    air = Air(clock, seed=3, faults=Faults(corruption=0.5))
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    sent = [data(i, F.BROADCAST, 0x0000, bytes([i]) * 20) for i in range(100)]
    for psdu in sent:
        await send(clock, rs["c"], psdu, advance=0.002)
    got = rs["r1"].on_receive.psdus
    assert 25 < len(got) < 75
    assert air.stats.corrupted == 100 - len(got)
    assert all(p in sent for p in got)  # nothing corrupted reached the receiver


async def test_delay_defers_on_receive_but_not_the_hardware_ack(clock):
    air = Air(clock, faults=Faults(delay=0.05))
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    result = await send(clock, rs["c"], data(1, 0x1111, 0x0000))
    assert result.acked is True and len(rs["r1"].on_receive) == 0
    await clock.advance(0.05)
    assert len(rs["r1"].on_receive) == 1
    assert rs["r1"].on_receive.items[0][0] == pytest.approx(airtime(len(data(1, 0x1111, 0))) + 0.05)
    air.faults = Faults(delay=(0.01, 0.02))
    await send(clock, rs["c"], data(2, 0x1111, 0x0000), advance=0.03)
    t = rs["r1"].on_receive.items[1][0]
    assert 0.01 < t - 0.06 < 0.021 + airtime(20)
    with pytest.raises(ValueError):
        Faults(loss=1.5)
    with pytest.raises(ValueError):
        Faults(delay=(0.2, 0.1))


async def test_reorder_swaps_a_held_copy_with_the_next_frame_seeded_and_loses_nothing(clock):
    async def run(seed: int) -> tuple[list[bytes], list[bytes], Air]:
        clk = VirtualClock()
        air = Air(clk, seed=seed, faults=Faults(reorder=0.3))
        rs = pan(air, {"c": 0x0000, "r1": 0x1111})
        sent = [data(i, 0x1111, 0x0000, bytes([i]) * 8) for i in range(100)]
        acked = [(await send(clk, rs["c"], psdu, advance=0.002)).acked for psdu in sent]
        assert all(acked)                          # the MAC acked every frame: its host just sees some late
        await clk.advance(1)
        return sent, rs["r1"].on_receive.psdus, air

    sent, got, air = await run(5)
    assert sorted(got) == sorted(sent) and got != sent          # everything arrives, not in order
    swaps = [i for i in range(len(sent) - 1) if got[i] == sent[i + 1] and got[i + 1] == sent[i]]
    assert len(swaps) == air.stats.reordered and 15 < air.stats.reordered < 45
    assert (await run(5))[1] == got and (await run(6))[1] != got


async def test_a_held_copy_with_no_frame_after_it_arrives_reorder_hold_later(clock):
    air = Air(clock, seed=0, faults=Faults(reorder=1.0, reorder_hold=0.2))
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    psdu = data(1, 0x1111, 0x0000)
    await send(clock, rs["c"], psdu, advance=0.1)
    assert rs["r1"].on_receive.psdus == []
    await clock.advance(0.15)
    assert rs["r1"].on_receive.psdus == [psdu]
    assert rs["r1"].on_receive.items[0][0] == pytest.approx(airtime(len(psdu)) + 0.2)
    with pytest.raises(ValueError, match="reorder must be a probability"):
        Faults(reorder=2)
    with pytest.raises(ValueError, match="reorder_hold must be > 0"):
        Faults(reorder_hold=0)


async def test_hardware_retries(clock):
    air = Air(clock, seed=1, faults=Faults(loss=0.3))
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    rs["c"].retries = 3
    log = tap_log(air)
    results = [await send(clock, rs["c"], data(i, 0x1111, 0x0000), advance=0.05) for i in range(40)]
    # one attempt succeeds with 0.7 * 0.7 = 49 %, four with 1 - 0.51 ** 4 = 93 %
    assert sum(r.acked for r in results) >= 32
    assert rs["c"].stats.retries > 0
    data_frames = [F.MacFrame.decode(p) for _, _, p in log if F.MacFrame.decode(p).frame_type == F.FT_DATA]
    assert len(data_frames) == 40 + rs["c"].stats.retries  # every retry is a real frame, same sequence number


async def test_transmissions_of_one_radio_are_serialised(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    log = tap_log(air)
    t1 = asyncio.ensure_future(rs["c"].transmit(data(1, F.BROADCAST, 0x0000)))
    t2 = asyncio.ensure_future(rs["c"].transmit(data(2, F.BROADCAST, 0x0000)))
    await clock.advance(0.01)
    assert t1.done() and t2.done()
    assert log[1][0] >= log[0][0] + airtime(len(log[0][2]))


async def test_detach_and_bad_psdus(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    result = await rs["c"].transmit(b"\x01\x02")
    assert not result.sent and "outside" in result.reason
    # undecodable but well-sized bytes still go on the air; only sniffers take them
    sniffer = air.attach("sniffer", channel=15)
    sniffer.promiscuous = True
    sniffer.on_receive = Inbox(clock)
    garbage = bytes(10)
    assert (await send(clock, rs["c"], garbage)).sent
    assert sniffer.on_receive.psdus == [garbage] and len(rs["r1"].on_receive) == 0
    rs["r1"].close()
    assert "r1" not in air.radios
    result = await rs["r1"].transmit(data(1, 0, 0x1111))
    assert not result.sent and "detached" in result.reason
    await send(clock, rs["c"], data(2, F.BROADCAST, 0x0000))
    assert len(rs["r1"].on_receive) == 0
    with pytest.raises(KeyError):
        air.radio("r1")


async def test_detach_during_ack_wait_ends_the_wait(clock):
    air = Air(clock)
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    psdu = data(1, 0x9999, 0x0000)
    task = asyncio.ensure_future(rs["c"].transmit(psdu))
    await clock.advance(airtime(len(psdu)) + ACK_WAIT / 2)
    air.detach("c")
    await clock.advance(0)
    assert task.done() and task.result().acked is False


async def test_real_clock_unicast_is_acked_in_real_time():
    from rig.clock import RealClock

    air = Air(RealClock())
    rs = pan(air, {"c": 0x0000, "r1": 0x1111})
    results = [await rs["c"].transmit(data(i, 0x1111, 0x0000)) for i in range(20)]
    assert all(r.acked for r in results)
    assert len(rs["r1"].on_receive) == 20
