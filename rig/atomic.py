"""Files that survive a crash mid-write: temp file in the same folder, rename over the old one.

Readers see the old file or the new one, never a mix, and a process killed mid-write (a power cycle of
an emulated dongle, a crashed CH program) leaves the old file.  Used for every piece of state that must
survive a power cycle (NV tokens, CHF device log, GBCS counters, key stores, bundles).

A writer killed between creating its temp file and the rename (``kill -9``, power loss) leaves the temp
file behind.  Temp files are named ``.NAME.PID.N.tmp`` beside ``NAME``; ``remove_stale_temps``
deletes those whose writer is gone (its process no longer exists, or it is this process and not
mid-write), so a live writer's temp file is never touched.  Every load of an atomic file calls it
(``read_atomic``), and so does every write.

The rename alone does not survive the *machine* losing power: the kernel may not have written the new
file's data before the rename reaches the disk.  ``fsync`` (the file, then its folder) closes that gap
and costs milliseconds per write, on every NV token an emulated dongle saves; it is off unless a test
of host power loss asks for it with ``set_fsync(True)`` or ``RIG_FSYNC=1``.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

_IN_PROGRESS: set[str] = set()        # temp files this process is writing now


def _temp_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[^.]+\.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temp files that dead writers of ``path`` left beside it; return what was removed."""
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        # names only (no Path per entry), and the pattern only for names with the temp prefix: this
        # runs on every write of every emulated dongle's NV
        candidates = [name for name in os.listdir(path.parent) if name.startswith(prefix)]
    except FileNotFoundError:
        return removed
    if not candidates:
        return removed
    pattern = _temp_pattern(path)
    for name in candidates:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        sibling = path.parent / name
        pid = int(match.group(1))
        if str(sibling) in _IN_PROGRESS or (pid != os.getpid() and _alive(pid)):
            continue
        try:
            sibling.unlink()
        except FileNotFoundError:
            continue
        removed.append(sibling)
    return removed


_serial = itertools.count()


def _create_temp(path: Path) -> tuple[int, str]:
    """A new temp file ``.NAME.PID.N.tmp`` beside ``path`` (N counts this process's temp files; what
    ``tempfile.mkstemp`` does, without its random names: the PID and the count are unique already)."""
    while True:
        tmp = os.path.join(path.parent, f".{path.name}.{os.getpid()}.{next(_serial)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600), tmp
        except FileExistsError:     # a stale temp of a dead process that had this PID: take the next N
            continue


def read_atomic(path: str | Path) -> bytes | None:
    """The bytes of an atomically written file (``None`` if it does not exist), stale temps removed."""
    path = Path(path)
    remove_stale_temps(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


ENV_SCRATCH = "RIG_SCRATCH"          # a folder for throw-away emulated state (overrides /dev/shm)
SCRATCH_MIN_FREE = 256 * 2**20        # bytes /dev/shm must have free to be used (containers give 64 MB)
_SHM = "/dev/shm"


def scratch_dir() -> str | None:
    """Where throw-away emulated state goes (a scenario's or matrix row's NV files, device log, key
    store): ``$RIG_SCRATCH``; else ``/dev/shm`` if it is a writable folder with ``SCRATCH_MIN_FREE``
    free; else None, ``tempfile``'s default.  On a journalling disk every atomic write's create and
    rename-over cost the kernel far more CPU than on tmpfs (ext4 here: ~0.8 ms against ~0.12 ms), and
    an emulated premises writes its NV tens of times a pairing; the files and the renames are the same."""
    chosen = os.environ.get(ENV_SCRATCH, "")
    if chosen:
        return chosen
    try:
        st = os.statvfs(_SHM)
    except OSError:
        return None
    if not os.access(_SHM, os.W_OK | os.X_OK) or st.f_bavail * st.f_frsize < SCRATCH_MIN_FREE:
        return None
    return _SHM


_fsync = os.environ.get("RIG_FSYNC", "") not in ("", "0")


def set_fsync(enabled: bool) -> bool:
    """Make every later write fsync (``True``) or not; returns the previous setting."""
    global _fsync
    previous, _fsync = _fsync, bool(enabled)
    return previous


def fsync_enabled() -> bool:
    return _fsync


def write_atomic(path: str | Path, data: bytes | str, *, fsync: bool | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically; ``fsync`` (default: the
    ``set_fsync`` setting) also flushes the file and its folder to the disk."""
    path = Path(path)
    sync = _fsync if fsync is None else fsync
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = _create_temp(path)
    _IN_PROGRESS.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _IN_PROGRESS.discard(tmp)
    if not sync:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
