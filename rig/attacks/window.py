"""The 60-minute edge (policy ``gbcs`` only): a session begun inside the window may finish within
``INTERPAN_SESSION_MAX_S`` (rig choice); nothing after that, and no new session once the window closed.
"""

from __future__ import annotations

from rig import pairing
from rig.roles.ezsp_role import RoleError

from .catalogue import attack
from .context import AttackContext
from .gbcs import expect_no_answer, keyed_attacker, own_ccs01


async def advance_to_window_edge(ctx: AttackContext, before: float = 1.0) -> None:
    """Jump the clock to ``before`` seconds before the window closes (59:59 for 1 s)."""
    powered = ctx.ch.core.powered_at if ctx.ch is not None else ctx.clock.now()
    left = powered + pairing.INTERPAN_WINDOW_S - before - ctx.clock.now()
    if left > 0:
        await ctx.advance_ch_clock(left)


@attack("ke_at_5959_ccs01_after_grace", family="window", source="rig", constant="INTERPAN_SESSION_MAX_S",
        policies=("gbcs",), expect=("interpan_window_closed", "interpan_reception_off"),
        rule="a session begun at 59:59 may finish within INTERPAN_SESSION_MAX_S; its CCS01 sent after that grace "
             "is refused (or never reaches the CH once reception is off)")
async def ke_at_5959_ccs01_after_grace(ctx: AttackContext) -> None:
    """At 59:59 the attacker runs key establishment (inside the window); it sends its own genuine CCS01
    only after the grace has passed."""
    data = await own_ccs01(ctx)
    await advance_to_window_edge(ctx)
    eui, key = await keyed_attacker(ctx)
    await ctx.advance_ch_clock(pairing.INTERPAN_SESSION_MAX_S + 2)
    await ctx.settle(None, 0)
    since = ctx.events.now()
    await ctx.send_gbcs(data, key)
    await expect_no_answer(ctx, eui, since, "CCS01 after the grace")


@attack("new_hht_during_grace", family="window", source="rig", constant="INTERPAN_SESSION_MAX_S",
        policies=("gbcs",), expect="interpan_window_closed",
        rule="while a session begun inside the window finishes, a new HHT starting after 60:00 is refused")
async def new_hht_during_grace(ctx: AttackContext) -> None:
    """At 59:59 the attacker begins a session (key establishment); at 60:01 a genuine HHT starts pairing."""
    await advance_to_window_edge(ctx)
    await keyed_attacker(ctx)
    await ctx.advance_ch_clock(2.0)
    hht = await ctx.legit_hht()
    try:
        await ctx.settle(hht.power_on(ctx.ids.gpf), 30.0)
        ctx.breach("a new HHT paired after the window closed")
    except (RoleError, TimeoutError) as exc:
        ctx.saw(f"new HHT after 60:00: {getattr(exc, 'reason', exc)}")
