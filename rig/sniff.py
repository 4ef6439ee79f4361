"""``rig sniff``: print or record the frames of a running ``rig sim up`` (its sniffer URL), or of an
EZSP dongle in mfglib mode (``--channel``): a real one on the bench or an emulated one, the same way.

The same pcap format (802.15.4 with FCS, ns timestamps, Wireshark keys folder) as the in-process
captures, so a lab can diff an emulated run against a hardware sniffer's capture.  An mfglib dongle
hands up each frame with two trailing bytes that are not its FCS (bellows drops them for zigpy's
packet capture); the sniffer writes the frame's real FCS there.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from rig.capture import Capture, FramePrinter, KeyRing
from rig.cli_common import output_file

LOGGER = logging.getLogger(__name__)
GREETING = b"RIGSNIFF1\n"
RECORD_SIZE = 11


class SniffError(Exception):
    """The sniffer URL is wrong or does not speak the rig's sniffer stream."""


def parse_url(url: str) -> tuple[str, int]:
    from rig.transport import tcp_address

    address = tcp_address(url)
    if address is None:
        raise SniffError(f"sniffer URL must look like tcp://127.0.0.1:PORT, got {url!r}")
    return address


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


def _fcs(frame: bytes) -> bytes:
    from rig.zigbee.frames import fcs

    return fcs(frame).to_bytes(2, "little")


async def sniff_mfglib(path: str, *, channel: int, sink, count: int | None = None, timeout: float = 30.0) -> int:
    """Feed ``sink(t, channel, psdu)`` with every frame an EZSP dongle hears on ``channel`` in mfglib mode.

    ``path`` is whatever ``rig.transport.open_ezsp`` opens (serial port, pty, ``tcp://``).  Runs until
    ``count`` frames were seen (or forever; cancel it), then ends mfglib and closes the dongle.
    """
    from rig.transport import TransportError, open_ezsp

    try:
        ezsp = await open_ezsp(path, timeout=timeout)
    except TransportError as exc:
        raise SniffError(str(exc)) from exc
    loop = asyncio.get_running_loop()
    frames: asyncio.Queue[bytes] = asyncio.Queue()

    def on_callback(name, args) -> None:
        if name == "mfglibRxHandler":
            frames.put_nowait(bytes(args[2]))

    ezsp.add_callback(on_callback)
    started = False
    try:
        for command, params in (("mfglibStart", {"rxCallback": True}), ("mfglibSetChannel", {"channel": channel})):
            (status,) = await getattr(ezsp, command)(**params)
            if int(status) != 0:
                shown = ", ".join(f"{v}" for v in params.values())
                raise SniffError(f"{path}: {command}({shown}) answered {getattr(status, 'name', status)}")
            started = True
        n = 0
        while count is None or n < count:
            packet = await frames.get()
            if len(packet) < 5:
                continue
            body = packet[:-2]
            sink(loop.time(), channel, body + _fcs(body))
            n += 1
        return n
    finally:
        if started:
            try:
                await ezsp.mfglibEnd()
            except Exception as exc:   # noqa: BLE001 - the dongle may be gone; closing it is all that is left
                LOGGER.debug("%s: mfglibEnd failed: %s", path, exc)
        await ezsp.disconnect()


def register(app: typer.Typer) -> None:
    @app.command("sniff")
    def sniff_cmd(
        url: str = typer.Argument(..., help="The sniffer URL `rig sim up` printed (tcp://...), or with "
                                  "--channel an EZSP dongle (serial port, pty or tcp://) to capture with."),
        pcap: Path | None = typer.Option(None, help="Write frames to this pcap (+ NAME.wireshark/ keys folder)."),
        key: list[str] = typer.Option([], help="Network or link key (32 hex digits) to decrypt; repeatable."),
        count: int | None = typer.Option(None, help="Stop after this many frames."),
        channel: int | None = typer.Option(None, help="URL is an EZSP dongle: capture this channel (11-26) "
                                           "with it in mfglib mode."),
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

        if channel is not None and not 11 <= channel <= 26:
            raise typer.BadParameter(f"channel {channel} is not a 2.4 GHz channel (11-26)")
        try:
            if channel is None:
                asyncio.run(sniff(url, sink=sink, count=count))
            else:
                asyncio.run(sniff_mfglib(url, channel=channel, sink=sink, count=count))
        except SniffError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            pass
        finally:
            if capture is not None:
                capture.close()
