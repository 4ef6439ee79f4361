"""Garbage in: every decoder either decodes (and re-encodes the same bytes) or raises FrameError."""

from __future__ import annotations

import pytest
from crccheck.crc import Crc16Kermit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scale import scaled

from rig.zigbee import frames as F
from rig.zigbee import security as S
from rig.zigbee.zcl import ZclHeader

DECODERS = [F.MacCommand, F.MacBeacon, F.ZigbeeBeacon, F.AuxHeader, F.NwkFrame, F.NwkCommand,
            F.LinkStatusEntry, F.ApsFrame, F.ApsCommand, ZclHeader]

FUZZ = settings(max_examples=scaled(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.fuzz       # the decoders behind every air surface: make test-slow runs 10 000 cases each


def decode_or_frame_error(cls, data: bytes):
    try:
        obj = cls.decode(data)
    except F.FrameError as e:
        assert e.layer and e.field and isinstance(e.reason, str)
        assert e.offset is None or 0 <= e.offset <= len(data)
        return None
    assert isinstance(obj, cls)
    assert obj.encode() == data, (cls.__name__, data.hex(), obj)
    assert cls.decode(obj.encode()) == obj
    return obj


@pytest.mark.parametrize("cls", DECODERS, ids=lambda c: c.__name__)
@FUZZ
@given(data=st.binary(max_size=80))
def test_decoder_garbage(cls, data):
    decode_or_frame_error(cls, data)


@FUZZ
@given(data=st.binary(max_size=140))
def test_mac_garbage(data):
    decode_or_frame_error_mac(data)


@FUZZ
@given(body=st.binary(min_size=0, max_size=125))
def test_mac_garbage_with_valid_fcs(body):
    """A valid FCS gets past the first check, so the header parser sees the garbage."""
    decode_or_frame_error_mac(body + F.fcs(body).to_bytes(2, "little"))


def decode_or_frame_error_mac(data: bytes):
    try:
        m = F.MacFrame.decode(data)
    except F.FrameError:
        return
    assert m.encode() == data
    # and every reachable upper layer too
    d = F.dissect(data)
    assert d.error is None or isinstance(d.error, F.FrameError)


@FUZZ
@given(head=st.sampled_from([b"\x08\x00", b"\x08\x02", b"\x09\x12", b"\x0b\x00", b"\x48\x1a", b"\x08\x06"]),
       rest=st.binary(max_size=60))
def test_nwk_garbage_behind_plausible_frame_controls(head, rest):
    decode_or_frame_error(F.NwkFrame, head + rest)


@FUZZ
@given(head=st.sampled_from([b"\x00", b"\x01", b"\x02", b"\x12", b"\x03", b"\x0f", b"\x21", b"\x23", b"\x8c",
                             b"\x82", b"\x40"]),
       rest=st.binary(max_size=60))
def test_aps_garbage_behind_plausible_frame_controls(head, rest):
    decode_or_frame_error(F.ApsFrame, head + rest)


@FUZZ
@given(cmd=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 11, 12]), rest=st.binary(max_size=40))
def test_nwk_command_garbage_per_command(cmd, rest):
    decode_or_frame_error(F.NwkCommand, bytes([cmd]) + rest)


@FUZZ
@given(cmd=st.sampled_from([5, 6, 7, 8, 9, 14, 15, 16]), key_type=st.integers(0, 6), rest=st.binary(max_size=50))
def test_aps_command_garbage_per_command(cmd, key_type, rest):
    decode_or_frame_error(F.ApsCommand, bytes([cmd, key_type]) + rest)


@FUZZ
@given(data=st.binary(max_size=80), key=st.binary(min_size=16, max_size=16))
def test_unsecure_raises_only_frame_or_security_errors(data, key):
    for fn in (S.unsecure_nwk, S.unsecure_aps):
        try:
            fn(data, key, source=0x1122334455667788)
        except (F.FrameError, S.SecurityError):
            pass


@settings(max_examples=scaled(300), deadline=None)
@given(st.binary(max_size=130))
def test_fcs_equals_crccheck_kermit(data):
    assert F.fcs(data) == Crc16Kermit.calc(data)
