"""``rig attack list`` and ``rig attack run`` (= ``make attacks``): the attack catalogue (``rig.attacks``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from rig import pairing
from rig.cli_common import fail, output_file, write_output

WIDE = 120        # columns from which attacks are one table; narrower, one indented block per attack


def _fail(message: str) -> None:
    fail(message, 2)


def _console(stderr: bool = False) -> Console:
    """The terminal's width; piped output (no terminal, no COLUMNS) is not wrapped at 80."""
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(stderr=stderr, width=None if wide else 200, highlight=False)


def _block(console: Console, name: str, tag: str, fields: list[tuple[str, str]], style: str | None = None) -> None:
    """One attack on a narrow terminal: its name and tag, then each field wrapped under it."""
    console.print(Text.assemble((name, "bold"), f"  ({tag})"), style=style)
    for label, text in fields:
        console.print(Padding(Text(f"{label}: {text}"), (0, 0, 0, 4)), style=style)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The attack catalogue: attacks over the air on a CH whose inter-PAN door is open.",
                        no_args_is_help=True)
    app.add_typer(group, name="attack")

    @group.command("list")
    def list_(json_out: Annotated[bool, typer.Option("--json", help="print one JSON list")] = False) -> None:
        """Every attack: name, family, the rule it probes, its source, policies and expected reasons."""
        from rig.attacks import load

        attacks = list(load().values())
        if json_out:
            typer.echo(json.dumps([a.to_json() for a in attacks], indent=2))
            return
        console = _console()
        if console.width < WIDE:
            console.print(f"[bold]attack catalogue ({len(attacks)} attacks)[/bold]")
            for a in attacks:
                _block(console, a.name, f"{a.source_label}; {', '.join(a.policies)}",
                       [("rule", a.rule), ("expected (held)", " | ".join(a.expect))])
            return
        table = Table(title=f"attack catalogue ({len(attacks)} attacks)")
        table.add_column("attack", no_wrap=True)
        for col in ("rule", "source", "policies", "expected (held)"):
            table.add_column(col)
        for a in attacks:
            table.add_row(a.name, a.rule, a.source_label, ", ".join(a.policies), " | ".join(a.expect))
        console.print(table)

    @group.command("run")
    def run(
        names: Annotated[list[str] | None, typer.Argument(help="attack names or family names (see rig attack list)")] = None,
        run_all: Annotated[bool, typer.Option("--all", help="every attack in the catalogue")] = False,
        policy: Annotated[str | None, typer.Option(help="gbcs or secmp0037 (default: both)")] = None,
        rig_spec: Annotated[str, typer.Option("--rig", help="sim (default), an inventory PATH.yaml or labgrid:ENV.yaml")] = "sim",
        json_out: Annotated[bool, typer.Option("--json", help="print one JSON list of results")] = False,
        report: Annotated[Path | None, typer.Option(help="write a self-contained HTML report")] = None,
        ppmid_b: Annotated[str, typer.Option(help="with --rig PATH: the PPMID's second EUI-64 (identity B)")] = "00DB5A5A5A5A0B02",
        ppmid_b_install_code: Annotated[str | None, typer.Option(help="with --rig PATH: identity B's install code (hex)")] = None,
    ) -> None:
        """Run attacks; print attack / rule / outcome / reason / state unchanged; exit 1 if any is breached."""
        from rig.attacks import select
        from rig.attacks.runner import plan, run_on_backend

        if not names and not run_all:
            _fail("name at least one attack (or family), or --all; see rig attack list")
        if names and run_all:
            _fail("give attack names or --all, not both")
        try:
            attacks = select(names, everything=run_all)
        except KeyError as exc:
            _fail(f"unknown attack {exc.args[0]!r} (rig attack list names them)")
        if policy is not None and policy not in pairing.POLICIES:
            _fail(f"--policy {policy!r} is not one of {', '.join(pairing.POLICIES)}")
        policies = [policy] if policy else list(pairing.POLICIES)
        runs = plan(attacks, policies)
        if not runs:
            _fail(f"none of these attacks applies to policy {policy}")
        label = {}
        if rig_spec != "sim":
            from rig.backend import backend_for
            from rig.inventory import InventoryError

            if not rig_spec.endswith((".yaml", ".yml")):
                _fail(f"--rig {rig_spec!r}: expected 'sim', an inventory PATH.yaml or labgrid:ENV.yaml")
            try:
                bench = backend_for(rig_spec)
            except (ValueError, OSError, InventoryError) as exc:
                _fail(f"--rig {rig_spec}: {exc}")
            if not ppmid_b_install_code and getattr(bench, "provisioned", None) is None:
                _fail("--rig with real dongles needs --ppmid-b-install-code (identity B's install code), "
                      "or the labels 'rig provision INVENTORY' writes")
            try:
                label = {} if not ppmid_b_install_code else \
                    {"ppmid_b": ppmid_b, "ppmid_b_install_code": bytes.fromhex(ppmid_b_install_code)}
            except ValueError:
                _fail(f"--ppmid-b-install-code {ppmid_b_install_code!r} is not hex")
            external = getattr(bench, "external_ch", None)
            if external is not None and policy is None:        # the CH under test implements one policy
                runs = plan(attacks, [external.policy])
        console = _console(stderr=json_out)
        output_file(report, "--report")

        async def go():
            from rig.power import PowerError
            from rig.premises import PremisesError
            from rig.roles.ch.external import ExternalChError
            from rig.roles.ch.wan import WanError
            from rig.transport import TransportError

            results = []
            for attack_, pol in runs:
                try:
                    result = await run_on_backend(attack_, pol, rig=rig_spec, label=label)
                except PremisesError as exc:
                    _fail(f"the premises could not be built: {exc}")
                except (PowerError, TransportError, ExternalChError, WanError) as exc:     # the bench went away
                    done = f" ({len(results)} attack(s) finished before)" if results else ""
                    _fail(f"{attack_.name} ({pol}): the bench stopped answering: {exc}{done}")
                results.append(result)
                if not json_out:
                    style = "red" if result.outcome in ("breached", "error") else ("yellow" if result.reason_expected is False else None)
                    console.print(f"  {result.outcome:8} {pol:9} {attack_.name}: {result.reason}"
                                  + (f" [CH: {result.ch_reason}]" if result.outcome != "held" and result.ch_reason else "")
                                  + "  "
                                  f"({result.real_seconds:.1f} s)", style=style, highlight=False)
            return results

        # emulated dongles: discrete-event time (rig.des), as `rig scenario`; real dongles keep real pace
        if rig_spec == "sim":
            from rig import des

            results = des.run(go())
        else:
            results = asyncio.run(go())
        if report is not None:
            from rig.scenarios.report import render_attacks

            write_output(report, render_attacks(results), "--report")
        if json_out:
            typer.echo(json.dumps([r.to_json() for r in results], indent=2))
        else:
            table = Table(title="attacks")
            table.add_column("attack", no_wrap=True)
            for col in ("policy", "rule", "outcome", "reason", "state unchanged"):
                table.add_column(col)
            narrow = console.width < WIDE
            if narrow:
                console.print("[bold]attacks[/bold]")
            for r in results:
                unchanged = "-" if r.state_unchanged is None else ("yes" if r.state_unchanged else "NO")
                outcome = "held (unexpected reason)" if r.outcome == "held" and r.reason_expected is False else r.outcome
                style = "red" if r.outcome in ("breached", "error") else None
                if narrow:
                    _block(console, r.name, r.policy, [("outcome", outcome), ("reason", r.reason or "-"),
                                                       ("state unchanged", unchanged), ("rule", r.rule)], style)
                else:
                    table.add_row(r.name, r.policy, r.rule, outcome, r.reason or "-", unchanged, style=style)
            if not narrow:
                console.print(table)
            held = sum(r.outcome == "held" for r in results)
            skipped = sum(r.outcome == "skipped" for r in results)
            console.print(f"{held} of {len(results)} held; {len(results) - held - skipped} breached or in error"
                          + (f"; {skipped} skipped" if skipped else ""))
            if report is not None:
                typer.echo(f"report: {report}")
        sys.stdout.flush()
        if any(r.outcome in ("breached", "error") for r in results):
            raise typer.Exit(1)
