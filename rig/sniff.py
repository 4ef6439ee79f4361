"""``rig sniff``: print or record the frames of a running ``rig sim up`` (its sniffer URL).

The same pcap format (802.15.4 with FCS, ns timestamps, Wireshark keys folder) as the in-process
captures, so a lab can diff an emulated run against a hardware sniffer's capture.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path

import typer

from rig.capture import Capture, FramePrinter, KeyRing
from rig.cli_common import output_file

GREETING = b"RIGSNIFF1\n"
RECORD_SIZE = 11


class SniffError(Exception):
    """The sniffer URL is wrong or does not speak the rig's sniffer stream."""


def parse_url(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
        raise SniffError(f"sniffer URL must look like tcp://127.0.0.1:PORT, got {url!r}")
    return parsed.hostname, parsed.port


async def sniff(url: str, *, sink, count: int | None = None, timeout: float = 10.0) -> int:
    """Feed ``sink(t, channel, psdu)`` with frames from ``url``; returns the number of frames."""
    import struct

    host, port = parse_url(url)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        raise SniffError(f"cannot connect to sniffer {url}: {str(exc) or type(exc).__name__}") from exc
    try:
        try:
            greeting = await asyncio.wait_for(reader.readexactly(len(GREETING)), timeout)
        except TimeoutError:
            raise SniffError(f"{url} accepted the connection but sent no sniffer greeting in {timeout:g} s "
                             "(is it the 'sniffer' URL rig sim up printed?)") from None
        except (asyncio.IncompleteReadError, OSError) as exc:
            raise SniffError(f"{url} closed the connection before its sniffer greeting "
                             f"({str(exc) or type(exc).__name__})") from None
        if greeting != GREETING:
            raise SniffError(f"{url} is not a rig sniffer stream (greeting {greeting!r})")
        n = 0
        while count is None or n < count:
            try:
                header = await reader.readexactly(RECORD_SIZE)
            except asyncio.IncompleteReadError:
                break
            t, channel, length = struct.unpack("<dBH", header)
            sink(t, channel, await reader.readexactly(length))
            n += 1
        return n
    finally:
        writer.close()


def register(app: typer.Typer) -> None:
    @app.command("sniff")
    def sniff_cmd(
        url: str = typer.Argument(..., help="The sniffer URL `rig sim up` printed (tcp://...)."),
        pcap: Path | None = typer.Option(None, help="Write frames to this pcap (+ NAME.wireshark/ keys folder)."),
        key: list[str] = typer.Option([], help="Network or link key (32 hex digits) to decrypt; repeatable."),
        count: int | None = typer.Option(None, help="Stop after this many frames."),
    ) -> None:
        """Live-print (or record) every frame on a running emulated air."""
        keys = []
        for k in key:
            try:
                raw = bytes.fromhex(k)
                if len(raw) != 16:
                    raise ValueError
            except ValueError:
                raise typer.BadParameter(f"key {k!r} must be 32 hex digits") from None
            keys.append(raw)
        capture = Capture(output_file(pcap, "--pcap")) if pcap else None
        ring = KeyRing(network_keys=keys, link_keys=keys)
        for i, raw in enumerate(keys):
            if capture is not None:
                capture.add_key(raw, f"key {i + 1}")
        printer = FramePrinter(keys=ring)

        def sink(t: float, channel: int, psdu: bytes) -> None:
            if capture is not None:
                capture.write(psdu, t)
            else:
                printer(t, channel, psdu)

        try:
            asyncio.run(sniff(url, sink=sink, count=count))
        except SniffError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            pass
        finally:
            if capture is not None:
                capture.close()
