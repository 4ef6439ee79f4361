"""``EzspDriver``: an EmberZNet NCP (EZSP over ASH) on a labgrid serial port.

bellows opens the port itself (``rig.transport.open_ezsp``), so the driver holds nothing: activating
it is labgrid's lifecycle (the bound ``SerialPort`` / ``NetworkSerialPort`` must be available, e.g. an
acquired ``RemotePlace``'s exported port), and :attr:`EzspDriver.url` is the path bellows opens —
the device path of a local ``SerialPort`` (``RawSerialPort``, ``USBSerialPort``), or
``socket://HOST:PORT`` / ``rfc2217://HOST:PORT`` for a ``NetworkSerialPort`` (raw TCP or ser2net's
telnet protocol), through labgrid's proxy manager when the exporter needs an SSH proxy.

In an environment::

    targets:
      ch:                                   # a target named after a role ...
        resources:
          RawSerialPort: {port: /dev/serial/by-id/usb-Silicon_Labs_..._0001-if00-port0}
        drivers:
          EzspDriver: {eui64: "00124B0001A00001", flow_control: hardware}   # ... or role: ch here
"""

from __future__ import annotations

from typing import ClassVar

import attr
from labgrid.driver import Driver
from labgrid.factory import target_factory
from labgrid.resource import SerialPort
from labgrid.util.proxy import proxymanager

from rig.inventory.checks import normalise_eui64
from rig.inventory.limits import BAUDRATE, FLOW_CONTROLS, ROLES, SER2NET_PROTOCOLS, TCP_PORT

RFC2217, RAW = SER2NET_PROTOCOLS


def network_serial_url(host: str, port: int, protocol: str | None = RFC2217) -> str:
    """The URL bellows opens for a labgrid ``NetworkSerialPort`` (ser2net: telnet/RFC 2217 or raw TCP)."""
    protocol = protocol or RFC2217
    if protocol == RFC2217:
        return f"rfc2217://{host}:{port}"
    if protocol == RAW:
        return f"socket://{host}:{port}"
    raise ValueError(f"NetworkSerialPort protocol {protocol!r} is not 'rfc2217' or 'raw'")


def role_of(role: str | None, name: str | None, target: str) -> str | None:
    """The rig role an EzspDriver plays: its ``role:``, else its name, else its target's name, if a role."""
    if role is not None:
        return role
    for candidate in (name, target):
        if candidate in ROLES:
            return candidate
    return None


def _check_role(_instance, _attribute, value) -> None:
    if value is not None and value not in ROLES:
        raise ValueError(f"role {value!r} is not one of {', '.join(ROLES)}")


def _check_euis(_instance, attribute, value) -> None:
    for eui in value:
        if normalise_eui64(eui) is None:
            raise ValueError(f"{attribute.name}: {eui!r} is not an EUI-64 (16 hex digits, quoted)")


def _euis(value) -> tuple[str, ...]:
    items = [value] if isinstance(value, str | int) else list(value or ())
    return tuple(normalise_eui64(v) or v for v in items)


def _check_flow(_instance, _attribute, value) -> None:
    if value not in FLOW_CONTROLS:
        raise ValueError(f"flow_control {value!r} is not one of {', '.join(FLOW_CONTROLS)}")


def _check_baudrate(_instance, _attribute, value) -> None:
    if value is not None and value not in BAUDRATE:
        raise ValueError(f"baudrate {value!r} is not in {BAUDRATE}")


@target_factory.reg_driver
@attr.s(eq=False)
class EzspDriver(Driver):
    """An EZSP dongle on ``port``; ``url`` and :meth:`serial_settings` are what bellows opens it with."""

    bindings: ClassVar[dict] = {"port": {"SerialPort", "NetworkSerialPort"}}

    role = attr.ib(default=None, validator=_check_role)
    eui64s = attr.ib(default=(), converter=_euis, validator=_check_euis)
    eui64 = attr.ib(default=None)
    flow_control = attr.ib(default="none", validator=_check_flow)
    baudrate = attr.ib(default=None, validator=_check_baudrate)     # None: the port's speed

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        if self.eui64 is not None:           # one EUI-64 (eui64:) or a list (eui64s:), not both
            if self.eui64s:
                raise ValueError("give eui64 or eui64s, not both")
            self.eui64s = _euis(self.eui64)
            _check_euis(self, attr.fields(type(self)).eui64, self.eui64s)
        speed = getattr(self.port, "speed", None)
        if self.baudrate is None and speed is not None and speed not in BAUDRATE:
            raise ValueError(f"port speed {speed!r} is not in {BAUDRATE}")
        tcp = getattr(self.port, "host", None) is not None and getattr(self.port, "port", None) is not None
        if tcp:
            if self.port.port not in TCP_PORT:
                raise ValueError(f"NetworkSerialPort port {self.port.port!r} is not in {TCP_PORT}")
            if self.port.protocol not in SER2NET_PROTOCOLS:
                raise ValueError(f"NetworkSerialPort protocol {self.port.protocol!r} is not "
                                 f"{' or '.join(map(repr, SER2NET_PROTOCOLS))}")

    @property
    def rig_role(self) -> str | None:
        return role_of(self.role, self.name, self.target.name)

    def on_activate(self):
        """Nothing to open: bellows opens :attr:`url` (a serial port has one host)."""

    def on_deactivate(self):
        """Nothing to close: the rig closes its bellows connection before deactivating."""

    @property
    @Driver.check_active
    def url(self) -> str:
        """The device path or URL of the port, as ``rig.transport.open_ezsp`` (bellows) opens it."""
        if isinstance(self.port, SerialPort):
            return str(self.port.port)
        host, port = proxymanager.get_host_and_port(self.port)
        return network_serial_url(host, port, self.port.protocol)

    def serial_settings(self) -> dict:
        """``open_ezsp(url, **settings)``: the baudrate (the driver's, else the port's speed) and flow control."""
        return {"baudrate": self.baudrate or self.port.speed,
                "flow_control": None if self.flow_control == "none" else self.flow_control}

    @Driver.check_active
    def get_export_vars(self):
        """``labgrid-client export`` / ``LG__*`` variables: what a script needs to open the dongle."""
        return {"url": self.url, "baudrate": str(self.serial_settings()["baudrate"]),
                "flow_control": self.flow_control, "role": self.rig_role or "",
                "eui64s": ",".join(self.eui64s)}
