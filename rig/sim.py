"""Launch emulated dongles and their air: the one module on the host side that imports ``firmware_shims``.

``SimLab`` owns a set of named emulated dongles sharing one radio medium and one clock.  The backend
(``rig.backend.SimBackend``) uses it in-process; ``rig sim up`` uses it to serve dongles to other
processes over TCP or ptys.  ``new_air`` and ``tap_server`` give the medium and its sniffer stream.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rig.clock import Clock, RealClock

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")

#: ECC delays (generate keys, calculate SMACs, in seconds) of the dongles an in-process premises runs on
#: a RealClock.  [I] A real NCP takes up to 1 s / 3.5 s (``firmware_shims.ncp.areas.cbke.CbkeTiming``,
#: what ``rig sim up`` serves and the NCP tests pin on a virtual clock); a scenario runs four CBKEs, so
#: until its hours run in discrete-event time these keep a run from taking ~20 s more, while still
#: answering IN_PROGRESS, calling back later and refusing a second ECC operation meanwhile.
PREMISES_CBKE_DELAYS = (0.05, 0.2)


class SimError(Exception):
    """Bad simulation request (the message names the offending value)."""


def parse_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise SimError("no dongle names given (expected e.g. 'ch,hht,ppmid')")
    for name in names:
        if not NAME_RE.match(name):
            raise SimError(f"dongle name {name!r} must be a letter followed by letters, digits, '-' or '_'")
    if len(set(names)) != len(names):
        raise SimError(f"dongle names must be unique: {text!r}")
    return names


def emulated_ezsp_versions() -> tuple[int, ...]:
    """The EZSP versions an emulated dongle's firmware can have."""
    from firmware_shims.ncp.ezsp import SUPPORTED_VERSIONS

    return SUPPORTED_VERSIONS


def check_ezsp_version(version: int | None) -> None:
    if version is not None and version not in emulated_ezsp_versions():
        raise SimError(f"EZSP version {version} is not emulated (emulated: "
                       f"{', '.join(map(str, emulated_ezsp_versions()))})")


#: Environment variable naming the EZSP version every emulated dongle's firmware has when a caller does
#: not choose one (``pytest --rig-ezsp-version N`` sets it, so the whole suite runs on that firmware).
EZSP_VERSION_ENV = "RIG_SIM_EZSP_VERSION"


def default_ezsp_version() -> int | None:
    """The emulated firmware's EZSP version from ``RIG_SIM_EZSP_VERSION`` (None: the emulator's default)."""
    text = os.environ.get(EZSP_VERSION_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise SimError(f"{EZSP_VERSION_ENV}={text!r} is not an EZSP version number (emulated: "
                       f"{', '.join(map(str, emulated_ezsp_versions()))})")
    check_ezsp_version(int(text))
    return int(text)


def new_air(clock: Clock, *, seed: int = 0, pcap: Path | str | None = None):
    """A virtual 802.15.4 medium (``firmware_shims.air.Air``) on ``clock``, capturing to ``pcap``."""
    from firmware_shims.air import Air

    return Air(clock, seed=seed, pcap=pcap)


def tap_server(air):
    """The sniffer stream of ``air`` (what ``rig sniff`` connects to)."""
    from firmware_shims.air.tap_server import TapServer

    return TapServer(air)


def flash_factory(dongle, ca) -> str:
    """What a factory flashes into a new emulated dongle: an install code (MFG_INSTALLATION_CODE) and a
    CBKE certificate for its EUI-64 issued by ``ca`` (a :class:`rig.cbke.ca.TestCa`); what it already
    holds is kept.  Returns the dongle's EUI-64."""
    from rig.zigbee.install_code import with_crc

    eui = dongle.nv.state.effective_eui64()
    if not dongle.nv.state.install_code:
        dongle.nv.state.install_code = with_crc(os.urandom(16)).hex()
    if not dongle.nv.state.cbke_283k1:
        dongle.node.install_cbke_token(ca.issue(bytes.fromhex(eui)).to_json())
    dongle.nv.save()
    return eui


@dataclass
class SimLab:
    """Named emulated dongles on one medium."""

    clock: Clock = field(default_factory=RealClock)
    state_dir: Path | None = None
    air: object | None = None
    dongles: dict = field(default_factory=dict)
    ezsp_version: int | None = None      # every dongle's firmware EZSP version (None: $RIG_SIM_EZSP_VERSION, else default)
    cbke_delays: tuple[float, float] | None = None       # every dongle's ECC delays (None: a real NCP's)

    def __post_init__(self):
        if self.ezsp_version is None:
            self.ezsp_version = default_ezsp_version()

    def add(self, name: str, *, eui64: str | None = None, ezsp_version: int | None = None,
            cbke_library: bool = True, cbke_delays: tuple[float, float] | None = None):
        """An emulated dongle: ``ezsp_version`` its firmware's EZSP version (the EmberZNet release that
        speaks it), ``cbke_library`` False a build with the CBKE stub library, ``cbke_delays`` its ECC
        delays (generate keys, SMACs) in seconds (default: ``cbke_delays`` of the lab, else a real NCP's)."""
        from firmware_shims.ncp.dongle import EmulatedDongle

        if name in self.dongles:
            raise SimError(f"dongle {name!r} already exists")
        radio = self.air.attach(name) if self.air is not None else None
        kwargs = {} if ezsp_version is None else {"ezsp_version": ezsp_version, "versions": (ezsp_version,)}
        delays = cbke_delays or self.cbke_delays
        if delays is not None:
            from firmware_shims.ncp.areas.cbke import CbkeTiming

            kwargs["cbke_timing"] = CbkeTiming(generate_keys_s=delays[0], calculate_smacs_s=delays[1],
                                               dsa_verify_s=delays[0])
        kwargs["cbke_library"] = cbke_library
        if ezsp_version is None and self.ezsp_version is not None:
            kwargs.update(ezsp_version=self.ezsp_version, versions=(self.ezsp_version,))
        if self.air is not None:
            from firmware_shims.ncp.zigbee import AirStack

            kwargs["stack_factory"] = AirStack
        from firmware_shims.ncp.nv import NvError

        try:
            dongle = EmulatedDongle(name, eui64=eui64, state_dir=self.state_dir, radio=radio,
                                    clock=self.clock, **kwargs)
        except NvError as exc:
            raise SimError(f"dongle {name!r}: {exc}") from exc
        self.dongles[name] = dongle
        return dongle

    def firmware(self) -> dict[str, str]:
        """What each dongle's firmware reports: ``{name: "EmberZNet 7.4.4.0, EZSP v13"}``."""
        from firmware_shims.ncp.ezsp import STACK_VERSIONS

        return {name: f"EmberZNet {'.'.join(map(str, STACK_VERSIONS[d.ezsp.firmware_version]))}, "
                      f"EZSP v{d.ezsp.firmware_version}" for name, d in self.dongles.items()}

    async def start(self, names: list[str], *, transport: str = "tcp", host: str = "127.0.0.1") -> dict[str, str]:
        urls = {}
        for name in names:
            dongle = self.dongles.get(name) or self.add(name)
            if transport == "tcp":
                urls[name] = await dongle.start_tcp(host)
            elif transport == "pty":
                urls[name] = await dongle.start_pty()
            else:
                raise SimError(f"unknown transport {transport!r} (expected 'tcp' or 'pty')")
        return urls

    async def stop(self) -> None:
        for dongle in self.dongles.values():
            await dongle.stop()
        self.dongles.clear()
