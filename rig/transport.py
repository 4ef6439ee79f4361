"""Open a dongle by device path — the one way the host reaches an EZSP radio.

A path is whatever bellows' serial layer opens: ``/dev/serial/by-id/...`` or a pty path (serial),
``tcp://host:port`` / ``socket://host:port`` (raw TCP), ``rfc2217://host:port``.  Emulated and real
dongles are opened the same way; nothing above this module can tell them apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import bellows.ezsp
import zigpy.config as zconf


def tcp_address(url: str) -> tuple[str, int] | None:
    """``tcp://HOST:PORT`` as ``(host, port)``; None for anything else (the rig's own streams and control
    lines: the sniffer, a black-box CH's control line)."""
    import urllib.parse

    try:
        parsed = urllib.parse.urlparse(url)
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme != "tcp" or not parsed.hostname or not port:
        return None
    return parsed.hostname, port


class TransportError(Exception):
    """A dongle could not be opened or answered nothing (the message names the path)."""


def device_config(path: str, baudrate: int = 115200, flow_control: str | None = None) -> dict[str, Any]:
    return {
        zconf.CONF_DEVICE_PATH: path,
        zconf.CONF_DEVICE_BAUDRATE: baudrate,
        zconf.CONF_DEVICE_FLOW_CONTROL: flow_control,
    }


def zigpy_config(path: str, *, channel: int | None = None, database: str | None = None,
                 baudrate: int = 115200, flow_control: str | None = None) -> dict[str, Any]:
    """A zigpy ControllerApplication configuration for one dongle (no backups, no OTA, no scans)."""
    network = {"channel": channel} if channel else {}
    return {
        "device": device_config(path, baudrate, flow_control),
        "network": network,
        "backup_enabled": False,
        "topology_scan_enabled": False,
        "ota": {"enabled": False},
        "database_path": database,
    }


class LinkWatch:
    """bellows' ``application`` hook for a bare ``EZSP``: it hears the host link go, as zigpy's
    ControllerApplication does (``connection_lost``): the port closed or the TCP connection dropped
    (``exc`` an OSError, or None at EOF), or the NCP reset by itself (an unsolicited RSTACK:
    ``bellows.exception.NcpFailure`` with its reset code).  ``listeners`` get the exception; a close
    the host asked for (``close_ezsp``) is not reported."""

    def __init__(self) -> None:
        self.listeners: list = []
        self.lost: BaseException | None = None
        self.closing = False

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.closing or self.lost is not None:
            return
        self.lost = exc if exc is not None else ConnectionResetError("the dongle closed the connection")
        for listener in list(self.listeners):
            listener(self.lost)


def link_watch(ezsp) -> LinkWatch | None:
    """The ``LinkWatch`` of an EZSP opened by ``open_ezsp`` (None for one opened otherwise)."""
    watch = getattr(ezsp, "_application", None)
    return watch if isinstance(watch, LinkWatch) else None


async def close_ezsp(ezsp) -> None:
    """Close an EZSP connection on purpose (not reported as a lost link)."""
    watch = link_watch(ezsp)
    if watch is not None:
        watch.closing = True
    await ezsp.disconnect()


async def open_ezsp(path: str, *, baudrate: int = 115200, flow_control: str | None = None,
                    timeout: float = 30.0) -> bellows.ezsp.EZSP:
    """Connect to an EZSP dongle, reset it and negotiate the protocol version; APS fragment reception
    goes through ``rig.fragments`` (bellows 1.2.1 reads v13 positions in v14+ frames).

    ``baudrate`` and ``flow_control`` (None, "software" or "hardware") go into bellows' device config;
    an inventory dongle gives both: ``open_ezsp(dongle.port, **dongle.serial_settings())``.
    """
    ezsp = bellows.ezsp.EZSP(device_config(path, baudrate, flow_control), application=LinkWatch())
    lost, closing = [], []
    hook, close = ezsp.connection_lost, ezsp.disconnect

    def connection_lost(exc: BaseException | None) -> None:
        if not closing:              # the far end hung up (bellows closing after its own retries is not that)
            lost.append(exc)
        hook(exc)

    async def disconnect() -> None:
        closing.append(True)
        await close()

    ezsp.connection_lost, ezsp.disconnect = connection_lost, disconnect
    started = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(timeout):
            await ezsp.connect(use_thread=False)
    except Exception as exc:  # bellows gives up with various errors (even AttributeError)
        waited = asyncio.get_running_loop().time() - started
        opened, hung_up = ezsp._gw is not None or bool(closing), bool(lost)
        with contextlib.suppress(Exception):   # closing what half-opened; the first failure is reported
            await ezsp.disconnect()
        raise TransportError(_open_failure(path, exc, waited, opened=opened, lost=hung_up)) from exc
    ezsp.connection_lost, ezsp.disconnect = hook, close
    from rig import fragments

    fragments.install(ezsp)          # APS fragments reassembled by the rig, not by bellows (rig.fragments)
    return ezsp


def _open_failure(path: str, exc: Exception, waited: float, *, opened: bool, lost: bool) -> str:
    """One line saying why ``open_ezsp(path)`` failed, never an empty reason."""
    where = f"EZSP dongle at {path!r}"
    port = "port accepted the connection" if "://" in path else "port opened"
    if lost:
        return (f"{where} closed the connection before answering (a dongle takes one host at a time: "
                f"is another host connected to it?)")
    if isinstance(exc, TimeoutError) and opened:
        return (f"{where}: the {port} but nothing answered in {waited:.0f} s (no ASH RSTACK after "
                f"bellows' resets: is it an EZSP NCP, at this baud rate?)")
    if isinstance(exc, TimeoutError):
        return f"cannot open {where}: it did not open in {waited:.0f} s"
    return f"cannot open {where}: {str(exc) or type(exc).__name__}"
