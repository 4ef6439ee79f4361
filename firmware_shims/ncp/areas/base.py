"""What every area of the NCP firmware shares: the node's parts, and EUI-64 spelling helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import zigpy.types as zt

from rig.zigbee.eui64 import eui_hex, eui_obj

if TYPE_CHECKING:
    from rig.clock import Clock

    from ..nv import NetworkTokens, NvStore
    from ..stack import Stack
    from ..state import NcpState


def eui_from_hex(value: str) -> zt.EUI64:
    """Big-endian hex (as written on labels) → zigpy EUI64."""
    return eui_obj(value)


def eui_to_hex(eui: zt.EUI64) -> str:
    return eui_hex(eui)


class Area:
    """Base of the area mixins: the attributes ``Node`` provides to all of them."""

    nv: NvStore
    clock: Clock
    callback: Callable[..., None]           # callback(name, **fields) → EZSP callback frame
    stack: Stack | None
    state: NcpState
    stack_version: tuple[int, int, int, int]

    @property
    def network(self) -> NetworkTokens | None:
        return self.nv.state.network
