"""Non-volatile state of one emulated dongle: what survives a power cycle.

A real EmberZNet NCP keeps manufacturing tokens (factory EUI-64, the write-once custom EUI-64,
CBKE certificate data, install code) and NV3 stack tokens (network parameters, keys, frame counters,
the rewritable restored EUI-64).  RAM state (``state.NcpState``: configuration values, policies,
endpoints, MAC filters, transient keys …) is lost on reset, exactly as on hardware.

The file is JSON, written atomically (temp file, rename; fsync too when ``rig.atomic.set_fsync`` asks):
a crash mid-write leaves the old state, never a torn one.  Choice [I]: ``tokenFactoryReset`` wipes the network tokens but keeps the
manufacturing tokens and the NV3 restored EUI-64 (an IEEE rewrite survives forming a new network).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from rig.atomic import write_atomic

UNSET_EUI64 = "FFFFFFFFFFFFFFFF"


class NvError(Exception):
    """The NV file is unreadable or malformed (the message names the file and the field)."""


@dataclass
class NetworkTokens:
    node_type: int = 1            # EmberNodeType: 1 coordinator, 2 router, 3 end device, 4 sleepy
    node_id: int = 0x0000
    pan_id: int = 0xFFFF
    extended_pan_id: str = "0000000000000000"
    channel: int = 11
    tx_power: int = 8
    update_id: int = 0
    channels: int = 0x07FFF800
    network_key: str = "00" * 16
    network_key_seq: int = 0
    nwk_frame_counter: int = 0
    aps_frame_counter: int = 0
    security_bitmask: int = 0
    preconfigured_key: str = "00" * 16
    tc_eui64: str = "0000000000000000"
    tc_link_key: str = "00" * 16
    parent_eui64: str = "0000000000000000"
    parent_node_id: int = 0xFFFF


@dataclass
class NvState:
    """Everything a dongle remembers across power cycles (hex strings, big-endian EUI-64s)."""

    factory_eui64: str
    mfg_custom_eui64: str = UNSET_EUI64          # write-once manufacturing token (MFG_CUSTOM_EUI_64)
    nv3_restored_eui64: str = UNSET_EUI64        # rewritable NV3 token 0xE12A
    mfg_string: str = "secmp0037-rig"
    mfg_board: str = "emulated-ncp"
    install_code: str = ""                       # MFG_INSTALLATION_CODE (hex incl. CRC), optional
    cbke_283k1: dict = field(default_factory=dict)   # certificate / caPublicKey / privateKey (hex)
    network: NetworkTokens | None = None         # None = no network (factory-new)
    key_table: list[dict] = field(default_factory=list)   # {"eui64","key","tx","rx"}
    address_map: dict = field(default_factory=dict)       # EUI-64 hex -> NWK address (child/address table)
    bindings: dict = field(default_factory=dict)          # binding-table index (str) -> entry
    ezsp_tokens: dict = field(default_factory=dict)       # EZSP app token 0..7 (str) -> 8 bytes hex
    boot_counter: int = 0

    def effective_eui64(self) -> str:
        """The IEEE address the stack uses after boot: NV3 restored > MFG custom > factory."""
        for candidate in (self.nv3_restored_eui64, self.mfg_custom_eui64):
            if candidate.upper() != UNSET_EUI64:
                return candidate.upper()
        return self.factory_eui64.upper()

    # --- persistence --------------------------------------------------------------------------
    def to_json(self) -> str:
        # the fields as they are (json.dumps walks them; asdict's deep copy of every list and dict,
        # once per NV save, bought nothing); NetworkTokens is the one nested dataclass
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.network is not None:
            body["network"] = asdict(self.network)
        return json.dumps(body, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "<nv>") -> NvState:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NvError(f"{source}: not JSON ({exc})") from exc
        if not isinstance(raw, dict) or "factory_eui64" not in raw:
            raise NvError(f"{source}: missing field 'factory_eui64'")
        network = raw.pop("network", None)
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise NvError(f"{source}: unknown field(s) {sorted(unknown)}")
        try:
            state = cls(**raw)
            if network is not None:
                state.network = NetworkTokens(**network)
        except TypeError as exc:
            raise NvError(f"{source}: {exc}") from exc
        _check_hex(state.factory_eui64, 8, f"{source}: factory_eui64")
        return state


def _check_hex(value: str, size: int, what: str) -> None:
    try:
        if len(bytes.fromhex(value)) != size:
            raise ValueError
    except ValueError:
        raise NvError(f"{what} must be {size * 2} hex digits, got {value!r}") from None


class NvStore:
    """The NV of one dongle, backed by a file (or by memory when ``path`` is None)."""

    def __init__(self, path: Path | None, factory_eui64: str) -> None:
        self.path = Path(path) if path else None
        self._written: tuple[str, tuple] | None = None   # (text, the file's stat) of our last write
        if self.path and self.path.exists():
            self.state = NvState.from_json(self.path.read_text(), str(self.path))
            self._snapshot = self.state.to_json()
        else:
            _check_hex(factory_eui64, 8, "factory EUI-64")
            self.state = NvState(factory_eui64=factory_eui64.upper())
            self.save()

    def save(self) -> None:
        text = self.state.to_json()
        if self.path and not self._unchanged_on_disk(text):
            write_atomic(self.path, text)
            self._written = (text, self._stat())
        self._snapshot = text

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _unchanged_on_disk(self, text: str) -> bool:
        """The file already holds ``text``: we wrote it last and nobody replaced it since (a save of
        unchanged tokens then writes nothing; flash is not rewritten with what it holds either)."""
        return self._written is not None and self._written[0] == text and self._stat() == self._written[1] \
            and self._written[1] is not None

    def reload(self) -> NvState:
        """What a rebooting dongle reads back: the last saved state (unsaved RAM is lost)."""
        text = self.path.read_text() if self.path else self._snapshot
        self.state = NvState.from_json(text, str(self.path or "<memory nv>"))
        return self.state
