"""``rig probe`` and ``rig write-eui64``: the bench commands for real (or emulated) EZSP dongles."""

from __future__ import annotations

import asyncio
import json

import typer
from bellows.exception import EzspError
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rig.cli_common import fail, literal
from rig.inventory import check_port
from rig.power import PowerError, open_when_ready
from rig.probe import (
    ProbeError,
    list_serial_ports,
    parse_eui64,
    plan_eui64_write,
    probe_many,
    write_and_read_back,
)

WIDE = 120        # columns from which the probe results are one table; narrower, one small table per dongle
FLOW = {"none": None, "software": "software", "hardware": "hardware"}


def _flow(value: str) -> str | None:
    if value not in FLOW:
        raise typer.BadParameter(f"{value!r} is not one of none, software, hardware")
    return FLOW[value]


def _check_path(value: str) -> str:
    problem = check_port(value)
    if problem:
        raise typer.BadParameter(problem)
    return value


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe(
        urls: list[str] = typer.Argument(None, help="Extra dongles to probe: tcp://, socket://, rfc2217:// URLs "
                                                    "or device paths."),
        serial: bool = typer.Option(True, "--serial/--no-serial", help="Also probe USB serial ports pyserial finds."),
        timeout: float = typer.Option(15.0, help="Seconds per dongle."),
        baudrate: int = typer.Option(115200, help="Baud rate for serial ports."),
        flow_control: str = typer.Option("none", help="none, software or hardware."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON list instead of a table."),
    ) -> None:
        """List EZSP dongles: USB VID/PID, serial number, by-id path, EZSP and stack version, EUI-64,
        custom EUI-64 (MFG token), NV3 rewrite, CBKE certificate."""
        flow = _flow(flow_control)
        targets = [(_check_path(url), None) for url in (urls or [])]
        if serial:
            targets += [(port.path, port) for port in list_serial_ports()]
        console = Console(stderr=as_json, emoji=False, highlight=False)
        if not targets:
            console.print("no USB serial ports found and no URLs given (try: rig probe tcp://HOST:PORT)")
            raise typer.Exit(1)
        with console.status(f"probing {len(targets)} port(s)…"):
            reports = asyncio.run(probe_many(targets, timeout=timeout, baudrate=baudrate, flow_control=flow))
        if as_json:
            print(json.dumps([r.as_dict() for r in reports], indent=1))
        else:
            console.print(_table(reports) if console.width >= WIDE else _cards(reports))
        if not any(r.ok for r in reports):
            if len(reports) == 1:
                fail(reports[0].error or f"{reports[0].path}: no EZSP answer", 1)
            fail(f"none of the {len(reports)} ports answered EZSP (see each one's error above)", 1)

    @app.command("write-eui64")
    def write_eui64_cmd(
        port: str = typer.Argument(..., help="Dongle path or URL."),
        eui64: str = typer.Argument(..., help=literal("New IEEE address, e.g. 00:12:4B:00:01:AB:CD:EF.")),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        burn: bool = typer.Option(False, "--burn", help="Allow writing the WRITE-ONCE manufacturing token when "
                                                        "the firmware has no NV3 token. Can never be undone."),
        timeout: float = typer.Option(15.0, help="Seconds to wait for the dongle."),
        baudrate: int = typer.Option(115200, help="Baud rate for serial ports."),
        flow_control: str = typer.Option("none", help="none, software or hardware."),
    ) -> None:
        """Give a dongle a new IEEE address (NV3 token when the firmware has it, as bellows does), reset it
        and read the address back."""
        console = Console(soft_wrap=True, emoji=False, highlight=False)
        _check_path(port)
        flow = _flow(flow_control)
        try:
            target = parse_eui64(eui64)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="EUI64") from None
        shown = escape(port)

        # One connection from plan to read-back (a one-host port is not reopened between steps);
        # the confirmation prompt runs between two steps on the same event loop.
        with asyncio.Runner() as runner:
            try:
                ezsp = runner.run(open_when_ready(port, baudrate=baudrate, flow_control=flow, timeout=timeout))
            except PowerError as exc:
                console.print(f"[red]error:[/red] {escape(str(exc))}")
                raise typer.Exit(2) from None
            try:
                decided = runner.run(plan_eui64_write(ezsp, port, target, burn=burn))
                if decided.method == "nothing":
                    console.print(escape(decided.reason))
                    return
                if decided.method == "refuse":
                    console.print(f"[red]refused:[/red] {shown}: {escape(decided.reason)}")
                    raise typer.Exit(1)
                console.print(f"{shown}: EUI-64 {decided.current} → {decided.target}")
                console.print(f"method: {escape(decided.reason)}")
                if decided.method == "burn":
                    console.print("[bold red]WARNING: the manufacturing custom EUI-64 is write-once. Once written "
                                  "it can never be undone or changed again.[/bold red]")
                if not yes and not typer.confirm("Write it?", default=False):
                    console.print("nothing written")
                    raise typer.Exit(1)
                now = runner.run(write_and_read_back(ezsp, target, burn=decided.method == "burn"))
            except (ProbeError, EzspError, TimeoutError) as exc:
                console.print(f"[red]error:[/red] {shown}: {escape(str(exc) or type(exc).__name__)}")
                raise typer.Exit(2) from None
            finally:
                runner.run(ezsp.disconnect())
        if now != decided.target:
            console.print(f"[red]read back {now} after reset, expected {decided.target}[/red]")
            raise typer.Exit(1)
        console.print(f"written ({decided.method}); after reset the dongle uses {now}")


def _cells(r) -> list[tuple[str, str]]:
    """(column, text) of one probe report, as the table and the narrow view show it."""
    usb = r.usb
    port = r.path if usb is None or usb.by_id is None else f"{usb.by_id}\n({usb.device})"
    if r.custom_eui64_state == "burnt":
        custom = r.custom_eui64
    else:
        custom = {"unset": "unset", "unsupported": "n/a"}.get(r.custom_eui64_state, "?")
    nv3 = "?" if r.nv3_rewrite is None else ("yes" if r.nv3_rewrite else "no")
    if r.nv3_eui64:
        nv3 += f" ({r.nv3_eui64})"
    return [("port", escape(port)), ("USB", usb.vid_pid if usb else ""),
            ("serial no.", (usb.serial_number or "") if usb else ""), ("EZSP", str(r.ezsp_version or "")),
            ("stack", r.stack_version or ""), ("EUI-64", r.eui64 or ""),
            ("custom EUI-64 (MFG)", custom if r.ok else ""), ("NV3 rewrite", nv3 if r.ok else ""),
            ("CBKE cert", r.cbke_certificate if r.ok else ""),
            ("board / error", escape(r.error or " ".join(x for x in (r.manufacturer, r.board) if x)))]


def _cards(reports) -> Group:
    """Narrow terminals (< WIDE columns): one two-column table per dongle, nothing cut."""
    cards = []
    for r in reports:
        card = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
        card.add_column("what", no_wrap=True, style="bold")
        card.add_column("value", overflow="fold")
        for column, text in _cells(r):
            if text:
                card.add_row(column, text)
        cards.append(card)
    return Group(Text("EZSP dongles", style="bold"), *cards)


def _table(reports) -> Table:
    table = Table(title="EZSP dongles", show_lines=False)
    for column in ("port", "USB", "serial no.", "EZSP", "stack", "EUI-64", "custom EUI-64 (MFG)", "NV3 rewrite",
                   "CBKE cert", "board / error"):
        table.add_column(column, overflow="fold")
    for r in reports:
        table.add_row(*(text for _column, text in _cells(r)))
    return table
