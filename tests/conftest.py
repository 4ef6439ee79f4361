"""Test-wide set-up: the published known-answer vectors the tests check against.

The vectors are part of the project: ``tests/vectors/`` (both levels, ``more/`` included), with a
README naming each file's public source.  Nothing outside the checkout is read, so a fresh clone with
nothing beside it passes.  Helper modules that need the folder at collection time compute the same
path from their own location (``Path(__file__).resolve().parents[1] / "vectors"``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from scale import SLOW_RUN, scaled  # noqa: F401  (re-exported for the tests in this folder)

VECTORS = Path(__file__).resolve().parent / "vectors"

# Property tests run on fixed seeds: the same cases every run, so a CI failure repeats on a laptop.
settings.register_profile("fixed", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

# ``make test-slow`` sets RIG_SLOW=1: property and fault tests then run their long form.  Size them with
# ``from scale import scaled`` (tests/scale.py; kept out of this file so that a sub-folder's own
# conftest.py cannot shadow it).
# Fuzz tests: one test per attack surface, marked ``@pytest.mark.fuzz`` and sized with ``scaled(fast)``
# (a few hundred cases at most, so ``make test`` stays quick).  Every fuzz test is also ``slow``, so
# ``make test-slow`` (``RIG_SLOW=1 pytest -m slow``) selects it and runs its long form, >= 10 000 cases.
# ``pytest -m fuzz`` runs just the fuzzers (with ``RIG_SLOW=1``: their long form alone).
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("fuzz") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    if not (VECTORS / "README.md").is_file() or not any(VECTORS.rglob("*.json")):
        raise pytest.UsageError(f"the project's known-answer vectors are missing from {VECTORS}")


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """``tests/vectors/``: the project's copy of the published known-answer vectors."""
    return VECTORS


@pytest.fixture
def tshark_path() -> str:
    """Path of tshark, the independent dissector the capture tests check against.

    ``.ci/run`` installs Debian's package, so under CI (``CI=true``) a missing tshark fails the test: a
    green CI run always dissected its captures.  On a developer's machine without it the test is skipped
    with this message (never passed silently), as the capture issue asks.
    """
    import shutil

    path = shutil.which("tshark")
    if path is None and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("tshark is not on PATH under CI: .ci/run should have installed Debian's 'tshark'")
    if path is None:
        pytest.skip("tshark is not on PATH (Debian package 'tshark'; .ci/run installs it): "
                    "capture dissection not checked on this machine")
    return path
