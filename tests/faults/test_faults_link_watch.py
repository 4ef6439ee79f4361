"""What a role sees when its dongle resets by itself or its host link drops: bellows' connection_lost
reaches ``rig.transport.LinkWatch``, and every wait of the role ends at once with the named reason."""

from __future__ import annotations

import asyncio

import pytest

from rig.backend import SimBackend
from rig.clock import RealClock
from rig.events import EventLog
from rig.roles.ezsp_role import EzspRole, RoleError, link_lost
from rig.transport import close_ezsp, link_watch

pytestmark = pytest.mark.sim_only


@pytest.fixture
async def backend(tmp_path):
    backend = SimBackend(RealClock(), state_dir=tmp_path / "nv")
    try:
        yield backend
    finally:
        await backend.close()


@pytest.mark.parametrize(("fault", "reason"), [("ncp_reset", "ncp_reset"), ("drop_link", "ncp_link_lost")])
async def test_a_wait_in_progress_ends_at_once_with_the_named_reason(backend, fault, reason):
    clock = backend.clock
    events = EventLog(clock)
    ezsp = await backend.open_ezsp("hht")
    role = EzspRole("HHT", ezsp, clock, events)
    await role.read_eui64()
    waiting = asyncio.ensure_future(role.wait_for_callback("stackStatusHandler", lambda *a: True, 3600, "a callback"))
    await asyncio.sleep(0)
    started = clock.now()
    getattr(backend.dongle("hht"), fault)()
    with pytest.raises(RoleError) as caught:
        await waiting
    assert caught.value.reason == reason
    assert clock.now() - started < 5                   # not the wait's hour: the loss ended it
    assert role.lost is caught.value and link_lost(ezsp).reason == reason
    assert [(e.name, e.result) for e in events.events] == [("hht.ncp_lost", reason)]
    with pytest.raises(RoleError, match=reason):      # and nothing new waits on a dead link
        await role.wait_for_callback("stackStatusHandler", lambda *a: True, 1, "another")
    await close_ezsp(ezsp)


async def test_a_reset_reaches_the_host_as_an_unexpected_rstack_with_the_watchdog_code(backend):
    from bellows.ash import NcpFailure

    ezsp = await backend.open_ezsp("hht")
    (before,) = await ezsp.getEui64()
    backend.dongle("hht").ncp_reset()
    for _ in range(100):
        if link_watch(ezsp).lost is not None:
            break
        await asyncio.sleep(0.01)
    lost = link_watch(ezsp).lost
    assert isinstance(lost, NcpFailure) and lost.code.name == "RESET_WATCHDOG"
    await close_ezsp(ezsp)
    again = await backend.open_ezsp("hht")            # the dongle serves the next host as before
    (eui,) = await again.getEui64()
    assert eui == before
    await close_ezsp(again)


async def test_closing_on_purpose_is_no_lost_link(backend):
    ezsp = await backend.open_ezsp("hht")
    role = EzspRole("HHT", ezsp, backend.clock, EventLog(backend.clock))
    await role.disconnect()
    await asyncio.sleep(0.1)
    assert role.lost is None and link_watch(ezsp).lost is None
