"""Fixtures for the CBKE tests: the published test data is read from ``shared/vectors`` at run time."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]


def _vectors_dir() -> Path:
    env = os.environ.get("RIG_SHARED_DIR")
    return Path(env) / "vectors" if env else _REPO.parent / "shared" / "vectors"


def load_cbke_json() -> dict:
    path = _vectors_dir() / "cbke.json"
    assert path.exists(), f"published CBKE test data not found at {path} (set RIG_SHARED_DIR)"
    return json.loads(path.read_text())


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "cbke_kind(kind): parametrize ``vector`` with the cbke.json items of that kind"
    )


def pytest_generate_tests(metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("cbke_kind")
    if marker is None or "vector" not in metafunc.fixturenames:
        return
    path = _vectors_dir() / "cbke.json"
    items = (
        [v for v in json.loads(path.read_text())["vectors"] if v["kind"] == marker.args[0]]
        if path.exists()
        else []
    )
    metafunc.parametrize("vector", items, ids=[v["id"] for v in items])


@pytest.fixture(scope="session")
def cbke_json() -> dict:
    return load_cbke_json()


@pytest.fixture(scope="session")
def annex_c6(cbke_json) -> dict:
    return next(v for v in cbke_json["vectors"] if v["id"] == "se_annex_c6_suite2_cbke")
