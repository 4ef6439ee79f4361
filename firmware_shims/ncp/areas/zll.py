"""ZLL and Green Power areas: this firmware links neither library.

ZLL: the commissioning operations answer NOT_AVAILABLE (EMBER_LIBRARY_NOT_PRESENT,
``getLibraryStatus`` says the same); the channel masks, node type and additional state are plain
stack settings kept in RAM (primary mask: channels 11, 15, 20, 25; secondary: the others).
Green Power: the emulated air carries no GPD frames; the proxy and sink tables are empty
(look-ups answer 0xFF, no entry is allocated) and GP sends and commissioning answer NOT_AVAILABLE [I].
"""

from __future__ import annotations

import bellows.types as t

from ..ezsp import ZeroRest
from .base import Area

ZLL_PRIMARY_CHANNELS = (1 << 11) | (1 << 15) | (1 << 20) | (1 << 25)
ZLL_SECONDARY_CHANNELS = t.Channels.ALL_CHANNELS & ~ZLL_PRIMARY_CHANNELS
NO_ENTRY = 0xFF


class ZllArea(Area):
    """ZLL settings; the ZLL library is not present."""

    def _no_zll(self, p):
        return {"status": "NOT_AVAILABLE"}

    cmd_zllNetworkOps = _no_zll
    cmd_zllStartScan = _no_zll
    cmd_zllSetInitialSecurityState = _no_zll
    cmd_zllSetSecurityStateWithoutKey = _no_zll
    cmd_zllSetRxOnWhenIdle = _no_zll

    def cmd_getZllPrimaryChannelMask(self, p):
        return {"zllPrimaryChannelMask": self.state.zll.get("primary", ZLL_PRIMARY_CHANNELS)}

    def cmd_setZllPrimaryChannelMask(self, p):
        self.state.zll["primary"] = int(p["zllPrimaryChannelMask"])
        return {}

    def cmd_getZllSecondaryChannelMask(self, p):
        return {"zllSecondaryChannelMask": self.state.zll.get("secondary", int(ZLL_SECONDARY_CHANNELS))}

    def cmd_setZllSecondaryChannelMask(self, p):
        self.state.zll["secondary"] = int(p["zllSecondaryChannelMask"])
        return {}

    def cmd_setZllNodeType(self, p):
        self.state.zll["node_type"] = int(p["nodeType"])
        return {}

    def cmd_setZllAdditionalState(self, p):
        self.state.zll["additional_state"] = int(p["state"])
        return {}

    def cmd_isZllNetwork(self, p):
        return {"isZllNetwork": False}

    def cmd_zllOperationInProgress(self, p):
        return {"zllOperationInProgress": False}

    def cmd_zllRxOnWhenIdleGetActive(self, p):
        return {"zllRxOnWhenIdleGetActive": False}

    def cmd_zllSetNonZllNetwork(self, p):
        return {}

    def cmd_zllSetRadioIdleMode(self, p):
        self.state.zll["idle_mode"] = int(p["mode"])
        return {}

    def cmd_zllGetTokens(self, p):
        return ZeroRest()             # the ZLL tokens of a device that never commissioned: all zero

    def cmd_zllSetDataToken(self, p):
        return {}

    def cmd_zllClearTokens(self, p):
        return {}


class GreenPowerArea(Area):
    """Empty GP proxy and sink tables; no GP transmissions."""

    def _no_gp(self, p):
        return {"status": "NOT_AVAILABLE"}

    cmd_dGpSend = _no_gp
    cmd_gpSinkCommission = _no_gp
    cmd_gpSecurityTestVectors = _no_gp

    def cmd_gpProxyTableLookup(self, p):
        return {"index": NO_ENTRY}

    def cmd_gpProxyTableGetEntry(self, p):
        return ZeroRest(status="NOT_FOUND")

    def cmd_gpProxyTableProcessGpPairing(self, p):
        return {"gpPairingAdded": False}

    def cmd_gpProxyTableRemoveEntry(self, p):
        return {}

    def cmd_gpSinkTableLookup(self, p):
        return {"index": NO_ENTRY}

    def cmd_gpSinkTableFindOrAllocateEntry(self, p):
        return {"index": NO_ENTRY}         # no sink table to allocate in

    def cmd_gpSinkTableGetEntry(self, p):
        return ZeroRest(status="NOT_FOUND")

    def cmd_gpSinkTableSetEntry(self, p):
        return {"status": "NOT_FOUND"}

    def cmd_gpSinkTableGetNumberOfActiveEntries(self, p):
        return {"number_of_entries": 0}

    def cmd_gpSinkTableRemoveEntry(self, p):
        return {}

    def cmd_gpSinkTableInit(self, p):
        return {}

    def cmd_gpTranslationTableClear(self, p):
        return {}
