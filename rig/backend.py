"""Where a role's dongle comes from: emulated in-process, or real ones named by an inventory.

Roles (CH shim, HHT, PPMID, ESME, GPF) ask a :class:`RigBackend` for "a dongle path for role X" and
open it through ``rig.transport`` like any serial device; they never know which backend answered.

* :class:`SimBackend` — starts an :class:`~firmware_shims.ncp.dongle.EmulatedDongle` per role on
  first request (through :class:`rig.sim.SimLab`, all on one virtual air) and serves it over
  ``tcp://127.0.0.1:PORT`` (or a pty).  ``power_cycle(role)`` is the emulator's USB power loss.
* :class:`InventoryBackend` — returns the inventory's port for the role; ``power_cycle(role)`` uses
  the inventory's power control (uhubctl, labgrid) or an NCP reset (``rig.power``).
* :class:`LabgridBackend` — dongles of a labgrid ``Environment`` (:class:`rig.labgrid.LabgridRig`):
  each role's ``EzspDriver`` gives the URL bellows opens, its ``RigStrategy`` (``PowerProtocol``)
  power-cycles it.

Callers close their own EZSP connection before ``power_cycle(role)`` and reopen it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.clock import Clock, RealClock
from rig.inventory import (
    ROLES,
    Dongle,
    Inventory,
    InventoryError,
    load_inventory,
    require_labgrid,
)

SIM_ROLES = ROLES     # every role an inventory may name (rig.inventory.limits), emulated on demand

# The EUI-64s an emulated factory gives each role's dongle (the GBCS test store's defaults for the CH's
# GPF and the ESME; the dual-address PPMID's identities A and B); any other role gets a random one.
SIM_EUI64S = {"ch": "0052494700000002", "esme": "0052494700000003", "gsme": "0052494700000004",
              "ppmid": "00DB5A5A5A5A0A01"}
SIM_PPMID_B = "00DB5A5A5A5A0B02"


@dataclass(frozen=True)
class Label:
    """What is printed on a device's label and not readable from its dongle: every EUI-64 it uses (a
    dual-address PPMID has two), their install codes, and CBKE certificates its host holds."""

    eui64s: tuple[str, ...] = ()
    install_codes: dict[str, bytes] = field(default_factory=dict)
    cbke_tokens: dict[str, dict] = field(default_factory=dict)


class RigBackend:
    """Interface: a dongle path per role, its serial settings, and power cycling."""

    kind = "abstract"
    hardware = False
    external_ch = None      # the inventory's external_ch: the CH is a device under test, not a dongle here

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

    def has_role(self, role: str) -> bool:
        """Whether this bench has a dongle for ``role`` (an optional one such as the GSME's)."""
        inventory = getattr(self, "inventory", None)
        try:
            return inventory is not None and inventory.has_role(role)
        except Exception:  # noqa: BLE001 - an inventory not made yet (labgrid before ready) has none
            return False

    async def manufacture(self, roles) -> None:
        """Give new dongles what a factory flashes (EUI-64, install code, CBKE certificate).  Real
        dongles were provisioned before the run (``rig provision``), so this does nothing there."""

    def label(self, role: str) -> Label:
        """The label of ``role``'s device (what the premises cannot read from the dongle)."""
        return Label(self.eui64s(role))

    def keys_dir(self) -> Path | None:
        """The bench's GBCS key store (``rig provision`` writes it beside the inventory); None: the
        premises makes its own."""
        return None

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
                 eui64s: dict[str, str] | None = None, seed: int = 7, ezsp_version: int | None = None,
                 cbke_delays: tuple[float, float] | None = None) -> None:
        """``ezsp_version``: the emulated firmware's EZSP version for every dongle (default: the
        emulator's); ``cbke_delays``: their ECC delays (default ``rig.sim.PREMISES_CBKE_DELAYS``)."""
        super().__init__(clock)
        from rig.sim import PREMISES_CBKE_DELAYS, SimError, SimLab, new_air

        if transport not in ("tcp", "pty"):
            raise SimError(f"unknown transport {transport!r} (expected 'tcp' or 'pty')")
        if air is None:
            air = new_air(self.clock, seed=seed, pcap=pcap)
            self._own_air = True
        else:
            self._own_air = False
        self.air = air
        self.pcap = Path(pcap) if pcap else None
        self.transport = transport
        self.lab = SimLab(clock=self.clock, state_dir=Path(state_dir) if state_dir else None, air=air,
                          ezsp_version=ezsp_version, cbke_delays=cbke_delays or PREMISES_CBKE_DELAYS)
        self._eui64s = {**SIM_EUI64S, **{k: v.upper() for k, v in (eui64s or {}).items()}}
        self.urls: dict[str, str] = {}
        self._labels: dict[str, Label] = {}
        self._ca = None

    def dongle(self, role: str):
        """The EmulatedDongle playing ``role`` (created if needed, not yet served)."""
        _check_role(role)
        return self.lab.dongles.get(role) or self.lab.add(role, eui64=self._eui64s.get(role))

    async def dongle_path(self, role: str) -> str:
        if role not in self.urls:
            self.dongle(role)
            self.urls.update(await self.lab.start([role], transport=self.transport))
        return self.urls[role]

    def has_role(self, role: str) -> bool:
        return role in SIM_ROLES            # emulated on demand

    def eui64s(self, role: str) -> tuple[str, ...]:
        if role not in self.lab.dongles:
            return ()
        return (self.lab.dongles[role].nv.state.effective_eui64(),)

    async def manufacture(self, roles) -> None:
        """The factory floor: each new dongle gets its EUI-64, an install code (MFG_INSTALLATION_CODE)
        and a CBKE certificate from a test CA; the PPMID's label names identity B, its install code and
        the certificate its host holds for B (the NCP's write-once token names A)."""
        from rig.cbke.ca import TestCa
        from rig.sim import flash_factory

        if self._ca is None:
            self._ca = TestCa.create()
        for role in roles:
            if role in self._labels:
                continue
            eui = flash_factory(self.dongle(role), self._ca)
            label = Label((eui,))
            if role == "ppmid":
                b = SIM_PPMID_B
                label = Label((eui, b), {b: os.urandom(16)}, {b: self._ca.issue(bytes.fromhex(b)).to_json()})
            self._labels[role] = label

    def label(self, role: str) -> Label:
        return self._labels.get(role) or Label(self.eui64s(role))

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

    def __init__(self, inventory: Inventory, clock: Clock | None = None, *,
                 ppmid_b_install_code: bytes | None = None, ppmid_b: str | None = None) -> None:
        super().__init__(clock)
        self._inventory = inventory
        self.ppmid_b_install_code = ppmid_b_install_code
        self.ppmid_b = ppmid_b.upper() if ppmid_b else None
        self._resolved: dict[str, Dongle] = {}

    @functools.cached_property
    def provisioned(self) -> Path | None:
        """``rig provision``'s folder beside the inventory file, when it has been run (looked up on first
        use: a labgrid environment's inventory exists only once its targets are made)."""
        from rig.provision import LABELS_FILE, provision_dir

        source = Path(self.inventory.source)
        if not source.suffix:
            return None
        directory = provision_dir(source)
        return directory if (directory / LABELS_FILE).is_file() else None

    def keys_dir(self) -> Path | None:
        if self.provisioned and (self.provisioned / "keys" / "roles.json").is_file():
            return self.provisioned / "keys"
        return None

    @classmethod
    def from_file(cls, path: str | Path, clock: Clock | None = None,
                  **label) -> InventoryBackend:
        """``label``: ``ppmid_b`` / ``ppmid_b_install_code`` (what the PPMID's label says of identity B)."""
        return cls(load_inventory(path), clock, **label)

    @property
    def inventory(self) -> Inventory:
        return self._inventory

    def dongle(self, role: str) -> Dongle:
        _check_role(role)
        if role not in self._resolved:
            self._resolved[role] = self.inventory.dongle_for(role)
        return self._resolved[role]

    async def dongle_path(self, role: str) -> str:
        return self.dongle(role).port

    def serial_settings(self, role: str) -> dict[str, Any]:
        return dict(self.dongle(role).serial_settings())

    def eui64s(self, role: str) -> tuple[str, ...]:
        return self.inventory.dongle_for(role).eui64s

    def label(self, role: str) -> Label:
        """What ``rig provision`` wrote beside the inventory (``labels.json``: identity B's EUI-64, install
        code and host-held certificate); else the inventory's EUI-64s and, for the PPMID, identity B's
        install code as given on the command line (``--rig-ppmid-b-install-code``: it is on the device's
        label, not in any token), which also overrides the provisioned label."""
        if self.provisioned and not self.ppmid_b_install_code:
            from rig.cbke.token import load_token
            from rig.provision import load_labels

            entry = load_labels(self.provisioned).get(role)
            if entry:
                return Label(tuple(entry["eui64s"]),
                             {eui: bytes.fromhex(code) for eui, code in entry["install_codes"].items()},
                             {eui: load_token(self.provisioned / path).to_json()
                              for eui, path in entry["cbke_tokens"].items()})
        euis = self.eui64s(role)
        if role == "ppmid" and self.ppmid_b:
            euis = (*euis[:1], self.ppmid_b)
        if role == "ppmid" and len(euis) >= 2 and self.ppmid_b_install_code:
            return Label(euis, {euis[1]: self.ppmid_b_install_code})
        return Label(euis)

    @property
    def external_ch(self):
        return self.inventory.external_ch

    async def power_cycle(self, role: str) -> str:
        from rig.power import power_cycle, power_cycle_external_ch

        if role == "ch" and self.external_ch is not None:
            return await power_cycle_external_ch(self.external_ch, self.inventory)
        return await power_cycle(self.dongle(role), self.inventory)

    async def unanswered(self, *, timeout: float = 20.0) -> list[str]:
        """Every dongle of the inventory (but the sniffer) that does not answer EZSP (ASH reset, version,
        ``getEui64``) within ``timeout`` seconds, one line each naming the dongle, its role, its port and
        the error; [] when the bench is whole.  Tried one after another (a bench's ports are independent,
        but two answers at once would only hide which one hung)."""
        from rig.power import PowerError, open_when_ready

        problems = []
        for dongle in self.inventory.dongles.values():
            if dongle.role == "sniffer":
                continue
            try:
                port = self.dongle(dongle.role).port
            except InventoryError as exc:
                problems.append(f"dongle {dongle.name} (role {dongle.role}): {exc}")
                continue
            try:
                ezsp = await open_when_ready(port, **dongle.serial_settings(), timeout=timeout,
                                             attempt=min(5.0, timeout))
            except PowerError as exc:
                problems.append(f"dongle {dongle.name} (role {dongle.role}): {exc}")
                continue
            try:
                await asyncio.wait_for(ezsp.getEui64(), timeout)
            except Exception as exc:  # noqa: BLE001 - any failure to answer is the finding
                problems.append(f"dongle {dongle.name} (role {dongle.role}) at {port} does not answer getEui64: "
                                f"{exc or type(exc).__name__}")
            finally:
                with contextlib.suppress(Exception):
                    await ezsp.disconnect()
        return problems

    def describe(self) -> str:
        roles = ", ".join(f"{d.role}={d.port}" for d in self.inventory.dongles.values())
        return f"{self.kind} {self.inventory.source} ({roles})"


class LabgridBackend(InventoryBackend):
    """Dongles of a labgrid environment (:class:`rig.labgrid.LabgridRig`).  Its targets are made and
    its drivers activated on first use, in an executor thread when a loop runs (labgrid is synchronous
    and runs its own loop for a coordinator session); power cycles go through the role's
    ``RigStrategy`` (or its ``options: rig:`` power driver), then wait for the port and the NCP."""

    kind = "labgrid"

    def __init__(self, lab, clock: Clock | None = None, **label) -> None:
        super().__init__(None, clock, **label)
        self.labgrid = lab

    @classmethod
    def from_env(cls, path: str | Path, clock: Clock | None = None, *, target: str | None = None,
                 **label) -> LabgridBackend:
        """From a labgrid environment file (labgrid's ``Environment``; roles read, nothing made yet)."""
        require_labgrid(f"the labgrid environment {path}")
        from rig.labgrid import LabgridRig

        return cls(LabgridRig.from_file(path, target=target), clock, **label)

    @property
    def inventory(self) -> Inventory:
        return self.labgrid.resolve()

    async def ready(self) -> Inventory:
        """Make the targets and activate the drivers (once) outside the running loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self.labgrid.resolve)

    async def dongle_path(self, role: str) -> str:
        _check_role(role)
        await self.ready()
        return self.dongle(role).port

    async def power_cycle(self, role: str) -> str:
        from rig.labgrid.env import labgrid_error
        from rig.power import PowerError, power_cycle, wait_for_ncp, wait_for_port

        await self.ready()
        dongle = self.dongle(role)
        try:
            switched = await asyncio.get_running_loop().run_in_executor(None, self.labgrid.power_cycle, role)
        except Exception as exc:  # noqa: BLE001 - a power driver's own errors, whatever labgrid raises
            raise PowerError(f"{role}: labgrid power cycle through {dongle.power.resource} failed: "
                             f"{type(exc).__name__}: {labgrid_error(exc)}") from None
        if not switched:
            return await power_cycle(dongle)            # no power control: an NCP reset
        await wait_for_port(dongle.port)
        await wait_for_ncp(dongle)
        return "labgrid"

    def describe(self) -> str:
        return f"{self.kind} {self.labgrid.source} ({self.labgrid.describe()})"


def backend_for(spec: str, clock: Clock | None = None, *, state_dir: Path | str | None = None,
                pcap: Path | str | None = None, transport: str = "tcp", ezsp_version: int | None = None,
                **label) -> RigBackend:
    """A backend from the same spelling as pytest's ``--rig``: ``sim``, ``PATH.yaml`` (inventory) or
    ``labgrid:ENV.yaml``, for commands and scripts outside pytest.  Bad specs raise ValueError;
    bad files raise InventoryError (file, line, field)."""
    spec = (spec or "sim").strip()
    if spec == "sim":
        return SimBackend(clock, state_dir=state_dir, pcap=pcap, transport=transport, ezsp_version=ezsp_version)
    if ezsp_version is not None:
        raise ValueError(f"rig {spec!r}: real dongles speak their firmware's EZSP version; "
                         "an EZSP version is chosen only for emulated ones")
    if spec.startswith("labgrid:"):
        return LabgridBackend.from_env(spec[len("labgrid:"):], clock, **label)
    if spec.endswith((".yaml", ".yml")):
        return InventoryBackend.from_file(spec, clock, **label)
    raise ValueError(f"rig {spec!r}: expected 'sim', an inventory PATH.yaml or labgrid:ENV.yaml")


def _check_role(role: str) -> None:
    if role not in SIM_ROLES:
        raise InventoryError("<rig>", 0, "role", f"{role!r} is not one of {', '.join(SIM_ROLES)}")
