"""Files that survive a crash mid-write: temp file in the same folder, fsync, rename, fsync the folder.

Readers see the old file or the new one, never a mix.  Used for every piece of state that must
survive a power cycle (NV tokens, CHF device log, GBCS counters, key stores, bundles).

A writer killed between creating its temp file and the rename (``kill -9``, power loss) leaves the temp
file behind.  Temp files are named ``.NAME.PID.RANDOM.tmp`` beside ``NAME``; ``remove_stale_temps``
deletes those whose writer is gone (its process no longer exists, or it is this process and not
mid-write), so a live writer's temp file is never touched.  Every load of an atomic file calls it
(``read_atomic``), and so does every write.
"""

from __future__ import annotations

import os
import re
import tempfile
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
    pattern = _temp_pattern(path)
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except FileNotFoundError:
        return removed
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if str(sibling) in _IN_PROGRESS or (pid != os.getpid() and _alive(pid)):
            continue
        try:
            sibling.unlink()
        except FileNotFoundError:
            continue
        removed.append(sibling)
    return removed


def read_atomic(path: str | Path) -> bytes | None:
    """The bytes of an atomically written file (``None`` if it does not exist), stale temps removed."""
    path = Path(path)
    remove_stale_temps(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    _IN_PROGRESS.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _IN_PROGRESS.discard(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
