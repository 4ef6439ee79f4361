"""pytest plugin ``rig`` (entry point ``pytest11``): the same tests on emulated or real dongles.

Options
  ``--rig=sim`` (default)        emulated dongles started in-process, discrete-event time (rig.des)
  ``--rig=PATH.yaml``            a hardware inventory (``rig.inventory``), real clock
  ``--rig=labgrid:ENV.yaml``     a labgrid environment (``EzspDriver`` per role; see ``rig.labgrid``)
  ``--lg-env=ENV.yaml``          the same through labgrid's own pytest plugin: its ``env`` (the
                                 ``Environment`` labgrid made, ``LG_ENV`` too) is the rig's backend
  ``--rig-keep-artifacts``       keep every test's artifacts folder, not just failed tests'
  ``--rig-artifacts=DIR``        where the per-test folders go (default ``artifacts/`` in rootdir)

Markers and what runs where
  ``hardware`` (optionally ``hardware("ch", "hht")``): bench-runnable — the test reaches dongles only
  through the role fixtures (``rig_backend``, ``premises``, ``ch``, ``hht``, ...), so it runs on emulated
  dongles by default AND on an inventory/labgrid environment's dongles; there it is skipped, with the
  reason, when the bench lacks one of the named roles.  ``-m hardware`` selects the bench suite.
  ``sim_only`` (optionally ``sim_only("why")``): needs the emulator's insides (air faults, NCP
  internals); skipped on an inventory/labgrid environment with the reason.
  Under ``--rig=PATH.yaml``/``labgrid:``: a test that is neither ``hardware`` nor ``sim_only`` and uses
  no dongle fixture (codecs, crypto, a test that starts its own emulated dongles) runs as on sim; one
  that asks for a dongle fixture (``DONGLE_FIXTURES``, all resting on ``rig_backend``) without being
  marked ``hardware`` is skipped as
  emulation-only (it was never declared bench-runnable), and one asking for ``air`` is ``sim_only``.
  Before the first dongle test, every dongle of the inventory must answer EZSP within
  ``--rig-answer-timeout`` seconds; one that does not fails that test's set-up naming it (dongle name,
  role, port, the error) and stops the run — a dead bench is never a pass nor "nothing collected".
  ``over_the_air``: judges the CH over the air only, so it also runs when the inventory's CH is external
  (``external_ch:``, a device under test); there every other dongle test is skipped with the reason
  (it needs the rig's own CH program).
  ``slow``: long-running test (deselect with ``-m "not slow"``).

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
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rig.inventory import Inventory, InventoryError, load_inventory, require_labgrid

LOG_NAMES = ("rig", "firmware_shims", "bellows", "zigpy")
_REPORT_KEY = pytest.StashKey[dict]()
_TARGET_KEY = pytest.StashKey["RigTarget"]()


@dataclass(frozen=True)
class RigTarget:
    """What ``--rig`` asked for: kind "sim", "inventory" or "labgrid", with the loaded inventory."""

    kind: str
    path: Path | None = None
    inventory: Inventory | None = None
    labgrid: Any = None        # labgrid: the rig.labgrid.LabgridRig over the Environment

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
        if kind == "labgrid":
            return labgrid_target(path)
        inventory = load_inventory(path)
    except InventoryError as exc:
        raise pytest.UsageError(f"--rig={value}: {exc}") from None
    return RigTarget(kind, path, inventory)


def labgrid_target(path: Path, env: Any = None) -> RigTarget:
    """A labgrid RigTarget: labgrid's ``Environment`` (``env``, or one made from ``path``), its targets
    made and each role's EzspDriver activated.  Raises InventoryError."""
    require_labgrid(f"the labgrid environment {path}")
    from rig.labgrid import LabgridRig

    lab = LabgridRig(env, source=str(path)) if env is not None else LabgridRig.from_file(path)
    return RigTarget("labgrid", path, lab.resolve(), lab)


def lg_env_option(config: pytest.Config) -> str | None:
    """labgrid's ``--lg-env`` (or ``LG_ENV``) when labgrid's pytest plugin is loaded."""
    if not hasattr(config.option, "lg_env"):
        return None
    return config.option.lg_env or os.environ.get("LG_ENV") or None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "SECMP0037 rig: emulated or real dongles")
    group.addoption("--rig", action="store", default="sim", metavar="sim|PATH.yaml|labgrid:ENV.yaml",
                    help="where dongles come from: 'sim' (emulated, default), a hardware inventory YAML, "
                         "or 'labgrid:' and a labgrid environment YAML")
    group.addoption("--rig-keep-artifacts", action="store_true", default=False,
                    help="keep every test's artifacts folder (default: only failed tests')")
    group.addoption("--rig-artifacts", action="store", default=None, metavar="DIR",
                    help="folder for per-test artifacts (default: artifacts/ under the rootdir)")
    group.addoption("--rig-ezsp-version", action="store", default=None, metavar="N",
                    help="sim: the EZSP version of every emulated dongle's firmware (e.g. 13 for EmberZNet 7.4; "
                         "default: the emulator's default, v14)")
    group.addoption("--rig-answer-timeout", action="store", type=float, default=20.0, metavar="SECONDS",
                    help="hardware: how long each inventory dongle may take to answer EZSP before the run stops "
                         "naming it (default 20)")
    group.addoption("--rig-ppmid-b-install-code", action="store", default=None, metavar="HEX",
                    help="hardware: the install code on the PPMID label for its second identity (B)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware(*roles): bench-runnable: runs on emulated dongles and on "
                                       "--rig=PATH.yaml / --rig=labgrid:ENV.yaml (skipped there without the roles)")
    config.addinivalue_line("markers", "sim_only(why): needs the emulator's insides (air faults, NCP internals); "
                                       "skipped on an inventory or labgrid environment")
    config.addinivalue_line("markers", "slow: long-running test")
    config.addinivalue_line("markers", "over_the_air: judges the CH over the air only; runs against an external CH "
                                       "(inventory external_ch) too")
    config.addinivalue_line("markers", "rig_policy(name): the CH fixture's inter-PAN policy, gbcs or secmp0037")
    lg_env = lg_env_option(config)
    rig_value = (config.getoption("--rig") or "sim").strip()
    if lg_env and rig_value != "sim":
        raise pytest.UsageError(f"--rig={rig_value} and --lg-env={lg_env}: give one of them (--lg-env is "
                                "labgrid's own spelling of --rig=labgrid:ENV.yaml)")
    # --lg-env: labgrid's plugin makes the Environment after this hook (trylast); pytest_sessionstart
    # turns it into the rig's target
    target = RigTarget("labgrid", Path(lg_env)) if lg_env else parse_rig_option(rig_value)
    workers = config.getoption("numprocesses", default=None)     # pytest-xdist's -n, when loaded
    if target.hardware and workers not in (None, 0) and not hasattr(config, "workerinput"):
        raise pytest.UsageError(
            f"--rig={config.getoption('--rig')} with pytest-xdist -n {workers}: one bench's dongles cannot be "
            "shared between workers (each would open and power-cycle the same ports); run hardware with -n 0")
    version = config.getoption("--rig-ezsp-version")
    if version is not None and target.hardware:
        raise pytest.UsageError(f"--rig-ezsp-version={version} chooses emulated firmware; with "
                                f"--rig={config.getoption('--rig')} the dongles' own firmware speaks")
    if version is not None:
        import os

        from rig.sim import EZSP_VERSION_ENV, SimError, default_ezsp_version

        os.environ[EZSP_VERSION_ENV] = str(version)        # xdist workers inherit it; rig.sim reads it
        try:
            default_ezsp_version()
        except SimError as exc:
            raise pytest.UsageError(f"--rig-ezsp-version={version}: {exc}") from None
    config.stash[_TARGET_KEY] = target


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """``--lg-env``: the Environment labgrid's plugin made is the rig's backend; its targets are made
    here, before the report header names the dongles and before collection skips hardware tests."""
    config = session.config
    target = config.stash[_TARGET_KEY]
    if target.kind != "labgrid" or target.labgrid is not None:
        if target.labgrid is not None:
            config.add_cleanup(target.labgrid.close)
        return
    from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY

    try:
        target = labgrid_target(target.path, config.stash[LABGRID_ENV_KEY])
    except InventoryError as exc:
        raise pytest.UsageError(f"--lg-env={target.path}: {exc}") from None
    config.add_cleanup(target.labgrid.close)
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


#: the fixtures that reach dongles (all through ``rig_backend``, so a test using one uses it — a test's own
#: fixture of the same name that does not is not counted): bench-runnable only when marked ``hardware``
DONGLE_FIXTURES = ("rig_backend", "premises", "rig_events", "ch", "gpf", "esme", "hht", "ppmid", "air")


def skip_reason(target: RigTarget, *, hardware: tuple[str, ...] | None, sim_only: str | None,
                fixtures: tuple[str, ...] = (), over_the_air: bool = False) -> str | None:
    """Why a test cannot run on ``target`` (None: it can).  ``hardware``: the roles of its ``hardware``
    marker (None when unmarked); ``sim_only``: its ``sim_only`` reason ("" when marked without one,
    None when unmarked); ``fixtures``: the fixtures it uses."""
    if not target.hardware:
        return None                                  # emulated dongles: every test runs
    where = f"--rig={target.path}" if target.kind == "inventory" else f"--rig=labgrid:{target.path}"
    if sim_only is not None:
        return f"sim_only: needs the emulator's insides{f' ({sim_only})' if sim_only else ''}; not run on {where}"
    dongles = "rig_backend" in fixtures
    if dongles and "air" in fixtures:
        return f"sim_only: uses the virtual air (fixture 'air'); not run on {where}"
    if hardware is None:
        if dongles:
            return (f"emulation only: uses the rig's dongles but is not marked hardware (bench-runnable); "
                    f"not run on {where}")
        return None
    if target.inventory.external_ch is not None and not over_the_air:
        return (f"needs the rig's own CH program (its insides); the CH of {target.path} is external "
                f"(only over_the_air tests run against it)")
    missing = [role for role in hardware if not target.inventory.has_role(role)]
    if missing:
        return f"hardware test needs role(s) {', '.join(missing)}, which {target.path} does not provide"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.stash[_TARGET_KEY]
    for item in items:
        hardware = item.get_closest_marker("hardware")
        sim_only = item.get_closest_marker("sim_only")
        reason = skip_reason(target, hardware=None if hardware is None else tuple(hardware.args),
                             sim_only=None if sim_only is None else " ".join(map(str, sim_only.args)),
                             fixtures=tuple(getattr(item, "fixturenames", ())),
                             over_the_air=item.get_closest_marker("over_the_air") is not None)
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


_BENCH_KEY = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def rig_bench(request: pytest.FixtureRequest, rig_target: RigTarget) -> RigTarget:
    """On an inventory/labgrid environment: every dongle answers EZSP (checked once, before the first test
    that uses dongles).  One that does not fails this set-up naming it and stops the run."""
    if not rig_target.hardware:
        return rig_target
    config = request.config
    if _BENCH_KEY not in config.stash:
        import asyncio
        import concurrent.futures

        from rig.backend import InventoryBackend

        timeout = config.getoption("--rig-answer-timeout")
        backend = InventoryBackend(rig_target.inventory)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:      # its own loop, outside any test's
            config.stash[_BENCH_KEY] = pool.submit(asyncio.run, backend.unanswered(timeout=timeout)).result()
    problems = config.stash[_BENCH_KEY]
    if problems:
        message = f"bench {rig_target.path}: " + "; ".join(problems)
        request.session.shouldstop = message
        pytest.fail(message, pytrace=False)
    return rig_target


@pytest_asyncio.fixture
async def rig_backend(rig_target: RigTarget, rig_bench, clock, artifacts_dir: Path, tmp_path: Path, pytestconfig):
    """Dongles for roles: ``await rig_backend.dongle_path(role)``, ``await rig_backend.power_cycle(role)``.
    On sim: emulated dongles on one virtual air whose capture is ``artifacts/<test>/air.pcap``."""
    from rig.backend import InventoryBackend, LabgridBackend, SimBackend

    if rig_target.kind == "sim":
        state_dir = tmp_path / "rig-nv"
        state_dir.mkdir(exist_ok=True)
        backend = SimBackend(clock, state_dir=state_dir, pcap=artifacts_dir / "air.pcap")
    else:
        code = pytestconfig.getoption("--rig-ppmid-b-install-code")
        label = {"ppmid_b_install_code": bytes.fromhex(code) if code else None}
        if rig_target.kind == "labgrid":
            backend = LabgridBackend(rig_target.labgrid, clock, **label)
        else:
            backend = InventoryBackend(rig_target.inventory, clock, **label)
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
        pytest.fail(str(exc), pytrace=False)      # a dongle that cannot play its role is never a pass
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
