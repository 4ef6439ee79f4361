"""Test-wide set-up: where the team's shared notes and published vectors are.

The vectors live beside the project (``../shared``), never inside it.  ``RIG_SHARED_DIR`` overrides
the location; otherwise the first ``shared`` folder holding ``vectors/`` beside the checkout or one of
its parents is used.  Tests read the files at run time; a missing folder is an error, not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_shared() -> Path | None:
    env = os.environ.get("RIG_SHARED_DIR")
    if env:
        return Path(env)
    for base in [ROOT, *ROOT.parents]:
        candidate = base.parent / "shared" if base == ROOT else base / "shared"
        if (candidate / "vectors").is_dir():
            return candidate
    return None


SHARED = find_shared()
if SHARED is not None:
    os.environ.setdefault("RIG_SHARED_DIR", str(SHARED))
    os.environ.setdefault("RIG_VECTORS", str(SHARED / "vectors"))


def pytest_configure(config):
    if SHARED is None or not (SHARED / "vectors").is_dir():
        raise pytest.UsageError(
            f"shared notes/vectors not found beside {ROOT} (expected ../shared/vectors); "
            "set RIG_SHARED_DIR to the folder that holds vectors/ and notes/")


@pytest.fixture
def tshark_path() -> str:
    """Path of tshark, the independent dissector the capture tests check against.

    ``.ci/run`` installs Debian's package; on a machine without it the test is skipped with this
    message (never passed silently), as the capture issue asks.
    """
    import shutil

    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not on PATH (Debian package 'tshark'; .ci/run installs it): "
                    "capture dissection not checked on this machine")
    return path
