"""Round trips, builders and error reporting of rig.zigbee.frames (scapy comparisons: test_zb_scapy.py)."""

from __future__ import annotations

import pickle

import pytest
from crccheck.crc import Crc16Kermit
from zb_helpers import interpan_worked_example

from rig.zigbee import frames as F
from rig.zigbee.frames import (
    ApsCommand,
    ApsFrame,
    AuxHeader,
    FrameError,
    LinkStatusEntry,
    MacBeacon,
    MacCommand,
    MacFrame,
    NwkCommand,
    NwkFrame,
    ZigbeeBeacon,
)
from rig.zigbee.zcl import ZclHeader

CH_EUI = 0x00DB1234567890A3
HHT_EUI = 0x1122334455667788
PAN = 0x1A2B
EPID = 0x00DB1234567890A3


def roundtrip(frame):
    data = frame.encode()
    again = type(frame).decode(data)
    assert again == frame, (again, frame)
    assert again.encode() == data
    return data


# --- FCS -------------------------------------------------------------------------------------


def test_fcs_matches_crccheck_kermit_and_known_value():
    assert F.fcs(b"123456789") == Crc16Kermit.calc(b"123456789") == 0x2189
    assert F.fcs(b"") == 0


# --- MAC -------------------------------------------------------------------------------------


def test_mac_data_frame_bytes():
    f = F.mac_data(5, PAN, 0x0000, 0x1234, b"\x08\x02")
    data = roundtrip(f)
    # FCF 0x8861: data, ack request, PAN-ID compression, short/short, 2003
    assert data[:9] == bytes.fromhex("6188052b1a00003412")
    assert data[-2:] == F.fcs(data[:-2]).to_bytes(2, "little")
    assert f.src_pan is None and f.src_pan_effective == PAN


def test_mac_broadcast_data_requests_no_ack():
    f = F.mac_data(1, PAN, F.BROADCAST, 0x0000, b"x")
    assert f.ack_request == 0 and f.is_broadcast
    roundtrip(f)


def test_mac_ack_is_five_bytes():
    data = roundtrip(F.mac_ack(0x42))
    assert data[:3] == bytes.fromhex("020042") and len(data) == 5
    assert MacFrame.decode(F.mac_ack(7, frame_pending=True).encode()).frame_pending == 1


def test_beacon_request_bytes():
    data = roundtrip(F.beacon_request(9))
    assert data[:-2] == bytes.fromhex("030809ffffffff07")


def test_beacon_and_zigbee_payload():
    f = F.beacon(3, PAN, 0x0000, EPID, permit_joining=True, update_id=4)
    data = roundtrip(f)
    assert data[:2] == bytes.fromhex("0080")  # beacon, src short, no dst
    sf = MacBeacon.decode(f.payload)
    assert sf.association_permit == 1 and sf.pan_coordinator == 1 and sf.beacon_order == 15
    assert sf.pending_short == [] and sf.pending_long == []
    zb = ZigbeeBeacon.decode(sf.payload)
    assert (zb.protocol_id, zb.stack_profile, zb.protocol_version) == (0, 2, 2)
    assert zb.extended_pan_id == EPID and zb.tx_offset == 0xFFFFFF and zb.update_id == 4
    assert len(sf.payload) == 15
    assert sf.payload[2] == 0x84  # router capacity (bit 2) + end-device capacity (bit 7), depth 0


def test_beacon_with_pending_addresses_and_gts():
    sf = MacBeacon(gts_list=b"\x01\x02\x03", gts_directions=1, pending_short=[0x1234, 0x5678],
                   pending_long=[HHT_EUI], payload=b"")
    assert sf.gts_count == 1 and sf.pending_short_count == 2 and sf.pending_long_count == 1
    roundtrip(sf)


def test_association_request_and_response():
    req = F.association_request(3, PAN, 0x0000, HHT_EUI, F.CAP_ALLOCATE_ADDRESS | F.CAP_RX_ON_WHEN_IDLE)
    data = roundtrip(req)
    assert data[:2] == bytes.fromhex("23c8")  # command, ack, dst short, src long, no compression
    cmd = MacCommand.decode(req.payload)
    assert cmd.command_id == F.MAC_ASSOC_REQ and cmd.capability == 0x88
    rsp = F.association_response(4, PAN, HHT_EUI, CH_EUI, 0x4567)
    roundtrip(rsp)
    cmd = MacCommand.decode(rsp.payload)
    assert (cmd.short_addr, cmd.status) == (0x4567, F.ASSOC_SUCCESS)
    assert rsp.dst_addr == HHT_EUI and rsp.src_addr == CH_EUI


def test_data_request_short_and_long_source():
    for src, long_ in ((0x4567, False), (HHT_EUI, True)):
        f = F.data_request(6, PAN, 0x0000, src, src_long=long_)
        roundtrip(f)
        assert MacCommand.decode(f.payload).command_id == F.MAC_DATA_REQ


def test_mac_commands_roundtrip():
    for cmd in (MacCommand(command_id=F.MAC_DISASSOC, reason=2),
                MacCommand(command_id=F.MAC_COORD_REALIGN, realign_pan_id=PAN, realign_coord_short=0,
                           realign_channel=15, realign_short_addr=0x1234),
                MacCommand(command_id=F.MAC_ORPHAN), MacCommand(command_id=F.MAC_GTS_REQ, gts_characteristics=3)):
        roundtrip(cmd)


# --- NWK -------------------------------------------------------------------------------------


def test_nwk_data_header_with_ieee_fields_and_flags():
    f = NwkFrame(frame_type=F.NWK_DATA, dst=0x0000, src=0x4567, radius=30, seq=9, dst_ieee=CH_EUI,
                 src_ieee=HHT_EUI, discover_route=1, payload=b"\x40")
    assert f.dst_ieee_present == 1 and f.src_ieee_present == 1 and f.security == 0
    data = roundtrip(f)
    assert data[:2] == bytes.fromhex("4818")


def test_nwk_secured_header_layout():
    aux = AuxHeader(key_id=F.KEY_ID_NWK, frame_counter=0x01020304, source=HHT_EUI, key_seq=0)
    f = NwkFrame(frame_type=F.NWK_DATA, dst=0, src=0x4567, radius=30, seq=1, aux=aux, payload=b"ct+mic")
    data = roundtrip(f)
    assert data[:2] == bytes.fromhex("0802")
    assert data[8:22] == bytes.fromhex("28" "04030201" "8877665544332211" "00")
    assert aux.size == 14


def test_nwk_source_route_and_multicast():
    f = NwkFrame(frame_type=F.NWK_DATA, dst=0x1111, src=0, radius=5, seq=2, relays=[0x2222, 0x3333],
                 relay_index=1, multicast_control=0x0F, payload=b"")
    assert f.source_route == 1 and f.relay_count == 2 and f.multicast == 1
    roundtrip(f)


def test_nwk_interpan_stub_has_only_frame_control():
    f = NwkFrame(frame_type=F.NWK_INTERPAN, payload=b"\x03\x00\x07\x09\x01")
    assert f.encode() == bytes.fromhex("0b00") + f.payload
    decoded = NwkFrame.decode(f.encode())
    assert decoded.dst is None and decoded.seq is None and decoded == f


def test_nwk_commands_roundtrip():
    cmds = [
        NwkCommand(command_id=F.NWK_CMD_LEAVE, options=F.LEAVE_REJOIN),
        NwkCommand(command_id=F.NWK_CMD_REJOIN_REQUEST, capability=0x8E),
        NwkCommand(command_id=F.NWK_CMD_REJOIN_RESPONSE, short_addr=0x4567, status=0),
        NwkCommand(command_id=F.NWK_CMD_NETWORK_STATUS, status=0x0B, dst_addr=0x4567),
        NwkCommand(command_id=F.NWK_CMD_ROUTE_RECORD, relays=[0x1111, 0x2222]),
        NwkCommand(command_id=F.NWK_CMD_ROUTE_REQUEST, options=0x20, route_request_id=1, dst_addr=0x4567,
                   path_cost=0, dst_ieee=HHT_EUI),
        NwkCommand(command_id=F.NWK_CMD_ROUTE_REQUEST, options=0x08, route_request_id=2, dst_addr=0xFFFC,
                   path_cost=0),
        NwkCommand(command_id=F.NWK_CMD_ROUTE_REPLY, options=0x30, route_request_id=1, originator=0,
                   responder=0x4567, path_cost=1, originator_ieee=CH_EUI, responder_ieee=HHT_EUI),
        NwkCommand(command_id=F.NWK_CMD_LINK_STATUS, first_frame=1, last_frame=1,
                   entries=[LinkStatusEntry(address=0x4567, incoming_cost=1, outgoing_cost=3)]),
        NwkCommand(command_id=F.NWK_CMD_ED_TIMEOUT_REQUEST, requested_timeout=8, ed_config=0),
        NwkCommand(command_id=F.NWK_CMD_ED_TIMEOUT_RESPONSE, status=0, parent_info=3),
    ]
    for c in cmds:
        roundtrip(c)
    assert cmds[4].encode() == bytes.fromhex("0502" "1111" "2222")
    assert cmds[8].entry_count == 1


# --- APS -------------------------------------------------------------------------------------


def test_aps_data_unicast_group_broadcast():
    uni = ApsFrame(frame_type=F.APS_DATA, delivery_mode=F.DELIVERY_UNICAST, ack_request=1, dst_endpoint=1,
                   cluster=0x0704, profile=F.PROFILE_SE, src_endpoint=1, counter=0x33, payload=b"\x01\x02")
    assert roundtrip(uni)[:8] == bytes.fromhex("40" "01" "0407" "0901" "01" "33")
    grp = ApsFrame(frame_type=F.APS_DATA, delivery_mode=F.DELIVERY_GROUP, group=0x1234, cluster=6,
                   profile=F.PROFILE_HA, src_endpoint=1, counter=1)
    assert grp.dst_endpoint is None
    roundtrip(grp)
    zdo = ApsFrame(frame_type=F.APS_DATA, delivery_mode=F.DELIVERY_BROADCAST, dst_endpoint=0, cluster=0x0013,
                   profile=F.PROFILE_ZDO, src_endpoint=0, counter=2, payload=b"\x01")
    roundtrip(zdo)


def test_aps_acks_and_fragmentation():
    data_ack = ApsFrame(frame_type=F.APS_ACK, dst_endpoint=1, cluster=6, profile=0x104, src_endpoint=1, counter=7)
    assert roundtrip(data_ack) == bytes.fromhex("02" "01" "0600" "0401" "01" "07")
    cmd_ack = ApsFrame(frame_type=F.APS_ACK, ack_format=1, counter=8)
    assert roundtrip(cmd_ack) == bytes.fromhex("1208")
    first = ApsFrame(frame_type=F.APS_DATA, dst_endpoint=1, cluster=6, profile=0x104, src_endpoint=1, counter=9,
                     fragmentation=F.FRAG_FIRST, block_number=3, payload=b"abc")
    assert first.extended_header == 1
    assert roundtrip(first)[8:10] == bytes.fromhex("0103")
    frag_ack = ApsFrame(frame_type=F.APS_ACK, dst_endpoint=1, cluster=6, profile=0x104, src_endpoint=1,
                        counter=9, fragmentation=F.FRAG_MORE, block_number=1, ack_bitfield=0x03)
    roundtrip(frag_ack)
    nofrag = ApsFrame(frame_type=F.APS_DATA, dst_endpoint=1, cluster=6, profile=0x104, src_endpoint=1, counter=1,
                      fragmentation=F.FRAG_NONE)
    assert roundtrip(nofrag)[8:] == b"\x00"  # extended frame control present, no block number


def test_aps_commands_roundtrip():
    key = bytes(range(16))
    cmds = [
        ApsCommand(command_id=F.APS_CMD_TRANSPORT_KEY, key_type=F.KEY_NWK, key=key, key_seq=0, dst_ieee=HHT_EUI,
                   src_ieee=CH_EUI),
        ApsCommand(command_id=F.APS_CMD_TRANSPORT_KEY, key_type=F.KEY_TC_LINK, key=key, dst_ieee=HHT_EUI,
                   src_ieee=CH_EUI),
        ApsCommand(command_id=F.APS_CMD_TRANSPORT_KEY, key_type=F.KEY_APP_LINK, key=key, partner_ieee=HHT_EUI,
                   initiator=1),
        ApsCommand(command_id=F.APS_CMD_UPDATE_DEVICE, device_ieee=HHT_EUI, device_short=0x4567,
                   status=F.UPDATE_UNSECURED_JOIN),
        ApsCommand(command_id=F.APS_CMD_REMOVE_DEVICE, target_ieee=HHT_EUI),
        ApsCommand(command_id=F.APS_CMD_REQUEST_KEY, key_type=F.KEY_TC_LINK),
        ApsCommand(command_id=F.APS_CMD_REQUEST_KEY, key_type=F.KEY_APP_MASTER, partner_ieee=HHT_EUI),
        ApsCommand(command_id=F.APS_CMD_SWITCH_KEY, key_seq=1),
        ApsCommand(command_id=F.APS_CMD_VERIFY_KEY, key_type=F.KEY_TC_LINK, src_ieee=HHT_EUI, key_hash=key),
        ApsCommand(command_id=F.APS_CMD_CONFIRM_KEY, status=0, key_type=F.KEY_TC_LINK, dst_ieee=HHT_EUI),
        ApsCommand(command_id=F.APS_CMD_TUNNEL, dst_ieee=HHT_EUI, payload=b"\x21\x05"),
    ]
    for c in cmds:
        roundtrip(c)
    assert len(cmds[0].encode()) == 1 + 1 + 16 + 1 + 8 + 8
    assert len(cmds[1].encode()) == 1 + 1 + 16 + 8 + 8
    assert cmds[3].encode() == bytes([6]) + HHT_EUI.to_bytes(8, "little") + bytes.fromhex("674501")


# --- inter-PAN -------------------------------------------------------------------------------


def ke_initiate_zcl() -> bytes:
    """inter-pan.md §6: KE Initiate (suite 2) with a 74-byte implicit certificate, built from the note."""
    cert = (b"\x00" + (1).to_bytes(8, "big") + b"\x0d\x08" + b"TESTCA01" + bytes(5) + b"\xff" * 4
            + HHT_EUI.to_bytes(8, "big") + b"\x08" + b"\x02" + b"\xab" * 36)
    assert len(cert) == 74
    return ZclHeader(frame_type=1, direction=0, seq=0x42, command_id=0x00,
                     payload=(2).to_bytes(2, "little") + b"\x10\x10" + cert).encode()


def test_interpan_worked_example_is_reproduced_byte_exactly():
    expected = interpan_worked_example()
    assert len(expected) == 113
    frame = F.interpan(0x37, dst_pan=PAN, dst=CH_EUI, src_pan=0xFFFF, src_ieee=HHT_EUI, cluster=0x0800,
                       profile=F.PROFILE_SE, payload=ke_initiate_zcl())
    assert frame.encode() == expected
    assert expected[-2:] == bytes.fromhex("684c")
    d = F.dissect(expected)
    assert d.error is None
    assert d.nwk.frame_type == 3 and d.nwk.dst is None
    assert (d.aps.frame_type, d.aps.delivery_mode, d.aps.cluster, d.aps.profile) == (3, 0, 0x0800, 0x0109)
    assert ZclHeader.decode(d.aps.payload).seq == 0x42


def test_interpan_broadcast_and_group_headers_match_note():
    # inter-pan.md §6 "Other headers": broadcast and group (0x1234), Price cluster, SE profile
    b = F.interpan(0x38, dst_pan=0xFFFF, dst=0xFFFF, src_pan=0xFFFF, src_ieee=HHT_EUI, cluster=0x0800,
                   delivery="broadcast")
    assert b.encode()[:-2] == bytes.fromhex("01c838ffffffffffff88776655443322110b000b00080901")
    g = F.interpan(0x38, dst_pan=0xFFFF, dst=0xFFFF, src_pan=0xFFFF, src_ieee=HHT_EUI, cluster=0x0800,
                   delivery="group", group=0x1234)
    assert g.encode()[:-2].endswith(bytes.fromhex("0b000f34120008" "0901"))
    for f in (b, g):
        roundtrip(f)


def test_one_table_says_which_layer_follows():
    beacon = F.beacon(3, PAN, 0x0000, EPID, permit_joining=True)
    sf = MacBeacon.decode(beacon.payload)
    assert (F.follows(beacon), F.follows(sf)) == (MacBeacon, ZigbeeBeacon)
    assert F.follows(MacBeacon(payload=b"\x01rest")) is None and F.follows(ZigbeeBeacon.decode(sf.payload)) is None
    assert F.follows(F.beacon_request(1)) is MacCommand and F.follows(F.mac_ack(1)) is None
    assert F.follows(F.mac_data(1, PAN, 0, 1, b"")) is NwkFrame
    ip = F.interpan(1, dst_pan=PAN, dst=CH_EUI, src_pan=0xFFFF, src_ieee=HHT_EUI, cluster=0x0800)
    stub = NwkFrame.decode(ip.payload)
    assert stub.frame_type == F.NWK_INTERPAN and F.follows(stub) is ApsFrame
    assert F.follows(NwkFrame(frame_type=F.NWK_DATA)) is ApsFrame
    assert F.follows(NwkFrame(frame_type=F.NWK_COMMAND)) is NwkCommand
    assert F.follows(ApsFrame(frame_type=F.APS_COMMAND, counter=1)) is ApsCommand
    assert F.follows(ApsFrame(frame_type=F.APS_ACK, ack_format=1, counter=1)) is None
    # dissect walks the same table
    d = F.dissect(beacon.encode())
    assert d.error is None and d.mac_beacon == sf and d.zigbee_beacon == ZigbeeBeacon.decode(sf.payload)
    d = F.dissect(F.mac_data(1, PAN, 0, 1, b"").encode())
    assert d.error is None and d.nwk is None


# --- errors ----------------------------------------------------------------------------------


def with_fcs(body: bytes) -> bytes:
    return body + F.fcs(body).to_bytes(2, "little")


@pytest.mark.parametrize("data, layer, field, offset", [
    (b"\x41", "MacFrame", "psdu", 0),
    (bytes(128), "MacFrame", "psdu", 127),
    (bytes.fromhex("0200420000"), "MacFrame", "fcs", 3),
    (with_fcs(bytes.fromhex("41cc05" "2b1a" "8877")), "MacFrame", "dst_addr", 5),
    (with_fcs(bytes.fromhex("4104052b1a")), "MacFrame", "dst_mode", 0),
    (with_fcs(bytes.fromhex("4120052b1a0000")), "MacFrame", "frame_version", 0),
    (with_fcs(bytes.fromhex("4988052b1a00003412")), "MacFrame", "security", 0),
])
def test_mac_errors_name_field_and_offset(data, layer, field, offset):
    with pytest.raises(FrameError) as e:
        MacFrame.decode(data)
    assert (e.value.layer, e.value.field, e.value.offset) == (layer, field, offset)
    assert f"{layer}.{field}" in str(e.value)


def test_nested_and_list_errors():
    with pytest.raises(FrameError) as e:
        NwkFrame.decode(bytes.fromhex("0802" "0000" "3412" "1e01" "28" "0102"))
    assert (e.value.layer, e.value.field, e.value.offset) == ("AuxHeader", "frame_counter", 9)
    with pytest.raises(FrameError) as e:
        NwkCommand.decode(bytes.fromhex("0505" "1111" "2222"))
    assert (e.value.field, e.value.offset) == ("relays", 2)
    with pytest.raises(FrameError) as e:
        ApsCommand.decode(bytes.fromhex("0501" "0011223344"))
    assert (e.value.field, e.value.offset) == ("key", 2)
    with pytest.raises(FrameError) as e:
        ZigbeeBeacon.decode(F.beacon(1, PAN, 0, EPID, permit_joining=False).payload[4:] + b"\x00")
    assert (e.value.field, e.value.offset) == ("<end>", 15)
    with pytest.raises(FrameError) as e:
        MacFrame.decode_mpdu(b"\x41")
    assert (e.value.field, e.value.offset) == ("frame_control", 0)


def test_encode_errors():
    with pytest.raises(FrameError, match="dst"):
        NwkFrame(frame_type=0, dst=0x10000, src=0, radius=1, seq=1).encode()
    with pytest.raises(FrameError, match="aux"):
        NwkFrame(frame_type=0, dst=0, src=0, radius=1, seq=1, security=0,
                 aux=AuxHeader(frame_counter=1, source=1, key_seq=0)).encode()
    with pytest.raises(FrameError, match="aux.*missing"):
        NwkFrame(frame_type=0, dst=0, src=0, radius=1, seq=1, security=1).encode()
    with pytest.raises(FrameError, match="frame_type"):
        MacFrame(frame_type=8, seq=0, dst_pan=1, dst_addr=1, src_addr=1).encode()
    with pytest.raises(FrameError, match="key"):
        ApsCommand(command_id=5, key_type=1, key=b"short", key_seq=0, dst_ieee=1, src_ieee=2).encode()
    with pytest.raises(FrameError, match="aMaxPHYPacketSize"):
        F.mac_data(1, PAN, 0, 1, bytes(200)).encode()
    with pytest.raises(FrameError, match="relays"):
        NwkCommand(command_id=F.NWK_CMD_ROUTE_RECORD, relay_count=3, relays=[1]).encode()


def test_records_are_immutable_values():
    f = F.mac_ack(1)
    with pytest.raises(AttributeError):
        f.seq = 2  # type: ignore[misc]
    g = f.replace(seq=2)
    assert g.seq == 2 and f.seq == 1 and g != f
    assert pickle.loads(pickle.dumps(g)) == g
    with pytest.raises(TypeError):
        f.replace(nope=1)
    assert f.to_dict()["seq"] == 1 and "dst_addr" not in f.to_dict()
    assert "MacFrame(" in repr(f)
    assert MacCommand(command_id=7) != (7, None)
