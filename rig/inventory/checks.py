"""Checks on values read by :mod:`rig.inventory.loader`; each failure is an InventoryError at the value's line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from rig.inventory.errors import InventoryError
from rig.inventory.limits import URL_SCHEMES, Range
from rig.inventory.loader import Located, LocatedList
from rig.zigbee.eui64 import eui_hex


class Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, field_path: str, problem: str):
        raise InventoryError(self.source, line, field_path, problem)

    def mapping(self, value: Any, line: int, field_path: str) -> Located:
        if not isinstance(value, Located):
            self.fail(line, field_path, f"expected a mapping, got {describe(value)}")
        return value

    def keys(self, mapping: Located, allowed: Iterable[str], field_path: str,
             required: Iterable[str] = ()) -> None:
        allowed = tuple(allowed)
        for key in mapping:
            if key not in allowed:
                self.fail(mapping.key_line(key), join_path(field_path, str(key)),
                          f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in mapping or mapping[key] is None:
                self.fail(mapping.line, join_path(field_path, key), "missing (required)")

    def choice(self, mapping: Located, key: str, choices: tuple[str, ...], field_path: str) -> str:
        value = mapping[key]
        if not isinstance(value, str) or value not in choices:
            self.fail(mapping.value_line(key), join_path(field_path, key),
                      f"{value!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, mapping: Located, key: str, field_path: str, limit: Range) -> int:
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int) or value not in limit:
            self.fail(mapping.value_line(key), join_path(field_path, key),
                      f"{value!r} is not an integer in {limit}")
        return value

    def number(self, mapping: Located, key: str, field_path: str, limit: Range) -> float:
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value not in limit:
            self.fail(mapping.value_line(key), join_path(field_path, key), f"{value!r} is not a number in {limit}")
        return float(value)

    def text(self, mapping: Located, key: str, field_path: str) -> str:
        value = mapping[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(mapping.value_line(key), join_path(field_path, key), f"expected a non-empty string, got {value!r}")
        return value.strip()


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", Located: "a mapping", list: "a list", LocatedList: "a list",
            str: f"the string {value!r}"}.get(type(value), f"{type(value).__name__} {value!r}")


def normalise_eui64(value: Any) -> str | None:
    """``00:12:4b:...`` / ``00124B...`` → ``00124B...``; None when it is not EUI64_HEX_DIGITS hex digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None          # YAML read digits as a number: leading zeros are lost, so refuse it
    if not isinstance(value, str):
        return None
    try:
        return eui_hex(value)
    except ValueError:
        return None


def check_port(port: Any) -> str | None:
    """The problem with a port string, or None when bellows can open it."""
    if not isinstance(port, str) or not port.strip():
        return f"expected a device path or URL, got {describe(port)}"
    if "://" in port:
        try:
            parts = urlsplit(port)
        except ValueError as exc:
            return f"{port!r} is not a valid URL ({exc})"
        if parts.scheme not in URL_SCHEMES:
            return f"URL scheme {parts.scheme!r} is not one of {', '.join(s + '://' for s in URL_SCHEMES)}"
        try:
            number = parts.port
        except ValueError:
            number = None
        if not parts.hostname or not number:
            return f"{port!r} needs HOST:PORT (e.g. {parts.scheme}://bench-pi.lab:3001)"
        if parts.path not in ("", "/"):
            return f"{port!r} has a path after HOST:PORT"
        return None
    if not port.startswith("/"):
        return (f"{port!r} is neither an absolute device path (/dev/serial/by-id/..., /dev/ttyUSB0) "
                f"nor a {', '.join(s + '://' for s in URL_SCHEMES)} URL")
    return None
