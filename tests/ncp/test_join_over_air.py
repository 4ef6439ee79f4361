"""Joining with install codes over the virtual air: unmodified zigpy on the coordinator dongle,
a router dongle driven through bellows' EZSP API, real 802.15.4/NWK/APS frames between them."""

import asyncio

import bellows.types as t
import bellows.zigbee.application as bellows_app
import pytest
import zigpy.types as zt
from zigpy.util import convert_install_code

from firmware_shims.air import Air
from firmware_shims.ncp.dongle import EmulatedDongle
from firmware_shims.ncp.zigbee import AirStack
from rig.clock import RealClock
from rig.transport import open_ezsp, zigpy_config
from rig.zigbee.install_code import link_key, with_crc

INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
OTHER_CODE = bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")  # a different device's code


@pytest.fixture
async def lab(tmp_path):
    clock = RealClock()
    air = Air(clock, seed=1, pcap=tmp_path / "join.pcap")
    dongles = []

    async def make(name, **kw):
        d = EmulatedDongle(name, state_dir=tmp_path, radio=air.attach(name), clock=clock,
                           stack_factory=AirStack, **kw)
        await d.start_tcp()
        dongles.append(d)
        return d

    yield clock, air, make
    for d in dongles:
        await d.stop()
    air.close()


async def join_router(url, key: bytes, ext_pan, pan, channel):
    """What a router-role host does: preconfigured (install-code) key, then joinNetwork."""
    ezsp = await open_ezsp(url)
    done = asyncio.get_running_loop().create_future()

    def on_callback(name, args):
        if name == "stackStatusHandler" and not done.done():
            status = t.sl_Status.from_ember_status(args[0])
            if status != t.sl_Status.ZIGBEE_NETWORK_OPENED:
                done.set_result(status)

    ezsp.add_callback(on_callback)
    state = t.EmberInitialSecurityState(
        bitmask=t.EmberInitialSecurityBitmask(0x0100 | 0x0800), preconfiguredKey=t.KeyData(key),
        networkKey=t.KeyData(bytes(16)), networkKeySequenceNumber=0,
        preconfiguredTrustCenterEui64=zt.EUI64(bytes(8)))
    (status,) = await ezsp.setInitialSecurityState(state)
    assert status == t.sl_Status.OK
    await ezsp.addEndpoint(endpoint=1, profileId=0x0109, deviceId=0x0500, deviceVersion=1,
                           inputClusterCount=2, outputClusterCount=0, inputClusterList=[0x0000, 0x0704],
                           outputClusterList=[])
    params = t.EmberNetworkParameters(extendedPanId=ext_pan, panId=pan, radioTxPower=8, radioChannel=channel,
                                      joinMethod=0, nwkManagerId=0, nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS)
    (status,) = await ezsp.joinNetwork(nodeType=t.EmberNodeType.ROUTER, parameters=params)
    assert status == t.sl_Status.OK
    return ezsp, await asyncio.wait_for(done, 20)


async def test_router_joins_with_install_code_and_zigpy_interviews_it(lab):
    clock, air, make = lab
    coord, router = await make("coord"), await make("router")
    app = await bellows_app.ControllerApplication.new(zigpy_config(coord.url, channel=15), auto_form=True,
                                                      start_radio=True)
    try:
        info = app.state.network_info
        await app.permit_with_link_key(router.node.eui64, convert_install_code(INSTALL_CODE), time_s=60)
        ezsp, status = await join_router(router.url, bytes(convert_install_code(INSTALL_CODE)),
                                         info.extended_pan_id, info.pan_id, info.channel)
        assert status == t.sl_Status.NETWORK_UP
        assert router.nv.state.network.network_key == bytes(info.network_key.key).hex().upper()
        dev = None
        for _ in range(200):                      # the interview runs over the air (node + simple descriptors)
            dev = app.devices.get(router.node.eui64)
            if dev is not None and dev.node_desc is not None and 1 in dev.endpoints \
                    and 0x0704 in dev.endpoints[1].in_clusters:
                break
            await asyncio.sleep(0.05)
        assert dev is not None and dev.nwk == router.nv.state.network.node_id
        assert dev.node_desc.is_router
        assert 0x0704 in dev.endpoints[1].in_clusters
        # APS data router -> coordinator host
        got = asyncio.get_running_loop().create_future()
        original = app.packet_received

        def spy(packet):
            if packet.cluster_id == 0x0704 and not got.done():
                got.set_result(packet)
            return original(packet)

        app.packet_received = spy
        aps = t.EmberApsFrame(profileId=0x0109, clusterId=0x0704, sourceEndpoint=1, destinationEndpoint=1,
                              options=t.EmberApsOption(0x0040), groupId=0, sequence=0)
        status, _seq = await ezsp.sendUnicast(message_type=t.EmberOutgoingMessageType.OUTGOING_DIRECT, nwk=0x0000,
                                              aps_frame=aps, message_tag=7, message=b"\x01\x02\x00hello")
        assert status == t.sl_Status.OK
        packet = await asyncio.wait_for(got, 10)
        assert packet.data.serialize() == b"\x01\x02\x00hello"
        await ezsp.disconnect()
    finally:
        await app.shutdown()


async def test_wrong_install_code_never_gets_a_usable_network_key(lab):
    clock, air, make = lab
    coord, router = await make("coord"), await make("router")
    app = await bellows_app.ControllerApplication.new(zigpy_config(coord.url, channel=15), auto_form=True,
                                                      start_radio=True)
    initialized = []
    app.add_listener(type("L", (), {"device_initialized": lambda self, dev: initialized.append(dev)})())
    try:
        info = app.state.network_info
        await app.permit_with_link_key(router.node.eui64, convert_install_code(INSTALL_CODE), time_s=60)
        wrong_key = link_key(with_crc(OTHER_CODE))
        ezsp, status = await join_router(router.url, wrong_key, info.extended_pan_id, info.pan_id, info.channel)
        assert status == t.sl_Status.ZIGBEE_NO_NETWORK_KEY_RECEIVED
        assert router.nv.state.network is None
        await clock.advance(30)                   # the TC gives up waiting for the announce
        await asyncio.sleep(0.2)
        assert initialized == []
        await ezsp.disconnect()
    finally:
        await app.shutdown()
