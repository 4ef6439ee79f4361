"""``rig attack list|run`` through the real CLI (typer, in-process), and the runner's verdicts on small
attacks made for the test (one that breaches over the air, one that changes the CH's state, one that
cannot be carried out)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rig.attacks import CATALOGUE, load
from rig.attacks.catalogue import Attack, markdown_table, select
from rig.attacks.runner import run_attack
from rig.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_list_json_names_every_attack_with_its_rule():
    result = CliRunner().invoke(app, ["attack", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [a["name"] for a in listed] == list(load())
    for a in listed:
        assert a["rule"] and a["family"] in a["name"] and a["policies"] and a["expect"]
        assert a["source"] in ("GBCS", "ZigBee/SE") or a["source"].startswith("rig (rig.pairing.")


def test_list_table():
    result = CliRunner().invoke(app, ["attack", "list"])
    assert result.exit_code == 0 and "gbcs.ccs01_bad_mac" in result.output


@pytest.mark.parametrize(("args", "says"), [
    (["attack", "run", "gbcs.no_such_attack"], "unknown attack 'gbcs.no_such_attack'"),
    (["attack", "run", "gbcs.ccs01_bad_mac", "--policy", "open"], "--policy 'open' is not one of gbcs, secmp0037"),
    (["attack", "run", "gbcs.ccs01_bad_mac", "--rig", "bench"], "--rig 'bench': expected 'sim'"),
    (["attack", "run"], "name at least one attack"),
    (["attack", "run", "--all", "--rig", "no/such/lab.yaml"], "--rig no/such/lab.yaml:"),
    (["attack", "run", "window.new_hht_during_grace", "--policy", "secmp0037"], "applies to policy secmp0037"),
])
def test_bad_input_is_one_clear_line(args, says):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert says in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_run_json_and_report(tmp_path):
    report = tmp_path / "attacks.html"
    result = CliRunner().invoke(app, ["attack", "run", "gbcs.ccs01_bad_mac", "--policy", "secmp0037", "--json",
                                      "--report", str(report)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert {"name", "rule", "policy", "outcome", "reason", "state_unchanged"} <= set(row)
    assert (row["name"], row["policy"], row["outcome"], row["reason"], row["state_unchanged"]) == (
        "gbcs.ccs01_bad_mac", "secmp0037", "held", "gbcs_rejected:bad_mac", True)
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "gbcs.ccs01_bad_mac" in page and "1 of 1 held" in page
    assert "<script" not in page and "http" not in page


@pytest.fixture
def fake_attacks():
    """Attacks made for the test, registered for its duration."""
    added = []

    def add(name, steps, expect=("*",)):
        attack = Attack(f"gbcs.test_{name}", "gbcs", f"test rule {name}", "GBCS", steps, expect)
        CATALOGUE[attack.name] = attack
        added.append(attack.name)
        return attack
    yield add
    for name in added:
        CATALOGUE.pop(name, None)


async def _breach_over_the_air(ctx):
    await ctx.inject(ctx.interpan_mpdu(0x0800, ctx.zcl(0x00, b"\x02\x00"), src=(await ctx.attacker()).eui64))
    ctx.breach("the test says so")


def test_a_breach_exits_1_and_the_report_shows_its_frames(tmp_path, fake_attacks):
    fake_attacks("breach", _breach_over_the_air)
    report = tmp_path / "attacks.html"
    result = CliRunner().invoke(app, ["attack", "run", "gbcs.test_breach", "--policy", "gbcs", "--report", str(report)])
    assert result.exit_code == 1, result.output
    assert "breached" in result.output and "the test says so" in result.output
    page = report.read_text()
    assert "the frames that did it" in page and "inter-PAN" in page and "cluster 0x0800" in page


async def _changes_the_log(ctx):
    ctx.ch.core.log.remove(ctx.ids.esme)


async def _cannot_run(ctx):
    raise RuntimeError("no such dongle")


async def _does_nothing(ctx):
    await ctx.settle(None, 0)


async def test_runner_state_change_is_a_breach(premises, fake_attacks):
    result = await run_attack(fake_attacks("state", _changes_the_log), premises, "secmp0037")
    assert result.outcome == "breached" and result.state_unchanged is False
    assert result.state_changes == [f"device log: {premises.ids.esme} removed"]


async def test_runner_silence_is_held_with_an_unexpected_reason(premises, fake_attacks):
    result = await run_attack(fake_attacks("quiet", _does_nothing, expect=("gbcs_rejected:bad_mac",)), premises, "gbcs")
    assert result.outcome == "held" and result.state_unchanged is True
    assert result.reason_expected is False and result.reason.startswith("silent")
    assert result.real_seconds < 10


async def test_runner_error_is_reported_not_raised(premises, fake_attacks):
    result = await run_attack(fake_attacks("error", _cannot_run), premises, "gbcs")
    assert result.outcome == "error" and "no such dongle" in result.observed[-1]


def test_select_by_family_and_unknown_names():
    assert {a.family for a in select(["window"])} == {"window"}
    with pytest.raises(KeyError):
        select(["nothing"])


def test_rig_choices_name_their_pairing_constant():
    with pytest.raises(ValueError, match="names its rig.pairing constant"):
        Attack("gbcs.x", "gbcs", "r", "rig", _does_nothing, ("*",))
    with pytest.raises(ValueError, match="unknown family"):
        Attack("x.y", "x", "r", "GBCS", _does_nothing, ("*",))


def test_readme_lists_every_attack_and_its_rule():
    assert markdown_table() in (ROOT / "README.md").read_text(), \
        "README's attack table is out of date: paste rig.attacks.catalogue.markdown_table()"


def test_scenario_report_carries_the_attack_section():
    from rig.attacks.runner import AttackResult
    from rig.scenarios.report import attack_section

    breached = AttackResult("gbcs.x", "gbcs", "rule <x>", "GBCS", "gbcs", "breached", "breach: answered", ["*"], True,
                            False, observed=["BREACH: answered"], state_changes=["device log: A removed"],
                            frames=[{"hex": "0102", "what": "inter-PAN A -> B"}])
    held = AttackResult("gbcs.y", "gbcs", "rule y", "GBCS", "secmp0037", "held", "gbcs_rejected:bad_mac",
                        ["gbcs_rejected:bad_mac"], True, True)
    page = attack_section([breached, held])
    assert "1 of 2 held" in page and "rule &lt;x&gt;" in page and "<pre>0102</pre>" in page
    assert "device log: A removed" in page and 'href="#breach-gbcs.x-gbcs"' in page
