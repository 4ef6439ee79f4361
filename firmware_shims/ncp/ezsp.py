"""EZSP, NCP side: frame layouts, version negotiation, table-driven dispatch, callbacks.

Command tables are *data*: for the negotiated protocol version we take bellows' declarations
(``bellows.ezsp.v<N>.commands.COMMANDS``: name → (frame id, request schema, response schema)), the
fullest public EZSP tables.  The request schema decodes what the host sent; the response schema
encodes what the handler returned.  Handlers (``firmware_shims.ncp.areas``, dispatched through
``node.Node.handlers()``) are written once, against canonical field *names* that
``firmware_shims.ncp.spellings`` respells for each version, and return status values by name
(``"OK"``, ``"NOT_JOINED"`` …); this module turns them into ``sl_Status`` (u32, v14+) or
``EmberStatus``/``EzspStatus`` (u8, v13) according to the field's declared type.  A response or
callback names exactly the fields its frame declares: a missing or undeclared one raises
``EzspFieldError`` (a failure answer whose other outputs are meaningless says so with ``ZeroRest``).

Where bellows' host code disagrees with EmberZNet, the tables we use are still the firmware's:
``exportLinkKeyByIndex`` on v14 answers ``status, context, key, metadata`` (EmberZNet 8.0 order)
although bellows' v14 host parses it in v13 order (``tests/ncp/test_ezsp_dispatch.py``,
``test_v14_export_link_key_by_index_follows_emberznet_not_bellows``).

Framing (UG100): the first ``version`` after a reset uses the legacy layout ``seq FC id``; v8+ frames
are ``seq FC_lo FC_hi id(u16 LE) params``.  Replies carry FC_lo 0x80, callbacks 0x90 (async bit),
FC_hi 0x01.  Callbacks that a handler raises are sent *after* its reply and carry the sequence
number of the last completed command (never that of a pending one).

Version choice: the NCP has a firmware version (default 14) and a set of versions it can speak.
``version(N)`` with N in that set switches to N and answers N; any other N is answered, as a real
NCP does, with the firmware's own version — the host must then reconnect speaking that one.

Unknown frame ids and undecodable parameters get ``invalidCommand`` (0x0058) with reason
``ERROR_INVALID_FRAME_ID`` (0x31) or ``ERROR_TRUNCATED`` (0x33); on v14+ the reason travels in the
u32 status field as the same EzspStatus number [I: EmberZNet 8 keeps EzspStatus values there].
No exception from a handler escapes: it is logged and answered with invalidCommand.
"""

from __future__ import annotations

import importlib
import logging
import struct
from collections.abc import Callable
from functools import cache
from typing import Any

import bellows.types as t

from .spellings import Spelling, spelling, unread_request_fields

LOGGER = logging.getLogger(__name__)

SUPPORTED_VERSIONS = (13, 14, 16, 17, 18, 19)
DEFAULT_VERSION = 14
STACK_TYPE = 2  # ZigBee
#: EmberZNet releases that speak each EZSP version ([I] nearest public release per version).
STACK_VERSIONS = {13: (7, 4, 4, 0), 14: (8, 0, 2, 0), 16: (8, 1, 0, 0), 17: (8, 2, 0, 0),
                  18: (8, 2, 2, 0), 19: (9, 0, 0, 0)}

INVALID_COMMAND = 0x0058
VERSION = 0x0000
#: Commands answered in another frame: ``callback`` gets the pending callback or ``noCallbacks`` (EZSP
#: reference; over UART every callback is sent asynchronously, so none is ever pending).
ANSWERED_BY = {"callback": "noCallbacks"}

# status names used by handlers → EmberStatus / EzspStatus names where they differ
_EMBER_ALIASES = {"OK": "SUCCESS", "INVALID_INDEX": "INDEX_OUT_OF_RANGE", "FAIL": "ERR_FATAL", "INVALID_PARAMETER": "BAD_ARGUMENT",
                  "INVALID_STATE": "INVALID_CALL", "IN_PROGRESS": "OPERATION_IN_PROGRESS",
                  "NOT_AVAILABLE": "LIBRARY_NOT_PRESENT", "FULL": "TABLE_FULL",
                  "ZIGBEE_DELIVERY_FAILED": "DELIVERY_FAILED",
                  "ZIGBEE_SIGNATURE_VERIFY_FAILURE": "SIGNATURE_VERIFY_FAILURE",
                  "ZIGBEE_NETWORK_OPENED": "NETWORK_OPENED", "ZIGBEE_NETWORK_CLOSED": "NETWORK_CLOSED",
                  "ZIGBEE_NO_NETWORK_KEY_RECEIVED": "NO_NETWORK_KEY_RECEIVED",
                  "NO_BEACONS": "NO_BEACONS", "NOT_JOINED": "NOT_JOINED",
                  "ZIGBEE_APS_ENCRYPTION_ERROR": "APS_ENCRYPTION_ERROR",
                  "FLASH_WRITE_INHIBITED": "ERR_FLASH_WRITE_INHIBITED",
                  "INVALID_CHANNEL_MASK": "MAC_INVALID_CHANNEL_MASK",
                  "BUSY": "NETWORK_BUSY", "NOT_SUPPORTED": "LIBRARY_NOT_PRESENT"}
_EZSP_ALIASES = {"OK": "SUCCESS", "FAIL": "ERROR_INVALID_CALL", "INVALID_PARAMETER": "ERROR_INVALID_VALUE",
                 "NOT_FOUND": "ERROR_INVALID_ID", "INVALID_STATE": "ERROR_INVALID_CALL",
                 "INVALID_INDEX": "ERROR_INVALID_VALUE"}


class EzspFrameError(Exception):
    """An EZSP frame from the host that cannot be parsed (too short, truncated parameters)."""


@cache
def command_table(version: int) -> tuple[dict[str, tuple], dict[int, str]]:
    """(name → (id, request schema, response schema), id → name) for one protocol version."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"EZSP version {version} is not emulated (supported: {SUPPORTED_VERSIONS})")
    commands = importlib.import_module(f"bellows.ezsp.v{version}.commands").COMMANDS
    return commands, {cmd_id: name for name, (cmd_id, _tx, _rx) in commands.items()}


def status_value(field_type: type, value: Any) -> Any:
    """Encode a status given by name (or as a number) into the declared status type."""
    if not isinstance(value, str):
        return field_type(int(value))
    if field_type is t.sl_Status or issubclass(field_type, t.sl_Status):
        return t.sl_Status[value]
    if field_type is t.EmberStatus:
        return t.EmberStatus[_EMBER_ALIASES.get(value, value)]
    if field_type is t.EzspStatus:
        return t.EzspStatus[_EZSP_ALIASES.get(value, value)]
    if field_type is t.Bool:        # a few v14 commands still answer Bool "status"
        return t.Bool(value == "OK")
    raise TypeError(f"{field_type.__name__} is not a status type")


_STATUS_TYPES = (t.sl_Status, t.EmberStatus, t.EzspStatus)


def _zero(field_type: type) -> Any:
    value, _ = field_type.deserialize(b"\x00" * 512)
    return value


class EzspFieldError(Exception):
    """A handler's response or callback does not match the frame the negotiated version declares."""


class MissingFieldError(EzspFieldError):
    """A field the frame declares was not supplied (it would otherwise go out as zero)."""


class UnknownFieldError(EzspFieldError):
    """A supplied field is neither declared by the frame nor listed as absent for this version."""


class ZeroRest(dict):
    """Response fields of which the ones not given are deliberately written as all-zero values.

    For failure answers (``ZeroRest(status="NOT_FOUND")``) whose other outputs carry no meaning:
    [I] they are sent as zeros; a real NCP sends whatever its output variables held.
    """


def _declared(schema) -> dict[str, type]:
    if isinstance(schema, dict):
        return dict(schema)
    if isinstance(schema, tuple):      # bellows declares a few frames as tuples of types (gpTranslationTableClear)
        return {f"_{i}": ftype for i, ftype in enumerate(schema)}
    return {f.name: f.type for f in schema.fields}    # a bellows Struct response (e.g. getTokenData)


def _respelled(declared: dict[str, type], values: dict[str, Any], respell: Spelling) -> dict[str, Any]:
    """``values`` under the frame's own names: canonical names respelled, absent ones left out."""
    named: dict[str, Any] = {}
    for name, value in values.items():
        target = respell.get(name, name)
        if target is None:
            continue                                   # this version's frame has no such field
        if target not in declared:
            raise UnknownFieldError(f"field {name!r} is not declared (fields: {', '.join(declared)})")
        if target in named:
            raise EzspFieldError(f"field {target!r} given twice (as {name!r} and under another name)")
        named[target] = value
    missing = [name for name in declared if name not in named]
    if missing and not isinstance(values, ZeroRest):
        raise MissingFieldError(f"field(s) {', '.join(missing)} not supplied")
    return named


def encode_fields(schema, values: dict[str, Any], respell: Spelling | None = None) -> bytes:
    """Serialize ``values`` (canonical names, see ``spellings``) in ``schema`` order.

    Every declared field must be supplied, unless ``values`` is a ``ZeroRest``; a supplied field the
    frame does not declare must be one ``respell`` lists as absent.  Otherwise ``EzspFieldError``.
    """
    declared = _declared(schema)
    named = _respelled(declared, values, respell or {})
    converted = {}
    for name, ftype in declared.items():
        if name not in named:
            converted[name] = _zero(ftype)                 # only for a ZeroRest
            continue
        v = named[name]
        if issubclass(ftype, _STATUS_TYPES) or (ftype is t.Bool and isinstance(v, str)):
            v = status_value(ftype, v)
        elif isinstance(v, dict) and hasattr(ftype, "fields"):
            v = ftype(**v)      # a struct given by field names: one handler for every version's struct
        converted[name] = ftype(v)
    if isinstance(schema, tuple):
        return b"".join(value.serialize() for value in converted.values())
    if not isinstance(schema, dict):
        return schema(**converted).serialize()
    return b"".join(value.serialize() for value in converted.values())


def decode_fields(schema, data: bytes, respell: Spelling | None = None) -> dict[str, Any]:
    """Parse request parameters; fields come back under their canonical names (see ``spellings``)."""
    if isinstance(schema, tuple):
        schema = _declared(schema)
    if not isinstance(schema, dict):
        values = schema.deserialize(data)[0].as_dict()
    else:
        try:
            values, _rest = t.deserialize_dict(data, schema)
        except (ValueError, KeyError, IndexError, struct.error) as exc:
            raise EzspFrameError(f"parameters do not match the declaration: {exc}") from exc
    canonical = {theirs: ours for ours, theirs in (respell or {}).items() if theirs is not None}
    return {canonical.get(name, name): value for name, value in values.items()}


Handler = Callable[[dict[str, Any]], dict[str, Any] | None]


class EzspNcp:
    """Decodes host frames, calls ``handlers[name](params)``, encodes replies and callbacks.

    ``send`` delivers one EZSP frame to the host (through ASH).  ``handlers`` maps command names
    to callables; a name missing from it is answered with invalidCommand, as a real NCP answers a
    frame id it does not implement.
    """

    def __init__(self, send: Callable[[bytes], None], handlers: dict[str, Handler], *,
                 firmware_version: int = DEFAULT_VERSION,
                 versions: tuple[int, ...] = SUPPORTED_VERSIONS) -> None:
        if firmware_version not in versions:
            raise ValueError(f"firmware version {firmware_version} not in {versions}")
        self._send = send
        self.handlers = handlers
        self.firmware_version = firmware_version
        self.versions = versions
        #: called with the version a ``version`` command switched to (the dongle reports its EmberZNet release)
        self.on_version: Callable[[int], None] | None = None
        self.reset()

    def reset(self) -> None:
        """NCP reboot: back to the legacy layout until the host sends ``version``."""
        self.version: int | None = None
        self._last_seq = 0
        self._deferred: list[bytes] | None = None

    # --- input ----------------------------------------------------------------------------------
    def frame_received(self, frame: bytes) -> None:
        try:
            seq, frame_id, params, legacy = self._split(frame)
        except EzspFrameError as exc:
            LOGGER.warning("dropping EZSP frame %s: %s", frame.hex(), exc)
            return
        if frame_id == VERSION:
            self._handle_version(seq, frame_id, params, legacy)
            return
        if legacy or self.version is None:
            # before negotiation (or in a layout we no longer speak) only `version` is understood
            LOGGER.warning("ignoring EZSP frame id 0x%04X: version not negotiated", frame_id)
            return
        commands, by_id = command_table(self.version)
        name = by_id.get(frame_id)
        if name is None or name not in self.handlers:
            self._reply_invalid(seq, t.EzspStatus.ERROR_INVALID_FRAME_ID,
                                f"frame id 0x{frame_id:04X} ({name or 'unknown'}) is not implemented")
            return
        _cmd_id, tx_schema, rx_schema = commands[name]
        names = spelling(self.version, name)
        try:
            request = decode_fields(tx_schema, params, names)
        except EzspFrameError as exc:
            request = self._without_unread(name, tx_schema, params, names)
            if request is None:
                self._reply_invalid(seq, t.EzspStatus.ERROR_TRUNCATED, f"{name}: {exc}")
                return
        self._deferred = []
        self._last_seq = seq          # deferred callbacks go out after this reply: seq is completed then
        try:
            response = self.handlers[name](request)
            if response is None:
                response = {}
            payload = encode_fields(rx_schema, response, names)
        except Exception:
            LOGGER.exception("handler for %s failed on %r", name, request)
            self._deferred = None
            self._reply_invalid(seq, t.EzspStatus.ERROR_INVALID_FRAME_ID, f"{name}: handler error")
            return
        deferred, self._deferred = self._deferred, None
        if name in ANSWERED_BY:
            frame_id = commands[ANSWERED_BY[name]][0]
        self._send(self._header(seq, 0x80, frame_id) + payload)
        self._last_seq = seq
        for callback in deferred:
            self._send(callback)

    def _without_unread(self, name: str, tx_schema, params: bytes, names: Spelling) -> dict[str, Any] | None:
        """The request decoded without the trailing fields this version's firmware does not read, or None."""
        unread = unread_request_fields(self.version, name)
        if not unread or not isinstance(tx_schema, dict) or tuple(tx_schema)[-len(unread):] != unread:
            return None
        try:
            request = decode_fields({k: v for k, v in tx_schema.items() if k not in unread}, params, names)
        except EzspFrameError:
            return None
        return {**request, **{field: _zero(tx_schema[field]) for field in unread}}

    def _split(self, frame: bytes) -> tuple[int, int, bytes, bool]:
        if len(frame) < 3:
            raise EzspFrameError(f"{len(frame)} bytes is shorter than any EZSP frame")
        if frame[2] != 0x01:
            # legacy layout (v4 and the first `version` after a reset): seq FC id(1) params
            return frame[0], frame[2], frame[3:], True
        if len(frame) < 5:
            raise EzspFrameError(f"{len(frame)} bytes is shorter than an extended EZSP frame")
        return frame[0], frame[3] | frame[4] << 8, frame[5:], False

    def _handle_version(self, seq: int, frame_id: int, params: bytes, legacy: bool) -> None:
        if len(params) < 1:
            LOGGER.warning("ignoring version command without desiredProtocolVersion")
            return
        desired = params[0]
        chosen = desired if desired in self.versions else self.firmware_version
        if desired in self.versions:
            self.version = desired
            if self.on_version is not None:
                self.on_version(desired)
        major, minor, patch, special = STACK_VERSIONS[chosen]
        stack = (major << 12) | (minor << 8) | (patch << 4) | special
        body = struct.pack("<BBH", chosen, STACK_TYPE, stack)
        header = bytes((seq, 0x80, VERSION)) if legacy else self._header(seq, 0x80, VERSION)
        self._send(header + body)
        self._last_seq = seq

    def _reply_invalid(self, seq: int, reason: int, why: str) -> None:
        LOGGER.info("invalidCommand: %s", why)
        width = 4 if self.version and self.version >= 14 else 1
        self._send(self._header(seq, 0x80, INVALID_COMMAND) + reason.to_bytes(width, "little"))
        self._last_seq = seq

    @staticmethod
    def _header(seq: int, fc_lo: int, frame_id: int) -> bytes:
        return bytes((seq, fc_lo, 0x01)) + frame_id.to_bytes(2, "little")

    # --- output ---------------------------------------------------------------------------------
    def callback(self, name: str, **fields: Any) -> None:
        """Raise an asynchronous callback; deferred until the current reply has gone out."""
        if self.version is None:
            LOGGER.debug("callback %s dropped: host has not negotiated a version", name)
            return
        commands, _ = command_table(self.version)
        if name not in commands:
            LOGGER.debug("callback %s does not exist in EZSP v%s; dropped", name, self.version)
            return
        frame_id, _tx, rx_schema = commands[name]
        payload = encode_fields(rx_schema, fields, spelling(self.version, name))
        frame = self._header(self._last_seq, 0x90, frame_id) + payload
        if self._deferred is not None:
            self._deferred.append(frame)
        else:
            self._send(frame)
