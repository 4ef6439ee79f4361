"""Inventory validation: a good file loads; every mistake is one InventoryError naming file, line, field."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.inventory import (
    CommandPower,
    InventoryError,
    LabgridPower,
    UhubctlPower,
    check_port,
    load_inventory,
    normalise_eui64,
    parse_inventory,
)
from rig.inventory.limits import BAUDRATE, CHANNEL, POWER_OFF_SECONDS, TCP_PORT, USB_HUB_PORT

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lab.yaml"


def test_example_inventory_loads_with_every_field():
    inv = load_inventory(EXAMPLE)
    ch = inv.dongle_for("ch")
    assert ch.name == "ch-dongle" and ch.port.startswith("/dev/serial/by-id/usb-Silicon_Labs")
    assert ch.baudrate == 115200 and ch.flow_control == "hardware" and ch.bellows_flow_control == "hardware"
    assert ch.eui64 == "00124B0001A00001"
    assert ch.power == UhubctlPower(hub="1-1.4", port=1, delay=2.0)
    assert inv.dongle_for("esme").power == UhubctlPower(hub="1-1.4", port=2, delay=3.0)
    ppmid = inv.dongle_for("ppmid")
    assert ppmid.eui64s == ("00124B0001A00003", "00124B0001A00004")
    assert ppmid.power is None and ppmid.bellows_flow_control is None and ppmid.is_network
    assert inv.roles == ("ch", "esme", "ppmid")            # the premises, as `rig scenario --rig` says
    assert inv.sniffer.dongle == "sniff-dongle" and inv.sniffer.channel == 15


def test_labgrid_power_and_colon_eui64_are_accepted(tmp_path):
    text = """\
labgrid: {env: env.yaml, target: bench}
dongles:
  ch:
    port: rfc2217://exporter.lab:20001
    role: ch
    eui64: "00:12:4b:00:01:a0:00:01"
    power: {labgrid: {resource: ch-power}}
"""
    inv = parse_inventory(text, "lab.yaml", base=tmp_path)
    assert inv.dongle_for("ch").power == LabgridPower("ch-power")
    assert inv.dongle_for("ch").eui64 == "00124B0001A00001"
    assert inv.labgrid.env == tmp_path / "env.yaml" and inv.labgrid.target == "bench"


GOOD_CH = "  ch:\n    port: tcp://127.0.0.1:4000\n    role: ch\n"
GOOD_ESME = "dongles:\n  esme:\n    port: tcp://127.0.0.1:4001\n    role: esme\n"

# (yaml text, line, field, words in the problem)
MISTAKES = {
    "unknown key": ("dongles:\n  ch:\n    port: tcp://127.0.0.1:4000\n    role: ch\n    baud: 9600\n",
                    5, "dongles.ch.baud", "unknown key"),
    "unknown top-level key": ("dongle:\n" + GOOD_CH, 1, "dongle", "unknown key"),
    "missing port": ("dongles:\n  ch:\n    role: ch\n", 3, "dongles.ch.port", "missing"),
    "missing dongles": ("roles: [ch]\n", 1, "dongles", "missing"),
    "duplicate EUI-64": ("dongles:\n" + GOOD_CH + "    eui64: '00124B0001A00001'\n"
                         "  hht:\n    port: tcp://127.0.0.1:4001\n    role: hht\n    eui64: '00124b0001a00001'\n",
                         9, "dongles.hht.eui64", "duplicate EUI-64 00124B0001A00001"),
    "duplicate EUI-64 inside a ppmid": (("dongles:\n  p:\n    port: tcp://h:1\n    role: ppmid\n"
                                        "    eui64s:\n      - '0000000000000001'\n      - '0000000000000001'\n"),
                                        7, "dongles.p.eui64s", "duplicate EUI-64"),
    "role without dongle": ("dongles:\n" + GOOD_CH + "roles:\n  - ch\n  - hht\n", 7, "roles",
                            "role 'hht' has no dongle"),
    "sniffer names no dongle": ("dongles:\n" + GOOD_CH + "sniffer:\n  dongle: sniff\n", 6, "sniffer.dongle",
                                "no dongle named 'sniff'"),
    "bad hex": ("dongles:\n" + GOOD_CH + "    eui64: '00124B0001A0000G'\n", 5, "dongles.ch.eui64",
                "not 16 hex digits"),
    "EUI-64 written as a number": ("dongles:\n" + GOOD_CH + "    eui64: 1234567812345678\n", 5, "dongles.ch.eui64",
                                   "not 16 hex digits"),
    "bad role enum": ("dongles:\n  ch:\n    port: tcp://127.0.0.1:4000\n    role: coordinator\n", 4,
                      "dongles.ch.role", "'coordinator' is not one of ch, hht, ppmid, esme, gpf, gsme, sniffer"),
    "bad flow control enum": ("dongles:\n" + GOOD_CH + "    flow_control: rtscts\n", 5, "dongles.ch.flow_control",
                              "'rtscts' is not one of none, software, hardware"),
    "bad baudrate": ("dongles:\n" + GOOD_CH + "    baudrate: fast\n", 5, "dongles.ch.baudrate", "not an integer"),
    "ppmid with one EUI-64": ("dongles:\n  p:\n    port: tcp://h:1\n    role: ppmid\n    eui64s: ['0000000000000001']\n",
                              5, "dongles.p.eui64s", "exactly two"),
    "ppmid without eui64s": ("dongles:\n  p:\n    port: tcp://h:1\n    role: ppmid\n", 3, "dongles.p.eui64s",
                             "missing"),
    "eui64s on a non-ppmid": ("dongles:\n" + GOOD_CH + "    eui64s: ['0000000000000001', '0000000000000002']\n",
                              5, "dongles.ch.eui64s", "only a ppmid"),
    "relative port": ("dongles:\n  ch:\n    port: ttyUSB0\n    role: ch\n", 3, "dongles.ch.port",
                      "neither an absolute device path"),
    "unknown URL scheme": ("dongles:\n  ch:\n    port: http://h:80\n    role: ch\n", 3, "dongles.ch.port",
                           "URL scheme 'http'"),
    "URL with a broken host": ("dongles:\n  ch:\n    port: 'tcp://[::1'\n    role: ch\n", 3, "dongles.ch.port",
                               "not a valid URL"),
    "URL port out of range": ("dongles:\n  ch:\n    port: 'tcp://h:99999'\n    role: ch\n", 3, "dongles.ch.port",
                              "needs HOST:PORT"),
    "URL without port": ("dongles:\n  ch:\n    port: socket://bench-pi\n    role: ch\n", 3, "dongles.ch.port",
                         "needs HOST:PORT"),
    "two dongles for one role": ("dongles:\n" + GOOD_CH + "  ch2:\n    port: tcp://h:2\n    role: ch\n", 7,
                                 "dongles.ch2.role", "already played by dongles.ch"),
    "duplicate dongle name": ("dongles:\n" + GOOD_CH + GOOD_CH, 5, "ch", "duplicate key"),
    "uhubctl without port": ("dongles:\n" + GOOD_CH + "    power:\n      uhubctl: {hub: '1-1'}\n", 6,
                             "dongles.ch.power.uhubctl.port", "missing"),
    "uhubctl hub not a location": ("dongles:\n" + GOOD_CH + "    power:\n      uhubctl: {hub: 'usb1', port: 2}\n", 6,
                                   "dongles.ch.power.uhubctl.hub", "not a uhubctl hub location"),
    "unknown power method": ("dongles:\n" + GOOD_CH + "    power:\n      relay: {pin: 4}\n", 6,
                             "dongles.ch.power.relay", "unknown key"),
    "labgrid power without environment": ("dongles:\n" + GOOD_CH + "    power:\n      labgrid: {resource: p}\n", 6,
                                          "dongles.ch.power.labgrid", "needs a top-level 'labgrid"),
    "sniffer channel out of range": ("dongles:\n" + GOOD_CH + "sniffer: {url: 'tcp://h:9', channel: 27}\n", 5,
                                     "sniffer.channel", "not an integer in 11..26"),
    "YAML syntax": ("dongles:\n  ch: [\n", 3, "", "not valid YAML"),
    "external CH beside a ch dongle": ("dongles:\n" + GOOD_CH + "external_ch: {policy: gbcs, pki: p}\n", 5,
                                       "external_ch", "no dongle plays role 'ch'"),
    "external CH without a PKI": (GOOD_ESME + "external_ch: {policy: gbcs}\n", 5, "external_ch.pki", "missing"),
    "external CH policy unknown": (GOOD_ESME + "external_ch: {policy: open, pki: p}\n", 5, "external_ch.policy",
                                   "'open' is not one of gbcs, secmp0037"),
    "external CH GPF not an EUI-64": (GOOD_ESME + "external_ch: {policy: gbcs, pki: p, gpf: 'CH-1'}\n", 5,
                                      "external_ch.gpf", "not 16 hex digits"),
    "external CH channel without PAN": (GOOD_ESME + "external_ch: {policy: gbcs, pki: p, channel: 15}\n", 5,
                                        "external_ch", "give both channel and pan_id"),
    "external CH WAN not tcp": (GOOD_ESME + "external_ch: {policy: gbcs, pki: p, wan: 'http://h:1'}\n", 5,
                                "external_ch.wan", "not a tcp://HOST:PORT URL"),
    "external CH power command empty": (GOOD_ESME + "external_ch:\n  policy: gbcs\n  pki: p\n  power: {command: ''}\n",
                                        8, "external_ch.power.command", "empty"),
    "power timeout without a command": ("dongles:\n" + GOOD_CH + "    power: {uhubctl: {hub: '1-1', port: 2}, "
                                        "timeout: 5}\n", 5, "dongles.ch.power.timeout", "only a power command"),
    "ch role listed beside an external CH": (GOOD_ESME + "roles: [ch]\nexternal_ch: {policy: gbcs, pki: p}\n", 5,
                                              "roles", "role 'ch' has no dongle"),
}


def test_an_external_ch_is_read_with_its_pki_beside_the_file_and_a_power_command(tmp_path):
    lab = tmp_path / "lab.yaml"
    lab.write_text(GOOD_ESME + "external_ch:\n  policy: secmp0037\n  pki: ch-pki\n  gpf: '00:52:49:47:00:00:00:02'\n"
                   "  channel: 20\n  pan_id: 0x1A2B\n  wan: tcp://127.0.0.1:4100\n"
                   "  power: {command: relay-cli cycle 3, timeout: 30}\n")
    ext = load_inventory(lab).external_ch
    assert (ext.policy, ext.pki, ext.gpf, ext.channel, ext.pan_id) == ("secmp0037", tmp_path / "ch-pki",
                                                                       "0052494700000002", 20, 0x1A2B)
    assert ext.wan == "tcp://127.0.0.1:4100" and ext.power == CommandPower("relay-cli cycle 3", 30)


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_each_mistake_names_file_line_and_field(case):
    text, line, field, words = MISTAKES[case]
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, "bench/lab.yaml")
    message = str(caught.value)
    assert message.startswith(f"bench/lab.yaml:{line}: "), message
    assert caught.value.line == line and caught.value.field == field, message
    if field:
        assert f": {field}: " in message, message
    assert words in message, message


def _inventory_with(line):
    return parse_inventory("dongles:\n" + GOOD_CH + line, "lab.yaml")


def _environment_with(resource, rig="{serial: s}"):
    """A labgrid environment read by labgrid itself (rig.labgrid), in its rig options form."""
    from rig.labgrid import load_labgrid_env

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "env.yaml"
        path.write_text("targets:\n  a:\n    resources:\n      - " + resource + "\n"
                        "    options: {rig: {ch: " + rig + "}}\n")
        return load_labgrid_env(path)


# (limit, parse a file holding VALUE, field the check names): every range comes from rig.inventory.limits
RANGES = {
    "baudrate": (BAUDRATE, lambda v: _inventory_with(f"    baudrate: {v}\n"), "dongles.ch.baudrate"),
    "uhubctl port": (USB_HUB_PORT, lambda v: _inventory_with(f"    power: {{uhubctl: {{hub: '1-1', port: {v}}}}}\n"),
                     "dongles.ch.power.uhubctl.port"),
    "uhubctl delay": (POWER_OFF_SECONDS,
                      lambda v: _inventory_with(f"    power: {{uhubctl: {{hub: '1-1', port: 1, delay: {v}}}}}\n"),
                      "dongles.ch.power.uhubctl.delay"),
    "sniffer channel": (CHANNEL, lambda v: _inventory_with(f"sniffer: {{url: 'tcp://h:9', channel: {v}}}\n"),
                        "sniffer.channel"),
    "labgrid baudrate": (BAUDRATE, lambda v: _environment_with("RawSerialPort: {name: s, port: /dev/ttyUSB0}",
                                                               f"{{serial: s, baudrate: {v}}}"),
                         "targets.a.options.rig.ch"),
    "labgrid speed": (BAUDRATE, lambda v: _environment_with(f"RawSerialPort: {{name: s, port: /dev/ttyUSB0, speed: {v}}}"),
                      "targets.a.options.rig.ch"),
    "labgrid TCP port": (TCP_PORT, lambda v: _environment_with(f"NetworkSerialPort: {{name: s, host: h, port: {v}}}"),
                         "targets.a.options.rig.ch"),
}


@pytest.mark.parametrize("case", sorted(RANGES))
def test_every_range_check_reads_the_limits_table(case):
    limit, parse, field = RANGES[case]
    parse(limit.lo)
    parse(limit.hi)
    for outside in (limit.lo - 1 if isinstance(limit.lo, int) else limit.lo / 2, limit.hi + 1):
        with pytest.raises(InventoryError) as caught:
            parse(outside)
        assert caught.value.field == field and f" in {limit}" in str(caught.value), str(caught.value)


def test_an_unreadable_file_is_named(tmp_path):
    with pytest.raises(InventoryError, match=r"missing\.yaml: cannot read the inventory"):
        load_inventory(tmp_path / "missing.yaml")


def test_asking_for_a_role_the_file_lacks_names_the_file_and_the_roles_it_has():
    inv = parse_inventory("dongles:\n" + GOOD_CH, "lab.yaml")
    with pytest.raises(InventoryError, match=r"lab.yaml: dongles: no dongle has role 'gpf' \(roles here: ch\)"):
        inv.dongle_for("gpf")


@given(st.binary(min_size=8, max_size=8), st.sampled_from(["", ":", "-"]), st.booleans())
def test_eui64_spellings_normalise_to_upper_hex(raw, sep, upper):
    text = sep.join(f"{b:02x}" for b in raw)
    text = text.upper() if upper else text
    assert normalise_eui64(text) == raw.hex().upper()


@given(st.one_of(st.text(max_size=40), st.builds("{}://{}".format, st.sampled_from(["tcp", "socket", "x"]),
                                                   st.text(max_size=20))))
def test_port_checker_never_crashes(text):
    problem = check_port(text)
    assert problem is None or isinstance(problem, str)
