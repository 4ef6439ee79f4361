"""``rig sim up``: serve named emulated dongles until interrupted."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
from pathlib import Path

import typer

from rig.cli_common import fail, output_file
from rig.sim import SimError, SimLab, check_ezsp_version, parse_names

TRANSPORTS = ("tcp", "pty")


def register(app: typer.Typer) -> None:
    sim = typer.Typer(help="Emulated EZSP dongles.", no_args_is_help=True)

    @sim.command("up")
    def up(
        dongles: str = typer.Option("ch,hht,ppmid", help="Comma-separated dongle names."),
        state_dir: Path = typer.Option(Path(".rig-state"), help="Directory for each dongle's NV file."),
        transport: str = typer.Option("tcp", help="'tcp' or 'pty'."),
        host: str = typer.Option("127.0.0.1", help="Listen address (tcp). Anything but loopback must be "
                                 "asked for: an open port is a radio anyone can drive."),
        pcap: Path | None = typer.Option(None, help="Write every frame on the air to this pcap."),
        ezsp_version: int | None = typer.Option(None, help="EZSP version of the emulated firmware (13: EmberZNet "
                                                "7.4, 14: 8.0, ... 19); it speaks only that one and reports "
                                                "the matching EmberZNet version.  Default: the emulator's."),
    ) -> None:
        """Start dongles on one virtual air, print 'NAME URL' per dongle (then 'sniffer URL'), run until
        interrupted."""
        try:
            names = parse_names(dongles)
        except SimError as exc:
            fail(f"--dongles: {exc}")
        if transport not in TRANSPORTS:
            fail(f"--transport {transport!r} is not one of {', '.join(TRANSPORTS)}")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            fail(f"--host {host!r} is not an IP address")
        try:
            check_ezsp_version(ezsp_version)
        except SimError as exc:
            fail(f"--ezsp-version: {exc}")
        _state_dir(state_dir)
        output_file(pcap, "--pcap")
        try:
            asyncio.run(_serve(names, state_dir, transport, host, pcap, ezsp_version))
        except (OSError, SimError, ValueError) as exc:
            fail(f"cannot serve the dongles: {exc}")

    app.add_typer(sim, name="sim")


def _state_dir(path: Path) -> None:
    """Create ``--state-dir`` or fail naming it: it must be a folder the dongles can write NV files in."""
    if path.exists() and not path.is_dir():
        fail(f"--state-dir {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--state-dir {path}: cannot create it ({exc.strerror or exc})")
    if not os.access(path, os.W_OK | os.X_OK):
        fail(f"--state-dir {path}: not writable")


async def _serve(names, state_dir: Path, transport: str, host: str, pcap, ezsp_version: int | None = None) -> None:
    from rig.clock import RealClock
    from rig.sim import new_air, tap_server

    clock = RealClock()
    air = new_air(clock, pcap=pcap)
    lab = SimLab(clock=clock, state_dir=state_dir, air=air, ezsp_version=ezsp_version)
    urls = await lab.start(names, transport=transport, host=host)
    for name, url in urls.items():
        print(f"{name} {url}", flush=True)
    tap = tap_server(air)
    print(f"sniffer {await tap.start(host)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await tap.stop()
        await lab.stop()
        air.close()
