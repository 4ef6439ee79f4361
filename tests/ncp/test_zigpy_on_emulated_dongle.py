"""Unmodified zigpy (bellows radio) drives the emulated dongle exactly as it drives a USB stick."""

import asyncio
import json
import sys
from pathlib import Path

import bellows.types as t
import bellows.zigbee.application as bellows_app
import pytest
import zigpy.types as zt
from zigpy.exceptions import DeliveryError

from rig.transport import open_ezsp, zigpy_config


async def start_app(url, **kw):
    return await bellows_app.ControllerApplication.new(zigpy_config(url, channel=15, **kw), auto_form=True,
                                                       start_radio=True)


@pytest.mark.parametrize("transport", ["tcp", "pty"])
async def test_auto_form_creates_a_network_over_tcp_and_pty(make_dongle, transport):
    dongle = await make_dongle(transport=transport)
    app = await start_app(dongle.url)
    try:
        info = app.state.network_info
        assert info.channel == 15
        assert info.pan_id not in (0x0000, 0xFFFF)
        assert app.state.node_info.nwk == 0x0000
        assert app.state.node_info.ieee == zt.EUI64(bytes.fromhex(dongle.nv.state.factory_eui64)[::-1])
        # the network is in the dongle's NV, not just in zigpy's memory
        assert dongle.nv.state.network.pan_id == info.pan_id
        assert dongle.nv.state.network.network_key == bytes(info.network_key.key).hex().upper()
    finally:
        await app.shutdown()


async def test_power_cycle_resumes_the_same_network_without_reforming(make_dongle):
    dongle = await make_dongle()
    app = await start_app(dongle.url)
    first = app.state.network_info
    await app.shutdown()

    await dongle.power_cycle()
    nv_before = json.loads(dongle.nv.state.to_json())["network"]

    app = await start_app(dongle.url)
    try:
        second = app.state.network_info
        assert (second.pan_id, second.extended_pan_id, second.network_key.key) == (
            first.pan_id, first.extended_pan_id, first.network_key.key)
        assert json.loads(dongle.nv.state.to_json())["network"]["network_key"] == nv_before["network_key"]
        assert dongle.ash.stats["resets"] >= 1
    finally:
        await app.shutdown()


async def test_permit_with_install_code_key_is_accepted_and_stored_as_transient_key(make_dongle):
    from zigpy.util import convert_install_code

    dongle = await make_dongle()
    app = await start_app(dongle.url)
    try:
        code = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
        key = convert_install_code(code)
        joiner = zt.EUI64.convert("00:11:22:33:44:55:66:77")
        await app.permit_with_link_key(joiner, key, time_s=60)
        assert dongle.node.transient_key_for(joiner) == bytes(key)
        assert bytes(key).hex().upper() == "66B6900981E1EE3CA4206B6B861C02BB"
        assert dongle.node.permitting()
        assert dongle.node.state.policies[int(t.EzspPolicyId.TRUST_CENTER_POLICY)] & 0x10   # install-code keys only
    finally:
        await app.shutdown()


async def test_send_to_an_absent_node_reports_a_delivery_failure(make_dongle):
    dongle = await make_dongle()
    app = await start_app(dongle.url)
    try:
        with pytest.raises(DeliveryError):
            dev = app.add_device(zt.EUI64.convert("00:11:22:33:44:55:66:78"), 0x1234)
            await dev.zdo.Node_Desc_req(0x1234)
    finally:
        await app.shutdown()


@pytest.mark.parametrize("version", [13, 14, 16, 17, 18, 19])
async def test_every_emulated_ezsp_version_forms_with_zigpy(make_dongle, version):
    dongle = await make_dongle(ezsp_version=version, versions=(version,))
    app = await start_app(dongle.url)
    try:
        assert dongle.ezsp.version == version
        assert app._ezsp.ezsp_version == version
        assert app.state.network_info.channel == 15
    finally:
        await app.shutdown()


async def test_unknown_frame_id_is_answered_with_invalid_command(make_dongle):
    from bellows.exception import InvalidCommandError

    dongle = await make_dongle()
    ezsp = await open_ezsp(dongle.url)
    try:
        # every command of the negotiated version's table is implemented (test_every_command_answered):
        # teach this host one frame id no EZSP version declares, as a newer host would send
        protocol = ezsp._protocol
        protocol.COMMANDS = {**protocol.COMMANDS, "notInThisVersion": (0x7FFE, {}, {})}
        protocol.COMMANDS_BY_ID = {**protocol.COMMANDS_BY_ID, 0x7FFE: ("notInThisVersion", {}, {})}
        with pytest.raises(InvalidCommandError):
            await ezsp.notInThisVersion()
        # and the dongle keeps working afterwards
        (eui64,) = await ezsp.getEui64()
        assert eui64 == dongle.node.eui64
    finally:
        await ezsp.disconnect()


async def test_bellows_cli_info_prints_version_and_eui64(make_dongle):
    dongle = await make_dongle()
    app = await start_app(dongle.url)          # `bellows info` needs a formed network
    await app.shutdown()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "bellows"), "-d", dongle.url, "info",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "EmberZNet version: 8.0.2.0" in text
    assert str(dongle.node.eui64) in text
