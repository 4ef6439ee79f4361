"""rig.zigbee.eui64: every spelling of an EUI-64 converts to every other and back."""

from __future__ import annotations

import pytest
import zigpy.types as zt
from hypothesis import given
from hypothesis import strategies as st

from rig.zigbee import eui64

CH_EUI = 0x00DB1234567890A3


def test_spellings_of_one_address():
    z = zt.EUI64.convert("00:db:12:34:56:78:90:a3")
    for spelling in (CH_EUI, "00DB1234567890A3", "00:DB:12:34:56:78:90:A3", "00-db-12-34-56-78-90-a3",
                     "0x00DB1234567890A3", "00 DB 12 34 56 78 90 A3", z):
        assert eui64.eui_int(spelling) == CH_EUI
        assert eui64.eui_hex(spelling) == "00DB1234567890A3"
        assert eui64.eui_obj(spelling) == z
    assert eui64.eui_colon(CH_EUI) == "00:db:12:34:56:78:90:a3" == repr(z)
    assert eui64.eui_colon(z, upper=True) == "00:DB:12:34:56:78:90:A3"
    assert eui64.eui_bytes(CH_EUI, "big") == bytes.fromhex("00DB1234567890A3") == bytes(z)[::-1]
    assert eui64.eui_bytes(CH_EUI, "little") == bytes(z)
    assert eui64.eui_from_bytes(bytes(z), "little") == CH_EUI == eui64.eui_from_bytes(bytes(z)[::-1], "big")
    epid = eui64.eui_obj("00DB1234567890A3", zt.ExtendedPanId)
    assert type(epid) is zt.ExtendedPanId and eui64.eui_hex(epid) == "00DB1234567890A3"


@pytest.mark.parametrize("bad", ["00:11", "zz" * 8, "00" * 9, "", "+0DB1234567890A3", "00DB_1234567890A3"])
def test_text_that_is_not_an_eui64(bad):
    with pytest.raises(ValueError):
        eui64.parse_eui64(bad)


def test_values_that_are_not_an_eui64():
    for bad in (-1, 1 << 64):
        with pytest.raises(ValueError):
            eui64.eui_hex(bad)
    for ambiguous in (bytes(8), True, 1.0):
        with pytest.raises(TypeError):
            eui64.eui_int(ambiguous)
    with pytest.raises(ValueError):
        eui64.eui_from_bytes(bytes(7), "big")


@given(st.integers(0, (1 << 64) - 1))
def test_round_trips(value):
    assert eui64.parse_eui64(eui64.eui_hex(value)) == value == eui64.parse_eui64(eui64.eui_colon(value))
    assert eui64.eui_int(eui64.eui_obj(value)) == value
    assert eui64.eui_from_bytes(eui64.eui_bytes(value, "little"), "little") == value
