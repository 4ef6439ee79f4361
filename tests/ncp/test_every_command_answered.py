"""Every host command of each emulated EZSP version's table is answered as EmberZNet answers it.

A second host stack (zigbee-herdsman's ember adapter) sends commands bellows never does; a real NCP
answers each command its EZSP version declares (``invalidCommand`` only for a frame id it does not
know).  The walk below sends every command of bellows' table for every emulated version with
default-valued (all-zero) parameters, to a fresh NCP and to one with a formed network, and checks
that the answer carries the command's own frame id and parses exactly (no byte short, none left
over) under that version's response schema.
"""

from __future__ import annotations

import bellows.types as t
import pytest

from firmware_shims.ncp.ezsp import SUPPORTED_VERSIONS, EzspNcp, command_table
from firmware_shims.ncp.node import Node
from firmware_shims.ncp.nv import NvStore
from firmware_shims.ncp.radio import LoopbackRadio
from firmware_shims.ncp.stack import Stack
from rig.clock import VirtualClock

#: Frames the NCP sends and the host never does (callbacks; invalidCommand and noCallbacks answers).
NCP_ONLY = {"invalidCommand", "noCallbacks"}
#: ``callback`` is answered with the pending callback or, none pending, with ``noCallbacks`` (EZSP).
ANSWERED_BY = {"callback": "noCallbacks"}


def host_commands(version: int) -> list[str]:
    commands, _ = command_table(version)
    return sorted(name for name in commands
                  if "Handler" not in name and name not in NCP_ONLY and name != "version")


def default_params(schema) -> bytes:
    """Each declared field's default value: what all-zero bytes decode to, serialized again."""
    out = b""
    fields = schema.items() if isinstance(schema, dict) else enumerate(schema)
    for _name, ftype in fields:
        value, _ = ftype.deserialize(b"\x00" * 256)
        out += value.serialize() if hasattr(value, "serialize") else ftype(value).serialize()
    return out


def parse_exactly(schema, payload: bytes) -> None:
    if isinstance(schema, dict):
        _values, rest = t.deserialize_dict(payload, schema)
    elif isinstance(schema, tuple):
        rest = payload
        for ftype in schema:
            _value, rest = ftype.deserialize(rest)
    else:
        _value, rest = schema.deserialize(payload)
    assert rest == b"", f"{len(rest)} byte(s) beyond the declared response"


def ncp(version: int, *, formed: bool):
    sent: list[bytes] = []
    clock = VirtualClock()
    ezsp = EzspNcp(sent.append, {}, firmware_version=version, versions=(version,))
    node = Node(NvStore(None, "00DB1234567890A3"), clock, ezsp.callback)
    node.stack = Stack(node, LoopbackRadio())
    ezsp.handlers = node.handlers()
    ezsp.frame_received(bytes((0, 0, 0, version)))                  # legacy version probe + switch
    if formed:
        commands, _ = command_table(version)
        params = t.EmberNetworkParameters(
            extendedPanId=t.ExtendedPanId.convert("00:DB:12:34:56:78:90:A3"), panId=0x1A2B, radioTxPower=8,
            radioChannel=15, joinMethod=0, nwkManagerId=0, nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS)
        frame_id = commands["formNetwork"][0]
        ezsp.frame_received(bytes((1, 0, 1)) + frame_id.to_bytes(2, "little") + params.serialize())
        assert node.state.network_up
    sent.clear()
    return ezsp, sent, node


def answers(version: int, formed: bool) -> list[tuple[str, str]]:
    """(command, what was wrong) for every command not answered as declared."""
    commands, by_id = command_table(version)
    wrong = []
    for seq, name in enumerate(host_commands(version)):
        ezsp, sent, node = ncp(version, formed=formed)    # a fresh NCP each: no command disturbs the next
        frame_id, tx_schema, _rx = commands[name]
        ezsp.frame_received(bytes((seq & 0xFF, 0, 1)) + frame_id.to_bytes(2, "little")
                            + default_params(tx_schema))
        replies = [f for f in sent if f[1] & 0x10 == 0]    # not callbacks
        if len(replies) != 1:
            wrong.append((name, f"{len(replies)} replies"))
            continue
        reply = replies[0]
        answered = by_id.get(int.from_bytes(reply[3:5], "little"), hex(int.from_bytes(reply[3:5], "little")))
        expected = ANSWERED_BY.get(name, name)
        if answered != expected:
            wrong.append((name, f"answered {answered} {reply[5:].hex()}"))
            continue
        try:
            parse_exactly(commands[expected][2], reply[5:])
        except Exception as exc:   # noqa: BLE001 - the reason is what the assertion shows
            wrong.append((name, f"response does not parse: {exc}"))
        for task in node.stack._tasks:
            task.cancel()
    return wrong


@pytest.mark.parametrize("formed", [False, True], ids=["no-network", "formed"])
@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
async def test_every_host_command_is_answered_in_its_own_frame_never_invalid_command(version, formed):
    assert len(host_commands(version)) > 200
    assert answers(version, formed) == []


async def test_an_unknown_frame_id_is_still_invalid_command():
    ezsp, sent, _node = ncp(14, formed=False)
    ezsp.frame_received(bytes((9, 0, 1)) + (0x7FFF).to_bytes(2, "little"))
    assert int.from_bytes(sent[-1][3:5], "little") == 0x0058
