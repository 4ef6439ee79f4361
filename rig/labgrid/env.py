"""A labgrid ``Environment`` as the rig's dongles by role.

labgrid reads the file (its YAML loader, ``!template``, ``imports:``, its target factory); the rig
only asks it which targets hold an :class:`~rig.labgrid.EzspDriver` and for which role, and, once the
targets are made, for each driver's URL.  Two ways to name roles, both labgrid's own YAML:

* drivers: an ``EzspDriver`` per dongle, playing its ``role:``, else the role it is named after, else
  the role its target is named after; a ``RigStrategy`` bound to it powers it (``PowerProtocol``);
* ``options: rig:`` of a target (the rig's first format, still read): role → ``{serial: RESOURCE,
  power: DRIVER, eui64|eui64s, baudrate, flow_control}``; the rig adds an ``EzspDriver`` bound to the
  named serial resource for each role, and power-cycles through the named ``PowerProtocol`` driver.

Roles are known from the configuration alone (:attr:`LabgridRig.roles`, no target made, no
coordinator asked); :meth:`LabgridRig.resolve` makes the targets (a ``RemotePlace`` asks the
coordinator for the acquired place's resources), activates the drivers (waiting for their ports)
and returns the :class:`~rig.inventory.Inventory` every backend shares.  labgrid is synchronous and
runs its own event loop for a coordinator session: call it outside a running asyncio loop (the
backend uses an executor thread).  Every mistake is one :class:`~rig.inventory.InventoryError`
``FILE: FIELD: problem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labgrid import Environment
from labgrid.factory import target_factory
from labgrid.resource.remote import RemotePlace

from rig.inventory.errors import InventoryError
from rig.inventory.limits import ROLES
from rig.inventory.model import Dongle, Inventory, LabgridPower, LabgridRef
from rig.labgrid.driver import EzspDriver, role_of
from rig.labgrid.strategy import RigStrategy, Status

OPTION_KEYS = ("serial", "power", "eui64", "eui64s", "baudrate", "flow_control")


@dataclass(frozen=True)
class RoleEntry:
    """Where a role's dongle is in the environment: target, EzspDriver name, and for ``options: rig:``
    the serial resource, power driver and driver arguments the rig gives the EzspDriver it adds."""

    role: str
    target: str
    driver: str | None
    where: str                          # the field errors about this role name
    serial: str | None = None           # options: rig: only
    power: str | None = None            # options: rig: only
    args: Mapping[str, Any] = field(default_factory=dict)


def _unbound(exc: BaseException, where: str) -> str:
    """labgrid's NoSupplierFoundError without the repr of every target it names."""
    text = str(getattr(exc, "msg", None) or exc)
    return f"{text.split(' found in ')[0]} in {where}"


def labgrid_error(exc: BaseException) -> str:
    """labgrid's message (its exceptions keep it in ``msg``), with the cause labgrid wrapped."""
    text = str(getattr(exc, "msg", None) or exc or type(exc).__name__)
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f": {cause}"
    return " ".join(text.split())          # one line (YAML errors span three)


class LabgridRig:
    """The rig's view of one labgrid environment: role → EzspDriver, and power cycles by role."""

    def __init__(self, env: Environment, *, source: str | None = None, target: str | None = None) -> None:
        self.env = env
        self.source = source or env.config_file
        self.only = target
        self.roles: dict[str, RoleEntry] = self._discover()
        self.drivers: dict[str, EzspDriver] = {}
        self.strategies: dict[str, RigStrategy] = {}
        self._inventory: Inventory | None = None

    @classmethod
    def from_file(cls, path: str | Path, *, target: str | None = None) -> LabgridRig:
        """labgrid's ``Environment(config_file=path)``; an unreadable or invalid file is one InventoryError."""
        from labgrid.exceptions import InvalidConfigError, NoConfigFoundError

        path = str(path)
        try:
            env = Environment(config_file=path)
        except NoConfigFoundError as exc:
            raise InventoryError(path, 0, "", f"cannot read the labgrid environment: {labgrid_error(exc)}") from None
        except InvalidConfigError as exc:
            raise InventoryError(path, 0, "", labgrid_error(exc)) from None
        except ImportError as exc:
            raise InventoryError(path, 0, "imports", f"cannot import {exc.name or exc}: {exc}") from None
        return cls(env, source=path, target=target)

    # --- roles from the configuration ---------------------------------------------------------------

    def _fail(self, where: str, problem: str):
        raise InventoryError(self.source, 0, where, problem)

    def _discover(self) -> dict[str, RoleEntry]:
        from labgrid.exceptions import InvalidConfigError

        targets = self.env.config.get_targets() or {}
        if not isinstance(targets, Mapping):
            self._fail("targets", "expected a mapping of target names to targets")
        if self.only is not None:
            if self.only not in targets:
                self._fail(f"targets.{self.only}", f"no such target (targets: {', '.join(map(str, targets)) or 'none'})")
            targets = {self.only: targets[self.only]}
        roles: dict[str, RoleEntry] = {}
        for name, config in targets.items():
            where = f"targets.{name}"
            if not isinstance(config, Mapping):
                self._fail(where, "expected a mapping with resources: and drivers:")
            try:
                _resources, drivers = target_factory.normalize_config(config)
            except InvalidConfigError as exc:
                self._fail(where, labgrid_error(exc))
            for driver, (args, _bindings) in drivers.get("EzspDriver", {}).items():
                spot = f"{where}.drivers.EzspDriver" + (f"({driver})" if driver else "")
                role = role_of(args.get("role"), driver, str(name))
                if role is None:
                    self._fail(spot, f"plays no role: give it role: ROLE, or name it or its target after one of "
                                     f"{', '.join(ROLES)}")
                self._add(roles, RoleEntry(role, str(name), driver, spot))
            options = config.get("options") or {}
            if isinstance(options, Mapping) and "rig" in options:
                for entry in self._option_roles(options["rig"], str(name), f"{where}.options.rig"):
                    self._add(roles, entry)
        if not roles:
            self._fail("targets", "no target has an EzspDriver (or options: rig: {ROLE: {serial: RESOURCE}}); "
                                  "see examples/labgrid-env.yaml")
        return roles

    def _add(self, roles: dict[str, RoleEntry], entry: RoleEntry) -> None:
        if entry.role in roles:
            self._fail(entry.where, f"role {entry.role!r} is already played by {roles[entry.role].where}")
        if entry.role not in ROLES:
            self._fail(entry.where, f"{entry.role!r} is not one of {', '.join(ROLES)}")
        roles[entry.role] = entry

    def _option_roles(self, mapping: Any, target: str, where: str) -> list[RoleEntry]:
        if not isinstance(mapping, Mapping):
            self._fail(where, "expected a mapping: ROLE: {serial: RESOURCE, power: DRIVER}")
        entries = []
        for role, spec in mapping.items():
            spot = f"{where}.{role}"
            if role not in ROLES:
                self._fail(spot, f"{role!r} is not one of {', '.join(ROLES)}")
            if not isinstance(spec, Mapping):
                self._fail(spot, "expected a mapping {serial: RESOURCE, power: DRIVER}")
            for key in spec:
                if key not in OPTION_KEYS:
                    self._fail(f"{spot}.{key}", f"unknown key (expected {', '.join(OPTION_KEYS)})")
            serial = spec.get("serial")
            if not isinstance(serial, str) or not serial:
                self._fail(f"{spot}.serial", "missing: the name of the target's serial resource")
            power = spec.get("power")
            if power is not None and not isinstance(power, str):
                self._fail(f"{spot}.power", "expected the name of a power driver of the target")
            args = {key: spec[key] for key in ("eui64", "eui64s", "baudrate", "flow_control") if key in spec}
            entries.append(RoleEntry(str(role), target, str(role), spot, serial=serial, power=power,
                                     args={"role": str(role), **args}))
        return entries

    def has_role(self, role: str) -> bool:
        return role in self.roles

    # --- targets, drivers, ports --------------------------------------------------------------------

    def resolve(self) -> Inventory:
        """Make the targets, activate every role's EzspDriver (and power it on through its RigStrategy),
        and return the Inventory of their URLs.  Idempotent."""
        if self._inventory is not None:
            return self._inventory
        from labgrid.binding import BindingError
        from labgrid.exceptions import InvalidConfigError, NoDriverFoundError, NoSupplierFoundError

        for name in dict.fromkeys(entry.target for entry in self.roles.values()):
            where = f"targets.{name}"
            try:
                target = self.env.get_target(name)
            except NoSupplierFoundError as exc:
                self._fail(where, _unbound(exc, where))
            except (InvalidConfigError, BindingError, ValueError) as exc:
                self._fail(where, labgrid_error(exc))
            except Exception as exc:  # noqa: BLE001 - a RemotePlace: coordinator unreachable, place not acquired
                self._fail(where, self._remote_problem(exc))
            for entry in self.roles.values():
                if entry.target != name:
                    continue
                if entry.serial is not None:
                    self._add_option_driver(target, entry)
                try:
                    driver = target.get_driver(EzspDriver, name=entry.driver, activate=False)
                except NoDriverFoundError as exc:
                    self._fail(entry.where, labgrid_error(exc))
                self.drivers[entry.role] = driver
            for driver in target.drivers:
                if isinstance(driver, RigStrategy):
                    role = driver.ezsp.rig_role
                    if role in self.drivers and self.drivers[role] is driver.ezsp:
                        self.strategies[role] = driver
        dongles = {}
        for role, driver in self.drivers.items():
            entry = self.roles[role]
            strategy = self.strategies.get(role)
            try:
                if strategy is not None and strategy.status != Status.on:
                    strategy.transition(Status.on)
            except Exception as exc:  # noqa: BLE001 - whatever the power driver raised
                self._fail(entry.where, f"powering on through {strategy.name or 'RigStrategy'} failed: "
                                        f"{type(exc).__name__}: {labgrid_error(exc)}")
            try:
                driver.target.activate(driver)
                url = driver.url
            except Exception as exc:  # noqa: BLE001 - labgrid's errors for ports that never became available
                self._fail(entry.where, f"port not available: {type(exc).__name__}: {labgrid_error(exc)}")
            power = (LabgridPower(self.strategies[role].name or "RigStrategy") if role in self.strategies
                     else LabgridPower(entry.power) if entry.power else None)
            parent = driver.port.get_managed_parent()
            place = parent.name if isinstance(parent, RemotePlace) else None
            dongles[role] = Dongle(name=role, port=url, role=role, baudrate=driver.serial_settings()["baudrate"],
                                   flow_control=driver.flow_control, eui64s=tuple(driver.eui64s), power=power,
                                   place=place, serial_resource=driver.port.name)
        source = Path(self.source)
        self._inventory = Inventory(self.source, dongles, kind="labgrid",
                                    labgrid=LabgridRef(env=source.resolve(), target=self.only))
        return self._inventory

    def _remote_problem(self, exc: BaseException) -> str:
        """What went wrong asking the coordinator for a RemotePlace, and what to do about it."""
        from labgrid.remote.client import UserError

        text = labgrid_error(exc)
        if isinstance(exc, UserError):
            text = text.removeprefix("Error: ")
            if "not acquired" in text:
                text += " (labgrid-client -p PLACE acquire)"
            return text
        address = self.env.config.get_option("coordinator_address", "") or "127.0.0.1:20408"
        return f"{type(exc).__name__}: {text} (coordinator {address})"

    def _add_option_driver(self, target, entry: RoleEntry) -> None:
        """The EzspDriver an ``options: rig:`` role gets, bound to its named serial resource."""
        from labgrid.binding import BindingError
        from labgrid.exceptions import InvalidConfigError, NoDriverFoundError, NoSupplierFoundError

        target.set_binding_map({"port": entry.serial})
        try:
            target_factory.make_driver(target, "EzspDriver", entry.driver, dict(entry.args))
        except (BindingError, NoSupplierFoundError):
            names = [r.name or type(r).__name__ for r in target.resources]
            self._fail(f"{entry.where}.serial", f"no serial resource named {entry.serial!r} in "
                                                f"targets.{entry.target} (resources: {', '.join(names) or 'none'})")
        except (InvalidConfigError, ValueError) as exc:
            self._fail(entry.where, labgrid_error(exc))
        if entry.power is not None:
            try:
                target.get_driver("PowerProtocol", name=entry.power, activate=False)
            except NoDriverFoundError:
                names = [d.name or type(d).__name__ for d in target.drivers if d.name != entry.driver]
                self._fail(f"{entry.where}.power", f"no power driver named {entry.power!r} in "
                                                   f"targets.{entry.target}.drivers ({', '.join(names) or 'none'})")

    def power_cycle(self, role: str) -> bool:
        """Power-cycle ``role``'s dongle through its RigStrategy, else its ``options: rig:`` power driver.
        Synchronous (labgrid); False when the role has no power control (the caller resets the NCP)."""
        self.resolve()
        if role in self.strategies:
            self.strategies[role].power_cycle()
            return True
        entry = self.roles[role]
        if entry.power is None:
            return False
        target = self.drivers[role].target
        driver = target.get_driver("PowerProtocol", name=entry.power)
        driver.cycle()
        return True

    def describe(self) -> str:
        if self._inventory is None:
            return ", ".join(f"{role}={entry.where}" for role, entry in self.roles.items())
        return ", ".join(f"{d.role}={d.port}" for d in self._inventory.dongles.values())

    def close(self) -> None:
        """Deactivate every driver of the targets made (labgrid's ``Environment.cleanup``)."""
        self.env.cleanup()


def load_labgrid_env(path: str | Path, *, target: str | None = None) -> Inventory:
    """The Inventory of a labgrid environment's roles, their targets made and ports resolved."""
    return LabgridRig.from_file(path, target=target).resolve()
