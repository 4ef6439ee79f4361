"""Key Establishment cluster state machines wired back to back in memory, on a virtual clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from rig.cbke import ke_cluster as ke
from rig.cbke.ca import TestCa
from rig.cbke.engine import CbkeEngine
from rig.cbke.ke_cluster import (
    SUITE_1,
    SUITE_2,
    KeCommand,
    KeInitiator,
    KeReason,
    KeResponder,
    LocalKeEngine,
    TerminateKeyEstablishment,
    TerminateStatus,
)
from rig.cbke.token import CbkeToken, CbkeToken163k1
from rig.clock import VirtualClock

H = bytes.fromhex
C2S, S2C = "client->server", "server->client"
CH_EUI, DEV_EUI = H("000D6F00000000C1"), H("000D6F00000000D1")


@pytest.fixture(scope="module")
def pki():
    rng = random.Random(800).randbytes
    ca = TestCa.create(rng=rng)
    other_ca = TestCa.create(b"OTHERCA!", rng=rng)
    same_id_ca = TestCa.create(ca.issuer, rng=rng)  # same issuer id, different key
    return {
        "ch": ca.issue(CH_EUI, rng=rng),
        "dev": ca.issue(DEV_EUI, rng=rng),
        "dev2": ca.issue(H("000D6F00000000D2"), rng=rng),
        "other_ca_dev": other_ca.issue(DEV_EUI, rng=rng),
        "same_id_dev": same_id_ca.issue(DEV_EUI, rng=rng),
        "sig_only_dev": ca.issue(DEV_EUI, key_usage=0x80, rng=rng),
    }


class Wire:
    """Carries each side's payloads to the other's ``handle`` in a new task (like a radio would),
    logging them; ``tamper[(direction, command)]`` may rewrite a payload or drop it (return None)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int, bytes]] = []
        self.tamper: dict[tuple[str, int], object] = {}
        self.fail: set[tuple[str, int]] = set()
        self.tasks: set[asyncio.Task] = set()

    def sender(self, direction: str, receiver):
        async def send(command_id: int, payload: bytes) -> None:
            if (direction, command_id) in self.fail:
                raise OSError("APS delivery failed")
            self.log.append((direction, command_id, payload))
            fn = self.tamper.get((direction, command_id))
            if fn is not None:
                payload = fn(payload)
                if payload is None:
                    return
            task = asyncio.ensure_future(receiver().handle(command_id, payload))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        return send

    def commands(self, direction: str | None = None) -> list[int]:
        return [c for d, c, _ in self.log if direction in (None, d)]

    def terminates(self, direction: str) -> list[TerminateKeyEstablishment]:
        return [
            TerminateKeyEstablishment.decode(p)
            for d, c, p in self.log
            if d == direction and c == KeCommand.TERMINATE_KEY_ESTABLISHMENT
        ]


class Pair:
    def __init__(self, client_token, server_token, *, client_kwargs=None, server_kwargs=None, suite_1=False):
        self.clock = VirtualClock()
        self.wire = Wire()
        rng = random.Random(1).randbytes
        if suite_1:
            self.client_engine = CbkeEngine(None, token_163k1=client_token, rng=rng)
            self.server_engine = CbkeEngine(None, token_163k1=server_token, rng=rng)
        else:
            self.client_engine = CbkeEngine(client_token, rng=rng)
            self.server_engine = CbkeEngine(server_token, rng=rng)
        self.server = KeResponder(
            LocalKeEngine(self.server_engine),
            self.wire.sender(S2C, lambda: self.client),
            self.clock,
            **(server_kwargs or {}),
        )
        self.client = KeInitiator(
            LocalKeEngine(self.client_engine),
            self.wire.sender(C2S, lambda: self.server),
            self.clock,
            **(client_kwargs or {}),
        )

    async def run(self, advance: float = 0.0):
        """Start the client; return both results (the server's None if it did not finish)."""
        await self.client.start()
        if advance:
            await self.clock.advance(advance)
        client = await asyncio.wait_for(self.client.wait(), 5)
        for _ in range(50):
            if not self.wire.tasks and not self.server.active:
                break
            await asyncio.sleep(0)
        return client, (self.server.results[-1] if self.server.results else None)

    def assert_no_key(self, *engines):
        for engine in engines or (self.client_engine, self.server_engine):
            assert engine.key_table == {}


async def test_success_both_hold_the_same_key(pki):
    pair = Pair(pki["dev"], pki["ch"])
    client, server = await pair.run()
    assert client.success and server.success, (client, server)
    assert len(client.link_key) == 16 and client.link_key == server.link_key
    assert pair.client_engine.key_table == {CH_EUI: client.link_key}
    assert pair.server_engine.key_table == {DEV_EUI: client.link_key}
    assert client.partner_eui64 == CH_EUI and server.partner_eui64 == DEV_EUI
    assert client.suite == server.suite == SUITE_2
    sizes = [(d, c, len(p)) for d, c, p in pair.wire.log]
    assert sizes == [
        (C2S, 0, 78), (S2C, 0, 78), (C2S, 1, 37), (S2C, 1, 37), (C2S, 2, 16), (S2C, 2, 16),
    ]  # fmt: skip
    assert pair.wire.log[0][2][:4] == H("02000B10")  # suite 2, 11 s, 16 s
    assert client.sent_terminate is None and server.sent_terminate is None
    assert not pair.server.active and pair.client.result == client


async def test_annex_c6_tokens_and_suite_negotiation(annex_c6):
    def token(role):
        p = annex_c6[role]
        return CbkeToken(H(p["certificate"]), H(annex_c6["ca_public_key"]), H(p["static_private_key"]), 0)

    pair = Pair(token("initiator_U"), token("responder_V"), client_kwargs={"suites": 3, "partner_suites": 3})
    client, server = await pair.run()
    assert client.success and server.success and client.link_key == server.link_key
    assert client.partner_eui64 == H(annex_c6["responder_V"]["eui64"])


async def test_suite_1_exchange(cbke_json):
    v = next(v for v in cbke_json["vectors"] if v["id"] == "se_annex_c5_suite1_cbke")

    def token(role):
        p = v[role]
        return CbkeToken163k1(H(p["certificate"]), H(v["ca_public_key"]), H(p["static_private_key"]), 0)

    pair = Pair(
        token("initiator_U"),
        token("responder_V"),
        client_kwargs={"suites": SUITE_1},
        server_kwargs={"suites": SUITE_1 | SUITE_2},
        suite_1=True,
    )
    client, server = await pair.run()
    assert client.success and server.success and client.link_key == server.link_key
    assert client.suite == SUITE_1 and [len(p) for _, _, p in pair.wire.log] == [52, 52, 22, 22, 16, 16]


async def test_unknown_issuer(pki):
    pair = Pair(pki["other_ca_dev"], pki["ch"])
    client, server = await pair.run()
    assert server.reason is KeReason.BAD_CERTIFICATE_ISSUER
    assert server.sent_terminate is TerminateStatus.UNKNOWN_ISSUER
    assert client.reason is KeReason.PARTNER_SENT_TERMINATE
    assert client.received_terminate == TerminateKeyEstablishment(status=1, wait_time=30, suite=SUITE_2)
    assert pair.wire.commands() == [0, 3]
    pair.assert_no_key()


async def test_unknown_issuer_detected_by_the_initiator(pki):
    pair = Pair(pki["dev"], pki["ch"])
    # the responder's certificate arrives with another issuer id
    pair.wire.tamper[(S2C, 0)] = lambda p: p[:15] + b"OTHERCA!" + p[23:]
    client, server = await pair.run()
    assert client.reason is KeReason.BAD_CERTIFICATE_ISSUER
    assert client.sent_terminate is TerminateStatus.UNKNOWN_ISSUER
    assert server.reason is KeReason.PARTNER_SENT_TERMINATE and server.received_terminate.status == 1
    pair.assert_no_key()


async def test_wrong_ca_key_with_the_same_issuer_id(pki):
    """Nothing in the certificate shows it: the keys differ, so MACU fails at the responder."""
    pair = Pair(pki["same_id_dev"], pki["ch"])
    client, server = await pair.run()
    assert (
        server.reason is KeReason.KEY_CONFIRM_FAILURE
        and server.sent_terminate is TerminateStatus.BAD_KEY_CONFIRM
    )
    assert client.reason is KeReason.PARTNER_SENT_TERMINATE and client.received_terminate.status == 2
    pair.assert_no_key()


@pytest.mark.parametrize("direction", [C2S, S2C])
async def test_tampered_certificate_fails_key_confirmation(pki, direction):
    pair = Pair(pki["dev"], pki["ch"])
    # flip a serial-number bit: every checked field still passes, the reconstructed key is wrong
    pair.wire.tamper[(direction, 0)] = lambda p: p[:5] + bytes([p[5] ^ 0x01]) + p[6:]
    client, server = await pair.run()
    assert (
        server.reason is KeReason.KEY_CONFIRM_FAILURE
        and server.sent_terminate is TerminateStatus.BAD_KEY_CONFIRM
    )
    assert client.reason is KeReason.PARTNER_SENT_TERMINATE
    pair.assert_no_key()


@pytest.mark.parametrize(
    "offset, value, reason",
    [(0, 0x01, "type"), (9, 0x0E, "curve"), (10, 0x09, "hash"), (36, 0x80, "key usage")],
)
async def test_invalid_certificate_fields(pki, offset, value, reason):
    pair = Pair(pki["dev"], pki["ch"])
    at = 4 + offset
    pair.wire.tamper[(C2S, 0)] = lambda p: p[:at] + bytes([value]) + p[at + 1 :]
    client, server = await pair.run()
    assert server.reason is KeReason.INVALID_CERTIFICATE and reason in server.detail
    assert server.sent_terminate is TerminateStatus.INVALID_CERTIFICATE
    assert client.received_terminate.status == TerminateStatus.INVALID_CERTIFICATE
    pair.assert_no_key()


async def test_certificate_without_key_agreement_usage(pki):
    pair = Pair(pki["ch"], pki["sig_only_dev"])  # the responder's own certificate is signature-only
    client, server = await pair.run()
    assert (
        client.reason is KeReason.INVALID_CERTIFICATE
        and client.sent_terminate is TerminateStatus.INVALID_CERTIFICATE
    )
    assert server.reason is KeReason.PARTNER_SENT_TERMINATE and server.received_terminate.status == 6
    pair.assert_no_key()


async def test_undecodable_reconstruction_point_is_a_local_failure(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 0)] = lambda p: p[: 4 + 37] + b"\x05" + p[4 + 38 :]
    client, server = await pair.run()
    assert (
        server.reason is KeReason.NO_LOCAL_RESOURCES and server.sent_terminate is TerminateStatus.NO_RESOURCES
    )
    assert "calculateSmacs" in server.detail and client.received_terminate.status == 4
    pair.assert_no_key()


async def test_bad_mac_in_confirm_request(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 2)] = lambda p: bytes([p[0] ^ 0x80]) + p[1:]
    client, server = await pair.run()
    assert (
        server.reason is KeReason.KEY_CONFIRM_FAILURE
        and server.sent_terminate is TerminateStatus.BAD_KEY_CONFIRM
    )
    assert client.reason is KeReason.PARTNER_SENT_TERMINATE and client.received_terminate.status == 2
    assert pair.wire.commands(S2C) == [0, 1, 3]
    pair.assert_no_key()


async def test_bad_mac_in_confirm_response(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(S2C, 2)] = lambda p: p[:-1] + bytes([p[-1] ^ 0x01])
    client, server = await pair.run()
    assert (
        client.reason is KeReason.KEY_CONFIRM_FAILURE
        and client.sent_terminate is TerminateStatus.BAD_KEY_CONFIRM
    )
    assert client.link_key is None
    pair.assert_no_key(pair.client_engine)
    # as on hardware the responder stored its key when it sent MACV; the late Terminate finds it idle
    assert server.success
    assert pair.wire.terminates(C2S) == [TerminateKeyEstablishment(status=2, wait_time=30, suite=SUITE_2)]


async def test_unsupported_suite_requested(pki, cbke_json):
    v = next(v for v in cbke_json["vectors"] if v["id"] == "se_annex_c5_suite1_cbke")
    p = v["initiator_U"]
    suite1_token = CbkeToken163k1(H(p["certificate"]), H(v["ca_public_key"]), H(p["static_private_key"]), 0)
    pair = Pair(pki["dev"], pki["ch"], client_kwargs={"suites": SUITE_1})
    pair.client_engine = CbkeEngine(None, token_163k1=suite1_token)
    pair.client.engine = LocalKeEngine(pair.client_engine)
    client, server = await pair.run()
    assert server.reason is KeReason.BAD_KEY_ESTABLISHMENT_SUITE
    assert server.sent_terminate is TerminateStatus.UNSUPPORTED_SUITE
    # our suites in the field
    assert client.received_terminate == TerminateKeyEstablishment(status=5, wait_time=30, suite=SUITE_2)
    pair.assert_no_key()


async def test_no_common_suite_from_the_attribute(pki):
    pair = Pair(pki["dev"], pki["ch"], client_kwargs={"partner_suites": SUITE_1})
    client, server = await pair.run()
    assert client.reason is KeReason.BAD_KEY_ESTABLISHMENT_SUITE and client.sent_terminate is None
    assert server is None and pair.wire.log == []


async def test_responder_answers_with_another_suite(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(S2C, 0)] = lambda p: b"\x01\x00" + p[2:]
    client, _ = await pair.run()
    assert client.reason is KeReason.BAD_KEY_ESTABLISHMENT_SUITE
    assert client.sent_terminate is TerminateStatus.UNSUPPORTED_SUITE


async def test_timeout_waiting_for_initiate_response(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 0)] = lambda p: None  # the responder never hears us
    await pair.client.start()
    await pair.clock.advance(9.9)
    assert pair.client.result is None
    await pair.clock.advance(0.2)
    client = pair.client.result
    assert client.reason is KeReason.TIMEOUT_OCCURRED and client.sent_terminate is None
    assert pair.wire.commands() == [0]  # no Terminate on a timeout
    pair.assert_no_key()


async def test_timeouts_after_initiate_response(pki):
    """The Ephemeral Data Request is lost: the responder waits 10 s + the initiator's 11 s, the
    initiator 10 s + the responder's 11 s, both from t = 0 on the virtual clock."""
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 1)] = lambda p: None  # Ephemeral Data Request lost
    await pair.client.start()
    await pair.clock.advance(20.9)
    assert pair.server.results == [] and pair.client.result is None
    await pair.clock.advance(0.2)
    server = pair.server.results[-1]
    assert server.reason is KeReason.TIMEOUT_OCCURRED and server.sent_terminate is None
    assert pair.client.result.reason is KeReason.TIMEOUT_OCCURRED
    assert KeCommand.TERMINATE_KEY_ESTABLISHMENT not in pair.wire.commands()
    pair.assert_no_key()


async def test_timeout_waiting_for_confirm(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 2)] = lambda p: None  # Confirm Key Request lost
    await pair.client.start()
    await pair.clock.advance(25.9)  # responder: 10 s + initiator's confirm time 16 s
    assert pair.server.results == [] and pair.client.result is None
    await pair.clock.advance(0.2)
    assert pair.server.results[-1].reason is KeReason.TIMEOUT_OCCURRED
    assert pair.client.result.reason is KeReason.TIMEOUT_OCCURRED  # 10 s + responder's 16 s
    pair.assert_no_key()


async def test_malformed_and_unexpected_messages(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 1)] = lambda p: p[:20]  # truncated Ephemeral Data Request
    client, server = await pair.run()
    assert (
        server.reason is KeReason.INVALID_PARTNER_MESSAGE
        and server.sent_terminate is TerminateStatus.BAD_MESSAGE
    )
    assert client.received_terminate.status == TerminateStatus.BAD_MESSAGE
    pair.assert_no_key()


async def test_out_of_order_command(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 1)] = lambda p: None
    await pair.client.start()
    await pair.clock.advance(0)
    await pair.server.handle(KeCommand.CONFIRM_KEY_DATA, bytes(16))  # Confirm before Ephemeral Data
    server = pair.server.results[-1]
    assert (
        server.reason is KeReason.INVALID_PARTNER_MESSAGE and "while waiting for Ephemeral" in server.detail
    )
    assert pair.wire.terminates(S2C)[-1].status == TerminateStatus.BAD_MESSAGE


async def test_idle_responder(pki):
    pair = Pair(pki["dev"], pki["ch"])
    await pair.server.handle(KeCommand.TERMINATE_KEY_ESTABLISHMENT, bytes(4))
    assert pair.wire.log == [] and pair.server.results == []
    await pair.server.handle(KeCommand.EPHEMERAL_DATA, bytes(37))
    assert pair.server.results[-1].reason is KeReason.INVALID_PARTNER_MESSAGE
    assert pair.wire.terminates(S2C) == [TerminateKeyEstablishment(status=3, wait_time=30, suite=SUITE_2)]
    await pair.server.handle(KeCommand.INITIATE_KEY_ESTABLISHMENT, b"\x02\x00")
    assert pair.server.results[-1].sent_terminate is TerminateStatus.BAD_MESSAGE


async def test_responder_serves_successive_initiators(pki):
    pair = Pair(pki["dev"], pki["ch"])
    client, server = await pair.run()
    assert client.success and server.success
    second = KeInitiator(
        LocalKeEngine(CbkeEngine(pki["dev2"])), pair.wire.sender(C2S, lambda: pair.server), pair.clock
    )
    pair.client = second
    client2, server2 = await pair.run()
    assert client2.success and server2.success and client2.link_key != client.link_key
    assert set(pair.server_engine.key_table) == {DEV_EUI, H("000D6F00000000D2")}
    with pytest.raises(RuntimeError):
        await second.start()


async def test_send_failure_ends_without_terminate(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.fail.add((C2S, 1))
    client, _server = await pair.run()
    assert client.reason is KeReason.MESSAGE_SEND_FAILURE and client.sent_terminate is None
    assert "APS delivery failed" in client.detail
    pair.assert_no_key(pair.client_engine)


async def test_responder_without_certificate(pki):
    pair = Pair(pki["dev"], CbkeToken.erased())
    client, server = await pair.run()
    assert (
        server.reason is KeReason.NO_LOCAL_RESOURCES and server.sent_terminate is TerminateStatus.NO_RESOURCES
    )
    assert client.received_terminate.status == TerminateStatus.NO_RESOURCES


async def test_initiator_without_certificate_sends_nothing(pki):
    pair = Pair(CbkeToken.erased(), pki["ch"])
    client, _ = await pair.run()
    assert client.reason is KeReason.NO_LOCAL_RESOURCES and pair.wire.log == []


async def test_expected_partner_eui64(pki):
    pair = Pair(pki["dev"], pki["ch"], client_kwargs={"partner_eui64": H("000D6F0000000099")})
    client, server = await pair.run()
    assert (
        client.reason is KeReason.INVALID_PARTNER_MESSAGE
        and client.sent_terminate is TerminateStatus.BAD_MESSAGE
    )
    assert server.reason is KeReason.PARTNER_SENT_TERMINATE and server.received_terminate.status == 3
    pair.assert_no_key()


async def test_partner_terminate_while_waiting(pki):
    pair = Pair(pki["dev"], pki["ch"])
    pair.wire.tamper[(C2S, 1)] = lambda p: None
    await pair.client.start()
    await pair.clock.advance(0)
    await pair.client.handle(KeCommand.TERMINATE_KEY_ESTABLISHMENT, bytes([4, 60, 2, 0]))
    result = pair.client.result
    assert result.reason is KeReason.PARTNER_SENT_TERMINATE and result.received_terminate.wait_time == 60
    assert result.received_terminate.status_name == "NO_RESOURCES"
    await pair.client.handle(KeCommand.EPHEMERAL_DATA, bytes(37))  # after the end: ignored
    assert pair.client.result is result


def test_session_arguments():
    with pytest.raises(ValueError):
        KeResponder(LocalKeEngine(CbkeEngine(None)), lambda c, p: None, VirtualClock(), suites=0x0004)
    assert ke.CLUSTER_ID == 0x0800 and ke.ATTR_KEY_ESTABLISHMENT_SUITE == 0


async def test_engine_in_an_executor(pki):
    """The crypto can run off the event loop (as an NCP's would), with the same outcome."""
    from concurrent.futures import ThreadPoolExecutor

    pair = Pair(pki["dev"], pki["ch"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        pair.client.engine = LocalKeEngine(pair.client_engine, executor=pool)
        pair.server.engine = LocalKeEngine(pair.server_engine, executor=pool)
        await pair.client.start()
        client = await asyncio.wait_for(pair.client.wait(), 10)
        server = await asyncio.wait_for(pair.server.next_result(), 10)
    assert client.success and server.success and client.link_key == server.link_key


class _SlowCertificate(LocalKeEngine):
    """An engine whose certificate read takes a few loop turns (as an NCP's EZSP call does)."""

    async def get_certificate(self, suite: int) -> bytes:
        for _ in range(5):
            await asyncio.sleep(0)
        return await super().get_certificate(suite)


async def _initiate_payload(token) -> bytes:
    cert = await LocalKeEngine(CbkeEngine(token)).get_certificate(SUITE_2)
    return ke.InitiateKeyEstablishment(suite=SUITE_2, ephemeral_data_generate_time=10,
                                       confirm_key_generate_time=10, identity=cert).encode()


async def test_second_initiate_during_an_exchange_is_ignored_not_a_reset(pki):
    """Two Initiates on one responder (the second spoofed, while it reads its certificate for the first):
    the second is ignored (``ke_in_progress``), nothing escapes, the genuine exchange completes."""
    pair = Pair(pki["dev"], pki["ch"])
    pair.server.engine = _SlowCertificate(pair.server_engine)
    spoofed = await _initiate_payload(pki["dev2"])
    await pair.client.start()
    await asyncio.sleep(0)                          # the genuine Initiate is being handled
    assert pair.server.active
    await pair.server.handle(KeCommand.INITIATE_KEY_ESTABLISHMENT, spoofed)
    client = await asyncio.wait_for(pair.client.wait(), 5)
    for _ in range(50):
        if not pair.wire.tasks:
            break
        await asyncio.sleep(0)
    assert client.success and pair.server.results[-1].success
    assert pair.server.ignored == [(KeCommand.INITIATE_KEY_ESTABLISHMENT, "ke_in_progress")]
    assert all(t.done() and t.exception() is None for t in pair.wire.tasks)


async def test_exchange_ended_while_reading_the_certificate_is_not_resumed(pki):
    """A Terminate while the responder reads its certificate ends the exchange; the Initiate's continuation
    must not resume it with the reset suite (was: ValueError, Certificate163k1 must be 48 bytes, got 74)."""
    pair = Pair(pki["dev"], pki["ch"])
    pair.server.engine = _SlowCertificate(pair.server_engine)
    genuine = await _initiate_payload(pki["dev"])
    first = asyncio.ensure_future(pair.server.handle(KeCommand.INITIATE_KEY_ESTABLISHMENT, genuine))
    await asyncio.sleep(0)
    await pair.server.handle(KeCommand.TERMINATE_KEY_ESTABLISHMENT, bytes([3, 30, 2, 0]))
    await first                                     # no exception
    assert [r.reason for r in pair.server.results] == [KeReason.PARTNER_SENT_TERMINATE]
    assert not pair.server.active and KeCommand.INITIATE_KEY_ESTABLISHMENT not in pair.wire.commands(S2C)
