"""The role layer reads EZSP frames by name on every version the emulator offers (issue 13).

``rig.ezsp_fields`` maps bellows' v14 field names to the v4–v13 spellings; these tests check that map
against bellows' own tables for every version the emulator speaks, so a bellows upgrade that renames a
field fails here, not on a dongle."""

from __future__ import annotations

import bellows.types as t
import pytest
import zigpy.types as zt

from firmware_shims.ncp.ezsp import SUPPORTED_VERSIONS
from rig import ezsp_fields

#: frame -> the canonical fields the roles read (rig/roles, rig/cbke/ezsp_engine.py)
READ = {
    "incomingMessageHandler": ("message_type", "aps_frame", "nwk", "message"),
    "messageSentHandler": ("status", "message_tag"),
    "rawTransmitCompleteHandler": ("status",),
    "macFilterMatchMessageHandler": ("messageContents",),
    "trustCenterJoinHandler": ("newNodeId", "newNodeEui64", "status", "policyDecision"),
    "stackStatusHandler": ("status",),
}
STATUS_TYPES = (t.sl_Status, t.EmberStatus, t.EzspStatus)


def family(cls) -> type:
    """Types that carry the same value in different versions count as one."""
    if issubclass(cls, STATUS_TYPES):
        return t.sl_Status
    if issubclass(cls, (zt.NWK, t.EmberNodeId)):
        return zt.NWK
    if cls in (t.uint8_t, t.uint16_t):            # the message tag grew from one byte to two in v14
        return t.uint16_t
    return cls


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("frame", sorted(READ))
def test_every_field_the_roles_read_is_declared_with_the_same_meaning(version, frame):
    theirs = ezsp_fields.table(version)[frame][2]
    canonical = ezsp_fields.table(ezsp_fields.CANONICAL_VERSION)[frame][2]
    for field in READ[frame]:
        name = ezsp_fields.source_name(version, frame, field)
        assert name is not None, f"v{version} {frame} has no field for {field!r}: {list(theirs)}"
        assert family(theirs[name]) is family(canonical[field]), (version, frame, field, theirs[name])


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_incoming_message_in_canonical_form(version):
    aps = t.EmberApsFrame(profileId=0x0109, clusterId=0x0800, sourceEndpoint=1, destinationEndpoint=1,
                          options=t.EmberApsOption(0), groupId=0, sequence=9)
    own = {"message_type": 0, "type": 0, "aps_frame": aps, "apsFrame": aps, "nwk": 0x1234, "sender": 0x1234,
           "eui64": zt.EUI64(bytes(range(8))), "binding_index": 0xFF, "bindingIndex": 0xFF, "address_index": 0xFF,
           "addressIndex": 0xFF, "lqi": 200, "lastHopLqi": 200, "rssi": -40, "lastHopRssi": -40, "timestamp": 5,
           "message": b"hi", "messageContents": b"hi"}
    values = [own[name] for name in ezsp_fields.rx_names(version, "incomingMessageHandler")]
    cb = ezsp_fields.canonical(version, "incomingMessageHandler", values)
    assert (cb.aps_frame, cb.nwk, cb.lqi, cb.rssi, cb.message) == (aps, 0x1234, 200, -40, b"hi")
    assert cb.eui64 == (own["eui64"] if version >= 14 else None)       # v13 names only the NWK address
    assert tuple(cb)[:3] == (0, aps, 0x1234)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_export_link_key_by_index_read_by_name(version):
    class Fake:
        ezsp_version = version

    declared = ezsp_fields.rx_names(version, "exportLinkKeyByIndex")
    values = [t.sl_Status.OK if n == "status" else b"K" * 16 if n == "plaintext_key" else None for n in declared]
    entry = ezsp_fields.response(Fake(), "exportLinkKeyByIndex", values)
    assert entry["status"] == t.sl_Status.OK and entry["plaintext_key"] == b"K" * 16
    assert declared.index("status") == (len(declared) - 1 if version == 13 else 0)    # why position is wrong
