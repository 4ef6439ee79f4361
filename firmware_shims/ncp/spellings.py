"""Field names that differ between EZSP versions: one table per version, as data.

The NCP's handlers and its stack read requests and write responses and callbacks by *canonical*
field names: bellows' names for EZSP v14 and later (``aps_frame``, ``message_tag`` …).  bellows'
per-version command tables, which ``ezsp.command_table`` uses to encode and decode frames, spell
some of those fields differently in v13 (``apsFrame``, ``messageTag`` …), and some frames of one
version carry fields another version's frame does not have (v14 moved the link quality of a
MAC-filter match into ``packetInfo``; v18 reports the filter's value where v14–17 report its index).

``SPELLINGS[version][command]`` maps a canonical name to the name that version's frame uses, or to
``None`` when that version's response or callback has no such field (a value the handler supplies
for it is left out).  A name a command's entry does not list is spelled the same in that version.
``ezsp.encode_fields`` refuses any other field a frame does not declare, and any declared field a
handler did not supply (``ezsp.UnknownFieldError``, ``ezsp.MissingFieldError``).
"""

from __future__ import annotations

Spelling = dict[str, str | None]

_V13_APS = {"aps_frame": "apsFrame", "message": "messageContents"}
_V13_SENT = {**_V13_APS, "message_type": "type", "nwk": "indexOrDestination", "message_tag": "messageTag"}

#: EZSP v13 (EmberZNet 7.4): the older camel-case names, no status in a few responses.
V13: dict[str, Spelling] = {
    "sendUnicast": _V13_SENT,
    "sendBroadcast": {**_V13_APS, "message_tag": "messageTag"},
    "sendMulticast": {**_V13_APS, "message_tag": "messageTag"},
    "sendRawMessage": {"message": "messageContents"},
    "messageSentHandler": _V13_SENT,
    "incomingMessageHandler": {**_V13_APS, "message_type": "type", "nwk": "sender",
                               "binding_index": "bindingIndex", "address_index": "addressIndex",
                               "lqi": "lastHopLqi", "rssi": "lastHopRssi", "eui64": None, "timestamp": None},
    "macFilterMatchMessageHandler": {"filterValueMatch": None, "packetInfo": None},
    "macPassthroughMessageHandler": {"packetInfo": None},
    "rawTransmitCompleteHandler": {"messageContents": None},
    "exportKey": {"context": None},
    "exportLinkKeyByIndex": {"context": None},
    "importKey": {"context": None},
    "getExtendedTimeout": {"status": None},
    "setExtendedTimeout": {"status": None},
    "setManufacturerCode": {"status": None},
    "lookupNodeIdByEui64": {"status": None},
    "clearStoredBeacons": {"status": None},
    "setPowerDescriptor": {"status": None},
    "exportLinkKeyByEui": {"context": None},
    "getApsKeyInfo": {"context": None},
}

#: EZSP v14 (EmberZNet 8.0), also v16 and v17: the canonical names; link quality in ``packetInfo``.
V14: dict[str, Spelling] = {
    "macFilterMatchMessageHandler": {"filterValueMatch": None, "lastHopLqi": None, "lastHopRssi": None},
    "macPassthroughMessageHandler": {"lastHopLqi": None, "lastHopRssi": None},
    "exportLinkKeyByIndex": {"eui64": None},
    "getExtendedTimeout": {"extendedTimeout": None},
    "exportLinkKeyByEui": {"index": None},
    "getApsKeyInfo": {"eui": None},
}

#: EZSP v18 (EmberZNet 8.2.2), also v19: a MAC-filter match reports the filter's value, not its index.
V18: dict[str, Spelling] = {
    **V14,
    "macFilterMatchMessageHandler": {"filterIndexMatch": None, "lastHopLqi": None, "lastHopRssi": None},
}

SPELLINGS: dict[int, dict[str, Spelling]] = {13: V13, 14: V14, 16: V14, 17: V14, 18: V18, 19: V18}


#: Request fields bellows' table still declares but the firmware of that version no longer reads: a frame
#: that ends before them is accepted (zigbee-herdsman leaves them out, bellows sends them; the NCP ignores
#: a trailing byte either way).  ``importTransientKey``'s ``flags`` went in EmberZNet 8.0 (EZSP v14:
#: ``sl_zigbee_sec_man_import_transient_key(eui64, plaintext_key)``).
_V14_UNREAD = {"importTransientKey": ("flags",)}
UNREAD_REQUEST_FIELDS: dict[int, dict[str, tuple[str, ...]]] = {13: {}, 14: _V14_UNREAD, 16: _V14_UNREAD,
                                                               17: _V14_UNREAD, 18: _V14_UNREAD, 19: _V14_UNREAD}


def unread_request_fields(version: int, command: str) -> tuple[str, ...]:
    """Trailing request fields the firmware of ``version`` does not read for ``command``."""
    return UNREAD_REQUEST_FIELDS.get(version, {}).get(command, ())


def spelling(version: int, command: str) -> Spelling:
    """Canonical name → this version's name (or None: not in this version) for one command."""
    return SPELLINGS[version].get(command, {})
