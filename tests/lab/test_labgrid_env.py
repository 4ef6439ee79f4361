"""labgrid environments: roles resolve to rfc2217:// / socket:// URLs from NetworkSerialPort resources,
RemotePlace resources are looked up by name, and nothing imports labgrid until it is really needed."""

import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from rig.backend import LabgridBackend
from rig.inventory import (
    InventoryError,
    LabgridPower,
    load_labgrid_env,
    network_serial_url,
    parse_labgrid_env,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "labgrid-env.yaml"


def exported(port, protocol="rfc2217", host="exporter-1.lab"):
    """What labgrid hands back for an exported USBSerialPort of an acquired place."""
    return SimpleNamespace(cls="NetworkSerialPort", host=host, port=port, protocol=protocol, speed=115200)


def test_example_environment_maps_the_three_roles_without_importing_labgrid():
    inv = load_labgrid_env(EXAMPLE)
    assert "labgrid" not in sys.modules
    assert inv.kind == "labgrid" and inv.labgrid.target == "zigbee-bench"
    assert sorted(inv.dongles) == ["ch", "hht", "ppmid"]
    ch = inv.dongle_for("ch")
    assert ch.port == "labgrid://zigbee-bench/ch-serial"        # resolved once the place is acquired
    assert ch.power == LabgridPower("ch-power") and ch.eui64 == "00124B0001A00001"
    assert inv.dongle_for("ppmid").eui64s == ("00124B0001A00003", "00124B0001A00004")


def test_acquired_place_resources_resolve_to_rfc2217_and_socket_urls():
    inv = parse_labgrid_env(EXAMPLE.read_text(), str(EXAMPLE), place_resources={
        "ch-serial": exported(20001),
        "hht-serial": exported(20002, protocol="raw"),
        "ppmid-serial": exported(20003, host="exporter-2.lab"),
    })
    assert inv.dongle_for("ch").port == "rfc2217://exporter-1.lab:20001"
    assert inv.dongle_for("hht").port == "socket://exporter-1.lab:20002"
    assert inv.dongle_for("ppmid").port == "rfc2217://exporter-2.lab:20003"
    assert network_serial_url("h", 1, None) == "rfc2217://h:1"
    with pytest.raises(ValueError, match="'telnet'"):
        network_serial_url("h", 1, "telnet")


def test_resolving_a_remote_place_port_without_labgrid_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "labgrid", None)          # absent, whatever this venv holds
    backend = LabgridBackend.from_env(EXAMPLE)
    with pytest.raises(InventoryError, match=r"resolving labgrid://zigbee-bench/ch-serial needs labgrid.*"
                                             r"pip install 'secmp0037-rig\[labgrid\]'"):
        backend.dongle("ch")


STATIC = """\
targets:
  bench:
    resources:
      - NetworkSerialPort: {{name: ch-serial, host: 127.0.0.1, port: {port}, protocol: raw}}
      - RawSerialPort: {{name: hht-serial, port: {pty}, speed: 115200}}
    drivers: []
    options:
      rig:
        ch: {{serial: ch-serial, eui64: "{ch_eui}"}}
        hht: {{serial: hht-serial, eui64: "{hht_eui}"}}
"""


def test_static_resources_resolve_without_a_coordinator(tmp_path):
    inv = parse_labgrid_env(STATIC.format(port=3001, pty="/dev/pts/7", ch_eui="0" * 15 + "1", hht_eui="0" * 15 + "2"),
                            "env.yaml")
    assert inv.dongle_for("ch").port == "socket://127.0.0.1:3001"
    assert inv.dongle_for("hht").port == "/dev/pts/7" and inv.dongle_for("hht").baudrate == 115200


@pytest.mark.parametrize(("text", "where"), [
    (("targets:\n  a:\n    resources: {RemotePlace: {name: p}}\n    options:\n      rig:\n        ch: {serial: s, power: pw}\n"
     "    drivers:\n      - USBPowerDriver: {name: other}\n"), "env.yaml:6: targets.a.options.rig.ch.power: no driver named 'pw'"),
    ("targets:\n  a:\n    resources: []\n    options:\n      rig:\n        ch: {serial: s}\n",
     "env.yaml:6: targets.a.options.rig.ch.serial: no resource named 's'"),
    ("targets:\n  a:\n    options: {rig: {ch: {serial: s}}}\n  b:\n    options: {rig: {hht: {serial: t}}}\n",
     "env.yaml:2: targets: exactly one target needs options: rig:"),
    ("targets:\n  a:\n    resources: {RemotePlace: {name: p}}\n    options:\n      rig:\n        coordinator: {serial: s}\n",
     "env.yaml:6: targets.a.options.rig.coordinator: 'coordinator' is not one of"),
    (("targets:\n  a:\n    resources:\n      - NetworkSerialPort: {name: s, host: h, port: 1, protocol: telnet}\n"
     "    options: {rig: {ch: {serial: s}}}\n"), "env.yaml:4: targets.a.resources.NetworkSerialPort.protocol: 'telnet'"),
    (("targets:\n  a:\n    resources:\n      - USBSerialPort: {name: s, match: {ID_SERIAL_SHORT: x}}\n"
     "    options: {rig: {ch: {serial: s}}}\n"), ("env.yaml:4: targets.a.resources.USBSerialPort: resource class "
                                                "USBSerialPort cannot be opened")),
])
def test_environment_mistakes_name_file_line_and_field(text, where):
    with pytest.raises(InventoryError) as caught:
        parse_labgrid_env(text, "env.yaml")
    assert str(caught.value).startswith(where), str(caught.value)


def test_hardware_tests_run_through_a_labgrid_environment_of_exported_ports(pytester, dongles):
    """ser2net-style raw TCP (socket://) and a local RawSerialPort (pty), named in a labgrid env."""
    ch = dongles.start("ch", transport="tcp")
    hht = dongles.start("hht", transport="pty")
    port = int(ch.url.rsplit(":", 1)[1])
    pytester.makefile(".yaml", env=textwrap.dedent(STATIC.format(
        port=port, pty=hht.url, ch_eui=ch.nv.state.effective_eui64(), hht_eui=hht.nv.state.effective_eui64())))
    pytester.makepyfile(test_lg="""
        import pytest
        from rig.transport import open_ezsp

        @pytest.mark.hardware("ch", "hht")
        @pytest.mark.parametrize("role", ["ch", "hht"])
        async def test_reads_eui64(rig_backend, role):
            assert rig_backend.kind == "labgrid"
            path = await rig_backend.dongle_path(role)
            ezsp = await open_ezsp(path, **rig_backend.serial_settings(role))
            (eui,) = await ezsp.getEui64()
            await ezsp.disconnect()
            assert str(eui).replace(":", "").upper() == rig_backend.eui64s(role)[0]
    """)
    result = pytester.runpytest("--rig=labgrid:env.yaml", "-m", "hardware")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"rig: labgrid env.yaml (ch=socket://127.0.0.1:{port}, hht={hht.url})"])
    assert "labgrid" not in sys.modules
