"""Power cycling (uhubctl through a fake on PATH, NCP reset on an emulated dongle, labgrid absent),
waiting for a port to come back, and the backends roles will ask for dongle paths."""

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from firmware_shims.ncp.dongle import EmulatedDongle
from rig.backend import InventoryBackend, LabgridBackend, SimBackend, backend_for
from rig.clock import RealClock, VirtualClock
from rig.inventory import Dongle, InventoryError, LabgridPower, UhubctlPower, parse_inventory
from rig.power import PowerError, power_cycle, uhubctl_command, wait_for_ncp, wait_for_port
from rig.transport import open_ezsp


@pytest.fixture
async def tcp_dongle(tmp_path):
    dongle = EmulatedDongle("ch", state_dir=tmp_path)
    await dongle.start_tcp()
    yield dongle
    await dongle.stop()


@pytest.fixture
def fake_uhubctl(tmp_path, monkeypatch):
    """A uhubctl on PATH that records its argv; FAIL_UHUBCTL=1 makes it fail like a hub without switching."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "uhubctl.log"
    script = bindir / "uhubctl"
    script.write_text(f"""#!{sys.executable}
import os, sys
with open({str(log)!r}, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if os.environ.get("FAIL_UHUBCTL"):
    sys.stderr.write("No compatible devices detected!\\n")
    sys.exit(1)
print("Current status for hub 1-1.4 [2109:2813 VIA Labs, Inc. USB2.0 Hub, USB 2.10, 4 ports, ppps]")
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_uhubctl_command_line():
    power = UhubctlPower(hub="1-1.4", port=2, delay=3.5)
    assert uhubctl_command(power) == ["uhubctl", "-l", "1-1.4", "-p", "2", "-a", "cycle", "-d", "3.5"]
    assert uhubctl_command(power, "off") == ["uhubctl", "-l", "1-1.4", "-p", "2", "-a", "off"]
    with pytest.raises(ValueError, match="'toggle'"):
        uhubctl_command(power, "toggle")


async def test_uhubctl_power_cycle_runs_uhubctl_then_waits_for_port_and_ncp(fake_uhubctl, tmp_path):
    emulated = EmulatedDongle("ch", state_dir=tmp_path)
    await emulated.start_pty()
    try:
        dongle = Dongle("ch", str(tmp_path / "ch.pty"), "ch", power=UhubctlPower("1-1.4", 2, 2.0))
        connections = emulated.bytes_in
        assert await power_cycle(dongle) == "uhubctl"
        assert fake_uhubctl.read_text() == "-l 1-1.4 -p 2 -a cycle -d 2\n"
        assert emulated.bytes_in > connections           # the NCP was asked to answer EZSP afterwards
    finally:
        await emulated.stop()


async def test_a_port_that_is_back_but_never_answers_ezsp_fails_naming_it(tmp_path):
    silent = tmp_path / "not-a-dongle"
    silent.touch()
    with pytest.raises(PowerError, match=rf"NCP at {silent} did not answer within 1 s \(last error: .*\) after the power cycle"):
        await wait_for_ncp(Dongle("ch", str(silent), "ch"), 1.0, attempt=0.5)


async def test_uhubctl_failure_reports_its_stderr(fake_uhubctl, monkeypatch, tmp_path):
    monkeypatch.setenv("FAIL_UHUBCTL", "1")
    dongle = Dongle("ch", str(tmp_path), "ch", power=UhubctlPower("1-1.4", 2))
    with pytest.raises(PowerError, match=r"uhubctl -l 1-1.4 -p 2 -a cycle failed: No compatible devices detected"):
        await power_cycle(dongle)


async def test_missing_uhubctl_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    dongle = Dongle("ch", "/dev/null", "ch", power=UhubctlPower("1-1", 1))
    with pytest.raises(PowerError, match="uhubctl is not on PATH"):
        await power_cycle(dongle)


async def test_wait_for_port_times_out_naming_the_port(tmp_path):
    with pytest.raises(PowerError, match=rf"port {tmp_path}/gone did not come back within 0.2 s"):
        await wait_for_port(str(tmp_path / "gone"), 0.2)
    with pytest.raises(PowerError, match=r"port tcp://127.0.0.1:9 did not come back within 0.2 s"):
        await wait_for_port("tcp://127.0.0.1:9", 0.2)


async def test_wait_for_port_returns_when_the_by_id_link_reappears(tmp_path):
    link = tmp_path / "usb-Silicon_Labs-if00-port0"
    asyncio.get_running_loop().call_later(0.15, link.symlink_to, "/dev/null")
    waited = await wait_for_port(str(link), 5)
    assert 0.1 < waited < 2


async def test_ncp_reset_power_cycles_an_emulated_dongle_without_power_control(tcp_dongle):
    before = tcp_dongle.nv.state.boot_counter
    dongle = Dongle("ch", tcp_dongle.url, "ch")
    assert await power_cycle(dongle) == "ncp-reset"
    assert tcp_dongle.nv.state.boot_counter > before          # the NCP rebooted from NV
    ezsp = await open_ezsp(tcp_dongle.url)                    # and the port is usable again
    try:
        (eui,) = await ezsp.getEui64()
        assert eui == tcp_dongle.node.eui64
    finally:
        await ezsp.disconnect()


async def test_inventory_backend_gives_paths_settings_and_power_cycles_by_role(tcp_dongle):
    inv = parse_inventory(f"dongles:\n  bench-ch:\n    port: {tcp_dongle.url}\n    role: ch\n"
                          f"    flow_control: software\n    eui64: '{tcp_dongle.nv.state.effective_eui64()}'\n",
                          "lab.yaml")
    backend = InventoryBackend(inv)
    assert backend.hardware and await backend.dongle_path("ch") == tcp_dongle.url
    assert backend.serial_settings("ch") == {"baudrate": 115200, "flow_control": "software"}
    assert backend.eui64s("ch") == (tcp_dongle.nv.state.effective_eui64(),)
    assert await backend.power_cycle("ch") == "ncp-reset"
    with pytest.raises(InventoryError, match="no dongle has role 'hht'"):
        await backend.dongle_path("hht")
    with pytest.raises(InventoryError, match="'bogus' is not one of"):
        await backend.dongle_path("bogus")


async def test_labgrid_power_without_labgrid_installed_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "labgrid", None)          # absent, whatever this venv holds
    inv = parse_inventory("labgrid: {env: env.yaml}\ndongles:\n  ch:\n    port: /dev/null\n    role: ch\n"
                          "    power: {labgrid: {resource: ch-power}}\n", "lab.yaml", base=tmp_path)
    assert inv.dongle_for("ch").power == LabgridPower("ch-power")
    with pytest.raises(InventoryError, match=r"needs labgrid, which is not installed: pip install"):
        await InventoryBackend(inv).power_cycle("ch")


@pytest.mark.parametrize("clock", [VirtualClock(), RealClock()], ids=["virtual", "real"])
async def test_sim_backend_starts_a_dongle_per_role_and_power_cycles_it(tmp_path, clock):
    backend = SimBackend(clock, state_dir=tmp_path, eui64s={"ppmid": "00DB1234567890B2"})
    try:
        path = await backend.dongle_path("ppmid")
        assert path.startswith("tcp://127.0.0.1:") and await backend.dongle_path("ppmid") == path
        assert backend.eui64s("ppmid") == ("00DB1234567890B2",)
        ezsp = await backend.open_ezsp("ppmid")
        (eui,) = await ezsp.getEui64()
        assert str(eui).replace(":", "").upper() == "00DB1234567890B2"
        boots = backend.dongle("ppmid").nv.state.boot_counter
        assert await backend.power_cycle("ppmid") == "emulated"
        assert backend.dongle("ppmid").nv.state.boot_counter == boots + 1
        await ezsp.disconnect()
        assert await backend.dongle_path("hht") != path
    finally:
        await backend.close()


async def test_backend_for_takes_the_same_spellings_as_the_rig_option(tmp_path):
    (tmp_path / "lab.yaml").write_text("dongles:\n  ch:\n    port: tcp://127.0.0.1:1\n    role: ch\n")
    assert isinstance(backend_for(str(tmp_path / "lab.yaml")), InventoryBackend)
    example_env = Path(__file__).resolve().parents[2] / "examples" / "labgrid-env.yaml"
    assert isinstance(backend_for(f"labgrid:{example_env}"), LabgridBackend)
    sim = backend_for("sim", VirtualClock(), state_dir=tmp_path)
    assert isinstance(sim, SimBackend)
    await sim.close()
    with pytest.raises(ValueError, match="expected 'sim', an inventory PATH.yaml or labgrid:ENV.yaml"):
        backend_for("lab.toml")
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        backend_for(str(tmp_path / "none.yaml"))


async def test_a_power_command_that_fails_or_hangs_is_named_in_one_line():
    from rig.inventory import CommandPower
    from rig.power import run_power_command

    assert await run_power_command(CommandPower("echo relay 3 cycled"), "the CH") == "relay 3 cycled"
    with pytest.raises(PowerError, match=r"^the CH: power command 'echo busy; exit 3' failed: busy$"):
        await run_power_command(CommandPower("echo busy; exit 3"), "the CH")
    with pytest.raises(PowerError, match=r"did not finish in 1 s$"):
        await run_power_command(CommandPower("sleep 30", timeout=1), "the CH")


async def test_an_external_ch_without_power_control_cannot_be_power_cycled(tmp_path):
    from rig.power import power_cycle_external_ch

    inventory = parse_inventory("dongles:\n  e: {port: 'tcp://127.0.0.1:9', role: esme}\n"
                                "external_ch: {policy: secmp0037, pki: p}\n", "lab.yaml", base=tmp_path)
    backend = InventoryBackend(inventory)
    with pytest.raises(PowerError, match="no power control.*external_ch.power"):
        await backend.power_cycle("ch")
    with pytest.raises(PowerError, match="cannot cause a CH power-on"):
        await power_cycle_external_ch(inventory.external_ch)
