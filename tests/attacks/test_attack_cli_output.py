"""``rig attack`` output: readable at 80 columns (one indented block per attack, nothing cut), a report
written into a folder not yet made, and a report path that cannot be made named in one line."""

from __future__ import annotations

from typer.testing import CliRunner

from rig.attacks import load
from rig.cli import app


def invoke(*args, columns: int = 80):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


def test_list_fits_80_columns_and_shows_every_attack_and_its_expected_reasons_whole():
    result = invoke("attack", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = " ".join(line.strip() for line in lines)
    for attack in load().values():
        assert any(line.startswith(attack.name + "  (") for line in lines), attack.name
        for reason in attack.expect:
            assert reason in text, (attack.name, reason)


def test_list_is_one_table_on_a_wide_terminal():
    result = invoke("attack", "list", columns=200)
    assert result.exit_code == 0 and "┃ attack" in result.stdout and "expected (held)" in result.stdout


def test_run_writes_its_report_into_a_missing_folder_and_fits_80_columns(tmp_path):
    report = tmp_path / "new" / "folder" / "attacks.html"
    result = invoke("attack", "run", "gbcs.ccs01_bad_mac", "--policy", "gbcs", "--report", report)
    assert result.exit_code == 0, result.output
    assert report.read_text().startswith("<!doctype html>") and f"report: {report}" in result.stdout
    lines = [line for line in result.stdout.splitlines() if not line.startswith("report: ")]   # a long path
    assert max(len(line) for line in lines) <= 80
    assert "gbcs.ccs01_bad_mac  (gbcs)" in lines and any("state unchanged: yes" in line for line in lines)


def test_run_names_a_report_path_it_cannot_make_before_running(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    result = invoke("attack", "run", "gbcs.ccs01_bad_mac", "--report", a_file / "r.html")
    assert result.exit_code == 2 and "Traceback" not in result.output
    expected = f"error: --report {a_file / 'r.html'}: cannot create its folder {a_file} (File exists)"
    assert result.stderr.splitlines() == [expected]
