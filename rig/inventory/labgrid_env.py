"""labgrid environments (``examples/labgrid-env.yaml``) read into the same :class:`Inventory`.

A labgrid environment is labgrid's own YAML.  The rig reads one target's ``options: rig:`` mapping,
role → {serial: RESOURCE, power: DRIVER, eui64|eui64s}, and finds each serial resource either declared
in the file (``NetworkSerialPort`` with host/port — ser2net without a coordinator — or
``RawSerialPort`` with a local port) or, for a ``RemotePlace``, among the acquired place's resources
at run time (labgrid imported then, lazily).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rig.inventory.checks import Checker, check_port
from rig.inventory.errors import InventoryError
from rig.inventory.limits import BAUDRATE, DEFAULT_BAUDRATE, FLOW_CONTROLS, ROLES, SER2NET_PROTOCOLS, TCP_PORT
from rig.inventory.loader import Located, LocatedList, load_yaml
from rig.inventory.model import Dongle, Inventory, LabgridPower, LabgridRef
from rig.inventory.parse import parse_euis

RFC2217, RAW = SER2NET_PROTOCOLS


def network_serial_url(host: str, port: int, protocol: str | None = RFC2217) -> str:
    """URL bellows opens for a labgrid ``NetworkSerialPort`` (ser2net: telnet/RFC 2217 or raw TCP)."""
    protocol = protocol or RFC2217
    if protocol == RFC2217:
        return f"rfc2217://{host}:{port}"
    if protocol == RAW:
        return f"socket://{host}:{port}"
    raise ValueError(f"NetworkSerialPort protocol {protocol!r} is not 'rfc2217' or 'raw'")


def _resource_entries(check: Checker, target: Located, where: str) -> list[tuple[str, str | None, Located, int]]:
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
    check = Checker(source)
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
        euis = [e for e, _ in parse_euis(check, spec, field_path, role)]
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
        baudrate = check.integer(spec, "baudrate", field_path, BAUDRATE) if "baudrate" in spec else None
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


def _static_port(check: Checker, cls: str, args: Located, line: int, where: str) -> tuple[str, int | None]:
    if cls == "NetworkSerialPort":
        check.keys(args, ("name", "host", "port", "speed", "protocol"), where, required=("host", "port"))
        host = check.text(args, "host", where)
        port = check.integer(args, "port", where, TCP_PORT)
        protocol = check.choice(args, "protocol", SER2NET_PROTOCOLS, where) if "protocol" in args else RFC2217
        speed = check.integer(args, "speed", where, BAUDRATE) if "speed" in args else None
        return network_serial_url(host, port, protocol), speed
    if cls == "RawSerialPort":
        check.keys(args, ("name", "port", "speed"), where, required=("port",))
        port = check.text(args, "port", where)
        problem = check_port(port)
        if problem:
            check.fail(args.value_line("port"), f"{where}.port", problem)
        speed = check.integer(args, "speed", where, BAUDRATE) if "speed" in args else None
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
