"""APS fragmentation on the HAN, as EmberZNet and Silicon Labs' fragmentation host plugin do it: a GBCS
message travels whole in one TransferData, cut below it into APS blocks that each fit one 127-byte frame
(the NCP builds the extended header, refuses a block that would not fit), acknowledged by the receiving
host per window through ``sendReply``, and handed to the CH as one message."""

from __future__ import annotations

import bellows.types as t

from rig import fragments, pairing
from rig.gbcs import Builder, Role
from rig.roles.hht import Hht
from rig.zigbee import frames as F


async def test_a_tunnel_command_goes_whole_in_aps_blocks_that_fit_a_frame_and_are_acked_per_block(lab):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    dcc = Builder(ids.keys)
    ccs01 = dcc.ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    await hht.power_on(ids.gpf)
    heard = []
    premises.air.add_tap(lambda when, channel, psdu: heard.append(psdu))
    adapter = ch.role.ezsp._rig_fragments
    adapter.acks.clear()

    command = dcc.ccs01(ids.chf, ids.ppmid, Role.PPMID, ids.install_codes[ids.ppmid]).to_bytes()
    response = await hht.send_gbcs(command)

    assert response and ids.ppmid in ch.core.log
    (received,) = [e for e in events.named("ch.gbcs_received") if e.detail.get("via") == "tunnel"
                   and e.detail.get("use_case") == "CCS01" and e.detail.get("bytes") == len(command)]
    assert received.peer == ids.hht
    # one TransferData (ZCL header 3, tunnel id 2, the message) in blocks of the APS room: NCP maximum
    # payload less APS security and the extended header
    room = await hht.role.aps_payload_room(encrypt=True, fragment=True)
    assert room == 82 - fragments.APS_ENCRYPTION_OVERHEAD - fragments.APS_FRAGMENT_OVERHEAD == 63
    count = -(-(5 + len(command)) // room)
    assert count >= 2
    hht_nwk = await hht.role.node_id()
    assert adapter.acks == [(hht_nwk, 0xFF00 | i) for i in range(count)]   # window 1: every block acked
    assert max(len(p) for p in heard) == 127                               # full blocks fill a frame exactly
    assert all(len(p) <= 127 for p in heard)


async def test_the_ncp_refuses_a_block_that_would_not_fit_one_frame(lab):
    premises, events, _ch, ezsp = lab
    ids = premises.ids
    dcc = Builder(ids.keys)
    ccs01 = dcc.ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    await hht.power_on(ids.gpf)
    options = (t.EmberApsOption.APS_OPTION_FRAGMENT | t.EmberApsOption.APS_OPTION_RETRY
               | t.EmberApsOption.APS_OPTION_ENCRYPTION)
    aps = t.EmberApsFrame(profileId=pairing.SE_PROFILE, clusterId=pairing.TUNNEL_CLUSTER, sourceEndpoint=1,
                          destinationEndpoint=1, options=options, groupId=0x0200, sequence=0)
    status, _seq = await ezsp.send_unicast(nwk=0x0000, aps_frame=aps, message_tag=1, data=bytes(64))
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.MESSAGE_TOO_LONG
    status, _seq = await ezsp.send_unicast(nwk=0x0000, aps_frame=aps, message_tag=2, data=bytes(63))
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    (max_payload,) = await ezsp.maximumPayloadLength()
    assert max_payload == 82


def test_the_extended_header_of_a_block_and_of_its_ack_round_trips():
    first = F.ApsFrame(frame_type=F.APS_DATA, delivery_mode=0, dst_endpoint=1, cluster=0x0704, profile=0x0109,
                       src_endpoint=1, counter=9, fragmentation=F.FRAG_FIRST, block_number=3, payload=b"abc")
    again = F.ApsFrame.decode(first.encode())
    assert (again.extended_header, again.fragmentation, again.block_number, again.payload) == (1, 1, 3, b"abc")
    ack = F.ApsFrame(frame_type=F.APS_ACK, delivery_mode=0, dst_endpoint=1, cluster=0x0704, profile=0x0109,
                     src_endpoint=1, counter=9, fragmentation=F.FRAG_MORE, block_number=2, ack_bitfield=0xFF)
    again = F.ApsFrame.decode(ack.encode())
    assert (again.fragmentation, again.block_number, again.ack_bitfield) == (2, 2, 0xFF)


async def test_with_a_window_of_three_blocks_go_three_at_a_time_and_one_ack_covers_them(lab, monkeypatch):
    """Both ends configured with a window of 3 (host plugin and NCP, ``CONFIG_FRAGMENT_WINDOW_SIZE``): the
    receiving host acknowledges once per window, the sending NCP reports every block of the window
    delivered from that one ack's bitfield, and the command and its response still arrive whole."""
    premises, events, ch, ezsp = lab
    ids = premises.ids
    monkeypatch.setattr(fragments, "FRAGMENT_WINDOW", 3)
    ch.role.fragment_window = 3
    ch.role.ezsp._rig_fragments.window = 3
    premises.backend.dongle("ch").node.state.config[int(t.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE)] = 3
    dcc = Builder(ids.keys)
    ccs01 = dcc.ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    assert hht.role.fragment_window == 3
    await hht.power_on(ids.gpf)
    assert ezsp._rig_fragments.window == 3
    ch.role.ezsp._rig_fragments.acks.clear()

    command = dcc.ccs01(ids.chf, ids.ppmid, Role.PPMID, ids.install_codes[ids.ppmid]).to_bytes()
    response = await hht.send_gbcs(command)

    assert response and ids.ppmid in ch.core.log
    room = await hht.role.aps_payload_room(encrypt=True, fragment=True)
    count = -(-(5 + len(command)) // room)
    assert count == 3
    hht_nwk = await hht.role.node_id()
    assert ch.role.ezsp._rig_fragments.acks == [(hht_nwk, 0xFF00)]       # one ack for the window of three
