"""pytest plugin ``rig`` (entry point ``pytest11``): the same tests on emulated or real dongles.

Options
  ``--rig=sim`` (default)        emulated dongles started in-process, discrete-event time (rig.des)
  ``--rig=PATH.yaml``            a hardware inventory (``rig.inventory``), real clock
  ``--rig=labgrid:ENV.yaml``     a labgrid environment (``options: rig:`` maps roles to resources)
  ``--rig-keep-artifacts``       keep every test's artifacts folder, not just failed tests'
  ``--rig-artifacts=DIR``        where the per-test folders go (default ``artifacts/`` in rootdir)

Markers
  ``hardware`` (optionally ``hardware("ch", "hht")``): skipped unless an inventory or labgrid
  environment is given, or when it lacks one of the named roles; the skip reason says which.
  ``slow``: long-running test (deselect with ``-m "not slow"``).
  ``sim_only``: needs the emulator's insides (the virtual air's faults, an emulated dongle's reset, a
  forked CH writer); skipped with the reason under ``--rig=PATH.yaml`` or ``--rig=labgrid:ENV.yaml``.

Fixtures
  ``rig_backend``  a :class:`rig.backend.RigBackend`; ``await rig_backend.dongle_path("ch")``
  ``clock``        a ``RealClock`` that ``advance()`` jumps (the backend uses the same)
  ``artifacts_dir``  ``artifacts/<test name>/`` with ``rig.log`` (DEBUG log of rig, firmware shims,
                   bellows, zigpy); on sim the air's ``air.pcap`` too; kept on failure
  ``rig_target``   the parsed ``--rig`` option (session)

Role fixtures ``ch``, ``gpf``, ``esme``, ``hht``, ``ppmid`` (and ``premises``, ``rig_events``, ``air``)
are defined at the end of this module; each is one call on the premises builder (``rig.premises``),
which opens the role's dongle through ``rig_backend`` with the inventory's serial settings::

    async def test_hht_pairs(ch, hht, premises):
        await hht.power_on(premises.ids.gpf)                 # tcp://127.0.0.1:N on sim, by-id on hardware
        await premises.power_cycle("ch")                     # the backend's power control
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
            return "sim (emulated dongles in-process, discrete-event time)"
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
    config.addinivalue_line("markers", "sim_only: needs the emulator's insides (air faults, emulated NCP resets); "
                                       "skipped with the reason on real dongles")
    config.addinivalue_line("markers", "rig_policy(name): the CH fixture's inter-PAN policy, gbcs or secmp0037")
    target = parse_rig_option(config.getoption("--rig"))
    workers = config.getoption("numprocesses", default=None)     # pytest-xdist's -n, when loaded
    if target.hardware and workers not in (None, 0) and not hasattr(config, "workerinput"):
        raise pytest.UsageError(
            f"--rig={config.getoption('--rig')} with pytest-xdist -n {workers}: one bench's dongles cannot be "
            "shared between workers (each would open and power-cycle the same ports); run hardware with -n 0")
    config.stash[_TARGET_KEY] = target


@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item):
    """pytest-asyncio's loop for every async test: on sim ``rig.des``'s discrete-event loop (time jumps
    to the next deadline when nothing is ready and no byte is in flight, so ack waits, scan windows
    and bellows' timeouts cost no wall time); on hardware the standard loop, at real pace."""
    import asyncio

    from rig import des

    if config.stash[_TARGET_KEY].hardware:
        return {"asyncio": asyncio.new_event_loop}
    return {"des": des.new_loop}


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


def sim_only_skip_reason(target: RigTarget) -> str | None:
    """Why a ``sim_only``-marked test cannot run on ``target`` (None: it can)."""
    if not target.hardware:
        return None
    return (f"sim_only test: needs the emulator's insides (virtual air faults, emulated NCP resets), "
            f"which {target.kind} {target.path} does not have; run it with --rig=sim")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.stash[_TARGET_KEY]
    for item in items:
        if item.get_closest_marker("sim_only") is not None:
            reason = sim_only_skip_reason(target)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
                continue
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
    """One clock for the test: a ``RealClock`` on sim and hardware alike, reading the loop's time.
    On hardware protocol timers keep real pace; on sim the loop (``rig.des``) jumps over idle waits,
    so they cost no wall time, and bellows' own timeouts move with this clock.  ``await
    clock.advance(3600)`` jumps an hour at once, firing the timers it passes in order — no test waits for the 60-minute window or 18 hours."""
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
async def rig_backend(rig_target: RigTarget, clock, artifacts_dir: Path, tmp_path: Path, pytestconfig):
    """Dongles for roles: ``await rig_backend.dongle_path(role)``, ``await rig_backend.power_cycle(role)``.
    On sim: emulated dongles on one virtual air whose capture is ``artifacts/<test>/air.pcap``."""
    from rig.backend import InventoryBackend, LabgridBackend, SimBackend

    if rig_target.kind == "sim":
        state_dir = tmp_path / "rig-nv"
        state_dir.mkdir(exist_ok=True)
        backend = SimBackend(clock, state_dir=state_dir, pcap=artifacts_dir / "air.pcap")
    else:
        code = pytestconfig.getoption("--rig-ppmid-b-install-code")
        cls = LabgridBackend if rig_target.kind == "labgrid" else InventoryBackend
        backend = cls(rig_target.inventory, clock, ppmid_b_install_code=bytes.fromhex(code) if code else None)
    try:
        yield backend
    finally:
        await backend.close()


# --- the premises and role fixtures --------------------------------------------------------------------
#
# ``premises`` is :class:`rig.premises.Premises` on ``rig_backend``: the ``ch``/``esme``/``ppmid`` dongles,
# their Entity IDs, install codes and GBCS keys, read from the dongles (on sim after the emulated factory
# has provisioned them).  The role fixtures give ready role objects on it; a test drives them through
# their own methods (``await hht.power_on(premises.ids.gpf)``); extra dongles (a second HHT, an attacker)
# come from ``await premises.open("hht2")``.  ``hht`` and ``ppmid`` share the dual-address PPMID dongle
# (identity A is the HHT): a test uses one.


def _policy(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("rig_policy")
    return marker.args[0] if marker else "secmp0037"


@pytest_asyncio.fixture
async def premises(rig_target: RigTarget, rig_backend, tmp_path: Path):
    """The premises (:class:`rig.premises.Premises`), set up on ``rig_backend``."""
    from rig.premises import Premises, PremisesError

    built = Premises(rig_backend, tmp_path / "premises")
    try:
        await built.setup()
    except PremisesError as exc:
        pytest.skip(str(exc)) if rig_target.hardware else pytest.fail(str(exc))
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def rig_events(premises):
    """The structured step log every role writes to (name, virtual time, result)."""
    return premises.events


@pytest_asyncio.fixture
async def ch(request: pytest.FixtureRequest, premises):
    """The CH program, powered on (policy from ``@pytest.mark.rig_policy("gbcs")``, default secmp0037)."""
    shim = premises.ch(_policy(request))
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
async def esme(ch, premises):
    """The ESME, commissioned by the DCC (in the CHF device log) and joined to the CH's HAN."""
    shim, status = await premises.esme(ch)
    if status != "ok":
        pytest.fail(f"ESME could not join the CH's HAN: {status}")
    return shim


@pytest_asyncio.fixture
async def hht(premises):
    """An HHT (identity A of the PPMID dongle) holding its own CCS01; ``await hht.power_on(gpf_id)``."""
    return await premises.hht()


@pytest_asyncio.fixture
async def ppmid(premises):
    """The dual-address PPMID, preloaded with the DCC's bundle (CCS01 for B, CS03A1 → ESME, CS03C → GPF)."""
    return await premises.ppmid()


@pytest.fixture
def air(premises):
    """The virtual air on sim (faults, links, taps); None on hardware, where the sniffer is real."""
    return premises.air
