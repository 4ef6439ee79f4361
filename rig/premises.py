"""The premises builder: the one way to get a premises' dongles, identities, keys and roles.

A :class:`Premises` sits on a :class:`rig.backend.RigBackend` (emulated dongles, a hardware inventory
or a labgrid environment) and is what scenarios, the pytest plugin's role fixtures, the attack
catalogue and the tests use.  It

* opens each role's dongle through the backend, with the inventory's serial settings (baud rate, flow
  control), and closes every connection it opened;
* reads the premises' identities from the dongles as an installer reads labels: the CH dongle's EUI-64
  is the GPF Entity ID (the HAN's Extended PAN ID), the ESME's and the PPMID's (identity A, the HHT)
  are theirs, install codes come from MFG_INSTALLATION_CODE; identity B (the PPMID's second address),
  its install code and any host-held CBKE certificate come from the PPMID's label
  (``backend.label("ppmid")``);
* creates (or reuses) the GBCS test key store in ``work_dir/keys``;
* builds the roles: the CH program (:meth:`ch`), the ESME commissioned and joined (:meth:`esme`), the
  GSME likewise where the bench has a ``gsme`` dongle (:meth:`gsme`; set up on first use, so a premises
  without one is as before), an HHT (:meth:`hht`), the dual-address PPMID (:meth:`ppmid`), and any further dongle a test asks for
  (:meth:`open` — a second HHT, an attacker that injects raw frames).

On emulation the backend first plays the factory floor (``backend.manufacture``): each dongle gets its
EUI-64, install code and CBKE certificate as flashing would give a real one; from then on the premises
reads them back over EZSP exactly as on hardware.  Nothing here knows which backend it runs on.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from rig import pairing
from rig.events import EventLog
from rig.gbcs import KeyStore, Role, create_test_store
from rig.zigbee.install_code import link_key_from_code

PREMISES_ROLES = ("ch", "esme", "ppmid")    # the dongles every premises has


class PremisesError(Exception):
    """A premises that cannot be built (the message names the dongle and what is missing)."""


@dataclass
class Identities:
    keys: KeyStore
    chf: str
    gpf: str
    esme: str
    hht: str
    ppmid: str
    install_codes: dict[str, bytes] = field(default_factory=dict)
    gsme: str | None = None     # set once the GSME is commissioned (Premises.gsme)
    host_credentials: dict[str, dict] = field(default_factory=dict)   # CBKE tokens the host holds (identity B)

    def link_key(self, entity: str) -> bytes:
        return link_key_from_code(self.install_codes[entity])


class Premises:
    """One premises on one backend: dongles by role, identities, keys, and the roles on them."""

    def __init__(self, backend, work_dir: Path | str) -> None:
        self.backend = backend
        self.clock = backend.clock
        self.work_dir = Path(work_dir)
        self.ids: Identities | None = None
        self.builder = None     # the DCC's one GBCS command builder (counters rise across every command it makes)
        self.events = EventLog(self.clock)      # the step log every role of this premises writes to
        self._open: list = []
        self._cleaned: set[str] = set()        # extra dongles factory-reset for this premises (hardware)

    # --- what the backend provides ----------------------------------------------------------------
    @property
    def pcap(self) -> Path | None:
        return getattr(self.backend, "pcap", None)

    @property
    def air(self):
        """The virtual air on emulation (faults, taps); None on hardware."""
        return getattr(self.backend, "air", None)

    async def url(self, role: str) -> str:
        return await self.backend.dongle_path(role)

    async def open(self, role: str):
        """A bellows EZSP connection to ``role``'s dongle (serial settings from the inventory); closed by
        :meth:`close` unless the caller closes it first.  On hardware an extra dongle (``attacker``,
        ``hht2``, ...) is factory-reset the first time this premises opens it, as :meth:`setup` does the
        premises' own: no network or key left by the previous test."""
        ezsp = await self.backend.open_ezsp(role)
        self._open.append(ezsp)
        if self.backend.hardware and role not in PREMISES_ROLES and role not in self._cleaned:
            from rig.roles.ezsp_role import EzspRole

            self._cleaned.add(role)
            cleaner = EzspRole(f"premises/{role}", ezsp, self.clock, self.events)
            try:
                await cleaner.factory_reset()
            finally:
                cleaner.detach()
        return ezsp

    async def disconnect(self, ezsp) -> None:
        if ezsp in self._open:
            self._open.remove(ezsp)
        from rig.transport import close_ezsp

        with contextlib.suppress(Exception):     # a dongle that lost power has no link to close
            await close_ezsp(ezsp)

    async def power_cycle(self, role: str) -> None:
        await self.backend.power_cycle(role)

    # --- set-up -----------------------------------------------------------------------------------
    async def setup(self) -> Premises:
        """Identities from the dongles; a dongle that cannot play its role (``EzspRole.check_dongle``:
        EZSP version, CBKE library and certificate) raises ``PremisesError`` naming it and the fix."""
        from rig.roles.ezsp_role import DongleUnfit, EzspRole

        roles = tuple(r for r in PREMISES_ROLES if not (self.external and r == "ch"))
        await self.backend.manufacture(roles)
        label = self.backend.label("ppmid")
        euis, codes = {}, {}
        for role in roles:
            ezsp = await self.open(role)
            reader = EzspRole(f"premises/{role}", ezsp, self.clock, self.events)
            try:
                if self.backend.hardware:
                    await reader.factory_reset()       # no network, keys or identity left by the previous test
                euis[role] = await reader.read_eui64()
                if role == "ppmid" and len(label.eui64s) >= 2 and euis[role] == label.eui64s[1]:
                    # a bench's PPMID left as identity B by the previous test: back to A (NV3, reset)
                    await reader.switch_eui64(label.eui64s[0])
                    euis[role] = await reader.read_eui64()
                codes[role] = await reader.read_install_code()
                await reader.check_dongle()            # EZSP version, CBKE library and certificate
            except DongleUnfit as exc:
                raise PremisesError(f"the {role} dongle ({euis.get(role, '?')}) cannot play its role: {exc.detail}") from exc
            finally:
                reader.detach()
                await self.disconnect(ezsp)
        for role in ("esme", "ppmid"):
            if codes[role] is None:
                raise PremisesError(f"the {role} dongle ({euis[role]}) has no MFG_INSTALLATION_CODE token")
        if len(label.eui64s) < 2 or label.eui64s[1] not in label.install_codes:
            raise PremisesError("the PPMID's identity B needs its EUI-64 (inventory eui64s: [A, B]) and its "
                                "install code (--rig-ppmid-b-install-code)")
        identity_b = label.eui64s[1]
        keys_dir = self.backend.keys_dir() or self.work_dir / "keys"
        if self.external:
            keys = self._external_keys(keys_dir, esme=euis["esme"], hht=euis["ppmid"], ppmid=identity_b)
            euis["ch"] = (self.external.gpf or keys.one(Role.GPF)).upper()
        else:
            keys = KeyStore(keys_dir) if (keys_dir / "roles.json").exists() else create_test_store(
                keys_dir, hht=[euis["ppmid"]], ppmid=[identity_b], ids={Role.GPF: euis["ch"], Role.ESME: euis["esme"]})
        chf = (self.external.chf if self.external and self.external.chf else keys.one(Role.CHF)).upper()
        self.ids = Identities(keys, chf, euis["ch"], euis["esme"], hht=euis["ppmid"],
                              ppmid=identity_b,
                              install_codes={euis["esme"]: codes["esme"], euis["ppmid"]: codes["ppmid"],
                                             identity_b: label.install_codes[identity_b]},
                              host_credentials=dict(label.cbke_tokens))
        from rig.gbcs import Builder

        self.builder = Builder(keys)
        return self

    async def close(self) -> None:
        for ezsp in list(self._open):
            await self.disconnect(ezsp)
        await self.backend.close()

    def _external_keys(self, keys_dir: Path, **devices: str) -> KeyStore:
        """The rig's GBCS store against an external CH: the PKI it trusts (``external_ch.pki/keys``: the
        DCC's keys, its CHF and GPF) plus identities for the rig's own devices (``rig provision`` writes
        it beside the inventory; else it is derived here, in the work folder)."""
        from rig.gbcs import derive_store

        source = self.external.pki / "keys"
        if not (source / "roles.json").is_file():
            raise PremisesError(f"the external CH's PKI {self.external.pki} has no GBCS key store (keys/roles.json): "
                                "external_ch.pki names the folder with ca/ and keys/ the CH trusts")
        roles = {"esme": Role.ESME, "hht": Role.HHT, "ppmid": Role.PPMID}
        return derive_store(source, keys_dir, [(eui, roles[name]) for name, eui in devices.items()])

    # --- roles ------------------------------------------------------------------------------------
    @property
    def external(self):
        """The inventory's ``external_ch`` (:class:`rig.inventory.ExternalCh`): the CH is a device under test
        the rig plays against over the air; None when the CH is the rig's own program."""
        return getattr(self.backend, "external_ch", None)

    @property
    def ch_clock_jumps(self) -> bool:
        """Whether the rig's clock jumps move the CH's clock too (its own CH program: yes; an external CH
        keeps its own time, so a wait that matters to it takes that long)."""
        return self.external is None

    def ch(self, policy: str, *, state_dir: Path | str | None = None):
        """The CH program on the ``ch`` dongle (not yet powered on: ``await ch.power_on()``); with an
        external CH, the :class:`~rig.roles.ch.external.ExternalCh` standing for it (``policy`` must be the
        one it implements)."""
        if self.external:
            return self._external_ch(policy)
        from rig.roles.ch.shim import ChShim

        return ChShim(lambda: self.open("ch"), clock=self.clock, events=self.events, policy=policy,
                      keys=self.ids.keys, state_dir=state_dir or self.work_dir / "ch",
                      disconnect=self.disconnect)

    def _external_ch(self, policy: str):
        from rig.roles.ch.external import ExternalCh

        spec = self.external
        if policy != spec.policy:
            raise PremisesError(f"the CH under test implements policy {spec.policy} (inventory external_ch.policy); "
                                f"a {policy} run cannot be judged against it")

        async def scan():
            from rig import pairing
            from rig.roles.ezsp_role import EzspRole

            ezsp = await self.open("esme")
            role = EzspRole("premises/scan", ezsp, self.clock, self.events)
            try:
                return await role.active_scan(pairing.SCAN_DURATION)
            finally:
                role.detach()
                await self.disconnect(ezsp)
        return ExternalCh(spec, gpf_id=self.ids.gpf, chf_id=self.ids.chf, policy=policy, events=self.events,
                          scan=scan, power_cycle=lambda: self.backend.power_cycle("ch"))

    async def power_cycle_ch(self, ch) -> None:
        """The CH loses power and boots: its dongle's power is cut (the host's link drops) and the CH
        program starts again; an external CH is power-cycled through the bench."""
        if getattr(ch, "external", False):
            await ch.power_cycle()
            return
        await self.power_cycle("ch")
        await ch.power_off()
        await ch.power_on()

    async def esme(self, ch) -> tuple[object, str]:
        """The ESME, commissioned by the DCC (a CCS01 over the WAN into ``ch``'s log) and powered on;
        returns ``(shim, join status)``."""
        import zigpy.types as zt

        from rig.gbcs import CounterStore, Device
        from rig.roles.meters import EsmeShim, MeterCore
        from rig.zigbee.eui64 import eui_obj

        ids, builder = self.ids, self.builder
        shim = EsmeShim(await self.open("esme"),
                        MeterCore("ESME", Device.from_store(ids.keys, ids.esme), CounterStore(), builder, self.events),
                        self.clock, self.events, reconnect=lambda: self.open("esme"))
        await ch.add_from_wan(builder.ccs01(ids.chf, ids.esme, Role.ESME, ids.install_codes[ids.esme]).to_bytes())
        status = await shim.power_on(int(ch.channel), ch.pan_id, eui_obj(ids.gpf, zt.ExtendedPanId),
                                     ids.link_key(ids.esme), ids.gpf)
        return shim, status

    def has_gsme(self) -> bool:
        return self.backend.has_role("gsme")

    async def gsme(self, ch, *, wake_s: float | None = pairing.GSME_WAKE_S) -> tuple[object, str]:
        """The GSME, read from its dongle as an installer reads its label, commissioned by the DCC (a CCS01
        over the WAN into ``ch``'s log, device type GSME) and powered on; returns ``(shim, join status)``.
        ``wake_s``: its wake period (None: it wakes only at power-on and when its button is pressed).
        Its Entity ID must be the key store's GSME (``PremisesError`` otherwise)."""
        import zigpy.types as zt

        from rig.gbcs import CounterStore, Device
        from rig.roles.ezsp_role import EzspRole
        from rig.roles.gsme import GsmeShim
        from rig.roles.meters import MeterCore
        from rig.zigbee.eui64 import eui_obj

        if not self.has_gsme():
            raise PremisesError("this bench has no gsme dongle (inventory role gsme)")
        ids, builder = self.ids, self.builder
        await self.backend.manufacture(("gsme",))
        ezsp = await self.open("gsme")
        reader = EzspRole("premises/gsme", ezsp, self.clock, self.events)     # open() factory-reset it on hardware
        try:
            eui = await reader.read_eui64()
            code = await reader.read_install_code()
        finally:
            reader.detach()
        if code is None:
            raise PremisesError(f"the gsme dongle ({eui}) has no MFG_INSTALLATION_CODE token")
        if ids.keys.ids(Role.GSME) != [eui]:
            raise PremisesError(f"the gsme dongle is {eui} but the key store's GSME is "
                                f"{', '.join(ids.keys.ids(Role.GSME)) or 'missing'}")
        ids.gsme, ids.install_codes[eui] = eui, code
        shim = GsmeShim(ezsp, MeterCore("GSME", Device.from_store(ids.keys, eui), CounterStore(), builder, self.events),
                        self.clock, self.events, wake_s=wake_s)
        await ch.add_from_wan(builder.ccs01(ids.chf, eui, Role.GSME, code).to_bytes())
        status = await shim.power_on(int(ch.channel), ch.pan_id, eui_obj(ids.gpf, zt.ExtendedPanId),
                                     ids.link_key(eui), ids.gpf)
        return shim, status

    def ccs01_for_hht(self) -> bytes:
        """The CCS01 a supplier gives the HHT (identity A) for its own pairing."""
        ids = self.ids
        return self.builder.ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()

    async def hht(self, *, ccs01: bytes | None = None, dongle: str = "ppmid", name: str = "HHT"):
        """An HHT on ``dongle`` (identity A of the PPMID dongle by default) holding ``ccs01``."""
        from rig.roles.hht import Hht

        ids = self.ids
        return Hht(await self.open(dongle), self.clock, self.events, install_code=ids.install_codes[ids.hht],
                   ccs01=ccs01 if ccs01 is not None else self.ccs01_for_hht(), name=name)

    async def ppmid(self):
        """The dual-address PPMID, preloaded with the DCC's bundle (CCS01 for B, CS03A1 → ESME, CS03C → GPF,
        and with a commissioned GSME the gas-side join CS03A1 → GSME)."""
        from rig.gbcs import generate_bundle
        from rig.roles.ppmid import DualAddressPpmid

        ids = self.ids
        ccs01_a = self.ccs01_for_hht()          # requested first: its counter is older than the bundle's
        bundle = generate_bundle(ids.keys, ids.ppmid, ids.install_codes[ids.ppmid], chf=ids.chf, esme=ids.esme,
                                 gpf=ids.gpf, builder=self.builder, gsme=ids.gsme, gas=ids.gsme is not None)
        return DualAddressPpmid(await self.open("ppmid"), self.clock, self.events, identity_a=ids.hht,
                                identity_b=ids.ppmid, install_code_a=ids.install_codes[ids.hht],
                                install_code_b=ids.install_codes[ids.ppmid], ccs01_a=ccs01_a,
                                bundle=[e.gbcs for e in bundle.entries],
                                credentials_b=ids.host_credentials.get(ids.ppmid),
                                sleepy=[ids.gsme] if ids.gsme else [])


async def sim_premises(work_dir: Path | str, *, pcap: Path | str | None = None, transport: str = "tcp",
                       seed: int = 7, ezsp_version: int | None = None) -> Premises:
    """A premises on emulated dongles (one air, one capture), set up; ``ezsp_version`` picks the
    emulated firmware (the EmberZNet release speaking that EZSP version; default: the emulator's)."""
    from rig.backend import SimBackend

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    backend = SimBackend(state_dir=work_dir / "nv", pcap=pcap, transport=transport, seed=seed,
                         ezsp_version=ezsp_version)
    premises = Premises(backend, work_dir)
    try:
        return await premises.setup()
    except BaseException:
        await premises.close()
        raise
