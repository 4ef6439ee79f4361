"""A Communications Hub the rig does not run: the device under test, seen only from outside.

:class:`ExternalCh` stands where the rig's own CH program (:class:`rig.roles.ch.shim.ChShim`) stands in a
premises, with what can be known of a real CH without its insides:

* where it is: ``power_on`` finds its HAN by an active scan for the GPF's Extended PAN ID (or takes the
  inventory's channel and PAN ID);
* its WAN: ``add_from_wan`` sends the DCC's commands through the inventory's ``external_ch.wan`` control
  line (:mod:`rig.roles.ch.wan`); without one the lab commissions the meters itself before the run;
* its power: ``power_cycle`` through the inventory's ``external_ch.power`` (the premises' backend);
* nothing else: ``core``, ``gpf`` and ``log_snapshot()`` are None, ``refusals`` stays empty — a real CH
  reports nothing but what it sends over the air, so callers check the air.

Its clock is its own: the rig's clock jumps do not move it (``clock_jumps`` False), so a wait that
matters to the CH (60 minutes, 18 hours) takes that long in real time.
"""

from __future__ import annotations

from rig import pairing
from rig.events import EventLog

from .core import Refusal


class ExternalChError(Exception):
    """The CH under test cannot be found or reached (the message says what to check)."""


class ExternalCh:
    external = True
    clock_jumps = False
    core = None
    gpf = None
    role = None

    def __init__(self, spec, *, gpf_id: str, chf_id: str, policy: str, events: EventLog, scan, power_cycle) -> None:
        """``spec``: the inventory's :class:`rig.inventory.ExternalCh`; ``scan()`` returns the networks an
        active scan from one of the rig's dongles heard (bellows' (network, lqi, rssi) tuples);
        ``power_cycle()`` cuts the CH's power through the bench."""
        self.spec = spec
        self.gpf_id, self.chf_id = gpf_id.upper(), chf_id.upper()
        self.policy = policy
        self.events = events
        self._scan, self._power_cycle = scan, power_cycle
        self.channel, self.pan_id = spec.channel, spec.pan_id
        self.refusals: list[Refusal] = []
        from .wan import WanClient

        self.wan = WanClient(spec.wan) if spec.wan else None

    def emit(self, name: str, result: str = "ok", **detail) -> None:
        self.events.emit("CH", name, result, **detail)

    @property
    def can_power_cycle(self) -> bool:
        return self.spec.power is not None

    async def power_on(self) -> None:
        """Find the CH's HAN on the air (a real CH is powered already; its own power-on is ``power_cycle``)."""
        await self.find()

    async def find(self) -> None:
        if self.spec.channel is not None:
            self.channel, self.pan_id = self.spec.channel, self.spec.pan_id
            self.emit("ch.external_found", channel=self.channel, pan_id=f"0x{self.pan_id:04X}", how="inventory")
            return
        from rig.zigbee.eui64 import eui_hex

        heard = 0
        for _ in range(pairing.SCAN_ATTEMPTS):
            found = await self._scan()
            heard = max(heard, len(found))
            for network, *_ in found:
                if eui_hex(network.extendedPanId) == self.gpf_id:
                    self.channel, self.pan_id = int(network.channel), int(network.panId)
                    self.emit("ch.external_found", channel=self.channel, pan_id=f"0x{self.pan_id:04X}", how="scan")
                    return
        self.emit("ch.external_found", "not_found", networks=heard)
        raise ExternalChError(f"the CH under test (GPF {self.gpf_id}, the HAN's Extended PAN ID) was not found: "
                              f"{heard} network(s) heard on a scan; is it powered, and is external_ch.gpf right?")

    async def add_from_wan(self, command: bytes) -> Refusal | None:
        """The DCC's command over the CH's WAN; without a WAN route the lab has commissioned the device."""
        if self.wan is None:
            self.emit("ch.wan_absent", detail="external_ch.wan not given: the lab commissions meters itself")
            return None
        reason = await self.wan.send_gbcs(command)
        if reason is None:
            self.emit("ch.wan_accepted")
            return None
        refusal = Refusal(reason, "the CH under test refused the DCC's command over its WAN")
        self.emit("ch.wan_refused", reason)
        return refusal

    async def power_cycle(self) -> str:
        """The CH loses power and boots (through the bench: its power command returns once the CH is back).
        It resumes its HAN from NV on the same channel and PAN, so it is not searched for again (a scan
        would need a dongle the premises' meters hold)."""
        method = await self._power_cycle()
        self.emit("ch.external_power_cycled", method=method)
        return method

    async def power_off(self) -> None:
        """Nothing: the rig does not own the CH's power-off (a power cycle is :meth:`power_cycle`)."""

    def log_snapshot(self) -> list[dict] | None:
        return None
