"""Declarative byte layouts: one list of fields drives both ``decode`` and ``encode``.

In the manner of zigpy's types or scapy's fields, a layout is a ``Struct`` of ``(name, Field)`` pairs.
Each field knows how to write a value and how to read it back, so there is no second, hand-kept
parser to drift from the encoder.  Conventions:

* a field named ``None`` carries no value of its own: ``Const`` bytes, or a nested ``Struct`` (possibly
  inside ``Prefixed``) whose keys are merged into the parent — decoded layouts are flat dicts;
* lengths are bounded: ``Prefixed`` and ``Reserve`` hand the inner field a reader that ends where the
  region ends, ``Maybe`` is present exactly when bytes remain in that region, and ``Rest`` takes them;
* decoding is strict (non-minimal BER lengths, unknown enum values, trailing bytes are errors), so
  ``encode(decode(b)) == b`` for every ``b`` that decodes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any


class DecodeError(ValueError):
    """The bytes do not match the layout (truncated, wrong constant, trailing data ...)."""


class Reader:
    """A cursor over ``buf[pos:end]``."""

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf, self.pos, self.end = buf, pos, len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        if n > self.remaining:
            raise DecodeError(f"truncated at offset {self.pos}: need {n} byte(s), {self.remaining} left")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def region(self, n: int) -> Reader:
        """A reader over the next ``n`` bytes; this reader moves past them."""
        if n > self.remaining:
            raise DecodeError(f"truncated at offset {self.pos}: length says {n}, {self.remaining} left")
        sub = Reader(self.buf, self.pos, self.pos + n)
        self.pos += n
        return sub

    def done(self, what: str) -> None:
        if self.remaining:
            raise DecodeError(f"{self.remaining} unexpected byte(s) at offset {self.pos} after {what}")


class Field:
    def encode(self, value: Any) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def decode(self, r: Reader) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def parse(self, data: bytes) -> Any:
        """Decode the whole of ``data``."""
        r = Reader(bytes(data))
        value = self.decode(r)
        r.done("the last field")
        return value


class UInt(Field):
    """Unsigned big-endian integer of ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, value: int) -> bytes:
        return int(value).to_bytes(self.size, "big")

    def decode(self, r: Reader) -> int:
        return int.from_bytes(r.take(self.size), "big")


class Raw(Field):
    """Exactly ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, value: bytes) -> bytes:
        if len(value) != self.size:
            raise ValueError(f"expected {self.size} bytes, got {len(value)}")
        return bytes(value)

    def decode(self, r: Reader) -> bytes:
        return r.take(self.size)


class Hex(Raw):
    """``size`` bytes shown as upper-case hex text (Entity IDs, EUI-64s)."""

    def encode(self, value: str) -> bytes:
        return super().encode(bytes.fromhex(value))

    def decode(self, r: Reader) -> str:
        return r.take(self.size).hex().upper()


class Const(Field):
    """Fixed bytes (given as hex text, spaces allowed); they carry no value."""

    def __init__(self, hex_text: str, what: str = "") -> None:
        self.value, self.what = bytes.fromhex(hex_text), what

    def encode(self, value: Any = None) -> bytes:
        return self.value

    def decode(self, r: Reader) -> None:
        at = r.pos
        got = r.take(len(self.value))
        if got != self.value:
            what = f" ({self.what})" if self.what else ""
            raise DecodeError(f"offset {at}: expected {self.value.hex().upper()}{what}, got {got.hex().upper()}")


class Enum(Field):
    """An integer field mapped to an ``IntEnum``; values outside the enum do not decode."""

    def __init__(self, inner: Field, enum_type: type[enum.IntEnum]) -> None:
        self.inner, self.enum_type = inner, enum_type

    def encode(self, value: int) -> bytes:
        return self.inner.encode(self.enum_type(value))

    def decode(self, r: Reader) -> enum.IntEnum:
        at = r.pos
        raw = self.inner.decode(r)
        try:
            return self.enum_type(raw)
        except ValueError:
            raise DecodeError(f"offset {at}: {raw:#x} is not a {self.enum_type.__name__}") from None


class Bool(Field):
    """DLMS boolean: ``00`` false, ``FF`` true (anything else is malformed)."""

    def encode(self, value: bool) -> bytes:
        return b"\xff" if value else b"\x00"

    def decode(self, r: Reader) -> bool:
        at, b = r.pos, r.take(1)[0]
        if b not in (0x00, 0xFF):
            raise DecodeError(f"offset {at}: boolean must be 00 or FF, got {b:02X}")
        return b == 0xFF


class BerLength(Field):
    """ASN.1 BER definite length, minimal form only (``n`` / ``81 n`` / ``82 nn nn`` ...)."""

    def encode(self, n: int) -> bytes:
        if n < 0x80:
            return bytes([n])
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([0x80 | len(body)]) + body

    def decode(self, r: Reader) -> int:
        at, first = r.pos, r.take(1)[0]
        if first < 0x80:
            return first
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DecodeError(f"offset {at}: unsupported BER length form {first:02X}")
        n = int.from_bytes(r.take(count), "big")
        if self.encode(n) != r.buf[at : r.pos]:
            raise DecodeError(f"offset {at}: non-minimal BER length")
        return n


BER = BerLength()
U8 = UInt(1)


class Rest(Field):
    """Every byte left in the current region (possibly none)."""

    def encode(self, value: bytes) -> bytes:
        return bytes(value)

    def decode(self, r: Reader) -> bytes:
        return r.take(r.remaining)


class Prefixed(Field):
    """``inner`` preceded by its length (``length`` field, BER by default); ``sizes`` limits the length."""

    def __init__(self, inner: Field, length: Field = BER, sizes: Sequence[int] | None = None) -> None:
        self.inner, self.length, self.sizes = inner, length, sizes

    def encode(self, value: Any) -> bytes:
        body = self.inner.encode(value)
        if self.sizes is not None and len(body) not in self.sizes:
            raise ValueError(f"length {len(body)} not in {list(self.sizes)}")
        return self.length.encode(len(body)) + body

    def decode(self, r: Reader) -> Any:
        at = r.pos
        n = self.length.decode(r)
        if self.sizes is not None and n not in self.sizes:
            raise DecodeError(f"offset {at}: length {n} not in {list(self.sizes)}")
        sub = r.region(n)
        value = self.inner.decode(sub)
        sub.done(f"the {n}-byte element at offset {at}")
        return value


class Reserve(Field):
    """``inner`` decodes from the current region minus its last ``n`` bytes (e.g. a trailing MAC)."""

    def __init__(self, inner: Field, n: int) -> None:
        self.inner, self.n = inner, n

    def encode(self, value: Any) -> bytes:
        return self.inner.encode(value)

    def decode(self, r: Reader) -> Any:
        sub = r.region(max(0, r.remaining - self.n))
        value = self.inner.decode(sub)
        sub.done("the signed part")
        return value


class Maybe(Field):
    """Optional trailing element: present iff bytes remain in the region; ``None`` encodes as nothing."""

    def __init__(self, inner: Field) -> None:
        self.inner = inner

    def encode(self, value: Any) -> bytes:
        return b"" if value is None else self.inner.encode(value)

    def decode(self, r: Reader) -> Any:
        return self.inner.decode(r) if r.remaining else None


class Mapped(Field):
    """``inner`` with its value converted on the way in (``load``) and out (``dump``)."""

    def __init__(self, inner: Field, load: Callable[[Any], Any], dump: Callable[[Any], Any]) -> None:
        self.inner, self.load, self.dump = inner, load, dump

    def encode(self, value: Any) -> bytes:
        return self.inner.encode(self.dump(value))

    def decode(self, r: Reader) -> Any:
        return self.load(self.inner.decode(r))


class Struct(Field):
    """Ordered ``(name, field)`` pairs; decodes to a flat dict (see the module docstring)."""

    def __init__(self, *fields: tuple[str | None, Field]) -> None:
        self.fields = fields

    @property
    def names(self) -> list[str]:
        out: list[str] = []
        for name, field in self.fields:
            inner = field.inner if isinstance(field, Prefixed) else field
            if name is not None:
                out.append(name)
            elif isinstance(inner, Struct):
                out.extend(inner.names)
        return out

    def encode(self, value: dict[str, Any]) -> bytes:
        out = bytearray()
        for name, field in self.fields:
            try:
                out += field.encode(value if name is None else value[name])
            except KeyError as e:
                raise ValueError(f"missing field {e.args[0]!r}") from None
        return bytes(out)

    def decode(self, r: Reader) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, field in self.fields:
            value = field.decode(r)
            if name is not None:
                out[name] = value
            elif isinstance(value, dict):
                out.update(value)
        return out
