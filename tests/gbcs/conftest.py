import pytest
from gbcs_testdata import HHT, PPMID

from rig.gbcs.builder import Builder
from rig.gbcs.keystore import KeyStore, create_test_store


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> KeyStore:
    """One complete test PKI for the session (key generation is the slow part)."""
    return create_test_store(tmp_path_factory.mktemp("keys"), ppmid=[PPMID], hht=[HHT])


@pytest.fixture
def builder(store) -> Builder:
    return Builder(store, counter_start=100)
