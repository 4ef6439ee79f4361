"""zigpy-cli's ``packet-capture`` records the emulated air through an emulated dongle in mfglib mode.

``rig sim up`` serves two dongles; ``zigpy radio ezsp tcp://... packet-capture -c 15 -o F.pcap`` (an
unmodified zigpy-cli, bellows underneath) turns one into a sniffer, the other sends frames with
mfglib on channels 15 and 16.  The pcap (IEEE 802.15.4 TAP) must hold exactly the channel-15 frames,
byte for byte as the air's own tap stream saw them, and tshark must dissect them with a good FCS.
"""

from __future__ import annotations

import asyncio
import signal
import struct
import sys
from pathlib import Path

import pytest
from scapy.utils import RawPcapReader

from rig.sniff import sniff
from rig.transport import open_ezsp

CHANNEL, OTHER = 15, 16
LINKTYPE_IEEE802_15_4_TAP = 283


def frame(seq: int, dst: int, payload: bytes) -> bytes:
    """A data frame with short addresses and PAN ID compression (ack requested), no FCS."""
    return struct.pack("<HBHHH", 0x8861, seq, 0xABCD, dst, 0x4242) + payload


def tap_psdus(path: Path) -> list[bytes]:
    """The PSDUs (with FCS) of an IEEE 802.15.4 TAP pcap: each record is a TAP header, TLVs, the PSDU."""
    reader = RawPcapReader(str(path))
    assert reader.linktype == LINKTYPE_IEEE802_15_4_TAP
    out = []
    for data, _meta in reader:
        header_length = struct.unpack_from("<H", data, 2)[0]
        out.append(bytes(data[header_length:]))
    return out


async def capture_with_zigpy_cli(tmp_path: Path) -> tuple[Path, list[bytes], list[tuple[int, bytes]]]:
    """(zigpy-cli's pcap, the frames sent on CHANNEL with their FCS, everything the air's tap saw)."""
    from firmware_shims.ncp.radio import fcs

    sim = await asyncio.create_subprocess_exec(sys.executable, "-m", "rig.cli", "sim", "up", "--dongles", "mfg,tx",
                                               "--state-dir", str(tmp_path / "state"), stdout=asyncio.subprocess.PIPE)
    zigpy = None
    pcap = tmp_path / "zigpy.pcap"
    try:
        urls = dict([(await asyncio.wait_for(sim.stdout.readline(), 30)).decode().split() for _ in range(3)])
        tapped: list[tuple[int, bytes]] = []
        tap = asyncio.ensure_future(sniff(urls["sniffer"], sink=lambda _t, ch, psdu: tapped.append((ch, psdu))))
        zigpy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "zigpy"), "-vv", "radio", "ezsp", urls["mfg"], "packet-capture",
            "-c", str(CHANNEL), "-o", str(pcap), stderr=asyncio.subprocess.PIPE)
        log: list[str] = []
        while not any("Received command mfglibSetChannel" in line for line in log):   # capturing from here
            line = await asyncio.wait_for(zigpy.stderr.readline(), 60)
            assert line, "zigpy-cli exited before capturing:\n" + "\n".join(log[-20:])
            log.append(line.decode(errors="replace"))
        drain = asyncio.ensure_future(zigpy.stderr.read())
        tx = await open_ezsp(urls["tx"])
        await tx.mfglibStart(rxCallback=False)
        sent = []
        for channel in (CHANNEL, OTHER, CHANNEL):
            await tx.mfglibSetChannel(channel=channel)
            for n in range(3):
                body = frame(len(sent) * 10 + n, 0x1000 + n, bytes([channel]) * (n + 1))
                await tx.mfglibSendPacket(packetContents=body + b"\x00\x00")
                if channel == CHANNEL:
                    sent.append(body + fcs(body))
                await asyncio.sleep(0.05)
        await tx.mfglibEnd()
        await tx.disconnect()
        await asyncio.sleep(0.5)
        zigpy.send_signal(signal.SIGINT)         # zigpy-cli stops on ^C and closes its pcap
        await asyncio.wait_for(zigpy.wait(), 30)
        drain.cancel()
        tap.cancel()
        return pcap, sent, tapped
    finally:
        for proc in (zigpy, sim):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 15)


_CAPTURE: dict[str, tuple] = {}


async def one_capture(tmp_path_factory) -> tuple[Path, list[bytes], list[tuple[int, bytes]]]:
    """One zigpy-cli capture session per test process, shared by the tests below (each takes ~20 s)."""
    if "run" not in _CAPTURE:
        _CAPTURE["run"] = await capture_with_zigpy_cli(tmp_path_factory.mktemp("zigpy-capture"))
    return _CAPTURE["run"]


async def test_zigpy_cli_packet_capture_records_exactly_the_channels_frames_of_the_emulated_air(tmp_path_factory):
    pcap, sent, tapped = await one_capture(tmp_path_factory)
    assert len(sent) == 6
    on_channel = [psdu for ch, psdu in tapped if ch == CHANNEL]
    assert on_channel == sent                            # the air's own tap: what was on channel 15
    assert tap_psdus(pcap) == sent                       # zigpy-cli wrote every one of them, nothing else
    assert len([ch for ch, _ in tapped if ch == OTHER]) == 3


async def test_tshark_dissects_zigpy_clis_capture_with_good_fcs(tmp_path_factory, tshark_path):
    pcap, sent, _tapped = await one_capture(tmp_path_factory)
    tshark = await asyncio.create_subprocess_exec(
        tshark_path, "-r", str(pcap), "-T", "fields", "-e", "wpan-tap.ch_num", "-e", "wpan.seq_no", "-e",
        "wpan.dst16", "-e", "wpan.fcs_ok", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(tshark.communicate(), 60)
    assert tshark.returncode == 0
    rows = [line.split("\t") for line in out.decode().splitlines()]
    assert [(ch, int(seq), int(dst, 16)) for ch, seq, dst, _ok in rows] == \
        [(str(CHANNEL), psdu[2], struct.unpack_from("<H", psdu, 5)[0]) for psdu in sent]
    assert {ok for *_rest, ok in rows} <= {"1", "True"}
    assert len(rows) == len(sent)


@pytest.mark.parametrize("channel", ["10", "27"])
def test_rig_sniff_refuses_a_channel_outside_2_4_ghz(channel):
    from typer.testing import CliRunner

    from rig.cli import app

    result = CliRunner().invoke(app, ["sniff", "tcp://127.0.0.1:1", "--channel", channel])
    assert result.exit_code != 0 and "11-26" in result.output
