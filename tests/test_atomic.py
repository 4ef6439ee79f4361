"""rig.atomic: the rename always; fsync only when asked (host power-loss tests)."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_a_write_removes_dead_writers_temps_of_its_file_only_and_leaves_none_of_its_own(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f".nv.json.{dead}.k3j9.tmp"            # a writer killed mid-write
    live = tmp_path / f".nv.json.{os.getppid()}.q1.tmp"       # a writer that still runs
    other = tmp_path / f".log.json.{dead}.z.tmp"              # another file's temp
    unrelated = tmp_path / ".nv.json.bak"
    for p in (stale, live, other, unrelated):
        p.write_text("x")
    atomic.write_atomic(tmp_path / "nv.json", "{}\n")
    atomic.write_atomic(tmp_path / "nv.json", "{ }\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["nv.json", live.name, other.name, unrelated.name])
    assert (tmp_path / "nv.json").read_text() == "{ }\n"


def test_scratch_dir_is_the_environment_choice_else_a_roomy_dev_shm_else_tempfiles_default(tmp_path, monkeypatch):
    monkeypatch.setenv(atomic.ENV_SCRATCH, str(tmp_path))
    assert atomic.scratch_dir() == str(tmp_path)
    monkeypatch.delenv(atomic.ENV_SCRATCH)
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(atomic, "_SHM", str(shm))
    monkeypatch.setattr(atomic, "SCRATCH_MIN_FREE", 1)
    assert atomic.scratch_dir() == str(shm)
    monkeypatch.setattr(atomic, "SCRATCH_MIN_FREE", 2**62)          # a 64 MB container /dev/shm, say
    assert atomic.scratch_dir() is None
    monkeypatch.setattr(atomic, "_SHM", str(tmp_path / "absent"))
    monkeypatch.setattr(atomic, "SCRATCH_MIN_FREE", 1)
    assert atomic.scratch_dir() is None
