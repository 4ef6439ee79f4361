"""Shared fixtures for the role tests: one GBCS test key store per session (P-256 keys are cheap)."""

from __future__ import annotations

import pytest
from roles_ids import HHT_ID, PPMID_ID

from rig.gbcs import create_test_store


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return create_test_store(tmp_path_factory.mktemp("keys"), hht=[HHT_ID], ppmid=[PPMID_ID])
