"""The inventory model: dongles by role, their ports/URLs, serial settings, EUI-64s and power control."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from rig.inventory.errors import InventoryError
from rig.inventory.limits import DEFAULT_BAUDRATE, DEFAULT_POWER_COMMAND_SECONDS, DEFAULT_POWER_OFF_SECONDS


@dataclass(frozen=True)
class UhubctlPower:
    """USB port power switching through ``uhubctl -l HUB -p PORT``."""

    hub: str
    port: int
    delay: float = DEFAULT_POWER_OFF_SECONDS     # seconds the port stays off


@dataclass(frozen=True)
class LabgridPower:
    """A labgrid power driver (``PowerProtocol``) by name, in the inventory's labgrid environment."""

    resource: str


@dataclass(frozen=True)
class CommandPower:
    """A power switch the bench drives with a command (a relay's CLI, ``rig sim power-cycle URL``): run
    through the shell, it must power-cycle the device and exit 0."""

    command: str
    timeout: float = DEFAULT_POWER_COMMAND_SECONDS


Power = UhubctlPower | LabgridPower | CommandPower


class SerialSettings(TypedDict):
    """A dongle's serial settings as the keyword arguments ``rig.transport.open_ezsp`` takes.

    ``open_ezsp(port, **dongle.serial_settings())``; ``rig.power.open_when_ready`` and
    ``rig.probe.probe_dongle`` take the same two.  ``flow_control`` is bellows' value: None,
    "software" or "hardware" (the inventory's "none" is None).
    """

    baudrate: int
    flow_control: str | None


@dataclass(frozen=True)
class Dongle:
    """One radio: where to open it (``port``), its serial settings, its EUI-64(s) and how to power-cycle it.

    ``line`` is where the inventory names it (for error messages).
    """

    name: str
    port: str
    role: str
    baudrate: int = DEFAULT_BAUDRATE
    flow_control: str = "none"
    eui64s: tuple[str, ...] = ()         # upper-case 16-hex, big-endian as printed on labels
    power: Power | None = None           # None: NCP reset (ASH RST) is the only "power cycle"
    line: int = 0
    place: str | None = None             # labgrid: the RemotePlace whose resources resolve ``port``
    serial_resource: str | None = None   # labgrid: the serial resource's name in that place

    @property
    def eui64(self) -> str | None:
        return self.eui64s[0] if self.eui64s else None

    @property
    def bellows_flow_control(self) -> str | None:
        """zigpy's device ``flow_control`` value (None, "software" or "hardware")."""
        return None if self.flow_control == "none" else self.flow_control

    def serial_settings(self) -> SerialSettings:
        """``{"baudrate": ..., "flow_control": ...}`` to pass straight to ``open_ezsp(port, **settings)``."""
        return SerialSettings(baudrate=self.baudrate, flow_control=self.bellows_flow_control)

    @property
    def is_network(self) -> bool:
        return "://" in self.port


@dataclass(frozen=True)
class Sniffer:
    """The inventory's ``sniffer:`` entry: a sniffer dongle or a stream URL, and the channel to capture."""

    dongle: str | None = None     # a dongle of role ``sniffer`` (EZSP packet capture)
    url: str | None = None        # or a ``rig sim up``/remote sniffer stream (tcp://host:port)
    channel: int | None = None
    line: int = 0


@dataclass(frozen=True)
class LabgridRef:
    """The labgrid environment file (absolute path) and target an inventory's labgrid power refers to."""

    env: Path
    target: str | None = None


@dataclass(frozen=True)
class ExternalCh:
    """The inventory's ``external_ch:``: a Communications Hub the rig does not run (the device under test).

    The rig plays HHT, PPMID, meters and attacker against it and checks only over the air.  ``gpf`` is its
    GPF Entity ID (= the HAN's Extended PAN ID, what a scan finds it by; default: the PKI's GPF); ``channel``/``pan_id`` skip the
    scan; ``policy`` is the inter-PAN policy it is claimed to implement (the expected outcomes follow it);
    ``pki`` the test PKI it trusts: ``pki/ca`` the CBKE test CA (``rig cbke ca``), ``pki/keys`` the GBCS
    key store with the DCC's keys and the CH's certificates; ``wan`` the DCC's route to its device log
    (``rig sim up --ch-dut`` serves one; None: meters are commissioned by the lab before the run);
    ``power`` how the bench power-cycles it (None: the rig cannot cause a CH power-on)."""

    policy: str
    pki: Path
    gpf: str | None = None           # None: the GPF the PKI's key store names
    chf: str | None = None           # None: the CHF the PKI's key store names
    channel: int | None = None
    pan_id: int | None = None
    wan: str | None = None
    power: Power | None = None
    line: int = 0


@dataclass
class Inventory:
    """A lab's dongles by name, read from ``source`` (an inventory file or a labgrid environment)."""

    source: str
    dongles: dict[str, Dongle] = field(default_factory=dict)
    roles: tuple[str, ...] = ()      # the file's ``roles:``: roles this bench must provide
    sniffer: Sniffer | None = None
    labgrid: LabgridRef | None = None
    kind: str = "inventory"          # "inventory" or "labgrid"
    external_ch: ExternalCh | None = None    # the CH is a device under test, not one of these dongles

    def dongle_for(self, role: str) -> Dongle:
        """The dongle playing ``role``; an InventoryError names the file and the roles it has."""
        for dongle in self.dongles.values():
            if dongle.role == role:
                return dongle
        have = ", ".join(sorted({d.role for d in self.dongles.values()})) or "none"
        raise InventoryError(self.source, 0, "dongles", f"no dongle has role {role!r} (roles here: {have})")

    def has_role(self, role: str) -> bool:
        return any(d.role == role for d in self.dongles.values())
