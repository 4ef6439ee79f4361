"""Residency: an HHT's stay on the SM HAN ends after ``HHT_RESIDENCY_S`` (18 h) or at the next CH
power-on.  Afterwards it must not come back with what it still holds — its CBKE link key or install-code
key (rejoin/association), its tunnel, its old CCS01 over inter-PAN — nor stretch its stay by a CCS01
naming itself through its tunnel.  A second HHT pairing while one is on the HAN is allowed (rig choice)
and does not change the first one's residency.
"""

from __future__ import annotations

import asyncio

import bellows.types as t

from rig import pairing
from rig.gbcs import Message, Role
from rig.roles.ezsp_role import RoleError
from rig.zigbee.install_code import link_key_from_code

from .catalogue import SILENT, attack
from .context import AttackContext
from .gbcs import AttackSetupError, legit_pairing


def watch_network_down(hht) -> asyncio.Future:
    """Resolves when the HHT's NCP reports NETWORK_DOWN (it was sent off the HAN, over the air)."""
    down = asyncio.get_running_loop().create_future()
    hht.role.on("stackStatusHandler", lambda status, *_: t.sl_Status.from_ember_status(status)
                == t.sl_Status.NETWORK_DOWN and not down.done() and down.set_result(True))
    return down


async def end_residency(ctx: AttackContext, hht, how: str) -> None:
    """Let the HHT's residency end (``18h`` or ``power_on``) and wait until it has been sent off the HAN."""
    down = watch_network_down(hht)
    if how == "18h":
        entry = ctx.ch.core.log.get(ctx.ids.hht) if ctx.ch else None
        left = (entry.hht_expiry - ctx.clock.now()) if entry and entry.hht_expiry else pairing.HHT_RESIDENCY_S
        await ctx.advance_ch_clock(left + 1)
    else:
        if ctx.ch is not None:              # an hour on the HAN first (an external CH's time is its own)
            await ctx.advance_ch_clock(3600)
        await ctx.power_cycle_ch()
    try:
        await ctx.settle(down, 10.0)
        hht.role.pan_id = 0xFFFF                # off the HAN: its inter-PAN frames name no PAN of its own
        ctx.saw(f"the HHT was sent off the HAN ({how})")
    except TimeoutError:
        ctx.breach(f"the HHT was not sent off the HAN when its residency ended ({how})")


async def open_joining(ctx: AttackContext) -> None:
    """A legitimate reason for the CH to permit joining: the DCC commissions another device over the WAN."""
    if ctx.ch is None:
        return
    other = "00DB5A5A5A5A0C03"
    code = bytes(range(16))
    await ctx.ch.add_from_wan(ctx.premises.builder.ccs01(ctx.ids.chf, other, Role.PPMID, code).to_bytes())
    ctx.allowed.devices.add(other)
    counter = ctx.ch.core.counters.last(ctx.ids.keys.one(Role.ACB))
    ctx.allowed.counters[ctx.ids.keys.one(Role.ACB)] = counter
    ctx.saw("joining permitted (the DCC commissioned another device)")


async def try_rejoin(ctx: AttackContext, hht, cbke_key: bytes | None) -> None:
    role = hht.role
    net = hht.network
    for label, key in (("its CBKE link key", cbke_key), ("its install-code key", link_key_from_code(hht.install_code))):
        if key is None:
            continue
        try:
            status = await ctx.settle(role.join(int(net.channel), int(net.panId), net.extendedPanId, key), 30.0)
        except TimeoutError:
            status = "join_timeout"
        if status == "ok":
            ctx.breach(f"the removed HHT rejoined the HAN with {label} (it received the network key)")
            await role.leave()
        else:
            ctx.saw(f"rejoin with {label}: {status}")


async def removed_hht_rejoins(ctx: AttackContext, how: str) -> None:
    hht = await legit_pairing(ctx)
    cbke_key = await hht.role.link_key_for(ctx.ch_eui)
    await end_residency(ctx, hht, how)
    if ctx.ch is not None and ctx.ids.hht in (await ctx.snapshot())["key_table"]:
        ctx.breach("the removed HHT's CBKE link key is still in the trust centre's key table")
    await ctx.take_baseline()
    ctx.mark()
    await open_joining(ctx)
    await try_rejoin(ctx, hht, cbke_key)


REJOIN_RULE = ("a device not in the CHF device log never gets onto the HAN, whatever key it holds; a removed "
               "HHT's keys leave the trust centre")


@attack("removed_hht_rejoins_after_18h", family="residency", source="rig", constant="HHT_RESIDENCY_S",
        expect="not_in_device_log",
        rule=f"after its HHT_RESIDENCY_S (18 h): {REJOIN_RULE}")
async def removed_hht_rejoins_after_18h(ctx: AttackContext) -> None:
    """The HHT pairs and stays; 18 h later the CH removes it; while joining is open it rejoins with its
    CBKE link key, then with its install-code key."""
    await removed_hht_rejoins(ctx, "18h")


@attack("removed_hht_rejoins_after_power_on", family="residency", source="rig", constant="HHT_RESIDENCY_S",
        expect="not_in_device_log",
        rule=f"after a CH power-on ends its residency: {REJOIN_RULE}")
async def removed_hht_rejoins_after_power_on(ctx: AttackContext) -> None:
    """The HHT pairs; the CH is power-cycled (removing it); while joining is open it rejoins with its
    CBKE link key, then with its install-code key."""
    await removed_hht_rejoins(ctx, "power_on")


@attack("removed_hht_ignores_leave", family="residency", source="rig", constant="HHT_RESIDENCY_S",
        expect=("not_in_device_log", SILENT), needs_air=True,
        rule="an HHT that ignores Mgmt_Leave after its 18 h gets nothing more: no tunnel, no GBCS through its "
             "old tunnel (the CH refuses it as not in the log, or, once its CBKE link key is erased at the trust "
             "centre, the CH's NCP cannot decrypt its APS frames and drops them before the host)")
async def removed_hht_ignores_leave(ctx: AttackContext) -> None:
    """The HHT pairs and opens its tunnel; it does not hear (ignores) the Mgmt_Leave at 18 h; then it asks
    for a new tunnel and sends a genuine CCS01 through its old one."""
    air = ctx.premises.air
    if air is None:
        raise AttackSetupError("ignoring Mgmt_Leave is played by the emulated air (the HHT out of the CH's range)")
    hht = await legit_pairing(ctx)
    old_tunnel = hht.tunnel_id
    air.set_out_of_range("ch", "ppmid")
    entry = ctx.ch.core.log.get(ctx.ids.hht) if ctx.ch else None
    await ctx.advance_ch_clock((entry.hht_expiry - ctx.clock.now() + 1) if entry else pairing.HHT_RESIDENCY_S + 1)
    await ctx.settle(None, 10.0)
    air.set_out_of_range("ch", "ppmid", False)
    await ctx.take_baseline()
    ctx.mark()
    try:
        await ctx.settle(hht.open_tunnel(), pairing.RESPONSE_TIMEOUT_S)
        ctx.breach(f"the removed HHT was given a tunnel ({hht.tunnel_id})")
    except (RoleError, TimeoutError):
        ctx.saw("no tunnel for the removed HHT")
    hht.tunnel_id = old_tunnel
    command = ctx.premises.ccs01_for_hht()
    try:
        await ctx.settle(hht.send_gbcs(command), pairing.RESPONSE_TIMEOUT_S)
        ctx.breach("the removed HHT's CCS01 through its old tunnel was answered")
    except (RoleError, TimeoutError):
        ctx.saw("no answer through the removed HHT's old tunnel")


@attack("removed_hht_interpan_again", family="residency", source="GBCS", expect="gbcs_rejected:counter_not_newer",
        policies=("secmp0037",),
        rule="after its 18 h an HHT cannot come back over inter-PAN with the CCS01 it already used (a replay); "
             "under gbcs the closed window already keeps it out, so the attack is for the always-open door")
async def removed_hht_interpan_again(ctx: AttackContext) -> None:
    """The HHT pairs; 18 h later it is removed; it runs inter-PAN pairing again with its old CCS01."""
    hht = await legit_pairing(ctx)
    await end_residency(ctx, hht, "18h")
    await ctx.take_baseline()
    ctx.mark()
    try:
        await ctx.settle(hht.interpan_pairing(), 30.0)
        ctx.breach("the removed HHT's old CCS01 was answered over inter-PAN")
    except (RoleError, TimeoutError) as exc:
        ctx.saw(f"old CCS01 over inter-PAN: {getattr(exc, 'reason', exc)}")


@attack("hht_extends_itself_via_tunnel", family="residency", source="rig", constant="HHT_RESIDENCY_S",
        expect=("ccs01_names_sender", "hht_entry_not_extendable"),
        rule="an HHT cannot make itself permanent: a CCS01 naming itself, sent through its own tunnel, is refused "
             "and it is still sent off after HHT_RESIDENCY_S (ccs01_names_sender; a CH checking the entry first "
             "says hht_entry_not_extendable)")
async def hht_extends_itself_via_tunnel(ctx: AttackContext) -> None:
    """The HHT pairs; through its tunnel it sends a fresh genuine CCS01 naming itself; 18 h later it must
    still be sent off the HAN."""
    hht = await legit_pairing(ctx)
    command = ctx.premises.ccs01_for_hht()
    try:
        await ctx.settle(hht.send_gbcs(command), pairing.RESPONSE_TIMEOUT_S)
        ctx.breach("the CH answered the HHT's CCS01 naming itself through its tunnel")
    except (RoleError, TimeoutError):
        ctx.saw("no answer to the CCS01 naming the HHT through its tunnel")
    ctx.allowed.devices.add(ctx.ids.hht)        # its removal at 18 h is the legitimate outcome
    await end_residency(ctx, hht, "18h")
    entry = ctx.ch.core.log.get(ctx.ids.hht) if ctx.ch else None
    if entry is not None:
        ctx.breach(f"the HHT is still in the device log after 18 h (expiry {entry.hht_expiry})")


@attack("second_hht_keeps_first_residency", family="residency", source="rig", constant="SECOND_HHT_ALLOWED",
        expect="hht_residency_over",
        rule="a second HHT may pair while one is on the HAN (SECOND_HHT_ALLOWED); each keeps its own "
             "HHT_RESIDENCY_S: the second's pairing neither extends nor ends the first's")
async def second_hht_keeps_first_residency(ctx: AttackContext) -> None:
    """HHT A pairs; 30 min later (inside the gbcs window too) HHT B, on another dongle, pairs; at A's 18 h
    A is sent off and B stays."""
    from .gbcs import pair_or_breach

    first = await legit_pairing(ctx)
    first_entry = ctx.ch.core.log.get(ctx.ids.hht) if ctx.ch else None
    await ctx.advance_ch_clock(30 * 60)
    second = await ctx.legit_hht(dongle="hht2", name="HHT2")
    ctx.allowed.devices.update({ctx.ids.hht})
    ctx.allowed.counters[ctx.ids.keys.one(Role.ACB)] = Message.from_bytes(second.ccs01).counter
    if not await pair_or_breach(ctx, second, "a second HHT while the first is on the HAN"):
        return
    ctx.allowed.devices.add(second.role.eui64)
    second_down = watch_network_down(second)
    if first_entry is not None and ctx.ch.core.log.get(ctx.ids.hht) != first_entry:
        ctx.breach("the second HHT's pairing changed the first HHT's device-log entry")
    await end_residency(ctx, first, "18h")
    if second_down.done():
        ctx.breach("the second HHT was sent off at the first HHT's 18 h")
    else:
        ctx.saw("the second HHT stays on the HAN")
