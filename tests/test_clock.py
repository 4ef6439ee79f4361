"""The one clock: virtual time fires timers in order; real time can jump without waiting."""

import asyncio

import pytest

from rig.clock import RealClock, VirtualClock


async def test_virtual_clock_fires_due_timers_in_deadline_order():
    clock = VirtualClock()
    fired = []
    clock.call_later(30, fired.append, "b")
    clock.call_later(10, fired.append, "a")
    cancelled = clock.call_later(20, fired.append, "never")
    cancelled.cancel()
    clock.call_later(3600, fired.append, "late")
    await clock.advance(60)
    assert fired == ["a", "b"]
    assert clock.now() == 60
    await clock.advance(3600)
    assert fired == ["a", "b", "late"]


async def test_virtual_sleep_wakes_only_when_time_is_advanced():
    clock = VirtualClock()
    task = asyncio.ensure_future(clock.sleep(18 * 3600))
    await clock.advance(18 * 3600 - 1)
    assert not task.done()
    await clock.advance(1)
    assert task.done()


async def test_wait_for_names_what_timed_out():
    clock = VirtualClock()
    never = asyncio.get_running_loop().create_future()
    waiter = asyncio.ensure_future(clock.wait_for(never, 5, "the CCS01 response"))
    await clock.advance(5)
    with pytest.raises(TimeoutError, match="the CCS01 response"):
        await waiter


async def test_real_clock_jumps_an_hour_and_fires_passed_timers_in_order():
    clock = RealClock()
    fired = []
    start = clock.now()
    clock.call_later(3600, fired.append, "window closes")
    clock.call_later(60, fired.append, "one minute")
    clock.call_later(18 * 3600, fired.append, "hht expires")
    await clock.advance(3601)
    assert fired == ["one minute", "window closes"]
    assert clock.now() - start >= 3601
    sleeper = asyncio.ensure_future(clock.sleep(0.01))    # short timers still run at real pace
    await asyncio.wait_for(sleeper, 2)
    assert fired == ["one minute", "window closes"]


async def test_advancing_backwards_is_refused():
    with pytest.raises(ValueError):
        await VirtualClock().advance(-1)


async def test_a_failing_timer_does_not_stop_the_real_clock(caplog):
    clock = RealClock()
    fired = []

    def boom():
        raise RuntimeError("a shim bug")

    clock.call_later(0.001, boom)
    clock.call_later(0.002, fired.append, "later timer")
    await asyncio.wait_for(clock.sleep(0.01), 2)
    assert fired == ["later timer"]
    assert "a shim bug" in caplog.text


@pytest.mark.parametrize("make", [VirtualClock, RealClock])
async def test_timers_due_at_the_same_time_fire_in_the_order_they_were_set(make):
    clock = make()
    fired = []
    for name in "abcdef":
        clock.call_later(600 if name in "bdf" else 300, fired.append, name)
    await clock.advance(900)
    assert fired == ["a", "c", "e", "b", "d", "f"]
