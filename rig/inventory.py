"""Hardware inventory: which dongle plays which role, how to reach it, how to power-cycle it.

A lab describes its radios in one YAML file (``examples/lab.yaml``)::

    dongles:
      ch-dongle:
        port: /dev/serial/by-id/usb-Silicon_Labs_CP2102N_..._0001-if00-port0
        baudrate: 115200            # default
        flow_control: hardware      # none | software | hardware (default none)
        role: ch                    # ch | hht | ppmid | esme | gpf | sniffer
        eui64: 00124B0001ABCDEF     # optional except for ppmid
        power:
          uhubctl: {hub: "1-1.4", port: 2}     # or  labgrid: {resource: ch-power}
      ppmid-dongle:
        port: socket://bench-pi.lab:3003
        role: ppmid
        eui64s: [00124B0001AB0001, 00124B0001AB0002]   # identity A (HHT), identity B (PPMID)
    roles: [ch, hht, ppmid]         # optional: roles this bench must provide
    sniffer: {dongle: sniff-dongle, channel: 15}       # optional
    labgrid: {env: labgrid-env.yaml, target: zigbee-bench}   # needed only for labgrid power

Every mistake raises one :class:`InventoryError` whose message is ``FILE:LINE: FIELD: problem``
(the line is the YAML line of the offending key or value).  A labgrid environment
(``load_labgrid_env``) is turned into the same :class:`Inventory`, so everything above this module
sees one shape whichever way the lab is described.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from rig.zigbee.eui64 import eui_hex

ROLES = ("ch", "hht", "ppmid", "esme", "gpf", "sniffer")
FLOW_CONTROLS = ("none", "software", "hardware")
URL_SCHEMES = ("socket", "tcp", "rfc2217")
DEFAULT_BAUDRATE = 115200


class InventoryError(Exception):
    """A mistake in an inventory (or labgrid environment) file.

    ``source``, ``line`` (1-based, 0 when unknown) and ``field`` (dotted path) are also attributes.
    """

    def __init__(self, source: str, line: int, field_path: str, problem: str) -> None:
        self.source, self.line, self.field, self.problem = source, line, field_path, problem
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field_path}: {problem}" if field_path else f"{where}: {problem}")


# --- YAML with line numbers ---------------------------------------------------------------------

class Located(dict):
    """A YAML mapping that remembers the line of every key (``key_line``) and of itself (``line``)."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}

    def key_line(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)

    def value_line(self, key: Any) -> int:
        return self.value_lines.get(key, self.key_line(key))


class LocatedList(list):
    line: int = 0
    item_lines: list[int]


def _make_loader(source: str) -> type[yaml.SafeLoader]:
    class _Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Located:
        loader.flatten_mapping(node)
        result = Located()
        result.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise InventoryError(source, key_node.start_mark.line + 1, str(key),
                                     f"duplicate key (first at line {result.key_lines[key]})")
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
            result.value_lines[key] = value_node.start_mark.line + 1
        return result

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return _Loader


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML keeping line numbers; a syntax error becomes an InventoryError at its line."""
    try:
        return yaml.load(text, Loader=_make_loader(source))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError(source, mark.line + 1 if mark else 0, "",
                             f"not valid YAML: {exc.problem or exc}") from None


# --- the model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UhubctlPower:
    """USB port power switching through ``uhubctl -l HUB -p PORT``."""

    hub: str
    port: int
    delay: float = 2.0          # seconds the port stays off


@dataclass(frozen=True)
class LabgridPower:
    """A labgrid power driver (``PowerProtocol``) by name, in the inventory's labgrid environment."""

    resource: str


Power = UhubctlPower | LabgridPower


@dataclass(frozen=True)
class Dongle:
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

    @property
    def is_network(self) -> bool:
        return "://" in self.port


@dataclass(frozen=True)
class Sniffer:
    dongle: str | None = None     # a dongle of role ``sniffer`` (EZSP packet capture)
    url: str | None = None        # or a ``rig sim up``/remote sniffer stream (tcp://host:port)
    channel: int | None = None
    line: int = 0


@dataclass(frozen=True)
class LabgridRef:
    env: Path
    target: str | None = None


@dataclass
class Inventory:
    source: str
    dongles: dict[str, Dongle] = field(default_factory=dict)
    roles: tuple[str, ...] = ()
    sniffer: Sniffer | None = None
    labgrid: LabgridRef | None = None
    kind: str = "inventory"          # "inventory" or "labgrid"

    def dongle_for(self, role: str) -> Dongle:
        """The dongle playing ``role``; an InventoryError names the file and the roles it has."""
        for dongle in self.dongles.values():
            if dongle.role == role:
                return dongle
        have = ", ".join(sorted({d.role for d in self.dongles.values()})) or "none"
        raise InventoryError(self.source, 0, "dongles", f"no dongle has role {role!r} (roles here: {have})")

    def has_role(self, role: str) -> bool:
        return any(d.role == role for d in self.dongles.values())

    @property
    def provided_roles(self) -> tuple[str, ...]:
        return tuple(sorted({d.role for d in self.dongles.values()}))


# --- validation helpers -------------------------------------------------------------------------

class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, field_path: str, problem: str):
        raise InventoryError(self.source, line, field_path, problem)

    def mapping(self, value: Any, line: int, field_path: str) -> Located:
        if not isinstance(value, Located):
            self.fail(line, field_path, f"expected a mapping, got {_kind(value)}")
        return value

    def keys(self, mapping: Located, allowed: Iterable[str], field_path: str,
             required: Iterable[str] = ()) -> None:
        allowed = tuple(allowed)
        for key in mapping:
            if key not in allowed:
                self.fail(mapping.key_line(key), _join(field_path, str(key)),
                          f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in mapping or mapping[key] is None:
                self.fail(mapping.line, _join(field_path, key), "missing (required)")

    def choice(self, mapping: Located, key: str, choices: tuple[str, ...], field_path: str) -> str:
        value = mapping[key]
        if not isinstance(value, str) or value not in choices:
            self.fail(mapping.value_line(key), _join(field_path, key),
                      f"{value!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, mapping: Located, key: str, field_path: str, lo: int, hi: int) -> int:
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(mapping.value_line(key), _join(field_path, key),
                      f"{value!r} is not an integer in {lo}..{hi}")
        return value

    def number(self, mapping: Located, key: str, field_path: str, lo: float, hi: float) -> float:
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            self.fail(mapping.value_line(key), _join(field_path, key), f"{value!r} is not a number in {lo}..{hi}")
        return float(value)

    def text(self, mapping: Located, key: str, field_path: str) -> str:
        value = mapping[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(mapping.value_line(key), _join(field_path, key), f"expected a non-empty string, got {value!r}")
        return value.strip()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", Located: "a mapping", list: "a list", LocatedList: "a list",
            str: f"the string {value!r}"}.get(type(value), f"{type(value).__name__} {value!r}")


def normalise_eui64(value: Any) -> str | None:
    """``00:12:4b:...`` / ``00124B...`` → ``00124B...``; None when it is not 16 hex digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None          # YAML read digits as a number: leading zeros are lost, so refuse it
    if not isinstance(value, str):
        return None
    try:
        return eui_hex(value)
    except ValueError:
        return None


def check_port(port: Any) -> str | None:
    """The problem with a port string, or None when bellows can open it."""
    if not isinstance(port, str) or not port.strip():
        return f"expected a device path or URL, got {_kind(port)}"
    if "://" in port:
        try:
            parts = urlsplit(port)
        except ValueError as exc:
            return f"{port!r} is not a valid URL ({exc})"
        if parts.scheme not in URL_SCHEMES:
            return f"URL scheme {parts.scheme!r} is not one of {', '.join(s + '://' for s in URL_SCHEMES)}"
        try:
            number = parts.port
        except ValueError:
            number = None
        if not parts.hostname or not number:
            return f"{port!r} needs HOST:PORT (e.g. {parts.scheme}://bench-pi.lab:3001)"
        if parts.path not in ("", "/"):
            return f"{port!r} has a path after HOST:PORT"
        return None
    if not port.startswith("/"):
        return (f"{port!r} is neither an absolute device path (/dev/serial/by-id/..., /dev/ttyUSB0) "
                f"nor a socket://, tcp:// or rfc2217:// URL")
    return None


# --- the inventory file -------------------------------------------------------------------------

DONGLE_KEYS = ("port", "baudrate", "flow_control", "role", "eui64", "eui64s", "power", "description")


def load_inventory(path: str | Path) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(str(path), 0, "", f"cannot read the inventory: {exc.strerror or exc}") from None
    return parse_inventory(text, str(path), base=path.resolve().parent)


def parse_inventory(text: str, source: str = "<inventory>", *, base: Path | None = None) -> Inventory:
    check = _Checker(source)
    data = load_yaml(text, source)
    if data is None:
        check.fail(1, "", "the file is empty (expected a 'dongles:' mapping)")
    root = check.mapping(data, 1, "")
    check.keys(root, ("dongles", "roles", "sniffer", "labgrid"), "", required=("dongles",))
    dongles_map = check.mapping(root["dongles"], root.value_line("dongles"), "dongles")
    if not dongles_map:
        check.fail(root.value_line("dongles"), "dongles", "no dongles listed")

    inventory = Inventory(source)
    if "labgrid" in root:
        inventory.labgrid = _parse_labgrid_ref(check, root, base)

    seen_eui: dict[str, tuple[str, int]] = {}
    seen_role: dict[str, tuple[str, int]] = {}
    for name, raw in dongles_map.items():
        where = f"dongles.{name}"
        if not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_.-]*$", name):
            check.fail(dongles_map.key_line(name), where, "a dongle name is a letter then letters, digits, '.-_'")
        spec = check.mapping(raw, dongles_map.value_line(name), where)
        check.keys(spec, DONGLE_KEYS, where, required=("port", "role"))
        problem = check_port(spec["port"])
        if problem:
            check.fail(spec.value_line("port"), f"{where}.port", problem)
        role = check.choice(spec, "role", ROLES, where)
        baudrate = check.integer(spec, "baudrate", where, 1200, 4_000_000) if "baudrate" in spec \
            else DEFAULT_BAUDRATE
        flow = check.choice(spec, "flow_control", FLOW_CONTROLS, where) if "flow_control" in spec else "none"
        euis = _parse_euis(check, spec, where, role)
        for eui, line in euis:
            if eui in seen_eui:
                other, other_line = seen_eui[eui]
                check.fail(line, f"{where}.eui64" + ("s" if role == "ppmid" else ""),
                           f"duplicate EUI-64 {eui} (also {other}, line {other_line})")
            seen_eui[eui] = (where, line)
        if role != "sniffer":
            if role in seen_role:
                other, other_line = seen_role[role]
                check.fail(spec.value_line("role"), f"{where}.role",
                           f"role {role!r} is already played by {other} (line {other_line})")
            seen_role[role] = (where, spec.value_line("role"))
        power = _parse_power(check, spec, where) if "power" in spec else None
        if isinstance(power, LabgridPower) and inventory.labgrid is None:
            check.fail(spec.value_line("power"), f"{where}.power.labgrid",
                       "labgrid power needs a top-level 'labgrid: {env: ENV.yaml}' naming the environment")
        inventory.dongles[name] = Dongle(name=name, port=spec["port"].strip(), role=role, baudrate=baudrate,
                                         flow_control=flow, eui64s=tuple(e for e, _ in euis), power=power,
                                         line=dongles_map.key_line(name))

    if "roles" in root:
        roles = root["roles"]
        if not isinstance(roles, LocatedList):
            check.fail(root.value_line("roles"), "roles", f"expected a list of roles, got {_kind(roles)}")
        for role, line in zip(roles, roles.item_lines, strict=True):
            if role not in ROLES:
                check.fail(line, "roles", f"{role!r} is not one of {', '.join(ROLES)}")
            if not inventory.has_role(role):
                check.fail(line, "roles", f"role {role!r} has no dongle (no dongle says 'role: {role}')")
        inventory.roles = tuple(roles)
    if "sniffer" in root:
        inventory.sniffer = _parse_sniffer(check, root, inventory)
    return inventory


def _parse_euis(check: _Checker, spec: Located, where: str, role: str) -> list[tuple[str, int]]:
    if role == "ppmid":
        if "eui64" in spec:
            check.fail(spec.key_line("eui64"), f"{where}.eui64",
                       "a ppmid dongle has two identities: write eui64s: [HHT_EUI64, PPMID_EUI64]")
        if "eui64s" not in spec:
            check.fail(spec.line, f"{where}.eui64s", "missing (a ppmid dongle needs exactly two EUI-64s)")
        values = spec["eui64s"]
        if not isinstance(values, LocatedList) or len(values) != 2:
            check.fail(spec.value_line("eui64s"), f"{where}.eui64s",
                       f"expected exactly two EUI-64s (identity A = HHT, B = PPMID), got {_kind(values)}")
        out = []
        for value, line in zip(values, values.item_lines, strict=True):
            eui = normalise_eui64(value)
            if eui is None:
                check.fail(line, f"{where}.eui64s", f"{value!r} is not 16 hex digits (e.g. \"00124B0001ABCDEF\")")
            out.append((eui, line))
        if out[0][0] == out[1][0]:
            check.fail(out[1][1], f"{where}.eui64s", f"duplicate EUI-64 {out[0][0]} (both identities)")
        return out
    if "eui64s" in spec:
        check.fail(spec.key_line("eui64s"), f"{where}.eui64s", f"only a ppmid dongle has eui64s; a {role} has eui64")
    if "eui64" not in spec:
        return []
    eui = normalise_eui64(spec["eui64"])
    if eui is None:
        check.fail(spec.value_line("eui64"), f"{where}.eui64",
                   f"{spec['eui64']!r} is not 16 hex digits (quote it: \"00124B0001ABCDEF\")")
    return [(eui, spec.value_line("eui64"))]


def _parse_power(check: _Checker, spec: Located, where: str) -> Power:
    field_path = f"{where}.power"
    power = check.mapping(spec["power"], spec.value_line("power"), field_path)
    check.keys(power, ("uhubctl", "labgrid"), field_path)
    if len(power) != 1:
        check.fail(power.line, field_path, "give exactly one of uhubctl: {hub, port} or labgrid: {resource}")
    if "uhubctl" in power:
        sub = f"{field_path}.uhubctl"
        uh = check.mapping(power["uhubctl"], power.value_line("uhubctl"), sub)
        check.keys(uh, ("hub", "port", "delay"), sub, required=("hub", "port"))
        hub = uh["hub"]
        if not isinstance(hub, str) or not re.match(r"^\d+-\d+(\.\d+)*$", hub):
            check.fail(uh.value_line("hub"), f"{sub}.hub",
                       f"{hub!r} is not a uhubctl hub location such as \"1-1\" or \"2-1.4\" (quote it)")
        port = check.integer(uh, "port", sub, 1, 255)
        delay = check.number(uh, "delay", sub, 0.1, 60) if "delay" in uh else 2.0
        return UhubctlPower(hub=hub, port=port, delay=delay)
    sub = f"{field_path}.labgrid"
    lg = check.mapping(power["labgrid"], power.value_line("labgrid"), sub)
    check.keys(lg, ("resource",), sub, required=("resource",))
    return LabgridPower(resource=check.text(lg, "resource", sub))


def _parse_sniffer(check: _Checker, root: Located, inventory: Inventory) -> Sniffer:
    sn = check.mapping(root["sniffer"], root.value_line("sniffer"), "sniffer")
    check.keys(sn, ("dongle", "url", "channel"), "sniffer")
    if ("dongle" in sn) == ("url" in sn):
        check.fail(sn.line, "sniffer", "give exactly one of dongle: NAME (a role: sniffer dongle) or url: tcp://...")
    dongle = url = None
    if "dongle" in sn:
        dongle = sn["dongle"]
        if dongle not in inventory.dongles:
            check.fail(sn.value_line("dongle"), "sniffer.dongle",
                       f"no dongle named {dongle!r} (dongles: {', '.join(inventory.dongles)})")
        if inventory.dongles[dongle].role != "sniffer":
            check.fail(sn.value_line("dongle"), "sniffer.dongle",
                       f"dongle {dongle!r} has role {inventory.dongles[dongle].role!r}, not 'sniffer'")
    else:
        url = sn["url"]
        problem = check_port(url) if isinstance(url, str) and "://" in url else f"{url!r} is not a URL"
        if problem:
            check.fail(sn.value_line("url"), "sniffer.url", problem)
    channel = check.integer(sn, "channel", "sniffer", 11, 26) if "channel" in sn else None
    return Sniffer(dongle=dongle, url=url, channel=channel, line=sn.line)


def _parse_labgrid_ref(check: _Checker, root: Located, base: Path | None) -> LabgridRef:
    lg = check.mapping(root["labgrid"], root.value_line("labgrid"), "labgrid")
    check.keys(lg, ("env", "target"), "labgrid", required=("env",))
    env = Path(check.text(lg, "env", "labgrid"))
    if not env.is_absolute() and base is not None:
        env = base / env
    target = check.text(lg, "target", "labgrid") if "target" in lg else None
    return LabgridRef(env=env, target=target)


# --- labgrid environments -----------------------------------------------------------------------
#
# A labgrid environment (``examples/labgrid-env.yaml``) is labgrid's own YAML.  The rig reads one
# target's ``options: rig:`` mapping, role → {serial: RESOURCE, power: DRIVER, eui64|eui64s}, and
# finds each serial resource either declared in the file (``NetworkSerialPort`` with host/port —
# ser2net without a coordinator — or ``RawSerialPort`` with a local port) or, for a
# ``RemotePlace``, among the acquired place's resources at run time (labgrid imported then, lazily).

RFC2217, RAW = "rfc2217", "raw"


def network_serial_url(host: str, port: int, protocol: str | None = RFC2217) -> str:
    """URL bellows opens for a labgrid ``NetworkSerialPort`` (ser2net: telnet/RFC 2217 or raw TCP)."""
    protocol = protocol or RFC2217
    if protocol == RFC2217:
        return f"rfc2217://{host}:{port}"
    if protocol == RAW:
        return f"socket://{host}:{port}"
    raise ValueError(f"NetworkSerialPort protocol {protocol!r} is not 'rfc2217' or 'raw'")


def _resource_entries(check: _Checker, target: Located, where: str) -> list[tuple[str, str | None, Located, int]]:
    """(class, name, args, line) of a labgrid target's resources (mapping or list form)."""
    raw = target.get("resources")
    entries: list[tuple[str, str | None, Located, int]] = []
    if raw is None:
        return entries
    items: list[tuple[Located, int]]
    if isinstance(raw, LocatedList):
        items = [(check.mapping(item, line, f"{where}.resources"), line) for item, line in zip(raw, raw.item_lines,
                                                                                               strict=True)]
    else:
        items = [(check.mapping(raw, target.value_line("resources"), f"{where}.resources"), 0)]
    for mapping, _line in items:
        for cls, args in mapping.items():
            args = args if isinstance(args, Located) else Located()
            name = args.get("name") if isinstance(args.get("name"), str) else None
            entries.append((str(cls), name, args, mapping.key_line(cls)))
    return entries


def parse_labgrid_env(text: str, source: str, *, target: str | None = None,
                      place_resources: Mapping[str, Any] | None = None) -> Inventory:
    """Build an Inventory from a labgrid environment without importing labgrid.

    ``place_resources`` maps resource names of an acquired ``RemotePlace`` to objects with labgrid's
    attributes (``host``, ``port``, ``protocol`` for NetworkSerialPort; ``port`` for RawSerialPort).
    Without it, a role whose serial resource comes from a RemotePlace keeps ``port`` =
    ``labgrid://PLACE/RESOURCE`` until :func:`resolve_labgrid_port` asks labgrid.
    """
    check = _Checker(source)
    data = load_yaml(text, source)
    root = check.mapping(data, 1, "")
    targets = check.mapping(root.get("targets"), root.value_line("targets") if "targets" in root else 1, "targets")
    names = [name for name, body in targets.items()
             if isinstance(body, Located) and isinstance(body.get("options"), Located) and "rig" in body["options"]]
    if target is None:
        if len(names) != 1:
            check.fail(targets.line, "targets",
                       "exactly one target needs options: rig: {ROLE: {serial: RESOURCE}} "
                       f"(found {len(names)}: {', '.join(names) or 'none'}); name one with labgrid: {{target: ...}}")
        target = names[0]
    if target not in targets:
        check.fail(targets.line, f"targets.{target}", f"no such target (targets: {', '.join(map(str, targets))})")
    where = f"targets.{target}"
    body = check.mapping(targets[target], targets.value_line(target), where)
    options = check.mapping(body.get("options"), body.value_line("options") if "options" in body else body.line,
                            f"{where}.options")
    if "rig" not in options:
        check.fail(options.line, f"{where}.options.rig", "missing: map each role to {serial: RESOURCE, power: DRIVER}")
    rig_map = check.mapping(options["rig"], options.value_line("rig"), f"{where}.options.rig")

    resources = _resource_entries(check, body, where)
    by_name = {name: (cls, args, line) for cls, name, args, line in resources if name}
    places = [(args.get("name"), line) for cls, _n, args, line in resources if cls == "RemotePlace"]
    drivers = _driver_names(body)

    inventory = Inventory(source, kind="labgrid", labgrid=LabgridRef(env=Path(source), target=target))
    seen_eui: dict[str, str] = {}
    for role, raw in rig_map.items():
        field_path = f"{where}.options.rig.{role}"
        if role not in ROLES:
            check.fail(rig_map.key_line(role), field_path, f"{role!r} is not one of {', '.join(ROLES)}")
        spec = check.mapping(raw, rig_map.value_line(role), field_path)
        check.keys(spec, ("serial", "power", "eui64", "eui64s", "baudrate", "flow_control"), field_path,
                   required=("serial",))
        serial = check.text(spec, "serial", field_path)
        euis = [e for e, _ in _parse_euis(check, spec, field_path, role)]
        for eui in euis:
            if eui in seen_eui:
                check.fail(spec.line, field_path, f"duplicate EUI-64 {eui} (also {seen_eui[eui]})")
            seen_eui[eui] = field_path
        power = None
        if "power" in spec:
            power_name = check.text(spec, "power", field_path)
            if drivers is not None and power_name not in drivers:
                check.fail(spec.value_line("power"), f"{field_path}.power",
                           f"no driver named {power_name!r} in {where}.drivers (drivers: {', '.join(drivers) or 'none'})")
            power = LabgridPower(resource=power_name)
        baudrate = check.integer(spec, "baudrate", field_path, 1200, 4_000_000) if "baudrate" in spec else None
        flow = check.choice(spec, "flow_control", FLOW_CONTROLS, field_path) if "flow_control" in spec else "none"
        place = None
        if serial in by_name:
            cls, args, line = by_name[serial]
            port, speed = _static_port(check, cls, args, line, f"{where}.resources.{cls}")
        elif places:
            place = places[0][0]
            found = (place_resources or {}).get(serial)
            if found is not None:
                port, speed = _resource_port(found, serial, source)
            else:
                port, speed = f"labgrid://{place}/{serial}", None
        else:
            check.fail(spec.value_line("serial"), f"{field_path}.serial",
                       f"no resource named {serial!r} in {where}.resources and no RemotePlace to find it in")
        inventory.dongles[role] = Dongle(name=role, port=port, role=role, baudrate=baudrate or speed or DEFAULT_BAUDRATE,
                                         flow_control=flow, eui64s=tuple(euis), power=power,
                                         line=rig_map.key_line(role), place=place, serial_resource=serial)
    return inventory


def _driver_names(body: Located) -> list[str] | None:
    raw = body.get("drivers")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    names = []
    for item in items:
        if not isinstance(item, dict):
            return None
        for cls, args in item.items():
            names.append(args.get("name", cls) if isinstance(args, dict) else cls)
    return names


def _static_port(check: _Checker, cls: str, args: Located, line: int, where: str) -> tuple[str, int | None]:
    if cls == "NetworkSerialPort":
        check.keys(args, ("name", "host", "port", "speed", "protocol"), where, required=("host", "port"))
        host = check.text(args, "host", where)
        port = check.integer(args, "port", where, 1, 65535)
        protocol = check.choice(args, "protocol", (RFC2217, RAW), where) if "protocol" in args else RFC2217
        speed = check.integer(args, "speed", where, 1200, 4_000_000) if "speed" in args else None
        return network_serial_url(host, port, protocol), speed
    if cls == "RawSerialPort":
        check.keys(args, ("name", "port", "speed"), where, required=("port",))
        port = check.text(args, "port", where)
        problem = check_port(port)
        if problem:
            check.fail(args.value_line("port"), f"{where}.port", problem)
        speed = check.integer(args, "speed", where, 1200, 4_000_000) if "speed" in args else None
        return port, speed
    check.fail(line, where, f"resource class {cls} cannot be opened by the rig "
                            "(use NetworkSerialPort, RawSerialPort, or a RemotePlace exporting one)")
    raise AssertionError  # unreachable


def _resource_port(resource: Any, name: str, source: str) -> tuple[str, int | None]:
    """Port URL of a resource object labgrid created for an acquired place."""
    cls = getattr(resource, "cls", None) or type(resource).__name__
    speed = getattr(resource, "speed", None)
    if cls in ("NetworkSerialPort",) or hasattr(resource, "host") and hasattr(resource, "port"):
        return network_serial_url(resource.host, int(resource.port), getattr(resource, "protocol", RFC2217)), speed
    if cls in ("RawSerialPort", "USBSerialPort") and getattr(resource, "port", None):
        return str(resource.port), speed
    raise InventoryError(source, 0, name, f"place resource {name!r} is a {cls}, not a serial port the rig can open")


def load_labgrid_env(path: str | Path, *, target: str | None = None,
                     place_resources: Mapping[str, Any] | None = None) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(str(path), 0, "", f"cannot read the labgrid environment: {exc.strerror or exc}") from None
    inventory = parse_labgrid_env(text, str(path), target=target, place_resources=place_resources)
    inventory.labgrid = LabgridRef(env=path.resolve(), target=inventory.labgrid.target)
    return inventory


def resolve_labgrid_port(inventory: Inventory, dongle: Dongle) -> str:
    """The openable URL of a RemotePlace dongle, asking labgrid for the acquired place's resources."""
    if not dongle.port.startswith("labgrid://"):
        return dongle.port
    lg = require_labgrid(f"resolving {dongle.port}")
    env = lg.Environment(str(inventory.labgrid.env))
    target = env.get_target(inventory.labgrid.target)
    for resource in target.resources:
        if getattr(resource, "name", None) == dongle.serial_resource:
            return _resource_port(resource, dongle.serial_resource, inventory.source)[0]
    raise InventoryError(inventory.source, dongle.line, f"options.rig.{dongle.role}.serial",
                         f"place {dongle.place!r} has no resource {dongle.serial_resource!r} "
                         "(is the place acquired? labgrid-client -p PLACE acquire)")


def require_labgrid(why: str):
    """Import labgrid lazily; a missing install is a clear error, never an ImportError trace."""
    try:
        import labgrid
    except ImportError:
        raise InventoryError("labgrid", 0, "", f"{why} needs labgrid, which is not installed: "
                             "pip install 'secmp0037-rig[labgrid]'") from None
    return labgrid
