"""Discrete-event time for emulation: an asyncio loop whose clock jumps over idle waits.

:class:`DesEventLoop` is a selector event loop whose ``time()`` is ``time.monotonic()`` plus an
offset.  When the loop would block in its selector with a timeout (a timer is due later, nothing is
ready), it first polls with timeout 0; if nothing is ready and no byte is in flight between two ends
that live in this loop, it adds the timeout to the offset instead of sleeping.  Every timer on the
loop — bellows' and zigpy's timeouts, ``asyncio.sleep``/``wait_for``/``timeout`` inside them, ASH
retransmission, and ``rig.clock.RealClock`` (which reads ``loop.time()``) — therefore sees the jump
together, in deadline order, and an ack wait or a scan window costs no wall time.  Between events real
time runs as usual, so the CPU a step takes still counts as the time it takes.

Many premises on one loop starve each other: a pass over their ready callbacks can take longer than
their hosts' ack waits.  ``busy_cap`` (``RIG_DES_BUSY_CAP=0.005``) makes one pass count at most that
many seconds of loop time, so each premises sees roughly the time its own work took.  (Not counting
CPU at all, as looptime does, reorders a sub-millisecond MAC-ack timer behind milliseconds of I/O
work and made the PPMID's join race the CH's permitJoining: the cap keeps short passes real.)

The same idea as ``looptime`` (PyPI), which patches the selector's ``select`` to poll first and then
fast-forward; looptime's time stands still while code runs and knows nothing of the loopback sockets
an emulated dongle and bellows share, so the rig has its own, which holds time while:

* bytes are in flight on a TCP connection whose two ends are both transports of this loop (the
  sender's ``tcpi_bytes_sent`` minus retransmits exceeds the receiver's ``tcpi_bytes_received``, or
  the sender has unsent bytes) — loopback delivery normally finishes inside ``send()``, but the kernel
  may defer it to ksoftirqd on a loaded machine;
* a connection's peer is not in this loop (another process — a host stack driving ``rig sim up``,
  a sniffer client): then the loop keeps real pace, since that process's timers do not jump;
* a pty link (registered with ``loop.hold_for_pty(fd)``) may carry bytes: the kernel moves pty bytes
  through a work queue, invisible to a zero-timeout poll, so each jump first waits ``PTY_QUIET`` of
  real time and then for a probe byte sent through a pty of the loop's own to come out;
* an executor job (``run_in_executor``) or a child process (``asyncio.create_subprocess_*``) is
  running: threads and other processes finish in real time.

When nothing at all is scheduled the loop blocks as usual (only outside I/O can wake it).
Hardware runs and ``rig sim up`` use the standard loop: real pace throughout.
"""

from __future__ import annotations

import asyncio
import math
import os
import select
import socket
import struct
import time
import tty
import weakref
from collections.abc import Coroutine
from typing import Any

PTY_QUIET = 0.002      # real seconds a pty link must stay silent before time may jump
PTY_BARRIER = 0.05     # real seconds at most for the probe byte through the pty work queue
INFLIGHT_STEP = 0.0005  # real seconds to wait for loopback bytes in flight before looking again

_TCP_INFO_LEN = 216
_BYTES_RECEIVED = 128   # struct tcp_info: __u64 tcpi_bytes_received
_NOTSENT = 144          # __u32 tcpi_notsent_bytes
_BYTES_SENT = 200       # __u64 tcpi_bytes_sent (Linux >= 4.19), then __u64 tcpi_bytes_retrans

ENV_REAL_TIME = "RIG_REAL_TIME"   # set to 1: emulation runs at real pace (for comparisons)
ENV_BUSY_CAP = "RIG_DES_BUSY_CAP" # seconds: a pass of callbacks counts at most this much loop time


class DesEventLoop(asyncio.SelectorEventLoop):
    """A selector loop that jumps its time to the next deadline when it is idle (see module doc)."""

    def __init__(self, selector=None, *, fast_forward: bool = True, busy_cap: float | None = None) -> None:
        super().__init__(selector)
        self.fast_forward = fast_forward
        self.busy_cap = busy_cap
        self._busy_since = time.monotonic()
        self._offset = 0.0
        self._pty_links: set[int] = set()
        self._pty_quiet = False          # a PTY_QUIET wait found nothing since the last event
        self._probe: tuple[int, int] | None = None
        self._jobs: weakref.WeakSet[asyncio.Future] = weakref.WeakSet()
        # transport -> (socket, our address, the peer's) for a TCP connection, None for anything else:
        # looked up once per transport, not at every jump
        self._tcp_ends: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._children: weakref.WeakSet = weakref.WeakSet()
        self._select = self._selector.select
        self._selector.select = self._des_select
        self.stats = {"jumps": 0, "skipped": 0.0, "held_inflight": 0, "held_external": 0, "held_job": 0,
                      "pty_barrier_timeouts": 0, "dilated": 0.0}

    def time(self) -> float:
        now = time.monotonic()
        if self.busy_cap is not None:
            now = min(now, self._busy_since + self.busy_cap)
        return now + self._offset

    def run_in_executor(self, executor, func, *args):
        future = super().run_in_executor(executor, func, *args)
        self._jobs.add(future)
        return future

    async def _make_subprocess_transport(self, *args, **kwargs):
        transport = await super()._make_subprocess_transport(*args, **kwargs)
        self._children.add(transport)
        return transport

    def hold_for_pty(self, fd: int) -> None:
        self._pty_links.add(fd)

    def release_pty(self, fd: int) -> None:
        self._pty_links.discard(fd)

    def _pty_barrier(self) -> None:
        """Send one byte through a probe pty and wait (at most PTY_BARRIER real seconds) until it comes
        out: the kernel work queue that carries pty bytes has then run past what was written before."""
        if self._probe is None:
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            os.set_blocking(slave, False)
            self._probe = (master, slave)
        master, slave = self._probe
        os.write(master, b"\0")
        poller = select.poll()
        poller.register(slave, select.POLLIN)
        if poller.poll(PTY_BARRIER * 1000):
            try:
                os.read(slave, 64)
            except BlockingIOError:
                pass
        else:
            self.stats["pty_barrier_timeouts"] += 1

    def close(self) -> None:
        if self._probe is not None:
            for fd in self._probe:
                os.close(fd)
            self._probe = None
        super().close()

    # --- the selector ---------------------------------------------------------------------------
    def _des_select(self, timeout: float | None):
        if self.busy_cap is None:
            return self._des_select_now(timeout)
        # one pass of ready callbacks counts at most busy_cap seconds of loop time
        excess = time.monotonic() - self._busy_since - self.busy_cap
        if excess > 0:
            self._offset -= excess
            self.stats["dilated"] += excess
        self._busy_since = math.inf
        try:
            return self._des_select_now(timeout)
        finally:
            self._busy_since = time.monotonic()

    def _des_select_now(self, timeout: float | None):
        if not self.fast_forward or timeout is None or timeout <= 0:
            ready = self._select(timeout)
            if ready:
                self._pty_quiet = False
            return ready
        ready = self._select(0)
        if ready:
            self._pty_quiet = False
            return ready
        hold = self._hold()
        if hold is not None:
            ready = self._select(min(timeout, hold))
            if ready:
                self._pty_quiet = False
            return ready
        if self._pty_links and not self._pty_quiet:
            self._pty_quiet = True
            t0 = time.monotonic()
            ready = self._select(min(timeout, PTY_QUIET))
            if not ready:
                self._pty_barrier()
                ready = self._select(0)
            if ready:
                self._pty_quiet = False
                return ready
            timeout = max(0.0, timeout - (time.monotonic() - t0))
        self._pty_quiet = False
        self._offset += timeout
        self.stats["jumps"] += 1
        self.stats["skipped"] += timeout
        return []

    def _hold(self) -> float | None:
        """Real seconds to wait before time may jump, or None if it may jump now."""
        if self._jobs:
            done = [f for f in self._jobs if f.done()]
            for f in done:
                self._jobs.discard(f)
            if self._jobs:
                self.stats["held_job"] += 1
                return INFLIGHT_STEP
        if any(t.get_returncode() is None and not t.is_closing() for t in self._children):
            self.stats["held_external"] += 1
            return 1.0              # a child process runs in real time
        ends: dict[Any, Any] = {}
        conns = []
        for transport in list(self._transports.values()):
            if transport.is_closing():
                continue
            end = self._tcp_ends.get(transport, _UNKNOWN)
            if end is _UNKNOWN:
                end = self._tcp_ends[transport] = _tcp_end(transport)
            if end is None:
                continue
            sock, here, peer = end
            ends[here] = (transport, sock)
            conns.append((transport, sock, peer))
        for transport, sock, peer in conns:
            other = ends.get(peer)
            if other is None:
                self.stats["held_external"] += 1
                return 1.0          # a connection to another process: real pace
            if transport.get_write_buffer_size() or self._in_flight(sock, other[1]):
                self.stats["held_inflight"] += 1
                return INFLIGHT_STEP
        return None

    @staticmethod
    def _in_flight(sender, receiver) -> bool:
        try:
            out = sender.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
            into = receiver.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
        except OSError:
            return False
        if len(out) < _BYTES_SENT + 16 or len(into) < _BYTES_RECEIVED + 8:
            return False            # an old kernel: loopback delivery within send() is all we have
        (notsent,) = struct.unpack_from("I", out, _NOTSENT)
        sent, retrans = struct.unpack_from("QQ", out, _BYTES_SENT)
        (received,) = struct.unpack_from("Q", into, _BYTES_RECEIVED)
        return notsent > 0 or sent - retrans > received


_UNKNOWN = object()


def _tcp_end(transport) -> tuple[Any, tuple, tuple] | None:
    """(socket, our address, the peer's address) of a TCP transport, or None."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    here, peer = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
    if here is None or peer is None:
        return None
    return sock, here[:2], peer[:2]


def new_loop() -> asyncio.AbstractEventLoop:
    """The loop emulation runs on: a :class:`DesEventLoop`, or a standard loop if ``RIG_REAL_TIME=1``."""
    if os.environ.get(ENV_REAL_TIME, "") not in ("", "0"):
        return asyncio.new_event_loop()
    cap = os.environ.get(ENV_BUSY_CAP, "")
    return DesEventLoop(busy_cap=float(cap) if cap else None)


def run(main: Coroutine, *, fast_forward: bool = True):
    """``asyncio.run(main)`` on a discrete-event loop (``fast_forward=False``: the standard loop)."""
    with asyncio.Runner(loop_factory=new_loop if fast_forward else asyncio.new_event_loop) as runner:
        return runner.run(main)


def stats() -> dict | None:
    """The running loop's jump counters, or None on a standard loop."""
    loop = asyncio.get_running_loop()
    return dict(loop.stats) if isinstance(loop, DesEventLoop) else None
