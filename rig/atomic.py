"""Files that survive a crash mid-write: temp file in the same folder, rename over the old one.

Readers see the old file or the new one, never a mix, and a process killed mid-write (a power cycle of
an emulated dongle, a crashed CH program) leaves the old file.  Used for every piece of state that must
survive a power cycle (NV tokens, CHF device log, GBCS counters, key stores, bundles).

The rename alone does not survive the *machine* losing power: the kernel may not have written the new
file's data before the rename reaches the disk.  ``fsync`` (the file, then its folder) closes that gap
and costs milliseconds per write, on every NV token an emulated dongle saves; it is off unless a test
of host power loss asks for it with ``set_fsync(True)`` or ``RIG_FSYNC=1``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
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
    if not sync:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
