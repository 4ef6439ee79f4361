"""The virtual 802.15.4 medium: radios, channels, airtime, MAC acks, faults, capture.

Model (2.4 GHz O-QPSK PHY, 802.15.4-2006 MAC timing):

* A transmission of an N-byte PSDU occupies its channel for ``(N + 6) * 32 us`` (preamble, SFD and
  PHR included); ``transmit`` returns when it has left the antenna -- and, for an ack-requesting
  unicast, after the ack arrived or ``macAckWaitDuration`` (864 us) passed.
* At the end of a transmission every other attached radio on the same channel that is in range of
  the sender "hears" it, unless the seeded loss fault drops it for that receiver.  The corruption
  fault flips a bit of that receiver's copy; the receiving radio then fails the FCS and drops it.
* The receiving radio's address filter (802.15.4 frame filtering: PAN id, short address, EUI-64,
  broadcast; replaceable with ``address_filter``) decides whether the frame reaches ``on_receive``.
  If it accepted an ack-requesting unicast, the radio answers with a hardware ack 192 us
  (aTurnaroundTime) later; the ack is a real frame on the air (capture, loss, range apply).  A
  promiscuous radio receives everything and acks nothing.
* ``delay`` delays the hand-over to ``on_receive`` (a slow receiver), not the hardware ack.
* ``reorder`` holds a receiver's copy back (seeded, per receiver and frame) and hands it over right
  after the next frame that receiver takes, or ``reorder_hold`` seconds later if none comes: the two
  reach ``on_receive`` swapped.  The hardware ack is not held (the MAC has the frame; its host sees
  it late), so the sender cannot tell.
* Every frame and ack goes to the capture (if any) and to the taps with the clock's time at which
  it started, in that order: capture times never go backwards (an ack is recorded when its
  turnaround ends, after any frame that began in between).

Every timer reads the injected ``rig.clock.Clock``; with a ``VirtualClock`` nothing happens until
the test advances time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware_shims.ncp.radio import CHANNELS, Radio, TxResult
from rig.capture import Capture
from rig.clock import Clock
from rig.zigbee.frames import (
    ADDR_NONE,
    ADDR_SHORT,
    BROADCAST,
    FT_ACK,
    FT_BEACON,
    FT_COMMAND,
    MAC_DATA_REQ,
    FrameError,
    MacFrame,
    mac_ack,
)

SYMBOL = 16e-6
"""One O-QPSK symbol (62.5 ksymbol/s)."""
BYTE_TIME = 2 * SYMBOL
PHY_OVERHEAD_BYTES = 6
"""Preamble (4), SFD (1) and PHR (1) in front of every PSDU."""
TURNAROUND = 12 * SYMBOL
"""aTurnaroundTime: RX-to-TX switch before a hardware ack (192 us)."""
ACK_WAIT = 54 * SYMBOL
"""macAckWaitDuration on the 2.4 GHz PHY (864 us), counted from the end of the transmission."""
BACKOFF_PERIOD = 20 * SYMBOL
"""aUnitBackoffPeriod (320 us), used between the radio's own retries."""

NOISE_FLOOR = -100
DEFAULT_RSSI = -45
Tap = Callable[[float, int, bytes], None]


def airtime(psdu_len: int) -> float:
    """Seconds a PSDU of ``psdu_len`` bytes (FCS included) occupies the channel."""
    return (psdu_len + PHY_OVERHEAD_BYTES) * BYTE_TIME


def lqi_from_rssi(rssi: int) -> int:
    """A plausible LQI: 0 at -100 dBm, 255 from -50 dBm up."""
    return max(0, min(255, round((rssi + 100) * 255 / 50)))


@dataclass
class Faults:
    """Seeded impairments, applied per receiver and per frame (acks included)."""

    loss: float = 0.0
    """Probability that a receiver misses a frame entirely."""
    corruption: float = 0.0
    """Probability that a receiver's copy has 1-3 flipped bits (dropped by its FCS check)."""
    delay: float | tuple[float, float] = 0.0
    """Extra seconds before ``on_receive`` (a fixed value, or a uniform ``(low, high)`` range)."""
    reorder: float = 0.0
    """Probability that a receiver's copy is held back and handed over after the next one (swapped)."""
    reorder_hold: float = 0.05
    """Seconds a held-back copy waits at most for a next frame to overtake it."""

    def __post_init__(self) -> None:
        if not self.reorder_hold > 0:
            raise ValueError(f"reorder_hold must be > 0 seconds, got {self.reorder_hold}")
        for name in ("loss", "corruption", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in 0..1, got {value}")
        low, high = self.delay if isinstance(self.delay, tuple) else (self.delay, self.delay)
        if low < 0 or high < low:
            raise ValueError(f"delay must be >= 0 (or a (low, high) range), got {self.delay}")


@dataclass
class Link:
    """What a receiver sees of one sender (directional)."""

    rssi: int = DEFAULT_RSSI
    lqi: int | None = None
    """None: derived from ``rssi``."""
    in_range: bool = True

    @property
    def link_quality(self) -> int:
        return self.lqi if self.lqi is not None else lqi_from_rssi(self.rssi)


@dataclass
class AirStats:
    """Counters over the life of an air (per receiver-frame pair where it says so)."""

    transmissions: int = 0
    acks_sent: int = 0
    delivered: int = 0
    """Frames handed to ``on_receive`` (per receiver)."""
    lost: int = 0
    corrupted: int = 0
    """Copies dropped by the receiver's FCS check."""
    reordered: int = 0
    """Copies held back so that the receiver's next frame overtook them."""
    out_of_range: int = 0
    filtered: int = 0
    """Heard but not addressed to the receiver."""
    not_listening: int = 0
    """Receiver switched channel, turned its receiver off or detached meanwhile."""


@dataclass
class _Tx:
    sender: AirRadio
    channel: int
    start: float
    end: float


@dataclass
class RadioStats:
    tx: int = 0
    tx_acked: int = 0
    tx_no_ack: int = 0
    retries: int = 0
    rx: int = 0
    acks_sent: int = 0


class AirRadio(Radio):
    """One emulated dongle's radio on the air (``firmware_shims.ncp.radio.Radio``).

    The NCP's MAC keeps the filter state current: ``pan_id``, ``short_addr``, ``ieee``,
    ``pan_coordinator``.  ``address_filter(frame) -> bool`` replaces the standard filter,
    ``promiscuous`` receives everything (and never acks), ``rx_on = False`` hears nothing,
    ``frame_pending(frame) -> bool`` sets the frame-pending bit of the ack answering a data request
    (the "source match" table of real radios), ``retries`` makes ``transmit`` resend an unacked
    frame that many times (hardware auto-retransmission; 0 = the MAC retries itself).
    """

    def __init__(self, air: Air, name: str, channel: int = 11) -> None:
        self.air = air
        self.name = name
        self.on_receive = None
        self.set_channel(channel)
        self.pan_id = BROADCAST
        self.short_addr = BROADCAST
        self.ieee: int | None = None
        self.pan_coordinator = False
        self.promiscuous = False
        self.rx_on = True
        self.listening: Callable[[], bool] | None = None     # the NCP's receiver state, asked per frame
        self.address_filter: Callable[[MacFrame], bool] | None = None
        self.frame_pending: Callable[[MacFrame], bool] | None = None
        self.retries = 0
        self.closed = False
        self.stats = RadioStats()
        self._ack_waiter: tuple[int, asyncio.Future] | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (f"AirRadio({self.name!r}, ch={self.channel}, pan=0x{self.pan_id:04x}, "
                f"short=0x{self.short_addr:04x}, ieee={self.ieee if self.ieee is None else hex(self.ieee)})")

    # -- Radio interface

    async def transmit(self, psdu: bytes) -> TxResult:
        if self.closed:
            return TxResult(sent=False, reason="radio is detached from the air")
        n = len(psdu)
        if not 5 <= n <= 127:
            return TxResult(sent=False, reason=f"PSDU of {n} bytes is outside 5..127")
        psdu = bytes(psdu)
        async with self._lock:
            acked = await self.air._transmit(self, psdu)
            tries = 0
            while acked is False and tries < self.retries and not self.closed:
                tries += 1
                self.stats.retries += 1
                await self.air.clock.sleep(self.air.rng.randint(0, 7) * BACKOFF_PERIOD)
                acked = await self.air._transmit(self, psdu)
        if acked is None:
            return TxResult(sent=True)
        return TxResult(sent=True, acked=acked, reason="" if acked else "no MAC ack")

    def energy(self, channel: int) -> int:
        if channel not in CHANNELS:
            raise ValueError(f"802.15.4 channel {channel} is outside 11..26")
        return self.air._energy(self, channel)

    def close(self) -> None:
        self.air.detach(self)

    def key_hint(self, key: bytes, label: str) -> None:
        self.air.add_key(key, f"{self.name}: {label}")

    # -- filtering

    def accepts(self, frame: MacFrame) -> bool:
        """The 802.15.4 third-level filter (or ``address_filter`` when set)."""
        if self.address_filter is not None:
            return bool(self.address_filter(frame))
        return self.addressed_to_me(frame)

    def addressed_to_me(self, frame: MacFrame) -> bool:
        """Standard frame filtering against ``pan_id``/``short_addr``/``ieee``/``pan_coordinator``."""
        if frame.frame_type == FT_BEACON:
            return self.pan_id == BROADCAST or frame.src_pan == self.pan_id
        if frame.dst_mode != ADDR_NONE:
            if frame.dst_pan != BROADCAST and frame.dst_pan != self.pan_id:
                return False
            if frame.dst_mode == ADDR_SHORT:
                return frame.dst_addr == BROADCAST or frame.dst_addr == self.short_addr
            return self.ieee is not None and frame.dst_addr == self.ieee
        # no destination address: only the PAN coordinator of the source PAN takes it
        return self.pan_coordinator and frame.src_pan_effective == self.pan_id

    def _deliver(self, psdu: bytes, lqi: int, rssi: int) -> None:
        if self.closed:
            return
        self.stats.rx += 1
        cb = self.on_receive
        if cb is not None:
            cb(psdu, lqi, rssi)


class Air:
    """A shared 802.15.4 medium for any number of radios (all dongles of one run or one test)."""

    def __init__(self, clock: Clock, *, seed: int = 0, pcap: str | Path | None = None,
                 faults: Faults | None = None, pcap_epoch: float = 0.0, default_rssi: int = DEFAULT_RSSI,
                 noise_floor: int = NOISE_FLOOR) -> None:
        self.clock = clock
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.default_rssi = default_rssi
        self.noise_floor = noise_floor
        self.radios: dict[str, AirRadio] = {}
        self.stats = AirStats()
        self.capture = Capture(pcap, epoch=pcap_epoch) if pcap is not None else None
        self._links: dict[tuple[str, str], Link] = {}
        self._active: list[_Tx] = []
        self._interference: dict[int, int] = {}
        self._taps: list[Tap] = []
        self._held: dict[str, tuple[bytes, int, int, object]] = {}    # receiver -> copy held back (reorder)

    # -- membership

    def attach(self, name: str, *, channel: int = 11) -> AirRadio:
        """A new radio named ``name`` (unique on this air), listening on ``channel``."""
        if name in self.radios:
            raise ValueError(f"a radio named {name!r} is already on this air")
        radio = AirRadio(self, name, channel)
        self.radios[name] = radio
        return radio

    def detach(self, radio: AirRadio | str) -> None:
        r = self._radio(radio)
        r.closed = True
        self.radios.pop(r.name, None)
        if r._ack_waiter is not None and not r._ack_waiter[1].done():
            r._ack_waiter[1].set_result(False)

    def _radio(self, radio: AirRadio | str) -> AirRadio:
        if isinstance(radio, AirRadio):
            return radio
        try:
            return self.radios[radio]
        except KeyError:
            raise KeyError(f"no radio named {radio!r} on this air") from None

    @staticmethod
    def _name(radio: AirRadio | str) -> str:
        return radio.name if isinstance(radio, AirRadio) else radio

    # -- links and faults

    def link(self, sender: AirRadio | str, receiver: AirRadio | str) -> Link:
        """What ``receiver`` sees of ``sender`` (a default link unless set)."""
        key = (self._name(sender), self._name(receiver))
        link = self._links.get(key)
        if link is None:
            link = Link(rssi=self.default_rssi)
        return link

    def set_link(self, a: AirRadio | str, b: AirRadio | str, *, rssi: int | None = None, lqi: int | None = None,
                 in_range: bool | None = None, symmetric: bool = True) -> None:
        """Set RSSI/LQI/range of the link ``a`` -> ``b`` (and ``b`` -> ``a`` when ``symmetric``)."""
        pairs = [(a, b), (b, a)] if symmetric else [(a, b)]
        for s, r in pairs:
            key = (self._name(s), self._name(r))
            link = self._links.setdefault(key, Link(rssi=self.default_rssi))
            if rssi is not None:
                link.rssi = rssi
            if lqi is not None:
                link.lqi = lqi
            if in_range is not None:
                link.in_range = in_range

    def set_out_of_range(self, a: AirRadio | str, b: AirRadio | str, out: bool = True, *,
                         symmetric: bool = True) -> None:
        """Make ``a`` and ``b`` unable (``out=True``) or able to hear each other."""
        self.set_link(a, b, in_range=not out, symmetric=symmetric)

    def set_interference(self, channel: int, dbm: int | None) -> None:
        """A constant signal on ``channel`` that energy scans report (None removes it)."""
        if dbm is None:
            self._interference.pop(channel, None)
        else:
            self._interference[channel] = dbm

    # -- capture and taps

    def add_tap(self, tap: Tap) -> None:
        """Call ``tap(time, channel, psdu)`` for every frame put on the air (sniffers, printers)."""
        self._taps.append(tap)

    def remove_tap(self, tap: Tap) -> None:
        self._taps.remove(tap)

    def add_key(self, key: bytes, label: str) -> None:
        """Give the capture's Wireshark keys folder a network or link key."""
        if self.capture is not None:
            self.capture.add_key(key, label)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()

    def _record(self, t: float, channel: int, psdu: bytes) -> None:
        if self.capture is not None:
            self.capture.write(psdu, t)
        for tap in self._taps:
            tap(t, channel, psdu)

    # -- the physics

    async def _transmit(self, sender: AirRadio, psdu: bytes) -> bool | None:
        """One attempt: on the air for its airtime, then wait for an ack if one is due."""
        clock = self.clock
        t0 = clock.now()
        channel = sender.channel
        duration = airtime(len(psdu))
        try:
            frame: MacFrame | None = MacFrame.decode(psdu)
        except FrameError:
            frame = None
        wants_ack = (frame is not None and frame.ack_request and frame.frame_type != FT_ACK
                     and not frame.is_broadcast)
        waiter = None
        if wants_ack:
            waiter = asyncio.get_running_loop().create_future()
            sender._ack_waiter = (frame.seq, waiter)
        self.stats.transmissions += 1
        sender.stats.tx += 1
        self._record(t0, channel, psdu)
        tx = _Tx(sender, channel, t0, t0 + duration)
        self._active.append(tx)
        try:
            self._propagate(sender, channel, psdu, frame, duration)
            await clock.sleep(duration)
        finally:
            self._active.remove(tx)
        if waiter is None:
            return None
        timer = clock.call_later(ACK_WAIT, lambda: waiter.done() or waiter.set_result(False))
        try:
            acked = await waiter
        finally:
            timer.cancel()
            if sender._ack_waiter is not None and sender._ack_waiter[1] is waiter:
                sender._ack_waiter = None
        if acked:
            sender.stats.tx_acked += 1
        else:
            sender.stats.tx_no_ack += 1
        return acked

    def _propagate(self, sender: AirRadio, channel: int, psdu: bytes, frame: MacFrame | None,
                   duration: float) -> None:
        faults, rng, stats = self.faults, self.rng, self.stats
        for r in list(self.radios.values()):
            if r is sender or r.channel != channel:
                continue
            link = self.link(sender, r)
            if not link.in_range:
                stats.out_of_range += 1
                continue
            if faults.loss and rng.random() < faults.loss:
                stats.lost += 1
                continue
            data, parsed = psdu, frame
            if faults.corruption and rng.random() < faults.corruption:
                data, parsed = self._corrupt(psdu), None
            self.clock.call_later(duration, self._arrive, r, channel, data, parsed, link)

    def _corrupt(self, psdu: bytes) -> bytes:
        buf = bytearray(psdu)
        for _ in range(self.rng.randint(1, 3)):
            bit = self.rng.randrange(len(buf) * 8)
            buf[bit >> 3] ^= 1 << (bit & 7)
        return bytes(buf)

    def _arrive(self, r: AirRadio, channel: int, data: bytes, frame: MacFrame | None, link: Link) -> None:
        stats = self.stats
        if r.closed or r.channel != channel or not r.rx_on:
            stats.not_listening += 1
            return
        if frame is None:
            try:
                frame = MacFrame.decode(data)  # the receiver's FCS check (and header parse)
            except FrameError as e:
                if e.field == "fcs":
                    stats.corrupted += 1
                    return
                frame = None  # valid FCS but unparseable header: only sniffers take it
        lqi, rssi = link.link_quality, link.rssi
        if frame is None:
            if r.promiscuous:
                self._hand_over(r, data, lqi, rssi)
            else:
                stats.filtered += 1
            return
        if frame.frame_type == FT_ACK:
            w = r._ack_waiter
            if w is not None and w[0] == frame.seq and not w[1].done():
                w[1].set_result(True)
            if r.promiscuous:
                self._hand_over(r, data, lqi, rssi)
            return
        if r.promiscuous:
            self._hand_over(r, data, lqi, rssi)
            return
        if r.listening is not None and not r.listening():
            stats.not_listening += 1             # receiver off (off-network and not told to listen, or ECC)
            return
        if not r.accepts(frame):
            stats.filtered += 1
            return
        if frame.ack_request and not frame.is_broadcast:
            pending = False
            if r.frame_pending is not None and frame.frame_type == FT_COMMAND and frame.payload[:1] == bytes(
                    [MAC_DATA_REQ]):
                pending = bool(r.frame_pending(frame))
            # sent now, arriving TURNAROUND + airtime later: one timer hop, so a real-time clock
            # under load delays the ack exactly as much as the sender's ack-wait timer
            self._send_ack(r, frame.seq, pending, TURNAROUND)
        self._hand_over(r, data, lqi, rssi)

    def _hand_over(self, r: AirRadio, data: bytes, lqi: int, rssi: int) -> None:
        self.stats.delivered += 1
        faults = self.faults
        held = self._held.pop(r.name, None)
        if held is None and faults.reorder and self.rng.random() < faults.reorder:
            self.stats.reordered += 1
            timer = self.clock.call_later(faults.reorder_hold, self._release, r)
            self._held[r.name] = (data, lqi, rssi, timer)
            return
        self._pass(r, data, lqi, rssi)
        if held is not None:                       # the held-back copy comes right after the one that overtook it
            held[3].cancel()
            self._pass(r, *held[:3])

    def _release(self, r: AirRadio) -> None:
        held = self._held.pop(r.name, None)
        if held is not None:
            self._pass(r, *held[:3])

    def _pass(self, r: AirRadio, data: bytes, lqi: int, rssi: int) -> None:
        delay = self.faults.delay
        if isinstance(delay, tuple):
            delay = self.rng.uniform(*delay)
        if delay:
            self.clock.call_later(delay, r._deliver, data, lqi, rssi)
        else:
            r._deliver(data, lqi, rssi)

    def _send_ack(self, r: AirRadio, seq: int, pending: bool, turnaround: float = 0.0) -> None:
        if r.closed:
            return
        psdu = mac_ack(seq, pending).encode()
        t0 = self.clock.now() + turnaround
        duration = airtime(len(psdu))
        self.stats.acks_sent += 1
        r.stats.acks_sent += 1
        # recorded when it starts, not now: a frame another radio begins during the turnaround is
        # captured before the ack, so capture times never go backwards (an ack after its frame)
        if turnaround:
            self.clock.call_later(turnaround, self._record_ack, r.channel, psdu)
        else:
            self._record(t0, r.channel, psdu)
        tx = _Tx(r, r.channel, t0, t0 + duration)
        self._active.append(tx)
        self.clock.call_later(turnaround + duration, self._active.remove, tx)
        self._propagate(r, r.channel, psdu, MacFrame.decode(psdu), turnaround + duration)

    def _record_ack(self, channel: int, psdu: bytes) -> None:
        self._record(self.clock.now(), channel, psdu)

    def _energy(self, r: AirRadio, channel: int) -> int:
        level = self._interference.get(channel, self.noise_floor)
        now = self.clock.now()
        for tx in self._active:
            if tx.channel == channel and tx.sender is not r and tx.start <= now < tx.end:
                link = self.link(tx.sender, r)
                if link.in_range:
                    level = max(level, link.rssi)
        return level

    # -- conveniences for tests and tools

    def radio(self, name: str) -> AirRadio:
        return self._radio(name)

    def __repr__(self) -> str:
        return f"Air({len(self.radios)} radios, seed={self.seed}, {self.stats})"
