"""A GBCS message cut short (its first GBT blocks, then nothing) is dropped with a reason once the CH's
reassembly bound passes (``REASSEMBLY_TIMEOUT_S`` after the sender's last segment, on the CH's clock) on
the inter-PAN path; in the HAN tunnel, where each TransferData carries a whole message, a piece of one is
dropped at once.  Nothing is executed and the sender's next message works."""

from __future__ import annotations

import struct

import pytest
from roles_ids import HHT_ID, INSTALL_CODE

from rig import pairing
from rig.clock import VirtualClock
from rig.events import EventLog
from rig.gbcs import Builder, Role
from rig.roles.ch.shim import ChShim
from rig.roles.ezsp_role import InterPanFrame, segments
from rig.zigbee.zcl import ZclHeader


class QuietRole:
    """Just enough of an ``EzspRole`` for the shim's bookkeeping; records what it would send."""

    def __init__(self) -> None:
        self.sent = []

    def zcl(self, command_id, payload, *, direction):
        return bytes([1, command_id]) + payload

    async def send_zcl(self, nwk, cluster, zcl, *, encrypt=False):
        self.sent.append((nwk, cluster, zcl))
        return True

    async def send_interpan(self, *args, **kwargs):
        self.sent.append(args)
        return True

    async def admit(self, *args):
        return None

    def emit(self, *args, **kwargs):
        return None


@pytest.fixture
def ch(keys, tmp_path):
    clock = VirtualClock()
    ch = ChShim("unused://", clock=clock, events=EventLog(clock), policy="secmp0037", keys=keys,
                state_dir=tmp_path / "ch")
    ch.role = QuietRole()
    ch.core.power_on()
    return ch


def transfer(piece: bytes) -> ZclHeader:
    return ZclHeader(frame_type=1, direction=0, disable_default_response=1, seq=1,
                     command_id=pairing.CMD_TRANSFER_DATA_C2S, payload=struct.pack("<H", 0) + piece)


def incomplete(ch) -> list:
    return [e for e in ch.events.named("ch.dropped") if e.result == "message_incomplete"]


async def test_truncated_interpan_message_is_dropped_message_incomplete_after_the_reassembly_timeout(ch, keys):
    ccs01 = Builder(keys).ccs01(ch.chf_id, HHT_ID, Role.HHT, INSTALL_CODE).to_bytes()
    ch.core.begin_session(HHT_ID)
    for piece in segments(ccs01)[:-1]:                      # the last block never comes
        frame = InterPanFrame(HHT_ID, 0x1234, 0xFFFF, pairing.TUNNEL_CLUSTER, pairing.SE_PROFILE, 0, True,
                              transfer(piece), b"")
        await ch._interpan(frame)
    assert HHT_ID in ch._interpan_rx and incomplete(ch) == []
    await ch.clock.advance(pairing.REASSEMBLY_TIMEOUT_S - 0.1)
    assert HHT_ID in ch._interpan_rx and incomplete(ch) == []
    await ch.clock.advance(0.2)
    assert HHT_ID not in ch._interpan_rx and ch._rx_timers == {}
    (event,) = incomplete(ch)
    assert event.peer == HHT_ID and event.detail["via"] == "interpan"
    assert ch.events.named("ch.gbcs_received") == [] and HHT_ID not in ch.core.log and ch.role.sent == []


async def test_a_tunnel_transfer_that_is_not_a_whole_message_is_dropped_at_once_and_the_next_message_works(ch, keys):
    """On the HAN a TransferData carries one whole GBCS message (APS blocks below it are reassembled by
    ``rig.fragments``): a piece of one is dropped when it arrives, nothing waits for the rest, nothing
    is executed, and the sender's next whole message goes through."""
    dcc = Builder(keys, counter_start=1)
    assert ch.core.handle_command(dcc.ccs01(ch.chf_id, HHT_ID, Role.HHT, INSTALL_CODE).to_bytes(), via="wan").ok
    ch.core.mark_joined(HHT_ID, 0x2002)
    command = dcc.ccs01(ch.chf_id, "00DB5A5A5A5A0B02", Role.PPMID, INSTALL_CODE).to_bytes()
    await ch._tunnel_message(0x2002, HHT_ID, transfer(command[:pairing.SEGMENT_BYTES]))
    dropped = [(e.result, e.peer, e.detail["via"]) for e in ch.events.named("ch.dropped")]
    assert dropped == [("undecodable", HHT_ID, "tunnel")]
    assert HHT_ID not in ch._han_rx and ch._rx_timers == {} and ch.events.named("ch.gbcs_received") == []
    assert "00DB5A5A5A5A0B02" not in ch.core.log
    await ch._tunnel_message(0x2002, HHT_ID, transfer(command))         # one TransferData, the whole message
    assert [e.peer for e in ch.events.named("ch.gbcs_received")] == [HHT_ID]
    await ch.clock.advance(pairing.REASSEMBLY_TIMEOUT_S + 0.1)
    assert incomplete(ch) == []                             # a whole message arms no timeout
