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
    host_credentials: dict[str, dict] = field(default_factory=dict)   # CBKE tokens the host holds (identity B)

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
        # identity B's certificate: on the PPMID's label side, held by its host (the NCP token names A)
        self.ids.host_credentials[self.ids.ppmid] = ca.issue(bytes.fromhex(self.ids.ppmid)).to_json()
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


def install_code_from_token(data: bytes) -> bytes | None:
    """The install code (without CRC) in an MFG_INSTALLATION_CODE token: flags u16 | value[16] | CRC u16."""
    if len(data) < 20 or data[:2] == b"\xff\xff":
        return None
    size = {0: 6, 2: 8, 4: 12, 6: 16}.get(int.from_bytes(data[:2], "little") & 0x06)
    return bytes(data[2:2 + size]) if size else None


class BackendBench(Bench):
    """A bench over a ``rig.backend.RigBackend`` (emulated, inventory or labgrid dongles).

    The premises' identities are read from the dongles, as an installer reads labels: the CH dongle's
    EUI-64 is the GPF Entity ID, the ESME's and the PPMID's (identity A) are theirs, their install codes
    come from MFG_INSTALLATION_CODE.  Identity B (the PPMID's second address) and its install code are
    given (they are on the PPMID's label).  A test GBCS key store with those Entity IDs is created in
    ``work_dir/keys`` unless one exists.
    """

    def __init__(self, backend, work_dir: Path, *, identity_b: str = PPMID_ID, install_code_b: bytes,
                 pcap: Path | None = None) -> None:
        self.backend = backend
        self.clock = backend.clock
        self.work_dir = Path(work_dir)
        self.pcap = Path(pcap) if pcap else None
        self.identity_b = identity_b.upper()
        self.install_code_b = install_code_b
        self.urls: dict[str, str] = {}

    async def setup(self) -> BackendBench:
        import bellows.types as t

        from rig.zigbee.eui64 import eui_hex

        euis, codes = {}, {}
        for role in ("ch", "esme", "ppmid"):
            self.urls[role] = await self.backend.dongle_path(role)
            ezsp = await self.backend.open_ezsp(role)
            try:
                (eui,) = await ezsp.getEui64()
                euis[role] = eui_hex(eui)
                (token,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
                codes[role] = install_code_from_token(bytes(token))
            finally:
                await ezsp.disconnect()
        for role in ("esme", "ppmid"):
            if codes[role] is None:
                raise ValueError(f"the {role} dongle ({euis[role]}) has no MFG_INSTALLATION_CODE token")
        keys_dir = self.work_dir / "keys"
        keys = KeyStore(keys_dir) if (keys_dir / "roles.json").exists() else create_test_store(
            keys_dir, hht=[euis["ppmid"]], ppmid=[self.identity_b], ids={Role.GPF: euis["ch"], Role.ESME: euis["esme"]})
        self.ids = Identities(keys, keys.one(Role.CHF), euis["ch"], euis["esme"], hht=euis["ppmid"],
                              ppmid=self.identity_b,
                              install_codes={euis["esme"]: codes["esme"], euis["ppmid"]: codes["ppmid"],
                                             self.identity_b: self.install_code_b})
        return self

    def url(self, name: str) -> str:
        return self.urls[name]

    async def power_cycle(self, name: str) -> None:
        await self.backend.power_cycle(name)

    async def close(self) -> None:
        await self.backend.close()
