"""The CH shim on its coordinator dongle: ``ChCore`` driven through EZSP.

Power-on (``power_on``): connect to the dongle, resume the SM HAN from NV or form it (Extended PAN ID =
the GPF Entity ID), trust-centre policy "install-code keys only", open inter-PAN reception with the MAC
filter list; ``ChCore.power_on`` drops HHT entries and arms the 60-minute close (policy ``gbcs``), which
writes the all-zero filter list so inter-PAN frames stop reaching this host.

Inter-PAN (``_on_interpan``): ``ChCore.screen_interpan`` checks each frame against the allow-list
(SE profile, APS unicast, cluster-specific client->server ZCL, per cluster its commands and security:
plaintext only for Key Establishment) before it opens a session; the HHT runs CBKE
(this side is the responder); the HHT's CCS01 arrives in GBT blocks, one per APS-secured TransferData, decrypted
with the CBKE link key exported from the NCP, checked by ``ChCore`` (window, GBCS validation, sender),
and answered the same way.  The device's install-code key is then imported and joining permitted.

SM HAN (``_on_incoming``): devices join (``trustCenterJoinHandler`` marks them joined in the log), run
CBKE with the CH, open a GB-HRGP tunnel (only devices in the log), and send GBCS: commands for the CHF
are executed by ``ChCore``; for the GPF by the GPF's ``MeterCore`` in-process; for another device
relayed down the CH's tunnel to it, whose response returns to the tunnel the command came from.

A sleepy device (the GSME, ``rig.pairing.SLEEPY_DEVICE_TYPES``) is served as Silicon Labs'
comms-hub-function serves it (``rig.roles.ch.gpf``): a command for it is held, not relayed, until its
GET; its PUTs carry its responses (routed like any) and its mirror updates, from which the GPF answers
its partners' Metering reads.

Nothing is dropped silently: a refusal is the event ``ch.refused`` (ChCore's, or the relay's here), a
frame or message the CH discards without deciding anything (not SE, malformed ZCL, a cluster it does not
serve, a segment that does not fit, an unsolicited response) is ``ch.dropped``; the result names the
reason either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

import bellows.types as t
from zigpy.zcl.foundation import GeneralCommand
from zigpy.zdo.types import ZDOCmd

from rig import pairing
from rig.cbke.certificate import Certificate163k1, Certificate283k1
from rig.cbke.ke_cluster import SUITE_1, SUITE_2, InitiateKeyEstablishment, KeCommand
from rig.clock import Clock, Timer
from rig.events import EventLog
from rig.gbcs import Builder, CounterStore, Device, KeyStore, Role
from rig.roles.ezsp_role import EzspRole, InterPanFrame, Reassemblers, han_transfers, segments
from rig.roles.ezsp_role import describe_gbcs as _describe
from rig.roles.meters import MeterCore
from rig.zigbee.eui64 import eui_bytes, eui_hex
from rig.zigbee.frames import PROFILE_ZDO
from rig.zigbee.zcl import ZclHeader

from .core import ChCore, Refusal

#: KE responder states past key confirmation: the partner may already be sending with the agreed key
_KEY_AGREED_STATES = frozenset({"sending Confirm Key Data Response", "done"})
from .devicelog import DeviceLog, DeviceLogEntry
from .gpf import GasMirror, HeldMessage, SleepyQueue, get_response, is_gbcs, split_sleepy

_Sec = t.EmberInitialSecurityBitmask
#: The trust centre's initial security when it forms the SM HAN (EmberInitialSecurityBitmask names).
TC_SECURITY = (_Sec.TRUST_CENTER_GLOBAL_LINK_KEY | _Sec.PRECONFIGURED_NETWORK_KEY_MODE | _Sec.HAVE_PRECONFIGURED_KEY
               | _Sec.HAVE_NETWORK_KEY | _Sec.GET_LINK_KEY_WHEN_JOINING)


def _certificate_subject(payload: bytes) -> bytes | None:
    """The subject of an Initiate Key Establishment Request's certificate (None: not one of suites 1, 2)."""
    try:
        msg = InitiateKeyEstablishment.decode(payload)
        if msg.suite not in (SUITE_1, SUITE_2):
            return None
        return (Certificate283k1 if msg.suite == SUITE_2 else Certificate163k1).decode(msg.identity).subject
    except ValueError:                          # PayloadError is one: the responder refuses it, named
        return None


class ChShim:
    def __init__(self, connect, *, clock: Clock, events: EventLog, policy: str, keys: KeyStore,
                 state_dir, channel: int = pairing.HAN_CHANNEL, disconnect=None) -> None:
        """``connect()`` returns a connected bellows EZSP for the CH's dongle (``rig.premises`` passes one
        that opens it with the inventory's serial settings); ``disconnect(ezsp)`` closes it."""
        self.connect = connect
        self._disconnect = disconnect
        self.clock = clock
        self.events = events
        self.keys = keys
        self.channel = channel
        self.chf_id = keys.one(Role.CHF)
        self.gpf_id = keys.one(Role.GPF)
        os.makedirs(state_dir, exist_ok=True)
        builder = Builder(keys)
        self.core = ChCore(clock, policy, DeviceLog(os.path.join(state_dir, "chf-device-log.json")),
                           Device.from_store(keys, self.chf_id),
                           CounterStore.load(os.path.join(state_dir, "chf-counters.json")), builder, events,
                           on_window_closed=self._window_closed, on_removed=self._removed,
                           on_refused=self._refused_by_core, on_session_evicted=self._forget_interpan_peer)
        self.gpf = MeterCore("GPF", Device.from_store(keys, self.gpf_id),
                             CounterStore.load(os.path.join(state_dir, "gpf-counters.json")), builder, events)
        self.sleepy = SleepyQueue(clock, events, on_expired=self._sleepy_expired)   # host RAM (SL's plugin)
        self.mirror = GasMirror()
        self._mirror_reported: dict | None = None
        self.role: EzspRole | None = None
        self.ezsp = None
        self.pan_id = 0
        self.refusals: list[Refusal] = []
        self._recovery: asyncio.Task | None = None
        self._reset_ram()

    def _reset_ram(self) -> None:
        self._interpan_keys: dict[str, bytes] = {}
        self._key_pending: dict[str, list[bytes]] = {}    # sender -> secured frames that came before its key
        self._interpan_rx = Reassemblers(pairing.REASSEMBLY_MAX_SENDERS, self._reassembly_drop("interpan"))
        self._interpan_ke: dict[str, tuple[object, asyncio.Task]] = {}     # sender -> (KE responder, its waiter)
        self._han_ke: dict[int, object] = {}
        # on the HAN a TransferData carries a whole GBCS message (APS-fragmented below it, rig.fragments)
        self._han_rx = Reassemblers(pairing.REASSEMBLY_MAX_SENDERS, self._reassembly_drop("tunnel"),
                                    segment_bytes=pairing.TUNNEL_MAX_TRANSFER)
        self._rx_timers: dict[tuple[str, object], Timer] = {}              # (path, sender) -> reassembly bound
        self._ke_answering: set[asyncio.Task] = set()                      # KE Initiates being answered now
        self._ke_tokens, self._ke_tokens_at = float(pairing.INTERPAN_KE_PER_S), self.clock.now()
        self._secure: set[str] = set()
        self._tunnels_out: dict[int, asyncio.Future] = {}
        self._pending: dict[tuple[str, int], tuple[int, str, int]] = {}
        self._out_tunnel_ids: dict[str, int] = {}
        self._next_tunnel = 1
        self._tasks: set[asyncio.Task] = set()

    def _refused_by_core(self, refusal: Refusal) -> None:
        self.refusals.append(refusal)               # ChCore has emitted ch.refused

    def _reassembly_drop(self, via: str):
        def dropped(sender, reason: str, n: int, detail: str) -> None:
            self._drop(reason, sender, via=via, bytes=n, detail=detail)
        return dropped

    def _reassemble(self, rx: Reassemblers, via: str, sender, chunk: bytes) -> bytes | None:
        """Feed one segment; a message still in progress ``REASSEMBLY_TIMEOUT_S`` after the sender's last
        segment is dropped (``message_incomplete``), on the CH's clock."""
        whole = rx.feed(sender, chunk)
        timer = self._rx_timers.pop((via, sender), None)
        if timer is not None:
            timer.cancel()
        if sender in rx:
            self._rx_timers[(via, sender)] = self.clock.call_later(
                pairing.REASSEMBLY_TIMEOUT_S, self._reassembly_timeout, rx, via, sender)
        return whole

    def _reassembly_timeout(self, rx: Reassemblers, via: str, sender) -> None:
        self._rx_timers.pop((via, sender), None)
        if sender in rx:
            rx.discard(sender)
            peer = sender if isinstance(sender, str) else None
            self._drop("message_incomplete", peer, via=via,
                       detail=f"no segment for {pairing.REASSEMBLY_TIMEOUT_S:g} s: the message was cut short")

    def _drop(self, reason: str, peer: str | None, **detail) -> None:
        """A frame (or the bytes of a message in progress) the CH discards without executing anything."""
        self.events.emit("CH", "ch.dropped", reason, peer=peer, **detail)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- power --------------------------------------------------------------------------------------
    async def power_on(self) -> None:
        """What the CH does when power returns: reconnect its dongle, HAN up, inter-PAN open."""
        if self.ezsp is not None:
            await self.power_off()
        await self._bring_up(power_on=True)

    async def _bring_up(self, *, power_on: bool) -> None:
        """Connect the dongle and bring the HAN and inter-PAN reception up; ``power_on`` False is the
        host's recovery after its NCP reset or its link dropped (the host kept its RAM: no HHT entry is
        dropped, the 60-minute window runs on)."""
        self._reset_ram()
        self.ezsp = await self.connect()
        self.role = role = EzspRole("CH", self.ezsp, self.clock, self.events)
        role.on("macFilterMatchMessageHandler", self._on_interpan)
        role.on("incomingMessageHandler", self._on_incoming)
        role.on("trustCenterJoinHandler", self._on_tc_join)
        role.on_lost.append(self._ncp_lost)
        await role.read_eui64()
        removed = self.core.power_on() if power_on else []
        if power_on:                    # held messages and the mirror are RAM: gone with the power
            self.sleepy.clear()
            self.mirror.clear()
            self._mirror_reported = None
        await role.prepare(([pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER, pairing.METERING_CLUSTER],
                            [pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER]), device_id=0x0500)
        # joins only with a key from an install code (a CHF device-log entry), never the well-known key;
        # no unsecured rejoins (the booted NCP's default allows them)
        await role.set_trust_center_policy(t.EzspDecisionBitmask.ALLOW_JOINS
                                           | t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)
        if await role.resume_network():
            role.emit("ch.han_resumed")
        else:
            await self._form()
        self.pan_id = await role.network_pan_id()
        role.pan_id = self.pan_id
        if self.core.interpan_open or power_on:
            await role.open_interpan()
        if not power_on:
            role.emit("ch.ncp_recovered", device_log=[e.eui64 for e in self.core.log.entries.values()])
        else:
            role.emit("ch.powered_on", policy=self.core.policy, extended_pan_id=self.gpf_id, channel=self.channel,
                      device_log=[e.eui64 for e in self.core.log.entries.values()])
        for entry in removed:
            await self._make_leave(entry)
        for entry in self.core.log.entries.values():       # CBKE link keys survive in the NCP's key table
            if entry.join_state == "joined" and await role.link_key_for(entry.eui64) is not None:
                self._secure.add(entry.eui64)
        for entry in self.core.log.entries.values():
            if entry.join_state != "joined":
                await self._admit(entry)

    def _ncp_lost(self, lost) -> None:
        """The CH's NCP reset by itself or its link dropped: what it was doing is gone (inter-PAN sessions,
        CBKE in flight, tunnels); the host reconnects, resumes the HAN from the NCP's NV and reopens
        inter-PAN reception, as zigpy's application reconnects after ``connection_lost``."""
        for task in list(self._tasks):
            task.cancel()
        for src in list(self.core.sessions):
            self.core.end_session(src)
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.ensure_future(self._recover(lost))

    async def _recover(self, lost) -> None:
        old = self.ezsp
        self.ezsp = self.role = None
        with contextlib.suppress(Exception):
            await (self._disconnect(old) if self._disconnect is not None else old.disconnect())
        await self.clock.sleep(pairing.NCP_RECOVERY_DELAY_S)
        for attempt in range(1, pairing.NCP_RECOVERY_ATTEMPTS + 1):
            try:
                await self._bring_up(power_on=False)
                return
            except Exception as exc:  # noqa: BLE001 - reported, then retried or given up with the reason
                self.events.emit("CH", "ch.ncp_recovery_failed", type(exc).__name__, attempt=attempt, detail=str(exc))
                if self.ezsp is not None:
                    with contextlib.suppress(Exception):
                        await (self._disconnect(self.ezsp) if self._disconnect is not None else self.ezsp.disconnect())
                    self.ezsp = self.role = None
                await self.clock.sleep(pairing.NCP_RECOVERY_RETRY_S)
        self.events.emit("CH", "ch.ncp_lost_for_good", lost.reason,
                         detail=f"{pairing.NCP_RECOVERY_ATTEMPTS} reconnections failed")

    async def _form(self) -> None:
        pan_id = struct.unpack("<H", os.urandom(2))[0] % 0xFFF0 + 1
        await self.role.form_network(extended_pan_id=self.gpf_id, pan_id=pan_id, channel=self.channel,
                                     network_key=os.urandom(16),
                                     security_bitmask=TC_SECURITY)
        self.role.emit("ch.han_formed",
                       extended_pan_id=self.gpf_id, pan_id=f"{pan_id:04X}")

    external = False        # the rig's own CH program (rig.roles.ch.external.ExternalCh is a CH under test)
    clock_jumps = True      # it runs on the premises' clock: jumping that clock moves the CH's time too

    def log_snapshot(self) -> list[dict]:
        """The CHF device log as data (what the scenario's checks and report compare)."""
        return self.core.log.snapshot()

    async def add_from_wan(self, ccs01: bytes) -> Refusal | None:
        """A CCS01 the DCC sends over the SM WAN (commissioning the meters before the scenario)."""
        out = self.core.handle_command(ccs01, via="wan")
        if isinstance(out, Refusal):            # ChCore has reported it (ch.refused)
            return out
        await self._admit(out.entry)
        return None

    async def power_off(self) -> None:
        """The host side of a power loss: its connection is gone (the scenario cuts the dongle's power)."""
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        if self.role is not None:
            with contextlib.suppress(Exception):   # after a power loss the link is already dead
                if self._disconnect is not None:
                    await self._disconnect(self.ezsp)
                else:
                    await self.role.disconnect()
        self.ezsp = self.role = None

    def _window_closed(self) -> None:
        """Policy gbcs, 60 min after power-on: stop inter-PAN reception once no session is in flight."""
        if self.role is None:
            return
        wait = self.core.reception_needed()
        if wait <= 0:
            self._spawn(self.role.close_interpan())
            self.events.emit("CH", "ch.interpan_reception_off")
        else:
            self.clock.call_later(min(wait, pairing.INTERPAN_SESSION_MAX_S) + 0.001, self._window_closed)

    def _removed(self, entry: DeviceLogEntry) -> None:
        for held in self.sleepy.drop(entry.eui64):     # SL: a device gone from the log loses what was held
            self._forget_held(held, "device_left_log")
        if self.role is not None:
            self._spawn(self._make_leave(entry))

    async def _make_leave(self, entry: DeviceLogEntry) -> None:
        """A device gone from the log: its keys leave the trust centre (it must not rejoin with the CBKE
        link key it holds; rig.pairing, SM HAN) and it is asked to leave the HAN."""
        if self.role is None:
            return
        self._secure.discard(entry.eui64)
        if await self.role.forget_link_key(entry.eui64):
            self.role.emit("ch.keys_erased", peer=entry.eui64)
        if entry.nwk is None:
            return
        payload = bytes([self.role.next_seq()]) + eui_bytes(entry.eui64, "little") + b"\x00"
        sent = await self.role.send_zdo(entry.nwk, ZDOCmd.Mgmt_Leave_req, payload)
        self.role.emit("ch.leave_requested", "ok" if sent else "send_failed",
                       peer=entry.eui64, nwk=f"{entry.nwk:04X}")

    async def _admit(self, entry: DeviceLogEntry) -> None:
        """Let a device in the log join with its install-code key."""
        await self.role.admit(entry.eui64, bytes.fromhex(entry.link_key), pairing.PERMIT_JOIN_S)
        self.role.emit("ch.join_permitted", peer=entry.eui64)

    # --- inter-PAN ----------------------------------------------------------------------------------
    def _on_interpan(self, *args) -> None:
        """One inter-PAN frame the NCP passed up: the allow-list first, then it belongs to a session."""
        contents = bytes(args[-1])
        frame = EzspRole.parse_interpan(contents, self._interpan_keys.get)
        if frame is not None and frame.secured and frame.src not in self._key_pending and self._key_agreed(frame.src):
            self._key_pending[frame.src] = []
        if frame is not None and frame.secured and frame.src in self._key_pending:
            # its CBKE has just succeeded and the CH is still fetching the agreed key from its NCP (and
            # erasing it there): hold the frame until then (bounded), rather than refuse the HHT's first
            # secured segment — every secured frame of that sender, also one that already decrypts once
            # the key is known, so that the held ones are not overtaken (segments stay in order; at real
            # pace the second segment arrives while the key is being erased)
            held = self._key_pending[frame.src]
            if len(held) < pairing.INTERPAN_HELD_FRAMES:
                held.append(contents)
                return
        if frame is None:
            self._drop("interpan_unparseable", None, via="interpan", detail="not an inter-PAN frame with a long source")
            return
        if self.core.screen_interpan(frame) is not None:
            return                                  # ChCore has reported the refusal (ch.refused)
        initiate = frame.cluster == pairing.KE_CLUSTER and frame.zcl.command_id == KeCommand.INITIATE_KEY_ESTABLISHMENT
        if initiate and self._initiate_dropped(frame):
            return
        if frame.cluster == pairing.KE_CLUSTER and frame.zcl.command_id == KeCommand.TERMINATE_KEY_ESTABLISHMENT:
            current = self._interpan_ke.get(frame.src)
            if current is None or not current[0].active:      # nothing to end: no session opens for it
                self._drop("ke_not_in_progress", frame.src, via="interpan",
                           detail="Terminate Key Establishment with no exchange in progress")
                return
        if self.core.begin_session(frame.src) is not None:
            return                                  # ChCore has reported the refusal (ch.refused)
        task = self._spawn(self._interpan(frame))
        if initiate:                                # answered now, never queued (rig.pairing)
            self._ke_answering.add(task)
            task.add_done_callback(self._ke_answering.discard)

    def _key_agreed(self, src: str) -> bool:
        """Whether ``src``'s key establishment with the CH has passed key confirmation (MACU checked) and
        is sending or storing: the HHT takes the key as agreed once it has the CH's Confirm Key Data
        Response and sends its first secured segment at once, which can reach the CH before the CH's own
        send of that response has completed (a lost MAC ack: the CH's radio retries a frame the HHT
        already has).  Such a frame is held like one that comes while the key is fetched."""
        current = self._interpan_ke.get(src)
        return current is not None and current[0].state in _KEY_AGREED_STATES

    def _initiate_dropped(self, frame: InterPanFrame) -> bool:
        """A KE Initiate the CH does not answer (``rig.pairing``): one for a sender whose key establishment is
        in progress, one whose certificate names another device than its source, one beyond what the CH
        answers at once.  Each is a ``ch.dropped`` event; nothing of the sender's state changes."""
        src = frame.src
        current = self._interpan_ke.get(src)
        if current is not None and current[0].active:
            self._drop("ke_in_progress", src, via="interpan", state=current[0].state)
            return True
        subject = _certificate_subject(frame.zcl.payload)
        if subject is not None and subject != eui_bytes(src, "big"):
            self._drop("ke_certificate_not_sender", src, via="interpan",
                       detail=f"certificate subject {subject.hex().upper()}")
            return True
        if len(self._ke_answering) >= pairing.INTERPAN_KE_ANSWERING:
            self._drop("ke_rate_limited", src, via="interpan",
                       detail=f"{len(self._ke_answering)} Initiates being answered (INTERPAN_KE_ANSWERING)")
            return True
        now = self.clock.now()
        self._ke_tokens = min(float(pairing.INTERPAN_KE_PER_S),
                              self._ke_tokens + (now - self._ke_tokens_at) * pairing.INTERPAN_KE_PER_S)
        self._ke_tokens_at = now
        if self._ke_tokens < 1:
            self._drop("ke_rate_limited", src, via="interpan",
                       detail=f"more than {pairing.INTERPAN_KE_PER_S} Initiates a second (INTERPAN_KE_PER_S)")
            return True
        self._ke_tokens -= 1
        return False

    def _refuse(self, refusal: Refusal, peer: str | None) -> None:
        """A refusal decided here rather than in ``ChCore`` (relay, GPF): reported the same way."""
        self.refusals.append(refusal)
        self.events.emit("CH", "ch.refused", refusal.reason, peer=peer, detail=refusal.detail)

    async def _interpan(self, frame: InterPanFrame) -> None:
        """A frame ``ChCore.screen_interpan`` let through: KE (plaintext) or TransferData (APS-secured)."""
        role = self.role
        src = frame.src
        if src not in self.core.sessions:           # evicted (ch.session_evicted) before this frame ran
            self._drop("session_evicted", src, via="interpan", cluster=f"{frame.cluster:04X}")
            return
        if frame.cluster == pairing.KE_CLUSTER:
            current = self._interpan_ke.get(src)
            if current is None:
                async def send(c, p, src=src, pan=frame.src_pan):
                    return await role.send_interpan(src, pan, pairing.KE_CLUSTER, role.zcl(c, p, direction=1))
                ke = role.ke_responder(send)
                self._interpan_rx.discard(src)          # a new pairing: nothing of an old message counts
                ke.expected_partner_eui64 = eui_bytes(src, "big")
                self._interpan_ke[src] = (ke, self._spawn(self._await_interpan_ke(src, ke)))
            else:
                ke = current[0]
            if frame.zcl.command_id == KeCommand.EPHEMERAL_DATA and ke.waiting_for_ephemeral:
                self.core.session_progressed(src)     # it heard the CH's answer: not a spoofed source
            await ke.handle(frame.zcl.command_id, frame.zcl.payload)
            return
        if len(frame.zcl.payload) <= 2:
            self._drop("empty_transfer", src, via="interpan", detail="TransferData without GBCS bytes")
            return
        whole = self._reassemble(self._interpan_rx, "interpan", src, frame.zcl.payload[2:])
        if whole is None:
            return
        self.events.emit("CH", "ch.gbcs_received", peer=src, via="interpan", **_describe(whole))
        out = self.core.handle_command(whole, via="interpan", sender=src)
        if isinstance(out, Refusal):              # reported by ChCore; it never touches the log or counters
            self._end_session(src)
            return
        key = self._interpan_keys.get(src)
        if key is None:                          # its session was evicted meanwhile
            self._drop("session_evicted", src, via="interpan", detail="no link key left to answer with")
            return
        if out.entry is not None:
            # the trust centre holds the device's key and joining is open before the answer goes out:
            # an HHT joins as soon as it has its response, and must not race the CH's own EZSP calls
            await self._admit(out.entry)
        for piece in segments(out.response):
            zcl = role.zcl(pairing.CMD_TRANSFER_DATA_S2C, struct.pack("<H", pairing.INTERPAN_TUNNEL_ID) + piece,
                           direction=1)
            await role.send_interpan(src, frame.src_pan, pairing.TUNNEL_CLUSTER, zcl, link_key=key)
        self.events.emit("CH", "ch.gbcs_answered", peer=src, via="interpan", **_describe(out.response))
        self._end_session(src)

    def _end_session(self, src: str) -> None:
        self.core.end_session(src)
        self._forget_interpan_peer(src)
        if not self.core.interpan_open and self.core.reception_needed() <= 0:
            self._window_closed()

    def _forget_interpan_peer(self, src: str) -> None:
        """Drop what the CH holds for an inter-PAN sender whose session ended or was evicted."""
        ke = self._interpan_ke.pop(src, None)
        if ke is not None:
            ke[0].abandon()                         # no timer left to fire for a forgotten sender
            ke[1].cancel()
        self._interpan_rx.discard(src)
        self._interpan_keys.pop(src, None)
        if src in self._key_pending and self._interpan_ke.get(src) is None:
            asyncio.get_running_loop().call_soon(self._release_held, src)

    async def _await_interpan_ke(self, src: str, ke) -> None:
        result = await ke.next_result()
        if self._interpan_ke.get(src, (None,))[0] is not ke:
            self._release_held(src)                 # its session ended meanwhile
            return
        del self._interpan_ke[src]
        if result.success:
            self._key_pending.setdefault(src, [])       # frames held since key confirmation stay held
            try:
                key = await self.role.link_key_for(src)
                if key is not None and src in self.core.sessions:
                    self._interpan_keys[src] = key
                    self.core.session_established(src)
                # the inter-PAN key is the session's alone and the host does its APS security: it leaves the
                # NCP's key table at once, so no sender keeps a key the trust centre would admit it with
                if await self.role.forget_link_key(src):
                    self._secure.discard(src)
            finally:
                held = self._key_pending.pop(src, [])
            for contents in held:
                self._on_interpan(contents)
        self.role.emit("ch.cbke_interpan", "ok" if result.success else result.reason.name.lower(), peer=src)
        if not result.success:
            held = self._key_pending.pop(src, [])
            self._end_session(src)
            for contents in held:                   # no key after all: each is refused, named
                self._on_interpan(contents)

    def _release_held(self, src: str) -> None:
        """Frames held for a sender whose key will not come: each goes through the checks again (and is
        refused there with its reason)."""
        for contents in self._key_pending.pop(src, []):
            self._on_interpan(contents)

    # --- SM HAN -------------------------------------------------------------------------------------
    def _on_tc_join(self, nwk, eui64, status, decision, *_rest) -> None:
        eui = eui_hex(eui64)
        if decision == t.EmberJoinDecision.DENY_JOIN:
            self.events.emit("CH", "ch.join_denied", "not_in_device_log" if eui not in self.core.log
                             else "no_install_code_key", peer=eui)
            return
        if status == t.EmberDeviceUpdate.DEVICE_LEFT:
            self.events.emit("CH", "ch.device_left", peer=eui)
            return
        if eui not in self.core.log:
            # the trust centre let in a device the CHF device log does not hold (it had a key): refuse it,
            # erase its keys and send it off, whatever key it used
            self._refuse(Refusal("not_in_device_log", "joined the HAN but is not in the CHF device log"), eui)
            self._spawn(self._make_leave(DeviceLogEntry(eui64=eui, device_type=0, link_key="", nwk=int(nwk))))
            return
        if self.core.mark_joined(eui, int(nwk)) is not None:
            self.events.emit("CH", "ch.device_joined", peer=eui, nwk=f"{int(nwk):04X}")

    def _on_incoming(self, message_type, aps, nwk, eui64, *rest) -> None:
        eui = eui_hex(eui64)
        if aps.profileId == PROFILE_ZDO:
            return          # ZDO is served by the NCP's stack; the host's copy is for information only
        if aps.profileId != pairing.SE_PROFILE:
            self._drop("not_se_profile", eui, via="han", profile=f"{int(aps.profileId):04X}",
                       cluster=f"{int(aps.clusterId):04X}")
            return
        try:
            zcl = ZclHeader.decode(bytes(rest[-1]))
        except Exception as exc:  # noqa: BLE001 - malformed ZCL is dropped
            self._drop("malformed_zcl", eui, via="han", cluster=f"{int(aps.clusterId):04X}", detail=str(exc))
            return
        nwk = int(nwk)
        if aps.clusterId == pairing.KE_CLUSTER:
            self._spawn(self._han_ke_message(nwk, eui, zcl))
        elif aps.clusterId == pairing.TUNNEL_CLUSTER:
            self._spawn(self._tunnel_message(nwk, eui, zcl))
        elif aps.clusterId == pairing.METERING_CLUSTER and zcl.frame_type == 0 and zcl.direction == 0 \
                and zcl.command_id == GeneralCommand.Read_Attributes:
            self._spawn(self._gpf_read(nwk, eui, zcl))
        else:
            self._drop("cluster_not_served", eui, via="han", cluster=f"{int(aps.clusterId):04X}")

    async def _han_ke_message(self, nwk: int, eui: str, zcl: ZclHeader) -> None:
        role = self.role
        ke = self._han_ke.get(nwk)
        if zcl.command_id == KeCommand.TERMINATE_KEY_ESTABLISHMENT and (ke is None or not ke.active):
            self._drop("ke_not_in_progress", eui, via="han", detail="Terminate Key Establishment with no exchange "
                       "in progress")
            return
        if zcl.command_id == KeCommand.INITIATE_KEY_ESTABLISHMENT and ke is not None and ke.active:
            self._drop("ke_in_progress", eui, via="han", state=ke.state)   # the exchange goes on undisturbed
            return
        if ke is None:
            async def send(c, p, nwk=nwk):
                return await role.send_zcl(nwk, pairing.KE_CLUSTER, role.zcl(c, p, direction=1))
            ke = self._han_ke[nwk] = role.ke_responder(send)
            ke.expected_partner_eui64 = eui_bytes(eui, "big")

            async def finished():
                result = await ke.next_result()
                self._han_ke.pop(nwk, None)
                if result.success:
                    self._secure.add(eui)
                role.emit("ch.cbke_han", "ok" if result.success else result.reason.name.lower(), peer=eui)
            self._spawn(finished())
        await ke.handle(zcl.command_id, zcl.payload)

    async def _send_han(self, nwk: int, eui: str, zcl: bytes) -> bool:
        """Tunnel traffic to a device: APS-encrypted with its CBKE link key when it has one (else NWK-secured)."""
        if eui not in self._secure:
            return await self.role.send_zcl(nwk, pairing.TUNNEL_CLUSTER, zcl)
        if await self.role.send_zcl(nwk, pairing.TUNNEL_CLUSTER, zcl, encrypt=True):
            return True
        self.events.emit("CH", "ch.send_failed", "aps_encrypted_unicast_not_delivered", peer=eui)
        return False

    async def _send_tunnel(self, nwk: int, eui: str, command: int, tunnel_id: int, data: bytes, direction: int) -> bool:
        ok = True
        for piece in han_transfers(data):
            zcl = self.role.zcl(command, struct.pack("<H", tunnel_id) + piece, direction=direction)
            ok = await self._send_han(nwk, eui, zcl) and ok
        return ok

    async def _tunnel_message(self, nwk: int, eui: str, zcl: ZclHeader) -> None:
        role = self.role
        if zcl.direction == 0 and zcl.command_id == pairing.CMD_REQUEST_TUNNEL:
            if self.core.may_tunnel(eui) is not None:       # reported by ChCore (ch.refused)
                return
            tunnel_id, self._next_tunnel = self._next_tunnel, self._next_tunnel + 1
            payload = struct.pack("<HBH", tunnel_id, 0, pairing.TUNNEL_MAX_TRANSFER)
            await self._send_han(nwk, eui, role.zcl(pairing.CMD_REQUEST_TUNNEL_RESPONSE, payload, direction=1))
            role.emit("ch.tunnel_opened", peer=eui, tunnel_id=tunnel_id)
        elif zcl.direction == 1 and zcl.command_id == pairing.CMD_REQUEST_TUNNEL_RESPONSE:
            fut = self._tunnels_out.get(nwk)
            if fut is None or fut.done() or len(zcl.payload) < 3:
                self._drop("unexpected_tunnel_response", eui, via="tunnel")
                return
            tunnel_id, status = struct.unpack_from("<HB", zcl.payload)
            fut.set_result(tunnel_id if status == 0 else None)
        elif zcl.command_id in (pairing.CMD_TRANSFER_DATA_C2S, pairing.CMD_TRANSFER_DATA_S2C) and len(zcl.payload) > 2:
            if self.core.may_tunnel(eui) is not None:       # reported by ChCore (ch.refused)
                return
            (tunnel_id,) = struct.unpack_from("<H", zcl.payload)
            if zcl.direction == 0 and self._is_sleepy(eui):
                await self._sleepy_data(nwk, eui, tunnel_id, zcl.payload[2:])
                return
            whole = self._reassemble(self._han_rx, "tunnel", eui, zcl.payload[2:])
            if whole is None:
                return
            if zcl.direction == 0:
                await self._gbcs_from_device(nwk, eui, tunnel_id, whole)
            else:
                await self._gbcs_response_from_device(eui, whole)
        else:
            self._drop("tunnel_command_not_served", eui, via="tunnel", command=f"{zcl.command_id:02X}",
                       direction=zcl.direction, bytes=len(zcl.payload))

    async def _gbcs_from_device(self, nwk: int, eui: str, tunnel_id: int, data: bytes) -> None:
        info = _describe(data)
        self.events.emit("CH", "ch.gbcs_received", peer=eui, via="tunnel", **info)
        recipient = info.get("recipient")
        if recipient == self.chf_id:
            out = self.core.handle_command(data, via="tunnel", sender=eui)
            if isinstance(out, Refusal):                    # reported by ChCore (ch.refused)
                return
            if out.entry is not None:
                await self._admit(out.entry)
            response = out.response
        elif recipient == self.gpf_id:
            response, refusal = self.gpf.handle_command(data)
            if refusal is not None:
                self._refuse(refusal, eui)
                return
        else:
            target = self.core.log.get(recipient or "")
            if target is None or target.nwk is None or target.join_state != "joined":
                self._refuse(Refusal("recipient_not_on_han", f"{recipient} is not a joined device in the log"), eui)
                return
            if target.device_type in pairing.SLEEPY_DEVICE_TYPES:
                self._hold(target, data, info, (nwk, eui, tunnel_id))
                return
            while len(self._pending) >= pairing.RELAY_MAX_PENDING:     # oldest first: dicts keep order
                (device, counter), (_n, waiting, _t) = next(iter(self._pending.items()))
                del self._pending[(device, counter)]
                self._drop("relay_evicted", waiting, via="tunnel", recipient=device, counter=counter)
            self._pending[(recipient, info["counter"])] = (nwk, eui, tunnel_id)
            if not await self._relay(target, data):
                self._refuse(Refusal("relay_failed", f"could not reach {recipient}"), eui)
            return
        await self._send_tunnel(nwk, eui, pairing.CMD_TRANSFER_DATA_S2C, tunnel_id, response, 1)
        self.events.emit("CH", "ch.gbcs_answered", peer=eui, via="tunnel", **_describe(response))

    async def _relay(self, target: DeviceLogEntry, data: bytes) -> bool:
        role = self.role
        tunnel = self._out_tunnel_ids.get(target.eui64)
        if tunnel is None:
            fut = self._tunnels_out[target.nwk] = asyncio.get_running_loop().create_future()
            payload = struct.pack("<BHBH", pairing.GB_HRGP, pairing.TUNNEL_MANUFACTURER, 0, pairing.TUNNEL_MAX_TRANSFER)
            await self._send_han(target.nwk, target.eui64, role.zcl(pairing.CMD_REQUEST_TUNNEL, payload, direction=0))
            try:
                tunnel = await self.clock.wait_for(fut, pairing.RESPONSE_TIMEOUT_S, f"RequestTunnelResponse from {target.eui64}")
            except TimeoutError:
                tunnel = None
            if tunnel is None:
                return False
            self._out_tunnel_ids[target.eui64] = tunnel
        self.events.emit("CH", "ch.gbcs_relayed", peer=target.eui64, **_describe(data))
        return await self._send_tunnel(target.nwk, target.eui64, pairing.CMD_TRANSFER_DATA_C2S, tunnel, data, 0)

    async def _gbcs_response_from_device(self, eui: str, data: bytes) -> None:
        info = _describe(data)
        origin = self._pending.pop((info.get("originator"), info.get("counter")), None)
        if origin is None:
            self._drop("unsolicited_response", eui, via="tunnel", use_case=info.get("use_case"))
            return
        nwk, origin_eui, tunnel_id = origin
        self.events.emit("CH", "ch.gbcs_relayed", peer=origin_eui, **info)
        await self._send_tunnel(nwk, origin_eui, pairing.CMD_TRANSFER_DATA_S2C, tunnel_id, data, 1)


    # --- the sleepy GSME behind the GPF (rig.pairing SLEEPY_PROTOCOL, rig.roles.ch.gpf) -------------------
    def _is_sleepy(self, eui: str) -> bool:
        entry = self.core.log.get(eui)
        return entry is not None and entry.device_type in pairing.SLEEPY_DEVICE_TYPES

    def _hold(self, target: DeviceLogEntry, data: bytes, info: dict, origin: tuple[int, str, int]) -> None:
        """A command for a sleepy device waits at the CHF until the device GETs it; its response (a PUT)
        goes back to ``origin``'s tunnel."""
        refusal = self.sleepy.hold(target.eui64, data)
        if refusal is not None:
            self._refuse(refusal, origin[1])
            return
        while len(self._pending) >= pairing.RELAY_MAX_PENDING:     # oldest first, as for a relay
            (device, counter), (_n, waiting, _t) = next(iter(self._pending.items()))
            del self._pending[(device, counter)]
            self._drop("relay_evicted", waiting, via="tunnel", recipient=device, counter=counter)
        self._pending[(target.eui64, info["counter"])] = origin
        self.events.emit("CH", "ch.gbcs_held", peer=target.eui64, held=self.sleepy.pending(target.eui64),
                         **{k: v for k, v in info.items() if k != "hex"})

    def _forget_held(self, held: HeldMessage, why: str) -> None:
        info = _describe(held.data)
        origin = self._pending.pop((held.eui64, info.get("counter")), None)
        self._drop(why, held.eui64, via="tunnel", use_case=info.get("use_case"),
                   waiting=origin[1] if origin else None)

    def _sleepy_expired(self, held: HeldMessage) -> None:
        self._forget_held(held, "sleepy_message_expired")

    async def _sleepy_data(self, nwk: int, eui: str, tunnel_id: int, data: bytes) -> None:
        """Tunnel data from a sleepy device: GET (answered with a held message), PUT (its GBCS response or
        a mirror update); anything else is dropped, named."""
        split = split_sleepy(data)
        if split is None or pairing.SLEEPY_PROTOCOL[split[0]].sender != "gsme":
            self._drop("sleepy_header_unknown", eui, via="tunnel", header=f"{data[:1].hex() or 'none'}")
            return
        header, body = split
        if header == pairing.TUNNEL_GET:
            held, remaining = self.sleepy.take(eui)
            message = held.data if held is not None else b""
            sent = await self._send_tunnel(nwk, eui, pairing.CMD_TRANSFER_DATA_S2C, tunnel_id,
                                           get_response(remaining, message), 1)
            if held is not None:
                self.events.emit("CH", "ch.gbcs_released", "ok" if sent else "send_failed", peer=eui,
                                 remaining=remaining, held_s=round(self.clock.now() - held.held_at, 3),
                                 **_describe(message))
            return
        if is_gbcs(body):
            whole = self._reassemble(self._han_rx, "tunnel", eui, body)
            if whole is not None:
                await self._gbcs_response_from_device(eui, whole)
            return
        refusal = self.mirror.update(eui, body, self.clock.now())
        if refusal is not None:
            self._drop(refusal.reason, eui, via="tunnel", detail=refusal.detail)
            return
        values = {f"{attr:04X}": value for attr, (_type, value) in self.mirror.attributes.items()}
        if values != self._mirror_reported:        # an event only when the data changed
            self._mirror_reported = values
            self.events.emit("GPF", "gpf.mirror_updated", peer=eui, attributes=values)

    async def _gpf_read(self, nwk: int, eui: str, zcl: ZclHeader) -> None:
        """A Metering read to the CH's endpoint: the GPF answers its CS03-joined partners from the mirror."""
        authorized = eui in self.gpf.partners
        answer = self.mirror.read_answer(zcl, authorized=authorized)
        if not authorized:
            self.events.emit("GPF", "gpf.read_refused", "not_joined_partner", peer=eui)
        else:
            values = {f"{a:04X}": self.mirror.attributes[a][1] for a in self.mirror.attributes}
            self.events.emit("GPF", "gpf.read_answered", "ok" if values else "mirror_empty", peer=eui,
                             values=values, source=self.mirror.source)
        await self.role.send_zcl(nwk, pairing.METERING_CLUSTER, answer.encode(), encrypt=eui in self._secure)
