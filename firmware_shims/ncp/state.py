"""The RAM of one emulated NCP: everything a reset clears.

``NcpState`` is the firmware's working state.  ``Node.boot()`` replaces it with a fresh one (RAM is
lost at a reset or power cycle; NV tokens in ``nv.NvStore`` are not).  The EZSP handlers write it,
and the radio-side stack (``stack.Stack``, ``zigbee.AirStack``) reads it through ``node.state``:
the endpoints it describes in ZDO answers, the MAC filter list and passthrough flags that decide
which received frames go up raw, the manufacturer code in its node descriptor, the multicast table,
the trust-centre policy and whether the network is up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bellows.types as t
import zigpy.types as zt

COUNTER_COUNT = len(t.EmberCounterType)

#: Policies as a booted NCP has them before the host sets any [C] gecko_sdk
#: protocol/zigbee/app/em260/em260-common.c (``DEFAULT_TC_POLICY``, set in ``emXncpInit``): the trust
#: centre admits every joiner (with the well-known key when it holds no other) and unsecured rejoins.
BOOT_POLICIES: dict[int, int] = {
    int(t.EzspPolicyId.TRUST_CENTER_POLICY):
        int(t.EzspDecisionBitmask.ALLOW_JOINS | t.EzspDecisionBitmask.ALLOW_UNSECURED_REJOINS),
}


@dataclass
class NcpState:
    """RAM state of the firmware (fields are cleared by a reset)."""

    eui64: zt.EUI64                                             # effective EUI-64, read from NV at boot
    config: dict[int, int] = field(default_factory=dict)         # EzspConfigId → value
    values: dict[int, bytes] = field(default_factory=dict)       # EzspValueId → value set by the host
    policies: dict[int, int] = field(default_factory=lambda: dict(BOOT_POLICIES))   # EzspPolicyId → decision
    endpoints: dict[int, dict] = field(default_factory=dict)     # endpoint → profile, device, clusters
    multicast: dict[int, tuple[int, int, int]] = field(default_factory=dict)   # index → group, ep, net
    extended_timeout: set[bytes] = field(default_factory=set)   # EUI-64s with the extended timeout
    address_table: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # index → EUI-64, NWK
    transient_keys: dict[bytes, tuple[bytes, float]] = field(default_factory=dict)  # EUI → key, expiry
    initial_security: dict | None = None                         # from setInitialSecurityState
    pending_nwk_fc: int | None = None                            # frame counters set before forming
    pending_aps_fc: int | None = None
    network_up: bool = False
    config_locked: bool = False                                  # NETWORK_UP since boot: no setConfigurationValue
    network_initialising: bool = False                           # networkInit answered, NETWORK_UP to come
    permit_until: float = 0.0                                    # clock time joining closes
    mac_filters: list[int] = field(default_factory=list)        # VALUE_MAC_FILTER_LIST entries
    passthrough_flags: int = 0                                   # VALUE_MAC_PASSTHROUGH_FLAGS
    manufacturer_code: int = 0                                   # setManufacturerCode (0: not set)
    counters: list[int] = field(default_factory=lambda: [0] * COUNTER_COUNT)
    radio_power: int = 8
    aps_seq: int = 0                                             # last APS counter used
    rx_idle_on: bool = False                                     # zllSetRadioIdleMode(RX_ON): listen while off-network
    rx_on_until: float = 0.0                                     # zllSetRxOnWhenIdle: listen until this clock time
    cbke_busy: str | None = None                                 # the ECC operation in progress, if any
    cbke_engine: Any = None                                      # CBKE library, built on first use
    cbke_staged: dict[int, bytes] = field(default_factory=dict)  # certificate/keys from setValue
    # --- areas added for a second host stack (routing, utilities, phy, security, netmgmt, zll, mfglib)
    endpoint_flags: dict[int, int] = field(default_factory=dict)   # endpoint → EzspEndpointFlags if changed
    last_leave: tuple[int, int] = (0, 0xFFFD)                    # leave reason, node that told us (unknown)
    source_routes: dict[int, list[int]] = field(default_factory=dict)  # destination → relays (setSourceRoute)
    children: list[dict] = field(default_factory=list)           # setChildData entries
    routing_shortcut_threshold: int = 2
    broken_route_error_code: int = 0
    passive_ack: tuple[int, int] = (0, 0)
    clear_bindings_on_leave: bool = False
    timers: dict[int, dict] = field(default_factory=dict)        # EZSP application timers 0 and 1
    debug_log: list[bytes] = field(default_factory=list)         # debugWrite output (last 64)
    hub_connected: bool = False
    long_up_time: bool = False
    parent_classification: bool = True
    mac_poll_failure_wait_ms: int = 0
    power_descriptor: int = 0
    duty_cycle_limits: dict | None = None
    scheduler_priorities: Any = None
    calibration: dict[str, Any] = field(default_factory=dict)    # v18+ CTUNE / PA / RSSI offset values
    next_network_key: bytes | None = None                        # broadcastNextNetworkKey, until the switch
    pending_pan_id: int | None = None
    pending_channel: int | None = None
    beacon_classification: dict | None = None
    zll: dict[str, int] = field(default_factory=dict)
    mfglib: dict | None = None                                   # mfglib running: its mode and saved radio hooks
