"""GBCS segment reassembly recovers from a forged or replayed segment: what does not fit is dropped with
a reason (the CH reports ``ch.dropped``), the buffer is bounded, and the sender's next message works."""

from __future__ import annotations

import pytest

import rig.roles.hht
from rig import pairing
from rig.gbcs import Builder, Role, create_test_store
from rig.roles.ezsp_role import Reassembler, Reassemblers, segments
from rig.roles.hht import Hht

HHT = "00DB5A5A5A5A0A01"


@pytest.fixture(scope="module")
def messages(tmp_path_factory):
    keys = create_test_store(tmp_path_factory.mktemp("keys"), hht=[HHT])
    b = Builder(keys, counter_start=10)
    return [b.ccs01(keys.one(Role.CHF), HHT, Role.HHT, bytes(range(16))).to_bytes() for _ in range(3)]


def collect(rx: Reassembler, pieces) -> list[bytes]:
    return [whole for piece in pieces if (whole := rx.feed(piece)) is not None]


@pytest.mark.parametrize(("junk", "reason"), [
    (b"\x42" * 20, "not_a_message_start"),                          # forged bytes
    ("tail", "not_a_message_start"),                                # a replayed last segment
    (b"\x00" * (pairing.SEGMENT_BYTES + 1), "segment_size"),
])
def test_junk_segment_dropped_with_reason_then_next_message_whole(messages, junk, reason):
    good = messages[0]
    junk = segments(messages[1])[-1] if junk == "tail" else junk
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
    assert collect(rx, [*segments(broken), *segments(messages[0])]) == [messages[0]]
    assert [d[0] for d in drops] == ["undecodable"]


def test_segments_beyond_the_length_field_or_the_tunnel_limit_are_dropped(messages):
    good = messages[0]
    drops = []
    rx = Reassembler(lambda *d: drops.append(d))
    head = segments(good)[0]
    filler = b"\x00" * pairing.SEGMENT_BYTES
    assert collect(rx, [head, filler, filler, filler, *segments(good)]) == [good]
    assert [d[0] for d in drops] == ["message_too_long"]
    assert rx.buffer == b""


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
