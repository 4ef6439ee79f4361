"""Shared fixtures for the role tests: one GBCS test key store per session (P-256 keys are cheap)."""

from __future__ import annotations

import pytest
from roles_ids import HHT_ID, PPMID_ID

from rig.clock import VirtualClock
from rig.events import EventLog
from rig.gbcs import Builder, CounterStore, Device, Role, create_test_store
from rig.roles.ch import ChCore, DeviceLog


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return create_test_store(tmp_path_factory.mktemp("keys"), hht=[HHT_ID], ppmid=[PPMID_ID])


@pytest.fixture
async def lab(premises, tmp_path):
    """The plugin's premises (emulated, or a bench's with ``--rig``) with the CH program powered on (policy
    secmp0037) and the PPMID dongle's EZSP connection, for tests that drive an HHT by hand:
    ``premises, events, ch, ezsp``."""
    ch = premises.ch("secmp0037", state_dir=tmp_path / "ch")
    await ch.power_on()
    ezsp = await premises.open("ppmid")
    yield premises, premises.events, ch, ezsp
    await premises.disconnect(ezsp)
    await ch.power_off()


@pytest.fixture
def core(keys, tmp_path):
    """A powered-on ``ChCore`` (policy secmp0037) on a virtual clock, its log and counters in ``tmp_path``."""
    clock = VirtualClock()
    core = ChCore(clock, "secmp0037", DeviceLog(tmp_path / "log.json"), Device.from_store(keys, keys.one(Role.CHF)),
                  CounterStore.load(tmp_path / "counters.json"), Builder(keys), EventLog(clock))
    core.power_on()
    return core
