"""``rig sim up``: serve named emulated dongles until interrupted."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
from pathlib import Path

import typer

from rig import pairing
from rig.cli_common import fail, output_file
from rig.gbcs import KeyStoreError
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
        ch_dut: str | None = typer.Option(None, "--ch-dut", metavar="POLICY",
                                          help="Also put a complete CH (the rig's CH program, inter-PAN policy "
                                          "gbcs or secmp0037) on the air as a black box: a device under test "
                                          "for an inventory's external_ch.  Prints 'ch-dut URL', its control "
                                          "line (WAN into its device log, power-cycle)."),
        ch_pki: Path | None = typer.Option(None, help="With --ch-dut: the CH's test PKI folder (ca/ and keys/; "
                                           "made if absent).  Default: STATE_DIR/ch-pki."),
    ) -> None:
        """Start dongles on one virtual air, print 'NAME URL' per dongle (then 'ch-dut URL' with --ch-dut,
        then 'sniffer URL'), run until interrupted."""
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
        if ch_dut is not None and ch_dut not in pairing.POLICIES:
            fail(f"--ch-dut {ch_dut!r} is not a policy ({' or '.join(pairing.POLICIES)})")
        if ch_dut is not None and "ch-dut" in names:
            fail("--dongles: 'ch-dut' is the name of the --ch-dut CH's own dongle; name yours otherwise")
        if ch_pki is not None and ch_dut is None:
            fail("--ch-pki is the --ch-dut CH's PKI: give --ch-dut POLICY too")
        _state_dir(state_dir)
        if ch_dut is not None:
            ch_pki = ch_pki or state_dir / "ch-pki"
            _state_dir(ch_pki, "--ch-pki")
        output_file(pcap, "--pcap")
        try:
            asyncio.run(_serve(names, state_dir, transport, host, pcap, ezsp_version, ch_dut=ch_dut, ch_pki=ch_pki))
        except (OSError, SimError, ValueError, KeyStoreError) as exc:
            fail(f"cannot serve the dongles: {exc}")

    @sim.command("power-cycle")
    def power_cycle(url: str = typer.Argument(..., help="The 'ch-dut' URL 'rig sim up --ch-dut' printed.")) -> None:
        """Power-cycle the CH that 'rig sim up --ch-dut' serves (what an inventory's external_ch.power
        command runs); exits 0 once it is back on the air."""
        from rig.roles.ch.wan import WanClient, WanError

        try:
            asyncio.run(WanClient(url).power_cycle())
        except WanError as exc:
            fail(str(exc))
        print(f"{url}: power-cycled")

    app.add_typer(sim, name="sim")


def _state_dir(path: Path, option: str = "--state-dir") -> None:
    """Create ``option``'s folder or fail naming it: it must be a folder the dongles can write files in."""
    if path.exists() and not path.is_dir():
        fail(f"{option} {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{option} {path}: cannot create it ({exc.strerror or exc})")
    if not os.access(path, os.W_OK | os.X_OK):
        fail(f"{option} {path}: not writable")


async def _serve(names, state_dir: Path, transport: str, host: str, pcap, ezsp_version: int | None = None, *,
                 ch_dut: str | None = None, ch_pki: Path | None = None) -> None:
    from rig.clock import RealClock
    from rig.sim import new_air, tap_server

    clock = RealClock()
    air = new_air(clock, pcap=pcap)
    lab = SimLab(clock=clock, state_dir=state_dir, air=air, ezsp_version=ezsp_version)
    urls = await lab.start(names, transport=transport, host=host)
    for name, url in urls.items():
        print(f"{name} {url}", flush=True)
    dut = None
    if ch_dut is not None:
        from rig.ch_dut import ChDut

        dut = ChDut(lab, policy=ch_dut, pki=ch_pki, clock=clock, state_dir=state_dir)
        print(f"ch-dut {await dut.start(host)}", flush=True)
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
        if dut is not None:
            await dut.stop()
        await lab.stop()
        air.close()
