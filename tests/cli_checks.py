"""The CLI tests' shared checks: run ``rig`` at a terminal width, and the one-line-error promise.
Import as ``from cli_checks import invoke, assert_one_line_error`` (pytest puts tests/ on sys.path)."""

from __future__ import annotations

from typer.testing import CliRunner

from rig.cli import app


def invoke(*args: str, columns: int = 80, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)}, **kwargs)


def assert_one_line_error(result, *words: str, exit_code: int | None = None) -> str:
    """Non-zero exit, no traceback, stderr one ``error: ...`` line holding every word; returns the line."""
    assert result.exit_code != 0, result.output
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
