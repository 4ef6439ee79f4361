"""CHF behaviour with no radio: the device log, the inter-PAN policy, HHT expiry, GBCS commands to the CHF.

``ChCore`` is driven by the radio shim (``rig.roles.ch.shim``) and unit-tested on a virtual clock.

* ``power_on()``: removes every HHT entry (an HHT's residency ends at the next CH power-on), opens the
  inter-PAN window and, under the ``gbcs`` policy, arms its close ``INTERPAN_WINDOW_S`` later
  (``secmp0037``: never closes).  ``on_window_closed`` tells the shim to stop inter-PAN reception.
* Inter-PAN sessions [I, ``rig.pairing``]: an HHT's session opens with its first Key Establishment
  frame (``begin_session``) and ends after its CCS01 (``end_session``).  A session that began inside
  the window may finish, for at most ``INTERPAN_SESSION_MAX_S``; any other inter-PAN frame after the
  window is refused (``interpan_window_closed``).  ``reception_needed`` tells the shim when it may
  close the MAC filter list.  At most ``INTERPAN_MAX_SESSIONS`` sessions exist: a new sender beyond the
  cap evicts by least progress, then age: the oldest expired session, else the oldest that has not got
  past its KE Initiate (``session_progressed``); a session past Initiate and younger than its bound is
  never evicted, and with every slot holding one the new sender is refused (``interpan_sessions_full``)
  (``ch.session_evicted``; ``on_session_evicted`` tells the shim to drop that sender's state).
* ``screen_interpan(frame)``: the inter-PAN allow-list (profile, APS unicast, cluster, security, ZCL
  frame type, direction, command; ``rig.pairing.INTERPAN_ALLOW_LIST``), before a frame opens a session.
* Every refusal (``screen_interpan``, ``begin_session``, ``handle_command``, ``may_tunnel``) is an event
  ``ch.refused`` whose result is the reason, and goes to ``on_refused``.
* ``handle_command(data, via=..., sender=...)``: a GBCS command addressed to the CHF, arriving over
  inter-PAN (an HHT's own CCS01), the HAN tunnel or the WAN.  Checks in order: inter-PAN window (for
  ``via="interpan"``), ``rig.gbcs.validate`` (structure, recipient, MAC, counter, authority), what the
  channel may carry (``rig.pairing``: over inter-PAN only a CCS01 registering the sender itself as an
  HHT, which becomes an HHT entry expiring after ``HHT_RESIDENCY_S``; through the tunnel no CCS01 for
  the sender or for an HHT entry), then the use case: CCS01 adds the device to the log (refused
  ``ccs01_bad_install_code`` when its install code gives no link key), CCS02 removes it.  The answer is ``Handled`` with
  the GBCS response bytes or a ``Refusal`` whose ``reason`` names the cause; a refusal never changes
  the log and never moves the originator's counter.
* Acceptance is one step at the end: the originator counter moves (disk, then memory), then the log
  changes (disk, then memory); if the log cannot be written the counter is put back, and the command is
  refused ``state_not_saved`` (memory and disk agree whatever failed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rig import pairing
from rig.clock import Clock, Timer
from rig.events import EventLog
from rig.gbcs import Builder, CounterStore, Device, validate
from rig.zigbee.install_code import InstallCodeError, link_key_from_code

from ..refusal import Refusal
from .devicelog import DeviceLog, DeviceLogEntry


@dataclass(frozen=True)
class Handled:
    use_case: str
    response: bytes
    entry: DeviceLogEntry | None = None
    ok = True


@dataclass
class ChCore:
    clock: Clock
    policy: str
    log: DeviceLog
    chf: Device
    counters: CounterStore
    builder: Builder
    events: EventLog | None = None
    on_window_closed: Callable[[], None] | None = None
    on_removed: Callable[[DeviceLogEntry], None] | None = None
    on_refused: Callable[[Refusal], None] | None = None
    on_session_evicted: Callable[[str], None] | None = None
    interpan_open: bool = False
    powered_at: float | None = None
    closed_at: float | None = None
    sessions: dict[str, float] = field(default_factory=dict)      # sender -> start, oldest first
    established: set[str] = field(default_factory=set)              # sessions past CBKE
    progressed: set[str] = field(default_factory=set)               # sessions past their KE Initiate
    _timers: list[Timer] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy not in pairing.POLICIES:
            raise ValueError(f"unknown inter-PAN policy {self.policy!r} (expected one of {', '.join(pairing.POLICIES)})")

    def _emit(self, name: str, result: str = "ok", **detail) -> None:
        if self.events is not None:
            self.events.emit("CH", name, result, **detail)

    def _refuse(self, refusal: Refusal, peer: str | None, **detail) -> Refusal:
        """Every refusal is an event (``ch.refused``, result = the reason) and goes to ``on_refused``."""
        self._emit("ch.refused", refusal.reason, peer=peer, detail=refusal.detail, **detail)
        if self.on_refused is not None:
            self.on_refused(refusal)
        return refusal

    # --- power -----------------------------------------------------------------------------------
    def power_on(self) -> list[DeviceLogEntry]:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.powered_at = self.clock.now()
        self.closed_at = None
        self.sessions.clear()
        self.established.clear()
        self.progressed.clear()
        removed = [e for e in list(self.log.entries.values()) if e.is_hht]
        for entry in removed:
            self._remove(entry, "ch_power_on")
        self.interpan_open = True
        if self.policy == "gbcs":
            self._timers.append(self.clock.call_later(pairing.INTERPAN_WINDOW_S, self._close_window))
        self._emit("ch.interpan_open", policy=self.policy,
                   closes_in_s=pairing.INTERPAN_WINDOW_S if self.policy == "gbcs" else None)
        return removed

    def _close_window(self) -> None:
        self.interpan_open = False
        self.closed_at = self.clock.now()
        self._emit("ch.interpan_closed", policy=self.policy)
        if self.on_window_closed is not None:
            self.on_window_closed()

    def _expire(self, eui64: str, expiry: float) -> None:
        entry = self.log.get(eui64)
        if entry is not None and entry.hht_expiry == expiry:
            self._remove(entry, "hht_residency_over")

    def _remove(self, entry: DeviceLogEntry, why: str) -> None:
        self.log.remove(entry.eui64)
        self._removed(entry, why)

    def _removed(self, entry: DeviceLogEntry, why: str) -> None:
        self._emit("ch.device_log_removed", why, device=entry.eui64)
        if self.on_removed is not None:
            self.on_removed(entry)

    # --- GBCS commands to the CHF ----------------------------------------------------------------
    def _in_grace(self, sender: str | None) -> bool:
        started = self.sessions.get((sender or "").upper())
        return (started is not None and self.closed_at is not None and started <= self.closed_at
                and self.clock.now() - started <= pairing.INTERPAN_SESSION_MAX_S)

    def check_interpan(self, sender: str | None = None) -> Refusal | None:
        if not self.interpan_open and not self._in_grace(sender):
            return Refusal("interpan_window_closed",
                           f"inter-PAN pairing closed {pairing.INTERPAN_WINDOW_S} s after CH power-on (policy gbcs)")
        return None

    def screen_interpan(self, frame) -> Refusal | None:
        """The inter-PAN allow-list (``rig.pairing.INTERPAN_ALLOW_LIST``) for one received frame
        (``rig.roles.ezsp_role.InterPanFrame``: profile, delivery mode, cluster, security, ZCL header)."""
        refusal = self._interpan_refusal(frame)
        return None if refusal is None else self._refuse(refusal, frame.src, via="interpan")

    @staticmethod
    def _interpan_refusal(frame) -> Refusal | None:
        if frame.profile != pairing.INTERPAN_PROFILE:
            return Refusal("interpan_wrong_profile", f"profile 0x{frame.profile:04X}, not SE 0x{pairing.SE_PROFILE:04X}")
        if frame.delivery_mode != pairing.INTERPAN_DELIVERY_MODE:
            return Refusal("interpan_not_unicast", f"APS delivery mode {frame.delivery_mode}, not unicast")
        allowed = pairing.INTERPAN_ALLOW_LIST.get(frame.cluster)
        if allowed is None:
            return Refusal("not_allow_listed", f"inter-PAN cluster 0x{frame.cluster:04X}")
        if frame.zcl is None:
            if frame.secured:
                return Refusal("aps_security_failed", "no CBKE link key with the sender, or the MIC failed")
            return Refusal("interpan_malformed_zcl", f"no ZCL header in a plaintext frame for 0x{frame.cluster:04X}")
        if frame.secured != allowed.secured:
            return Refusal("not_allow_listed", f"{'APS-secured' if frame.secured else 'plaintext'} inter-PAN "
                           f"cluster 0x{frame.cluster:04X}")
        if frame.zcl.frame_type != pairing.INTERPAN_ZCL_FRAME_TYPE:
            return Refusal("interpan_not_cluster_specific", f"ZCL frame type {frame.zcl.frame_type} (profile-wide)")
        if frame.zcl.direction != pairing.INTERPAN_DIRECTION:
            return Refusal("interpan_wrong_direction", "server -> client: the CH takes only requests over inter-PAN")
        if frame.zcl.command_id not in allowed.commands:
            return Refusal("not_allow_listed", f"inter-PAN cluster 0x{frame.cluster:04X} command "
                           f"0x{frame.zcl.command_id:02X}")
        return None

    def begin_session(self, sender: str) -> Refusal | None:
        """An HHT's first inter-PAN frame: refused outside the window, else its session starts (once)."""
        refusal = self.check_interpan(sender)
        if refusal is not None:
            return self._refuse(refusal, sender, via="interpan")
        sender = sender.upper()
        if sender not in self.sessions:
            while len(self.sessions) >= pairing.INTERPAN_MAX_SESSIONS:
                if not self._evict_session():
                    return self._refuse(Refusal(
                        "interpan_sessions_full", f"{len(self.sessions)} inter-PAN sessions past their KE Initiate "
                        f"and younger than {pairing.INTERPAN_SESSION_MAX_S:g} s"), sender, via="interpan")
            self.sessions[sender] = self.clock.now()
        return None

    def _evict_session(self) -> bool:
        """Make room (``INTERPAN_MAX_SESSIONS``) by least progress, then age: the oldest expired session,
        else the oldest that has not got past its KE Initiate; False when every session is past Initiate
        and within its bound (none is evicted: spoofed senders cannot push out an HHT that is pairing)."""
        now = self.clock.now()
        expired = [s for s, started in self.sessions.items() if now - started > pairing.INTERPAN_SESSION_MAX_S]
        pending = [s for s in self.sessions if s not in self.progressed and s not in self.established]
        if not expired and not pending:
            return False
        victim, why = (expired[0], "session_expired") if expired else (pending[0], "session_not_established")
        self.end_session(victim)
        self._emit("ch.session_evicted", why, peer=victim, cap=pairing.INTERPAN_MAX_SESSIONS)
        if self.on_session_evicted is not None:
            self.on_session_evicted(victim)
        return True

    def session_progressed(self, sender: str) -> None:
        """The sender got past its KE Initiate (it sent Ephemeral Data: it heard the CH's answer)."""
        if sender.upper() in self.sessions:
            self.progressed.add(sender.upper())

    def session_established(self, sender: str) -> None:
        """The sender's session finished CBKE (the shim holds a link key with it)."""
        if sender.upper() in self.sessions:
            self.established.add(sender.upper())
            self.progressed.add(sender.upper())

    def end_session(self, sender: str) -> None:
        self.sessions.pop(sender.upper(), None)
        self.established.discard(sender.upper())
        self.progressed.discard(sender.upper())

    def reception_needed(self) -> float:
        """Seconds the MAC filter list must stay open after the window closed (0: close it now)."""
        if self.interpan_open:
            return float("inf")
        left = [started + pairing.INTERPAN_SESSION_MAX_S - self.clock.now()
                for sender, started in self.sessions.items() if self._in_grace(sender)]
        return max([0.0, *left])

    def handle_command(self, data: bytes, *, via: str, sender: str | None = None) -> Handled | Refusal:
        out = self._execute(data, via, sender)
        if isinstance(out, Refusal):
            return self._refuse(out, sender, via=via)
        return out

    def _execute(self, data: bytes, via: str, sender: str | None) -> Handled | Refusal:
        if via == "interpan":
            closed = self.check_interpan(sender)
            if closed is not None:
                return closed
        result = validate(data, self.chf, self.counters, commit=False)
        if not result.ok:
            return Refusal(f"gbcs_rejected:{result.reason.value}", result.detail)
        name = result.use_case.name
        refusal = self._channel_refusal(name, result.payload, via, sender)
        if refusal is not None:
            return refusal
        if name == "CCS01":
            p = result.payload
            eui = p["device_id"].upper()
            try:        # the DCC authenticated it, but a key the trust centre cannot derive is no entry
                link_key = link_key_from_code(bytes(p["install_code"]))
            except InstallCodeError as exc:
                return Refusal("ccs01_bad_install_code", f"the install code for {eui} gives no link key: {exc}")
            now = self.clock.now()
            hht = via == "interpan"
            expiry = None
            if hht:     # a renewed HHT entry keeps its expiry: an HHT never extends its own residency
                existing = self.log.get(eui)
                expiry = existing.hht_expiry if existing is not None else now + pairing.HHT_RESIDENCY_S
            entry = DeviceLogEntry(eui64=eui, device_type=int(p["device_type"]),
                                   link_key=link_key.hex().upper(),
                                   added_via=via, added_at=now, hht_expiry=expiry)
            renewed = hht and self.log.get(eui) is not None
            refusal = self._accept(result, lambda: self.log.put(entry))
            if refusal is not None:
                return refusal
            entry = self.log.get(eui)
            if hht and not renewed:
                self._timers.append(self.clock.call_later(pairing.HHT_RESIDENCY_S, self._expire, eui, entry.hht_expiry))
            self._emit("ch.device_log_added", device=eui, device_type=entry.device_type, via=via, hht=hht)
            return Handled(name, self.builder.response(result.message).to_bytes(), entry)
        if name == "CCS02":
            eui = result.payload["device_id"].upper()
            entry = self.log.get(eui)
            if entry is None:
                refusal = self._accept(result, lambda: None)
                if refusal is not None:
                    return refusal
                return Handled(name, self.builder.response(result.message, unregister_result=1).to_bytes())
            refusal = self._accept(result, lambda: self.log.remove(eui))
            if refusal is not None:
                return refusal
            self._removed(entry, "ccs02")
            return Handled(name, self.builder.response(result.message).to_bytes(), entry)
        return Refusal("gbcs_rejected:unsupported_message_code", f"the CHF does not execute {name}")

    def _channel_refusal(self, name: str, payload: dict, via: str, sender: str | None) -> Refusal | None:
        """What the channel a command came by may carry to the CHF (``rig.pairing``, [I])."""
        sender = (sender or "").upper()
        if via == "interpan":
            if name not in pairing.INTERPAN_CHF_COMMANDS:
                return Refusal("interpan_command_not_allowed",
                               f"over inter-PAN the CHF executes only an HHT's own CCS01, not {name}")
            eui = payload["device_id"].upper()
            if eui != sender:
                return Refusal("ccs01_not_for_sender",
                               f"an inter-PAN CCS01 may only register its sender {sender or None}, not {eui}")
            if int(payload["device_type"]) != pairing.HHT_DEVICE_TYPE:
                return Refusal("interpan_device_type_not_hht",
                               f"an inter-PAN CCS01 registers an HHT (device type {int(pairing.HHT_DEVICE_TYPE)}), "
                               f"not device type {int(payload['device_type'])}")
            existing = self.log.get(eui)
            if existing is not None and not existing.is_hht:
                return Refusal("interpan_entry_not_hht",
                               f"{eui} has a device-log entry added via {existing.added_via}; an inter-PAN "
                               "CCS01 does not replace it")
        elif via == "tunnel" and name == "CCS01":
            eui = payload["device_id"].upper()
            if eui == sender:
                return Refusal("ccs01_names_sender",
                               f"a CCS01 through the HAN tunnel may not register its sender {eui}")
            existing = self.log.get(eui)
            if existing is not None and existing.is_hht:
                return Refusal("hht_entry_not_extendable",
                               f"{eui} is an HHT entry: only its own inter-PAN CCS01 makes it, and it expires")
        return None

    def _accept(self, result, change: Callable[[], object]) -> Refusal | None:
        """Accept a validated command: its counter moves, then ``change`` writes the log; either write
        failing leaves the counter and the log as they were (``state_not_saved``)."""
        m = result.message
        previous = self.counters.last(m.originator)
        try:
            self.counters.accept(m.originator, m.counter)
        except OSError as exc:
            return Refusal("state_not_saved", f"GBCS counters not written: {exc}")
        try:
            change()
        except OSError as exc:
            with contextlib.suppress(OSError):     # if this fails too the counter stays moved: fail-safe
                self.counters.restore(m.originator, previous)
            return Refusal("state_not_saved", f"device log not written: {exc}")
        return None

    def mark_joined(self, eui64: str, nwk: int) -> DeviceLogEntry | None:
        entry = self.log.get(eui64)
        if entry is None:
            return None
        return self.log.put(replace(entry, join_state="joined", nwk=nwk))

    def may_tunnel(self, eui64: str) -> Refusal | None:
        entry = self.log.get(eui64)
        if entry is None:
            return self._refuse(Refusal("not_in_device_log", f"{eui64} is not in the CHF device log"), eui64,
                                via="tunnel")
        if entry.join_state != "joined":
            return self._refuse(Refusal("not_joined", f"{eui64} has not joined the SM HAN"), eui64, via="tunnel")
        return None
