"""ASH, NCP side: the serial framing an EmberZNet NCP speaks to its host (UG101).

Byte level: frames end with FLAG 0x7E; reserved bytes are escaped (0x7D, byte ^ 0x20); CANCEL drops the
frame in progress, SUBSTITUTE marks it bad (dropped up to the next FLAG), XON/XOFF are ignored.
Frame level: control byte, payload, CRC-16/CCITT-FALSE (big-endian) over control + payload; DATA
payloads are XORed with the ASH pseudo-random sequence.  Link level: 3-bit frame and ack numbers,
ACK/NAK, retransmission with reTx set, RST/RSTACK, ERROR.

``AshNcp`` is transport-agnostic: it is fed bytes with ``data_received`` and writes bytes through
the ``write`` callable it was given.  Decoded EZSP frames go up through ``on_frame``; a host RST
calls ``on_reset`` (the NCP reboots) and is answered with RSTACK carrying the software reset code: RST asks
for a software reset (UG101), and zigbee-herdsman ignores an answer with any other code.  Output is paced: at most
``WINDOW`` unacknowledged DATA frames and ``WINDOW_BYTES`` escaped bytes are in flight, so a host
whose receive buffer holds 1024 bytes (bellows) never loses a callback.  Retransmission uses the
event loop's real time (ASH is a serial-link protocol, not part of the virtual world).
"""

from __future__ import annotations

import asyncio
import binascii
import enum
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

LOGGER = logging.getLogger(__name__)

FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL = 0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A
RESERVED = frozenset((FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL))
ASH_VERSION = 0x02
MAX_PAYLOAD = 256            # bellows refuses longer DATA payloads
MAX_FRAME = 1 + MAX_PAYLOAD + 2

WINDOW = 5                   # UG101 TX_K maximum
WINDOW_BYTES = 900           # keep a 1024-byte host buffer from overflowing
T_RX_ACK_INIT = 1.6          # seconds; adapted as UG101 describes
T_RX_ACK_MIN, T_RX_ACK_MAX = 0.4, 3.2
ACK_TIMEOUTS = 5             # consecutive timeouts before the link is declared failed


class ResetCode(enum.IntEnum):
    """Reset/error reasons carried by RSTACK and ERROR frames (EmberZNet ``EzspResetCode``)."""

    UNKNOWN = 0x00
    EXTERNAL = 0x01
    POWER_ON = 0x02
    WATCHDOG = 0x03
    ASSERT = 0x06
    BOOTLOADER = 0x09
    SOFTWARE = 0x0B
    ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT = 0x51


class AshError(Exception):
    """A byte sequence that is not a valid ASH frame (the message says what is wrong)."""


def _randomise(data: bytes) -> bytes:
    """XOR with the ASH LFSR sequence (seed 0x42); its own inverse.  (One XOR of two integers: the
    sequence covers MAX_PAYLOAD bytes, and a longer input is cut there, as ``zip`` would.)"""
    n = min(len(data), MAX_PAYLOAD)
    return (int.from_bytes(data[:n], "little") ^ int.from_bytes(_LFSR[:n], "little")).to_bytes(n, "little")


def _lfsr(length: int) -> bytes:
    out, r = bytearray(), 0x42
    for _ in range(length):
        out.append(r)
        r = (r >> 1) ^ 0xB8 if r & 1 else r >> 1
    return bytes(out)


_LFSR = _lfsr(MAX_PAYLOAD)


def crc(data: bytes) -> bytes:
    """CRC-16/CCITT-FALSE, big-endian (the ASH frame check)."""
    return binascii.crc_hqx(data, 0xFFFF).to_bytes(2, "big")


# Stuffing and unstuffing run in C (bytes.replace, re): ESCAPE first, so the escapes the other
# replacements insert are not escaped again.
_STUFF_ORDER = (ESCAPE,) + tuple(sorted(RESERVED - {ESCAPE}))
_ESCAPED_PAIR = re.compile(rb"\x7d(.)", re.DOTALL)
_UNESCAPE = {bytes((ESCAPE, b)): bytes((b ^ 0x20,)) for b in range(256)}


def _unescape_pair(match: re.Match) -> bytes:
    return _UNESCAPE[match[0]]


def stuff(frame: bytes) -> bytes:
    out = bytes(frame)
    for b in _STUFF_ORDER:
        if b in out:
            out = out.replace(bytes((b,)), bytes((ESCAPE, b ^ 0x20)))
    return out + bytes((FLAG,))


def unstuff(data: bytes) -> bytes:
    data = bytes(data)
    if ESCAPE not in data:
        return data
    # pairs are taken left to right, so a frame ends inside an escape exactly when its run of
    # trailing ESCAPE bytes is odd
    if (len(data) - len(data.rstrip(b"\x7d"))) % 2:
        raise AshError("frame ends inside an escape sequence")
    return _ESCAPED_PAIR.sub(_unescape_pair, data)


# --- frames -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    frm_num: int
    re_tx: bool
    ack_num: int
    payload: bytes

    def encode(self) -> bytes:
        control = (self.frm_num << 4) | (int(self.re_tx) << 3) | self.ack_num
        body = bytes((control,)) + _randomise(self.payload)
        return body + crc(body)


@dataclass(frozen=True)
class Ack:
    ack_num: int
    not_ready: bool = False

    def encode(self) -> bytes:
        body = bytes((0x80 | (int(self.not_ready) << 3) | self.ack_num,))
        return body + crc(body)


@dataclass(frozen=True)
class Nak:
    ack_num: int
    not_ready: bool = False

    def encode(self) -> bytes:
        body = bytes((0xA0 | (int(self.not_ready) << 3) | self.ack_num,))
        return body + crc(body)


@dataclass(frozen=True)
class Rst:
    def encode(self) -> bytes:
        return b"\xc0" + crc(b"\xc0")


@dataclass(frozen=True)
class RstAck:
    code: int
    version: int = ASH_VERSION

    def encode(self) -> bytes:
        body = bytes((0xC1, self.version, self.code))
        return body + crc(body)


@dataclass(frozen=True)
class Error:
    code: int
    version: int = ASH_VERSION

    def encode(self) -> bytes:
        body = bytes((0xC2, self.version, self.code))
        return body + crc(body)


Frame = Data | Ack | Nak | Rst | RstAck | Error


def decode(frame: bytes) -> Frame:
    """Decode one unstuffed frame (control .. CRC).  Raises ``AshError`` naming the defect."""
    if len(frame) < 3:
        raise AshError(f"frame of {len(frame)} bytes is shorter than control + CRC")
    if len(frame) > MAX_FRAME:
        raise AshError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
    body, check = frame[:-2], frame[-2:]
    if crc(body) != check:
        raise AshError(f"bad CRC {check.hex()} (expected {crc(body).hex()}) on frame {frame.hex()}")
    control, payload = body[0], body[1:]
    if control & 0x80 == 0:
        if not payload:
            raise AshError("DATA frame without payload")
        return Data((control >> 4) & 7, bool(control & 0x08), control & 7, _randomise(payload))
    if control & 0xE0 == 0x80:
        return Ack(control & 7, bool(control & 0x08))
    if control & 0xE0 == 0xA0:
        return Nak(control & 7, bool(control & 0x08))
    if control == 0xC0 and not payload:
        return Rst()
    if control in (0xC1, 0xC2) and len(payload) == 2:
        cls = RstAck if control == 0xC1 else Error
        return cls(code=payload[1], version=payload[0])
    raise AshError(f"unknown control byte 0x{control:02X} with {len(payload)} payload bytes")


class FrameReader:
    """Splits a byte stream into unstuffed frames, honouring CANCEL/SUBSTITUTE/XON/XOFF.

    Garbage between frames is dropped (it fails the CRC or length checks of the frame it lands in);
    the next FLAG always restores sync.  The buffer never grows past one maximal stuffed frame.
    """

    MAX_BUFFER = 2 * MAX_FRAME + 2

    def __init__(self) -> None:
        self._buf = bytearray()
        self._discarding = False
        self._overflowed = False

    def feed(self, data: bytes) -> list[bytes | AshError]:
        out: list[bytes | AshError] = []
        # XON/XOFF are dropped wherever they are; the stream is then cut at FLAG, CANCEL and
        # SUBSTITUTE (re.split keeps them), and the runs between are buffered whole
        parts = _CONTROL.split(bytes(data).translate(None, _FLOW))
        for i, part in enumerate(parts):
            if i % 2 == 0:
                if part and not self._discarding and not self._overflowed:
                    self._buf += part
                    if len(self._buf) > self.MAX_BUFFER:
                        self._buf.clear()
                        self._overflowed = True
                continue
            b = part[0]
            if b == FLAG:
                if self._overflowed:
                    out.append(AshError("frame longer than the largest ASH frame"))
                elif self._buf and not self._discarding:
                    try:
                        out.append(unstuff(self._buf))
                    except AshError as exc:
                        out.append(exc)
                self._buf.clear()
                self._discarding = self._overflowed = False
            elif b == CANCEL:
                self._buf.clear()
                self._discarding = self._overflowed = False
            else:               # SUBSTITUTE
                self._buf.clear()
                self._discarding = True
        return out


_FLOW = bytes((XON, XOFF))
_CONTROL = re.compile(b"([" + re.escape(bytes((FLAG, CANCEL, SUBSTITUTE))) + b"])")


# --- link ---------------------------------------------------------------------------------------

class AshNcp:
    """The NCP end of an ASH link."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        on_frame: Callable[[bytes], None],
        on_reset: Callable[[], None],
    ) -> None:
        self._write = write
        self._on_frame = on_frame
        self._on_reset = on_reset
        self._reader = FrameReader()
        self.connected = False          # True once RSTACK was sent
        self.failed = False
        self.stats = {"rx_data": 0, "tx_data": 0, "naks_sent": 0, "naks_received": 0,
                      "retransmissions": 0, "crc_errors": 0, "duplicates": 0, "resets": 0}
        self._reset_link()

    # state
    def _reset_link(self) -> None:
        self._rx_seq = 0                 # next frame number expected from the host
        self._tx_seq = 0                 # number of our next new DATA frame
        self._unacked: deque[tuple[int, bytes]] = deque()   # (frm_num, payload) in flight
        self._queue: deque[bytes] = deque()                  # payloads waiting for window space
        self._rejecting = False
        self._t_rx_ack = T_RX_ACK_INIT
        self._timeouts = 0
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
        self._timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._cancel_timer()
        self._queue.clear()
        self._unacked.clear()

    def host_gone(self) -> None:
        """The host closed the port (or was unplugged): nothing is retransmitted to nobody; the next
        host starts with RST, as bellows always does."""
        self.close()
        self.connected = False

    # input
    def data_received(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            if isinstance(item, AshError):
                self._bad_frame(item, None)
                continue
            try:
                frame = decode(item)
            except AshError as exc:
                self._bad_frame(exc, item)
                continue
            self._frame_received(frame)

    def _bad_frame(self, exc: AshError, raw: bytes | None) -> None:
        self.stats["crc_errors"] += 1
        LOGGER.debug("dropping bad ASH frame: %s", exc)
        # UG101: a damaged DATA frame puts the receiver into the reject condition (one NAK)
        if self.connected and raw and raw[0] & 0x80 == 0:
            self._reject()

    def _reject(self) -> None:
        if not self._rejecting:
            self._rejecting = True
            self.stats["naks_sent"] += 1
            self._send_raw(Nak(self._rx_seq))

    def _frame_received(self, frame: Frame) -> None:
        if isinstance(frame, Rst):
            self._handle_rst()
            return
        if not self.connected:
            LOGGER.debug("ignoring %s before the host's RST", frame)
            return
        if isinstance(frame, Data):
            self._handle_data(frame)
        elif isinstance(frame, Ack):
            self._handle_ack_num(frame.ack_num)
        elif isinstance(frame, Nak):
            self.stats["naks_received"] += 1
            self._handle_ack_num(frame.ack_num)
            self._retransmit_all()
        else:
            LOGGER.debug("ignoring %s from the host", frame)

    def _handle_rst(self) -> None:
        self.stats["resets"] += 1
        self._reset_link()
        self._on_reset()
        self.connected = True
        self.failed = False
        self._send_raw(RstAck(ResetCode.SOFTWARE))

    def ncp_reset(self, code: int = ResetCode.SOFTWARE) -> None:
        """The NCP rebooted on its own after ``resetNode``: as ``spontaneous_reset`` with a software code."""
        self.spontaneous_reset(code)

    def spontaneous_reset(self, code: int = ResetCode.WATCHDOG) -> None:
        """The NCP resets by itself (watchdog, assert, brown-out): the firmware reboots (``on_reset``) and
        tells the host with an unsolicited RSTACK carrying ``code``, as a real NCP does after any reset."""
        self.stats["resets"] += 1
        self._reset_link()
        self._on_reset()
        self.connected = True
        self.failed = False
        self._send_raw(RstAck(code))

    def _handle_data(self, frame: Data) -> None:
        self.stats["rx_data"] += 1
        if frame.frm_num == self._rx_seq:
            self._rejecting = False
            self._rx_seq = (self._rx_seq + 1) & 7
            self._handle_ack_num(frame.ack_num)
            self._send_raw(Ack(self._rx_seq))
            self._on_frame(frame.payload)
        elif frame.re_tx and frame.frm_num == (self._rx_seq - 1) & 7:
            # the host missed our ACK: acknowledge again, never execute twice
            self.stats["duplicates"] += 1
            self._handle_ack_num(frame.ack_num)
            self._send_raw(Ack(self._rx_seq))
        else:
            self._reject()

    def _handle_ack_num(self, ack_num: int) -> None:
        """Everything before ``ack_num`` has been received by the host."""
        progressed = False
        if self._unacked:
            count = (ack_num - self._unacked[0][0]) & 7
            if count <= len(self._unacked):   # otherwise a stale or bogus ackNum: ignore it
                for _ in range(count):
                    self._unacked.popleft()
                progressed = count > 0
        if progressed:
            self._timeouts = 0
            self._cancel_timer()
            if self._unacked:
                self._arm_timer()
        self._pump()

    # output
    def send(self, payload: bytes) -> None:
        """Queue one EZSP frame for the host."""
        if len(payload) > MAX_PAYLOAD:
            raise AshError(f"EZSP frame of {len(payload)} bytes exceeds the ASH limit {MAX_PAYLOAD}")
        if not self.connected:
            return            # no host session: a real NCP drops callbacks it cannot deliver
        self._queue.append(payload)
        self._pump()

    def send_error(self, code: int) -> None:
        """Report a fatal NCP condition (ERROR frame); the host must RST."""
        self.connected = False
        self.failed = True
        self._send_raw(Error(code))

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._unacked)

    def _in_flight_bytes(self) -> int:
        return sum(len(p) * 2 + 6 for _, p in self._unacked)

    def _pump(self) -> None:
        if not self.connected:
            return
        while self._queue and len(self._unacked) < WINDOW and (
            not self._unacked or self._in_flight_bytes() + len(self._queue[0]) * 2 + 6 <= WINDOW_BYTES
        ):
            payload = self._queue.popleft()
            num = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) & 7
            self._unacked.append((num, payload))
            self.stats["tx_data"] += 1
            self._send_raw(Data(num, False, self._rx_seq, payload))
            if self._timer is None:
                self._arm_timer()

    def _retransmit_all(self) -> None:
        for num, payload in self._unacked:
            self.stats["retransmissions"] += 1
            self._send_raw(Data(num, True, self._rx_seq, payload))
        if self._unacked:
            self._cancel_timer()
            self._arm_timer()

    def _arm_timer(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:          # driven synchronously (unit tests): no timer
            return
        self._timer = loop.call_later(self._t_rx_ack, self._ack_timeout)

    def _ack_timeout(self) -> None:
        self._timer = None
        if not self._unacked:
            return
        self._timeouts += 1
        if self._timeouts >= ACK_TIMEOUTS:
            LOGGER.warning("host stopped acknowledging; ASH link failed")
            self._unacked.clear()
            self._queue.clear()
            self.send_error(ResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT)
            return
        self._t_rx_ack = min(T_RX_ACK_MAX, self._t_rx_ack * 2)
        self._retransmit_all()

    def _send_raw(self, frame: Frame) -> None:
        self._write(stuff(frame.encode()))
