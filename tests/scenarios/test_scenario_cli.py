"""``rig scenario secmp0037`` / ``rig scenario matrix`` through the real CLI (typer, in-process)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rig.cli import app
from rig.scenarios import matrix as mx


def test_json_output_has_outcome_reason_policy_and_steps(tmp_path):
    report = tmp_path / "run.html"
    result = CliRunner().invoke(app, ["scenario", "secmp0037", "--policy", "gbcs", "--ppmid-delay", "60m1s",
                                      "--json", "--report", str(report), "--pcap", str(tmp_path / "run.pcap")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["outcome"] == "refused" and out["reason"] == "interpan_window_closed" and out["policy"] == "gbcs"
    assert out["steps"] and all({"name", "time", "result"} <= set(s) for s in out["steps"])
    assert out["pcap"].endswith("run.pcap")
    # what the run cost: CBKE/ECDSA/ECDH/AES CPU is part of the process's CPU (figures belong to make bench)
    assert "real_seconds" in out and 0 < out["crypto_cpu_seconds"] <= out["cpu_seconds"]
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "interpan_window_closed" in page
    assert "run.pcap" in page and "<script" not in page and "http" not in page.replace('http://www.w3.org', '')


def test_ezsp_version_chooses_the_emulated_firmware(tmp_path):
    result = CliRunner().invoke(app, ["scenario", "secmp0037", "--policy", "gbcs", "--ppmid-delay", "60m1s",
                                      "--ezsp-version", "13", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["outcome"] == "refused" and out["reason"] == "interpan_window_closed"
    assert set(out["firmware"]) >= {"ch", "esme", "ppmid"}
    assert all(text == "EmberZNet 7.4.4.0, EZSP v13" for text in out["firmware"].values())
    bad = CliRunner().invoke(app, ["scenario", "secmp0037", "--ezsp-version", "12"])
    assert bad.exit_code != 0 and "EZSP version 12 is not emulated" in bad.output


def test_readable_table_and_report_with_decoded_gbcs(tmp_path):
    report = tmp_path / "paired.html"
    result = CliRunner().invoke(app, ["scenario", "secmp0037", "--policy", "secmp0037", "--ppmid-delay", "5d",
                                      "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "outcome: paired" in result.output and "hht.ccs01_response" in result.output
    page = report.read_text()
    for text in ("CCS01", "CS03A1", "CS03C", "PPMID/B", "device_id", "before the PPMID powered on"):
        assert text in page


def test_bad_options_are_named():
    runner = CliRunner()
    bad_policy = runner.invoke(app, ["scenario", "secmp0037", "--policy", "open"])
    assert bad_policy.exit_code != 0 and "--policy" in bad_policy.output
    bad_delay = runner.invoke(app, ["scenario", "secmp0037", "--ppmid-delay", "an hour"])
    assert bad_delay.exit_code != 0 and "bad duration" in bad_delay.output
    missing = runner.invoke(app, ["scenario", "secmp0037", "--rig", "no-such-lab.yaml"])
    assert missing.exit_code != 0 and "no-such-lab.yaml: cannot read the inventory" in missing.output
    assert "Traceback" not in missing.output
    bad_rig = runner.invoke(app, ["scenario", "secmp0037", "--rig", "lab.txt", "--ppmid-b-install-code", "00" * 16])
    assert bad_rig.exit_code != 0 and "--rig" in bad_rig.output


def test_matrix_exits_non_zero_when_a_row_differs(monkeypatch):
    wrong = mx.Row("gbcs", 0.0, None, "refused", "interpan_window_closed")     # a deliberately wrong expectation
    monkeypatch.setattr(mx, "rows", lambda: [wrong])
    result = CliRunner().invoke(app, ["scenario", "matrix"])
    assert result.exit_code == 1
    assert "✗" in result.output and "paired" in result.output


def test_matrix_rows_cover_both_policies_delays_and_power_cycles():
    rows = mx.rows()
    assert len(rows) == 16
    assert {(r.policy, r.delay, r.power_cycle_at is None) for r in rows} == {
        (p, d, pc) for p in ("gbcs", "secmp0037") for d in (0, 3599, 3601, 432000) for pc in (True, False)}
    refused = [(r.policy, r.delay) for r in rows if r.expected_outcome == "refused"]
    assert refused == [("gbcs", 3601), ("gbcs", 432000)]


def _mark_in_worker(row: mx.Row) -> mx.Row:
    import os

    row.error = f"pid {os.getpid()}"
    return row


def test_matrix_rows_run_in_worker_processes_and_come_back_in_order():
    import os

    todo = mx.rows()[:4]
    done = list(mx.run_rows(todo, jobs=2, runner=_mark_in_worker))
    assert [(r.policy, r.delay, r.power_cycle_at) for r in done] == [(r.policy, r.delay, r.power_cycle_at) for r in todo]
    assert all(r.error and r.error != f"pid {os.getpid()}" for r in done)
    serial = list(mx.run_rows(mx.rows()[:2], jobs=1, runner=_mark_in_worker))
    assert all(r.error == f"pid {os.getpid()}" for r in serial)


def test_matrix_on_a_bench_lists_rows_not_run_with_their_reasons_once(monkeypatch):
    from rig import scenario_cli
    from rig.scenarios import matrix as mx

    def bench_rows(todo, rig_spec, real_waits):
        assert (rig_spec, real_waits) == ("lab.yaml", False)
        for row in todo:
            row.skipped = "the CH under test implements secmp0037" if row.policy == "gbcs" else "waits 5d of its time"
            yield row
    monkeypatch.setattr(scenario_cli, "_bench_rows", bench_rows)
    result = CliRunner().invoke(app, ["scenario", "matrix", "--rig", "lab.yaml"], env={"COLUMNS": "80"})
    assert result.exit_code == 1, result.output          # nothing ran: never a pass
    lines = result.output.splitlines()
    assert "[1] not run: the CH under test implements secmp0037" in lines
    assert "[2] not run: waits 5d of its time" in lines
    assert "0 of 16 rows run; 16 not run against this CH" in lines
    assert max(map(len, lines)) <= 80
    assert len(mx.rows()) == 16
