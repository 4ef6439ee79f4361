"""The ZCL frame header (ZCL spec 2.4.1): just enough for the stack and the capture printer.

Cluster command payloads are the business of the layers above (zigpy on the host, the GBCS code).
"""

from __future__ import annotations

from typing import ClassVar

from rig.zigbee.codec import U8, U16, Bits, Frame, Rest

ZCL_PROFILE_WIDE, ZCL_CLUSTER_SPECIFIC = 0, 1
CLIENT_TO_SERVER, SERVER_TO_CLIENT = 0, 1


class ZclHeader(Frame):
    """ZCL header (frame control, optional manufacturer code, sequence, command id) + payload."""

    FIELDS = (
        Bits(1, ("frame_type", 0, 2), ("manufacturer_specific", 2, 1), ("direction", 3, 1),
             ("disable_default_response", 4, 1), ("fc_reserved", 5, 3), name="frame_control"),
        U16("manufacturer_code", when="manufacturer_specific"),
        U8("seq"),
        U8("command_id"),
        Rest("payload"),
    )
    AUTO: ClassVar[dict[str, str]] = {"manufacturer_specific": "int(manufacturer_code is not None)"}


__all__ = [
    "CLIENT_TO_SERVER",
    "SERVER_TO_CLIENT",
    "ZCL_CLUSTER_SPECIFIC",
    "ZCL_PROFILE_WIDE",
    "ZclHeader",
]
