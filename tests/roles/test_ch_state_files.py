"""The CH's state files (CHF device log, GBCS counters) after a writer is killed with SIGKILL mid-write:
the file is whole JSON and loading it removes the temp files the dead writer left."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from rig.atomic import remove_stale_temps, write_atomic
from rig.gbcs import CounterStore
from rig.roles.ch import DeviceLog

REPO = Path(__file__).resolve().parents[2]

# Writes the device log over and over, printing "written N" after each write and "writing" when a
# write has its temp file on disk (its fsync), so the test can kill it there without guessing times.
WRITER = textwrap.dedent("""
    import json, os, stat, sys
    from rig.atomic import write_atomic
    real_fsync = os.fsync
    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            print("writing", flush=True)
        real_fsync(fd)
    os.fsync = fsync
    path = sys.argv[1]
    bodies = []
    for n in range(2):
        entries = [{"eui64": f"{n:02X}{i:014X}", "device_type": 5, "link_key": "00" * 16}
                   for i in range(6000)]
        bodies.append(json.dumps({"entries": entries}))
    i = 0
    while True:
        write_atomic(path, bodies[i % 2])
        i += 1
        print("written", i, flush=True)
""")


def temps(folder: Path, name: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(f".{name}."))


def kill_writer_mid_write(path: Path, writes: int = 3) -> None:
    """Let the writer finish ``writes`` writes, then SIGKILL it inside the next one."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RIG_FSYNC": "1"}   # the writer signals at its fsync
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        done = 0
        while True:
            # a guard against a writer that never signals (it would hang the suite), not a timing assertion
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, "the writer printed nothing for 60 s (does write_atomic still fsync under RIG_FSYNC=1?)"
            line = proc.stdout.readline()
            assert line, "the writer ended before it was killed"
            if line.startswith("written"):
                done += 1
            elif done >= writes:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def test_device_log_load_after_kill_9_mid_write_is_whole_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "chf-device-log.json"
    for _attempt in range(10):       # the kill lands before the rename nearly always at the first try
        kill_writer_mid_write(path)
        if temps(tmp_path, path.name):
            break
    assert temps(tmp_path, path.name), "no kill landed mid-write in 10 attempts"
    log = DeviceLog(path)                                    # the CH's next power-on loads it
    assert len(log.entries) == 6000
    assert json.loads(path.read_text())["entries"][0]["device_type"] == 5
    assert temps(tmp_path, path.name) == []


def test_counter_store_load_removes_temp_files_of_dead_writers_only(tmp_path):
    path = tmp_path / "chf-counters.json"
    write_atomic(path, json.dumps({"counters": {"90B3D51F30010000": 7}}))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)
    stale = tmp_path / f".{path.name}.{int(dead.stdout)}.abc123.tmp"
    live = tmp_path / f".{path.name}.{os.getppid()}.def456.tmp"       # a writer that is still running
    stale.write_text("{")
    live.write_text("{")
    assert CounterStore.load(path).last("90B3D51F30010000") == 7
    assert temps(tmp_path, path.name) == [live]
    live.unlink()
    assert remove_stale_temps(path) == []
