"""The values an inventory may hold: roles, flow controls, URL schemes, EUI-64 form, default baud rate."""

from __future__ import annotations

import re

ROLES = ("ch", "hht", "ppmid", "esme", "gpf", "sniffer")
FLOW_CONTROLS = ("none", "software", "hardware")
URL_SCHEMES = ("socket", "tcp", "rfc2217")
HEX64 = re.compile(r"^[0-9A-Fa-f]{16}$")
DEFAULT_BAUDRATE = 115200
