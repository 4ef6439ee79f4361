"""The GBCS message envelope (team notes, ``gbcs.md`` §1), described once in ``GENERAL_SIGNING`` and
``GENERAL_CIPHERING`` and used for both directions.

Three forms, told apart by what ``Message`` carries:

==========================  =====  ===============  ===========================================
form                        first  ``mac``          ``signature``
==========================  =====  ===============  ===========================================
general-ciphering (MAC'd)   DD     12 bytes         ``b""`` (field ``00``) or 64 bytes r‖s
general-signing             DF     ``None``         ``b""`` or 64 bytes (signed responses/alerts)
pre-command (CV4)           DF     ``None``         ``None`` (no signature field at all)
==========================  =====  ===============  ===========================================

Other-information: message code, then optionally the Supplementary Remote Party ID, its counter,
the supplementary originator counter and a KA certificate (each present only if the previous one is;
WS-GBCS reads them in this order).  Entity IDs are 16 upper-case hex digits.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from rig.zigbee.eui64 import eui_from_bytes, eui_hex

from .fields import (
    U8,
    Const,
    DecodeError,
    Enum,
    Hex,
    Mapped,
    Maybe,
    Prefixed,
    Raw,
    Reserve,
    Rest,
    Struct,
    UInt,
)

MAC_LENGTH = 12
SIGNATURE_LENGTH = 64


class Cra(enum.IntEnum):
    """CRA flag: what the message is."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3


ENTITY_ID = Hex(8)
_DATE_TIME = Mapped(Prefixed(Rest(), U8, sizes=(0, 12)), lambda b: b or None, lambda v: v or b"")
_SIGNATURE = Maybe(Prefixed(Rest(), U8, sizes=(0, SIGNATURE_LENGTH)))

# The General-Signing APDU: grouping header, content, signature field.  MAC-covered, and (without
# its DF tag and signature field) exactly what ECDSA signs.
GENERAL_SIGNING = Struct(
    (None, Const("DF", "General-Signing tag")),
    (None, Const("09", "transaction-id length")),
    ("cra", Enum(U8, Cra)),
    ("counter", UInt(8)),
    (None, Const("08", "originator length")),
    ("originator", ENTITY_ID),
    (None, Const("08", "recipient length")),
    ("recipient", ENTITY_ID),
    ("date_time", _DATE_TIME),
    (None, Prefixed(Struct(
        ("message_code", UInt(2)),
        ("supplementary_remote_party_id", Maybe(ENTITY_ID)),
        ("supplementary_remote_party_counter", Maybe(UInt(8))),
        ("supplementary_originator_counter", Maybe(UInt(8))),
        ("ka_certificate", Rest()),
    ))),
    ("content", Prefixed(Rest())),
    ("signature", _SIGNATURE),
)

# The MAC-protected form: empty general-ciphering header, length, security header, APDU, MAC.
GENERAL_CIPHERING = Struct(
    (None, Const("DD 00 00 00 00 00 00", "General-Ciphering tag + six empty elements")),
    (None, Prefixed(Struct(
        (None, Const("11 00000000", "security control + invocation counter")),
        (None, Reserve(GENERAL_SIGNING, MAC_LENGTH)),
        ("mac", Raw(MAC_LENGTH)),
    ))),
)


@dataclass(frozen=True)
class Message:
    """One GBCS message; ``to_bytes``/``from_bytes`` are the layouts above."""

    cra: Cra
    counter: int
    originator: str
    recipient: str
    message_code: int
    content: bytes
    date_time: bytes | None = None
    supplementary_remote_party_id: str | None = None
    supplementary_remote_party_counter: int | None = None
    supplementary_originator_counter: int | None = None
    ka_certificate: bytes = b""
    signature: bytes | None = b""
    mac: bytes | None = None

    def __post_init__(self) -> None:
        gap = False
        for v in (self.supplementary_remote_party_id, self.supplementary_remote_party_counter,
                  self.supplementary_originator_counter, self.ka_certificate or None):
            if v is not None and gap:
                raise ValueError("other-information fields must be filled in order (remote party id, counter, ...)")
            gap = gap or v is None
        object.__setattr__(self, "originator", entity_id(self.originator))
        object.__setattr__(self, "recipient", entity_id(self.recipient))
        if self.supplementary_remote_party_id is not None:
            object.__setattr__(self, "supplementary_remote_party_id", entity_id(self.supplementary_remote_party_id))

    @property
    def form(self) -> str:
        if self.mac is not None:
            return "general-ciphering"
        return "pre-command" if self.signature is None else "general-signing"

    @property
    def signed(self) -> bool:
        return bool(self.signature)

    def _values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def apdu(self) -> bytes:
        """General-Signing APDU, DF through the signature field (the MAC's AAD after its prefix)."""
        return GENERAL_SIGNING.encode(self._values())

    def signed_data(self) -> bytes:
        """What ECDSA signs: the APDU without its DF tag and without the signature field."""
        return replace(self, signature=None).apdu()[1:]

    def to_bytes(self) -> bytes:
        if self.mac is None:
            return self.apdu()
        return GENERAL_CIPHERING.encode(self._values())

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        """Decode; raises ``DecodeError`` for anything that is not exactly one well-formed message."""
        data = bytes(data)
        if not data:
            raise DecodeError("empty message")
        if data[0] == 0xDD:
            values = GENERAL_CIPHERING.parse(data)
        elif data[0] == 0xDF:
            values = GENERAL_SIGNING.parse(data)
            values["mac"] = None
        else:
            raise DecodeError(f"first byte {data[0]:02X} is neither DD (General-Ciphering) nor DF (General-Signing)")
        return cls(**values)


# --- where a message starts and ends in a byte stream (segment reassembly) -------------------------

_CIPHERING_TAG = bytes.fromhex("DD000000000000")
_SECURITY_HEADER = bytes.fromhex("1100000000")


def _ber_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(length, bytes the length field takes) of the BER length at ``at``; None if not there (yet)."""
    if len(data) <= at:
        return None
    first = data[at]
    if first < 0x80:
        return first, 1
    size = first & 0x7F
    if size not in (1, 2) or len(data) < at + 1 + size:
        return None
    return int.from_bytes(data[at + 1:at + 1 + size], "big"), 1 + size


def starts_message(data: bytes) -> bool:
    """Whether ``data`` begins as a GBCS message does: the General-Ciphering header (DD, six empty
    elements, length, security header) followed by a General-Signing one, or a General-Signing header
    alone (DF 09, CRA, counter, originator and recipient lengths)."""
    data = bytes(data)
    if data[:7] == _CIPHERING_TAG:
        length = _ber_length(data, 7)
        if length is None:
            return False
        at = 7 + length[1]
        return data[at:at + 5] == _SECURITY_HEADER and _starts_signing(data[at + 5:])
    return _starts_signing(data)


def _starts_signing(data: bytes) -> bool:
    return len(data) >= 21 and data[0] == 0xDF and data[1] == 0x09 and data[2] in (1, 2, 3) \
        and data[11] == 0x08 and data[20] == 0x08


def declared_length(data: bytes) -> int | None:
    """The whole length a MAC'd (General-Ciphering) message that begins with ``data`` says it has; None
    for another form or when ``data`` is too short to tell."""
    data = bytes(data)
    if data[:7] != _CIPHERING_TAG:
        return None
    length = _ber_length(data, 7)
    return None if length is None else 7 + length[1] + length[0]


# --- identifiers and input formats -----------------------------------------------------------------


def entity_id(value: str | bytes | int) -> str:
    """Normalise an Entity ID / EUI-64 to 16 upper-case hex digits (text as ``rig.zigbee.eui64.parse_eui64``
    reads it, bytes most significant first, or an int)."""
    try:
        return eui_hex(eui_from_bytes(value, "big") if isinstance(value, bytes | bytearray) else value)
    except (TypeError, ValueError):
        raise ValueError(f"an Entity ID is 8 bytes (16 hex digits), got {value!r}") from None


class InputFormatError(ValueError):
    """A file or string that is not binary, hex, Base64 or DUIS XML GBCS."""


def parse_text_or_binary(data: bytes) -> bytes:
    """The GBCS bytes in ``data``: binary (starts DD/DF), hex text or Base64 text."""
    if data[:1] in (b"\xdd", b"\xdf"):
        return bytes(data)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise InputFormatError("not GBCS: binary data must start with DD or DF, and it is not text") from None
    compact = re.sub(r"\s+", "", text)
    if not compact:
        raise InputFormatError("empty input")
    hex_candidate = re.sub(r"^0x|[:\-]", "", compact, flags=re.IGNORECASE)
    if re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", hex_candidate):
        return bytes.fromhex(hex_candidate)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InputFormatError("not GBCS: neither hex nor valid Base64 text (nor DD/DF binary)") from None
