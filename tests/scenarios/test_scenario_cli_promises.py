"""``rig scenario secmp0037``'s promises: ``--expect``, output files into folders not yet made, durations
as given, the pcap path printed, a table that fits 80 columns, and one ``error:`` line (no traceback)
when a hardware run's power control fails."""

from __future__ import annotations

import os
import stat
import sys
import textwrap

import pytest
from cli_checks import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def refused_run(tmp_path_factory):
    """One refused run (gbcs, 60m1s) expecting ``paired``, its report and capture in folders not yet made."""
    tmp = tmp_path_factory.mktemp("scenario")
    report, pcap = tmp / "new" / "reports" / "run.html", tmp / "new" / "captures" / "run.pcap"
    result = invoke("scenario", "secmp0037", "--policy", "gbcs", "--ppmid-delay", "60m1s", "--expect", "paired",
                    "--report", report, "--pcap", pcap)
    return result, report, pcap


def test_report_and_pcap_into_missing_folders_create_them(refused_run):
    result, report, pcap = refused_run
    assert report.read_text().startswith("<!doctype html>") and pcap.stat().st_size > 24
    assert f"report: {report}" in result.stdout


def test_expect_exits_1_on_a_mismatch_naming_both_outcomes(refused_run):
    result, _report, _pcap = refused_run
    assert_one_line_error(result, "expected paired", "refused (interpan_window_closed)", exit_code=1)
    assert "outcome: refused: interpan_window_closed" in result.stdout      # the run is still shown


def test_expect_passes_when_the_outcome_matches_and_names_a_bad_value():
    assert_one_line_error(invoke("scenario", "secmp0037", "--expect", "maybe"), "--expect", "'maybe'")


def test_durations_are_printed_as_given(refused_run):
    result, report, _pcap = refused_run
    assert "PPMID at 60m1s" in result.stdout and "1h1s" not in result.stdout
    assert "60m1s after CH power-on" in report.read_text()


def test_the_pcap_path_is_printed(refused_run):
    result, _report, pcap = refused_run
    assert f"pcap: {pcap}" in result.stdout.splitlines()


def test_the_scenario_table_fits_80_columns_without_cutting_step_names(refused_run):
    result, _report, _pcap = refused_run
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines if not line.startswith(("pcap: ", "report: "))) <= 80   # paths
    for name in ("scenario.esme_commissioned", "ch.interpan_reception_closed", "interpan_window_closed"):
        assert any(name in line for line in lines), name


def test_a_bad_report_path_fails_before_the_run(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert_one_line_error(invoke("scenario", "secmp0037", "--report", a_file / "r.html"), "--report", "cannot create")
    assert_one_line_error(invoke("scenario", "secmp0037", "--report", tmp_path), "--report", "is a folder")


@pytest.fixture
def failing_uhubctl(tmp_path, monkeypatch):
    """A uhubctl on PATH that fails as on a hub without per-port switching."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "uhubctl"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('No compatible devices detected!\\n')\n"
                      "sys.exit(1)\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_a_hardware_run_whose_power_control_fails_says_so(tmp_path, failing_uhubctl, monkeypatch):
    """The scenario power-cycles the CH of an inventory through uhubctl, which fails."""
    import rig.premises
    import rig.scenarios.secmp0037

    async def setup(self):              # the dongles are not the point here: the CH's power control is
        return self

    async def run(premises, **_kwargs):  # what the scenario does at --ch-power-cycle-at
        await premises.power_cycle("ch")

    monkeypatch.setattr(rig.premises.Premises, "setup", setup)
    monkeypatch.setattr(rig.scenarios.secmp0037, "run", run)
    inventory = tmp_path / "lab.yaml"
    inventory.write_text(textwrap.dedent("""\
        dongles:
          ch-dongle: {port: "tcp://127.0.0.1:9", role: ch, eui64: "00124B0001A00001",
                      power: {uhubctl: {hub: "1-1.4", port: 1}}}
          esme-dongle: {port: "tcp://127.0.0.1:9", role: esme, eui64: "00124B0001A00002"}
          ppmid-dongle: {port: "tcp://127.0.0.1:9", role: ppmid, eui64s: ["00124B0001A00003", "00124B0001A00004"]}
        roles: [ch, esme, ppmid]
        """))
    result = invoke("scenario", "secmp0037", "--rig", inventory, "--ppmid-b-install-code", "00" * 18,
                    "--ch-power-cycle-at", "0")
    assert_one_line_error(result, "power control failed", "uhubctl -l 1-1.4 -p 1", "No compatible devices detected")


def test_the_matrix_table_fits_80_columns_and_shows_the_reason_whole(monkeypatch):
    from rig.scenarios import matrix as mx

    monkeypatch.setattr(mx, "rows", lambda: [mx.Row("gbcs", mx.parse_duration("60m1s"), None, "refused",
                                                     "interpan_window_closed")])
    result = invoke("scenario", "matrix", "--jobs", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if line.startswith("gbcs ") and "interpan_window_closed" in line)
    assert row.split() == ["gbcs", "60m1s", "-", "refused", "refused", "interpan_window_closed", "✓"]
