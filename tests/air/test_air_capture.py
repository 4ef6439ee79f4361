"""pcap (linktype 195, ns timestamps from the clock), Wireshark keys folder, live frame printer."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
from decimal import Decimal

import pytest
from air_helpers import NWK_KEY, join_like_exchange

from firmware_shims.air import Air
from rig.capture import (
    KEYS_FILE,
    Capture,
    FramePrinter,
    KeyRing,
    format_line,
    keys_dir_for,
    split_time,
    summarize,
    wireshark_key_rows,
)
from rig.clock import VirtualClock
from rig.zigbee import frames as F

LINK_KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")  # AN1089 install code 83FE..D505


def read_pcap(path):
    from scapy.layers.dot15d4 import Dot15d4FCS  # registers linktype 195 with rdpcap
    from scapy.utils import RawPcapReader, rdpcap

    with RawPcapReader(str(path)) as reader:
        linktype = reader.linktype
    with open(path, "rb") as f:
        magic = f.read(4)
    packets = rdpcap(str(path))
    assert all(isinstance(p, Dot15d4FCS) for p in packets)
    return linktype, magic, packets


async def test_air_capture_is_a_nanosecond_linktype_195_pcap(tmp_path):
    clock = VirtualClock(start=1.25)
    pcap = tmp_path / "run.pcap"
    air = Air(clock, seed=1, pcap=pcap)
    log = []
    air.add_tap(lambda t, ch, psdu: log.append((t, psdu)))
    await join_like_exchange(air, LINK_KEY)
    air.close()
    linktype, magic, packets = read_pcap(pcap)
    assert linktype == 195 and magic == bytes.fromhex("4d3cb2a1")  # little-endian nanosecond magic
    assert len(packets) == len(log) == air.stats.transmissions + air.stats.acks_sent
    for (t, psdu), p in zip(log, packets, strict=True):
        assert bytes(p) == psdu
        sec, ns = split_time(t)
        assert p.time == Decimal(sec) + Decimal(ns) / Decimal(10**9)
    assert sum(1 for p in packets if p.fcf_frametype == 2) == air.stats.acks_sent >= 6
    # timestamps are virtual-clock times, strictly increasing, starting at the clock's start
    assert float(packets[0].time) == pytest.approx(1.25)
    assert all(a.time < b.time for a, b in itertools.pairwise(packets))


async def test_keys_folder_next_to_the_capture(tmp_path):
    pcap = tmp_path / "sub" / "run.pcap"
    air = Air(VirtualClock(), pcap=pcap)
    assert keys_dir_for(pcap) == tmp_path / "sub" / "run.wireshark"
    keys_file = tmp_path / "sub" / "run.wireshark" / KEYS_FILE
    assert keys_file.read_text() == ""  # exists from the start: usable as WIRESHARK_CONFIG_DIR at once
    air.add_key(NWK_KEY, "network key")
    air.add_key(LINK_KEY, 'link key "HHT" 11:22')
    air.add_key(NWK_KEY, "again")  # duplicates are dropped
    air.close()
    lines = keys_file.read_text().splitlines()
    assert lines == ['"01030507090B0D0F00020406080A0C0D","Normal","network key"',
                     '"66B6900981E1EE3CA4206B6B861C02BB","Normal","link key _HHT_ 11:22"']
    for line in lines:
        assert re.fullmatch(r'"[0-9A-F]{32}","Normal","[^"]*"', line)
    with pytest.raises(ValueError):
        wireshark_key_rows([(b"short", "x")])


def test_capture_standalone_epoch_and_time_split(tmp_path):
    with Capture(tmp_path / "x.pcap", epoch=1_700_000_000.0) as cap:
        cap.write(F.mac_ack(1).encode(), 0.5)
        cap.write(F.mac_ack(2).encode(), 0.000000001)
    assert cap.frames == 2 and cap.closed
    cap.write(F.mac_ack(3).encode(), 1.0)  # ignored after close
    _, _, packets = read_pcap(tmp_path / "x.pcap")
    assert [p.seqnum for p in packets] == [1, 2]
    assert packets[0].time == Decimal("1700000000.5")
    assert split_time(1.9999999999) == (2, 0)
    assert split_time(12.000000001) == (12, 1)
    assert split_time(0.0) == (0, 0)
    with pytest.raises(ValueError):
        split_time(-1.0)


async def test_frame_printer_lines_with_and_without_keys(tmp_path):
    clock = VirtualClock()
    air = Air(clock)
    plain, keyed = io.StringIO(), io.StringIO()
    air.add_tap(FramePrinter(plain))
    air.add_tap(FramePrinter(keyed, KeyRing(network_keys=[NWK_KEY], link_keys=[LINK_KEY])))
    await join_like_exchange(air, LINK_KEY)
    p, k = plain.getvalue().splitlines(), keyed.getvalue().splitlines()
    assert len(p) == len(k) == air.stats.transmissions + air.stats.acks_sent
    line = re.compile(r"^ +\d+\.\d{6}  ch15 +\S+ -> \S+  .+$")
    assert all(line.match(x) for x in p + k)
    text_p, text_k = "\n".join(p), "\n".join(k)
    assert "Beacon Request" in text_p and "Beacon permit=1 epid=00:db:12:34:56:78:90:a3" in text_p
    assert "11:22:33:44:55:66:77:88 -> 1a2b/0x0000  Association Request cap=0x8e" in text_p
    assert "Association Response short=0x4567 status=0" in text_p and "Ack seq=5" in text_p
    assert "Data Request" in text_p and "Ack seq=4 pending" not in text_p
    assert "APS Transport Key [APS sec key2 fc=0] (encrypted)" not in text_p  # command type hidden
    assert "(encrypted)" in text_p and "Transport Key" not in text_p
    assert "APS Transport Key (network key) [APS sec key2 fc=0]" in text_k
    assert "ZDO Device_annce" in text_k and "Leave" in text_k
    assert "APS Data cluster=0x0000 profile=0x0109 ZCL global cmd=0x00 seq=33" in text_k
    assert "APS inter-PAN unicast cluster=0x0700 profile=0x0109 ZCL cluster cmd=0x00 seq=66" in text_p
    assert "inter-PAN unicast cluster=0x0700 profile=0x0109 [APS sec key0 fc=1] ZCL cluster cmd=0x00 seq=67" in (
        text_k)


def test_summaries_never_raise():
    assert summarize(b"\x00")[2].startswith("undecodable")
    body = bytes.fromhex("4188012b1a00000000") + b"\x08"  # data frame with a truncated NWK header
    psdu = body + F.fcs(body).to_bytes(2, "little")
    assert summarize(psdu)[2].startswith("malformed")
    assert "Ack seq=3" in format_line(0.0, 11, F.mac_ack(3).encode())


async def test_a_frame_begun_during_an_acks_turnaround_is_captured_before_the_ack(tmp_path):
    """The receiver of an acked unicast answers after aTurnaroundTime; a third radio starting a frame in
    those 192 us is on the air first, so the capture holds it first: times never go backwards and every
    hardware ack comes after the frame it answers."""
    from air_helpers import data, pan

    from firmware_shims.air.medium import TURNAROUND, airtime

    clock = VirtualClock()
    pcap = tmp_path / "run.pcap"
    air = Air(clock, seed=1, pcap=pcap)
    radios = pan(air, {"a": 0x0000, "b": 0x0001, "c": 0x0002})
    unicast = data(7, 0x0001, 0x0000)
    broadcast = data(9, 0xFFFF, 0x0002)
    log = []
    air.add_tap(lambda t, ch, psdu: log.append((t, psdu)))
    clock.call_later(airtime(len(unicast)) + TURNAROUND / 2,
                     lambda: asyncio.ensure_future(radios["c"].transmit(broadcast)))
    task = asyncio.ensure_future(radios["a"].transmit(unicast))
    await clock.advance(0.01)
    assert task.result().acked
    air.close()
    kinds = [psdu[0] & 7 for _, psdu in log]
    assert [psdu for _, psdu in log if psdu[0] & 7 == F.FT_DATA] == [unicast, broadcast]
    assert kinds == [F.FT_DATA, F.FT_DATA, F.FT_ACK]
    times = [t for t, _ in log]
    assert times == sorted(times)
    assert times[2] == pytest.approx(airtime(len(unicast)) + TURNAROUND, abs=1e-9)
    _, _, packets = read_pcap(pcap)
    assert [float(p.time) for p in packets] == pytest.approx(times, abs=1e-9)


def test_summaries_name_aps_blocks_and_the_window_an_ack_covers():
    first = F.ApsFrame(frame_type=F.APS_DATA, delivery_mode=0, dst_endpoint=1, cluster=0x0704, profile=0x0109,
                       src_endpoint=1, counter=9, fragmentation=F.FRAG_FIRST, block_number=3, payload=bytes(63))
    later = first.replace(fragmentation=F.FRAG_MORE, block_number=2, payload=bytes(10))
    ack = F.ApsFrame(frame_type=F.APS_ACK, delivery_mode=0, dst_endpoint=1, cluster=0x0704, profile=0x0109,
                     src_endpoint=1, counter=9, fragmentation=F.FRAG_MORE, block_number=2, ack_bitfield=0xFF)

    def line(aps):
        nwk = F.NwkFrame(frame_type=F.NWK_DATA, dst=0, src=0x2002, radius=30, seq=1, payload=aps.encode())
        return summarize(F.mac_data(1, 0x1A2B, 0x0000, 0x2002, nwk.encode()).encode())[2]

    assert line(first).endswith("APS Data cluster=0x0704 profile=0x0109 block 0 of 3 (63 bytes)")
    assert line(later).endswith("block 2 (10 bytes)")
    assert line(ack).endswith("APS Ack ctr=9 blocks from 2 mask=0xff")
