"""tshark dissects and decrypts a capture of the air with its keys folder (skipped without tshark)."""

from __future__ import annotations

import os
import subprocess

import pytest
from air_helpers import JOINER_EUI, NWK_KEY, install_code_link_key, join_like_exchange

from firmware_shims.air import Air
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
