"""The bench a scenario runs on: named dongles (URL, install code, power) and the premises' GBCS identities.

``Bench`` is the interface the scenario sees; ``SimBench`` provides it with emulated dongles on one
virtual air — the one place that knows they are emulated.  Its ``setup`` is the factory floor: each
dongle gets its EUI-64 (the device's Entity ID), its install code (MFG_INSTALLATION_CODE) and a CBKE
certificate from the rig's test CA, as flashing would on hardware.  A hardware bench would give the
same four things from an inventory.

Dongles: ``ch`` (the CH's HAN radio: EUI-64 = GPF Entity ID = Extended PAN ID), ``esme``, ``ppmid`` (a
dual-address PPMID: factory EUI-64 = identity A, the HHT; identity B is written to NV3 later).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rig.clock import RealClock
from rig.gbcs import KeyStore, Role, create_test_store
from rig.zigbee.install_code import link_key_from_code

HHT_ID = "00DB5A5A5A5A0A01"     # identity A of the dual-address PPMID (acts as HHT)
PPMID_ID = "00DB5A5A5A5A0B02"   # identity B (the PPMID)


@dataclass
class Identities:
    keys: KeyStore
    chf: str
    gpf: str
    esme: str
    hht: str = HHT_ID
    ppmid: str = PPMID_ID
    install_codes: dict[str, bytes] = field(default_factory=dict)

    def link_key(self, entity: str) -> bytes:
        return link_key_from_code(self.install_codes[entity])


class Bench:
    """What a scenario needs from the lab (emulated or hardware)."""

    clock: RealClock
    ids: Identities
    pcap: Path | None = None

    def url(self, name: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    async def power_cycle(self, name: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SimBench(Bench):
    def __init__(self, work_dir: Path, *, pcap: Path | None = None, seed: int = 7, transport: str = "tcp") -> None:
        if transport not in ("tcp", "pty"):
            raise ValueError(f"unknown transport {transport!r} (expected 'tcp' or 'pty')")
        self.transport = transport
        self.work_dir = Path(work_dir)
        self.pcap = Path(pcap) if pcap else None
        self.seed = seed
        self.clock = RealClock()
        self.dongles: dict = {}
        self.air = None

    async def setup(self) -> SimBench:
        from firmware_shims.air import Air
        from firmware_shims.ncp.dongle import EmulatedDongle
        from firmware_shims.ncp.zigbee import AirStack
        from rig.cbke.ca import TestCa

        self.work_dir.mkdir(parents=True, exist_ok=True)
        keys_dir = self.work_dir / "keys"
        keys = KeyStore(keys_dir) if (keys_dir / "roles.json").exists() else create_test_store(
            keys_dir, hht=[HHT_ID], ppmid=[PPMID_ID])
        self.ids = Identities(keys, keys.one(Role.CHF), keys.one(Role.GPF), keys.one(Role.ESME))
        self.air = Air(self.clock, seed=self.seed, pcap=self.pcap)
        ca = TestCa.create()
        radios = {"ch": self.ids.gpf, "esme": self.ids.esme, "ppmid": self.ids.hht}
        for name, eui in radios.items():
            d = EmulatedDongle(name, eui64=eui, state_dir=self.work_dir / "nv", radio=self.air.attach(name),
                               clock=self.clock, stack_factory=AirStack)
            d.node.install_cbke_token(ca.issue(bytes.fromhex(eui)).to_json())
            await (d.start_tcp() if self.transport == "tcp" else d.start_pty())
            self.dongles[name] = d
        for entity in (self.ids.esme, self.ids.hht, self.ids.ppmid):
            self.ids.install_codes[entity] = os.urandom(16)
        return self

    def url(self, name: str) -> str:
        return self.dongles[name].url

    async def power_cycle(self, name: str) -> None:
        await self.dongles[name].power_cycle()

    async def close(self) -> None:
        for d in self.dongles.values():
            await d.stop()
        if self.air is not None:
            self.air.close()
