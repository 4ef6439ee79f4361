"""The firmware of one emulated EmberZNet NCP above EZSP: a composition of the areas' handlers.

``Node`` owns the parts the areas share (NV tokens, the RAM ``NcpState``, clock, callback, stack)
and is the dispatcher entry point: ``handlers()`` maps every EZSP command name to its
``cmd_<name>`` handler.  The handlers live by EZSP area in ``firmware_shims.ncp.areas``; they read
and write fields by their canonical names, and ``firmware_shims.ncp.spellings`` holds, per EZSP
version, the names that differ and the fields a version does not have.

Radio work (forming is local, but joining, APS delivery to other nodes, raw inter-PAN frames and
scans go on the air) is delegated to ``self.stack`` (``firmware_shims.ncp.stack``), which sits on
the ``Radio`` interface.  Nothing here knows whether that radio is the virtual air or a loopback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import zigpy.types as zt

from rig.clock import Clock

from .areas.base import eui_from_hex
from .areas.cbke import CbkeArea
from .areas.configuration import DEFAULT_CONFIG, ConfigurationArea
from .areas.keys import KeysArea
from .areas.messaging import MessagingArea
from .areas.mfglib import MfglibArea
from .areas.netmgmt import NetworkManagementArea
from .areas.network import NetworkArea
from .areas.phy import PhyArea
from .areas.routing import RoutingArea
from .areas.security import SecurityArea
from .areas.tokens import TokensArea
from .areas.utilities import UtilitiesArea
from .areas.zll import GreenPowerArea, ZllArea
from .nv import NvStore
from .state import NcpState

if TYPE_CHECKING:
    from .stack import Stack


class Node(ConfigurationArea, TokensArea, KeysArea, NetworkArea, MessagingArea, CbkeArea, RoutingArea,
           UtilitiesArea, PhyArea, SecurityArea, NetworkManagementArea, ZllArea, GreenPowerArea, MfglibArea):
    """EmberZNet-like firmware: RAM state, NV tokens, and one handler per EZSP command."""

    #: EmberZNet release reported by VALUE_VERSION_INFO (the dongle sets it from the EZSP firmware version)
    stack_version: tuple[int, int, int, int] = (8, 0, 2, 0)

    def __init__(self, nv: NvStore, clock: Clock, callback) -> None:
        self.nv = nv
        self.clock = clock
        self.callback = callback           # callback(name, **fields) → EZSP callback frame
        self.stack: Stack | None = None
        self.boot()

    def boot(self) -> None:
        """Reset: RAM is cleared, NV is read back (what a reset or a power cycle does)."""
        if getattr(self, "state", None) is not None:
            self.mfglib_stop()             # the manufacturing library is RAM: a reset gives the radio back
        tokens = self.nv.reload()
        tokens.boot_counter += 1
        self.nv.save()
        self.state = NcpState(eui64=eui_from_hex(tokens.effective_eui64()),
                              config={int(k): v for k, v in DEFAULT_CONFIG.items()})
        if self.stack is not None:
            self.stack.reset()

    @property
    def eui64(self) -> zt.EUI64:
        """The EUI-64 this boot runs with (custom token, NV3 restored EUI or the factory one)."""
        return self.state.eui64

    def handlers(self) -> dict:
        return {name[4:]: getattr(self, name) for name in dir(self) if name.startswith("cmd_")}
