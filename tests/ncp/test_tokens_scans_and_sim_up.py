"""Second IEEE address through the EUI-64 tokens, scans with their callbacks, and `rig sim up`."""

import asyncio
import sys
from pathlib import Path

import bellows.types as t
import bellows.zigbee.application as bellows_app
import pytest
import zigpy.types as zt

from firmware_shims.air import Air
from firmware_shims.ncp.dongle import EmulatedDongle
from firmware_shims.ncp.zigbee import AirStack
from rig.clock import RealClock
from rig.transport import open_ezsp, zigpy_config

SECOND = zt.EUI64.convert("00:DB:12:34:56:78:90:B2")


async def test_nv3_rewrite_gives_the_dongle_a_second_ieee_address_after_reset(make_dongle):
    dongle = await make_dongle("ppmid")
    first = dongle.node.eui64
    ezsp = await open_ezsp(dongle.url)
    try:
        assert await ezsp.can_rewrite_custom_eui64()
        await ezsp.write_custom_eui64(SECOND)
        (still,) = await ezsp.getEui64()
        assert still == first                      # applied only after a reset, as on a real NCP
        await ezsp.reset()
        await ezsp.version()
        (now,) = await ezsp.getEui64()
        assert now == SECOND
        await ezsp.write_custom_eui64(first)       # and back again: NV3 is rewritable
        await ezsp.reset()
        await ezsp.version()
        (back,) = await ezsp.getEui64()
        assert back == first
    finally:
        await ezsp.disconnect()
    await dongle.power_cycle()
    assert dongle.node.eui64 == first              # the token survives power loss


async def test_manufacturing_custom_eui64_is_write_once(make_dongle):
    dongle = await make_dongle("burn")
    ezsp = await open_ezsp(dongle.url)
    try:
        (status,) = await ezsp.setMfgToken(tokenId=t.EzspMfgTokenId.MFG_CUSTOM_EUI_64, tokenData=SECOND.serialize())
        assert status == t.sl_Status.OK
        (status,) = await ezsp.setMfgToken(tokenId=t.EzspMfgTokenId.MFG_CUSTOM_EUI_64,
                                           tokenData=zt.EUI64.convert("00:00:00:00:00:00:00:01").serialize())
        assert status != t.sl_Status.OK
        (value,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_CUSTOM_EUI_64)
        assert bytes(value) == SECOND.serialize()
        await ezsp.reset()
        await ezsp.version()
        (eui,) = await ezsp.getEui64()
        assert eui == SECOND                       # the burnt address is in use after a reset
    finally:
        await ezsp.disconnect()


async def test_energy_and_active_scans_report_every_channel_and_the_network(tmp_path):
    clock = RealClock()
    air = Air(clock, seed=3)
    coord = EmulatedDongle("coord", state_dir=tmp_path, radio=air.attach("coord"), clock=clock, stack_factory=AirStack)
    scanner = EmulatedDongle("hht", state_dir=tmp_path, radio=air.attach("hht"), clock=clock, stack_factory=AirStack)
    await coord.start_tcp()
    await scanner.start_tcp()
    app = await bellows_app.ControllerApplication.new(zigpy_config(coord.url, channel=20), auto_form=True,
                                                      start_radio=True)
    ezsp = await open_ezsp(scanner.url)
    try:
        # bellows' startScan collects the result callbacks until scanCompleteHandler
        mask = t.Channels.from_channel_list([11, 15, 20, 25])
        energy = await ezsp.startScan(scanType=t.EzspNetworkScanType.ENERGY_SCAN, channelMask=mask, duration=1)
        assert sorted(channel for channel, _rssi in energy) == [11, 15, 20, 25]
        assert all(-128 <= rssi < 0 for _channel, rssi in energy)
        found = await ezsp.startScan(scanType=t.EzspNetworkScanType.ACTIVE_SCAN,
                                     channelMask=t.Channels.from_channel_list([15, 20]), duration=2)
        assert len(found) == 1
        network, lqi, _rssi = found[0]
        assert network.channel == 20 and network.panId == app.state.network_info.pan_id
        assert network.extendedPanId == app.state.network_info.extended_pan_id
        assert not network.allowingJoin and lqi > 0
    finally:
        await ezsp.disconnect()
        await app.shutdown()
        await coord.stop()
        await scanner.stop()


@pytest.mark.parametrize("ezsp_version", [None, 13])
async def test_rig_sim_up_prints_one_url_per_dongle_and_serves_them_unprovisioned(tmp_path, ezsp_version):
    rig = str(Path(sys.executable).parent / "rig")
    version = [] if ezsp_version is None else ["--ezsp-version", str(ezsp_version)]
    proc = await asyncio.create_subprocess_exec(rig, "sim", "up", "--dongles", "ch,hht", "--state-dir",
                                                str(tmp_path), *version, stdout=asyncio.subprocess.PIPE)
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split() for _ in range(2)]
        assert [name for name, _url in lines] == ["ch", "hht"]
        urls = dict(lines)
        assert all(u.startswith("tcp://127.0.0.1:") for u in urls.values())
        ezsp = await open_ezsp(urls["hht"])
        (eui,) = await ezsp.getEui64()
        _mfg, _board, firmware = await ezsp.get_board_info()
        spoken = ezsp.ezsp_version
        # like a new dongle: the CBKE library but no certificate, no install code, no custom EUI-64
        cert_status, _cert = await ezsp.getCertificate283k1()
        (code,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
        (custom,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_CUSTOM_EUI_64)
        await ezsp.disconnect()
        assert t.sl_Status.from_ember_status(cert_status) not in (t.sl_Status.OK, t.sl_Status.NOT_AVAILABLE)
        assert bytes(code) == b"\xff" * 20 and bytes(custom) == b"\xff" * 8
        if ezsp_version is not None:             # the firmware speaks that version and names its EmberZNet
            assert spoken == ezsp_version and firmware.startswith("7.4.4.0")
        assert (tmp_path / "hht.nv.json").exists()
        assert str(eui).replace(":", "").upper() in (tmp_path / "hht.nv.json").read_text()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode in (0, -15)


def test_rig_sim_up_refuses_bad_names():
    from typer.testing import CliRunner

    from rig.cli import app

    result = CliRunner().invoke(app, ["sim", "up", "--dongles", "ch,,9bad"])
    assert result.exit_code != 0
    assert "9bad" in result.output


async def test_rig_sniff_records_the_frames_of_a_running_sim(tmp_path):
    from rig.sniff import sniff
    from rig.zigbee.frames import MacFrame

    rig = str(Path(sys.executable).parent / "rig")
    proc = await asyncio.create_subprocess_exec(rig, "sim", "up", "--dongles", "ch,hht", "--state-dir",
                                                str(tmp_path), stdout=asyncio.subprocess.PIPE)
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split() for _ in range(3)]
        urls = dict(lines)
        frames = []
        sniffing = asyncio.ensure_future(sniff(urls["sniffer"], sink=lambda t, ch, psdu: frames.append((ch, psdu)),
                                               count=3))
        await asyncio.sleep(0.2)
        ezsp = await open_ezsp(urls["hht"])       # an active scan puts beacon requests on the air
        await ezsp.startScan(scanType=t.EzspNetworkScanType.ACTIVE_SCAN,
                             channelMask=t.Channels.from_channel_list([11, 12, 13]), duration=1)
        await ezsp.disconnect()
        assert await asyncio.wait_for(sniffing, 10) == 3
        assert [ch for ch, _ in frames] == [11, 12, 13]
        assert all(MacFrame.decode(psdu).frame_type == 3 for _, psdu in frames)   # MAC command, FCS good
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def test_rig_sniff_names_a_bad_url():
    from typer.testing import CliRunner

    from rig.cli import app

    result = CliRunner().invoke(app, ["sniff", "http://nowhere"])
    assert result.exit_code == 2
    assert "tcp://127.0.0.1:PORT" in result.output


async def test_the_install_code_token_is_written_once_over_ezsp_and_read_back(make_dongle):
    from rig.zigbee.install_code import install_code_from_token, install_code_token

    dongle = await make_dongle("esme")
    code = bytes(range(16))
    ezsp = await open_ezsp(dongle.url)
    try:
        (empty,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
        assert install_code_from_token(bytes(empty)) is None                     # new: erased
        (st,) = await ezsp.setMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE,
                                       tokenData=install_code_token(code))
        assert t.sl_Status.from_ember_status(st) == t.sl_Status.OK
        (data,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
        assert install_code_from_token(bytes(data)) == code and bytes(data) == install_code_token(code)
        (st,) = await ezsp.setMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE,
                                       tokenData=install_code_token(bytes(8)))
        assert t.sl_Status.from_ember_status(st) == t.sl_Status.FAIL                  # write-once
        (st,) = await ezsp.setMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE, tokenData=b"\x00" * 7)
        assert t.sl_Status.from_ember_status(st) == t.sl_Status.INVALID_PARAMETER
    finally:
        await ezsp.disconnect()
    assert dongle.nv.reload().install_code == (code + install_code_token(code)[-2:]).hex()
