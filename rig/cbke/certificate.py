"""ECQV implicit certificates of the SE key-establishment suites.

Each certificate is a frozen dataclass whose fields carry their own size; ``encode`` and
``decode`` walk that one field description, in declaration order (all integers big-endian).

Suite 2 (sect283k1), 74 bytes::

    type(1) serial(8) curve(1) hash(1) issuer(8) valid_from(5) valid_to(4) subject(8)
    key_usage(1) public_key_reconstruction(37)

Suite 1 (sect163k1), 48 bytes::

    public_key_reconstruction(22) subject(8) issuer(8) profile_attribute_data(10)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Self

CERT_TYPE_IMPLICIT = 0x00
CURVE_SECT283K1 = 0x0D
HASH_AES_MMO = 0x08
KEY_USAGE_KEY_AGREEMENT = 0x08
KEY_USAGE_DIGITAL_SIGNATURE = 0x80
VALID_TO_NO_EXPIRY = 0xFFFFFFFF


def _uint(size: int) -> Any:
    return field(metadata={"size": size, "kind": int})


def _octets(size: int) -> Any:
    return field(metadata={"size": size, "kind": bytes})


class FixedLayout:
    """Encode/decode a dataclass from its fields' ``size``/``kind`` metadata."""

    SIZE: ClassVar[int]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            size = f.metadata["size"]
            if f.metadata["kind"] is int:
                if not isinstance(value, int) or not 0 <= value < 1 << (8 * size):
                    raise ValueError(f"{type(self).__name__}.{f.name}: {value!r} does not fit {size} byte(s)")
            else:
                if not isinstance(value, bytes | bytearray) or len(value) != size:
                    raise ValueError(f"{type(self).__name__}.{f.name}: need {size} bytes")
                object.__setattr__(self, f.name, bytes(value))

    def encode(self) -> bytes:
        out = bytearray()
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            size = f.metadata["size"]
            out += value.to_bytes(size, "big") if f.metadata["kind"] is int else value
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        data = bytes(data)
        if len(data) != cls.SIZE:
            raise ValueError(f"{cls.__name__} must be {cls.SIZE} bytes, got {len(data)}")
        values: dict[str, Any] = {}
        pos = 0
        for f in fields(cls):  # type: ignore[arg-type]
            size = f.metadata["size"]
            chunk = data[pos : pos + size]
            values[f.name] = int.from_bytes(chunk, "big") if f.metadata["kind"] is int else chunk
            pos += size
        return cls(**values)

    def replace(self, **changes: Any) -> Self:
        return replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class Certificate283k1(FixedLayout):
    """Suite-2 implicit certificate (74 bytes)."""

    SIZE: ClassVar[int] = 74

    type: int = _uint(1)
    serial: bytes = _octets(8)
    curve: int = _uint(1)
    hash: int = _uint(1)
    issuer: bytes = _octets(8)
    valid_from: int = _uint(5)  # Unix seconds
    valid_to: int = _uint(4)  # seconds after valid_from; 0xFFFFFFFF = no expiry
    subject: bytes = _octets(8)  # EUI64, most significant byte first
    key_usage: int = _uint(1)
    public_key_reconstruction: bytes = _octets(37)

    def problems(self) -> list[str]:
        """What a Silicon Labs host rejects in a partner certificate (INVALID_CERTIFICATE)."""
        out = []
        if self.type != CERT_TYPE_IMPLICIT:
            out.append(f"type 0x{self.type:02X} is not implicit (0x00)")
        if self.curve != CURVE_SECT283K1:
            out.append(f"curve 0x{self.curve:02X} is not sect283k1 (0x0D)")
        if self.hash != HASH_AES_MMO:
            out.append(f"hash 0x{self.hash:02X} is not AES-MMO (0x08)")
        if not self.key_usage & KEY_USAGE_KEY_AGREEMENT:
            out.append(f"key usage 0x{self.key_usage:02X} lacks key agreement (0x08)")
        return out


@dataclass(frozen=True)
class Certificate163k1(FixedLayout):
    """Suite-1 implicit certificate (48 bytes)."""

    SIZE: ClassVar[int] = 48

    public_key_reconstruction: bytes = _octets(22)
    subject: bytes = _octets(8)
    issuer: bytes = _octets(8)
    profile_attribute_data: bytes = _octets(10)

    def problems(self) -> list[str]:
        return []
