"""Where a role's dongle comes from: emulated in-process, or real ones named by an inventory.

Roles (CH shim, HHT, PPMID, ESME, GPF) ask a :class:`RigBackend` for "a dongle path for role X" and
open it through ``rig.transport`` like any serial device; they never know which backend answered.

* :class:`SimBackend` — starts an :class:`~firmware_shims.ncp.dongle.EmulatedDongle` per role on
  first request (through :class:`rig.sim.SimLab`, all on one virtual air) and serves it over
  ``tcp://127.0.0.1:PORT`` (or a pty).  ``power_cycle(role)`` is the emulator's USB power loss.
* :class:`InventoryBackend` — returns the inventory's port for the role; ``power_cycle(role)`` uses
  the inventory's power control (uhubctl, labgrid) or an NCP reset (``rig.power``).
* :class:`LabgridBackend` — an InventoryBackend built from a labgrid environment; ports of a
  ``RemotePlace`` are resolved through labgrid when first asked for.

Callers close their own EZSP connection before ``power_cycle(role)`` and reopen it afterwards.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rig.clock import Clock, RealClock
from rig.inventory import (
    Dongle,
    Inventory,
    InventoryError,
    load_inventory,
    load_labgrid_env,
    resolve_labgrid_port,
)

SIM_ROLES = ("ch", "hht", "ppmid", "esme", "gpf", "sniffer")


class RigBackend:
    """Interface: a dongle path per role, its serial settings, and power cycling."""

    kind = "abstract"
    hardware = False

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or RealClock()

    async def dongle_path(self, role: str) -> str:
        """A device path/URL for ``role`` that ``rig.transport.open_ezsp`` (bellows) opens."""
        raise NotImplementedError  # pragma: no cover - interface

    def serial_settings(self, role: str) -> dict[str, Any]:
        """``{"baudrate": int, "flow_control": None|"software"|"hardware"}`` for ``role``."""
        return {"baudrate": 115200, "flow_control": None}

    def eui64s(self, role: str) -> tuple[str, ...]:
        """The EUI-64s (16 hex, big-endian) ``role``'s dongle is expected to use; () if unknown."""
        return ()

    async def power_cycle(self, role: str) -> str:
        """Power-cycle ``role``'s dongle and wait until its port is back; returns the method."""
        raise NotImplementedError  # pragma: no cover - interface

    async def open_ezsp(self, role: str, *, timeout: float = 30.0):
        """bellows ``EZSP`` connected to ``role``'s dongle with its serial settings (``rig.transport``),
        retried until ``timeout`` while the port is busy or still coming back (``rig.power.PowerError``)."""
        from rig.power import open_when_ready

        return await open_when_ready(await self.dongle_path(role), timeout=timeout, **self.serial_settings(role))

    def describe(self) -> str:
        return self.kind

    async def close(self) -> None:
        """Release everything (stop emulated dongles)."""


class SimBackend(RigBackend):
    """Emulated dongles, started on first request, all on one virtual air."""

    kind = "sim"

    def __init__(self, clock: Clock | None = None, *, state_dir: Path | str | None = None,
                 transport: str = "tcp", air: Any | None = None, pcap: Path | str | None = None,
                 eui64s: dict[str, str] | None = None) -> None:
        super().__init__(clock)
        from rig.sim import SimLab

        if air is None:
            from firmware_shims.air import Air

            air = Air(self.clock, pcap=pcap)
            self._own_air = True
        else:
            self._own_air = False
        self.air = air
        self.transport = transport
        self.lab = SimLab(clock=self.clock, state_dir=Path(state_dir) if state_dir else None, air=air)
        self._eui64s = {k: v.upper() for k, v in (eui64s or {}).items()}
        self.urls: dict[str, str] = {}

    def dongle(self, role: str):
        """The EmulatedDongle playing ``role`` (created if needed, not yet served)."""
        _check_role(role)
        return self.lab.dongles.get(role) or self.lab.add(role, eui64=self._eui64s.get(role))

    async def dongle_path(self, role: str) -> str:
        if role not in self.urls:
            self.dongle(role)
            self.urls.update(await self.lab.start([role], transport=self.transport))
        return self.urls[role]

    def eui64s(self, role: str) -> tuple[str, ...]:
        if role not in self.lab.dongles:
            return ()
        return (self.lab.dongles[role].nv.state.effective_eui64(),)

    async def power_cycle(self, role: str) -> str:
        if role not in self.lab.dongles:
            raise KeyError(f"no emulated dongle for role {role!r} has been started")
        await self.lab.dongles[role].power_cycle()
        return "emulated"

    async def close(self) -> None:
        await self.lab.stop()
        self.urls.clear()
        if self._own_air:
            self.air.close()


class InventoryBackend(RigBackend):
    """Real dongles named by a hardware inventory."""

    kind = "inventory"
    hardware = True

    def __init__(self, inventory: Inventory, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.inventory = inventory
        self._resolved: dict[str, Dongle] = {}

    @classmethod
    def from_file(cls, path: str | Path, clock: Clock | None = None) -> InventoryBackend:
        return cls(load_inventory(path), clock)

    def dongle(self, role: str) -> Dongle:
        _check_role(role)
        if role not in self._resolved:
            dongle = self.inventory.dongle_for(role)
            if dongle.port.startswith("labgrid://"):
                dongle = dataclasses.replace(dongle, port=resolve_labgrid_port(self.inventory, dongle))
            self._resolved[role] = dongle
        return self._resolved[role]

    async def dongle_path(self, role: str) -> str:
        return self.dongle(role).port

    def serial_settings(self, role: str) -> dict[str, Any]:
        dongle = self.dongle(role)
        return {"baudrate": dongle.baudrate, "flow_control": dongle.bellows_flow_control}

    def eui64s(self, role: str) -> tuple[str, ...]:
        return self.inventory.dongle_for(role).eui64s

    async def power_cycle(self, role: str) -> str:
        from rig.power import power_cycle

        return await power_cycle(self.dongle(role), self.inventory)

    def describe(self) -> str:
        roles = ", ".join(f"{d.role}={d.port}" for d in self.inventory.dongles.values())
        return f"{self.kind} {self.inventory.source} ({roles})"


class LabgridBackend(InventoryBackend):
    kind = "labgrid"

    @classmethod
    def from_env(cls, path: str | Path, clock: Clock | None = None, *, target: str | None = None) -> LabgridBackend:
        return cls(load_labgrid_env(path, target=target), clock)


def backend_for(spec: str, clock: Clock | None = None, *, state_dir: Path | str | None = None,
                pcap: Path | str | None = None) -> RigBackend:
    """A backend from the same spelling as pytest's ``--rig``: ``sim``, ``PATH.yaml`` (inventory) or
    ``labgrid:ENV.yaml``, for commands and scripts outside pytest.  Bad specs raise ValueError;
    bad files raise InventoryError (file, line, field)."""
    spec = (spec or "sim").strip()
    if spec == "sim":
        return SimBackend(clock, state_dir=state_dir, pcap=pcap)
    if spec.startswith("labgrid:"):
        return LabgridBackend.from_env(spec[len("labgrid:"):], clock)
    if spec.endswith((".yaml", ".yml")):
        return InventoryBackend.from_file(spec, clock)
    raise ValueError(f"rig {spec!r}: expected 'sim', an inventory PATH.yaml or labgrid:ENV.yaml")


def _check_role(role: str) -> None:
    if role not in SIM_ROLES:
        raise InventoryError("<rig>", 0, "role", f"{role!r} is not one of {', '.join(SIM_ROLES)}")
