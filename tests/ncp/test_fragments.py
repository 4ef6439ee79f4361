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


async def test_a_window_of_three_is_acknowledged_once_per_window_with_the_plugins_mask(make_dongle):
    """Silicon Labs' plugin with a window of 3: a 7-block message is acknowledged after blocks 2, 5 and 6
    (groupId ``mask << 8 | first block of the window``, every bit of the window set), a block resent
    inside its window is acknowledged again but delivered once, and a block beyond the window is ignored."""
    dongle = await make_dongle("hht", ezsp_version=14, versions=(14,))
    ezsp = await open_ezsp(dongle.url)
    try:
        seen = []
        ezsp.add_callback(lambda name, args: name == "incomingMessageHandler" and seen.append(args))
        adapter = ezsp._rig_fragments
        adapter.window = 3
        whole = bytes(range(7 * 10))
        pieces = [whole[i:i + 10] for i in range(0, len(whole), 10)]
        frames = [block(ezsp, 0xA0 + i, i, 7, p) for i, p in enumerate(pieces)]
        ezsp.frame_received(frames[4])                  # outside the first window: ignored
        for i in (0, 1, 1, 2, 3, 4, 5, 6):              # block 1 resent
            ezsp.frame_received(frames[i])
        assert adapter.acks == [(SENDER, 0xFF00), (SENDER, 0xFF03), (SENDER, 0xFF06)]
        (args,) = seen
        assert bytes(ezsp_fields.canonical(14, "incomingMessageHandler", args).message) == whole
        await ezsp.getEui64()
    finally:
        await ezsp.disconnect()


def test_blocks_are_cut_at_the_room_given_and_at_most_255():
    from rig.fragments import blocks

    assert blocks(bytes(130), 63) == [bytes(63), bytes(63), bytes(4)]
    assert [len(b) for b in blocks(bytes(126), 63)] == [63, 63]
    with pytest.raises(ValueError, match="at most 255"):
        blocks(bytes(256), 1)
    with pytest.raises(ValueError, match="at least one byte"):
        blocks(b"x", 0)


async def test_a_wedged_or_flooding_sender_costs_bounded_state_and_the_next_message_goes_through(make_dongle):
    """The APS-block analogue of the segment-wedge regressions: first blocks of messages that never finish
    (1000 APS counters) hold at most ``FRAGMENT_MAX_INCOMING`` partial messages, a message cut short is
    gone ``FRAGMENT_TIMEOUT_S`` after its last block (loop time), and a whole message after either is
    delivered once; a block arriving before its message's first window is ignored, not buffered."""
    import asyncio

    from rig import fragments

    dongle = await make_dongle("hht", ezsp_version=14, versions=(14,))
    ezsp = await open_ezsp(dongle.url)
    try:
        seen = []
        ezsp.add_callback(lambda name, args: name == "incomingMessageHandler" and seen.append(args))
        adapter = ezsp._rig_fragments

        for counter in range(1000):
            adapter.frame_received(block_with_sequence(ezsp, 0x10, 0, 2, b"x" * 10, counter & 0xFF, SENDER + counter))
        assert len(adapter._partial) == fragments.FRAGMENT_MAX_INCOMING
        adapter.frame_received(block_with_sequence(ezsp, 0x11, 1, 2, b"y" * 10, 200, 0x4444))
        assert (0x4444, 200) not in adapter._partial          # a later block alone opens nothing

        loop = asyncio.get_running_loop()
        real_time = loop.time
        loop.time = lambda: real_time() + fragments.FRAGMENT_TIMEOUT_S + 1   # the partial ones go stale
        try:
            adapter.frame_received(block_with_sequence(ezsp, 0x12, 0, 2, WHOLE[:60], 77, SENDER))
            assert len(adapter._partial) == 1
            adapter.frame_received(block_with_sequence(ezsp, 0x13, 1, 2, WHOLE[60:], 77, SENDER))
        finally:
            loop.time = real_time
        (args,) = seen
        assert bytes(ezsp_fields.canonical(14, "incomingMessageHandler", args).message) == WHOLE
        assert adapter._partial == {}
        await ezsp.getEui64()
    finally:
        await ezsp.disconnect()


def block_with_sequence(ezsp, seq: int, index: int, count: int, data: bytes, aps_seq: int, sender: int) -> bytes:
    """``block`` with a chosen APS counter and sender."""
    cmd_id, _tx, schema = ezsp._protocol.COMMANDS["incomingMessageHandler"]
    aps = t.EmberApsFrame(profileId=0x0109, clusterId=0x0704, sourceEndpoint=1, destinationEndpoint=1,
                          options=t.EmberApsOption.APS_OPTION_FRAGMENT | t.EmberApsOption.APS_OPTION_RETRY,
                          groupId=(count << 8 if index == 0 else 0xFF00) | index, sequence=aps_seq)
    canonical = {"message_type": t.EmberIncomingMessageType.INCOMING_UNICAST, "aps_frame": aps, "nwk": sender & 0xFFFF,
                 "eui64": zt.EUI64(bytes(range(8))), "binding_index": 0xFF, "address_index": 0xFF, "lqi": 200,
                 "rssi": -40, "timestamp": 0, "message": data}
    values = {}
    for name in schema:
        field = next(c for c, alts in [(c, (c, *ezsp_fields.OLDER_NAMES.get(c, ()))) for c in canonical] if name in alts)
        values[name] = schema[name](canonical[field])
    return bytes((seq, 0x90, 0x01)) + cmd_id.to_bytes(2, "little") + b"".join(v.serialize() for v in values.values())
