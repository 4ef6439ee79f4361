"""EZSP frames read by field *name*, whatever version the dongle speaks: bellows' own command tables.

bellows decodes a response or a callback into a list in the order of the negotiated version's table
(``ezsp._protocol.COMMANDS[name]``), and the tables differ: EZSP v13 (EmberZNet 7.4) reports an
``incomingMessageHandler`` as ``type, apsFrame, lastHopLqi, lastHopRssi, sender, …`` where v14+
(EmberZNet 8.x) has ``message_type, aps_frame, nwk, eui64, …``; ``exportLinkKeyByIndex`` answers
``eui64, plaintext_key, key_data, status`` on v13 and ``status, context, plaintext_key, key_data`` on v14.
Code that unpacks by position reads the wrong fields on one of them.

* ``response(ezsp, command, values)`` — a response as a dict under the negotiated version's own names.
* ``canonical(ezsp, frame, values)`` — a callback in *canonical* form: bellows' v14 table for that
  frame (names and order), each field taken by name from the negotiated version's frame; where bellows
  spells a field differently in v4–v13, ``OLDER_NAMES`` gives the older spelling (checked against every
  table bellows has by ``tests/roles/test_ezsp_versions.py``).  A field the negotiated version does not
  carry (v13 has no ``eui64`` in ``incomingMessageHandler``) is None; an EmberStatus/EzspStatus is
  converted to the ``sl_Status`` v14 uses.  The result is a named tuple: ``cb.aps_frame`` or ``cb[1]``.
"""

from __future__ import annotations

import importlib
from collections import namedtuple
from functools import cache
from typing import Any

import bellows.types as t

CANONICAL_VERSION = 14

#: canonical (v14+) field name → bellows' name for the same field in the v4–v13 tables
OLDER_NAMES: dict[str, tuple[str, ...]] = {
    "message_type": ("type",),
    "aps_frame": ("apsFrame",),
    "nwk": ("sender", "indexOrDestination"),
    "lqi": ("lastHopLqi",),
    "rssi": ("lastHopRssi",),
    "binding_index": ("bindingIndex",),
    "address_index": ("addressIndex",),
    "message_tag": ("messageTag",),
    "message": ("messageContents",),
}


def names(schema) -> list[str]:
    """Field names of a bellows response/callback schema (a dict, or a bellows Struct)."""
    if isinstance(schema, dict):
        return list(schema)
    return [f.name for f in schema.fields]


@cache
def table(version: int) -> dict:
    return importlib.import_module(f"bellows.ezsp.v{version}.commands").COMMANDS


def rx_names(version: int, frame: str) -> list[str]:
    return names(table(version)[frame][2])


def response(ezsp, command: str, values) -> dict[str, Any]:
    """A response of ``command`` under the negotiated version's field names."""
    if not isinstance(values, (list, tuple)):
        return values.as_dict() if hasattr(values, "as_dict") else dict(values)
    return dict(zip(rx_names(ezsp.ezsp_version, command), values, strict=True))


@cache
def _record(frame: str):
    return namedtuple(frame, rx_names(CANONICAL_VERSION, frame), rename=True)


def source_name(version: int, frame: str, field: str) -> str | None:
    """The name under which ``version``'s frame carries canonical ``field`` (None: not carried)."""
    declared = rx_names(version, frame)
    for candidate in (field, *OLDER_NAMES.get(field, ())):
        if candidate in declared:
            return candidate
    return None


@cache
def _plan(version: int, frame: str) -> tuple[tuple[str, ...], tuple[str | None, ...]] | None:
    """(``version``'s field names of ``frame``, the source name of each canonical field), or None when
    one of the two tables lacks the frame: worked out once per version and frame, not per callback."""
    if frame not in table(CANONICAL_VERSION) or frame not in table(version):
        return None
    return (tuple(rx_names(version, frame)),
            tuple(source_name(version, frame, field) for field in rx_names(CANONICAL_VERSION, frame)))


def canonical(version: int, frame: str, values) -> tuple:
    """``values`` (as bellows decoded ``frame`` in ``version``) in canonical form (see module doc)."""
    plan = _plan(version, frame)
    if plan is None:
        return tuple(values)
    own_names, sources = plan
    own = dict(zip(own_names, values, strict=False))
    out = []
    for name in sources:
        value = own.get(name) if name is not None else None
        if isinstance(value, (t.EmberStatus, t.EzspStatus)):
            value = t.sl_Status.from_ember_status(value)
        out.append(value)
    return _record(frame)(*out)
