"""Nothing a host or the air sends can kill an emulated NCP: fuzzed EZSP frames and PSDUs."""

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_shims.air import Air
from firmware_shims.ncp.ezsp import EzspNcp, command_table
from firmware_shims.ncp.node import Node
from firmware_shims.ncp.nv import NvStore
from firmware_shims.ncp.radio import fcs
from firmware_shims.ncp.zigbee import AirStack
from rig.clock import VirtualClock

COMMAND_IDS = sorted(command_table(14)[1])


def negotiated_ncp():
    sent = []
    ezsp = EzspNcp(sent.append, {})
    node = Node(NvStore(None, "00DB1234567890A3"), VirtualClock(), ezsp.callback)
    ezsp.handlers = node.handlers()
    ezsp.frame_received(bytes.fromhex("00000100000e"))
    sent.clear()
    return ezsp, sent


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame_id=st.sampled_from(COMMAND_IDS) | st.integers(0, 0xFFFF), params=st.binary(max_size=80),
       seq=st.integers(0, 255))
def test_any_ezsp_frame_gets_at_most_one_reply_and_never_an_exception(frame_id, params, seq):
    ezsp, sent = negotiated_ncp()
    frame = bytes((seq, 0x00, 0x01)) + frame_id.to_bytes(2, "little") + params
    ezsp.frame_received(frame)
    replies = [f for f in sent if f[1] == 0x80]
    assert len(replies) <= 1
    if replies:
        assert replies[0][0] == seq
    # the NCP still answers afterwards
    ezsp.frame_received(bytes((seq ^ 1, 0x00, 0x01, 0x26, 0x00)))      # getEui64
    assert sent[-1][3:5] == b"\x26\x00"


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=5, max_size=127))
def test_any_psdu_from_the_air_is_dropped_or_handled_without_exception(payload):
    async def run():
        clock = VirtualClock()
        air = Air(clock)
        node = Node(NvStore(None, "00DB1234567890A3"), clock, lambda *a, **k: None)
        node.stack = AirStack(node, air.attach("ncp"))
        psdu = payload[:-2] + fcs(payload[:-2])
        node.stack.on_receive(psdu, 255, -40)
        node.stack.on_receive(payload, 255, -40)
        await clock.advance(1)

    asyncio.run(run())
