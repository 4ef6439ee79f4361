"""GBCS over inter-PAN travels in GBT blocks (``rig.gbcs.gbt``), each filling at most one frame; their
reassembly recovers from a forged, replayed or reordered block: what does not fit is dropped with a reason
(the CH reports ``ch.dropped``), the buffer is bounded, and the sender's next message works."""

from __future__ import annotations

import pytest

import rig.roles.hht
from rig import pairing
from rig.gbcs import Builder, Message, Role, create_test_store, gbt
from rig.roles.ezsp_role import Reassembler, Reassemblers, segments
from rig.roles.hht import Hht
from rig.zigbee.eui64 import eui_int
from rig.zigbee.frames import APS_INTERPAN, ApsFrame, interpan
from rig.zigbee.security import secure_interpan
from rig.zigbee.zcl import ZclHeader

HHT = "00DB5A5A5A5A0A01"


@pytest.fixture(scope="module")
def messages(tmp_path_factory):
    keys = create_test_store(tmp_path_factory.mktemp("keys"), hht=[HHT])
    b = Builder(keys, counter_start=10)
    return [b.ccs01(keys.one(Role.CHF), HHT, Role.HHT, bytes(range(16))).to_bytes() for _ in range(3)]


def collect(rx: Reassembler, pieces) -> list[bytes]:
    return [whole for piece in pieces if (whole := rx.feed(piece)) is not None]


def routing_of(data: bytes) -> gbt.Routing:
    return gbt.Routing.of(Message.from_bytes(data))


def test_a_message_travels_as_gbt_blocks_that_each_fill_at_most_one_inter_pan_frame(messages):
    """Each block is one TransferData of at most SEGMENT_BYTES, and SEGMENT_BYTES is exactly what an
    APS-secured inter-PAN TransferData frame (extended nonce) leaves of the 125-byte MPDU the NCP sends."""
    good = messages[0]
    blocks = [gbt.Block.from_bytes(b) for b in segments(good)]
    assert [b.number for b in blocks] == list(range(1, len(blocks) + 1)) and len(blocks) > 1
    assert [b.last for b in blocks] == [False] * (len(blocks) - 1) + [True]
    assert {b.routing for b in blocks} == {routing_of(good)}
    assert b"".join(b.data for b in blocks) == good
    assert max(len(b) for b in segments(good)) == pairing.SEGMENT_BYTES

    def mpdu(data: bytes) -> bytes:
        zcl = ZclHeader(frame_type=1, direction=0, disable_default_response=1, seq=1,
                        command_id=pairing.CMD_TRANSFER_DATA_C2S, payload=b"\0\0" + data).encode()
        stub = ApsFrame(frame_type=APS_INTERPAN, delivery_mode=0, cluster=pairing.TUNNEL_CLUSTER,
                        profile=pairing.SE_PROFILE)
        aps = secure_interpan(stub, bytes(16), zcl, sender=eui_int(HHT), frame_counter=1)
        frame = interpan(1, dst_pan=0x1234, dst=eui_int("0052494700000002"), src_pan=0xFFFF, src_ieee=eui_int(HHT),
                         cluster=pairing.TUNNEL_CLUSTER, profile=pairing.SE_PROFILE)
        return frame.replace(payload=frame.payload[:2] + aps).encode_mpdu()

    assert len(mpdu(bytes(pairing.SEGMENT_BYTES))) + 2 == pairing.INTERPAN_PSDU_BYTES   # + FCS


@pytest.mark.parametrize(("junk", "reason"), [
    (b"\x42" * 20, "not_a_gbt_block"),                              # forged bytes
    ("raw", "not_a_gbt_block"),                                     # a raw piece of a message (the old framing)
    ("tail", "not_a_message_start"),                                # a replayed last block
    ("not_gbcs", "not_a_message_start"),                            # a block 1 of bytes that are no GBCS
    ("empty", "segment_size"),                                      # a block without data
    (b"\x00" * (pairing.SEGMENT_BYTES + 1), "segment_size"),
])
def test_junk_segment_dropped_with_reason_then_next_message_whole(messages, junk, reason):
    good = messages[0]
    routing = routing_of(messages[1])
    junk = {"tail": lambda: segments(messages[1])[-1],
            "raw": lambda: messages[1][:pairing.SEGMENT_BYTES],
            "not_gbcs": lambda: gbt.Block(routing, 1, False, b"\x42" * 20).to_bytes(),
            "empty": lambda: gbt.Block(routing, 1, False, b"").to_bytes()}.get(junk, lambda: junk)()
    drops = []
    rx = Reassembler(lambda *d: drops.append(d))
    assert collect(rx, [junk, *segments(good)]) == [good]
    assert [d[0] for d in drops] == [reason]
    assert rx.buffer == b""


def test_replayed_first_segment_gives_way_to_the_next_message(messages):
    first, good = messages[1], messages[0]
    drops = []
    rx = Reassembler(lambda *d: drops.append(d))
    assert collect(rx, [segments(first)[0], *segments(good)]) == [good]
    assert [d[0] for d in drops] == ["message_incomplete"]


def test_message_that_does_not_decode_is_dropped_and_the_next_one_works(messages):
    broken = messages[1][:-1]                 # one byte short of its length field
    drops = []
    rx = Reassembler(lambda *d: drops.append(d))
    assert collect(rx, [*segments(broken, routing_of(messages[1])), *segments(messages[0])]) == [messages[0]]
    assert [d[0] for d in drops] == ["undecodable"]


def test_segments_beyond_the_length_field_or_the_tunnel_limit_are_dropped(messages):
    good = messages[0]
    drops = []
    rx = Reassembler(lambda *d: drops.append(d))
    padded = segments(good + bytes(3 * pairing.SEGMENT_BYTES), routing_of(good))
    assert collect(rx, [*padded, *segments(good)]) == [good]
    # the block that passes the length field drops the message; the blocks after it belong to none
    assert drops[0][0] == "message_too_long" and {d[0] for d in drops[1:]} == {"not_a_message_start"}
    assert rx.buffer == b""
    drops.clear()
    unmacd = Message.from_bytes(good).apdu()                  # General-Signing: no length field to go by
    assert collect(rx, segments(unmacd + bytes(pairing.TUNNEL_MAX_TRANSFER), routing_of(good))) == []
    assert drops[0][0] == "message_too_long" and rx.buffer == b""
    assert pairing.TUNNEL_MAX_TRANSFER < drops[0][1] <= pairing.TUNNEL_MAX_TRANSFER + gbt.data_room(pairing.SEGMENT_BYTES)


@pytest.mark.parametrize(("order", "reason"), [
    ("swapped", "block_out_of_order"),        # blocks 1, 3, 2, ...
    ("repeated", "block_out_of_order"),       # block 2 twice (a fresh frame, as an attacker resends it)
    ("foreign", "block_out_of_order"),        # block 2 of another message (another routing header)
    ("relabelled", "routing_mismatch"),       # every block under a routing header naming another counter
])
def test_blocks_out_of_sequence_or_under_another_routing_header_are_dropped(messages, order, reason):
    good = messages[0]
    pieces = segments(good)
    other = segments(messages[1])
    routing = routing_of(good)
    sent = {"swapped": lambda: [pieces[0], pieces[2], pieces[1], *pieces[3:]],
            "repeated": lambda: [pieces[0], pieces[1], *pieces[1:]],
            "foreign": lambda: [pieces[0], other[1], *pieces[2:]],
            "relabelled": lambda: segments(good, gbt.Routing(routing.cra, routing.counter + 1, routing.originator,
                                                               routing.recipient, routing.message_code))}[order]()
    drops = []
    rx = Reassembler(lambda *d: drops.append(d))
    assert collect(rx, [*sent, *pieces]) == [good]
    assert drops and {d[0] for d in drops} <= {reason, "not_a_message_start"} and drops[0][0] == reason


def test_reassembly_state_bounded_per_sender_and_a_fresh_sender_still_works(messages):
    drops = []
    rx = Reassemblers(pairing.REASSEMBLY_MAX_SENDERS, lambda *d: drops.append(d))
    head = segments(messages[1])[0]
    for n in range(1000):
        assert rx.feed(f"{n:016X}", head) is None
    assert len(rx) == pairing.REASSEMBLY_MAX_SENDERS
    assert {d[1] for d in drops} == {"reassembly_evicted"} and len(drops) == 1000 - pairing.REASSEMBLY_MAX_SENDERS
    assert collect_from(rx, HHT, segments(messages[0])) == [messages[0]]
    assert HHT not in rx                      # a sender with nothing in progress holds no buffer


def collect_from(rx: Reassemblers, sender, pieces) -> list[bytes]:
    return [whole for piece in pieces if (whole := rx.feed(sender, piece)) is not None]


# --- on the CH, over the air -----------------------------------------------------------------------

@pytest.mark.hardware
async def test_junk_segment_before_each_message_is_dropped_and_pairing_and_tunnel_still_work(lab, monkeypatch):
    premises, events, ch, ezsp = lab
    ids = premises.ids
    dcc = Builder(ids.keys)
    ccs01 = dcc.ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    replayed_tail = segments(ccs01)[-1]
    # the HHT's radio sends a replayed last segment (APS-secured as a forger with the key would) before
    # every GBCS message, inter-PAN CCS01 (in segments) and tunnel command (whole, in APS blocks) alike
    monkeypatch.setattr(rig.roles.hht, "segments", lambda data: [replayed_tail, *segments(data)])
    monkeypatch.setattr(rig.roles.hht, "han_transfers", lambda data: [replayed_tail, data])
    hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    await hht.power_on(ids.gpf)
    assert ids.hht in ch.core.log
    ppmid = dcc.ccs01(ids.chf, ids.ppmid, Role.PPMID, ids.install_codes[ids.ppmid]).to_bytes()
    response = await hht.send_gbcs(ppmid)
    assert response and ids.ppmid in ch.core.log
    dropped = [(e.result, e.peer, e.detail["via"]) for e in events.named("ch.dropped")]
    assert dropped == [("not_a_message_start", ids.hht, "interpan"), ("not_a_message_start", ids.hht, "tunnel")]
