"""ZigBee install codes → link keys, with named errors (zigpy does the hashing underneath).

An install code on a label is 6, 8, 12 or 16 random bytes followed by their CRC-16/X-25, low byte
first; the link key is the AES-MMO hash of the whole thing.  GBCS CCS01 carries the code *without*
its CRC (``link_key_from_code`` adds it, as the CHF does).
"""

from __future__ import annotations

import re

from zigpy.util import convert_install_code

CODE_LENGTHS = (6, 8, 12, 16)


class InstallCodeError(ValueError):
    """Not a usable install code."""


class BadLength(InstallCodeError):
    pass


class BadCrc(InstallCodeError):
    def __init__(self, message: str, expected: bytes) -> None:
        super().__init__(message)
        self.expected = expected


def crc16_x25(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def with_crc(code: bytes) -> bytes:
    """``code`` (6/8/12/16 bytes) followed by its CRC, low byte first."""
    if len(code) not in CODE_LENGTHS:
        raise BadLength(f"an install code without CRC is 6, 8, 12 or 16 bytes, not {len(code)}")
    return bytes(code) + crc16_x25(code).to_bytes(2, "little")


def parse_hex(text: str) -> bytes:
    """Hex digits with optional spaces, ``:`` or ``-`` separators."""
    bad = re.search(r"[^0-9A-Fa-f\s:\-]", text)
    if bad:
        raise InstallCodeError(f"{text!r} is not hex: {bad.group()!r} at character {bad.start() + 1} is not a hex digit")
    compact = re.sub(r"[\s:\-]", "", text)
    if not compact:
        raise InstallCodeError(f"{text!r} has no hex digits")
    if len(compact) % 2:
        raise InstallCodeError(f"{text!r} has an odd number of hex digits ({len(compact)})")
    return bytes.fromhex(compact)


def link_key(code_with_crc: bytes) -> bytes:
    """Link key from a full install code (code + CRC); ``BadLength`` / ``BadCrc`` otherwise."""
    n = len(code_with_crc)
    if n - 2 not in CODE_LENGTHS:
        raise BadLength(f"an install code with CRC is 8, 10, 14 or 18 bytes, not {n}")
    expected = with_crc(code_with_crc[:-2])[-2:]
    if code_with_crc[-2:] != expected:
        raise BadCrc(f"CRC {code_with_crc[-2:].hex().upper()} does not match the code; "
                     f"expected {expected.hex().upper()}", expected)
    return bytes(convert_install_code(bytes(code_with_crc)))


def link_key_from_code(code: bytes) -> bytes:
    """Link key from the random part alone (as CCS01 carries it): CRC appended, then hashed."""
    return link_key(with_crc(code))


def install_code_from_token(data: bytes) -> bytes | None:
    """The install code (without CRC) in an MFG_INSTALLATION_CODE token: flags u16 | value[16] | CRC u16."""
    if len(data) < 20 or data[:2] == b"\xff\xff":
        return None
    size = {0: 6, 2: 8, 4: 12, 6: 16}.get(int.from_bytes(data[:2], "little") & 0x06)
    return bytes(data[2:2 + size]) if size else None


def install_code_token(code: bytes) -> bytes:
    """The MFG_INSTALLATION_CODE token for an install code (without CRC, 6/8/12/16 bytes): flags u16 (the
    size code) | value padded to 16 with 0xFF | CRC u16 little-endian — the layout read back by
    :func:`install_code_from_token`."""
    flags = {6: 0, 8: 2, 12: 4, 16: 6}.get(len(code))
    if flags is None:
        raise InstallCodeError(f"an install code is 6, 8, 12 or 16 bytes (without CRC), not {len(code)}")
    crc = with_crc(code)[-2:]
    return flags.to_bytes(2, "little") + code.ljust(16, b"\xff") + crc
