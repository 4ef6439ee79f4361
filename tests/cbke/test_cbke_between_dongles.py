"""CBKE between two emulated dongles: the NCPs do the cryptography (EZSP), the hosts run the Key
Establishment cluster (0x0800) over inter-PAN and over the HAN, and both ends end up with the same
link key in their key tables — the next APS-encrypted frame proves it."""

import asyncio

import bellows.types as t
import bellows.zigbee.application as bellows_app
import zigpy.types as zt
from zigpy.util import convert_install_code

from firmware_shims.air import Air
from firmware_shims.ncp.dongle import EmulatedDongle
from firmware_shims.ncp.zigbee import AirStack
from rig.cbke.ca import TestCa
from rig.cbke.ezsp_engine import EzspKeEngine
from rig.cbke.ke_cluster import CLUSTER_ID, KeInitiator, KeResponder
from rig.clock import RealClock
from rig.transport import open_ezsp, zigpy_config
from rig.zigbee.eui64 import eui_int
from rig.zigbee.frames import PROFILE_SE, MacFrame, interpan
from rig.zigbee.zcl import ZclHeader

INTERPAN_FILTERS = bytes.fromhex("050015002500090019002900060016002600" "0a001a002a00")
INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")


async def make_lab(tmp_path, names):
    clock = RealClock()
    air = Air(clock, seed=5, pcap=tmp_path / "cbke.pcap")
    ca = TestCa.create()
    dongles = {}
    for name in names:
        d = EmulatedDongle(name, state_dir=tmp_path, radio=air.attach(name), clock=clock, stack_factory=AirStack)
        subject = bytes(d.node.eui64)[::-1]
        d.node.install_cbke_token(ca.issue(subject).to_json())      # factory provisioning of the token
        await d.start_tcp()
        dongles[name] = d
    return clock, air, dongles


class InterPanLink:
    """One host's inter-PAN endpoint for the KE cluster (raw MAC frames out, MAC filter matches in)."""

    def __init__(self, ezsp, own_eui, own_pan):
        self.ezsp, self.own_eui, self.own_pan = ezsp, own_eui, own_pan
        self.peer = None
        self.session = None
        self.seq = 0
        ezsp.add_callback(self._on_callback)

    def _on_callback(self, name, args):
        if name != "macFilterMatchMessageHandler" or self.session is None:
            return
        mac = MacFrame.decode_mpdu(bytes(args[-1]))
        aps_stub = mac.payload[2:]                  # after the NWK stub 0x000B
        cluster = int.from_bytes(aps_stub[1:3], "little")
        if cluster != CLUSTER_ID:
            return
        zcl = ZclHeader.decode(aps_stub[5:])
        self.peer = self.peer or (mac.src_addr, mac.src_pan)
        asyncio.ensure_future(self.session.handle(zcl.command_id, zcl.payload))

    async def send(self, command_id, payload, *, direction):
        self.seq = (self.seq + 1) & 0xFF
        zcl = ZclHeader(frame_type=1, direction=direction, disable_default_response=1, seq=self.seq,
                        command_id=command_id, payload=payload).encode()
        dst, dst_pan = self.peer
        frame = interpan(self.seq, dst_pan=dst_pan, dst=dst, src_pan=self.own_pan, src_ieee=eui_int(self.own_eui),
                         cluster=CLUSTER_ID, profile=PROFILE_SE, payload=zcl)
        (status,) = await self.ezsp.sendRawMessageExtended(message=frame.encode_mpdu(), priority=0, useCca=True)
        return status == t.sl_Status.OK


async def test_cbke_over_interpan_gives_both_dongles_the_same_link_key(tmp_path):
    clock, air, d = await make_lab(tmp_path, ["ch", "hht"])
    # the MAC filter tables sized for the list and its end marker before the stack is up (interpan host plugin)
    table = {"CONFIG_MAC_FILTER_TABLE_SIZE": len(INTERPAN_FILTERS) // 2 + 1}
    app = await bellows_app.ControllerApplication.new({**zigpy_config(d["ch"].url, channel=15), "ezsp_config": table},
                                                      auto_form=True, start_radio=True)
    hht = await open_ezsp(d["hht"].url)
    try:
        info = app.state.network_info
        (status,) = await hht.setConfigurationValue(configId=t.EzspConfigId.CONFIG_MAC_FILTER_TABLE_SIZE,
                                                    value=table["CONFIG_MAC_FILTER_TABLE_SIZE"])
        assert status == t.sl_Status.OK
        for ezsp in (app._ezsp, hht):
            (status,) = await ezsp.setValue(valueId=t.EzspValueId.VALUE_MAC_FILTER_LIST, value=INTERPAN_FILTERS)
            assert status == t.sl_Status.OK
        await hht.setRadioChannel(channel=info.channel)
        # off the network the receiver is off when idle: the HHT keeps it on to hear the CH's answers
        await hht.zllSetRadioIdleMode(mode=t.EmberRadioPowerMode.RADIO_POWER_MODE_RX_ON)
        ch_link = InterPanLink(app._ezsp, d["ch"].node.eui64, info.pan_id)
        hht_link = InterPanLink(hht, d["hht"].node.eui64, 0xFFFF)
        hht_link.peer = (eui_int(d["ch"].node.eui64), info.pan_id)
        responder = KeResponder(EzspKeEngine(app._ezsp), lambda c, p: ch_link.send(c, p, direction=1), clock)
        initiator = KeInitiator(EzspKeEngine(hht), lambda c, p: hht_link.send(c, p, direction=0), clock,
                                partner_eui64=bytes(d["ch"].node.eui64)[::-1])
        ch_link.session, hht_link.session = responder, initiator
        result = await asyncio.wait_for(initiator.run(), 30)
        assert result.success, result
        theirs = await asyncio.wait_for(responder.next_result(), 10)
        assert theirs.success
        ch_key = d["ch"].node.link_key_for(d["hht"].nv.state.effective_eui64())
        hht_key = d["hht"].node.link_key_for(d["ch"].nv.state.effective_eui64())
        assert ch_key is not None and ch_key == hht_key
    finally:
        await hht.disconnect()
        await app.shutdown()
        for dongle in d.values():
            await dongle.stop()
        air.close()


async def test_cbke_on_the_han_then_aps_encrypted_data_decrypts_at_the_other_end(tmp_path, request):
    clock, air, d = await make_lab(tmp_path, ["ch", "esme"])
    app = await bellows_app.ControllerApplication.new(zigpy_config(d["ch"].url, channel=15), auto_form=True,
                                                      start_radio=True)
    esme = await open_ezsp(d["esme"].url)
    try:
        info = app.state.network_info
        key = convert_install_code(INSTALL_CODE)
        await app.permit_with_link_key(d["esme"].node.eui64, key, time_s=60)
        up = asyncio.get_running_loop().create_future()
        esme.add_callback(lambda n, a: n == "stackStatusHandler" and not up.done()
                          and t.sl_Status.from_ember_status(a[0]) == t.sl_Status.NETWORK_UP and up.set_result(1))
        await esme.setInitialSecurityState(t.EmberInitialSecurityState(
            bitmask=t.EmberInitialSecurityBitmask(0x0900), preconfiguredKey=key, networkKey=t.KeyData(bytes(16)),
            networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=zt.EUI64(bytes(8))))
        await esme.addEndpoint(endpoint=1, profileId=PROFILE_SE, deviceId=0x0501, deviceVersion=1,
                               inputClusterCount=1, outputClusterCount=1, inputClusterList=[CLUSTER_ID],
                               outputClusterList=[CLUSTER_ID])
        await esme.joinNetwork(nodeType=t.EmberNodeType.ROUTER, parameters=t.EmberNetworkParameters(
            extendedPanId=info.extended_pan_id, panId=info.pan_id, radioTxPower=8, radioChannel=info.channel,
            joinMethod=0, nwkManagerId=0, nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS))
        await asyncio.wait_for(up, 20)
        esme_nwk = d["esme"].nv.state.network.node_id

        # KE over APS: the ESME initiates towards the CH (trust centre), as a joining SE device does
        seqs = iter(range(1, 255))
        received = {"ch": None, "esme": None}

        async def aps_send(ezsp, nwk, command_id, payload, direction):
            zcl = ZclHeader(frame_type=1, direction=direction, disable_default_response=1, seq=next(seqs),
                            command_id=command_id, payload=payload).encode()
            aps = t.EmberApsFrame(profileId=PROFILE_SE, clusterId=CLUSTER_ID, sourceEndpoint=1,
                                  destinationEndpoint=1, options=t.EmberApsOption(0x0040), groupId=0, sequence=0)
            status, _ = await ezsp.sendUnicast(message_type=0, nwk=nwk, aps_frame=aps, message_tag=1, message=zcl)
            return status == t.sl_Status.OK

        def route(side, session):
            def on_callback(name, args):
                if name == "incomingMessageHandler" and args[1].clusterId == CLUSTER_ID:
                    zcl = ZclHeader.decode(bytes(args[-1]))
                    asyncio.ensure_future(session.handle(zcl.command_id, zcl.payload))
                elif name == "incomingMessageHandler" and args[1].clusterId == 0x0704:
                    received[side] = (args[1], bytes(args[-1]))
            return on_callback

        responder = KeResponder(EzspKeEngine(app._ezsp), lambda c, p: aps_send(app._ezsp, esme_nwk, c, p, 1), clock)
        initiator = KeInitiator(EzspKeEngine(esme), lambda c, p: aps_send(esme, 0x0000, c, p, 0), clock,
                                partner_eui64=bytes(d["ch"].node.eui64)[::-1])
        app._ezsp.add_callback(route("ch", responder))
        esme.add_callback(route("esme", initiator))
        result = await asyncio.wait_for(initiator.run(), 30)
        assert result.success, result
        assert (await asyncio.wait_for(responder.next_result(), 10)).success
        ch_key = d["ch"].node.link_key_for(d["esme"].nv.state.effective_eui64())
        assert ch_key == d["esme"].node.link_key_for(d["ch"].nv.state.effective_eui64()) != bytes(key)

        # the next APS-secured frame (option 0x0020: APS encryption with the CBKE link key)
        aps = t.EmberApsFrame(profileId=PROFILE_SE, clusterId=0x0704, sourceEndpoint=1, destinationEndpoint=1,
                              options=t.EmberApsOption(0x0060), groupId=0, sequence=0)
        status, _ = await esme.sendUnicast(message_type=0, nwk=0x0000, aps_frame=aps, message_tag=2,
                                           message=b"\x01\x10\x00GB-HRGP")
        assert status == t.sl_Status.OK
        for _ in range(100):
            if received["ch"]:
                break
            await asyncio.sleep(0.02)
        assert received["ch"][1] == b"\x01\x10\x00GB-HRGP"
        air.add_key(bytes(info.network_key.key), "network key")
        air.add_key(ch_key, "CBKE link key CH-ESME")
    finally:
        await esme.disconnect()
        await app.shutdown()
        for dongle in d.values():
            await dongle.stop()
        air.close()

    # host-side decryption is checked above on every machine; Wireshark's view needs tshark
    await _tshark_sees_aps_decrypted(request.getfixturevalue("tshark_path"), tmp_path, b"GB-HRGP")


async def _tshark_sees_aps_decrypted(tshark: str, tmp_path, plaintext: bytes) -> None:
    """Wireshark, given the keys folder, decrypts the APS-secured frame with the CBKE link key."""
    env = {"WIRESHARK_CONFIG_DIR": str(tmp_path / "cbke.wireshark"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = await asyncio.create_subprocess_exec(tshark, "-r", str(tmp_path / "cbke.pcap"), "-x", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "Decrypted ZigBee APS" in text or "Decrypted ZigBee" in text
    assert plaintext.decode() in text
