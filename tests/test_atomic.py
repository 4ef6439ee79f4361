"""rig.atomic: the rename always; fsync only when asked (host power-loss tests)."""

from __future__ import annotations

import os

import pytest

from rig import atomic


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    return calls


def test_default_write_renames_without_fsync(tmp_path, fsyncs):
    atomic.write_atomic(tmp_path / "nv.json", "{}\n")
    assert (tmp_path / "nv.json").read_text() == "{}\n"
    assert fsyncs == []
    assert [p.name for p in tmp_path.iterdir()] == ["nv.json"]


def test_fsync_option_syncs_file_and_folder(tmp_path, fsyncs):
    previous = atomic.set_fsync(True)
    try:
        atomic.write_atomic(tmp_path / "nv.json", b"x")
    finally:
        atomic.set_fsync(previous)
    assert len(fsyncs) == 2
    atomic.write_atomic(tmp_path / "nv.json", b"y", fsync=True)
    assert len(fsyncs) == 4 and (tmp_path / "nv.json").read_bytes() == b"y"
