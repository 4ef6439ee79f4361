"""Lab tests: emulated dongles served from a background event loop (so that synchronous callers —
typer's CliRunner, an in-process pytester run — can open them through the real transport), and the
``pytester`` fixture without relying on ``-p pytester`` being given."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import ClassVar

import attr
import pytest
from labgrid.driver import Driver
from labgrid.factory import target_factory
from labgrid.logging import StepLogger
from labgrid.protocol import PowerProtocol

import rig.backend
import rig.des
import rig.labgrid
import rig.pytest_plugin
import rig.transport  # noqa: F401 - imported once here: an in-process pytester run keeps these module objects
from firmware_shims.ncp.dongle import EmulatedDongle


class DongleThread:
    """Emulated dongles on their own event loop in a daemon thread."""

    def __init__(self, state_dir) -> None:
        self.state_dir = state_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="emulated-dongles", daemon=True)
        self.thread.start()
        self.dongles: list[EmulatedDongle] = []

    def call(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, name: str, *, transport: str = "tcp", **kwargs) -> EmulatedDongle:
        async def make():
            dongle = EmulatedDongle(name, state_dir=self.state_dir, **kwargs)
            if transport == "tcp":
                await dongle.start_tcp()
            else:
                await dongle.start_pty()
            return dongle

        dongle = self.call(make())
        self.dongles.append(dongle)
        return dongle

    def power_cycle(self, dongle: EmulatedDongle) -> None:
        self.call(dongle.power_cycle())

    def close(self) -> None:
        async def stop_all():
            for dongle in self.dongles:
                await dongle.stop()

        self.call(stop_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def dongles(tmp_path):
    runner = DongleThread(tmp_path)
    yield runner
    runner.close()


@pytest.fixture
def pytester(request, tmp_path_factory, monkeypatch):
    """pytest's Pytester (the ``-p pytester`` plugin is not loaded for the whole suite)."""
    try:
        request.config.getoption("--runpytest")
    except ValueError:
        # pytester's own option is undeclared when the plugin is not loaded: Pytester reads it by
        # the literal name, so answer that name with pytest's default ("inprocess")
        monkeypatch.setattr(request.config.option, "--runpytest", "inprocess", raising=False)
    tester = pytest.Pytester(request, tmp_path_factory, monkeypatch, _ispytest=True)
    tester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    # labgrid's pytest plugin starts its one StepLogger per process in pytest_configure: an in-process
    # run's plugin may start it only while this session's is stopped
    outer = StepLogger._started
    if outer:
        StepLogger.stop()
    yield tester
    if outer and not StepLogger._started:
        StepLogger.start()


# --- labgrid: a PowerProtocol driver for emulated dongles ------------------------------------------

@target_factory.reg_driver
@attr.s(eq=False)
class EmulatedPowerDriver(Driver, PowerProtocol):
    """The test double of a switched USB hub port for an emulated dongle: ``off()`` is the power loss
    (the host connection drops, RAM is lost, the NCP boots from NV), ``on()`` lets it answer again.
    ``switches[NAME]`` is the callable that power-cycles the dongle ``NAME``; ``log`` records the calls."""

    dongle = attr.ib(validator=attr.validators.instance_of(str))
    switches: ClassVar[dict] = {}
    log: ClassVar[list] = []

    @Driver.check_active
    def on(self):
        self.log.append((self.dongle, "on"))

    @Driver.check_active
    def off(self):
        self.log.append((self.dongle, "off"))
        self.switches[self.dongle]()

    @Driver.check_active
    def cycle(self):
        self.off()
        self.on()


@pytest.fixture
def emulated_power(dongles):
    """``wire(dongle)``: EmulatedPowerDriver(dongle: NAME) switches the DongleThread's dongle NAME;
    ``log``: the drivers' calls, emptied first."""
    EmulatedPowerDriver.log.clear()

    def wire(dongle):
        EmulatedPowerDriver.switches[dongle.name] = lambda: dongles.power_cycle(dongle)

    yield SimpleNamespace(wire=wire, log=EmulatedPowerDriver.log)
    EmulatedPowerDriver.switches.clear()
