"""One source of time for the rig, the emulated dongles and the virtual air.

Every timer (ASH retransmission excepted: that is the serial link's own real-time timer) reads a
``Clock``.  Two implementations share the interface:

* ``RealClock`` — the running asyncio loop's time (hardware, ``rig sim up``, scenarios); it
  carries an ``offset`` and ``advance(duration)`` jumps it, so short protocol timers keep real pace
  while a 60-minute window passes at once.  On emulation the loop is ``rig.des.DesEventLoop``, whose
  time itself jumps to the next deadline whenever nothing is ready and no byte is in flight.
* ``VirtualClock`` — time stands still until ``advance(duration)`` jumps it, firing every due
  timer in deadline order (ties in scheduling order).  Tests use it so that a 60-minute window or an
  18-hour HHT residency costs no real time.

``sleep`` on a virtual clock parks the coroutine until some ``advance`` reaches its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class Timer:
    """A scheduled callback; ``cancel()`` makes it a no-op.  Timers order by (deadline, order)."""

    deadline: float
    order: int
    callback: Callable[..., Any] = field(compare=False)
    args: tuple = field(compare=False, default=())
    cancelled: bool = field(compare=False, default=False)

    def __lt__(self, other: Timer) -> bool:
        # the heap's only comparison, written out: dataclass(order=True) builds two tuples per call
        if self.deadline != other.deadline:
            return self.deadline < other.deadline
        return self.order < other.order

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Interface: ``now()`` in seconds, ``call_later``, ``sleep``, ``wait_for``."""

    def now(self) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        raise NotImplementedError  # pragma: no cover - interface

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds of this clock's time."""
        fut = asyncio.get_running_loop().create_future()
        timer = self.call_later(delay, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            timer.cancel()

    async def wait_for(self, awaitable, timeout: float, what: str):
        """Await ``awaitable`` for at most ``timeout`` clock seconds.

        Raises ``TimeoutError`` whose message names ``what`` was awaited.
        """
        task = asyncio.ensure_future(awaitable)
        done = asyncio.get_running_loop().create_future()

        def _expire() -> None:
            if not done.done():
                done.set_result(None)

        timer = self.call_later(timeout, _expire)
        task.add_done_callback(lambda _t: _expire())
        try:
            await done
        except BaseException:
            # The waiter was cancelled: so is what it waited for (as asyncio.wait_for does).  A coroutine
            # closed by the garbage collector after its loop closed lands here too; there is nothing to
            # cancel on a closed loop, so that case is let go.
            if not task.done():
                with contextlib.suppress(RuntimeError):
                    task.cancel()
            raise
        finally:
            timer.cancel()
        if not task.done():
            task.cancel()
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        return task.result()


class RealClock(Clock):
    """Wall-clock time on the asyncio loop, shifted by ``offset`` seconds, that can also jump.

    Timers run at real pace, so real I/O (serial links, sockets, radios) keeps its own timing;
    ``advance(duration)`` adds ``duration`` to the offset and fires, in deadline order, every timer
    the jump passed.  This is the clock of hardware runs and of scenarios that must skip an hour
    without waiting for it.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self._counter = itertools.count()
        self._heap: list[Timer] = []
        self._handle: asyncio.TimerHandle | None = None

    def now(self) -> float:
        # the running loop's time: time.monotonic() on a standard loop; on rig.des's loop it also
        # jumps over idle waits, so this clock and bellows' asyncio timeouts move together
        try:
            return asyncio.get_running_loop().time() + self.offset
        except RuntimeError:
            return time.monotonic() + self.offset

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(self.now() + max(0.0, delay), next(self._counter), callback, args)
        heapq.heappush(self._heap, timer)
        self._arm()
        return timer

    def _arm(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        # now() is loop.time() + offset: a deadline D on this clock is loop time D - offset
        when = self._heap[0].deadline - self.offset if self._heap else None
        if self._handle is not None:
            if when is not None and self._handle.when() == when:
                return                   # the loop already wakes us for the earliest timer
            self._handle.cancel()
            self._handle = None
        if when is not None:
            self._handle = asyncio.get_running_loop().call_at(when, self._fire_due)

    def _fire_due(self) -> None:
        self._handle = None
        now = self.now()
        try:
            while self._heap and (self._heap[0].cancelled or self._heap[0].deadline <= now):
                timer = heapq.heappop(self._heap)
                if not timer.cancelled:
                    try:
                        timer.callback(*timer.args)
                    except Exception:
                        LOGGER.exception("timer callback %r failed", timer.callback)
        finally:
            self._arm()


    async def advance(self, duration: float) -> None:
        """Jump ``duration`` seconds ahead, firing the timers passed in order."""
        if duration < 0:
            raise ValueError(f"cannot advance a clock backwards ({duration} s)")
        target = self.now() + duration
        await _settle()
        while self._heap:
            timer = self._heap[0]
            if timer.cancelled:
                heapq.heappop(self._heap)
                continue
            if timer.deadline > target:
                break
            heapq.heappop(self._heap)
            self.offset += max(0.0, timer.deadline - self.now())
            timer.callback(*timer.args)
            await _settle()
        self.offset += max(0.0, target - self.now())
        self._arm()
        await _settle()


class VirtualClock(Clock):
    """Time that moves only when ``advance`` (or ``run_until_idle``) is called."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[Timer] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(self._now + max(0.0, delay), next(self._counter), callback, args)
        heapq.heappush(self._heap, timer)
        return timer


    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].deadline if self._heap else None

    async def advance(self, duration: float) -> None:
        """Move time forward by ``duration`` seconds, firing due timers in order.

        Between timers the event loop runs so that work a timer starts (frames, replies) settles
        before the next deadline is considered.
        """
        if duration < 0:
            raise ValueError(f"cannot advance a clock backwards ({duration} s)")
        target = self._now + duration
        await _settle()
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            timer = heapq.heappop(self._heap)
            self._now = max(self._now, timer.deadline)
            timer.callback(*timer.args)
            await _settle()
        self._now = target
        await _settle()


async def _settle(rounds: int = 20) -> None:
    """Let ready callbacks and the tasks they wake run before time moves on."""
    for _ in range(rounds):
        await asyncio.sleep(0)
