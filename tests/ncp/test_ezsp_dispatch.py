"""EZSP framing on the NCP side: version negotiation, invalidCommand, callback ordering."""

import bellows.types as t
import zigpy.types as zt

from firmware_shims.ncp.ezsp import EzspNcp
from firmware_shims.ncp.node import Node
from firmware_shims.ncp.nv import NvStore
from rig.clock import VirtualClock
from rig.transport import open_ezsp


def make(firmware=14, versions=(13, 14, 16, 17, 18, 19)):
    sent = []
    ezsp = EzspNcp(sent.append, {}, firmware_version=firmware, versions=versions)
    node = Node(NvStore(None, "00DB1234567890A3"), VirtualClock(), ezsp.callback)
    ezsp.handlers = node.handlers()
    return ezsp, node, sent


def test_legacy_version_probe_is_answered_with_the_firmware_version_in_legacy_layout():
    ezsp, _node, sent = make()
    ezsp.frame_received(bytes.fromhex("00000004"))
    assert sent == [bytes.fromhex("0080000e0220 80".replace(" ", ""))]   # v14, stack 0x8020 = 8.0.2.0
    assert ezsp.version is None                                          # host must switch first


def test_version_switch_uses_the_extended_layout():
    ezsp, _node, sent = make()
    ezsp.frame_received(bytes.fromhex("000001 0000 0e".replace(" ", "")))
    assert sent[-1] == bytes.fromhex("01800100000e022080".replace("01800100", "00800100"))
    assert ezsp.version == 14


def test_unsupported_version_is_answered_with_the_ncp_own_version_and_not_adopted():
    ezsp, _node, sent = make(firmware=13, versions=(13,))
    ezsp.frame_received(bytes.fromhex("00000100000e"))          # host wants 14
    assert sent[-1][5] == 13                                    # NCP says: I speak 13
    assert ezsp.version is None


def test_unknown_frame_id_gets_invalid_command_and_the_ncp_keeps_working():
    ezsp, _node, sent = make()
    ezsp.frame_received(bytes.fromhex("00000100000e"))
    ezsp.frame_received(bytes.fromhex("07000134 12"))           # frame id 0x1234 does not exist
    assert sent[-1] == bytes.fromhex("0780015800") + (0x31).to_bytes(4, "little")
    ezsp.frame_received(bytes.fromhex("08000126 00"))           # getEui64
    assert sent[-1][:5] == bytes.fromhex("0880012600")
    assert sent[-1][5:] == bytes.fromhex("00DB1234567890A3")[::-1]


def test_truncated_parameters_get_invalid_command_with_truncated_reason():
    ezsp, _node, sent = make(firmware=13, versions=(13,))
    ezsp.frame_received(bytes.fromhex("00000100000d"))
    ezsp.frame_received(bytes.fromhex("01000153 00"))           # setConfigurationValue without params
    assert sent[-1] == bytes.fromhex("0180015800") + bytes([0x33])


def test_callbacks_follow_their_reply_and_reuse_a_completed_sequence_number():
    ezsp, node, sent = make()
    ezsp.frame_received(bytes.fromhex("00000100000e"))
    params = t.EmberNetworkParameters(extendedPanId=t.ExtendedPanId.convert("00:DB:12:34:56:78:90:A3"),
                                      panId=0x1A2B, radioTxPower=8, radioChannel=15, joinMethod=0,
                                      nwkManagerId=0, nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS)
    ezsp.frame_received(bytes.fromhex("2a00011e00") + params.serialize())    # formNetwork, seq 0x2a
    reply, callback = sent[-2], sent[-1]
    assert reply[:5] == bytes.fromhex("2a80011e00") and reply[5:] == bytes(4)     # OK
    assert callback[:5] == bytes.fromhex("2a90011900")                           # stackStatusHandler
    assert int.from_bytes(callback[5:9], "little") == t.sl_Status.NETWORK_UP
    assert node.network.pan_id == 0x1A2B


async def test_v14_export_link_key_by_index_follows_emberznet_not_bellows(make_dongle):
    """Deviation: bellows' v14 host parses exportLinkKeyByIndex in v13 field order.

    EmberZNet 8.0 (EZSP v14) answers ``status, context, key, metadata``; the emulator does the same,
    so a raw v14 command sees the key while bellows' ``read_link_keys`` (v13 order) finds none.
    """
    dongle = await make_dongle()
    ezsp = await open_ezsp(dongle.url)
    try:
        eui = zt.EUI64.convert("00:11:22:33:44:55:66:77")
        key = t.KeyData(bytes(range(16)))
        (status,) = await ezsp.importLinkKey(index=0, address=eui, key=key)
        assert status == t.sl_Status.OK
        status, context, plaintext, _meta = await ezsp.exportLinkKeyByIndex(index=0)
        assert status == t.sl_Status.OK and context.eui64 == eui and plaintext == key
        keys = [k async for k in ezsp._protocol.read_link_keys()]
        assert keys == []      # the bellows bug the notes describe; the NCP is right
    finally:
        await ezsp.disconnect()
