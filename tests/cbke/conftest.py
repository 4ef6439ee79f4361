"""Fixtures for the CBKE tests: the published test data, ``tests/vectors/cbke.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CBKE_JSON = Path(__file__).resolve().parents[1] / "vectors" / "cbke.json"


def load_cbke_json() -> dict:
    assert CBKE_JSON.exists(), f"published CBKE test data missing from the project: {CBKE_JSON}"
    return json.loads(CBKE_JSON.read_text())


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "cbke_kind(kind): parametrize ``vector`` with the cbke.json items of that kind"
    )


def pytest_generate_tests(metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("cbke_kind")
    if marker is None or "vector" not in metafunc.fixturenames:
        return
    items = [v for v in load_cbke_json()["vectors"] if v["kind"] == marker.args[0]]
    assert items, f"no {marker.args[0]} vectors in {CBKE_JSON}"
    metafunc.parametrize("vector", items, ids=[v["id"] for v in items])


@pytest.fixture(scope="session")
def cbke_json() -> dict:
    return load_cbke_json()


@pytest.fixture(scope="session")
def annex_c6(cbke_json) -> dict:
    return next(v for v in cbke_json["vectors"] if v["id"] == "se_annex_c6_suite2_cbke")
