"""The inventory file (``examples/lab.yaml``): parse and check it into an :class:`Inventory`."""

from __future__ import annotations

from pathlib import Path

from rig.inventory.checks import Checker, check_port, describe, normalise_eui64
from rig.inventory.errors import InventoryError
from rig.inventory.limits import (
    BAUDRATE,
    CHANNEL,
    DEFAULT_BAUDRATE,
    DEFAULT_POWER_COMMAND_SECONDS,
    DEFAULT_POWER_OFF_SECONDS,
    DONGLE_NAME,
    EUI64_HEX_DIGITS,
    FLOW_CONTROLS,
    PAN_ID,
    POLICIES,
    POWER_COMMAND_SECONDS,
    POWER_OFF_SECONDS,
    ROLES,
    UHUBCTL_HUB,
    USB_HUB_PORT,
)
from rig.inventory.loader import Located, LocatedList, load_yaml
from rig.inventory.model import (
    CommandPower,
    Dongle,
    ExternalCh,
    Inventory,
    LabgridPower,
    LabgridRef,
    Power,
    Sniffer,
    UhubctlPower,
)

DONGLE_KEYS = ("port", "baudrate", "flow_control", "role", "eui64", "eui64s", "power", "description")


def load_inventory(path: str | Path) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(str(path), 0, "", f"cannot read the inventory: {exc.strerror or exc}") from None
    return parse_inventory(text, str(path), base=path.resolve().parent)


def parse_inventory(text: str, source: str = "<inventory>", *, base: Path | None = None) -> Inventory:
    check = Checker(source)
    data = load_yaml(text, source)
    if data is None:
        check.fail(1, "", "the file is empty (expected a 'dongles:' mapping)")
    root = check.mapping(data, 1, "")
    check.keys(root, ("dongles", "roles", "sniffer", "labgrid", "external_ch"), "", required=("dongles",))
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
        if not isinstance(name, str) or not DONGLE_NAME.match(name):
            check.fail(dongles_map.key_line(name), where, "a dongle name is a letter then letters, digits, '.-_'")
        spec = check.mapping(raw, dongles_map.value_line(name), where)
        check.keys(spec, DONGLE_KEYS, where, required=("port", "role"))
        problem = check_port(spec["port"])
        if problem:
            check.fail(spec.value_line("port"), f"{where}.port", problem)
        role = check.choice(spec, "role", ROLES, where)
        baudrate = check.integer(spec, "baudrate", where, BAUDRATE) if "baudrate" in spec \
            else DEFAULT_BAUDRATE
        flow = check.choice(spec, "flow_control", FLOW_CONTROLS, where) if "flow_control" in spec else "none"
        euis = parse_euis(check, spec, where, role)
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
            check.fail(root.value_line("roles"), "roles", f"expected a list of roles, got {describe(roles)}")
        for role, line in zip(roles, roles.item_lines, strict=True):
            if role not in ROLES:
                check.fail(line, "roles", f"{role!r} is not one of {', '.join(ROLES)}")
            if not inventory.has_role(role):
                check.fail(line, "roles", f"role {role!r} has no dongle (no dongle says 'role: {role}')")
        inventory.roles = tuple(roles)
    if "sniffer" in root:
        inventory.sniffer = _parse_sniffer(check, root, inventory)
    if "external_ch" in root:
        inventory.external_ch = _parse_external_ch(check, root, inventory, base)
    return inventory


def parse_euis(check: Checker, spec: Located, where: str, role: str) -> list[tuple[str, int]]:
    if role == "ppmid":
        if "eui64" in spec:
            check.fail(spec.key_line("eui64"), f"{where}.eui64",
                       "a ppmid dongle has two identities: write eui64s: [HHT_EUI64, PPMID_EUI64]")
        if "eui64s" not in spec:
            check.fail(spec.line, f"{where}.eui64s", "missing (a ppmid dongle needs exactly two EUI-64s)")
        values = spec["eui64s"]
        if not isinstance(values, LocatedList) or len(values) != 2:
            check.fail(spec.value_line("eui64s"), f"{where}.eui64s",
                       f"expected exactly two EUI-64s (identity A = HHT, B = PPMID), got {describe(values)}")
        out = []
        for value, line in zip(values, values.item_lines, strict=True):
            eui = normalise_eui64(value)
            if eui is None:
                check.fail(line, f"{where}.eui64s", f"{value!r} is not {EUI64_HEX_DIGITS} hex digits (e.g. \"00124B0001ABCDEF\")")
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
                   f"{spec['eui64']!r} is not {EUI64_HEX_DIGITS} hex digits (quote it: \"00124B0001ABCDEF\")")
    return [(eui, spec.value_line("eui64"))]


def _parse_power(check: Checker, spec: Located, where: str) -> Power:
    field_path = f"{where}.power"
    power = check.mapping(spec["power"], spec.value_line("power"), field_path)
    check.keys(power, ("uhubctl", "labgrid", "command", "timeout"), field_path)
    kinds = [k for k in ("uhubctl", "labgrid", "command") if k in power]
    if len(kinds) != 1:
        check.fail(power.line, field_path,
                   "give exactly one of uhubctl: {hub, port}, labgrid: {resource} or command: \"...\"")
    if "timeout" in power and kinds != ["command"]:
        check.fail(power.key_line("timeout"), f"{field_path}.timeout", "only a power command has a timeout")
    if "command" in power:
        command = check.text(power, "command", field_path)
        if not command.strip():
            check.fail(power.value_line("command"), f"{field_path}.command", "the command is empty")
        timeout = check.number(power, "timeout", field_path, POWER_COMMAND_SECONDS) if "timeout" in power \
            else DEFAULT_POWER_COMMAND_SECONDS
        return CommandPower(command=command.strip(), timeout=timeout)
    if "uhubctl" in power:
        sub = f"{field_path}.uhubctl"
        uh = check.mapping(power["uhubctl"], power.value_line("uhubctl"), sub)
        check.keys(uh, ("hub", "port", "delay"), sub, required=("hub", "port"))
        hub = uh["hub"]
        if not isinstance(hub, str) or not UHUBCTL_HUB.match(hub):
            check.fail(uh.value_line("hub"), f"{sub}.hub",
                       f"{hub!r} is not a uhubctl hub location such as \"1-1\" or \"2-1.4\" (quote it)")
        port = check.integer(uh, "port", sub, USB_HUB_PORT)
        delay = check.number(uh, "delay", sub, POWER_OFF_SECONDS) if "delay" in uh else DEFAULT_POWER_OFF_SECONDS
        return UhubctlPower(hub=hub, port=port, delay=delay)
    sub = f"{field_path}.labgrid"
    lg = check.mapping(power["labgrid"], power.value_line("labgrid"), sub)
    check.keys(lg, ("resource",), sub, required=("resource",))
    return LabgridPower(resource=check.text(lg, "resource", sub))


def _parse_sniffer(check: Checker, root: Located, inventory: Inventory) -> Sniffer:
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
    channel = check.integer(sn, "channel", "sniffer", CHANNEL) if "channel" in sn else None
    return Sniffer(dongle=dongle, url=url, channel=channel, line=sn.line)


def _parse_labgrid_ref(check: Checker, root: Located, base: Path | None) -> LabgridRef:
    lg = check.mapping(root["labgrid"], root.value_line("labgrid"), "labgrid")
    check.keys(lg, ("env", "target"), "labgrid", required=("env",))
    env = Path(check.text(lg, "env", "labgrid"))
    if not env.is_absolute() and base is not None:
        env = base / env
    target = check.text(lg, "target", "labgrid") if "target" in lg else None
    return LabgridRef(env=env, target=target)


EXTERNAL_CH_KEYS = ("gpf", "policy", "pki", "chf", "channel", "pan_id", "wan", "power")


def _parse_external_ch(check: Checker, root: Located, inventory: Inventory, base: Path | None) -> ExternalCh:
    """``external_ch:`` — the CH under test (no dongle of the inventory may play ``ch`` beside it)."""
    where = "external_ch"
    spec = check.mapping(root["external_ch"], root.value_line("external_ch"), where)
    check.keys(spec, EXTERNAL_CH_KEYS, where, required=("policy", "pki"))
    for dongle in inventory.dongles.values():
        if dongle.role == "ch":
            check.fail(spec.line, where, f"the CH is external, so no dongle plays role 'ch' (dongle {dongle.name}, "
                                         f"line {dongle.line} does)")
    if "ch" in inventory.roles:
        check.fail(root.value_line("roles"), "roles", "the CH is external: 'ch' is not a role of this bench")
    ids = {}
    for key in ("gpf", "chf"):
        if key in spec:
            eui = normalise_eui64(spec[key])
            if eui is None:
                check.fail(spec.value_line(key), f"{where}.{key}",
                           f"{spec[key]!r} is not {EUI64_HEX_DIGITS} hex digits (quote it: \"0052494700000002\")")
            ids[key] = eui
    policy = check.choice(spec, "policy", POLICIES, where)
    pki = Path(check.text(spec, "pki", where))
    if not pki.is_absolute() and base is not None:
        pki = base / pki
    channel = check.integer(spec, "channel", where, CHANNEL) if "channel" in spec else None
    pan_id = check.integer(spec, "pan_id", where, PAN_ID) if "pan_id" in spec else None
    if (channel is None) != (pan_id is None):
        check.fail(spec.line, where, "give both channel and pan_id (or neither: the rig scans for the GPF's "
                                     "Extended PAN ID)")
    wan = None
    if "wan" in spec:
        wan = spec["wan"]
        problem = check_port(wan) if isinstance(wan, str) and wan.startswith("tcp://") \
            else f"{wan!r} is not a tcp://HOST:PORT URL"
        if problem:
            check.fail(spec.value_line("wan"), f"{where}.wan", problem)
    power = _parse_power(check, spec, where) if "power" in spec else None
    if isinstance(power, LabgridPower) and inventory.labgrid is None:
        check.fail(spec.value_line("power"), f"{where}.power.labgrid",
                   "labgrid power needs a top-level 'labgrid: {env: ENV.yaml}' naming the environment")
    return ExternalCh(gpf=ids.get("gpf"), policy=policy, pki=pki, chf=ids.get("chf"), channel=channel, pan_id=pan_id,
                      wan=wan, power=power, line=spec.line)
