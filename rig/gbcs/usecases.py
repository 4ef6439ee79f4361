"""The GBCS use cases of local PPMID pairing: payload layouts, message codes, who may send what.

Every payload below is one declarative ``Struct`` (``fields.py``) that both decodes and encodes.
Byte layouts follow the team notes' ``gbcs.md`` §5 (RTDS 4.5.0 bytes).  ``USE_CASES`` is the message-code
table; ``payload_layout`` picks the layout for a (message code, CRA) pair.

CCS01 Add Device to CHF Device Log — the whole command, DLMS access-request to the CHF::

    D9 <invoke-id:4> 00                  access-request, invoke-id = 0x20 ‖ low 24 bits of the counter
    03                                   3 specifications on class 0x0068 / OBIS 00-00-1E-03-00-FF
       03 0068 00001E0300FF 01             action register_device
       02 0068 00001E0300FF 03             set join_timeout
       02 0068 00001E0300FF 02             set enable_disable_joining
    03                                   3 data
       02 04                               structure(4):
          09 08 <device EUI-64>                device_id
          16 <device type>                     device_type (DeviceType below)
          09 <n> <install code, no CRC>        install_code (RTDS: 16 bytes)
          16 <enum>                            trailing_enum ([U], see decision 2)
       12 <join timeout:2>                 join_timeout
       03 FF                               joining_enabled (boolean)

Decisions where the public text is silent (tags as in the notes: [I] inference, [U] open):

1. Device type [I]: CCS01 uses the CS03 join enumeration ``DeviceType`` (GSME 0, ESME 1, CHF 2, GPF 3,
   HCALCS 4, PPMID 5, Type 2 = IHD/CAD 6): RTDS registers the ESME 00DB1234567890A0 with 1, and SL's
   ``gbcs-device-log.h`` uses the same list.  An HHT has no value of its own [U]; the rig registers an
   HHT as ``TYPE2`` (like an IHD/CAD it joins with an install code and holds no GBCS certificates).
   A PPMID pairing locally under SECMP0037 is registered as ``PPMID`` from the start, because it is
   then joined to the ESME and GPF as a PPMID (CS03A1 / CS03C).
2. The enum after the install code [U]: RTDS sends 0.  The rig writes 0, decodes any value into
   ``trailing_enum``, and the CH shim ignores it.
3. ``join_timeout`` [I]: minutes, copied from DUIS ``JoinTimePeriod`` (RTDS: 90).
4. Install code [C: RTDS, HG ch.c]: carried without its CRC; the CHF derives the link key as
   AES-MMO(code ‖ CRC-16/X-25(code)) (``rig.zigbee.install_code.link_key_from_code``).
5. ``joining_enabled`` is strict DLMS boolean 00/FF; anything else is malformed.
6. Responses: CCS01/CCS02/CS03B/CS04B responses are MAC'd (DD) and unsigned; CS03A1/A2/C and CS04AC
   responses are bare General-Signing messages signed by the device [C: RTDS, "CS04B mixed" → MAC'd].
7. Who may originate [I]: CCS01/CCS02 only the ACB (it builds them for the DCC user, named as the
   Supplementary Remote Party); CS03A1 only a supplier (always critical); the other joins/unjoins a
   supplier (critical or CS03B/CS04B) or the ACB (non-critical).  CS03A1/A2/C and CS04AC must carry a
   signature by their originator (supplier: critical; ACB: non-critical).  ``targets`` says which device
   roles execute a code; anything else is ``unsupported_message_code``.
8. Failure alert [I]: a GBZ alert (CRA 3, message code 0x1001 Generic Non Critical Alert, no use-case
   components), alert code chosen per rejection reason in ``validate.ALERT_FOR_REASON``, timestamp in
   seconds since 2000-01-01 UTC, MAC'd with the device's key and the recipient's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .fields import U8, Bool, Const, DecodeError, Enum, Field, Hex, Prefixed, Rest, Struct, UInt
from .message import Cra, Message


class Role(enum.StrEnum):
    ACB = "acb"
    SUPPLIER = "supplier"
    NETWORK_OPERATOR = "network_operator"
    CHF = "chf"
    GPF = "gpf"
    ESME = "esme"
    GSME = "gsme"
    HHT = "hht"
    PPMID = "ppmid"


class DeviceType(enum.IntEnum):
    """CS03 join / CHF device log device type [C: GP asn1.ts, G081 p195, SL gbcs-device-log.h]."""

    GSME = 0
    ESME = 1
    CHF = 2
    GPF = 3
    HCALCS = 4
    PPMID = 5
    TYPE2 = 6  # IHD / CAD; the rig also uses it for an HHT (decision 1)


# The device type CCS01 registers a role with (decision 1: an HHT is registered as Type 2).
ROLE_DEVICE_TYPE = {Role.GSME: DeviceType.GSME, Role.ESME: DeviceType.ESME, Role.CHF: DeviceType.CHF,
                    Role.GPF: DeviceType.GPF, Role.PPMID: DeviceType.PPMID, Role.HHT: DeviceType.TYPE2}


class JoinMethodRole(enum.IntEnum):
    A_INITIATOR = 0
    A_RESPONDER = 1
    B = 2
    C = 3


JOIN_RESULTS = {0: "success", 1: "message code not valid for method/role", 2: "invalid method/role",
                3: "incompatible with existing entry", 4: "device log full", 5: "write failure",
                6: "key agreement: no resources", 7: "key agreement: unknown issuer",
                8: "key agreement: unsupported suite", 9: "key agreement: bad message",
                10: "key agreement: bad key confirm", 11: "bad or missing certificate",
                12: "no partner link key", 13: "no CBKE"}
UNJOIN_RESULTS = {0: "success", 1: "not in device log", 2: "other failure"}
DLMS_RESULTS = {0: "success", 1: "hardware-fault", 2: "temporary-failure", 3: "read-write-denied",
                4: "object-undefined", 9: "object-class-inconsistent", 11: "object-unavailable",
                12: "type-unmatched", 13: "scope-of-access-violated", 250: "other-reason"}
ALERT_CODES = {0x8F12: "CHF Device Log Changed", 0x8183: "Device joined SMHAN",
               0x8F1E: "Integrity check of content or format of command failed",
               0x8F30: "Source does not have Authority for Command",
               0x8F3D: "Trusted Source Authentication Failure",
               0x8F3E: "Unauthorised Communication Access attempted",
               0x8F48: "Device joining failed", 0x8F49: "Device joining succeeded",
               0x8F4A: "Device unjoining failed", 0x8F4B: "Device unjoining succeeded",
               0x8F53: "Failed Authentication or Authorisation not covered by other codes",
               0x8F60: "Unusual numbers of malformed, out-of-order or unexpected Commands received",
               0x81BA: "RequestTunnel rejected"}

EUI64 = Hex(8)
CHF_DEVICE_LOG = "0068 00001E0300FF"  # COSEM class 0x0068 ZigBee network control, OBIS 0-0:30.3.0.255

CCS01_COMMAND = Struct(
    (None, Const("D9", "DLMS access-request")),
    ("invoke_id", UInt(4)),
    (None, Const("00", "no date-time")),
    (None, Const("03", "3 access-request specifications")),
    (None, Const("03" + CHF_DEVICE_LOG + "01", "action register_device")),
    (None, Const("02" + CHF_DEVICE_LOG + "03", "set join_timeout")),
    (None, Const("02" + CHF_DEVICE_LOG + "02", "set enable_disable_joining")),
    (None, Const("03 0204 0908", "3 data, structure(4), octet-string(8)")),
    ("device_id", EUI64),
    (None, Const("16", "enum")), ("device_type", Enum(U8, DeviceType)),
    (None, Const("09", "octet-string")), ("install_code", Prefixed(Rest())),
    (None, Const("16", "enum")), ("trailing_enum", U8),
    (None, Const("12", "long-unsigned")), ("join_timeout", UInt(2)),
    (None, Const("03", "boolean")), ("joining_enabled", Bool()),
)
CCS01_RESPONSE = Struct(
    (None, Const("DA", "DLMS access-response")),
    ("invoke_id", UInt(4)),
    (None, Const("00 00", "no date-time, no specification list")),
    (None, Const("03 00 00 00", "3 data: null null null")),
    (None, Const("03 03", "3 results, action")), ("register_result", U8),
    (None, Const("02", "set")), ("join_timeout_result", U8),
    (None, Const("02", "set")), ("joining_enabled_result", U8),
)
CCS02_COMMAND = Struct(
    (None, Const("D9", "DLMS access-request")),
    ("invoke_id", UInt(4)),
    (None, Const("00 01", "no date-time, 1 specification")),
    (None, Const("03" + CHF_DEVICE_LOG + "02", "action unregister_device")),
    (None, Const("01 0908", "1 data, octet-string(8)")),
    ("device_id", EUI64),
)
CCS02_RESPONSE = Struct(
    (None, Const("DA", "DLMS access-response")),
    ("invoke_id", UInt(4)),
    (None, Const("00 00 01 00 01 03", "1 null datum, 1 action result")),
    ("unregister_result", U8),
)
JOIN_COMMAND = Struct(  # ASN.1 DER SEQUENCE
    (None, Const("30", "SEQUENCE")),
    (None, Prefixed(Struct(
        (None, Const("0201", "INTEGER")), ("method_role", Enum(U8, JoinMethodRole)),
        (None, Const("0408", "OCTET STRING(8)")), ("partner_id", EUI64),
        (None, Const("0201", "INTEGER")), ("partner_type", Enum(U8, DeviceType)),
        ("ka_certificate", Rest()),  # only for GSME <-> PPMID joins
    ))),
)
UNJOIN_COMMAND = Struct((None, Const("0408", "OCTET STRING(8)")), ("partner_id", EUI64))
RESULT_RESPONSE = Struct((None, Const("0201", "INTEGER")), ("result", U8))
GBZ_ALERT = Struct(
    (None, Const("0109", "ZSE profile id")),
    ("components", U8),
    ("alert_code", UInt(2)),
    ("timestamp", UInt(4)),  # seconds since 2000-01-01 00:00 UTC
    ("alert_data", Rest()),
)


@dataclass(frozen=True)
class UseCase:
    name: str
    title: str
    code: int
    command: Struct | None = field(repr=False)
    response: Struct | None = field(repr=False)
    targets: frozenset[Role] = frozenset()
    originators: frozenset[Role] = frozenset()
    signature_required: bool = False
    response_signed: bool = False
    srv: str = ""
    phase: int = 9  # order inside a local-delivery bundle: device log first, then joins ...

    @property
    def label(self) -> str:
        return f"{self.name} {self.title}"


_JOIN_TARGETS = frozenset({Role.ESME, Role.GSME, Role.GPF, Role.PPMID})
_USERS = frozenset({Role.SUPPLIER, Role.ACB})

USE_CASES: dict[int, UseCase] = {uc.code: uc for uc in (
    UseCase("CCS01", "Add Device to CHF Device Log", 0x0001, CCS01_COMMAND, CCS01_RESPONSE,
            frozenset({Role.CHF}), frozenset({Role.ACB}), srv="8.11", phase=0),
    UseCase("CCS02", "Remove Device from CHF Device Log", 0x0002, CCS02_COMMAND, CCS02_RESPONSE,
            frozenset({Role.CHF}), frozenset({Role.ACB}), srv="8.11", phase=3),
    UseCase("CS03A1", "Method A Join (Meter)", 0x000D, JOIN_COMMAND, RESULT_RESPONSE,
            frozenset({Role.ESME, Role.GSME}), frozenset({Role.SUPPLIER}), True, True, "8.7.1", 1),
    UseCase("CS03A2", "Method A Join (non Meter)", 0x00AB, JOIN_COMMAND, RESULT_RESPONSE,
            frozenset({Role.PPMID}), _USERS, True, True, "8.7.1/8.7.2", 1),
    UseCase("CS03B", "Method B Join", 0x000E, JOIN_COMMAND, RESULT_RESPONSE,
            frozenset({Role.ESME, Role.GPF}), _USERS, False, False, "8.7.2", 1),
    UseCase("CS03C", "Method C Join", 0x00AF, JOIN_COMMAND, RESULT_RESPONSE,
            frozenset({Role.ESME, Role.GSME, Role.GPF}), _USERS, True, True, "8.7.1/8.7.2", 1),
    UseCase("CS04AC", "Method A or C Unjoin", 0x000F, UNJOIN_COMMAND, RESULT_RESPONSE,
            _JOIN_TARGETS, _USERS, True, True, "8.8.1/8.8.2", 2),
    UseCase("CS04B", "Method B Unjoin", 0x0010, UNJOIN_COMMAND, RESULT_RESPONSE,
            frozenset({Role.ESME, Role.GPF}), _USERS, False, False, "8.8.2", 2),
    UseCase("ALERT", "Generic Critical Alert", 0x1000, None, None),
    UseCase("ALERT", "Generic Non Critical Alert", 0x1001, None, None),
)}
BY_NAME = {uc.name: uc for uc in USE_CASES.values() if uc.command is not None}
GENERIC_NON_CRITICAL_ALERT = 0x1001


def use_case(code_or_name: int | str) -> UseCase:
    try:
        return BY_NAME[code_or_name.upper()] if isinstance(code_or_name, str) else USE_CASES[code_or_name]
    except KeyError:
        raise KeyError(f"unsupported GBCS use case {code_or_name!r}") from None


def code_name(code: int) -> str:
    uc = USE_CASES.get(code)
    return uc.label if uc else f"unknown message code 0x{code:04X}"


def payload_layout(code: int, cra: Cra) -> Field:
    """The content layout for ``code`` sent with ``cra``; ``KeyError`` when the rig does not know it."""
    uc = use_case(code)
    layout = GBZ_ALERT if cra == Cra.ALERT else uc.command if cra == Cra.COMMAND else uc.response
    if layout is None:
        raise KeyError(f"{uc.label} has no {cra.name.lower()} form")
    return layout


def decode_payload(message: Message) -> dict[str, Any]:
    """Decode ``message.content``; ``KeyError`` for an unknown code, ``DecodeError`` if malformed."""
    layout = payload_layout(message.message_code, message.cra)
    try:
        return layout.parse(message.content)
    except DecodeError as e:
        raise DecodeError(f"{code_name(message.message_code)} {message.cra.name.lower()} payload: {e}") from None


def encode_payload(code: int, cra: Cra, values: dict[str, Any]) -> bytes:
    return payload_layout(code, cra).encode(values)


def invoke_id(counter: int) -> int:
    """DLMS long-invoke-id-and-priority: 0x20 ‖ low 24 bits of the originator counter [V: RTDS]."""
    return 0x20000000 | (counter & 0xFFFFFF)
