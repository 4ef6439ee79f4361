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


async def start_coordinator(url):
    """Unmodified zigpy (bellows radio) forming a network on channel 15; the MAC filter table sized for
    Silicon Labs' 12-entry inter-PAN list (+ its end marker), as the interpan host plugin sizes it."""
    config = {**zigpy_config(url, channel=15), "ezsp_config": {"CONFIG_MAC_FILTER_TABLE_SIZE": 13}}
    return await bellows_app.ControllerApplication.new(config, auto_form=True, start_radio=True)


async def permit_and_join(app, router, key, joiner_key=None):
    """zigpy permits ``router`` with ``key``; the router host joins with ``joiner_key`` (default: the same)."""
    info = app.state.network_info
    await app.permit_with_link_key(router.node.eui64, key, time_s=60)
    return await join_router(router.url, bytes(key if joiner_key is None else joiner_key), info.extended_pan_id,
                             info.pan_id, info.channel)


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


class Events:
    """zigpy listener events as they happen, each awaitable (``await events.next("device_left")``)."""

    def __init__(self, app) -> None:
        self.seen: list[tuple[str, object]] = []
        self._waiters: dict[str, asyncio.Future] = {}
        for name in ("device_joined", "device_initialized", "device_init_failure", "device_left"):
            setattr(self, name, self._recorder(name))
        app.add_listener(self)

    def _recorder(self, name):
        def record(device, *args):
            self.seen.append((name, device))
            waiter = self._waiters.pop(name, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(device)
        return record

    def named(self, name: str) -> list:
        return [device for event, device in self.seen if event == name]

    async def wait(self, clock, name: str, seconds: float):
        """The first ``name`` event (one already seen counts), within ``seconds`` on ``clock``."""
        if self.named(name):
            return self.named(name)[0]
        waiter = self._waiters.setdefault(name, asyncio.get_running_loop().create_future())
        return await clock.wait_for(waiter, seconds, f"zigpy's {name} event")


def zdo_arrival(app, cluster: int) -> asyncio.Future:
    """Resolves when the coordinator host receives a ZDO frame of ``cluster`` (from any node)."""
    arrived = asyncio.get_running_loop().create_future()
    app._ezsp.add_callback(lambda name, args: name == "incomingMessageHandler" and args[1].profileId == 0
                           and args[1].clusterId == cluster and not arrived.done() and arrived.set_result(args))
    return arrived


async def host_caught_up(ezsp) -> None:
    """A round trip to the NCP: every callback it raised before this command reached the host first
    (one serial link, in order), so a callback that is not there by now was never raised."""
    (eui,) = await ezsp.getEui64()
    assert eui is not None


async def test_router_joins_with_install_code_and_zigpy_interviews_it(lab):
    _clock, _air, make = lab
    coord, router = await make("coord"), await make("router")
    app = await start_coordinator(coord.url)
    try:
        info = app.state.network_info
        ezsp, status = await permit_and_join(app, router, convert_install_code(INSTALL_CODE))
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
    app = await start_coordinator(coord.url)
    events = Events(app)
    router_radio = air.radios["router"]
    # zigpy interviews a device the TC reports as joined; its first request (Node_Desc_req) reaching
    # the router on the air is what could make the router usable, so the test waits for that delivery
    delivered = asyncio.get_running_loop().create_future()

    def on_coordinator_callback(name, args):
        if (name == "messageSentHandler" and args[3].profileId == 0 and args[3].clusterId == 0x0002
                and args[0] == t.sl_Status.OK and not delivered.done()):
            delivered.set_result(router_radio.stats.tx)       # MAC-acked by the router's radio

    app._ezsp.add_callback(on_coordinator_callback)
    try:
        wrong_key = link_key(with_crc(OTHER_CODE))
        ezsp, status = await permit_and_join(app, router, convert_install_code(INSTALL_CODE), wrong_key)
        assert status == t.sl_Status.ZIGBEE_NO_NETWORK_KEY_RECEIVED
        assert router.nv.state.network is None and not router.node.state.network_up
        joined = await events.wait(clock, "device_joined", 5)
        assert joined.ieee == router.node.eui64
        router_tx = await clock.wait_for(delivered, 10, "zigpy's Node_Desc_req delivered to the router")
        await clock.advance(30)                   # the TC gives up waiting for the announce
        left = await events.wait(clock, "device_left", 5)
        await host_caught_up(app._ezsp)
        assert left is joined
        assert router_radio.stats.tx == router_tx            # the router answered nothing it was sent
        assert events.named("device_initialized") == []
        assert not joined.is_initialized and joined.node_desc is None
        await ezsp.disconnect()
    finally:
        await app.shutdown()


async def test_join_capture_is_decrypted_by_tshark_with_the_keys_folder(lab, tmp_path, tshark_path):
    clock, air, make = lab
    coord, router = await make("coord"), await make("router")
    app = await start_coordinator(coord.url)
    try:
        info = app.state.network_info
        key = convert_install_code(INSTALL_CODE)
        # no keys given by hand: the emulated radios hand every key they use to the capture
        announced = zdo_arrival(app, 0x0013)
        ezsp, status = await permit_and_join(app, router, key)
        assert status == t.sl_Status.NETWORK_UP
        await clock.wait_for(announced, 10, "the router's Device_annce at the coordinator host")
        await ezsp.disconnect()
    finally:
        await app.shutdown()
    air.close()
    pcap = tmp_path / "join.pcap"
    env = {"WIRESHARK_CONFIG_DIR": str(air.capture.keys_dir), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = await asyncio.create_subprocess_exec(tshark_path, "-r", str(pcap), "-V", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()
    text = stdout.decode()
    assert "Malformed" not in text
    assert "Transport Key" in text and "Key Type: Standard Network Key" in text
    assert f"Key: {bytes(info.network_key.key).hex()}" in text           # the key itself, decrypted
    assert "Device Announcement" in text
    rows = (air.capture.keys_dir / "zigbee_pc_keys").read_text()
    assert bytes(info.network_key.key).hex().upper() in rows and bytes(key).hex().upper() in rows


async def send_interpan(ezsp, *, to_eui, to_pan, src_eui, channel, payload=b"\x01\x42\x00\x02\x00\x10\x10"):
    from rig.zigbee.frames import interpan

    await ezsp.setRadioChannel(channel=channel)
    frame = interpan(0x37, dst_pan=to_pan, dst=int.from_bytes(bytes(to_eui), "little"), src_pan=0xFFFF,
                     src_ieee=int.from_bytes(bytes(src_eui), "little"), cluster=0x0800, payload=payload)
    done = asyncio.get_running_loop().create_future()
    ezsp.add_callback(lambda name, args: name == "rawTransmitCompleteHandler" and not done.done()
                      and done.set_result(args))
    (status,) = await ezsp.sendRawMessageExtended(message=frame.encode_mpdu(), priority=0, useCca=True)
    assert status == t.sl_Status.OK
    return frame.encode_mpdu(), await asyncio.wait_for(done, 5)


@pytest.mark.parametrize("path", ["mac_filter", "passthrough", "neither"])
async def test_interpan_from_an_unjoined_dongle_reaches_the_coordinator_host_only_when_asked(lab, path):
    _clock, _air, make = lab
    coord, hht = await make("coord"), await make("hht")
    app = await start_coordinator(coord.url)
    heard = []
    app._ezsp.add_callback(lambda name, args: name.startswith("mac") and heard.append((name, args)))
    try:
        info = app.state.network_info
        if path == "mac_filter":    # Silicon Labs' interpan plugin list (inter-pan.md §2)
            entries = [0x0005, 0x0015, 0x0025, 0x0009, 0x0019, 0x0029, 0x0006, 0x0016, 0x0026, 0x000A, 0x001A,
                       0x002A]
            value = b"".join(e.to_bytes(2, "little") for e in entries)
            (status,) = await app._ezsp.setValue(valueId=t.EzspValueId.VALUE_MAC_FILTER_LIST, value=value)
            assert status == t.sl_Status.OK
        elif path == "passthrough":
            (status,) = await app._ezsp.setValue(valueId=t.EzspValueId.VALUE_MAC_PASSTHROUGH_FLAGS, value=b"\x01")
            assert status == t.sl_Status.OK
        sender = await open_ezsp(hht.url)
        sent, (contents, status) = await send_interpan(sender, to_eui=coord.node.eui64, to_pan=info.pan_id,
                                                       src_eui=hht.node.eui64, channel=info.channel)
        assert contents == sent and status == t.sl_Status.OK       # the coordinator's radio acked it
        await host_caught_up(app._ezsp)           # what the NCP passed up for it is at the host now
        await sender.disconnect()
    finally:
        await app.shutdown()
    if path == "neither":
        assert heard == []
        return
    (name, args), = heard
    assert name == {"mac_filter": "macFilterMatchMessageHandler", "passthrough": "macPassthroughMessageHandler"}[path]
    assert bytes(args[-1]) == sent
    if path == "mac_filter":
        assert args[0] == 2           # third entry: dst PAN local, src PAN non-local, dst unicast long


async def test_normal_network_frames_are_never_passed_through(lab):
    clock, air, make = lab
    coord, router = await make("coord"), await make("router")
    app = await start_coordinator(coord.url)
    heard = []
    app._ezsp.add_callback(lambda name, args: name.startswith("mac") and heard.append(name))
    announced, described = zdo_arrival(app, 0x0013), zdo_arrival(app, 0x8004)
    try:
        await app._ezsp.setValue(valueId=t.EzspValueId.VALUE_MAC_PASSTHROUGH_FLAGS, value=b"\x01")
        await app._ezsp.setValue(valueId=t.EzspValueId.VALUE_MAC_FILTER_LIST, value=bytes.fromhex("0500150025000900"))
        key = convert_install_code(INSTALL_CODE)
        ezsp, status = await permit_and_join(app, router, key)
        assert status == t.sl_Status.NETWORK_UP
        # announce + interview traffic: the announce and the interview's Simple_Desc_rsp reached the host
        await clock.wait_for(announced, 10, "the router's Device_annce at the coordinator host")
        await clock.wait_for(described, 20, "the router's Simple_Desc_rsp at the coordinator host")
        await host_caught_up(app._ezsp)
        await ezsp.disconnect()
    finally:
        await app.shutdown()
    assert air.stats.delivered > 10
    assert heard == []


async def test_join_survives_twenty_percent_frame_loss_or_fails_with_a_named_status(tmp_path):
    from firmware_shims.air import Faults

    clock = RealClock()
    air = Air(clock, seed=7, faults=Faults(loss=0.2))
    dongles = [EmulatedDongle(n, state_dir=tmp_path, radio=air.attach(n), clock=clock, stack_factory=AirStack)
               for n in ("coord", "router")]
    for d in dongles:
        await d.start_tcp()
    coord, router = dongles
    app = await start_coordinator(coord.url)
    try:
        info = app.state.network_info
        key = convert_install_code(INSTALL_CODE)
        await app.permit_with_link_key(router.node.eui64, key, time_s=60)
        outcomes = []
        for _attempt in range(3):                 # a real installer retries a failed join
            ezsp, status = await join_router(router.url, bytes(key), info.extended_pan_id, info.pan_id,
                                             info.channel)
            outcomes.append(status)
            await ezsp.disconnect()
            if status == t.sl_Status.NETWORK_UP:
                break
        assert air.stats.lost > 0
        assert all(s in (t.sl_Status.NETWORK_UP, t.sl_Status.NO_BEACONS, t.sl_Status.NOT_JOINED,
                         t.sl_Status.ZIGBEE_NO_NETWORK_KEY_RECEIVED) for s in outcomes)
        assert outcomes[-1] == t.sl_Status.NETWORK_UP, outcomes
    finally:
        await app.shutdown()
        for d in dongles:
            await d.stop()
        air.close()
