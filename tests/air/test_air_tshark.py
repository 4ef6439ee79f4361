"""tshark dissects and decrypts a capture of the air with its keys folder (skipped without tshark)."""

from __future__ import annotations

import itertools
import os
import subprocess

import pytest
from air_helpers import JOINER_EUI, NWK_KEY, install_code_link_key, join_like_exchange

from firmware_shims.air import Air
from rig import pairing
from rig.clock import VirtualClock
from rig.zigbee import frames as F
from rig.zigbee.eui64 import eui_colon

FIELDS = ["frame.number", "frame.time_epoch", "wpan.fcs_ok", "_ws.malformed", "_ws.expert.message",
          "zbee_aps.cmd.id", "zbee_aps.cmd.key", "zbee_zdp.ext_addr", "zbee_zcl.cmd.tsn", "zbee_nwk.cmd.id",
          "zbee_aps.type", "zbee_aps.cluster", "_ws.col.Info"]


def num(field: str) -> int | None:
    return int(field, 0) if field else None


def tshark(pcap, config_dir) -> list[dict[str, str]]:
    env = dict(os.environ)
    env.pop("WIRESHARK_CONFIG_DIR", None)
    if config_dir is not None:
        env["WIRESHARK_CONFIG_DIR"] = str(config_dir)
    cmd = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=|"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=True).stdout
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


async def test_tshark_decrypts_the_capture_with_the_keys_folder(tmp_path, tshark_path):
    link_key = install_code_link_key()
    pcap = tmp_path / "run.pcap"
    clock = VirtualClock()
    air = Air(clock, seed=5, pcap=pcap)
    log = []
    air.add_tap(lambda t, ch, psdu: log.append(t))
    await join_like_exchange(air, link_key)
    air.close()

    rows = tshark(pcap, tmp_path / "run.wireshark")
    assert len(rows) == len(log) == air.stats.transmissions + air.stats.acks_sent
    for row, t in zip(rows, log, strict=True):
        assert row["wpan.fcs_ok"] in ("1", "True"), row
        assert row["_ws.malformed"] == "", row
        assert "Encrypted Payload" not in row["_ws.expert.message"], row
        assert "Malformed" not in row["_ws.col.Info"], row
        assert float(row["frame.time_epoch"]) == pytest.approx(t, abs=1e-9)
    infos = [r["_ws.col.Info"] for r in rows]
    # decrypted Transport Key carrying the network key (APS, key-transport key from the link key)
    tk = [r for r in rows if num(r["zbee_aps.cmd.id"]) == F.APS_CMD_TRANSPORT_KEY]
    assert len(tk) == 1 and tk[0]["zbee_aps.cmd.key"].replace(":", "").lower() == NWK_KEY.hex()
    # decrypted device announce (NWK security with the network key)
    assert any(r["zbee_zdp.ext_addr"] == eui_colon(JOINER_EUI) for r in rows)
    assert any("Device Announcement" in i for i in infos)
    # decrypted ZCL inside NWK security; inter-PAN plain and APS-secured (extended nonce)
    assert [r["zbee_zcl.cmd.tsn"] for r in rows if r["zbee_zcl.cmd.tsn"]] == ["33", "66", "67"]
    assert sum("Get Current Price" in i for i in infos) == 2
    assert [num(r["zbee_aps.type"]) for r in rows if num(r["zbee_aps.cluster"]) == 0x0700] == [3, 3]
    assert any(num(r["zbee_nwk.cmd.id"]) == F.NWK_CMD_LEAVE for r in rows)  # decrypted NWK leave

    # control: without the keys folder the same capture stays encrypted
    bare = tshark(pcap, tmp_path / "empty-config")
    assert sum("Encrypted Payload" in r["_ws.expert.message"] for r in bare) == 5
    assert not any(r["zbee_aps.cmd.key"] for r in bare)


SCENARIO_FIELDS = ["frame.number", "frame.len", "frame.time_epoch", "wpan.frame_type", "wpan.seq_no", "wpan.src64",
                   "_ws.malformed", "_ws.expert.severity", "zbee_aps.type", "zbee_aps.cluster",
                   "zbee_aps.fragment.count", "zbee_aps.reassembled.length",
                   "gbcs_message.grouping_header.message_code", "gbcs_message.grouping_header.cra_flag",
                   "gbcs_message.routing_header.message_code", "gbcs_message.gbt_header.block_number",
                   "gbcs_message.gbt_header.block_control.last_block", "gbcs_message.gbt.block.count",
                   "gbcs_message.gbt.reassembled.length"]


def tshark_fields(pcap, config_dir, fields) -> list[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "WIRESHARK_CONFIG_DIR"}
    env["WIRESHARK_CONFIG_DIR"] = str(config_dir)
    cmd = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=|"] + [a for f in fields for a in ("-e", f)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]


def test_a_whole_secmp0037_capture_dissects_cleanly_with_every_gbcs_message_read(tmp_path, tshark_path):
    """One paired SECMP0037 scenario's pcap through tshark with the capture's keys folder: no frame is
    malformed and none carries an expert warning or error; timestamps never go backwards (every hardware
    ack after the frame it answers); every inter-PAN frame carries the 64-bit MAC source and fits one
    127-byte PSDU.  On the HAN every GBCS message travels whole in one TransferData, APS-fragmented below
    it, and Wireshark reassembles the blocks; over inter-PAN (no APS fragmentation) every TransferData is
    one GBCS GBT block (``rig.gbcs.gbt``) and Wireshark reassembles the blocks of the CCS01 and of its
    response into the GBCS messages: its GBCS dissector reads all ten."""
    from typer.testing import CliRunner

    from rig.cli import app

    pcap = tmp_path / "run.pcap"
    result = CliRunner().invoke(app, ["scenario", "secmp0037", "--policy", "secmp0037", "--ppmid-delay", "0",
                                      "--json", "--pcap", str(pcap)])
    assert result.exit_code == 0, result.output
    assert '"outcome": "paired"' in result.output
    rows = tshark_fields(pcap, tmp_path / "run.wireshark", SCENARIO_FIELDS)
    assert len(rows) > 200

    times = [float(r["frame.time_epoch"]) for r in rows]
    assert all(a <= b for a, b in itertools.pairwise(times)), "capture time went backwards"
    for i, r in enumerate(rows):
        if r["wpan.frame_type"] == "0x02":                    # a hardware ack follows the frame it answers
            asked = [p for p in rows[:i] if p["wpan.frame_type"] != "0x02" and p["wpan.seq_no"] == r["wpan.seq_no"]]
            assert asked, f"ack {r['frame.number']} answers no earlier frame"

    assert [r["frame.number"] for r in rows if r["_ws.malformed"]] == []
    # expert severity: 0x00600000 warning, 0x00800000 error (notes and chats are fine)
    assert [r["frame.number"] for r in rows if any(int(v, 0) >= 0x00600000 for v in
                                                   r["_ws.expert.severity"].split("|") if v)] == []

    interpan = [r for r in rows if num(r["zbee_aps.type"]) == 3]
    assert len(interpan) >= 10 and all(r["wpan.src64"] for r in interpan)
    assert max(int(r["frame.len"]) for r in interpan) <= pairing.INTERPAN_PSDU_BYTES

    blocks = [r for r in interpan if num(r["zbee_aps.cluster"]) == pairing.TUNNEL_CLUSTER]
    assert all(r["gbcs_message.routing_header.message_code"] == "0x0001" for r in blocks)   # each one a GBT block
    reassembled = [r for r in blocks if r["gbcs_message.gbt.block.count"]]
    # the CCS01 command, then the CH's response: each from all its blocks, numbered 1.. in order
    assert [(num(r["gbcs_message.grouping_header.cra_flag"]), r["gbcs_message.grouping_header.message_code"])
            for r in reassembled] == [(1, "0x0001"), (2, "0x0001")]
    numbers = [int(r["gbcs_message.gbt_header.block_number"]) for r in blocks]
    ends = [i for i, r in enumerate(blocks) if r["gbcs_message.gbt_header.block_control.last_block"] in ("1", "True")]
    assert ends == [blocks.index(r) for r in reassembled] and ends[-1] == len(blocks) - 1
    starts = [0, ends[0] + 1]
    for start, end, r in zip(starts, ends, reassembled, strict=True):
        assert numbers[start:end + 1] == list(range(1, end - start + 2)) and end > start
        assert int(r["gbcs_message.gbt.block.count"]) == end - start + 1
        assert int(r["gbcs_message.gbt.reassembled.length"]) > pairing.SEGMENT_BYTES

    han_gbcs = [(num(r["gbcs_message.grouping_header.cra_flag"]), r["gbcs_message.grouping_header.message_code"])
                for r in rows if num(r["zbee_aps.type"]) == 0 and r["gbcs_message.grouping_header.message_code"]]
    # CCS01 for the PPMID, CS03A1 relayed to the ESME (command and response on both legs), CS03C to the GPF,
    # CS03A1 for the GSME: to the CH, held, handed over in a GET-RESPONSE (02 nn header), the GSME's response
    # PUT (03 header) and relayed back: Wireshark takes the sleepy header and dissects the message behind it
    assert han_gbcs == [(1, "0x0001"), (2, "0x0001"), (1, "0x000d"), (1, "0x000d"), (2, "0x000d"),
                        (2, "0x000d"), (1, "0x00af"), (2, "0x00af"),
                        (1, "0x000d"), (1, "0x000d"), (2, "0x000d"), (2, "0x000d")]
    aps_reassembled = [r for r in rows if r["gbcs_message.grouping_header.message_code"] and r["zbee_aps.fragment.count"]]
    assert len(aps_reassembled) == len(han_gbcs)              # each one reassembled from APS blocks
    assert all(int(r["zbee_aps.fragment.count"]) >= 2 for r in aps_reassembled)
