"""Power-cycling a dongle on hardware, then waiting for its port to come back.

Three ways, chosen by the inventory's ``power`` entry:

* ``uhubctl`` — USB port power off/on on a hub that switches per port (``uhubctl -l HUB -p PORT
  -a cycle -d DELAY``); the dongle loses power exactly as when unplugged.
* ``labgrid`` — a labgrid power driver (``PowerProtocol.cycle()``) of the inventory's labgrid
  environment; labgrid is imported only here and only then.
* ``command`` — a shell command that power-cycles the device (a mains relay's CLI; ``rig sim power-cycle
  URL`` for the CH that ``rig sim up --ch-dut`` serves); it must exit 0 within its timeout.
* no power control — an NCP reset: the host opens the port and bellows sends ASH RST, the NCP
  reboots (RAM lost, NV kept).  Not a power loss (the RSTACK reset code says "software"), but the
  nearest thing a bare port offers.

Whichever way, the caller must have closed its own connection first (a serial port has one host),
and afterwards :func:`wait_for_port` waits until the device path exists again (USB re-enumeration)
or a TCP connect succeeds (ser2net / emulator), then :func:`wait_for_ncp` until the NCP answers
EZSP; both fail with a message that names the port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from urllib.parse import urlsplit

from rig.inventory import (
    CommandPower,
    Dongle,
    ExternalCh,
    Inventory,
    LabgridPower,
    UhubctlPower,
    require_labgrid,
)

LOGGER = logging.getLogger(__name__)

DEFAULT_PORT_TIMEOUT = 20.0
POLL_INTERVAL = 0.05


class PowerError(Exception):
    """Power cycling failed or the port did not come back (the message names the dongle/port)."""


def uhubctl_command(power: UhubctlPower, action: str = "cycle", *, executable: str = "uhubctl") -> list[str]:
    """The uhubctl argv for ``action`` (on, off, cycle) on one hub port."""
    if action not in ("on", "off", "cycle"):
        raise ValueError(f"uhubctl action {action!r} is not on, off or cycle")
    argv = [executable, "-l", power.hub, "-p", str(power.port), "-a", action]
    if action == "cycle":
        argv += ["-d", f"{power.delay:g}"]
    return argv


async def run_uhubctl(power: UhubctlPower, action: str = "cycle", *, timeout: float = 30.0) -> str:
    """Run uhubctl (found on PATH) and return its output; failures raise PowerError with its stderr."""
    executable = shutil.which("uhubctl")
    if executable is None:
        raise PowerError("uhubctl is not on PATH (apt install uhubctl; see hardware.md, 'USB hub power')")
    argv = uhubctl_command(power, action, executable=executable)
    LOGGER.info("power: %s", " ".join(argv))
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout + power.delay):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise PowerError(f"uhubctl -l {power.hub} -p {power.port} did not finish in {timeout:g} s") from None
    if proc.returncode != 0:
        detail = (err or out).decode(errors="replace").strip() or f"exit status {proc.returncode}"
        raise PowerError(f"uhubctl -l {power.hub} -p {power.port} -a {action} failed: {detail}")
    return out.decode(errors="replace")


async def labgrid_cycle(inventory: Inventory, power: LabgridPower) -> None:
    """Cycle through the labgrid environment's power driver named ``power.resource``."""
    if inventory.labgrid is None:
        raise PowerError(f"{inventory.source}: labgrid power {power.resource!r} needs a labgrid environment")
    labgrid = require_labgrid(f"power-cycling through {power.resource!r}")
    import rig.labgrid  # noqa: F401 - EzspDriver and RigStrategy known to labgrid's target factory

    env = labgrid.Environment(str(inventory.labgrid.env))
    target = env.get_target(inventory.labgrid.target)
    if target is None:
        raise PowerError(f"{inventory.labgrid.env}: no labgrid target {inventory.labgrid.target!r}")

    def _cycle() -> None:
        driver = target.get_driver("PowerProtocol", name=power.resource)
        target.activate(driver)
        driver.cycle()

    await asyncio.get_running_loop().run_in_executor(None, _cycle)


async def run_power_command(power: CommandPower, what: str) -> str:
    """Run ``power.command`` through the shell; a non-zero exit, or no exit within its timeout, raises
    PowerError naming ``what``, the command and its last output line."""
    LOGGER.info("power: %s: %s", what, power.command)
    try:
        proc = await asyncio.create_subprocess_shell(power.command, stdout=asyncio.subprocess.PIPE,
                                                     stderr=asyncio.subprocess.STDOUT)
    except OSError as exc:
        raise PowerError(f"{what}: power command {power.command!r} cannot start: {exc.strerror or exc}") from None
    try:
        async with asyncio.timeout(power.timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise PowerError(f"{what}: power command {power.command!r} did not finish in {power.timeout:g} s") from None
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        last = text.splitlines()[-1] if text else f"exit status {proc.returncode}"
        raise PowerError(f"{what}: power command {power.command!r} failed: {last}")
    return text


async def power_cycle_external_ch(ch: ExternalCh, inventory: Inventory | None = None) -> str:
    """Power-cycle the CH under test through the inventory's ``external_ch.power``; returns the method.
    There is no port to wait for: the caller finds the CH on the air again."""
    power = ch.power
    if power is None:
        raise PowerError("the external CH has no power control in the inventory (external_ch.power): "
                         "the rig cannot cause a CH power-on")
    if isinstance(power, UhubctlPower):
        await run_uhubctl(power, "cycle")
        return "uhubctl"
    if isinstance(power, LabgridPower):
        if inventory is None:
            raise PowerError("the external CH's labgrid power needs the inventory's labgrid environment")
        await labgrid_cycle(inventory, power)
        return "labgrid"
    await run_power_command(power, "the external CH")
    return "command"


def _now() -> float:
    """The running loop's time: real time on hardware; on emulation it jumps with bellows' timeouts
    (rig.des), so a retry deadline counts the same seconds as the attempts it bounds."""
    return asyncio.get_running_loop().time()


async def open_when_ready(port: str, *, baudrate: int = 115200, flow_control: str | None = None,
                          timeout: float = DEFAULT_PORT_TIMEOUT, attempt: float = 5.0):
    """Open EZSP on ``port`` (bellows' connect: ASH RST, RSTACK, version), retrying until ``timeout``.

    A port can refuse for a moment: a ser2net port accepts TCP before the USB device under it has
    re-enumerated, and a one-host port (a serial device, the emulator) may not yet have seen the
    previous host close.  PowerError names the port and the last error on timeout."""
    from rig.transport import TransportError, open_ezsp

    deadline = _now() + timeout
    last = "no attempt"
    while True:
        remaining = deadline - _now()
        try:
            return await open_ezsp(port, baudrate=baudrate, flow_control=flow_control,
                                   timeout=max(0.5, min(attempt, remaining)))
        except (TransportError, OSError, TimeoutError) as exc:
            last = str(exc) or type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - bellows gives up with various errors while an NCP boots
            last = f"{type(exc).__name__}: {exc}"
        if _now() >= deadline:
            raise PowerError(f"NCP at {port} did not answer within {timeout:g} s (last error: {last})")
        await asyncio.sleep(POLL_INTERVAL)


async def ncp_reset(dongle: Dongle, *, timeout: float = DEFAULT_PORT_TIMEOUT) -> None:
    """Reset the NCP over its own port: bellows' connect sends ASH RST and waits for RSTACK."""
    try:
        ezsp = await open_when_ready(dongle.port, **dongle.serial_settings(), timeout=timeout)
    except PowerError as exc:
        raise PowerError(f"NCP reset of {dongle.name} failed: {exc}") from None
    await ezsp.disconnect()


async def port_is_back(port: str) -> bool:
    """One check: the device path exists, or a TCP connection to the URL's host:port succeeds."""
    if "://" not in port:
        return os.path.exists(port)
    parts = urlsplit(port)
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


async def wait_for_port(port: str, timeout: float = DEFAULT_PORT_TIMEOUT, *, interval: float = POLL_INTERVAL) -> float:
    """Poll until ``port`` is back; return the seconds waited.  PowerError names the port on timeout."""
    start = _now()
    deadline = start + timeout
    while True:
        if await port_is_back(port):
            return _now() - start
        if _now() >= deadline:
            what = "the device path did not reappear" if "://" not in port else "TCP connect kept failing"
            raise PowerError(f"port {port} did not come back within {timeout:g} s after the power cycle ({what})")
        await asyncio.sleep(interval)


async def wait_for_ncp(dongle: Dongle, timeout: float = DEFAULT_PORT_TIMEOUT, *, attempt: float = 5.0) -> float:
    """After the port is back, wait until the NCP answers EZSP; returns the seconds waited."""
    start = _now()
    try:
        ezsp = await open_when_ready(dongle.port, **dongle.serial_settings(), timeout=timeout, attempt=attempt)
    except PowerError as exc:
        raise PowerError(f"{exc} after the power cycle") from None
    await ezsp.disconnect()
    return _now() - start


async def power_cycle(dongle: Dongle, inventory: Inventory | None = None, *,
                      port_timeout: float = DEFAULT_PORT_TIMEOUT) -> str:
    """Power-cycle one inventory dongle, wait for its port and for the NCP to answer EZSP; returns the
    method used ("uhubctl", "labgrid", "command" or "ncp-reset")."""
    power = dongle.power
    if isinstance(power, UhubctlPower):
        await run_uhubctl(power, "cycle")
        method = "uhubctl"
    elif isinstance(power, LabgridPower):
        if inventory is None:
            raise PowerError(f"{dongle.name}: labgrid power needs the inventory's labgrid environment")
        await labgrid_cycle(inventory, power)
        method = "labgrid"
    elif isinstance(power, CommandPower):
        await run_power_command(power, dongle.name)
        method = "command"
    else:
        await ncp_reset(dongle, timeout=port_timeout)     # retries until the port answers
        method = "ncp-reset"
    if method != "ncp-reset":          # the reset itself proved the port is back and the NCP answers
        await wait_for_port(dongle.port, port_timeout)
        await wait_for_ncp(dongle, port_timeout)
    LOGGER.info("power: %s cycled by %s; %s is back", dongle.name, method, dongle.port)
    return method
