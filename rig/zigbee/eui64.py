"""One EUI-64 (IEEE address) in each of the spellings the rig meets, and the conversions between them.

* ``int``: the value, most significant byte first when printed (``0x00DB1234567890A3``); the frame
  codecs' addresses (``rig.zigbee.frames``);
* hex text: 16 upper-case digits, most significant first (``"00DB1234567890A3"``); GBCS Entity IDs,
  the NV file, the inventory, key tables, logs (``eui_hex``);
* colon text: ``"00:db:12:34:56:78:90:a3"``, as Wireshark and zigpy print it (``eui_colon``);
* ``zigpy.types.EUI64`` (and its subclass ``ExtendedPanId``): the bytes least significant first, as
  EZSP and the air carry them (``eui_obj``);
* raw bytes, in an order the caller names (``eui_bytes`` / ``eui_from_bytes``): certificates and GBCS carry
  the most significant byte first, the air the least significant first.

The converters take any of ``int``, text (``parse_eui64``) and zigpy ``EUI64``; raw ``bytes`` are refused
there because their byte order cannot be told from the value.  Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Literal

import zigpy.types as zt

Eui64 = int | str | zt.EUI64
"""What the converters accept."""

ByteOrder = Literal["big", "little"]

_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")


def parse_eui64(text: str) -> int:
    """Printed spellings -> int: 16 hex digits, most significant first, optionally separated by ``:``,
    ``-``, ``.`` or white space and prefixed ``0x``; ValueError for anything else."""
    digits = _SEPARATORS.sub("", text)
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    if not _HEX16.fullmatch(digits):
        raise ValueError(f"not an EUI-64 (8 bytes: 16 hex digits): {text!r}")
    return int(digits, 16)


def eui_int(eui: Eui64) -> int:
    """The EUI-64 as an integer (most significant byte first when printed)."""
    if isinstance(eui, zt.EUI64):
        return int.from_bytes(bytes(eui), "little")
    if isinstance(eui, str):
        return parse_eui64(eui)
    if isinstance(eui, int) and not isinstance(eui, bool):
        if 0 <= eui < 1 << 64:
            return eui
        raise ValueError(f"not an EUI-64 (64-bit unsigned): {eui:#x}")
    raise TypeError(f"an EUI-64 is an int, hex text or zigpy EUI64, not {type(eui).__name__} "
                    "(raw bytes: use eui_from_bytes with their byte order)")


def eui_hex(eui: Eui64) -> str:
    """16 upper-case hex digits, most significant first (``"00DB1234567890A3"``)."""
    return f"{eui_int(eui):016X}"


def eui_colon(eui: Eui64, *, upper: bool = False) -> str:
    """``"00:db:12:34:56:78:90:a3"`` (``upper``: ``"00:DB:..."``)."""
    text = ":".join(f"{b:02x}" for b in eui_int(eui).to_bytes(8, "big"))
    return text.upper() if upper else text


def eui_obj(eui: Eui64, kind: type[zt.EUI64] = zt.EUI64) -> zt.EUI64:
    """zigpy/bellows ``EUI64`` (or ``kind``, e.g. ``ExtendedPanId``): bytes least significant first."""
    return kind(eui_int(eui).to_bytes(8, "little"))


def eui_bytes(eui: Eui64, byteorder: ByteOrder) -> bytes:
    """8 raw bytes: ``"big"`` most significant first (certificates, GBCS), ``"little"`` as on the air."""
    return eui_int(eui).to_bytes(8, byteorder)


def eui_from_bytes(data: bytes | bytearray | memoryview, byteorder: ByteOrder) -> int:
    """The EUI-64 in 8 raw bytes of the given order."""
    raw = bytes(data)
    if len(raw) != 8:
        raise ValueError(f"an EUI-64 is 8 bytes, got {len(raw)}")
    return int.from_bytes(raw, byteorder)


__all__ = ["Eui64", "eui_bytes", "eui_colon", "eui_from_bytes", "eui_hex", "eui_int", "eui_obj", "parse_eui64"]
