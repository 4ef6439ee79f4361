"""``rig scenario secmp0037 ...`` and ``rig scenario matrix`` (= ``make run``)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rig import des, pairing
from rig.scenarios import matrix as mx
from rig.scenarios.secmp0037 import (
    ScenarioError,
    ScenarioResult,
    format_duration,
    format_time,
    parse_duration,
)


def _duration(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _print_result(result: ScenarioResult, console: Console) -> None:
    table = Table(title=f"SECMP0037 — policy {result.policy}, PPMID at {format_duration(result.ppmid_delay)}"
                        + (f", CH power cycle at {format_duration(result.ch_power_cycle_at)}"
                           if result.ch_power_cycle_at is not None else ""))
    for col in ("virtual time", "actor", "step", "result"):
        table.add_column(col)
    for step in result.steps:
        style = None if step["result"] == "ok" else "red"
        table.add_row(format_time(step["time"]), step["actor"], step["name"], step["result"], style=style)
    console.print(table)
    for name, ok in result.checks.items():
        console.print(f"  {'✓' if ok else '✗'} {name}", style=None if ok else "red")
    verdict = "paired" if result.outcome == "paired" else f"refused: {result.reason}"
    console.print(f"outcome: [bold]{verdict}[/bold]  ({result.real_seconds:.2f} s real, "
                  f"{result.cpu_seconds:.2f} s CPU of which {result.crypto_cpu_seconds:.2f} s crypto)")


def register(app: typer.Typer) -> None:
    scenario = typer.Typer(help="SECMP0037 scenarios on emulated dongles.", no_args_is_help=True)
    app.add_typer(scenario, name="scenario")

    @scenario.command("secmp0037")
    def secmp0037(
        policy: Annotated[str, typer.Option(help="CH inter-PAN policy: gbcs (60-minute window) or secmp0037")] = "gbcs",
        ppmid_delay: Annotated[str, typer.Option(help="time from CH power-on to PPMID power-on (0, 59m59s, 5d)")] = "0",
        ch_power_cycle_at: Annotated[str | None, typer.Option(help="power-cycle the CH at this virtual time")] = None,
        pcap: Annotated[Path | None, typer.Option(help="write the air's capture here")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
        report: Annotated[Path | None, typer.Option(help="write a self-contained HTML report")] = None,
        transport: Annotated[str, typer.Option(help="how the emulated dongles are reached: tcp or pty")] = "tcp",
        rig_spec: Annotated[str | None, typer.Option("--rig", help="real dongles: an inventory PATH.yaml or labgrid:ENV.yaml "
                                                     "(roles ch, esme, ppmid); default: emulated dongles")] = None,
        ppmid_b: Annotated[str, typer.Option(help="with --rig: the PPMID's second EUI-64 (identity B)")] = "00DB5A5A5A5A0B02",
        ppmid_b_install_code: Annotated[str | None, typer.Option(help="with --rig: identity B's install code (hex)")] = None,
        ezsp_version: Annotated[int | None, typer.Option(help="emulated dongles' EZSP version (13: EmberZNet 7.4, "
                                                         "14: 8.0 ... 19); default: the emulator's")] = None,
    ) -> None:
        """CH powers on; after --ppmid-delay the dual-address PPMID pairs locally."""
        if policy not in pairing.POLICIES:
            raise typer.BadParameter(f"{policy!r} is not one of {', '.join(pairing.POLICIES)}", param_hint="--policy")
        delay = _duration(ppmid_delay, "--ppmid-delay")
        pc = _duration(ch_power_cycle_at, "--ch-power-cycle-at")
        if transport not in ("tcp", "pty"):
            raise typer.BadParameter(f"{transport!r} is not tcp or pty", param_hint="--transport")

        if ezsp_version is not None:
            from rig.sim import SimError, check_ezsp_version

            if rig_spec is not None:
                raise typer.BadParameter("real dongles speak their own firmware's version", param_hint="--ezsp-version")
            try:
                check_ezsp_version(ezsp_version)
            except SimError as exc:
                raise typer.BadParameter(str(exc), param_hint="--ezsp-version") from None
        code_b = None
        if rig_spec is not None:
            if not ppmid_b_install_code:
                raise typer.BadParameter("real dongles need identity B's install code", param_hint="--ppmid-b-install-code")
            try:
                code_b = bytes.fromhex(ppmid_b_install_code)
            except ValueError:
                raise typer.BadParameter(f"{ppmid_b_install_code!r} is not hex", param_hint="--ppmid-b-install-code") from None

        async def go() -> tuple[ScenarioResult, dict[str, str]]:
            from rig.backend import backend_for
            from rig.premises import Premises, PremisesError
            from rig.scenarios.secmp0037 import run

            with tempfile.TemporaryDirectory(prefix="rig-scenario-") as tmp:
                try:
                    label = {} if rig_spec is None else {"ppmid_b": ppmid_b, "ppmid_b_install_code": code_b}
                    backend = backend_for(rig_spec or "sim", state_dir=Path(tmp) / "nv", pcap=pcap,
                                          transport=transport, ezsp_version=ezsp_version, **label)
                except (ValueError, OSError) as exc:
                    raise typer.BadParameter(str(exc), param_hint="--rig") from None
                premises = Premises(backend, Path(tmp))
                try:
                    try:
                        await premises.setup()
                    except PremisesError as exc:
                        raise typer.BadParameter(str(exc), param_hint="--rig") from None
                    result = await run(premises, policy=policy, ppmid_delay=delay, ch_power_cycle_at=pc)
                    lab = getattr(backend, "lab", None)
                    return result, lab.firmware() if lab is not None else {}
                finally:
                    await premises.close()

        # emulated dongles: discrete-event time (rig.des); real dongles keep real pace
        result, firmware = asyncio.run(go()) if rig_spec is not None else des.run(go())
        if report is not None:
            from rig.scenarios.report import render

            report.write_text(render(result))
        if json_out:
            typer.echo(json.dumps({**result.to_json(), **({"firmware": firmware} if firmware else {})}, indent=2))
        else:
            _print_result(result, Console())
            for role, text in firmware.items():
                typer.echo(f"  {role}: {text}")
            if report is not None:
                typer.echo(f"report: {report}")

    @scenario.command("matrix")
    def matrix(
        json_out: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
        jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1,
                                                  help="rows run at once in worker processes (default: one per core)")] = None,
    ) -> None:
        """Both policies x delays 0, 59m59s, 60m1s, 5d x with/without a CH power cycle; exit 1 if a row differs.

        Rows are independent premises, so they run in parallel over the cores, each on its own
        discrete-event loop (``rig.des``)."""
        console = Console()
        rows = []
        for row in mx.run_rows(mx.rows(), jobs):
            rows.append(row)
            if not json_out:
                r = row.result
                console.print(f"  {row.policy:9} {format_duration(row.delay):7} "
                              f"pc={format_duration(row.power_cycle_at):6} -> "
                              f"{r.outcome if r else 'error'} {'' if not r or not r.reason else r.reason}"
                              f"{' ✓' if row.as_expected else ' ✗'}")
        if json_out:
            typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        else:
            table = Table(title="SECMP0037 matrix: expected vs actual")
            for col in ("policy", "PPMID delay", "CH power cycle", "expected", "actual", "checks", "ok"):
                table.add_column(col)
            for row in rows:
                r = row.result
                actual = row.error or (f"{r.outcome}" + (f" ({r.reason})" if r.reason else ""))
                expected = row.expected_outcome + (f" ({row.expected_reason})" if row.expected_reason else "")
                checks = "all pass" if r and not row.failed_checks else ", ".join(row.failed_checks) or "-"
                table.add_row(row.policy, format_duration(row.delay), format_duration(row.power_cycle_at),
                              expected, actual, checks, "✓" if row.as_expected else "✗",
                              style=None if row.as_expected else "red")
            console.print(table)
        bad = [r for r in rows if not r.as_expected]
        if bad:
            raise typer.Exit(1)
