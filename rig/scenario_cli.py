"""``rig scenario secmp0037 ...`` and ``rig scenario matrix`` (= ``make run``)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from bellows.exception import EzspError
from rich import box
from rich.console import Console
from rich.table import Table

from rig import des, pairing
from rig.atomic import scratch_dir
from rig.cli_common import fail, output_file, write_output
from rig.events import failed
from rig.inventory import InventoryError
from rig.power import PowerError
from rig.roles.ch.external import ExternalChError
from rig.roles.ch.wan import WanError
from rig.roles.ezsp_role import RoleError
from rig.scenarios import matrix as mx
from rig.scenarios.secmp0037 import (
    ScenarioError,
    ScenarioResult,
    format_duration,
    format_time,
    parse_duration,
)
from rig.transport import TransportError


def _duration(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ScenarioError as exc:
        fail(f"{option}: {exc}")


OUTCOMES = ("paired", "refused")


def _print_result(result: ScenarioResult, console: Console) -> None:
    table = Table(title=f"SECMP0037 — policy {result.policy}, PPMID at {format_duration(result.ppmid_delay)}"
                        + (f", CH power cycle at {format_duration(result.ch_power_cycle_at)}"
                           if result.ch_power_cycle_at is not None else ""),
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)      # fits 80 columns
    table.add_column("time" if result.ch_external else "virtual time", no_wrap=True)
    table.add_column("actor", no_wrap=True)
    table.add_column("step", overflow="fold")
    table.add_column("result", overflow="fold")
    for step in result.steps:
        style = "red" if failed(step["name"], step["result"]) else None
        table.add_row(format_time(step["time"]), step["actor"], step["name"], step["result"], style=style)
    console.print(table)
    for name, ok in result.checks.items():
        console.print(f"  {'✓' if ok else '✗'} {name}", style=None if ok else "red")
    for name, why in result.not_checked.items():
        console.print(f"  - {name}: not checked ({why})", style="dim")
    verdict = "paired" if result.outcome == "paired" else f"refused: {result.reason}"
    console.print(f"outcome: [bold]{verdict}[/bold]", highlight=False)
    console.print(f"  {result.real_seconds:.2f} s real, {result.cpu_seconds:.2f} s CPU of which "
                  f"{result.crypto_cpu_seconds:.2f} s crypto", highlight=False)


def register(app: typer.Typer) -> None:
    scenario = typer.Typer(help="SECMP0037 scenarios on emulated dongles.", no_args_is_help=True)
    app.add_typer(scenario, name="scenario")

    @scenario.command("secmp0037")
    def secmp0037(
        policy: Annotated[str | None, typer.Option(help="CH inter-PAN policy: gbcs (60-minute window) or secmp0037 "
                                                   "(default gbcs; against an external CH, the one it implements)")] = None,
        ppmid_delay: Annotated[str, typer.Option(help="time from CH power-on to PPMID power-on (0, 59m59s, 5d)")] = "0",
        ch_power_cycle_at: Annotated[str | None, typer.Option(help="power-cycle the CH at this virtual time")] = None,
        pcap: Annotated[Path | None, typer.Option(help="write the air's capture here (its folder is created)")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
        report: Annotated[Path | None, typer.Option(help="write a self-contained HTML report (its folder is created)")] = None,
        expect: Annotated[str | None, typer.Option(help="paired or refused: exit 1 if the outcome differs")] = None,
        transport: Annotated[str, typer.Option(help="how the emulated dongles are reached: tcp or pty")] = "tcp",
        rig_spec: Annotated[str | None, typer.Option("--rig", help="real dongles: an inventory PATH.yaml or labgrid:ENV.yaml "
                                                     "(roles ch, esme, ppmid; gsme if it has one); default: emulated dongles")] = None,
        ppmid_b: Annotated[str, typer.Option(help="with --rig: the PPMID's second EUI-64 (identity B)")] = "00DB5A5A5A5A0B02",
        ppmid_b_install_code: Annotated[str | None, typer.Option(help="with --rig: identity B's install code (hex)")] = None,
        ezsp_version: Annotated[int | None, typer.Option(help="emulated dongles' EZSP version (13: EmberZNet 7.4, "
                                                         "14: 8.0 ... 19); default: the emulator's")] = None,
        real_time: Annotated[bool, typer.Option("--real-time", help="against an external CH (inventory external_ch): "
                                                "wait out in real time what its clock must see pass")] = False,
    ) -> None:
        """CH powers on; after --ppmid-delay the dual-address PPMID pairs locally."""
        if policy is not None and policy not in pairing.POLICIES:
            fail(f"--policy {policy!r} is not one of {', '.join(pairing.POLICIES)}")
        if expect is not None and expect not in OUTCOMES:
            fail(f"--expect {expect!r} is not one of {', '.join(OUTCOMES)}")
        delay = _duration(ppmid_delay, "--ppmid-delay")
        pc = _duration(ch_power_cycle_at, "--ch-power-cycle-at")
        if transport not in ("tcp", "pty"):
            fail(f"--transport {transport!r} is not tcp or pty")

        if ezsp_version is not None:
            from rig.sim import SimError, check_ezsp_version

            if rig_spec is not None:
                fail("--ezsp-version: real dongles speak their own firmware's version")
            try:
                check_ezsp_version(ezsp_version)
            except SimError as exc:
                fail(f"--ezsp-version: {exc}")
        code_b = None
        if rig_spec is not None and ppmid_b_install_code:     # else rig provision's labels give it
            try:
                code_b = bytes.fromhex(ppmid_b_install_code)
            except ValueError:
                fail(f"--ppmid-b-install-code {ppmid_b_install_code!r} is not hex")
        output_file(report, "--report")
        output_file(pcap, "--pcap")

        async def go() -> tuple[ScenarioResult, dict[str, str]]:
            from rig.backend import backend_for
            from rig.premises import Premises, PremisesError
            from rig.scenarios.secmp0037 import run

            with tempfile.TemporaryDirectory(prefix="rig-scenario-", dir=scratch_dir()) as tmp:
                try:
                    label = {} if rig_spec is None else {"ppmid_b": ppmid_b, "ppmid_b_install_code": code_b}
                    backend = backend_for(rig_spec or "sim", state_dir=Path(tmp) / "nv", pcap=pcap,
                                          transport=transport, ezsp_version=ezsp_version, **label)
                except (ValueError, OSError, InventoryError) as exc:
                    fail(f"--rig {rig_spec}: {exc}")
                premises = Premises(backend, Path(tmp))
                try:
                    try:
                        await premises.setup()
                    except PremisesError as exc:
                        fail(f"--rig {rig_spec or 'sim'}: {exc}")
                    chosen = policy or (premises.external.policy if premises.external else "gbcs")
                    try:
                        result = await run(premises, policy=chosen, ppmid_delay=delay, ch_power_cycle_at=pc,
                                           real_waits=real_time)
                    except PremisesError as exc:
                        fail(f"--rig {rig_spec}: {exc}")
                    lab = getattr(backend, "lab", None)
                    return result, lab.firmware() if lab is not None else {}
                finally:
                    try:
                        await premises.close()
                    except (PowerError, TransportError, OSError):
                        pass            # closing after a failure: the failure is what gets reported

        # emulated dongles: discrete-event time (rig.des); real dongles keep real pace
        try:
            result, firmware = asyncio.run(go()) if rig_spec is not None else des.run(go())
        except PowerError as exc:
            fail(f"power control failed: {exc}")
        except TransportError as exc:
            fail(str(exc))
        except (EzspError, RoleError, ConnectionError, TimeoutError) as exc:     # a dongle stopped answering
            fail(f"the run stopped: {type(exc).__name__}: {exc}")
        except (ScenarioError, ExternalChError, WanError) as exc:
            fail(str(exc))
        if report is not None:
            from rig.scenarios.report import render

            write_output(report, render(result), "--report")
        if json_out:
            typer.echo(json.dumps({**result.to_json(), **({"firmware": firmware} if firmware else {})}, indent=2))
        else:
            _print_result(result, Console())
            for role, text in firmware.items():
                typer.echo(f"  {role}: {text}")
            if result.pcap is not None:
                typer.echo(f"pcap: {result.pcap}")
            if report is not None:
                typer.echo(f"report: {report}")
        if expect is not None and result.outcome != expect:
            got = result.outcome + (f" ({result.reason})" if result.reason else "")
            fail(f"expected {expect}, the CH's answer was {got}", 1)

    @scenario.command("matrix")
    def matrix(
        json_out: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
        jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1,
                                                  help="rows run at once in worker processes (default: one per core)")] = None,
        rig_spec: Annotated[str | None, typer.Option("--rig", help="real dongles: an inventory PATH.yaml (rows run one "
                                                     "after another on the bench); default: emulated premises")] = None,
        real_time: Annotated[bool, typer.Option("--real-time", help="against an external CH: also run the rows "
                                                "that wait on its clock, in real time")] = False,
    ) -> None:
        """Both policies x delays 0, 59m59s, 60m1s, 5d x with/without a CH power cycle; exit 1 if a row differs.

        Rows are independent premises, so they run in parallel over the cores, each on its own
        discrete-event loop (``rig.des``)."""
        console = Console()
        rows = []
        todo = mx.rows()
        runs = mx.run_rows(todo, jobs) if rig_spec is None else _bench_rows(todo, rig_spec, real_time)
        for row in runs:
            rows.append(row)
            if not json_out:
                r = row.result
                outcome = "not run (reason below)" if row.skipped else \
                    f"{r.outcome if r else 'error'} {'' if not r or not r.reason else r.reason}" + \
                    (" ✓" if row.as_expected else " ✗")
                console.print(f"  {row.policy:9} {format_duration(row.delay):7} "
                              f"pc={format_duration(row.power_cycle_at):6} -> {outcome}")
        if json_out:
            typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        else:
            table = Table(title="SECMP0037 matrix: expected vs actual", box=box.SIMPLE_HEAD, show_edge=False,
                          padding=(0, 1, 0, 0))                   # readable at 80 columns
            for col in ("policy", "delay", "CH cycle", "expected", "actual", "reason"):
                table.add_column(col, no_wrap=True, overflow="fold")
            table.add_column("ok", overflow="fold")                # ✓, or ✗ and the checks that failed
            skip_notes: dict[str, str] = {}                        # why a row was not run -> its [n]
            for row in rows:
                r = row.result
                if row.skipped:
                    note = skip_notes.setdefault(row.skipped, f"[{len(skip_notes) + 1}]")
                    table.add_row(row.policy, format_duration(row.delay), format_duration(row.power_cycle_at),
                                  row.expected_outcome, "not run", note, "-", style="dim")
                    continue
                actual = "error" if r is None else r.outcome
                reason = row.error or (r.reason if r is not None else None) or "-"
                if row.expected_reason is not None and reason != row.expected_reason:
                    reason += f" (expected {row.expected_reason})"
                ok = "✓" if row.as_expected else " ".join(["✗", *row.failed_checks])
                table.add_row(row.policy, format_duration(row.delay), format_duration(row.power_cycle_at),
                              row.expected_outcome, actual, reason, ok, style=None if row.as_expected else "red")
            console.print(table)
            for why, note in skip_notes.items():
                console.print(f"{note} not run: {why}", highlight=False)
        bad = [r for r in rows if not r.as_expected and not r.skipped]
        ran = [r for r in rows if not r.skipped]
        if not json_out and len(ran) < len(rows):
            typer.echo(f"{len(ran)} of {len(rows)} rows run; {len(rows) - len(ran)} not run against this CH")
        if bad or not ran:
            raise typer.Exit(1)


def _bench_rows(todo: list[mx.Row], rig_spec: str, real_waits: bool):
    """The rows on a bench, one after another, each on a premises of its own (set up, run, closed)."""
    from rig.backend import backend_for
    from rig.premises import Premises, PremisesError

    async def one(row: mx.Row, tmp: Path) -> mx.Row:
        try:
            backend = backend_for(rig_spec, state_dir=tmp / "nv")
        except (ValueError, OSError, InventoryError) as exc:
            fail(f"--rig {rig_spec}: {exc}")
        premises = Premises(backend, tmp)
        try:
            try:
                await premises.setup()
            except PremisesError as exc:
                fail(f"--rig {rig_spec}: {exc}")
            return await mx.run_row(row, premises=premises, real_waits=real_waits)
        finally:
            try:
                await premises.close()
            except (PowerError, TransportError, OSError):
                pass

    for row in todo:
        with tempfile.TemporaryDirectory(prefix="rig-matrix-") as tmp:
            try:
                yield asyncio.run(one(row, Path(tmp)))
            except (PowerError, TransportError) as exc:
                fail(f"--rig {rig_spec}: {exc}")
