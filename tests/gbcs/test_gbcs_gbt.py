"""GBCS General Block Transfer blocks (``rig.gbcs.gbt``): the bytes Wireshark's GBCS dissector reads as a
routing header and a GBT header, strict decoding, and block sizes that never exceed the room given."""

from __future__ import annotations

import pytest

from rig.gbcs import Cra, DecodeError, gbt

ROUTING = gbt.Routing(Cra.RESPONSE, 0x0102030405060708, "00DB5A5A5A5A0A01", "0052494700000002", 0x0001)


def test_a_block_is_a_routing_header_then_a_gbt_header_then_its_data():
    block = gbt.Block(ROUTING, 2, False, b"\xaa\xbb").to_bytes()
    assert block.hex(" ") == (
        "dd 09 02 01 02 03 04 05 06 07 08"          # General-Ciphering, transaction-id: CRA, counter
        " 08 00 db 5a 5a 5a 5a 0a 01"               # business originator
        " 08 00 52 49 47 00 00 00 02"               # business target
        " 00 02 00 01 00"                           # date-time none, other-info = message code, key-info none
        " 0e 00 00 00 00 00"                        # ciphered-content length (14), security header
        " e0 41 00 02 00 00 02 aa bb")              # GBT: streaming + window 1, block 2, ack 0, data
    last = gbt.Block.from_bytes(gbt.Block(ROUTING, 3, True, b"\xcc").to_bytes())
    assert (last.routing, last.number, last.last, last.data, last.control) == (ROUTING, 3, True, b"\xcc", 0x81)
    assert gbt.is_block(block) and not gbt.is_block(bytes.fromhex("DD000000000000"))


@pytest.mark.parametrize(("change", "why"), [
    (lambda b: b + b"\x00", "trailing byte"),
    (lambda b: b.replace(b"\xe0\x41", b"\xe1\x41"), "not the general-block-transfer tag"),
    (lambda b: b[:30] + b"\x03" + b[31:33] + b"\x00" + b[33:], "other-information beyond the message code"),
    (lambda b: b[:-1], "block data shorter than its length"),
])
def test_anything_but_exactly_one_block_does_not_decode(change, why):
    good = gbt.Block(ROUTING, 1, False, b"\xaa\xbb").to_bytes()
    with pytest.raises(DecodeError):
        gbt.Block.from_bytes(change(good))


def test_blocks_never_exceed_the_room_and_carry_the_message_in_order():
    message = bytes(range(256)) * 3
    for size in range(gbt.overhead(1) + 1, 300):
        pieces = gbt.blocks(message, ROUTING, size)
        assert max(len(p) for p in pieces) <= size
        decoded = [gbt.Block.from_bytes(p) for p in pieces]
        assert b"".join(b.data for b in decoded) == message
        assert [b.number for b in decoded] == list(range(1, len(pieces) + 1))
        assert [b.last for b in decoded].count(True) == 1 and decoded[-1].last
    assert gbt.data_room(73) == 26 and gbt.overhead(26) == 47
    with pytest.raises(ValueError, match="no room"):
        gbt.data_room(gbt.overhead(0))


def test_bytes_that_are_no_gbcs_message_need_a_routing_header_and_nothing_is_not_sent():
    with pytest.raises(ValueError, match="no routing header"):
        gbt.blocks(b"\x42" * 40, None, 73)
    with pytest.raises(ValueError, match="empty"):
        gbt.blocks(b"", ROUTING, 73)
