"""Hypothesis fuzz of the Key Establishment payload codecs and of the state machines' input."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scale import scaled

from rig.cbke.ca import TestCa
from rig.cbke.engine import CbkeEngine
from rig.cbke.ke_cluster import (
    CERT_SIZE,
    POINT_SIZE,
    ConfirmKeyData,
    EphemeralData,
    InitiateKeyEstablishment,
    KeCommand,
    KeInitiator,
    KeResponder,
    LocalKeEngine,
    PayloadError,
    TerminateKeyEstablishment,
    decode_payload,
)
from rig.clock import VirtualClock

payloads = st.binary(max_size=120)
suites = st.sampled_from([1, 2])


@pytest.mark.fuzz
@settings(max_examples=scaled(400))
@given(command=st.integers(0, 255), payload=payloads, suite=suites)
def test_decoders_raise_only_payload_error(command, payload, suite):
    try:
        msg = decode_payload(command, payload, suite)
    except PayloadError:
        return
    # anything accepted re-encodes to the prefix it was read from, and decodes back to itself
    encoded = msg.encode()
    assert payload.startswith(encoded)
    assert decode_payload(command, encoded, suite) == msg


@settings(max_examples=200)
@given(payload=payloads)
def test_initiate_decoder(payload):
    try:
        msg = InitiateKeyEstablishment.decode(payload)
    except PayloadError as exc:
        assert len(payload) < 4 or len(payload) < 4 + CERT_SIZE[int.from_bytes(payload[:2], "little")], exc
        return
    if msg.suite in CERT_SIZE:
        assert len(msg.identity) == CERT_SIZE[msg.suite]
    else:
        assert msg.identity == payload[4:]


@settings(max_examples=200)
@given(payload=payloads, suite=suites)
def test_fixed_size_decoders(payload, suite):
    for cls, size in (
        (EphemeralData, POINT_SIZE[suite]),
        (ConfirmKeyData, 16),
        (TerminateKeyEstablishment, 4),
    ):
        if len(payload) < size:
            with pytest.raises(PayloadError):
                cls.decode(payload, suite)
        else:
            assert cls.decode(payload, suite).encode() == payload[:size]


@given(
    suite=st.integers(0, 0xFFFF),
    eph=st.integers(0, 255),
    conf=st.integers(0, 255),
    status=st.integers(0, 255),
    data=st.data(),
)
def test_round_trips(suite, eph, conf, status, data):
    identity = data.draw(st.binary(min_size=CERT_SIZE.get(suite, 0), max_size=CERT_SIZE.get(suite, 90)))
    msg = InitiateKeyEstablishment(suite=suite, ephemeral_data_generate_time=eph, confirm_key_generate_time=conf,
                                   identity=identity)
    assert InitiateKeyEstablishment.decode(msg.encode()) == msg
    term = TerminateKeyEstablishment(status=status, wait_time=eph, suite=suite)
    assert TerminateKeyEstablishment.decode(term.encode()) == term
    assert term.status_name


def test_encoders_validate():
    with pytest.raises(ValueError):
        InitiateKeyEstablishment(suite=2, ephemeral_data_generate_time=11, confirm_key_generate_time=16,
                                 identity=bytes(73))
    with pytest.raises(ValueError):
        InitiateKeyEstablishment(suite=0x10000, ephemeral_data_generate_time=11, confirm_key_generate_time=16,
                                 identity=b"")
    with pytest.raises(ValueError):
        TerminateKeyEstablishment(status=256, wait_time=0, suite=2)
    with pytest.raises(ValueError):
        EphemeralData(public_key=bytes(36))
    with pytest.raises(ValueError):
        ConfirmKeyData(mac=bytes(15))
    with pytest.raises(ValueError):
        EphemeralData.decode(bytes(37), suite=3)


@pytest.fixture(scope="module")
def tokens():
    rng = random.Random(77).randbytes
    ca = TestCa.create(rng=rng)
    return ca.issue("000D6F0000000001", rng=rng), ca.issue("000D6F0000000002", rng=rng)


commands = st.lists(
    st.tuples(st.sampled_from(list(KeCommand) + [7]), st.binary(max_size=90)),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=commands, as_initiator=st.booleans())
def test_state_machines_survive_any_input(tokens, sequence, as_initiator):
    """Arbitrary (command, payload) sequences: handle() never raises and no key is ever stored."""

    async def scenario():
        clock = VirtualClock()
        engine = CbkeEngine(tokens[1], rng=random.Random(3).randbytes)
        sent = []

        async def send(command_id, payload):
            sent.append((command_id, payload))

        if as_initiator:
            session = KeInitiator(LocalKeEngine(engine), send, clock)
            await session.start()
        else:
            session = KeResponder(LocalKeEngine(engine), send, clock)
        for command_id, payload in sequence:
            await session.handle(command_id, payload)
        await clock.advance(60)
        assert not session.active
        for command_id, payload in sent:
            decode_payload(command_id, payload)  # we only ever send well-formed payloads
        assert engine.key_table == {}

    asyncio.run(scenario())
