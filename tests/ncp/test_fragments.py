"""APS fragment reception on v13 and v14+ (issue 13): the rig reassembles blocks itself and acknowledges
each as Silicon Labs' fragmentation host plugin does; bellows 1.2.1's own path drops a v14 message."""

from __future__ import annotations

import bellows.types as t
import pytest
import zigpy.types as zt

from rig import ezsp_fields
from rig.transport import open_ezsp

SENDER = 0x1234
WHOLE = bytes(range(60)) + bytes(range(40))


def block(ezsp, seq: int, index: int, count: int, data: bytes) -> bytes:
    """An incomingMessageHandler callback frame carrying one APS block, as the NCP sends it."""
    cmd_id, _tx, schema = ezsp._protocol.COMMANDS["incomingMessageHandler"]
    aps = t.EmberApsFrame(profileId=0x0109, clusterId=0x0704, sourceEndpoint=1, destinationEndpoint=1,
                          options=t.EmberApsOption.APS_OPTION_FRAGMENT | t.EmberApsOption.APS_OPTION_RETRY,
                          groupId=(count << 8 if index == 0 else 0xFF00) | index, sequence=77)
    canonical = {"message_type": t.EmberIncomingMessageType.INCOMING_UNICAST, "aps_frame": aps, "nwk": SENDER,
                 "eui64": zt.EUI64(bytes(range(8))), "binding_index": 0xFF, "address_index": 0xFF, "lqi": 200,
                 "rssi": -40, "timestamp": 0, "message": data}
    values = {}
    for name in schema:
        field = next(c for c, alts in [(c, (c, *ezsp_fields.OLDER_NAMES.get(c, ()))) for c in canonical] if name in alts)
        values[name] = schema[name](canonical[field])
    return bytes((seq, 0x90, 0x01)) + cmd_id.to_bytes(2, "little") + b"".join(v.serialize() for v in values.values())


@pytest.mark.parametrize("version", [13, 14])
async def test_fragmented_message_is_reassembled_and_acknowledged_per_block(make_dongle, version):
    dongle = await make_dongle("hht", ezsp_version=version, versions=(version,))
    ezsp = await open_ezsp(dongle.url)
    try:
        seen = []
        ezsp.add_callback(lambda name, args: name == "incomingMessageHandler" and seen.append(args))
        adapter = ezsp._rig_fragments
        blocks = [block(ezsp, 0xF0 + i, i, 2, piece) for i, piece in enumerate((WHOLE[:60], WHOLE[60:]))]

        for data in blocks:                       # bellows alone: the message never reaches a callback on v14
            adapter._bellows_frame_received(data)
        bellows_whole = [a for a in seen if bytes(ezsp_fields.canonical(version, "incomingMessageHandler", a).message)
                         == WHOLE]
        assert bool(bellows_whole) == (version == 13)
        seen.clear()

        for data in blocks:
            ezsp.frame_received(data)
        (args,) = seen
        cb = ezsp_fields.canonical(version, "incomingMessageHandler", args)
        assert bytes(cb.message) == WHOLE and cb.nwk == SENDER
        assert not cb.aps_frame.options & t.EmberApsOption.APS_OPTION_FRAGMENT
        assert adapter.acks == [(SENDER, 0xFF00), (SENDER, 0xFF01)]
        await ezsp.getEui64()                     # the replies went out (the NCP answered them)
    finally:
        await ezsp.disconnect()
