"""ZCL Key Establishment cluster (0x0800), host side: payload layouts and the client/server state machines.

Transport-agnostic: a session sends ZCL *payloads* through an injected ``async send(command_id,
payload)`` and is fed received ones through ``await session.handle(command_id, payload)``; the caller
adds the ZCL header and carries the frame over APS (intra-PAN, with APS retries) or inter-PAN
(profile 0x0109).  The cryptography is behind an async engine (``KeEngine``): ``LocalKeEngine`` wraps
an in-process :class:`rig.cbke.engine.CbkeEngine`; an EZSP-backed engine makes the same calls to a
(real or emulated) NCP.  Timeouts run on an injected ``rig.clock.Clock``.

Behaviour follows the Silicon Labs key-establishment plugin (notes/cbke.md §6):

* the initiator (client) sends Initiate Request with its certificate; the responder (server) checks
  the certificate and answers Initiate Response with its own; the initiator generates its ephemeral
  key and sends Ephemeral Data Request; the responder generates its key and answers Ephemeral Data
  Response; the initiator computes the SMACs and sends MACU in Confirm Key Request; the responder
  computes, compares MACU, answers MACV in Confirm Key Response and stores the link key once that is
  sent; the initiator compares MACV and stores the key;
* certificate checks, in order: suite, issuer == our certificate's issuer (UNKNOWN_ISSUER), subject ==
  the expected partner EUI64 if one is given (BAD_MESSAGE), and for suite 2 key usage has key
  agreement, type 00, curve 0D, hash 08 (INVALID_CERTIFICATE);
* a step times out after 10 s + the partner's advertised generate time (10 s for the Initiate
  Response); local crypto after 10 s + our own advertised time;
* failures end with a Terminate carrying the status below, sent with a 30 s wait time, and no stored
  key; a timeout, a received Terminate or a failed send end *without* sending a Terminate, and so
  does a failure of the initiator before it has sent anything (as in the SL plugin).  One deliberate
  difference: an Initiate Request for a suite we lack gets Terminate UNSUPPORTED_SUITE (the SE spec's
  status; the SL plugin answers NO_RESOURCES), with our supported suites in the suite field.

A tampered certificate whose checked fields still pass cannot be detected before key confirmation:
the partner's reconstructed key is wrong, so MACU does not match and the responder sends
BAD_KEY_CONFIRM.  If the Confirm Key Response is corrupted the responder has already stored its key
(it stores on sending MACV, as on hardware); only the initiator refuses, with BAD_KEY_CONFIRM.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, Self

from bellows.types import EmberStatus
from zigpy.zcl.clusters.smartenergy import KeyEstablishment

from rig.cbke.certificate import Certificate163k1, Certificate283k1
from rig.cbke.engine import CbkeEngine
from rig.clock import Clock, Timer
from rig.zigbee.codec import U8, U16, Bytes, Check, Frame, FrameError, Rest, Switch

CLUSTER_ID = KeyEstablishment.cluster_id
ATTR_KEY_ESTABLISHMENT_SUITE = 0x0000  # enum16 on client and server: supported suites, bitmap

SUITE_1 = 0x0001  # sect163k1
SUITE_2 = 0x0002  # sect283k1

CERT_SIZE = {SUITE_1: Certificate163k1.SIZE, SUITE_2: Certificate283k1.SIZE}
POINT_SIZE = {SUITE_1: 22, SUITE_2: 37}
MAC_SIZE = 16

TIMEOUT_BASE_S = 10
DEFAULT_EPHEMERAL_DATA_GENERATE_TIME_S = 11
DEFAULT_CONFIRM_KEY_GENERATE_TIME_S = 16
TERMINATE_WAIT_TIME_S = 30


class KeCommand(enum.IntEnum):
    """Same ids in both directions (client->server 'Request', server->client 'Response')."""

    INITIATE_KEY_ESTABLISHMENT = 0x00
    EPHEMERAL_DATA = 0x01
    CONFIRM_KEY_DATA = 0x02
    TERMINATE_KEY_ESTABLISHMENT = 0x03


class TerminateStatus(enum.IntEnum):
    UNKNOWN_ISSUER = 0x01
    BAD_KEY_CONFIRM = 0x02
    BAD_MESSAGE = 0x03
    NO_RESOURCES = 0x04
    UNSUPPORTED_SUITE = 0x05
    INVALID_CERTIFICATE = 0x06


class PayloadError(ValueError):
    """A Key Establishment payload that cannot be decoded."""


# ---- payload layouts (rig.zigbee.codec: one field list per command, for encode and decode) ----------


class _KePayload(Frame):
    """A Key Establishment command payload; same layout in both directions (Request and Response).

    A value its layout cannot encode is refused when built (``FrameError``, a ``ValueError``).
    ``decode`` ignores bytes after the layout, as ZCL does, and raises only ``PayloadError``.
    """

    COMMAND: ClassVar[KeCommand]

    def __init__(self, **_fields: object) -> None:
        self.encode()

    @classmethod
    def _size(cls, suite: int) -> int | None:
        """How many bytes the layout reads in an exchange of ``suite`` (None: as the fields say)."""
        return None

    @classmethod
    def decode(cls, payload: bytes, suite: int = SUITE_2) -> Self:
        buf = bytes(payload)
        size = cls._size(suite)
        if size is not None:
            if len(buf) < size:
                raise PayloadError(f"{cls.__name__}: need {size} bytes, got {len(buf)}")
            buf = buf[:size]
        try:
            msg, _end = cls._decode_from(buf, 0, len(buf))
        except FrameError as exc:
            raise PayloadError(str(exc)) from None
        return msg


class InitiateKeyEstablishment(_KePayload):
    """Command 0x00: suite, ephemeralDataGenerateTime (s), confirmKeyGenerateTime (s), identity (the
    certificate: 74 bytes for suite 2, 48 for suite 1; for another suite, the rest)."""

    COMMAND = KeCommand.INITIATE_KEY_ESTABLISHMENT
    FIELDS = (
        U16("suite"),
        U8("ephemeral_data_generate_time"),
        U8("confirm_key_generate_time"),
        Switch("suite", {suite: [Bytes("identity", size)] for suite, size in CERT_SIZE.items()},
               default=[Rest("identity")]),
    )


class EphemeralData(_KePayload):
    """Command 0x01: the ephemeral public key QE (compressed point: 37 bytes suite 2, 22 suite 1)."""

    COMMAND = KeCommand.EPHEMERAL_DATA
    FIELDS = (
        Rest("public_key"),
        Check(f"len(public_key) in {tuple(sorted(set(POINT_SIZE.values())))}", "public_key",
              "ephemeral public key must be 37 (suite 2) or 22 (suite 1) bytes"),
    )

    @classmethod
    def _size(cls, suite: int) -> int:
        if suite not in POINT_SIZE:
            raise ValueError(f"unknown key establishment suite {suite}")
        return POINT_SIZE[suite]


class ConfirmKeyData(_KePayload):
    """Command 0x02: the 16-byte key-confirmation MAC (MACU from the client, MACV from the server)."""

    COMMAND = KeCommand.CONFIRM_KEY_DATA
    FIELDS = (Bytes("mac", MAC_SIZE),)


class TerminateKeyEstablishment(_KePayload):
    """Command 0x03: status (``TerminateStatus``), waitTime (s), suite."""

    COMMAND = KeCommand.TERMINATE_KEY_ESTABLISHMENT
    FIELDS = (U8("status"), U8("wait_time"), U16("suite"))

    @property
    def status_name(self) -> str:
        try:
            return TerminateStatus(self.status).name
        except ValueError:
            return f"0x{self.status:02X} (reserved)"


def _certificate_class(suite: int) -> type[Certificate283k1 | Certificate163k1]:
    return Certificate283k1 if suite == SUITE_2 else Certificate163k1


KeMessage = InitiateKeyEstablishment | EphemeralData | ConfirmKeyData | TerminateKeyEstablishment
_BY_COMMAND: dict[int, type[_KePayload]] = {
    cls.COMMAND: cls for cls in (InitiateKeyEstablishment, EphemeralData, ConfirmKeyData, TerminateKeyEstablishment)
}


def decode_payload(command_id: int, payload: bytes, suite: int = SUITE_2) -> KeMessage:
    """Decode a received payload of either direction; ``PayloadError`` when it cannot be decoded."""
    cls = _BY_COMMAND.get(command_id)
    if cls is None:
        raise PayloadError(f"unknown Key Establishment command 0x{command_id:02X}")
    return cls.decode(payload, suite)


# ---- the engine interface ---------------------------------------------------------------------------


class KeEngineError(Exception):
    """A CBKE engine call failed (``status`` as the NCP reported it)."""

    def __init__(self, operation: str, status: int) -> None:
        super().__init__(f"{operation} failed: status 0x{int(status):02X}")
        self.operation = operation
        self.status = status


class KeEngine(Protocol):
    """What the state machines need from an NCP's CBKE library (suite = 1 or 2)."""

    async def get_certificate(self, suite: int) -> bytes: ...

    async def generate_keys(self, suite: int) -> bytes:
        """A new ephemeral key pair; returns the compressed public key."""

    async def calculate_smacs(
        self, suite: int, am_initiator: bool, partner_certificate: bytes, partner_ephemeral_public_key: bytes
    ) -> tuple[bytes, bytes]:
        """(initiator SMAC = MACU, responder SMAC = MACV)."""

    async def clear_temporary_data(self, suite: int, store_link_key: bool) -> bytes | None:
        """Forget temporary data; with ``store_link_key`` store the key first and return it if known."""


class LocalKeEngine:
    """``KeEngine`` over an in-process :class:`CbkeEngine` (optionally off the loop in ``executor``)."""

    def __init__(self, engine: CbkeEngine, executor=None) -> None:
        self.engine = engine
        self.executor = executor

    async def _call(self, fn, *args):
        if self.executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def get_certificate(self, suite: int) -> bytes:
        res = await self._call(self.engine.get_certificate, suite)
        if res.status != EmberStatus.SUCCESS:
            raise KeEngineError("getCertificate", res.status)
        return res.certificate

    async def generate_keys(self, suite: int) -> bytes:
        res = await self._call(self.engine.generate_keys, suite)
        if res.status != EmberStatus.SUCCESS:
            raise KeEngineError("generateCbkeKeys", res.status)
        return res.ephemeral_public_key

    async def calculate_smacs(
        self, suite: int, am_initiator: bool, partner_certificate: bytes, partner_ephemeral_public_key: bytes
    ) -> tuple[bytes, bytes]:
        res = await self._call(
            self.engine.calculate_smacs,
            suite,
            am_initiator,
            partner_certificate,
            partner_ephemeral_public_key,
        )
        if res.status != EmberStatus.SUCCESS:
            raise KeEngineError("calculateSmacs", res.status)
        return res.initiator_smac, res.responder_smac

    async def clear_temporary_data(self, suite: int, store_link_key: bool) -> bytes | None:
        res = await self._call(self.engine.clear_temporary_data, suite, store_link_key)
        if store_link_key and res.status != EmberStatus.SUCCESS:
            raise KeEngineError("clearTemporaryDataMaybeStoreLinkKey", res.status)
        return res.link_key


# ---- sessions --------------------------------------------------------------------------------------


class KeReason(enum.Enum):
    """Why a key establishment ended (the SL plugin's notify messages)."""

    LINK_KEY_ESTABLISHED = "link key established"
    NO_LOCAL_RESOURCES = "local CBKE failure"
    TIMEOUT_OCCURRED = "timeout"
    MESSAGE_SEND_FAILURE = "send failed"
    PARTNER_SENT_TERMINATE = "partner sent Terminate"
    INVALID_PARTNER_MESSAGE = "invalid or unexpected message from partner"
    BAD_CERTIFICATE_ISSUER = "partner certificate from an unknown issuer"
    KEY_CONFIRM_FAILURE = "key confirmation MAC mismatch"
    BAD_KEY_ESTABLISHMENT_SUITE = "no common key establishment suite"
    INVALID_CERTIFICATE = "partner certificate fields invalid"


_TERMINATE_FOR: dict[KeReason, TerminateStatus] = {
    KeReason.NO_LOCAL_RESOURCES: TerminateStatus.NO_RESOURCES,
    KeReason.INVALID_PARTNER_MESSAGE: TerminateStatus.BAD_MESSAGE,
    KeReason.BAD_CERTIFICATE_ISSUER: TerminateStatus.UNKNOWN_ISSUER,
    KeReason.KEY_CONFIRM_FAILURE: TerminateStatus.BAD_KEY_CONFIRM,
    KeReason.BAD_KEY_ESTABLISHMENT_SUITE: TerminateStatus.UNSUPPORTED_SUITE,
    KeReason.INVALID_CERTIFICATE: TerminateStatus.INVALID_CERTIFICATE,
}


@dataclass(frozen=True)
class KeResult:
    """How one key establishment ended, seen from one side."""

    am_initiator: bool
    reason: KeReason
    suite: int | None = None
    link_key: bytes | None = None  # the stored key (success only; None if the engine cannot tell)
    partner_eui64: bytes | None = None  # the partner certificate's subject, MSB first, once known
    sent_terminate: TerminateStatus | None = None
    received_terminate: TerminateKeyEstablishment | None = None
    detail: str = ""

    @property
    def success(self) -> bool:
        return self.reason is KeReason.LINK_KEY_ESTABLISHED


class _State(enum.Enum):
    IDLE = "idle"
    WAIT_INITIATE_RESPONSE = "waiting for Initiate Key Establishment Response"
    WAIT_EPHEMERAL_REQUEST = "waiting for Ephemeral Data Request"
    GENERATING_KEYS = "generating ephemeral keys"
    WAIT_EPHEMERAL_RESPONSE = "waiting for Ephemeral Data Response"
    WAIT_CONFIRM_REQUEST = "waiting for Confirm Key Data Request"
    CALCULATING = "calculating SMACs"
    WAIT_CONFIRM_RESPONSE = "waiting for Confirm Key Data Response"
    SENDING_CONFIRM = "sending Confirm Key Data Response"
    DONE = "done"


Send = Callable[[int, bytes], Awaitable[object]]


class _KeSession:
    am_initiator: ClassVar[bool]

    def __init__(
        self,
        engine: KeEngine,
        send: Send,
        clock: Clock,
        *,
        suites: int = SUITE_2,
        partner_eui64: bytes | None = None,
        ephemeral_data_generate_time: int = DEFAULT_EPHEMERAL_DATA_GENERATE_TIME_S,
        confirm_key_generate_time: int = DEFAULT_CONFIRM_KEY_GENERATE_TIME_S,
        terminate_wait_time: int = TERMINATE_WAIT_TIME_S,
    ) -> None:
        if not suites & (SUITE_1 | SUITE_2):
            raise ValueError("suites must include suite 1 (0x0001) or suite 2 (0x0002)")
        self.engine = engine
        self._send_payload = send
        self.clock = clock
        self.suites = suites
        self.expected_partner_eui64 = partner_eui64
        self.ephemeral_data_generate_time = ephemeral_data_generate_time
        self.confirm_key_generate_time = confirm_key_generate_time
        self.terminate_wait_time = terminate_wait_time
        self._state = _State.IDLE
        self._epoch = 0  # bumped at every start/finish: stale continuations check it
        self._timer: Timer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._reset_exchange()

    def _reset_exchange(self) -> None:
        self.suite: int | None = None
        self._own_certificate: bytes | None = None
        self._partner_certificate: bytes | None = None
        self._partner_eui64: bytes | None = None
        self._partner_ephemeral: bytes | None = None
        self._partner_eph_time = 0
        self._partner_confirm_time = 0
        self._expected_mac: bytes | None = None
        self._generated = False  # this exchange made the engine's temporary data (its ephemeral keys)

    @property
    def state(self) -> str:
        return self._state.value

    @property
    def active(self) -> bool:
        return self._state not in (_State.IDLE, _State.DONE)

    # -- helpers ---------------------------------------------------------------------------------

    def _enter(self, state: _State, timeout: float | None) -> None:
        self._state = state
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if timeout is not None:
            self._timer = self.clock.call_later(timeout, self._on_timeout, self._epoch, state)

    def _on_timeout(self, epoch: int, state: _State) -> None:
        if epoch == self._epoch and self._state is state:
            self._spawn(self._finish(KeReason.TIMEOUT_OCCURRED, detail=f"timed out {state.value}"))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, message: KeMessage) -> bool:
        """Send; on failure end the exchange (MESSAGE_SEND_FAILURE) and return False."""
        epoch = self._epoch
        try:
            await self._send_payload(int(message.COMMAND), message.encode())
        except Exception as exc:  # noqa: BLE001 - any transport failure ends the exchange
            if epoch == self._epoch and self.active:
                await self._finish(KeReason.MESSAGE_SEND_FAILURE, detail=f"{type(exc).__name__}: {exc}")
            return False
        return True

    def _check_certificate(self, identity: bytes) -> tuple[KeReason, str] | None:
        """The SL plugin's checks on a partner certificate, in its order."""
        cls = _certificate_class(self.suite)
        partner = cls.decode(identity)
        own = cls.decode(self._own_certificate)
        if partner.issuer != own.issuer:
            return KeReason.BAD_CERTIFICATE_ISSUER, f"issuer {partner.issuer.hex().upper()}"
        if self.expected_partner_eui64 is not None and partner.subject != self.expected_partner_eui64:
            return KeReason.INVALID_PARTNER_MESSAGE, f"certificate subject {partner.subject.hex().upper()}"
        problems = partner.problems()
        if problems:
            return KeReason.INVALID_CERTIFICATE, "; ".join(problems)
        return None

    async def _engine_call(self, coro) -> object | None:
        """Await an engine call; on failure end with NO_LOCAL_RESOURCES and return None."""
        epoch = self._epoch
        try:
            result = await coro
        except KeEngineError as exc:
            if epoch == self._epoch and self.active:
                await self._finish(KeReason.NO_LOCAL_RESOURCES, detail=str(exc))
            return None
        if epoch != self._epoch or not self.active:
            return None  # the exchange ended (timeout, Terminate) while the engine worked
        return result

    async def _finish(
        self,
        reason: KeReason,
        *,
        detail: str = "",
        received: TerminateKeyEstablishment | None = None,
        send_terminate: bool = True,
    ) -> None:
        if not self.active:
            return
        self._epoch += 1
        self._enter(_State.DONE, None)
        suite = self.suite
        link_key = None
        if reason is KeReason.LINK_KEY_ESTABLISHED:
            try:
                link_key = await self.engine.clear_temporary_data(suite, True)
            except KeEngineError as exc:
                reason, detail = KeReason.NO_LOCAL_RESOURCES, f"storing the link key: {exc}"
        if reason is not KeReason.LINK_KEY_ESTABLISHED and self._generated:
            # an exchange that generated no keys leaves the engine's temporary data alone: on an NCP
            # it may belong to another exchange in progress (a spoofed Initiate timing out)
            with contextlib.suppress(KeEngineError):
                await self.engine.clear_temporary_data(suite or SUITE_2, False)
        status = _TERMINATE_FOR.get(reason) if send_terminate else None
        if status is not None:
            field = self.suites if status is TerminateStatus.UNSUPPORTED_SUITE else (suite or self.suites)
            with contextlib.suppress(Exception):
                await self._send_payload(
                    int(KeCommand.TERMINATE_KEY_ESTABLISHMENT),
                    TerminateKeyEstablishment(
                        status=int(status), wait_time=self.terminate_wait_time, suite=field
                    ).encode(),
                )
        result = KeResult(
            am_initiator=self.am_initiator,
            reason=reason,
            suite=suite,
            link_key=link_key,
            partner_eui64=self._partner_eui64,
            sent_terminate=status,
            received_terminate=received,
            detail=detail,
        )
        self._deliver(result)

    def abandon(self) -> None:
        """Forget the exchange in progress without a word or an engine call (its partner's session was
        dropped by the caller): no timer left to fire, no Terminate, no result."""
        self._epoch += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._state = _State.IDLE
        self._reset_exchange()

    def _deliver(self, result: KeResult) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _decode(self, command_id: int, payload: bytes) -> KeMessage | None:
        try:
            return decode_payload(command_id, payload, self.suite if self.suite in POINT_SIZE else SUITE_2)
        except PayloadError:
            return None

    async def _common(self, command_id: int, payload: bytes) -> bool:
        """Terminate and malformed payloads, for any active state.  True when handled."""
        if command_id == KeCommand.TERMINATE_KEY_ESTABLISHMENT:
            msg = self._decode(command_id, payload)
            await self._finish(
                KeReason.PARTNER_SENT_TERMINATE,
                received=msg,
                detail=msg.status_name if msg else "malformed Terminate",
                send_terminate=False,
            )
            return True
        if self._decode(command_id, payload) is None:
            await self._finish(
                KeReason.INVALID_PARTNER_MESSAGE, detail=f"malformed command 0x{command_id:02X}"
            )
            return True
        return False

    async def _unexpected(self, command_id: int) -> None:
        await self._finish(
            KeReason.INVALID_PARTNER_MESSAGE, detail=f"command 0x{command_id:02X} while {self._state.value}"
        )


class KeInitiator(_KeSession):
    """Key Establishment client: starts the exchange.  Single use: ``result = await ke.run()``.

    ``partner_suites`` is the partner's attribute 0x0000 as read beforehand (intra-PAN); leave it
    None to skip that step (inter-PAN), in which case the highest of our ``suites`` is used.
    """

    am_initiator = True

    def __init__(
        self, engine: KeEngine, send: Send, clock: Clock, *, partner_suites: int | None = None, **kwargs
    ) -> None:
        super().__init__(engine, send, clock, **kwargs)
        self.partner_suites = partner_suites
        self._result: asyncio.Future[KeResult] | None = None

    def _future(self) -> asyncio.Future[KeResult]:
        if self._result is None:
            self._result = asyncio.get_running_loop().create_future()
        return self._result

    def _deliver(self, result: KeResult) -> None:
        fut = self._future()
        if not fut.done():
            fut.set_result(result)

    @property
    def result(self) -> KeResult | None:
        return self._result.result() if self._result is not None and self._result.done() else None

    async def wait(self) -> KeResult:
        return await self._future()

    async def run(self) -> KeResult:
        await self.start()
        return await self.wait()

    async def start(self) -> None:
        if self._state is not _State.IDLE:
            raise RuntimeError("a KeInitiator runs once")
        self._future()
        common = self.suites & (self.partner_suites if self.partner_suites is not None else 0xFFFF)
        self.suite = SUITE_2 if common & SUITE_2 else SUITE_1 if common & SUITE_1 else None
        self._state = _State.WAIT_INITIATE_RESPONSE  # active from here on
        if self.suite is None:  # nothing sent yet: no Terminate (as the SL plugin)
            await self._finish(
                KeReason.BAD_KEY_ESTABLISHMENT_SUITE,
                detail=f"partner suites 0x{self.partner_suites:04X}, ours 0x{self.suites:04X}",
                send_terminate=False,
            )
            return
        try:
            self._own_certificate = await self.engine.get_certificate(self.suite)
        except KeEngineError as exc:
            await self._finish(KeReason.NO_LOCAL_RESOURCES, detail=str(exc), send_terminate=False)
            return
        self._enter(_State.WAIT_INITIATE_RESPONSE, TIMEOUT_BASE_S)
        await self._send(
            InitiateKeyEstablishment(
                suite=self.suite,
                ephemeral_data_generate_time=self.ephemeral_data_generate_time,
                confirm_key_generate_time=self.confirm_key_generate_time,
                identity=self._own_certificate,
            )
        )

    async def handle(self, command_id: int, payload: bytes) -> None:
        """Feed one received Key Establishment payload (server -> client)."""
        if not self.active or await self._common(command_id, payload):
            return
        msg = self._decode(command_id, payload)
        state = self._state
        if state is _State.WAIT_INITIATE_RESPONSE and isinstance(msg, InitiateKeyEstablishment):
            await self._on_initiate_response(msg)
        elif state is _State.WAIT_EPHEMERAL_RESPONSE and isinstance(msg, EphemeralData):
            await self._on_ephemeral_response(msg)
        elif state is _State.WAIT_CONFIRM_RESPONSE and isinstance(msg, ConfirmKeyData):
            if msg.mac == self._expected_mac:
                await self._finish(KeReason.LINK_KEY_ESTABLISHED)
            else:
                await self._finish(KeReason.KEY_CONFIRM_FAILURE, detail="MACV differs")
        else:
            await self._unexpected(command_id)

    async def _on_initiate_response(self, msg: InitiateKeyEstablishment) -> None:
        if msg.suite != self.suite:
            await self._finish(
                KeReason.BAD_KEY_ESTABLISHMENT_SUITE, detail=f"partner answered suite {msg.suite}"
            )
            return
        self._partner_eui64 = _certificate_class(self.suite).decode(msg.identity).subject
        bad = self._check_certificate(msg.identity)
        if bad is not None:
            await self._finish(bad[0], detail=bad[1])
            return
        self._partner_certificate = msg.identity
        self._partner_eph_time = msg.ephemeral_data_generate_time
        self._partner_confirm_time = msg.confirm_key_generate_time
        self._enter(_State.GENERATING_KEYS, TIMEOUT_BASE_S + self.ephemeral_data_generate_time)
        self._generated = True
        qe = await self._engine_call(self.engine.generate_keys(self.suite))
        if qe is None:
            return
        self._enter(_State.WAIT_EPHEMERAL_RESPONSE, TIMEOUT_BASE_S + self._partner_eph_time)
        await self._send(EphemeralData(public_key=qe))

    async def _on_ephemeral_response(self, msg: EphemeralData) -> None:
        self._partner_ephemeral = msg.public_key
        self._enter(_State.CALCULATING, TIMEOUT_BASE_S + self.confirm_key_generate_time)
        smacs = await self._engine_call(
            self.engine.calculate_smacs(self.suite, True, self._partner_certificate, msg.public_key)
        )
        if smacs is None:
            return
        macu, macv = smacs
        self._expected_mac = macv
        self._enter(_State.WAIT_CONFIRM_RESPONSE, TIMEOUT_BASE_S + self._partner_confirm_time)
        await self._send(ConfirmKeyData(mac=macu))


class KeResponder(_KeSession):
    """Key Establishment server: answers exchanges one at a time, indefinitely.

    Each finished exchange's ``KeResult`` goes to ``results`` (a list) and to ``await next_result()``.
    """

    am_initiator = False

    def __init__(self, engine: KeEngine, send: Send, clock: Clock, **kwargs) -> None:
        super().__init__(engine, send, clock, **kwargs)
        self.results: list[KeResult] = []
        self.ignored: list[tuple[int, str]] = []   # messages that did not touch the exchange, with why
        self._queue: asyncio.Queue[KeResult] = asyncio.Queue()

    def _deliver(self, result: KeResult) -> None:
        self.results.append(result)
        self._queue.put_nowait(result)
        self._state = _State.IDLE
        self._reset_exchange()

    @property
    def waiting_for_ephemeral(self) -> bool:
        """It answered an Initiate and waits for the partner's Ephemeral Data (the exchange's first step)."""
        return self._state is _State.WAIT_EPHEMERAL_REQUEST and self._own_certificate is not None

    async def next_result(self) -> KeResult:
        return await self._queue.get()

    async def handle(self, command_id: int, payload: bytes) -> None:
        """Feed one received Key Establishment payload (client -> server).

        An Initiate Request while an exchange is in progress does not disturb it: it is ignored and
        recorded in ``ignored`` as ``(command_id, "ke_in_progress")`` (a spoofed or duplicated Initiate
        must not reset the responder mid-exchange, nor make it terminate the genuine partner's exchange).
        """
        if not self.active:
            await self._handle_idle(command_id, payload)
            return
        if command_id == KeCommand.INITIATE_KEY_ESTABLISHMENT:
            self.ignored.append((command_id, "ke_in_progress"))
            return
        if await self._common(command_id, payload):
            return
        msg = self._decode(command_id, payload)
        state = self._state
        if state is _State.WAIT_EPHEMERAL_REQUEST and isinstance(msg, EphemeralData):
            await self._on_ephemeral_request(msg)
        elif state is _State.WAIT_CONFIRM_REQUEST and isinstance(msg, ConfirmKeyData):
            await self._on_confirm_request(msg)
        else:
            await self._unexpected(command_id)

    async def _handle_idle(self, command_id: int, payload: bytes) -> None:
        if command_id == KeCommand.TERMINATE_KEY_ESTABLISHMENT:
            return  # nothing to terminate
        self._epoch += 1
        epoch = self._epoch
        self._reset_exchange()
        self._state = _State.WAIT_EPHEMERAL_REQUEST  # active: failures below send Terminate
        msg = self._decode(command_id, payload)
        if not isinstance(msg, InitiateKeyEstablishment):
            what = "malformed" if msg is None else "unexpected"
            await self._finish(
                KeReason.INVALID_PARTNER_MESSAGE, detail=f"{what} command 0x{command_id:02X} when idle"
            )
            return
        if msg.suite not in (SUITE_1, SUITE_2) or not msg.suite & self.suites:
            await self._finish(
                KeReason.BAD_KEY_ESTABLISHMENT_SUITE, detail=f"partner asked for suite {msg.suite}"
            )
            return
        self.suite = msg.suite
        self._partner_eui64 = _certificate_class(self.suite).decode(msg.identity).subject
        suite = self.suite
        try:
            own_certificate = await self.engine.get_certificate(suite)
        except KeEngineError as exc:
            if epoch == self._epoch and self.active:
                await self._finish(KeReason.NO_LOCAL_RESOURCES, detail=str(exc))
            return
        if epoch != self._epoch or self._state is not _State.WAIT_EPHEMERAL_REQUEST:
            return  # the exchange ended (timeout, Terminate, a malformed frame) while the engine worked
        self._own_certificate = own_certificate
        bad = self._check_certificate(msg.identity)
        if bad is not None:
            await self._finish(bad[0], detail=bad[1])
            return
        self._partner_certificate = msg.identity
        self._partner_eph_time = msg.ephemeral_data_generate_time
        self._partner_confirm_time = msg.confirm_key_generate_time
        self._enter(_State.WAIT_EPHEMERAL_REQUEST, TIMEOUT_BASE_S + self._partner_eph_time)
        await self._send(
            InitiateKeyEstablishment(
                suite=self.suite,
                ephemeral_data_generate_time=self.ephemeral_data_generate_time,
                confirm_key_generate_time=self.confirm_key_generate_time,
                identity=self._own_certificate,
            )
        )

    async def _on_ephemeral_request(self, msg: EphemeralData) -> None:
        self._partner_ephemeral = msg.public_key
        self._enter(_State.GENERATING_KEYS, TIMEOUT_BASE_S + self.ephemeral_data_generate_time)
        self._generated = True
        qe = await self._engine_call(self.engine.generate_keys(self.suite))
        if qe is None:
            return
        self._enter(_State.WAIT_CONFIRM_REQUEST, TIMEOUT_BASE_S + self._partner_confirm_time)
        await self._send(EphemeralData(public_key=qe))

    async def _on_confirm_request(self, msg: ConfirmKeyData) -> None:
        self._enter(_State.CALCULATING, TIMEOUT_BASE_S + self.confirm_key_generate_time)
        smacs = await self._engine_call(
            self.engine.calculate_smacs(self.suite, False, self._partner_certificate, self._partner_ephemeral)
        )
        if smacs is None:
            return
        macu, macv = smacs
        if msg.mac != macu:
            await self._finish(KeReason.KEY_CONFIRM_FAILURE, detail="MACU differs")
            return
        self._enter(_State.SENDING_CONFIRM, TIMEOUT_BASE_S)
        if await self._send(ConfirmKeyData(mac=macv)):
            await self._finish(KeReason.LINK_KEY_ESTABLISHED)
