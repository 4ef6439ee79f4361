"""Captures of the air: pcap files Wireshark decrypts, and a one-line-per-frame live printer.

* ``Capture(path)`` writes a pcap with link type 195 (``IEEE802_15_4_WITHFCS``: the PSDU including
  its FCS) and nanosecond timestamps taken from a clock value the caller passes (the air's clock,
  virtual or real), using scapy's ``RawPcapWriter``.  Beside ``run.pcap`` it keeps the folder
  ``run.wireshark/`` whose ``zigbee_pc_keys`` lists the network and link keys, one row each::

      "0123456789ABCDEF0123456789ABCDEF","Normal","network key"

  so ``WIRESHARK_CONFIG_DIR=run.wireshark wireshark run.pcap`` (or ``tshark``) decrypts the run.
  The same file format is what the hardware sniffer path produces.
* ``FramePrinter`` prints ``time  channel  src -> dst  summary`` for each frame (``rig sniff``); with
  keys it decrypts NWK and APS payloads for the summary.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Self, TextIO

from zigpy.zdo.types import ZDOCmd

from rig.zigbee import frames as F
from rig.zigbee import security as S
from rig.zigbee.eui64 import eui_colon
from rig.zigbee.zcl import ZclHeader

LINKTYPE_IEEE802_15_4_WITHFCS = 195
KEYS_FILE = "zigbee_pc_keys"


def keys_dir_for(pcap_path: str | Path) -> Path:
    """``run.pcap`` -> ``run.wireshark`` (a folder usable as ``WIRESHARK_CONFIG_DIR``)."""
    p = Path(pcap_path)
    return p.with_name(p.stem + ".wireshark")


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9 _.:/+-]", "_", text)


def wireshark_key_rows(keys: Iterable[tuple[bytes, str]]) -> list[str]:
    """Rows of Wireshark's "Pre-configured Keys" UAT (``zigbee_pc_keys``), duplicates dropped."""
    rows, seen = [], set()
    for key, label in keys:
        key = bytes(key)
        if len(key) != 16:
            raise ValueError(f"ZigBee keys are 16 bytes, got {len(key)} for {label!r}")
        if key in seen:
            continue
        seen.add(key)
        rows.append(f'"{key.hex().upper()}","Normal","{_label(label)}"')
    return rows


def write_wireshark_keys(pcap_path: str | Path, keys: Iterable[tuple[bytes, str]]) -> Path:
    """Write ``<pcap stem>.wireshark/zigbee_pc_keys``; returns the file's path."""
    folder = keys_dir_for(pcap_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / KEYS_FILE
    rows = wireshark_key_rows(keys)
    path.write_text("".join(row + "\n" for row in rows))
    return path


def split_time(t: float) -> tuple[int, int]:
    """Seconds -> (whole seconds, nanoseconds), rounding to the nearest nanosecond."""
    if t < 0 or not math.isfinite(t):
        raise ValueError(f"capture time {t!r} must be a finite non-negative number of seconds")
    sec = int(t)
    ns = round((t - sec) * 1_000_000_000)
    if ns >= 1_000_000_000:
        sec, ns = sec + 1, ns - 1_000_000_000
    return sec, ns


class Capture:
    """A pcap of 802.15.4 PSDUs (with FCS) and its Wireshark keys folder.

    ``epoch`` is added to every time passed to ``write`` (a virtual clock starting at 0 then lands
    wherever you like on the calendar; the default keeps clock seconds as pcap seconds).
    """

    def __init__(self, path: str | Path, *, epoch: float = 0.0, sync: bool = True) -> None:
        from scapy.utils import RawPcapWriter

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.epoch = epoch
        self._writer = RawPcapWriter(str(self.path), linktype=LINKTYPE_IEEE802_15_4_WITHFCS, nano=True,
                                     sync=sync)
        self._writer.write_header(None)
        self._keys: list[tuple[bytes, str]] = []
        self.keys_file = write_wireshark_keys(self.path, self._keys)
        self.frames = 0
        self.closed = False

    def write(self, psdu: bytes, t: float) -> None:
        """Append one PSDU captured at clock time ``t`` (seconds)."""
        if self.closed:
            return
        sec, ns = split_time(self.epoch + t)
        self._writer.write_packet(bytes(psdu), sec=sec, usec=ns)
        self.frames += 1

    def add_key(self, key: bytes, label: str) -> None:
        """Add a network or link key to the keys folder (rewritten at once)."""
        key = bytes(key)
        if any(k == key for k, _ in self._keys):
            return
        self._keys.append((key, label))
        self.keys_file = write_wireshark_keys(self.path, self._keys)

    @property
    def keys(self) -> list[tuple[bytes, str]]:
        return list(self._keys)

    @property
    def keys_dir(self) -> Path:
        return keys_dir_for(self.path)

    def flush(self) -> None:
        if not self.closed:
            self._writer.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# One-line summaries

_MAC_CMD = {1: "Association Request", 2: "Association Response", 3: "Disassociation", 4: "Data Request",
            5: "PAN ID Conflict", 6: "Orphan Notification", 7: "Beacon Request", 8: "Coordinator Realign",
            9: "GTS Request"}
_NWK_CMD = {1: "Route Request", 2: "Route Reply", 3: "Network Status", 4: "Leave", 5: "Route Record",
            6: "Rejoin Request", 7: "Rejoin Response", 8: "Link Status", 9: "Network Report",
            10: "Network Update", 11: "End Device Timeout Request", 12: "End Device Timeout Response"}
_APS_CMD = {5: "Transport Key", 6: "Update Device", 7: "Remove Device", 8: "Request Key", 9: "Switch Key",
            14: "Tunnel", 15: "Verify Key", 16: "Confirm Key"}
_KEY_TYPES = {0: "TC master key", 1: "network key", 2: "app master key", 3: "app link key", 4: "TC link key",
              5: "high-security network key"}
_ZDO = {int(cmd): cmd.name for cmd in ZDOCmd}


def _addr(mode: int, pan: int | None, addr: int | None) -> str:
    if mode == F.ADDR_NONE:
        return "-"
    a = eui_colon(addr) if mode == F.ADDR_LONG else f"0x{addr:04x}"
    return f"{pan:04x}/{a}" if pan is not None else a


class KeyRing:
    """Keys the printer tries: network keys for NWK frames, link keys for APS security."""

    def __init__(self, network_keys: Iterable[bytes] = (), link_keys: Iterable[bytes] = ()) -> None:
        self.network_keys = [bytes(k) for k in network_keys]
        self.link_keys = [bytes(k) for k in link_keys]

    def add(self, key: bytes, *, network: bool = True, link: bool = True) -> None:
        key = bytes(key)
        if network and key not in self.network_keys:
            self.network_keys.append(key)
        if link and key not in self.link_keys:
            self.link_keys.append(key)


def _try_nwk(data: bytes, keys: KeyRing) -> tuple[F.NwkFrame, bytes] | None:
    for key in keys.network_keys:
        try:
            return S.unsecure_nwk(data, key)
        except (S.SecurityError, F.FrameError):
            continue
    return None


def _try_aps(data: bytes, keys: KeyRing, source: int | None) -> bytes | None:
    for key in keys.link_keys + keys.network_keys:
        try:
            return S.unsecure_aps(data, key, source=source)[1]
        except (S.SecurityError, F.FrameError):
            continue
    return None


def _aps_summary(aps_bytes: bytes, keys: KeyRing, source: int | None) -> str:
    aps = F.ApsFrame.decode(aps_bytes)
    payload = aps.payload
    sec = ""
    if aps.security:
        sec = f" [APS sec key{aps.aux.key_id} fc={aps.aux.frame_counter}]"
        payload = _try_aps(aps_bytes, keys, source)
        if payload is None:
            return f"APS {_aps_kind(aps)}{sec} (encrypted)"
    if F.follows(aps) is F.ApsCommand:
        cmd = F.ApsCommand.decode(payload)
        name = _APS_CMD.get(cmd.command_id, f"command 0x{cmd.command_id:02x}")
        extra = f" ({_KEY_TYPES.get(cmd.key_type, cmd.key_type)})" if cmd.key_type is not None else ""
        return f"APS {name}{extra}{sec}"
    if aps.frame_type == F.APS_ACK:
        window = "" if not aps.fragmentation else f" blocks from {aps.block_number} mask=0x{aps.ack_bitfield:02x}"
        return f"APS Ack ctr={aps.counter}{window}{sec}"
    if aps.profile == F.PROFILE_ZDO and aps.frame_type == F.APS_DATA:
        return f"ZDO {_ZDO.get(aps.cluster, f'cluster 0x{aps.cluster:04x}')}{sec}"
    text = f"APS {_aps_kind(aps)} cluster=0x{aps.cluster:04x} profile=0x{aps.profile:04x}{sec}"
    if aps.fragmentation:          # one APS block: only the first starts with the ZCL header
        first = aps.fragmentation == F.FRAG_FIRST
        block = f"block 0 of {aps.block_number}" if first else f"block {aps.block_number}"
        return f"{text} {block} ({len(payload)} bytes)"
    try:
        zcl = ZclHeader.decode(payload)
        text += f" ZCL {'cluster' if zcl.frame_type else 'global'} cmd=0x{zcl.command_id:02x} seq={zcl.seq}"
    except F.FrameError:
        pass
    return text


def _aps_kind(aps: F.ApsFrame) -> str:
    if aps.frame_type == F.APS_INTERPAN:
        return {0: "inter-PAN unicast", 2: "inter-PAN broadcast", 3: f"inter-PAN group 0x{aps.group or 0:04x}"}.get(
            aps.delivery_mode, "inter-PAN")
    return {0: "Data", 1: "Command", 2: "Ack"}[aps.frame_type]


def summarize(psdu: bytes, keys: KeyRing | None = None) -> tuple[str, str, str]:
    """``(source, destination, summary)`` of one PSDU; never raises for bad bytes."""
    keys = keys or KeyRing()
    try:
        mac = F.MacFrame.decode(psdu)
    except F.FrameError as e:
        return "?", "?", f"undecodable ({e})"
    src = _addr(mac.src_mode, mac.src_pan_effective if mac.src_mode else None, mac.src_addr)
    dst = _addr(mac.dst_mode, mac.dst_pan, mac.dst_addr)
    try:
        return src, dst, _mac_summary(mac, keys)
    except F.FrameError as e:
        return src, dst, f"malformed ({e})"


def _mac_summary(mac: F.MacFrame, keys: KeyRing) -> str:
    if mac.frame_type == F.FT_ACK:
        return f"Ack seq={mac.seq}" + (" pending" if mac.frame_pending else "")
    layer = F.follows(mac)
    if layer is F.MacCommand:
        cmd = F.MacCommand.decode(mac.payload)
        text = _MAC_CMD.get(cmd.command_id, f"MAC command 0x{cmd.command_id:02x}")
        if cmd.command_id == F.MAC_ASSOC_REQ:
            text += f" cap=0x{cmd.capability:02x}"
        elif cmd.command_id == F.MAC_ASSOC_RSP:
            text += f" short=0x{cmd.short_addr:04x} status={cmd.status}"
        return text
    if layer is F.MacBeacon:
        b = F.MacBeacon.decode(mac.payload)
        text = f"Beacon permit={b.association_permit}"
        if F.follows(b) is F.ZigbeeBeacon and len(b.payload) == 15:
            zb = F.ZigbeeBeacon.decode(b.payload)
            text += f" epid={eui_colon(zb.extended_pan_id)} profile={zb.stack_profile}"
        return text
    if layer is not F.NwkFrame:
        return f"MAC frame type {mac.frame_type}"
    nwk = F.NwkFrame.decode(mac.payload)
    layer = F.follows(nwk)
    if nwk.frame_type == F.NWK_INTERPAN:         # the stub has no NWK header to print
        source = mac.src_addr if mac.src_mode == F.ADDR_LONG else None
        return _aps_summary(nwk.payload, keys, source)
    head = f"NWK 0x{nwk.src:04x}->0x{nwk.dst:04x} seq={nwk.seq}"
    inner = nwk.payload
    source = nwk.src_ieee
    if nwk.security:
        head += f" [sec fc={nwk.aux.frame_counter}]"
        got = _try_nwk(mac.payload, keys)
        if got is None:
            return f"{head} {'command' if layer is F.NwkCommand else 'data'} (encrypted)"
        inner = got[1]
        source = source or nwk.aux.source
    if layer is F.NwkCommand:
        cmd = F.NwkCommand.decode(inner)
        return f"{head} {_NWK_CMD.get(cmd.command_id, f'command 0x{cmd.command_id:02x}')}"
    if layer is not F.ApsFrame:
        return f"{head} NWK frame type {nwk.frame_type}"
    return f"{head} {_aps_summary(inner, keys, source)}"


def format_line(t: float, channel: int, psdu: bytes, keys: KeyRing | None = None) -> str:
    src, dst, text = summarize(psdu, keys)
    return f"{t:12.6f}  ch{channel:<2d}  {src} -> {dst}  {text}"


class FramePrinter:
    """Callable tap ``(t, channel, psdu)`` that prints one line per frame (``rig sniff``)."""

    def __init__(self, stream: TextIO | None = None, keys: KeyRing | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.keys = keys or KeyRing()

    def __call__(self, t: float, channel: int, psdu: bytes) -> None:
        self.stream.write(format_line(t, channel, psdu, self.keys) + "\n")


__all__ = [
    "LINKTYPE_IEEE802_15_4_WITHFCS",
    "Capture",
    "FramePrinter",
    "KeyRing",
    "format_line",
    "keys_dir_for",
    "split_time",
    "summarize",
    "wireshark_key_rows",
    "write_wireshark_keys",
]
