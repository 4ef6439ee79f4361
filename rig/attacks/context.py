"""What an attack works with: the premises under attack, an attacker dongle, a legitimate HHT, and the
means to watch the air and (where the CH is ours) the CH's state.

:class:`AttackContext` is built from a :class:`rig.premises.Premises`:

* the CH (our CH program, powered on, with the ESME commissioned and joined);
* the attacker: an :class:`~rig.roles.ezsp_role.EzspRole` on ``premises.open("attacker")`` (on emulation
  the factory gives it an EUI-64, an install code and a CBKE certificate from the same CA, as any SE
  device has).  It acts **over the air only**: raw MPDUs through ``sendRawMessageExtended``
  (:meth:`inject`), inter-PAN frames from its own or a spoofed identity (:meth:`interpan_mpdu`), key
  establishment with the CH as itself (:meth:`cbke`), GBCS in TransferData segments (:meth:`send_gbcs`);
* legitimate HHTs (:meth:`legit_hht`): the HHT role on the PPMID dongle (identity A) or on an extra
  dongle; every MPDU their EzspRole hands ``sendRawMessageExtended`` is recorded
  (:attr:`recorded`) — exactly what an eavesdropper hears — for replays;
* what is heard: on emulation a passive tap on the air, on a bench the inventory's sniffer stream
  (``sniffer: {url: ...}``, what ``rig sim up`` serves), else what the attacker's own radio receives
  (:meth:`heard`);
* the CH's state where the CH is ours (:meth:`snapshot`): device log, GBCS counters, the NCP's key
  table, transient keys and the devices that joined.

Against an external CH (the device under test, ``premises.external``) ``ch`` is None and ``dut`` stands
for it (:class:`~rig.roles.ch.external.ExternalCh`): verdicts rest on the air alone, waits run at real pace
(its processing is not visible, so silence proves nothing until the timeout), and an attack that needs the
CH's clock to jump (:meth:`advance_ch_clock`) or its power cut without power control (:meth:`power_cycle_ch`)
is skipped by the runner with the reason (:class:`CannotPlay`).

Negative outcomes are observed as CH events (``ch.refused``/``ch.dropped``, see
:meth:`reasons`) and, everywhere, by the absence of an answer on the air.  Waiting for something that
does not come never costs real time: :meth:`settle` lets the air go quiet for a moment, then jumps the
premises' clock over the rest of the timeout (``RealClock.advance``), in doubling steps while a task is
awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from dataclasses import dataclass, field

import bellows.types as t

from rig import pairing
from rig.gbcs import Cra, Role, gbt
from rig.premises import Premises
from rig.roles.ezsp_role import EzspRole, segments
from rig.zigbee import frames as f
from rig.zigbee.eui64 import eui_hex, eui_int
from rig.zigbee.install_code import install_code_from_token
from rig.zigbee.security import secure_interpan

CH_REASON_EVENTS = ("ch.refused", "ch.dropped", "ch.join_denied")
#: key establishment the CH ended (its result names why)
KE_EVENTS = ("ch.cbke_interpan", "ch.cbke_han")
#: device-log removals that end a residency (a CCS02's removal is not a refusal)
RESIDENCY_ENDS = ("hht_residency_over", "ch_power_on")
#: events that are a reason by their name (their result is "ok")
CH_STATE_EVENTS = {"ch.interpan_reception_off": "interpan_reception_off"}
QUIET_S = 0.25           # loop seconds of silence on the air before the clock is jumped
FIRST_JUMP_S = 0.5       # the first jump while a task is awaited (then 0.5, 1, 2, 4 ... s)


class CannotPlay(Exception):
    """The attack needs what this CH does not offer the rig (its clock, its power); the runner skips it."""


@dataclass
class Heard:
    """One inter-PAN frame heard on the air (decoded headers only: what any sniffer sees)."""

    time: float
    src: str
    dst: str
    cluster: int
    profile: int
    secured: bool
    psdu: bytes


def _decode_interpan(psdu: bytes, *, fcs: bool) -> tuple[f.MacFrame, f.ApsFrame] | None:
    try:
        mac = f.MacFrame.decode(psdu) if fcs else f.MacFrame.decode_mpdu(psdu)
        if mac.frame_type != f.FT_DATA or mac.payload[:2] != f.INTERPAN_NWK_FC.to_bytes(2, "little"):
            return None
        return mac, f.ApsFrame.decode(bytes(mac.payload[2:]))
    except (f.FrameError, ValueError):
        return None


def describe_mpdu(mpdu: bytes) -> str:
    """One line for an attack frame: inter-PAN src -> dst, cluster, profile, secured."""
    parsed = _decode_interpan(mpdu, fcs=False)
    if parsed is None:
        try:
            mac = f.MacFrame.decode_mpdu(mpdu)
        except (f.FrameError, ValueError):
            return f"{len(mpdu)}-byte MPDU"
        kind = {f.FT_BEACON: "beacon", f.FT_DATA: "data", f.FT_ACK: "ack", f.FT_COMMAND: "MAC command"}.get(
            mac.frame_type, "frame")

        def addr(mode, value):
            return "-" if not mode else f"{value:016X}" if mode == f.ADDR_LONG else f"0x{value:04X}"
        return (f"802.15.4 {kind} {addr(mac.src_mode, mac.src_addr)} -> {addr(mac.dst_mode, mac.dst_addr)}, "
                f"{len(mpdu)} bytes")
    mac, aps = parsed
    return (f"inter-PAN {mac.src_addr:016X} -> {mac.dst_addr:016X} cluster 0x{aps.cluster:04X} "
            f"profile 0x{aps.profile:04X} delivery {aps.delivery_mode}{' secured' if aps.security else ''}")


@dataclass
class Allowed:
    """What the attack's legitimate steps may change in the CH's state."""

    devices: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)   # originator -> the legit command's counter
    link_keys: set[str] = field(default_factory=set)           # CBKE link keys the attack itself agreed


def _loop_time() -> float:
    """The event loop's time: real pace on hardware, and on emulation the discrete-event time that jumps
    while nothing is in flight (so "the air has been quiet" costs no wall time there)."""
    return asyncio.get_running_loop().time()


class AttackContext:
    def __init__(self, premises: Premises, policy: str) -> None:
        self.premises = premises
        self.policy = policy
        self.clock = premises.clock
        self.ids = premises.ids
        self.events = premises.events
        self.ch = None                  # our CH program (None when the CH is a device under test)
        self.dut = None                 # the CH, ours or external (ChShim / ExternalCh)
        self.esme = None
        self.ch_eui = self.ids.gpf      # the CH's radio = the GPF Entity ID = the HAN's Extended PAN ID
        self.channel = pairing.HAN_CHANNEL
        self.pan_id = 0
        self.recorded: dict[str, list[bytes]] = {}
        self.frames: list[bytes] = []   # what the attacker put on the air
        self.observed: list[str] = []
        self.breaches: list[str] = []
        self.allowed = Allowed()
        self.mark_time = self.events.now()
        self.baseline: dict | None = None
        self.air_log: list[tuple[float, bytes]] = []
        self._last_air = _loop_time()
        self._attacker: EzspRole | None = None
        self._attacker_rx: list[tuple[float, bytes]] = []
        self._opened: list = []
        self._tap = None
        self._sniffing: asyncio.Task | None = None
        self._inject_lock = asyncio.Lock()

    # --- set-up -------------------------------------------------------------------------------------
    @classmethod
    async def build(cls, premises: Premises, policy: str) -> AttackContext:
        ctx = cls(premises, policy)
        air = premises.air
        if air is not None:
            def tap(_time, _channel, psdu, ctx=ctx):
                ctx.air_log.append((ctx.events.now(), bytes(psdu)))
                ctx._last_air = _loop_time()
            ctx._tap = tap
            air.add_tap(tap)
        ctx.dut = premises.ch(policy)
        ctx.ch = None if ctx.dut.external else ctx.dut
        await ctx.dut.power_on()
        ctx.channel, ctx.pan_id = int(ctx.dut.channel), int(ctx.dut.pan_id)
        if air is None:
            ctx._sniff_bench()
        ctx.esme, status = await premises.esme(ctx.dut)
        if status != "ok":
            raise RuntimeError(f"the ESME could not join the CH's HAN: {status}")
        await ctx.settle(None, 0)               # the ESME's CBKE with the CH finishes
        ctx.mark()
        return ctx

    async def close(self) -> None:
        for role in [self._attacker, *self._opened]:
            if role is not None:
                role.detach()
                await self.premises.disconnect(role.ezsp)
        if self.esme is not None:
            await self.premises.disconnect(self.esme.role.ezsp)
        if self.dut is not None:
            await self.dut.power_off()
        if self._tap is not None and self.premises.air is not None:
            self.premises.air.remove_tap(self._tap)
        if self._sniffing is not None:
            self._sniffing.cancel()
            await asyncio.gather(self._sniffing, return_exceptions=True)

    def _sniff_bench(self) -> None:
        """On a bench with a sniffer (``sniffer: {url: ...}`` a stream such as ``rig sim up`` serves, or
        ``{dongle: NAME}`` a dongle in mfglib mode on the CH's channel), hear the whole air through it."""
        inventory = getattr(self.premises.backend, "inventory", None)
        sniffer = inventory.sniffer if inventory is not None else None
        if sniffer is None:
            return
        from rig.sniff import sniff, sniff_mfglib

        def sink(_time, _channel, psdu, ctx=self):
            ctx.air_log.append((ctx.events.now(), bytes(psdu)))
            ctx._last_air = _loop_time()
        if sniffer.url is not None:
            self._sniffing = asyncio.ensure_future(sniff(sniffer.url, sink=sink, timeout=10.0))
        else:
            port = inventory.dongles[sniffer.dongle].port
            self._sniffing = asyncio.ensure_future(sniff_mfglib(port, channel=self.channel, sink=sink))

    @property
    def hears_air(self) -> bool:
        """Whether every frame on the air is heard (emulated air, a bench's sniffer stream)."""
        return self.premises.air is not None or self._sniffing is not None

    # --- what only the rig's own CH lets an attack do -----------------------------------------------
    async def advance_ch_clock(self, seconds: float) -> None:
        """Let ``seconds`` of the CH's time pass at once (the rig's clock jumps, and with it its own CH's)."""
        if not self.premises.ch_clock_jumps:
            raise CannotPlay(f"needs {seconds:g} s of the CH's own time to pass at once (an external CH keeps "
                             "real time)")
        await self.clock.advance(seconds)

    async def power_cycle_ch(self) -> None:
        """The CH loses power and boots (the bench's power control for an external CH)."""
        ext = self.premises.external
        if ext is not None and ext.power is None:
            raise CannotPlay("needs a CH power cycle, and the inventory gives no external_ch.power")
        await self.premises.power_cycle_ch(self.dut)

    # --- bookkeeping --------------------------------------------------------------------------------
    def mark(self) -> float:
        """The attack starts now: reasons, answers and frames are counted from here."""
        self.mark_time = self.events.now()
        return self.mark_time

    def saw(self, text: str) -> None:
        self.observed.append(text)

    def breach(self, text: str) -> None:
        """Something the attacker must not get happened (seen over the air)."""
        self.breaches.append(text)
        self.observed.append(f"BREACH: {text}")

    def reasons(self, since: float | None = None) -> list[str]:
        """The CH's refusal/drop reasons since ``since`` (default: the mark); [] when the CH is not ours."""
        since = self.mark_time if since is None else since
        return [CH_STATE_EVENTS.get(e.name, e.result) for e in self.events.events
                if e.time >= since and (e.name in CH_REASON_EVENTS or e.name in CH_STATE_EVENTS
                                        or (e.name == "ch.device_log_removed" and e.result in RESIDENCY_ENDS)
                                        or (e.name in KE_EVENTS and e.result != "ok"))]

    def refusal_events(self, since: float | None = None) -> list:
        since = self.mark_time if since is None else since
        return [e for e in self.events.events if e.time >= since and e.name in CH_REASON_EVENTS]

    # --- time -----------------------------------------------------------------------------------------
    async def settle(self, awaitable=None, timeout: float = pairing.RESPONSE_TIMEOUT_S, *, max_real: float = 20.0):
        """Await ``awaitable`` (or just let the premises react) for at most ``timeout`` clock seconds,
        jumping the clock once the air has been quiet for ``QUIET_S`` real seconds.  Returns the result,
        or raises what it raised (``TimeoutError`` when it did not finish)."""
        if not self.premises.ch_clock_jumps:          # an external CH: its silence is real time
            if awaitable is None:
                await self.clock.sleep(timeout)
                return None
            return await self.clock.wait_for(awaitable, timeout, "the CH under test")
        task = asyncio.ensure_future(awaitable) if awaitable is not None else None
        started, jumped = time.monotonic(), 0.0
        while True:
            if task is not None and task.done():
                return task.result()
            if task is not None:
                await asyncio.wait({task}, timeout=QUIET_S / 4)
            else:
                await asyncio.sleep(QUIET_S / 4)
            if task is not None and task.done():
                return task.result()
            quiet = _loop_time() - self._last_air >= QUIET_S
            if quiet and jumped < timeout:
                # awaiting a task, jump in doubling steps from FIRST_JUMP_S: a pause in legitimate work (a
                # CBKE computation on a loaded machine) then costs at most a short jump, never a timeout
                step = timeout - jumped if task is None else min(timeout - jumped, max(FIRST_JUMP_S, jumped))
                jumped += step
                await self.clock.advance(step)
                self._last_air = _loop_time()
                continue
            if quiet and jumped >= timeout:
                if task is None:
                    return None
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    raise TimeoutError(f"nothing after {timeout:g} clock seconds")
            if time.monotonic() - started > max_real:
                if task is None:
                    return None
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise TimeoutError(f"still busy after {max_real:g} real seconds")

    # --- dongles ------------------------------------------------------------------------------------
    def _record(self, role: EzspRole, sink: list[bytes]) -> None:
        ezsp = role.ezsp
        original = ezsp.sendRawMessageExtended

        async def recording(**kwargs):
            sink.append(bytes(kwargs.get("message", b"")))
            return await original(**kwargs)

        ezsp.sendRawMessageExtended = recording

    async def open_role(self, dongle: str, name: str) -> EzspRole:
        await self.premises.backend.manufacture((dongle,))
        role = EzspRole(name, await self.premises.open(dongle), self.clock, self.events)
        await role.read_eui64()
        self._opened.append(role)
        return role

    async def attacker(self) -> EzspRole:
        """The attacker's dongle, on the CH's channel, hearing inter-PAN frames addressed to it."""
        if self._attacker is None:
            await self.premises.backend.manufacture(("attacker",))
            role = EzspRole("attacker", await self.premises.open("attacker"), self.clock, self.events)
            await role.read_eui64()
            await role.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER]), device_id=0x0507)
            await role.set_channel(self.channel)
            await role.open_interpan()
            role.on("macFilterMatchMessageHandler", self._on_attacker_rx)
            self._record(role, self.frames)
            self._attacker = role
        return self._attacker

    def _on_attacker_rx(self, *args) -> None:
        contents = bytes(args[-1])
        self._attacker_rx.append((self.events.now(), contents))
        frame = EzspRole.parse_interpan(contents, lambda _src: None)
        if frame is not None and frame.src == self.ch_eui and frame.cluster == pairing.KE_CLUSTER and frame.zcl:
            self._attacker.feed_ke(frame.zcl)

    async def attacker_install_code(self) -> bytes:
        role = await self.attacker()
        (token,) = await role.ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
        return install_code_from_token(bytes(token))

    async def legit_hht(self, *, dongle: str = "ppmid", ccs01: bytes | None = None, name: str = "HHT"):
        """A legitimate HHT (identity A of the PPMID dongle, or an extra dongle with its own identity and a
        DCC-built CCS01 for it); its inter-PAN MPDUs are recorded in ``recorded[name]``."""
        from rig.roles.hht import Hht

        if dongle == "ppmid":
            hht = await self.premises.hht(ccs01=ccs01, name=name)
        else:
            await self.premises.backend.manufacture((dongle,))
            ezsp = await self.premises.open(dongle)
            (eui,) = await ezsp.getEui64()
            (token,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
            code = install_code_from_token(bytes(token))
            ccs01 = ccs01 or self.premises.builder.ccs01(self.ids.chf, eui_hex(eui), Role.HHT, code).to_bytes()
            hht = Hht(ezsp, self.clock, self.events, install_code=code, ccs01=ccs01, name=name)
        self._record(hht.role, self.recorded.setdefault(name, []))
        self._opened.append(hht.role)
        return hht

    # --- frames -------------------------------------------------------------------------------------
    def zcl(self, command_id: int, payload: bytes, *, direction: int = 0, frame_type: int = 1, seq: int | None = None) -> bytes:
        from rig.zigbee.zcl import ZclHeader

        return ZclHeader(frame_type=frame_type, direction=direction, disable_default_response=1,
                         seq=(seq if seq is not None else os.urandom(1)[0]), command_id=command_id,
                         payload=payload).encode()

    def interpan_mpdu(self, cluster: int, zcl: bytes, *, src: str, dst: str | None = None, link_key: bytes | None = None,
                      aps_counter: int | None = None, profile: int = pairing.SE_PROFILE, delivery: str = "unicast",
                      dst_pan: int | None = None, src_pan: int = 0xFFFF, aps_frame_type: int = f.APS_INTERPAN,
                      junk_ciphertext: bytes | None = None) -> bytes:
        """An inter-PAN MPDU from ``src`` (any EUI-64: spoofing is one field) to ``dst`` (the CH);
        APS-secured with ``link_key`` as the HHT does; ``junk_ciphertext`` makes a secured-looking frame
        whose ciphertext+MIC are those bytes."""
        dst = dst or self.ch_eui
        seq = os.urandom(1)[0]
        dst_addr = 0xFFFF if delivery != "unicast" else eui_int(dst)
        dst_pan = self.pan_id if dst_pan is None else dst_pan
        if link_key is None and junk_ciphertext is None:
            frame = f.interpan(seq, dst_pan=dst_pan, dst=dst_addr, src_pan=src_pan, src_ieee=eui_int(src),
                               cluster=cluster, profile=profile, payload=zcl, delivery=delivery)
            if aps_frame_type != f.APS_INTERPAN:      # a data-frame APS header inside the inter-PAN stub
                aps = f.ApsFrame(frame_type=aps_frame_type, delivery_mode=0, dst_endpoint=1, cluster=cluster,
                                 profile=profile, src_endpoint=1, counter=seq, payload=zcl).encode()
                frame = frame.replace(payload=frame.payload[:2] + aps)
            return frame.encode_mpdu()
        mode = {"unicast": 0, "broadcast": 2, "group": 3}[delivery]
        stub = f.ApsFrame(frame_type=f.APS_INTERPAN, delivery_mode=mode, cluster=cluster, profile=profile,
                          group=0x0001 if mode == 3 else None)
        counter = aps_counter if aps_counter is not None else struct.unpack("<I", os.urandom(4))[0] >> 1
        if junk_ciphertext is not None:
            aux = f.AuxHeader(key_id=f.KEY_ID_DATA, frame_counter=counter, source=eui_int(src))
            aps = f.ApsFrame(frame_type=f.APS_INTERPAN, delivery_mode=mode, cluster=cluster, profile=profile,
                             group=0x0001 if mode == 3 else None, aux=aux, payload=junk_ciphertext).encode()
        else:
            aps = secure_interpan(stub, link_key, zcl, sender=eui_int(src), frame_counter=counter)
        frame = f.interpan(seq, dst_pan=dst_pan, dst=dst_addr, src_pan=src_pan, src_ieee=eui_int(src),
                           cluster=cluster, profile=profile, delivery=delivery)
        return frame.replace(payload=frame.payload[:2] + aps).encode_mpdu()

    async def inject(self, mpdu: bytes, *, wait: bool = True) -> bool:
        """Put one raw MPDU on the air from the attacker's dongle."""
        role = await self.attacker()
        if not wait:
            (status,) = await role.ezsp.sendRawMessageExtended(message=mpdu, priority=0, useCca=True)
            return status == t.sl_Status.OK
        async with self._inject_lock:
            fut = asyncio.get_running_loop().create_future()

            def done(*args):
                if not fut.done():
                    fut.set_result(args[-1])
            role.on("rawTransmitCompleteHandler", done)
            try:
                (status,) = await role.ezsp.sendRawMessageExtended(message=mpdu, priority=0, useCca=True)
                if status != t.sl_Status.OK:
                    return False
                with contextlib.suppress(TimeoutError):
                    await self.clock.wait_for(fut, pairing.RESPONSE_TIMEOUT_S, "rawTransmitCompleteHandler")
                return True
            finally:
                role._handlers["rawTransmitCompleteHandler"].remove(done)

    async def inject_all(self, mpdus: list[bytes]) -> None:
        for mpdu in mpdus:
            await self.inject(mpdu)

    async def cbke(self, *, src: str | None = None, timeout: float = pairing.KE_TIMEOUT_S) -> bytes | None:
        """Key establishment with the CH over inter-PAN from the attacker (as itself, or claiming
        ``src``); the CBKE link key its NCP agreed, or None."""
        role = await self.attacker()
        src = src or role.eui64

        async def send(command, payload):
            return await self.inject(self.interpan_mpdu(pairing.KE_CLUSTER, role.zcl(command, payload, direction=0),
                                                        src=src))
        try:
            result = await self.settle(role.run_ke_initiator(send, self.ch_eui, "attacker key establishment"), timeout)
        except TimeoutError:
            self.saw(f"key establishment as {src}: no answer from the CH")
            return None
        if not result.success:
            self.saw(f"key establishment as {src}: {result.reason.name.lower()}")
            return None
        key = await role.link_key_for(self.ch_eui)
        self.allowed.link_keys.add(src)         # any SE device may run CBKE with the CH (the open door)
        self.saw(f"key establishment as {src}: link key agreed")
        return key

    @staticmethod
    def blocks(data: bytes) -> list[bytes]:
        """The TransferData payloads an HHT sends ``data`` in over inter-PAN (GBT blocks, ``segments``);
        bytes that are no GBCS message go under an all-zero routing header, as a forger may write one."""
        try:
            return segments(data)
        except ValueError:
            return segments(data, gbt.Routing(Cra.COMMAND, 0, "0" * 16, "0" * 16, 0))

    def segments_of(self, data: bytes, key: bytes, *, src: str, pieces: list[bytes] | None = None,
                    tunnel_id: int = pairing.INTERPAN_TUNNEL_ID) -> list[bytes]:
        """APS-secured inter-PAN TransferData MPDUs: one per piece (default: ``data``'s GBT blocks)."""
        pieces = pieces if pieces is not None else self.blocks(data)
        return [self.interpan_mpdu(pairing.TUNNEL_CLUSTER,
                                   self.zcl(pairing.CMD_TRANSFER_DATA_C2S, struct.pack("<H", tunnel_id) + piece),
                                   src=src, link_key=key) for piece in pieces]

    async def send_gbcs(self, data: bytes, key: bytes, *, src: str | None = None, pieces: list[bytes] | None = None) -> None:
        """GBCS in APS-secured TransferData segments over inter-PAN, as an HHT sends its CCS01."""
        role = await self.attacker()
        await self.inject_all(self.segments_of(data, key, src=src or role.eui64, pieces=pieces))

    # --- what was heard -----------------------------------------------------------------------------
    def heard(self, *, since: float | None = None, src: str | None = None, dst: str | None = None,
              cluster: int | None = None) -> list[Heard]:
        """Inter-PAN frames heard since ``since`` (the mark): every frame on the air where a sniffer
        listens (emulation), else those the attacker's radio received."""
        since = self.mark_time if since is None else since
        if self._sniffing is not None and self._sniffing.done():     # deaf now: silence would prove nothing
            problem = self._sniffing.exception() if not self._sniffing.cancelled() else None
            raise RuntimeError(f"the bench's sniffer stopped: {problem or 'its stream ended'}")
        source = self.air_log if self.hears_air else self._attacker_rx
        out = []
        for when, psdu in source:
            if when < since:
                continue
            parsed = _decode_interpan(psdu, fcs=self.hears_air)
            if parsed is None:
                continue
            mac, aps = parsed
            frame = Heard(when, f"{mac.src_addr:016X}" if mac.src_mode == 3 else f"{mac.src_addr or 0:04X}",
                          f"{mac.dst_addr:016X}" if mac.dst_mode == 3 else f"{mac.dst_addr or 0:04X}",
                          aps.cluster, aps.profile, bool(aps.security), psdu)
            if src is not None and frame.src != src.upper():
                continue
            if dst is not None and frame.dst != dst.upper():
                continue
            if cluster is not None and frame.cluster != cluster:
                continue
            out.append(frame)
        return out

    def answers_to(self, eui: str, *, since: float | None = None, cluster: int | None = None) -> list[Heard]:
        """What the CH sent over inter-PAN to ``eui`` since the mark."""
        return self.heard(since=since, src=self.ch_eui, dst=eui, cluster=cluster)

    def recorded_segments(self, name: str = "HHT") -> list[bytes]:
        """The APS-secured TransferData MPDUs a legitimate HHT sent (its CCS01, as an eavesdropper heard it)."""
        out = []
        for mpdu in self.recorded.get(name, []):
            parsed = _decode_interpan(mpdu, fcs=False)
            if parsed and parsed[1].cluster == pairing.TUNNEL_CLUSTER and parsed[1].security:
                out.append(mpdu)
        return out

    # --- the CH's state (ours only) -----------------------------------------------------------------
    async def snapshot(self) -> dict | None:
        ch = self.ch
        if ch is None or ch.role is None:
            return None
        keys = []
        for index in range(12):
            status, _ctx, _key, _meta = await ch.role.ezsp.exportLinkKeyByIndex(index=index)
            if status == t.sl_Status.OK:
                keys.append(eui_hex(_ctx.eui64))
        watch = {self.ids.hht, self.ids.ppmid, *(r.eui64 for r in [self._attacker, *self._opened] if r is not None)}
        transient = []
        for eui in sorted(watch):
            from rig.zigbee.eui64 import eui_obj

            status, *_ = await ch.role.ezsp.exportTransientKeyByEui(eui64=eui_obj(eui))
            if status == t.sl_Status.OK:
                transient.append(eui)
        joined = sorted({e.peer for e in self.events.named("ch.device_joined") if e.peer})
        return {"device_log": ch.core.log.snapshot(), "chf_counters": dict(ch.core.counters.counters),
                "gpf_counters": dict(ch.gpf.counters.counters), "key_table": sorted(keys),
                "transient_keys": transient, "joined": joined,
                "interpan_sessions": len(ch.core.sessions)}

    async def take_baseline(self) -> None:
        """The CH's state after the legitimate steps and before the attack (ours only)."""
        self.baseline = await self.snapshot()

    def state_diff(self, before: dict, after: dict) -> list[str]:
        allowed = {e.upper() for e in self.allowed.devices}
        diffs = []

        def entries(snap):
            return {e["eui64"]: e for e in snap["device_log"] if e["eui64"] not in allowed}
        b, a = entries(before), entries(after)
        for eui in sorted(set(b) | set(a)):
            if b.get(eui) != a.get(eui):
                what = "added" if eui not in b else "removed" if eui not in a else "changed"
                diffs.append(f"device log: {eui} {what}")
        for name in ("chf_counters", "gpf_counters"):
            for origin in sorted(set(before[name]) | set(after[name])):
                old, new = before[name].get(origin), after[name].get(origin)
                if old != new and self.allowed.counters.get(origin) != new:
                    diffs.append(f"{name}: {origin} {old} -> {new}")
        for name in ("key_table", "transient_keys", "joined"):
            ok = allowed | ({e.upper() for e in self.allowed.link_keys} if name == "key_table" else set())
            added = sorted(set(after[name]) - set(before[name]) - ok)
            gone = sorted(set(before[name]) - set(after[name]) - allowed)
            if added:
                diffs.append(f"{name}: + {', '.join(added)}")
            if gone:
                diffs.append(f"{name}: - {', '.join(gone)}")
        return diffs
