"""A dongle's serial settings reach bellows: ``open_ezsp(port, **dongle.serial_settings())`` puts the
baud rate and flow control in bellows' device config, and bellows opens the serial port with them."""

import pytest
import zigpy.config as zconf
import zigpy.serial

from rig.inventory import parse_inventory
from rig.transport import TransportError, device_config, open_ezsp

INVENTORY = """\
dongles:
  ch:   {port: /dev/ttyUSB0, role: ch, baudrate: 57600, flow_control: hardware}
  hht:  {port: /dev/ttyUSB1, role: hht, flow_control: software}
  esme: {port: "socket://bench-pi.lab:3003", role: esme}
"""


def test_each_dongle_gives_what_open_ezsp_takes():
    inv = parse_inventory(INVENTORY, "lab.yaml")
    assert inv.dongle_for("ch").serial_settings() == {"baudrate": 57600, "flow_control": "hardware"}
    assert inv.dongle_for("hht").serial_settings() == {"baudrate": 115200, "flow_control": "software"}
    assert inv.dongle_for("esme").serial_settings() == {"baudrate": 115200, "flow_control": None}   # "none"


@pytest.mark.parametrize("role", ["ch", "hht", "esme"])
def test_the_settings_pass_bellows_device_schema_unchanged(role):
    dongle = parse_inventory(INVENTORY, "lab.yaml").dongle_for(role)
    config = device_config(dongle.port, **dongle.serial_settings())
    assert zconf.SCHEMA_DEVICE(config) == config


# bellows turns the device config into serial options: hardware → RTS/CTS; software, and None (ASH's
# default), → XON/XOFF
SERIAL_OPTIONS = {"ch": (57600, False, True), "hht": (115200, True, False), "esme": (115200, True, False)}


@pytest.mark.parametrize("role", sorted(SERIAL_OPTIONS))
async def test_open_ezsp_hands_the_settings_to_bellows_serial_connection(role, monkeypatch):
    dongle = parse_inventory(INVENTORY, "lab.yaml").dongle_for(role)
    opened = {}

    async def create_serial_connection(loop, protocol_factory, url, **kwargs):
        opened.update(kwargs, url=url)
        raise OSError("recorded, not opened")

    monkeypatch.setattr(zigpy.serial, "create_serial_connection", create_serial_connection)
    with pytest.raises(TransportError, match="recorded, not opened"):
        await open_ezsp(dongle.port, **dongle.serial_settings(), timeout=5)
    baudrate, xonxoff, rtscts = SERIAL_OPTIONS[role]
    assert opened["url"] == dongle.port
    assert (opened["baudrate"], opened["xonxoff"], opened["rtscts"]) == (baudrate, xonxoff, rtscts)
