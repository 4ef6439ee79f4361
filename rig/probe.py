"""Find EZSP dongles and read what matters about each (``rig probe``), and rewrite an EUI-64
(``rig write-eui64``) the way bellows' ``write_custom_eui64`` does.

Serial ports come from pyserial's ``serial.tools.list_ports`` (USB VID/PID, serial number; the
``/dev/serial/by-id`` links are listed by pyserial too with ``include_links``).  Each dongle is
opened through ``rig.transport.open_ezsp`` — bellows' own connect, reset and version negotiation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import asdict, dataclass, field

import bellows.types as t
import zigpy.types as zt
from bellows.exception import EzspError, InvalidCommandError

from rig.transport import TransportError, open_ezsp
from rig.zigbee.eui64 import eui_colon, eui_obj

UNSET = zt.EUI64.convert("FF:FF:FF:FF:FF:FF:FF:FF")
BY_ID_DIR = "/dev/serial/by-id/"
NV3_EUI64_KEYS = (t.NV3KeyId.CREATOR_STACK_RESTORED_EUI64, t.NV3KeyId.NVM3KEY_STACK_RESTORED_EUI64)


class ProbeError(Exception):
    """A dongle could not be probed or written (the message names the port)."""


@dataclass
class SerialPortInfo:
    device: str
    by_id: str | None = None
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    description: str | None = None

    @property
    def usb(self) -> bool:
        return self.vid is not None

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None else ""

    @property
    def path(self) -> str:
        """The path to open: the stable by-id link when there is one."""
        return self.by_id or self.device


def list_serial_ports(*, usb_only: bool = True) -> list[SerialPortInfo]:
    """Serial ports pyserial finds; ``by_id`` is the ``/dev/serial/by-id`` link pointing at each."""
    from serial.tools import list_ports

    ports: dict[str, SerialPortInfo] = {}
    links: dict[str, str] = {}
    for info in list_ports.comports(include_links=True):
        if info.device.startswith(BY_ID_DIR):
            links[os.path.realpath(info.device)] = info.device
            continue
        if usb_only and info.vid is None:
            continue
        ports[os.path.realpath(info.device)] = SerialPortInfo(
            device=info.device, vid=info.vid, pid=info.pid, serial_number=info.serial_number,
            manufacturer=info.manufacturer, product=info.product, description=info.description)
    for real, port in ports.items():
        port.by_id = links.get(real)
    return sorted(ports.values(), key=lambda p: p.device)


@dataclass
class DongleReport:
    path: str
    ok: bool = False
    error: str | None = None
    ezsp_version: int | None = None
    stack_version: str | None = None
    board: str | None = None
    manufacturer: str | None = None
    eui64: str | None = None
    custom_eui64: str | None = None        # MFG_CUSTOM_EUI_64 (write-once); None = unset
    custom_eui64_state: str = "unknown"    # "unset", "burnt", "unsupported" (RCP firmware), "unknown"
    nv3_rewrite: bool | None = None        # NV3 restored-EUI-64 token present (rewritable IEEE)
    nv3_eui64: str | None = None           # its value when set
    cbke_certificate: str = "unknown"      # "installed", "none", "unknown" (command not answered)
    usb: SerialPortInfo | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["usb"] = asdict(self.usb) if self.usb else None
        return data


def parse_eui64(text: str) -> zt.EUI64:
    """``00:12:4B:...`` or ``00124B...`` (big-endian, as printed on labels) → EUI64; ValueError else."""
    try:
        eui = eui_obj(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an EUI-64 (16 hex digits, e.g. 00:12:4B:00:01:AB:CD:EF)") from None
    if eui in (UNSET, zt.EUI64(bytes(8))):
        raise ValueError(f"{text!r} is reserved (all-zero / all-FF means 'no address')")
    return eui


async def nv3_eui64(ezsp) -> tuple[bool, str | None]:
    """(NV3 restored-EUI-64 token available, its value if set) — bellows' NV3 key lookup."""
    for key in NV3_EUI64_KEYS:
        try:
            rsp = await ezsp.getTokenData(token=key, index=0)
        except (InvalidCommandError, AttributeError):
            return False, None
        if t.sl_Status.from_ember_status(rsp.status) == t.sl_Status.OK:
            value, _ = t.EUI64.deserialize(bytes(rsp.value))
            return True, None if value == UNSET else eui_colon(value, upper=True)
    return False, None


async def mfg_custom_eui64(ezsp) -> tuple[str, str | None]:
    """("unset" | "burnt" | "unsupported", value) of the write-once MFG_CUSTOM_EUI_64 token."""
    data = await ezsp.get_mfg_token(t.EzspMfgTokenId.MFG_CUSTOM_EUI_64)
    if not data:
        return "unsupported", None
    value, _ = t.EUI64.deserialize(bytes(data))
    return ("unset", None) if value == UNSET else ("burnt", eui_colon(value, upper=True))


async def cbke_certificate(ezsp) -> str:
    """"installed" when getCertificate283k1 answers OK, "none" for another status, else "unknown"."""
    try:
        status, _cert = await ezsp.getCertificate283k1()
    except (InvalidCommandError, AttributeError, EzspError, TimeoutError):
        return "unknown"
    try:
        ok = t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    except (ValueError, TypeError):
        return "unknown"
    return "installed" if ok else "none"


async def probe_dongle(path: str, *, baudrate: int = 115200, flow_control: str | None = None,
                       timeout: float = 15.0, usb: SerialPortInfo | None = None) -> DongleReport:
    """Open one port and read versions, EUI-64s, NV3 availability and the CBKE certificate.

    Never raises for a port that is not an EZSP dongle: the report says why (``ok`` False)."""
    report = DongleReport(path=path, usb=usb)
    try:
        ezsp = await open_ezsp(path, baudrate=baudrate, flow_control=flow_control, timeout=timeout)
    except TransportError as exc:
        report.error = str(exc)
        return report
    except Exception as exc:  # noqa: BLE001 - any failure to talk EZSP is a finding, not a crash
        report.error = f"no EZSP answer at {path}: {str(exc) or type(exc).__name__}"
        return report
    try:
        async with asyncio.timeout(timeout):
            report.ezsp_version = ezsp.ezsp_version
            manufacturer, board, version = await ezsp.get_board_info()   # (MFG_STRING, MFG_BOARD_NAME, ver)
            report.board, report.manufacturer, report.stack_version = board, manufacturer, version
            (eui,) = await ezsp.getEui64()
            report.eui64 = eui_colon(eui, upper=True)
            report.custom_eui64_state, report.custom_eui64 = await mfg_custom_eui64(ezsp)
            report.nv3_rewrite, report.nv3_eui64 = await nv3_eui64(ezsp)
            report.cbke_certificate = await cbke_certificate(ezsp)
            report.ok = True
    except Exception as exc:  # noqa: BLE001
        report.error = f"{path}: EZSP answered but probing failed: {str(exc) or type(exc).__name__}"
    finally:
        with contextlib.suppress(Exception):
            await ezsp.disconnect()
    return report


async def probe_many(targets: list[tuple[str, SerialPortInfo | None]], *, timeout: float = 15.0,
                     baudrate: int = 115200, flow_control: str | None = None) -> list[DongleReport]:
    return list(await asyncio.gather(*(probe_dongle(path, usb=usb, timeout=timeout, baudrate=baudrate,
                                                    flow_control=flow_control) for path, usb in targets)))


# --- write-eui64 ------------------------------------------------------------------------------------

@dataclass
class WritePlan:
    path: str
    current: str
    target: str
    method: str            # "nothing" (already), "nv3", "burn", "refuse"
    reason: str = ""


async def plan_eui64_write(ezsp, path: str, target: zt.EUI64, *, burn: bool) -> WritePlan:
    """What bellows' ``write_custom_eui64`` would do, decided before touching anything."""
    (current,) = await ezsp.getEui64()
    plan = WritePlan(path, eui_colon(current, upper=True), eui_colon(target, upper=True), "nothing")
    if current == target:
        plan.reason = f"{path} already uses {eui_colon(target, upper=True)}"
        return plan
    nv3, _ = await nv3_eui64(ezsp)
    if nv3:
        plan.method = "nv3"
        plan.reason = "rewritable NV3 restored-EUI-64 token (can be changed again later)"
        return plan
    state, burnt = await mfg_custom_eui64(ezsp)
    if state == "burnt":
        plan.method, plan.reason = "refuse", (
            f"firmware has no NV3 token and the write-once manufacturing EUI-64 is already burnt to {burnt}; "
            "it cannot be written again without erasing the flash")
    elif state == "unsupported":
        plan.method, plan.reason = "refuse", "firmware has neither an NV3 token nor a manufacturing EUI-64 token"
    elif not burn:
        plan.method, plan.reason = "refuse", (
            "firmware has no rewritable NV3 EUI-64 token; only the write-once manufacturing token "
            "(MFG_CUSTOM_EUI_64) is left. Pass --burn to write it: that can NEVER be undone")
    else:
        plan.method = "burn"
        plan.reason = ("write-once manufacturing token MFG_CUSTOM_EUI_64: this can NEVER be undone "
                       "(only erasing the whole flash clears it)")
    return plan


async def write_eui64(ezsp, target: zt.EUI64, *, burn: bool) -> None:
    """bellows' own ``write_custom_eui64`` (NV3 first; MFG token only with ``burn``)."""
    try:
        await ezsp.write_custom_eui64(target, burn_into_userdata=burn)
    except AssertionError:
        raise ProbeError("the dongle refused the token write (status not OK)") from None
    except EzspError as exc:
        raise ProbeError(str(exc)) from None


async def write_and_read_back(ezsp, target: zt.EUI64, *, burn: bool) -> str:
    """Write as bellows does, reset the NCP (ASH RST: it reboots and applies the token), renegotiate
    the version and return the EUI-64 now in use."""
    await write_eui64(ezsp, target, burn=burn)
    await ezsp.reset()
    await ezsp.version()
    (eui,) = await ezsp.getEui64()
    return eui_colon(eui, upper=True)
