"""Field names per EZSP version: responses and callbacks name exactly the fields the frame declares."""

import logging

import bellows.types as t
import pytest

from firmware_shims.ncp.ezsp import (
    SUPPORTED_VERSIONS,
    EzspFieldError,
    EzspNcp,
    MissingFieldError,
    UnknownFieldError,
    ZeroRest,
    command_table,
    decode_fields,
    encode_fields,
)
from firmware_shims.ncp.node import Node
from firmware_shims.ncp.nv import NvStore
from firmware_shims.ncp.radio import LoopbackRadio
from firmware_shims.ncp.spellings import SPELLINGS, spelling
from firmware_shims.ncp.stack import Stack
from rig.clock import VirtualClock


def schema(version, name, direction):
    """Declared fields of a command's request (0) or response (1) in one version."""
    declared = command_table(version)[0][name][1 + direction]
    return dict(declared) if isinstance(declared, dict) else {f.name: f.type for f in declared.fields}


def test_a_response_missing_a_declared_field_is_refused_not_zero_filled():
    rx = command_table(14)[0]["sendUnicast"][2]
    with pytest.raises(MissingFieldError, match="sequence"):
        encode_fields(rx, {"status": "OK"})


def test_a_response_with_a_field_the_frame_does_not_declare_is_refused():
    rx = command_table(14)[0]["sendUnicast"][2]
    with pytest.raises(UnknownFieldError, match="bogus"):
        encode_fields(rx, {"status": "OK", "sequence": 1, "bogus": 0})


def test_a_field_only_another_version_has_is_refused_unless_the_table_lists_it_absent():
    rx = command_table(13)[0]["incomingMessageHandler"][2]
    aps = t.EmberApsFrame(profileId=0x0104, clusterId=6, sourceEndpoint=1, destinationEndpoint=1,
                          options=t.EmberApsOption(0), groupId=0, sequence=7)
    fields = {"message_type": 0, "aps_frame": aps, "nwk": 0x1234, "eui64": t.EUI64(bytes(8)),
              "binding_index": 0xFF, "address_index": 0xFF, "lqi": 200, "rssi": -40, "timestamp": 5,
              "message": b"hi"}
    with pytest.raises(UnknownFieldError):                      # v14+ names, no v13 table: refused
        encode_fields(rx, fields)
    encoded = encode_fields(rx, fields, spelling(13, "incomingMessageHandler"))
    assert encoded == encode_fields(rx, {"type": 0, "apsFrame": aps, "sender": 0x1234, "bindingIndex": 0xFF,
                                         "addressIndex": 0xFF, "lastHopLqi": 200, "lastHopRssi": -40,
                                         "messageContents": b"hi"})


def test_two_spellings_of_one_field_are_refused():
    rx = command_table(13)[0]["messageSentHandler"][2]
    with pytest.raises(EzspFieldError, match="twice"):
        encode_fields(rx, {"status": "OK", "message_type": 0, "type": 0, "nwk": 1, "aps_frame": None,
                           "message_tag": 1, "message": b""}, spelling(13, "messageSentHandler"))


def test_zero_rest_is_the_explicit_way_to_leave_a_failure_answer_zeroed():
    rx = command_table(14)[0]["getChildData"][2]
    encoded = encode_fields(rx, ZeroRest(status="NOT_JOINED"))
    assert encoded[:4] == int(t.sl_Status.NOT_JOINED).to_bytes(4, "little") and not any(encoded[4:])


def test_requests_come_back_under_the_canonical_names_in_every_version():
    for version in (13, 14):
        tx = command_table(version)[0]["sendUnicast"][1]
        raw = b"".join(ftype.deserialize(bytes(64))[0].serialize() for ftype in tx.values())
        request = decode_fields(tx, raw, spelling(version, "sendUnicast"))
        assert set(request) == {"message_type", "nwk", "aps_frame", "message_tag", "message"}


def test_the_spelling_tables_name_only_fields_bellows_declares():
    assert set(SPELLINGS) == set(SUPPORTED_VERSIONS)
    for version, table in SPELLINGS.items():
        commands = command_table(version)[0]
        for name, names in table.items():
            assert name in commands, (version, name)
            request, response = schema(version, name, 0), schema(version, name, 1)
            targets = [theirs for theirs in names.values() if theirs is not None]
            assert len(targets) == len(set(targets)), (version, name)
            for ours, theirs in names.items():
                if theirs is None:
                    assert ours not in response, (version, name, ours)
                else:
                    assert theirs in request or theirs in response, (version, name, theirs)
                    assert ours not in request and ours not in response, (version, name, ours)


#: left out of the sweep: they would form (with channel 0) or take down the network being swept
NETWORK_CHANGING = ("formNetwork", "leaveNetwork", "tokenFactoryReset")


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
async def test_every_handler_answers_without_a_field_error_before_and_after_forming(version, caplog):
    """Zero-valued requests to every command (mostly failure paths), down and then with a network up."""
    sent = []
    ezsp = EzspNcp(sent.append, {}, firmware_version=version, versions=(version,))
    node = Node(NvStore(None, "00DB1234567890A3"), VirtualClock(), ezsp.callback)
    node.stack = Stack(node, LoopbackRadio())
    ezsp.handlers = node.handlers()
    ezsp.frame_received(bytes((1, 0, 1, 0, 0, version)))
    commands = command_table(version)[0]
    implemented = sorted(set(commands) & set(ezsp.handlers))
    form = t.EmberNetworkParameters(extendedPanId=t.ExtendedPanId(bytes(8)), panId=0x1A2B, radioTxPower=8,
                                    radioChannel=15, joinMethod=0, nwkManagerId=0, nwkUpdateId=0,
                                    channels=t.Channels.ALL_CHANNELS)
    caplog.set_level(logging.ERROR, logger="firmware_shims.ncp.ezsp")
    for phase in ("down", "up"):
        if phase == "up":
            key = {"index": 0, "address": t.EUI64(bytes(range(8))), "key": t.KeyData(bytes(16))}
            assert node.cmd_importLinkKey(key)["status"] == "OK"
            assert node.cmd_formNetwork({"parameters": form})["status"] == "OK"
        for seq, name in enumerate(n for n in implemented if n not in NETWORK_CHANGING):
            frame_id, tx, _rx = commands[name]
            declared = (dict(tx) if isinstance(tx, dict) else dict(enumerate(tx)) if isinstance(tx, tuple)
                        else {f.name: f.type for f in tx.fields})
            params = b"".join(ftype.deserialize(bytes(512))[0].serialize() for ftype in declared.values())
            ezsp.frame_received(bytes((seq & 0xFF, 0, 1)) + frame_id.to_bytes(2, "little") + params)
    for task in node.stack._tasks:
        task.cancel()
    field_errors = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], EzspFieldError)]
    assert not field_errors, [r.getMessage() + ": " + str(r.exc_info[1]) for r in field_errors]
