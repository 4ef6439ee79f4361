"""rig.des: the discrete-event loop jumps over idle waits, never over bytes in flight or other processes."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rig import des
from rig.clock import RealClock


def test_sleep_jumps_loop_time_and_counts_the_jump():
    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.sleep(3600)
        return loop.time() - t0, des.stats()

    waited, stats = des.run(main())
    assert waited >= 3600
    assert stats["jumps"] >= 1 and stats["skipped"] >= 3599


def test_timers_fire_in_deadline_order_across_jumps():
    async def main():
        order = []
        loop = asyncio.get_running_loop()
        for delay in (30, 10, 20):
            loop.call_later(delay, order.append, delay)
        await asyncio.sleep(31)
        return order

    assert des.run(main()) == [10, 20, 30]


def test_real_clock_moves_with_the_loop():
    async def main():
        clock = RealClock()
        t0 = clock.now()
        await clock.sleep(60)
        after_sleep = clock.now() - t0
        await asyncio.sleep(5)          # bellows' kind of timer: the clock sees it too
        return after_sleep, clock.now() - t0

    after_sleep, total = des.run(main())
    assert after_sleep >= 60 and total >= 65


def test_reply_over_loopback_tcp_beats_a_timeout():
    """An in-process server answers after its own 1 s timer; the client's 5 s wait_for must not expire,
    even though time jumps over the server's second."""
    async def main():
        loop = asyncio.get_running_loop()

        async def serve(reader, writer):
            data = await reader.readexactly(4)
            await asyncio.sleep(1.0)
            writer.write(data[::-1] * 1000)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        t0 = loop.time()
        writer.write(b"ping")
        reply = await asyncio.wait_for(reader.readexactly(4000), timeout=5.0)
        elapsed = loop.time() - t0
        writer.close()
        server.close()
        await server.wait_closed()
        return reply, elapsed

    reply, elapsed = des.run(main())
    assert reply == b"gnip" * 1000
    assert 1.0 <= elapsed < 5.0


def test_a_connection_to_another_process_keeps_real_pace():
    """A peer outside the loop (here a plain socket, as another process would hold) holds time."""
    listener = socket.create_server(("127.0.0.1", 0))

    async def main():
        loop = asyncio.get_running_loop()
        _reader, writer = await asyncio.open_connection(*listener.getsockname())
        outside, _ = listener.accept()
        try:
            return loop._hold()
        finally:
            writer.close()
            outside.close()

    try:
        assert des.run(main()) is not None
    finally:
        listener.close()


def test_bytes_in_flight_hold_time():
    """A pair inside the loop with bytes sent and not yet received holds time; drained, it does not."""
    async def main():
        loop = asyncio.get_running_loop()
        got = asyncio.Event()

        class Sink(asyncio.Protocol):
            def data_received(self, data):
                got.set()

        server = await loop.create_server(Sink, "127.0.0.1", 0)
        transport, _ = await loop.create_connection(asyncio.Protocol, *server.sockets[0].getsockname())
        await asyncio.sleep(0)
        idle_before = loop._hold()
        transport.write(b"x" * 10)
        sock = transport.get_extra_info("socket")
        await got.wait()
        idle_after = loop._hold()
        transport.close()
        server.close()
        await server.wait_closed()
        return idle_before, idle_after, sock

    before, after, _sock = des.run(main())
    assert before is None and after is None


@pytest.mark.parametrize("value", ["1", "yes"])
def test_real_time_switch_gives_the_standard_loop(monkeypatch, value):
    monkeypatch.setenv(des.ENV_REAL_TIME, value)
    loop = des.new_loop()
    try:
        assert not isinstance(loop, des.DesEventLoop)
    finally:
        loop.close()


def test_busy_cap_counts_at_most_the_cap_per_pass_and_never_goes_back(monkeypatch):
    now = [100.0]

    class FakeTime:
        @staticmethod
        def monotonic():
            return now[0]

    monkeypatch.setattr(des, "time", FakeTime)
    loop = des.DesEventLoop(busy_cap=0.005)
    try:
        start = loop.time()
        now[0] += 0.030                          # a 30 ms pass of callbacks (CPU)
        assert loop.time() - start == pytest.approx(0.005)
        loop._des_select(0)                      # the pass ends: the 25 ms beyond the cap are not time
        assert loop.time() - start == pytest.approx(0.005)
        now[0] += 0.002                          # a short pass counts in full
        assert loop.time() - start == pytest.approx(0.007)
        assert loop.stats["dilated"] == pytest.approx(0.025)
    finally:
        loop.close()
