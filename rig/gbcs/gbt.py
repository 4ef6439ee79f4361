"""GBCS General Block Transfer (GBT): one GBCS message carried as numbered blocks, each block a GBCS
routing header followed by a DLMS general-block-transfer APDU.  The rig sends every GBCS message over
inter-PAN this way (``rig.pairing``, inter-PAN paragraph), because inter-PAN has no APS fragmentation.

Layout [C: wireshark ``epan/dissectors/packet-gbcs.c``, ``dissect_gbcs_message_routing_header`` /
``dissect_gbcs_message_gbt_header``; the same dissector in tshark 4.0.17 reassembles the blocks]::

    DD                       General-Ciphering tag (routing header; Wireshark: DD followed by 09)
    09 <CRA> <counter:8>     transaction-id, as in the message's grouping header
    08 <originator:8>        business originator
    08 <recipient:8>         business target
    00                       date-time: none
    02 <message code:2>      other-information: the message code alone
    00                       key-info: none
    <BER len>                ciphered-content: the security header and the GBT APDU
      00 00000000            security control + invocation counter (no protection of its own) [I]
      E0                     general-block-transfer tag
      <block control>        0x80 last block, 0x40 streaming, 0x3F window
      <block number:2>       1, 2, ... (Wireshark reassembles from block number - 1)
      <block number ack:2>   0 (the rig's GBT is one-way, nothing acknowledged) [I]
      <BER len> <data>       the next bytes of the GBCS message

Wireshark keys reassembly on the sender/receiver addresses, the originator and the counter's low byte,
and dissects the reassembled bytes as one GBCS message.  Rig choices [I]: the streaming bit is set on
every block but the last (no acknowledgement is awaited between blocks), window 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import U8, Const, DecodeError, Enum, Prefixed, Rest, Struct, UInt
from .message import ENTITY_ID, Cra, Message

LAST_BLOCK = 0x80
STREAMING = 0x40
WINDOW = 0x01

GBT_BLOCK = Struct(
    (None, Const("DD", "General-Ciphering tag (routing header)")),
    (None, Const("09", "transaction-id length")),
    ("cra", Enum(U8, Cra)),
    ("counter", UInt(8)),
    (None, Const("08", "originator length")),
    ("originator", ENTITY_ID),
    (None, Const("08", "recipient length")),
    ("recipient", ENTITY_ID),
    (None, Const("00", "date-time: none")),
    (None, Prefixed(Struct(("message_code", UInt(2))))),
    (None, Const("00", "key-info: none")),
    (None, Prefixed(Struct(
        (None, Const("00 00000000", "routing header security control + invocation counter")),
        (None, Const("E0", "general-block-transfer tag")),
        ("block_control", U8),
        ("block_number", UInt(2)),
        ("block_number_ack", UInt(2)),
        ("data", Prefixed(Rest())),
    ))),
)


@dataclass(frozen=True)
class Routing:
    """What the routing header says about the message its blocks carry."""

    cra: Cra
    counter: int
    originator: str
    recipient: str
    message_code: int

    @classmethod
    def of(cls, message: Message) -> Routing:
        return cls(message.cra, message.counter, message.originator, message.recipient, message.message_code)


@dataclass(frozen=True)
class Block:
    routing: Routing
    number: int
    last: bool
    data: bytes
    control: int = 0
    ack: int = 0

    def to_bytes(self) -> bytes:
        control = self.control or ((LAST_BLOCK if self.last else STREAMING) | WINDOW)
        return GBT_BLOCK.encode({"cra": self.routing.cra, "counter": self.routing.counter,
                                 "originator": self.routing.originator, "recipient": self.routing.recipient,
                                 "message_code": self.routing.message_code, "block_control": control,
                                 "block_number": self.number, "block_number_ack": self.ack, "data": self.data})

    @classmethod
    def from_bytes(cls, data: bytes) -> Block:
        """Decode one block; ``DecodeError`` for anything that is not exactly one GBT block."""
        v = GBT_BLOCK.parse(bytes(data))
        routing = Routing(v["cra"], v["counter"], v["originator"], v["recipient"], v["message_code"])
        return cls(routing, v["block_number"], bool(v["block_control"] & LAST_BLOCK), v["data"],
                   v["block_control"], v["block_number_ack"])


def is_block(data: bytes) -> bool:
    """Whether ``data`` begins as a GBT block does (DD 09: a routing header, not a MAC header's DD 00)."""
    return bytes(data[:2]) == b"\xdd\x09"


def overhead(data_bytes: int) -> int:
    """Bytes a block adds around ``data_bytes`` of message (routing header, GBT header, lengths)."""
    routing = Routing(Cra.COMMAND, 0, "0" * 16, "0" * 16, 0)
    return len(Block(routing, 1, True, bytes(data_bytes)).to_bytes()) - data_bytes


def data_room(block_bytes: int) -> int:
    """The most message bytes one block of at most ``block_bytes`` can carry."""
    room = block_bytes - overhead(0)
    while room > 0 and room + overhead(room) > block_bytes:
        room -= 1
    if room <= 0:
        raise ValueError(f"a {block_bytes}-byte block has no room for data")
    return room


def blocks(data: bytes, routing: Routing | None, block_bytes: int) -> list[bytes]:
    """``data`` (one GBCS message) as GBT blocks of at most ``block_bytes`` each, numbered from 1, the
    last flagged.  ``routing`` defaults to the message's own grouping header; bytes that are no GBCS
    message need one given."""
    data = bytes(data)
    if not data:
        raise ValueError("cannot send an empty GBCS message")
    if routing is None:
        try:
            routing = Routing.of(Message.from_bytes(data))
        except (DecodeError, ValueError) as exc:
            raise ValueError(f"no routing header for bytes that are no GBCS message ({exc})") from None
    room = data_room(block_bytes)
    pieces = [data[i:i + room] for i in range(0, len(data), room)]
    return [Block(routing, n, n == len(pieces), piece).to_bytes() for n, piece in enumerate(pieces, 1)]
