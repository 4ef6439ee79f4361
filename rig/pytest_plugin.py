"""pytest plugin ``rig`` (entry point ``pytest11``): the same tests on emulated or real dongles.

Options
  ``--rig=sim`` (default)        emulated dongles started in-process, virtual clock
  ``--rig=PATH.yaml``            a hardware inventory (``rig.inventory``), real clock
  ``--rig=labgrid:ENV.yaml``     a labgrid environment (``options: rig:`` maps roles to resources)
  ``--rig-keep-artifacts``       keep every test's artifacts folder, not just failed tests'
  ``--rig-artifacts=DIR``        where the per-test folders go (default ``artifacts/`` in rootdir)

Markers
  ``hardware`` (optionally ``hardware("ch", "hht")``): skipped unless an inventory or labgrid
  environment is given, or when it lacks one of the named roles; the skip reason says which.
  ``slow``: long-running test (deselect with ``-m "not slow"``).

Fixtures
  ``rig_backend``  a :class:`rig.backend.RigBackend`; ``await rig_backend.dongle_path("ch")``
  ``clock``        a ``RealClock`` that ``advance()`` jumps (the backend uses the same)
  ``artifacts_dir``  ``artifacts/<test name>/`` with ``rig.log`` (DEBUG log of rig, firmware shims,
                   bellows, zigpy); on sim the air's ``air.pcap`` too; kept on failure
  ``rig_target``   the parsed ``--rig`` option (session)

Role fixtures ``ch``, ``gpf``, ``esme``, ``hht``, ``ppmid`` (and ``rig_bench``, ``rig_events``, ``air``)
are defined at the end of this module; the pattern they follow::

    @pytest_asyncio.fixture
    async def hht(rig_backend, clock, artifacts_dir):
        path = await rig_backend.dongle_path("hht")          # tcp://127.0.0.1:N on sim, by-id on hardware
        role = HhtRole(path, clock=clock, **rig_backend.serial_settings("hht"))
        ...                                                  # rig_backend.power_cycle("hht") between phases
Works with and without pytest-xdist on sim (each worker starts its own emulated dongles); on hardware
``-n N`` is refused, since workers would share one bench's ports.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from rig.inventory import Inventory, InventoryError, load_inventory, load_labgrid_env

LOG_NAMES = ("rig", "firmware_shims", "bellows", "zigpy")
_REPORT_KEY = pytest.StashKey[dict]()
_TARGET_KEY = pytest.StashKey["RigTarget"]()


@dataclass(frozen=True)
class RigTarget:
    """What ``--rig`` asked for: kind "sim", "inventory" or "labgrid", with the loaded inventory."""

    kind: str
    path: Path | None = None
    inventory: Inventory | None = None

    @property
    def hardware(self) -> bool:
        return self.kind != "sim"

    def describe(self) -> str:
        if self.kind == "sim":
            return "sim (emulated dongles in-process, virtual clock)"
        dongles = ", ".join(f"{d.role}={d.port}" for d in self.inventory.dongles.values())
        return f"{self.kind} {self.path} ({dongles})"


def parse_rig_option(value: str) -> RigTarget:
    """``sim`` | ``PATH.yaml`` | ``labgrid:ENV.yaml`` → RigTarget (files loaded and validated).

    Raises ``pytest.UsageError`` naming the value, or the inventory's file/line/field."""
    value = (value or "sim").strip()
    if value == "sim":
        return RigTarget("sim")
    kind, text = ("labgrid", value[len("labgrid:"):]) if value.startswith("labgrid:") else ("inventory", value)
    path = Path(text).expanduser()
    if path.suffix not in (".yaml", ".yml"):
        raise pytest.UsageError(f"--rig={value}: expected 'sim', an inventory PATH.yaml or labgrid:ENV.yaml")
    if not path.is_file():
        raise pytest.UsageError(f"--rig={value}: {path} does not exist")
    try:
        inventory = load_labgrid_env(path) if kind == "labgrid" else load_inventory(path)
    except InventoryError as exc:
        raise pytest.UsageError(f"--rig={value}: {exc}") from None
    return RigTarget(kind, path, inventory)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "SECMP0037 rig: emulated or real dongles")
    group.addoption("--rig", action="store", default="sim", metavar="sim|PATH.yaml|labgrid:ENV.yaml",
                    help="where dongles come from: 'sim' (emulated, default), a hardware inventory YAML, "
                         "or 'labgrid:' and a labgrid environment YAML")
    group.addoption("--rig-keep-artifacts", action="store_true", default=False,
                    help="keep every test's artifacts folder (default: only failed tests')")
    group.addoption("--rig-artifacts", action="store", default=None, metavar="DIR",
                    help="folder for per-test artifacts (default: artifacts/ under the rootdir)")
    group.addoption("--rig-ppmid-b-install-code", action="store", default=None, metavar="HEX",
                    help="hardware: the install code on the PPMID label for its second identity (B)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware(*roles): needs real radios named by --rig=PATH.yaml or "
                                       "--rig=labgrid:ENV.yaml (skipped otherwise, with the reason)")
    config.addinivalue_line("markers", "slow: long-running test")
    config.addinivalue_line("markers", "rig_policy(name): the CH fixture's inter-PAN policy, gbcs or secmp0037")
    target = parse_rig_option(config.getoption("--rig"))
    workers = config.getoption("numprocesses", default=None)     # pytest-xdist's -n, when loaded
    if target.hardware and workers not in (None, 0) and not hasattr(config, "workerinput"):
        raise pytest.UsageError(
            f"--rig={config.getoption('--rig')} with pytest-xdist -n {workers}: one bench's dongles cannot be "
            "shared between workers (each would open and power-cycle the same ports); run hardware with -n 0")
    config.stash[_TARGET_KEY] = target


def pytest_report_header(config: pytest.Config) -> str:
    return f"rig: {config.stash[_TARGET_KEY].describe()}"


def hardware_skip_reason(target: RigTarget, roles: tuple[str, ...]) -> str | None:
    """Why a ``hardware``-marked test cannot run on ``target`` (None: it can)."""
    if not target.hardware:
        return ("hardware test: needs real dongles; run with --rig=PATH.yaml (a hardware inventory) or "
                "--rig=labgrid:ENV.yaml (now --rig=sim)")
    missing = [role for role in roles if not target.inventory.has_role(role)]
    if missing:
        return f"hardware test needs role(s) {', '.join(missing)}, which {target.path} does not provide"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.stash[_TARGET_KEY]
    for item in items:
        marker = item.get_closest_marker("hardware")
        if marker is None:
            continue
        reason = hardware_skip_reason(target, tuple(marker.args))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    item.stash.setdefault(_REPORT_KEY, {})[report.when] = report
    return report


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def rig_target(pytestconfig: pytest.Config) -> RigTarget:
    return pytestconfig.stash[_TARGET_KEY]


@pytest.fixture
def clock(rig_target: RigTarget):
    """One clock for the test: a ``RealClock`` on sim and hardware alike.  Protocol timers keep real
    pace (bellows' own timeouts hold), and ``await clock.advance(3600)`` jumps an hour at once,
    firing the timers it passes in order — no test waits for the 60-minute window or 18 hours."""
    from rig.clock import RealClock

    return RealClock()


def artifacts_name(nodeid: str) -> str:
    """A folder name for a test: its node id without the path's directories, filesystem-safe."""
    name = nodeid.split("/")[-1]
    name = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", name.replace("::", "__"))
    return name[:180] or "test"


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """``artifacts/<test name>/`` for this test, emptied first; removed on success unless
    ``--rig-keep-artifacts``; holds ``rig.log`` (DEBUG) for the test's duration."""
    config = request.config
    root = config.getoption("--rig-artifacts")
    root = Path(root) if root else Path(config.rootpath) / "artifacts"
    folder = root / artifacts_name(request.node.nodeid)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    handler = logging.FileHandler(folder / "rig.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in LOG_NAMES]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.getEffectiveLevel() > logging.DEBUG:
            lg.setLevel(logging.DEBUG)
    try:
        yield folder
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()
        reports = request.node.stash.get(_REPORT_KEY, {})
        failed = any(rep.failed for rep in reports.values())
        if not failed and not config.getoption("--rig-keep-artifacts"):
            shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture
async def rig_backend(rig_target: RigTarget, clock, artifacts_dir: Path, tmp_path: Path):
    """Dongles for roles: ``await rig_backend.dongle_path(role)``, ``await rig_backend.power_cycle(role)``."""
    from rig.backend import InventoryBackend, LabgridBackend, SimBackend

    if rig_target.kind == "sim":
        state_dir = tmp_path / "rig-nv"
        state_dir.mkdir(exist_ok=True)
        backend = SimBackend(clock, state_dir=state_dir, pcap=artifacts_dir / "air.pcap")
    elif rig_target.kind == "labgrid":
        backend = LabgridBackend(rig_target.inventory, clock)
    else:
        backend = InventoryBackend(rig_target.inventory, clock)
    try:
        yield backend
    finally:
        await backend.close()


# --- the premises: bench and role fixtures ----------------------------------------------------------
#
# ``rig_bench`` is the bench a SECMP0037 scenario runs on (rig.scenarios.bench): on sim, emulated
# dongles provisioned as a factory would (EUI-64, install code, CBKE certificate); on hardware, the
# inventory's dongles read like labels (BackendBench).  The role fixtures give ready role objects on
# it; a test drives them through their own methods (``await hht.power_on(rig_bench.ids.gpf)``).
# ``hht`` and ``ppmid`` share the dual-address PPMID dongle (identity A is the HHT): a test uses one.


def _policy(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("rig_policy")
    return marker.args[0] if marker else "secmp0037"


@pytest_asyncio.fixture
async def rig_bench(rig_target: RigTarget, rig_backend, artifacts_dir: Path, tmp_path: Path, pytestconfig):
    """The premises: ``ch``/``esme``/``ppmid`` dongles, their Entity IDs, install codes and GBCS keys."""
    from rig.scenarios.bench import BackendBench, SimBench

    if rig_target.kind == "sim":
        bench = await SimBench(tmp_path / "bench", pcap=artifacts_dir / "air.pcap").setup()
    else:
        code = pytestconfig.getoption("--rig-ppmid-b-install-code")
        ppmid = rig_target.inventory.dongle_for("ppmid")
        if not code or ppmid is None or len(ppmid.eui64s) != 2:
            pytest.skip("the PPMID's identity B needs its EUI-64 (inventory eui64s) and "
                        "--rig-ppmid-b-install-code")
        bench = await BackendBench(rig_backend, tmp_path / "bench", identity_b=ppmid.eui64s[1],
                                   install_code_b=bytes.fromhex(code)).setup()
    try:
        yield bench
    finally:
        if rig_target.kind == "sim":
            await bench.close()


@pytest.fixture
def rig_events(rig_bench):
    """The structured step log every role writes to (name, virtual time, result)."""
    from rig.events import EventLog

    return EventLog(rig_bench.clock)


@pytest_asyncio.fixture
async def ch(request: pytest.FixtureRequest, rig_bench, rig_events, tmp_path: Path):
    """The CH shim, powered on (policy from ``@pytest.mark.rig_policy("gbcs")``, default secmp0037)."""
    from rig.roles.ch.shim import ChShim

    shim = ChShim(rig_bench.url("ch"), clock=rig_bench.clock, events=rig_events, policy=_policy(request),
                  keys=rig_bench.ids.keys, state_dir=tmp_path / "ch")
    await shim.power_on()
    try:
        yield shim
    finally:
        await shim.power_off()


@pytest.fixture
def gpf(ch):
    """The GPF, which runs inside the CH host (its Entity ID is the HAN's Extended PAN ID)."""
    return ch.gpf


@pytest_asyncio.fixture
async def esme(ch, rig_bench, rig_events):
    """The ESME, commissioned by the DCC (in the CHF device log) and joined to the CH's HAN."""
    import zigpy.types as zt

    from rig.gbcs import Builder, CounterStore, Device, Role
    from rig.roles.meters import EsmeShim, MeterCore
    from rig.transport import open_ezsp
    from rig.zigbee.eui64 import eui_obj

    ids = rig_bench.ids
    builder = Builder(ids.keys)
    ezsp = await open_ezsp(rig_bench.url("esme"))
    shim = EsmeShim(ezsp, MeterCore("ESME", Device.from_store(ids.keys, ids.esme), CounterStore(), builder,
                                    rig_events), rig_bench.clock, rig_events)
    await ch.add_from_wan(builder.ccs01(ids.chf, ids.esme, Role.ESME, ids.install_codes[ids.esme]).to_bytes())
    status = await shim.power_on(int(ch.channel), ch.pan_id, eui_obj(ids.gpf, zt.ExtendedPanId),
                                 ids.link_key(ids.esme), ids.gpf)
    if status != "ok":
        await ezsp.disconnect()
        pytest.fail(f"ESME could not join the CH's HAN: {status}")
    try:
        yield shim
    finally:
        await ezsp.disconnect()


@pytest_asyncio.fixture
async def hht(rig_bench, rig_events):
    """An HHT (identity A of the PPMID dongle) holding its own CCS01; ``await hht.power_on(gpf_id)``."""
    from rig.gbcs import Builder, Role
    from rig.roles.hht import Hht
    from rig.transport import open_ezsp

    ids = rig_bench.ids
    ccs01 = Builder(ids.keys).ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    ezsp = await open_ezsp(rig_bench.url("ppmid"))
    try:
        yield Hht(ezsp, rig_bench.clock, rig_events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
    finally:
        await ezsp.disconnect()


@pytest_asyncio.fixture
async def ppmid(rig_bench, rig_events):
    """The dual-address PPMID, preloaded with the DCC's bundle (CCS01 for B, CS03A1 → ESME, CS03C → GPF)."""
    from rig.gbcs import Builder, Role, generate_bundle
    from rig.roles.ppmid import DualAddressPpmid
    from rig.transport import open_ezsp

    ids = rig_bench.ids
    builder = Builder(ids.keys)
    ccs01_a = builder.ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
    bundle = generate_bundle(ids.keys, ids.ppmid, ids.install_codes[ids.ppmid], builder=builder)
    ezsp = await open_ezsp(rig_bench.url("ppmid"))
    try:
        yield DualAddressPpmid(ezsp, rig_bench.clock, rig_events, identity_a=ids.hht, identity_b=ids.ppmid,
                               install_code_a=ids.install_codes[ids.hht], install_code_b=ids.install_codes[ids.ppmid],
                               ccs01_a=ccs01_a, bundle=[e.gbcs for e in bundle.entries],
                               credentials_b=ids.host_credentials.get(ids.ppmid))
    finally:
        await ezsp.disconnect()


@pytest.fixture
def air(rig_bench):
    """The virtual air on sim (faults, links, taps); None on hardware, where the sniffer is real."""
    return getattr(rig_bench, "air", None)
