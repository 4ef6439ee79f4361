"""Every value limit an inventory (or labgrid environment) is checked against, written once.

The checks in :mod:`rig.inventory.parse` and the drivers of :mod:`rig.labgrid` read these; no range,
length or list of choices is repeated as a literal there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rig import pairing


@dataclass(frozen=True)
class Range:
    """An inclusive range ``lo..hi`` (printed that way in error messages)."""

    lo: int | float
    hi: int | float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}"


# --- the table ----------------------------------------------------------------------------------
#   name                        limit                                       checked in
ROLES = ("ch", "hht", "ppmid", "esme", "gpf", "gsme", "sniffer", "hht2", "attacker")        # dongle role, rig: ROLE
FLOW_CONTROLS = ("none", "software", "hardware")                          # flow_control
URL_SCHEMES = ("socket", "tcp", "rfc2217")                                # port (a URL), sniffer.url
SER2NET_PROTOCOLS = ("rfc2217", "raw")                                    # NetworkSerialPort protocol
BAUDRATE = Range(1200, 4_000_000)                                         # baudrate, labgrid speed
DEFAULT_BAUDRATE = 115200
CHANNEL = Range(11, 26)                                                   # sniffer.channel (2.4 GHz)
TCP_PORT = Range(1, 65535)                                                # NetworkSerialPort port
USB_HUB_PORT = Range(1, 255)                                              # power.uhubctl.port
POWER_OFF_SECONDS = Range(0.1, 60)                                        # power.uhubctl.delay
DEFAULT_POWER_OFF_SECONDS = 2.0
POWER_COMMAND_SECONDS = Range(1, 600)                                     # power.command's timeout
DEFAULT_POWER_COMMAND_SECONDS = 60.0
PAN_ID = Range(0x0000, 0xFFFE)                                            # external_ch.pan_id
POLICIES = pairing.POLICIES                                               # external_ch.policy
EUI64_HEX_DIGITS = 16                                                     # eui64, eui64s

DONGLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")                    # dongles: NAME
UHUBCTL_HUB = re.compile(r"^\d+-\d+(\.\d+)*$")                            # power.uhubctl.hub
