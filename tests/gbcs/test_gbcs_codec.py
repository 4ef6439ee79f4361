"""Hypothesis round trips of the envelope and of every payload layout (commands, responses, alert)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.gbcs import fields as f
from rig.gbcs.message import Cra, Message, entity_id, parse_text_or_binary
from rig.gbcs.usecases import USE_CASES, decode_payload, payload_layout


def strategy(field: f.Field, budget: int = 300) -> st.SearchStrategy:
    """Values for any layout, read off its own field description."""
    if isinstance(field, f.Struct):
        return st.fixed_dictionaries(_parts(field, budget))
    if isinstance(field, f.Hex):
        return st.binary(min_size=field.size, max_size=field.size).map(lambda b: b.hex().upper())
    if isinstance(field, f.Raw):
        return st.binary(min_size=field.size, max_size=field.size)
    if isinstance(field, f.UInt):
        return st.integers(0, 2 ** (8 * field.size) - 1)
    if isinstance(field, f.Enum):
        return st.sampled_from(list(field.enum_type))
    if isinstance(field, f.Bool):
        return st.booleans()
    if isinstance(field, f.Prefixed) and field.sizes:
        return st.sampled_from(field.sizes).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    if isinstance(field, f.Prefixed | f.Rest):
        return st.binary(max_size=budget)
    raise TypeError(f"no strategy for {field!r}")


def _parts(struct: f.Struct, budget: int) -> dict[str, st.SearchStrategy]:
    parts: dict[str, st.SearchStrategy] = {}
    for name, sub in struct.fields:
        inner = sub.inner if isinstance(sub, f.Prefixed) else sub
        if name is not None:
            parts[name] = strategy(sub, budget)
        elif isinstance(inner, f.Struct):
            parts.update(_parts(inner, budget))
    return parts


LAYOUTS = [pytest.param(code, cra, id=f"{uc.name}-0x{code:04X}-{cra.name.lower()}")
           for code, uc in USE_CASES.items() for cra in Cra if (cra == Cra.ALERT) == (uc.command is None)]


@pytest.mark.parametrize(("code", "cra"), LAYOUTS)
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_payload_round_trip(code, cra, data):
    layout = payload_layout(code, cra)
    values = data.draw(strategy(layout))
    encoded = layout.encode(values)
    assert layout.parse(encoded) == values
    message = Message(cra, 1, "0" * 16, "1" * 16, code, encoded)
    assert decode_payload(Message.from_bytes(message.to_bytes())) == values


entity_ids = st.binary(min_size=8, max_size=8).map(lambda b: b.hex().upper())


@st.composite
def messages(draw) -> Message:
    present = draw(st.integers(0, 4))  # how many other-information extras, in their fixed order
    return Message(
        cra=draw(st.sampled_from(list(Cra))),
        counter=draw(st.integers(0, 2**64 - 1)),
        originator=draw(entity_ids),
        recipient=draw(entity_ids),
        message_code=draw(st.integers(0, 0xFFFF)),
        content=draw(st.binary(max_size=400)),
        date_time=draw(st.none() | st.binary(min_size=12, max_size=12)),
        supplementary_remote_party_id=draw(entity_ids) if present > 0 else None,
        supplementary_remote_party_counter=draw(st.integers(0, 2**64 - 1)) if present > 1 else None,
        supplementary_originator_counter=draw(st.integers(0, 2**64 - 1)) if present > 2 else None,
        ka_certificate=draw(st.binary(min_size=1, max_size=300)) if present > 3 else b"",
        signature=draw(st.none() | st.just(b"") | st.binary(min_size=64, max_size=64)),
        mac=draw(st.none() | st.binary(min_size=12, max_size=12)),
    )


@given(messages())
@settings(max_examples=300, deadline=None)
def test_envelope_round_trip(message):
    data = message.to_bytes()
    assert Message.from_bytes(data) == message
    assert data[0] == (0xDD if message.mac is not None else 0xDF)
    assert message.apdu() in data


@given(messages(), st.data())
@settings(max_examples=150, deadline=None)
def test_truncation_is_malformed_or_a_different_message(message, data):
    encoded = message.to_bytes()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        shorter = Message.from_bytes(encoded[:cut])
    except f.DecodeError:
        return
    # only a DF message cut exactly before an optional trailing element is still a message
    assert message.mac is None and shorter != message and shorter.to_bytes() == encoded[:cut]


@given(messages().filter(lambda m: m.mac is not None), st.data())
@settings(max_examples=150, deadline=None)
def test_every_truncation_of_a_macd_message_is_malformed(message, data):
    encoded = message.to_bytes()
    with pytest.raises(f.DecodeError):
        Message.from_bytes(encoded[: data.draw(st.integers(0, len(encoded) - 1))])


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_whatever_decodes_re_encodes_identically(data):
    try:
        message = Message.from_bytes(b"\xdf" + data)
    except (f.DecodeError, ValueError):
        return
    assert message.to_bytes() == b"\xdf" + data


def test_non_minimal_ber_length_is_malformed():
    good = Message(Cra.COMMAND, 1, "0" * 16, "1" * 16, 1, b"\x00" * 3).to_bytes()
    bad = good.replace(b"\x03\x00\x00\x00", b"\x81\x03\x00\x00\x00")
    with pytest.raises(f.DecodeError, match="non-minimal"):
        Message.from_bytes(bad)


def test_other_information_order_is_enforced():
    with pytest.raises(ValueError, match="in order"):
        Message(Cra.COMMAND, 1, "0" * 16, "1" * 16, 1, b"", supplementary_remote_party_counter=5)


def test_entity_id_forms():
    assert entity_id("00:db:12:34:56:78:90:a0") == "00DB1234567890A0"
    assert entity_id(bytes.fromhex("00DB1234567890A0")) == entity_id(0x00DB1234567890A0)
    with pytest.raises(ValueError):
        entity_id("00DB12")


@pytest.mark.parametrize("text", [b"DD00 11", b"3QAR", b"\xdd\x00\x11"])
def test_input_formats(text):
    assert parse_text_or_binary(text) == bytes.fromhex("DD0011")
