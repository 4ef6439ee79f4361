"""Shared fixtures for the role tests: one GBCS test key store per session (P-256 keys are cheap)."""

from __future__ import annotations

import pytest
from roles_ids import HHT_ID, PPMID_ID

from rig.gbcs import create_test_store
from rig.premises import sim_premises


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return create_test_store(tmp_path_factory.mktemp("keys"), hht=[HHT_ID], ppmid=[PPMID_ID])


@pytest.fixture
async def lab(tmp_path):
    """An emulated premises with the CH program powered on (policy secmp0037) and the PPMID dongle's
    EZSP connection, for tests that drive an HHT by hand: ``premises, events, ch, ezsp``."""
    premises = await sim_premises(tmp_path)
    ch = premises.ch("secmp0037", state_dir=tmp_path / "ch")
    await ch.power_on()
    ezsp = await premises.open("ppmid")
    yield premises, premises.events, ch, ezsp
    await ezsp.disconnect()
    await ch.power_off()
    await premises.close()
