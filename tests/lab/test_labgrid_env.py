"""labgrid the labgrid way: labgrid's Environment reads the file (``!template`` included), the rig's
EzspDriver is registered with labgrid's target factory and bound to SerialPort / NetworkSerialPort,
bellows opens its ``url``, RigStrategy power-cycles through a PowerProtocol driver, and the rig's
first format (``options: rig:``) still loads."""

import asyncio
import textwrap
from pathlib import Path

import pytest
from labgrid import Environment, Target
from labgrid.binding import StateError
from labgrid.factory import target_factory
from labgrid.resource import NetworkSerialPort, RawSerialPort

import rig.labgrid
from rig.backend import LabgridBackend
from rig.inventory import InventoryError, LabgridPower
from rig.labgrid import EzspDriver, LabgridRig, RigStrategy, Status, load_labgrid_env, network_serial_url
from rig.transport import open_ezsp

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "labgrid-env.yaml"


def on_real_loop(coro):
    """Dongles served from another thread keep real pace: the standard loop, not rig.des's jumps."""
    return asyncio.run(coro)


async def read_eui64(url, settings):
    ezsp = await open_ezsp(url, **settings)
    try:
        (eui,) = await ezsp.getEui64()
    finally:
        await ezsp.disconnect()
    return str(eui).replace(":", "").upper()


def write_env(folder: Path, text: str, name: str = "env.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_driver_and_strategy_are_registered_with_labgrids_target_factory():
    assert target_factory.drivers["EzspDriver"] is EzspDriver is rig.labgrid.EzspDriver
    assert target_factory.drivers["RigStrategy"] is RigStrategy
    assert EzspDriver.bindings == {"port": {"SerialPort", "NetworkSerialPort"}}
    assert RigStrategy.bindings == {"power": "PowerProtocol", "ezsp": "EzspDriver"}


def test_url_is_the_device_path_or_the_socket_and_rfc2217_url_and_needs_an_active_driver():
    target = Target("bench")
    RawSerialPort(target, "local", port="/dev/ttyUSB0", speed=230400)
    NetworkSerialPort(target, "raw", host="127.0.0.1", port=4001, protocol="raw")
    NetworkSerialPort(target, "telnet", host="exporter.lab", port=4002)        # labgrid's default: rfc2217
    urls = {}
    for name in ("local", "raw", "telnet"):
        target.set_binding_map({"port": name})
        driver = EzspDriver(target, name, flow_control="hardware")
        with pytest.raises(StateError):
            _ = driver.url                                                  # labgrid's lifecycle first
        target.activate(driver)
        urls[name] = (driver.url, driver.serial_settings())
    assert urls == {"local": ("/dev/ttyUSB0", {"baudrate": 230400, "flow_control": "hardware"}),
                    "raw": ("socket://127.0.0.1:4001", {"baudrate": 115200, "flow_control": "hardware"}),
                    "telnet": ("rfc2217://exporter.lab:4002", {"baudrate": 115200, "flow_control": "hardware"})}
    assert network_serial_url("h", 1, None) == "rfc2217://h:1"
    with pytest.raises(ValueError, match="'telnet'"):
        network_serial_url("h", 1, "telnet")


def test_example_environment_names_its_roles_without_asking_the_coordinator():
    lab = LabgridRig.from_file(EXAMPLE)
    assert isinstance(lab.env, Environment) and lab.env.targets == {}         # no target made yet
    assert sorted(lab.roles) == ["ch", "esme", "ppmid"]              # the premises' dongles, as in --help
    assert {role: (e.target, e.driver) for role, e in lab.roles.items()} == {
        "ch": ("zigbee-bench", "ch"), "esme": ("zigbee-bench", "esme"), "ppmid": ("zigbee-bench", "ppmid")}
    assert lab.env.config.get_option("coordinator_address") == "labgrid-coordinator.lab.example:20408"


def test_bellows_opens_the_drivers_url_on_network_and_local_ports_of_a_template_environment(
        dongles, tmp_path, monkeypatch):
    """NetworkSerialPort (raw TCP, host from an LG_ variable) and RawSerialPort (the pty's stable link
    beside the file, $BASE): labgrid's !template resolves both."""
    ch = dongles.start("ch", transport="tcp")
    hht = dongles.start("hht", transport="pty")          # state_dir/hht.pty -> /dev/pts/N
    monkeypatch.setenv("LG_RIG_HOST", "127.0.0.1")
    env = write_env(tmp_path, f"""\
        imports: [rig.labgrid]
        targets:
          ch:
            resources:
              NetworkSerialPort: {{host: !template "$LG_RIG_HOST", port: {ch.url.rsplit(":", 1)[1]}, protocol: raw}}
            drivers:
              EzspDriver: {{eui64: "{ch.nv.state.effective_eui64()}"}}
          bench-2:
            resources:
              RawSerialPort: {{port: !template "$BASE/hht.pty", speed: 115200}}
            drivers:
              EzspDriver: {{role: hht, eui64s: ["{hht.nv.state.effective_eui64()}"]}}
        """)
    backend = LabgridBackend.from_env(env)
    assert backend.kind == "labgrid" and backend.hardware
    ch_url = on_real_loop(backend.dongle_path("ch"))
    assert ch_url == f"socket://127.0.0.1:{ch.url.rsplit(':', 1)[1]}"
    assert on_real_loop(backend.dongle_path("hht")) == str(tmp_path / "hht.pty")
    for role, dongle in (("ch", ch), ("hht", hht)):
        eui = on_real_loop(read_eui64(on_real_loop(backend.dongle_path(role)), backend.serial_settings(role)))
        assert eui == backend.eui64s(role)[0] == dongle.nv.state.effective_eui64()
    assert ch.connections >= 1 and hht.bytes_in > 0
    assert backend.describe() == f"labgrid {env} (ch={ch_url}, hht={tmp_path / 'hht.pty'})"
    backend.labgrid.close()


def test_rig_strategy_power_cycles_the_dongle_through_its_power_protocol_driver(
        dongles, emulated_power, tmp_path):
    ch = dongles.start("ch", transport="tcp")
    emulated_power.wire(ch)
    env = write_env(tmp_path, f"""\
        targets:
          ch:
            resources:
              - NetworkSerialPort: {{name: ch-serial, host: 127.0.0.1, port: {ch.url.rsplit(":", 1)[1]}, protocol: raw}}
            drivers:
              - EzspDriver: {{name: ch-ncp, role: ch}}
              - EmulatedPowerDriver: {{name: ch-power, dongle: ch}}
              - RigStrategy: {{bindings: {{power: ch-power, ezsp: ch-ncp}}}}
        """)
    backend = LabgridBackend.from_env(env)
    on_real_loop(backend.ready())
    strategy = backend.labgrid.strategies["ch"]
    assert strategy.status == Status.on and emulated_power.log == [("ch", "on")]   # the rig powers it on
    assert backend.dongle("ch").power == LabgridPower("RigStrategy")
    boots = ch.nv.state.boot_counter

    assert on_real_loop(backend.power_cycle("ch")) == "labgrid"

    assert emulated_power.log == [("ch", "on"), ("ch", "off"), ("ch", "on")]
    # two boots: the power loss (off), then the ASH reset of the rig's check that the NCP answers again
    assert ch.nv.state.boot_counter == boots + 2
    assert strategy.status == Status.on
    assert on_real_loop(read_eui64(on_real_loop(backend.dongle_path("ch")), backend.serial_settings("ch"))) == \
        ch.nv.state.effective_eui64()
    strategy.transition("off")                                   # powered off: nothing to open
    with pytest.raises(StateError):
        _ = strategy.ezsp.url
    strategy.transition("on")
    assert strategy.ezsp.url == on_real_loop(backend.dongle_path("ch"))
    backend.labgrid.close()


OPTIONS_FORMAT = """\
targets:
  bench:
    resources:
      - NetworkSerialPort: {{name: ch-serial, host: 127.0.0.1, port: {port}, protocol: raw}}
      - RawSerialPort: {{name: hht-serial, port: {pty}, speed: 115200}}
    drivers:
      - EmulatedPowerDriver: {{name: ch-power, dongle: ch}}
    options:
      rig:
        ch: {{serial: ch-serial, power: ch-power, eui64: "{ch_eui}", flow_control: software}}
        hht: {{serial: hht-serial, eui64: "{hht_eui}"}}
"""


def test_the_options_rig_format_still_loads_and_cycles_through_the_named_power_driver(
        dongles, emulated_power, tmp_path):
    ch = dongles.start("ch", transport="tcp")
    hht = dongles.start("hht", transport="pty")
    emulated_power.wire(ch)
    env = write_env(tmp_path, OPTIONS_FORMAT.format(
        port=ch.url.rsplit(":", 1)[1], pty=hht.url, ch_eui=ch.nv.state.effective_eui64(),
        hht_eui=hht.nv.state.effective_eui64()))
    backend = LabgridBackend.from_env(env)
    on_real_loop(backend.ready())
    # the rig added an EzspDriver per role to labgrid's target, bound to the named resource
    target = backend.labgrid.env.get_target("bench")
    assert {d.name: d.port.name for d in target.drivers if isinstance(d, EzspDriver)} == \
        {"ch": "ch-serial", "hht": "hht-serial"}
    assert backend.serial_settings("ch") == {"baudrate": 115200, "flow_control": "software"}
    assert backend.dongle("ch").power == LabgridPower("ch-power") and backend.dongle("hht").power is None
    boots = ch.nv.state.boot_counter, hht.nv.state.boot_counter
    assert on_real_loop(backend.power_cycle("ch")) == "labgrid"          # PowerProtocol.cycle()
    assert on_real_loop(backend.power_cycle("hht")) == "ncp-reset"       # no power control: ASH RST
    assert emulated_power.log == [("ch", "off"), ("ch", "on")]
    # the CH: its power loss and the rig's EZSP check after it (bellows' start-up resets once more on an
    # EZSP v13 firmware: +3 under make test-v13); the HHT: the ASH reset alone
    assert ch.nv.state.boot_counter - boots[0] in (2, 3) and hht.nv.state.boot_counter == boots[1] + 1
    backend.labgrid.close()


def test_hardware_tests_run_through_a_labgrid_environment_of_exported_ports(pytester, dongles):
    """``--rig=labgrid:ENV.yaml``: raw TCP (socket://) and a local RawSerialPort (pty) in the options form."""
    ch = dongles.start("ch", transport="tcp")
    hht = dongles.start("hht", transport="pty")
    port = int(ch.url.rsplit(":", 1)[1])
    pytester.makefile(".yaml", env=OPTIONS_FORMAT.format(
        port=port, pty=hht.url, ch_eui=ch.nv.state.effective_eui64(), hht_eui=hht.nv.state.effective_eui64())
        .replace("      - EmulatedPowerDriver: {name: ch-power, dongle: ch}\n", "      []\n")
        .replace(", power: ch-power", ""))
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


MISTAKES = [
    ("targets:\n  a:\n    resources: []\n    options:\n      rig:\n        ch: {serial: s}\n",
     "targets.a.options.rig.ch.serial: no serial resource named 's' in targets.a"),
    (("targets:\n  a:\n    resources: {RawSerialPort: {name: s, port: /dev/null}}\n    drivers: {}\n"
     "    options: {rig: {ch: {serial: s, power: pw}}}\n"),
     "targets.a.options.rig.ch.power: no power driver named 'pw' in targets.a.drivers"),
    ("targets:\n  a:\n    options: {rig: {coordinator: {serial: s}}}\n",
     "targets.a.options.rig.coordinator: 'coordinator' is not one of ch, hht"),
    ("targets:\n  a:\n    options: {rig: {ch: {serial: s, colour: red}}}\n",
     "targets.a.options.rig.ch.colour: unknown key"),
    ("targets:\n  bench:\n    resources: {RawSerialPort: {port: /dev/null}}\n    drivers: {EzspDriver: {}}\n",
     "targets.bench.drivers.EzspDriver: plays no role: give it role: ROLE"),
    ("targets:\n  ch:\n    drivers: {EzspDriver: {}}\n  hht:\n    drivers: {EzspDriver: {role: ch}}\n",
     "targets.hht.drivers.EzspDriver: role 'ch' is already played by targets.ch.drivers.EzspDriver"),
    ("targets:\n  ch:\n    resources: {RawSerialPort: {port: /dev/null}}\n    drivers: {EzspDriver: {eui64: '12'}}\n",
     "targets.ch: eui64: '12' is not an EUI-64"),
    (("targets:\n  ch:\n    resources: {RawSerialPort: {port: /dev/null}}\n"
     "    drivers: {EzspDriver: {flow_control: rts}}\n"), "targets.ch: flow_control 'rts' is not one of none"),
    (("targets:\n  ch:\n    resources: {NetworkSerialPort: {host: h, port: 1, protocol: telnet}}\n"
     "    drivers: {EzspDriver: {}}\n"), "targets.ch: NetworkSerialPort protocol 'telnet' is not 'rfc2217' or 'raw'"),
    ("targets:\n  ch:\n    resources: {USBSerialPot: {}}\n    drivers: {EzspDriver: {}}\n",
     "targets.ch: unknown resource class USBSerialPot"),
    ("targets:\n  ch:\n    drivers: {EzspDriver: {}}\n",
     "targets.ch: binding EzspDriver failed: no supplier matching {"),
    ("targets:\n  ch:\n    resources: {RawSerialPort: {port: !template '$LG_NOT_SET'}}\n",
     "refers to unknown variable 'LG_NOT_SET'"),
    ("targets:\n  a:\n    resources: {}\n", "targets: no target has an EzspDriver"),
    ("targets: [\n", "Error in configuration file"),
]


@pytest.mark.parametrize(("text", "words"), MISTAKES, ids=[w.split(":")[0] + f"-{i}" for i, (_, w) in enumerate(MISTAKES)])
def test_environment_mistakes_are_one_line_naming_the_file_and_the_field(tmp_path, monkeypatch, text, words):
    monkeypatch.delenv("LG_NOT_SET", raising=False)
    path = tmp_path / "env.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_labgrid_env(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message, message


def test_a_missing_environment_file_is_named(tmp_path):
    with pytest.raises(InventoryError, match=r"none\.yaml: cannot read the labgrid environment"):
        LabgridBackend.from_env(tmp_path / "none.yaml")


def test_one_target_can_be_chosen_by_name(tmp_path):
    env = write_env(tmp_path, """\
        targets:
          a: {resources: {RawSerialPort: {port: /dev/null}}, drivers: {EzspDriver: {role: ch}}}
          b: {resources: {RawSerialPort: {port: /dev/zero}}, drivers: {EzspDriver: {role: ch}}}
        """)
    assert load_labgrid_env(env, target="b").dongle_for("ch").port == "/dev/zero"
    with pytest.raises(InventoryError, match="targets.c: no such target"):
        load_labgrid_env(env, target="c")


ROLE_FIXTURE_TESTS = """
    import pytest
    from labgrid import Environment

    @pytest.mark.hardware("ch", "esme", "ppmid")
    @pytest.mark.rig_policy("gbcs")
    async def test_the_ch_fixture_comes_from_labgrids_env(env, rig_target, rig_backend, premises, ch, gpf):
        assert isinstance(env, Environment) and rig_target.labgrid.env is env     # labgrid's own env fixture
        assert rig_backend.kind == "labgrid" and rig_backend.labgrid is rig_target.labgrid
        assert set(env.targets) == {"ch", "esme", "ppmid"}
        assert await rig_backend.dongle_path("ch") == env.get_target("ch")[rig_target.labgrid.drivers["ch"].__class__].url
        assert premises.ids.gpf == rig_backend.eui64s("ch")[0]                 # read from the CH dongle
        assert ch.core.policy == "gbcs" and ch.core.interpan_open              # the CH program is up
        assert gpf is ch.gpf
"""


def test_lg_env_feeds_the_rigs_role_fixtures(pytester, dongles, tmp_path):
    """labgrid's pytest plugin makes the Environment (``--lg-env``); the rig's plugin takes it as its
    backend: the premises, CH and GPF fixtures run on the dongles its EzspDrivers name."""
    from rig.backend import SimBackend
    from rig.clock import RealClock

    async def factory():                 # a factory floor: provisioned dongles on one air, served on TCP
        backend = SimBackend(RealClock(), state_dir=tmp_path / "nv")
        await backend.manufacture(["ch", "esme", "ppmid"])
        urls = {role: await backend.dongle_path(role) for role in ("ch", "esme", "ppmid")}
        return backend, urls

    backend, urls = dongles.call(factory())
    try:
        label = backend.label("ppmid")
        targets = "".join(
            f"  {role}:\n"
            f"    resources: {{NetworkSerialPort: {{host: 127.0.0.1, port: {url.rsplit(':', 1)[1]}, protocol: raw}}}}\n"
            f"    drivers: {{EzspDriver: {{eui64s: {list(label.eui64s if role == 'ppmid' else backend.eui64s(role))}}}}}\n"
            for role, url in urls.items())
        pytester.makefile(".yaml", env="imports: [rig.labgrid]\ntargets:\n" + targets)
        pytester.makepyfile(test_roles=ROLE_FIXTURE_TESTS)
        code_b = label.install_codes[label.eui64s[1]].hex()
        result = pytester.runpytest("--lg-env=env.yaml", f"--rig-ppmid-b-install-code={code_b}", "-rs")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"rig: labgrid env.yaml (ch=socket://127.0.0.1:{urls['ch'].rsplit(':', 1)[1]}, *"])
    finally:
        dongles.call(backend.close())


def test_lg_env_and_rig_option_together_are_refused(pytester):
    pytester.makefile(".yaml", env="targets: {}\n")
    pytester.makepyfile(test_x="def test_a(): pass\n")
    result = pytester.runpytest("--lg-env=env.yaml", "--rig=labgrid:env.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --rig=labgrid:env.yaml and --lg-env=env.yaml: give one of them*"])


def test_an_lg_env_without_dongles_stops_the_run_naming_it(pytester):
    pytester.makefile(".yaml", env="targets:\n  main:\n    resources: {RawSerialPort: {port: /dev/null}}\n")
    pytester.makepyfile(test_x="def test_a(): pass\n")
    result = pytester.runpytest("--lg-env=env.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --lg-env=env.yaml: env.yaml: targets: no target has an EzspDriver*"])


def test_a_power_driver_that_fails_to_switch_on_is_one_line_naming_the_strategy(tmp_path):
    env = write_env(tmp_path, """\
        targets:
          ch:
            resources: {RawSerialPort: {port: /dev/null}}
            drivers:
              - EzspDriver: {}
              - ExternalPowerDriver: {cmd_on: "false", cmd_off: "true"}
              - RigStrategy: {name: ch-strategy}
        """)
    with pytest.raises(InventoryError) as caught:
        load_labgrid_env(env)
    message = str(caught.value)
    assert message.startswith(f"{env}: targets.ch.drivers.EzspDriver: powering on through ch-strategy failed: "
                              "StrategyError: RigStrategy is in broken state"), message
    assert "\n" not in message
