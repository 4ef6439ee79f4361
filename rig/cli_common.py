"""What every ``rig`` command shares: one-line errors and output files.

A command that cannot go on prints exactly one line on stderr, ``error: WHAT``, naming the value or the
device that was wrong, and exits non-zero; never a traceback.  Output files (``--report``, ``--pcap``)
get their folder created first, as a capture does, and a folder that cannot be made is such an error
before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """``error: MESSAGE`` on stderr (one line) and exit ``code``."""
    text = " ".join(str(message).split()) or "failed"
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(code)


def output_file(path: Path | None, option: str) -> Path | None:
    """Make ``path``'s folder (as ``--pcap`` does) or fail naming ``option``; ``None`` passes through."""
    if path is None:
        return None
    if path.is_dir():
        fail(f"{option} {path}: is a folder, not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{option} {path}: cannot create its folder {path.parent} ({exc.strerror or exc})")
    return path


def write_output(path: Path, text: str, option: str) -> None:
    """Write ``text`` to ``path`` (its folder created) or fail naming ``option``."""
    output_file(path, option)
    try:
        path.write_text(text)
    except OSError as exc:
        fail(f"{option} {path}: cannot write it ({exc.strerror or exc})")


def literal(text: str) -> str:
    """``text`` for a typer help string, shown as written: rich turns ``:ab:`` into an emoji (an EUI-64
    ``00:12:4B:00:01:AB:CD:EF`` came out with 🆎 in it), and a colon alone in its own markup span can
    never be part of an emoji code.  Rich help only: every ``rig`` help goes through rich."""
    return text.replace("[", r"\[").replace(":", "[default]:[/default]")
