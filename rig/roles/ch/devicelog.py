"""The CHF device log: the allow-list of devices that may join the SM HAN, kept across power cycles.

One JSON file written atomically (temp file + fsync + rename, ``rig.atomic.write_atomic``); loading it
removes the temp files a killed writer left (``rig.atomic.read_atomic``).  Every change is written to
disk first and only then made in memory, so a failed write (``OSError``) leaves both as they were.
An entry holds the device's EUI-64 (big-endian hex, as Entity IDs are written), its GBCS device type,
the install-code link key, the join state (``registered`` -> ``joined``), the NWK address it joined with,
how it was added (``interpan`` = an HHT's own CCS01 over inter-PAN, ``tunnel`` = a CCS01 relayed on the
HAN, ``wan`` = from the DCC) and, for an HHT, the clock time at which it expires.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from rig.atomic import read_atomic, write_atomic


@dataclass
class DeviceLogEntry:
    eui64: str
    device_type: int
    link_key: str
    join_state: str = "registered"
    nwk: int | None = None
    added_via: str = "wan"
    added_at: float = 0.0
    hht_expiry: float | None = None

    @property
    def is_hht(self) -> bool:
        return self.hht_expiry is not None


class DeviceLogError(ValueError):
    """The device-log file is unreadable (the message names the file and the entry)."""


class DeviceLog:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: dict[str, DeviceLogEntry] = {}
        if self.path is not None:
            self._load()

    def _load(self) -> None:
        try:
            text = read_atomic(self.path)
            if text is None:
                return
            raw = json.loads(text)
            names = {f.name for f in fields(DeviceLogEntry)}
            for item in raw["entries"]:
                unknown = set(item) - names
                if unknown:
                    raise DeviceLogError(f"{self.path}: entry {item.get('eui64')} has unknown fields {sorted(unknown)}")
                entry = DeviceLogEntry(**item)
                self.entries[entry.eui64] = entry
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, DeviceLogError):
                raise
            raise DeviceLogError(f"{self.path}: not a CHF device log ({exc})") from exc

    def save(self) -> None:
        self._write(self.entries)

    def _write(self, entries: dict[str, DeviceLogEntry]) -> None:
        if self.path is not None:
            body = {"entries": [asdict(e) for e in sorted(entries.values(), key=lambda e: e.eui64)]}
            write_atomic(self.path, json.dumps(body, indent=2) + "\n")

    def get(self, eui64: str) -> DeviceLogEntry | None:
        return self.entries.get(eui64.upper())

    def __contains__(self, eui64: str) -> bool:
        return eui64.upper() in self.entries

    def put(self, entry: DeviceLogEntry) -> DeviceLogEntry:
        """Add or replace ``entry`` (disk first: an ``OSError`` leaves the log as it was)."""
        entry = replace(entry, eui64=entry.eui64.upper())
        updated = {**self.entries, entry.eui64: entry}
        self._write(updated)
        self.entries = updated
        return entry

    def remove(self, eui64: str) -> DeviceLogEntry | None:
        """Remove the entry (disk first: an ``OSError`` leaves the log as it was)."""
        entry = self.entries.get(eui64.upper())
        if entry is not None:
            updated = {k: v for k, v in self.entries.items() if k != entry.eui64}
            self._write(updated)
            self.entries = updated
        return entry

    def snapshot(self) -> list[dict]:
        """The log as plain data (for reports and before/after comparisons)."""
        return [asdict(e) for e in sorted(self.entries.values(), key=lambda e: e.eui64)]
