"""mfglib on an emulated dongle: the radio without the stack, as the bench's sniffer and test sender.

Dongles on one virtual air, driven through bellows: one in mfglib receive mode hears every frame on
its channel (whoever it is addressed to, and acks none), another sends raw packets with
``mfglibSendPacket``.  ``rig.sniff.sniff_mfglib`` records such a dongle's frames as the rig's sniffer.
"""

from __future__ import annotations

import asyncio
import struct

import bellows.types as t
import pytest
from scapy.utils import RawPcapReader

from firmware_shims.air import Air
from firmware_shims.ncp.dongle import EmulatedDongle
from firmware_shims.ncp.radio import fcs
from firmware_shims.ncp.zigbee import AirStack
from rig.clock import RealClock
from rig.sniff import SniffError, sniff_mfglib
from rig.transport import open_ezsp

OK = t.sl_Status.OK


def data_frame(seq: int, dst: int, *, ack: bool, pan: int = 0xABCD, src: int = 0x4242, payload=b"rig") -> bytes:
    """An 802.15.4 data frame, short addresses, PAN ID compression (no FCS)."""
    fc = 0x8841 | (0x0020 if ack else 0)
    return struct.pack("<HBHHH", fc, seq, pan, dst, src) + payload


@pytest.fixture
async def air(tmp_path):
    clock = RealClock()
    air = Air(clock, seed=3)
    made, hosts = [], []

    async def dongle(name):
        d = EmulatedDongle(name, state_dir=tmp_path, radio=air.attach(name), clock=clock, stack_factory=AirStack)
        await d.start_tcp()
        made.append(d)
        ezsp = await open_ezsp(d.url)
        hosts.append(ezsp)
        return d, ezsp

    yield air, dongle
    for ezsp in hosts:
        await ezsp.disconnect()
    for d in made:
        await d.stop()
    air.close()


def heard(ezsp) -> list[tuple[int, int, bytes]]:
    got = []
    ezsp.add_callback(lambda name, args: got.append(tuple(args)) if name == "mfglibRxHandler" else None)
    return got


async def settle(seconds=0.05):
    await asyncio.sleep(seconds)


async def test_an_mfglib_dongle_hears_every_frame_on_its_channel_and_acks_none(air):
    air, dongle = air
    sniffer, rx = await dongle("sniffer")
    _sender, tx = await dongle("sender")
    got = heard(rx)
    assert await rx.mfglibStart(rxCallback=True) == [OK]
    assert await rx.mfglibSetChannel(channel=15) == [OK]
    assert await tx.mfglibStart(rxCallback=False) == [OK]
    assert await tx.mfglibSetChannel(channel=15) == [OK]
    frames = [data_frame(1, 0x1234, ack=True), data_frame(2, 0xFFFF, ack=False),
              data_frame(3, 0x0000, ack=True, pan=0x1111)]
    for frame in frames:
        assert await tx.mfglibSendPacket(packetContents=frame + b"\x00\x00") == [OK]   # radio fills the FCS
        await settle()
    assert await tx.mfglibSetChannel(channel=16) == [OK]
    assert await tx.mfglibSendPacket(packetContents=data_frame(4, 0xFFFF, ack=False) + b"\x00\x00") == [OK]
    await settle()
    assert [bytes(packet) for _lqi, _rssi, packet in got] == [f + fcs(f) for f in frames]   # not the ch-16 one
    assert all(lqi > 0 and -100 < rssi < 0 for lqi, rssi, _ in got)
    assert air.stats.acks_sent == 0              # nobody acked the frames that asked for an ack
    assert await rx.mfglibGetChannel() == [15]
    assert sniffer.radio.promiscuous


async def test_mfglib_end_gives_the_radio_back_to_the_stack_and_a_reset_ends_it_too(air):
    air, dongle = air
    sniffer, rx = await dongle("sniffer")
    _sender, tx = await dongle("sender")
    got = heard(rx)
    await rx.mfglibStart(rxCallback=True)
    await rx.mfglibSetChannel(channel=15)
    await tx.mfglibStart(rxCallback=False)
    await tx.mfglibSetChannel(channel=15)
    assert await rx.mfglibEnd() == [OK]
    assert not sniffer.radio.promiscuous
    await tx.mfglibSendPacket(packetContents=data_frame(9, 0xFFFF, ack=False) + b"\x00\x00")
    await settle()
    assert got == []
    assert await rx.mfglibEnd() != [OK]          # not started
    await rx.mfglibStart(rxCallback=True)
    sniffer.node.boot()                          # a reset: RAM, and with it the library, is gone
    assert not sniffer.radio.promiscuous and sniffer.node.state.mfglib is None


async def test_mfglib_commands_need_the_library_started_and_no_network(air):
    _air, dongle = air
    lone, ezsp = await dongle("lone")
    assert await ezsp.mfglibSetChannel(channel=15) != [OK]
    assert await ezsp.mfglibSendPacket(packetContents=bytes(12)) != [OK]
    assert await ezsp.mfglibStart(rxCallback=True) == [OK]
    assert await ezsp.mfglibStart(rxCallback=True) != [OK]           # already running
    assert await ezsp.mfglibSetChannel(channel=27) != [OK]
    assert await ezsp.mfglibSetPower(txPowerMode=0, power=3) == [OK]
    assert await ezsp.mfglibGetPower() == [3]
    assert await ezsp.mfglibSetPower(txPowerMode=0, power=60) != [OK]
    assert await ezsp.mfglibSendPacket(packetContents=bytes(3)) != [OK]   # shorter than any PSDU
    assert await ezsp.mfglibStartTone() == [OK]
    assert await ezsp.mfglibSendPacket(packetContents=bytes(12)) != [OK]  # the carrier is on
    assert await ezsp.mfglibStopTone() == [OK]
    assert await ezsp.mfglibEnd() == [OK]
    params = t.EmberNetworkParameters(extendedPanId=t.ExtendedPanId(bytes(range(8))), panId=0x1A2B,
                                      radioTxPower=8, radioChannel=15, joinMethod=0, nwkManagerId=0,
                                      nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS)
    assert lone.node.cmd_formNetwork({"parameters": params})["status"] == "OK"
    assert await ezsp.mfglibStart(rxCallback=True) != [OK]           # the stack owns the radio


async def test_the_rigs_sniffer_records_an_mfglib_dongle_to_a_pcap(air, tmp_path):
    from rig.capture import Capture

    air, dongle = air
    sniffer, _rx = await dongle("sniffer")
    _sender, tx = await dongle("sender")
    await _rx.disconnect()                       # the sniffer opens the dongle itself
    await tx.mfglibStart(rxCallback=False)
    await tx.mfglibSetChannel(channel=20)
    capture = Capture(tmp_path / "mfglib.pcap")
    frames = [data_frame(n, 0x2222, ack=True, payload=bytes([n]) * n) for n in range(1, 6)]
    seen = []

    def sink(t_, channel, psdu):
        seen.append(channel)
        capture.write(psdu, t_)

    sniffing = asyncio.ensure_future(sniff_mfglib(sniffer.url, channel=20, sink=sink, count=len(frames)))
    while sniffer.node.state.mfglib is None or sniffer.radio.channel != 20:
        await settle(0.01)
    for frame in frames:
        await tx.mfglibSendPacket(packetContents=frame + b"\xAA\xAA")
        await settle()
    assert await asyncio.wait_for(sniffing, 10) == len(frames)
    capture.close()
    assert seen == [20] * len(frames)
    assert [bytes(p) for p, _meta in RawPcapReader(str(tmp_path / "mfglib.pcap"))] == [f + fcs(f) for f in frames]
    assert sniffer.node.state.mfglib is None     # the sniffer ended mfglib when done


async def test_the_rigs_sniffer_names_what_the_dongle_refused(air):
    _air, dongle = air
    lone, ezsp = await dongle("lone")
    await ezsp.disconnect()
    with pytest.raises(SniffError, match=r"mfglibSetChannel\(27\).*INVALID_PARAMETER"):
        await sniff_mfglib(lone.url, channel=27, sink=lambda *a: None, count=1)
    assert lone.node.state.mfglib is None        # ended again
