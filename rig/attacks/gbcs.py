"""GBCS over inter-PAN: what a key-holding SE device (any device with a CBKE certificate from the CA,
e.g. a stolen HHT) sends the CH once it has run key establishment with it — replays, altered, stale,
misaddressed and out-of-place commands, and broken tunnel data.

The attacker runs CBKE with the CH as itself (the always-open door lets any SE device do that) and then
sends GBCS in APS-secured TransferData segments, exactly as an HHT sends its own CCS01.  The DCC-built
commands come from the premises' GBCS builder: they stand for genuine commands the attacker obtained
(a lost HHT's store, a supplier's system); the CH must refuse them where they do not belong.
"""

from __future__ import annotations

import os

from rig import pairing
from rig.gbcs import DeviceType, Message, Role

from .catalogue import attack
from .context import AttackContext


class AttackSetupError(RuntimeError):
    """The attack could not be set up (e.g. key establishment with the CH failed)."""


async def keyed_attacker(ctx: AttackContext) -> tuple[str, bytes]:
    """The attacker's EUI-64 and the CBKE link key it agreed with the CH over inter-PAN."""
    role = await ctx.attacker()
    key = await ctx.cbke()
    if key is None:
        raise AttackSetupError("key establishment with the CH failed (every SE device may run it)")
    return role.eui64, key


async def expect_no_answer(ctx: AttackContext, eui: str, since: float, what: str, *, wait: float = 0.0) -> bool:
    """True (and a breach recorded) when the CH answered ``eui`` with TransferData since ``since``."""
    await ctx.settle(None, wait)
    answers = ctx.answers_to(eui, since=since, cluster=pairing.TUNNEL_CLUSTER)
    if answers:
        ctx.breach(f"the CH answered the {what} over inter-PAN ({len(answers)} TransferData frame(s) to {eui})")
        return True
    ctx.saw(f"no answer to the {what} over inter-PAN")
    return False


def last_acb_counter(ctx: AttackContext) -> int:
    """The counter of the DCC's (ACB's) last command: the CH has accepted it (the ESME's CCS01)."""
    builder = ctx.premises.builder
    return builder.next_counter(ctx.ids.keys.one(Role.ACB)) - 1


async def own_ccs01(ctx: AttackContext, **kw) -> bytes:
    """A DCC-built CCS01 registering the attacker as an HHT (what a legitimate HHT holds for itself)."""
    role = await ctx.attacker()
    code = await ctx.attacker_install_code()
    return ctx.premises.builder.ccs01(ctx.ids.chf, role.eui64, kw.pop("device_type", Role.HHT), code, **kw).to_bytes()


def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


async def send_and_observe(ctx: AttackContext, data: bytes, what: str, *, key_eui: tuple[str, bytes] | None = None,
                           pieces: list[bytes] | None = None, wait: float = 0.0) -> None:
    eui, key = key_eui or await keyed_attacker(ctx)
    since = ctx.events.now()
    await ctx.send_gbcs(data, key, pieces=pieces)
    await expect_no_answer(ctx, eui, since, what, wait=wait)


# --- altered commands -----------------------------------------------------------------------------------

@attack("ccs01_bad_mac", family="gbcs", source="GBCS", expect="gbcs_rejected:bad_mac",
        rule="a command's MAC (ACB key-agreement key x the CHF's) must verify: one flipped bit in the MAC is refused")
async def ccs01_bad_mac(ctx: AttackContext) -> None:
    """A CCS01 for the attacker itself with one bit of its MAC flipped."""
    data = await own_ccs01(ctx)
    await send_and_observe(ctx, flip(data, len(data) - 1), "CCS01 with a flipped MAC bit")


@attack("ccs01_payload_flip", family="gbcs", source="GBCS", expect="gbcs_rejected:bad_mac",
        rule="the MAC covers the payload: a CCS01 whose install code has one bit flipped is refused")
async def ccs01_payload_flip(ctx: AttackContext) -> None:
    """A CCS01 for the attacker with one bit of the install code in its payload flipped."""
    code = await ctx.attacker_install_code()
    data = await own_ccs01(ctx)
    await send_and_observe(ctx, flip(data, data.index(code) + 3), "CCS01 with a flipped payload bit")


@attack("ccs01_counter_flip", family="gbcs", source="GBCS", expect="gbcs_rejected:bad_mac",
        rule="the MAC covers the originator counter: a CCS01 whose counter has one bit flipped (made newer) is refused")
async def ccs01_counter_flip(ctx: AttackContext) -> None:
    """A CCS01 for the attacker whose counter has a high bit flipped (a far newer counter)."""
    data = await own_ccs01(ctx)
    counter = Message.from_bytes(data).counter
    at = data.index(counter.to_bytes(8, "big"))
    await send_and_observe(ctx, flip(data, at + 2, 4), "CCS01 with a flipped counter bit")


@attack("ccs01_counter_equal", family="gbcs", source="GBCS", expect="gbcs_rejected:counter_not_newer",
        rule="the originator counter must be strictly greater than the last accepted: equal is refused")
async def ccs01_counter_equal(ctx: AttackContext) -> None:
    """A genuine CCS01 for the attacker carrying the counter the CH last accepted from the ACB."""
    data = await own_ccs01(ctx, counter=last_acb_counter(ctx))
    await send_and_observe(ctx, data, "CCS01 with the last accepted counter")


@attack("ccs01_counter_older", family="gbcs", source="GBCS", expect="gbcs_rejected:counter_not_newer",
        rule="the originator counter must be strictly greater than the last accepted: an older one is refused")
async def ccs01_counter_older(ctx: AttackContext) -> None:
    """A genuine CCS01 for the attacker with a counter 1000 below the last accepted."""
    data = await own_ccs01(ctx, counter=last_acb_counter(ctx) - 1000)
    await send_and_observe(ctx, data, "CCS01 with an older counter")


@attack("ccs01_wrong_recipient", family="gbcs", source="GBCS", expect="gbcs_rejected:wrong_recipient",
        rule="a command is executed only by its recipient: a CCS01 addressed to the GPF is refused by the CHF")
async def ccs01_wrong_recipient(ctx: AttackContext) -> None:
    """A genuine CCS01 for the attacker addressed to the GPF instead of the CHF."""
    role = await ctx.attacker()
    code = await ctx.attacker_install_code()
    data = ctx.premises.builder.ccs01(ctx.ids.gpf, role.eui64, Role.HHT, code).to_bytes()
    await send_and_observe(ctx, data, "CCS01 addressed to the GPF")


# --- genuine commands out of place ----------------------------------------------------------------------

@attack("ccs01_device_type_esme", family="gbcs", source="rig", constant="HHT_DEVICE_TYPE",
        expect="interpan_device_type_not_hht",
        rule="over inter-PAN a CCS01 may register its sender only as an HHT (device type HHT_DEVICE_TYPE); "
             "one claiming device type ESME is refused")
async def ccs01_device_type_esme(ctx: AttackContext) -> None:
    """The attacker's own genuine CCS01, but registering it with device type ESME."""
    data = await own_ccs01(ctx, device_type=DeviceType.ESME)
    await send_and_observe(ctx, data, "CCS01 claiming device type ESME")


@attack("ccs02_over_interpan", family="gbcs", source="rig", constant="INTERPAN_CHF_COMMANDS",
        expect="interpan_command_not_allowed",
        rule="over inter-PAN the CHF executes only the sender's own CCS01 (INTERPAN_CHF_COMMANDS): a genuine "
             "CCS02 removing the ESME is refused")
async def ccs02_over_interpan(ctx: AttackContext) -> None:
    """A genuine DCC-built CCS02 (remove the ESME from the device log) sent over inter-PAN."""
    data = ctx.premises.builder.ccs02(ctx.ids.chf, ctx.ids.esme).to_bytes()
    await send_and_observe(ctx, data, "CCS02 removing the ESME")


@attack("cs03c_over_interpan", family="gbcs", source="rig", constant="INTERPAN_CHF_COMMANDS",
        expect=("gbcs_rejected:unsupported_message_code", "interpan_command_not_allowed"),
        rule="codes an HHT may not send over inter-PAN (INTERPAN_CHF_COMMANDS): a genuine CS03C joining the "
             "attacker to the GPF is refused (our CHF refuses a code it does not execute before asking the "
             "channel, unsupported_message_code; a CH checking the channel first says "
             "interpan_command_not_allowed)")
async def cs03c_over_interpan(ctx: AttackContext) -> None:
    """A genuine CS03C (join the attacker to the GPF as a PPMID) sent to the CH over inter-PAN."""
    role = await ctx.attacker()
    data = ctx.premises.builder.join("CS03C", ctx.ids.gpf, role.eui64, DeviceType.PPMID, critical=False).to_bytes()
    await send_and_observe(ctx, data, "CS03C for the GPF")
    if role.eui64 in ctx.ch.gpf.partners if ctx.ch else False:
        ctx.breach("the GPF took the attacker as a partner")


@attack("ccs01_for_another_device", family="gbcs", source="rig", constant="INTERPAN_TUNNEL_ID",
        expect="ccs01_not_for_sender",
        rule="an inter-PAN CCS01 may register only its sender; one for another device is refused and "
             "moves no counter (counters move only on acceptance)")
async def ccs01_for_another_device(ctx: AttackContext) -> None:
    """A genuine CCS01 for the HHT (identity A), sent by the attacker under its own identity."""
    data = ctx.premises.ccs01_for_hht()
    await send_and_observe(ctx, data, "CCS01 for another device")


@attack("refused_command_burns_counter", family="gbcs", source="GBCS", expect="ccs01_not_for_sender",
        rule="counters move only on acceptance: a refused command must not lock out the legitimate HHT's "
             "next (older-countered) CCS01")
async def refused_command_burns_counter(ctx: AttackContext) -> None:
    """The HHT's CCS01 is made first; the attacker then sends a newer genuine CCS01 naming the HHT
    (refused: not its sender); the HHT must still pair with its own."""
    hht_ccs01 = ctx.premises.ccs01_for_hht()
    newer = ctx.premises.ccs01_for_hht()
    await send_and_observe(ctx, newer, "newer CCS01 naming the HHT")
    hht = await ctx.legit_hht(ccs01=hht_ccs01)
    ctx.allowed.devices.add(ctx.ids.hht)
    ctx.allowed.counters[ctx.ids.keys.one(Role.ACB)] = Message.from_bytes(hht_ccs01).counter
    await pair_or_breach(ctx, hht, "the HHT's own CCS01 after the refused one")


async def pair_or_breach(ctx: AttackContext, hht, what: str, *, han: bool = True) -> bool:
    """The legitimate ``hht`` pairs (inter-PAN CCS01 answered; joined and tunnel open with ``han``);
    a breach when it cannot."""
    from rig.roles.ezsp_role import RoleError

    try:
        if han:
            await ctx.settle(hht.power_on(ctx.ids.gpf), 60.0, max_real=60.0)
        else:
            await hht.role.read_eui64()
            await ctx.settle(hht.find_ch(ctx.ids.gpf), 5.0)
            await ctx.settle(hht.interpan_pairing(), 30.0, max_real=60.0)
    except (RoleError, TimeoutError) as exc:
        ctx.breach(f"the legitimate HHT could not pair ({what}): {getattr(exc, 'reason', exc)}")
        return False
    ctx.saw(f"the legitimate HHT paired ({what})")
    return True


# --- replays --------------------------------------------------------------------------------------------

async def legit_pairing(ctx: AttackContext, **kw):
    """A legitimate HHT pairs (its frames recorded); its changes to the CH's state are allowed."""
    hht = await ctx.legit_hht(**kw)
    if not await pair_or_breach(ctx, hht, "before the attack"):
        raise AttackSetupError("the legitimate HHT did not pair before the attack")
    await ctx.take_baseline()
    ctx.mark()
    return hht


@attack("ccs01_replay_same_frames", family="gbcs", source="GBCS",
        expect=("aps_security_failed", "gbcs_rejected:counter_not_newer"),
        rule="a replayed command is refused: the HHT's accepted CCS01, its inter-PAN frames re-injected "
             "byte for byte after it paired (our CH has dropped the session's key, aps_security_failed; a CH "
             "keeping it would refuse the stale counter, counter_not_newer)")
async def ccs01_replay_same_frames(ctx: AttackContext) -> None:
    """The HHT pairs; the attacker re-injects the APS-secured TransferData MPDUs it heard."""
    await legit_pairing(ctx)
    segments = ctx.recorded_segments()
    since = ctx.events.now()
    await ctx.inject_all(segments)
    ctx.saw(f"re-injected the HHT's {len(segments)} CCS01 segment(s)")
    await expect_no_answer(ctx, ctx.ids.hht, since, "replayed CCS01 frames")


@attack("ccs01_replay_fresh_aps", family="gbcs", source="GBCS",
        expect=("gbcs_rejected:counter_not_newer", "ccs01_not_for_sender"),
        rule="a replayed command is refused however it is carried: the HHT's accepted CCS01 bytes re-sent in "
             "fresh APS frames under the attacker's own key")
async def ccs01_replay_fresh_aps(ctx: AttackContext) -> None:
    """The HHT pairs; an attacker without the HHT's key re-sends the same CCS01 bytes in new APS frames
    secured with the key it agreed with the CH itself."""
    hht = await legit_pairing(ctx)
    await send_and_observe(ctx, hht.ccs01, "replayed CCS01 bytes in fresh frames")


# --- tunnel data ----------------------------------------------------------------------------------------

@attack("tunnel_garbage", family="gbcs", source="rig", constant="SEGMENT_BYTES",
        expect=("not_a_message_start", "undecodable"),
        rule="tunnel data that is not GBCS is dropped with a reason (not_a_message_start; undecodable when "
             "the random bytes happen to begin like a GBCS header)")
async def tunnel_garbage(ctx: AttackContext) -> None:
    """Random bytes (three frames' worth) in GBT blocks from the keyed attacker; the clock passes the
    session bound."""
    eui, key = await keyed_attacker(ctx)
    since = ctx.events.now()
    await ctx.send_gbcs(os.urandom(3 * pairing.SEGMENT_BYTES), key)
    await ctx.settle(None, pairing.INTERPAN_SESSION_MAX_S)
    await expect_no_answer(ctx, eui, since, "garbage tunnel data")


@attack("tunnel_truncated", family="gbcs", source="rig", constant="REASSEMBLY_TIMEOUT_S",
        expect="message_incomplete",
        rule="a GBCS message cut short in the tunnel is dropped with a reason once the reassembly bound "
             "(REASSEMBLY_TIMEOUT_S after the sender's last segment) passes; nothing is executed")
async def tunnel_truncated(ctx: AttackContext) -> None:
    """The attacker's own CCS01 without its last segment; the clock passes the reassembly bound."""
    data = await own_ccs01(ctx)
    pieces = ctx.blocks(data)[:-1]
    eui, key = await keyed_attacker(ctx)
    since = ctx.events.now()
    await ctx.send_gbcs(data, key, pieces=pieces)
    await ctx.settle(None, pairing.REASSEMBLY_TIMEOUT_S + 1)
    await expect_no_answer(ctx, eui, since, "truncated CCS01")


@attack("tunnel_oversized", family="gbcs", source="GBCS", expect="message_too_long",
        rule="tunnel data beyond the 1500-byte GB-HRGP maximum (TUNNEL_MAX_TRANSFER) is refused with a reason")
async def tunnel_oversized(ctx: AttackContext) -> None:
    """The attacker's valid CCS01 padded past 1500 bytes (trailing junk, in GBT blocks)."""
    data = await own_ccs01(ctx)
    padded = data + os.urandom(pairing.TUNNEL_MAX_TRANSFER + 100 - len(data))
    await send_and_observe(ctx, padded, "oversized CCS01")


@attack("tunnel_reordered_segments", family="gbcs", source="rig", constant="SEGMENT_BYTES",
        expect=("not_a_message_start", "block_out_of_order"),
        rule="GBT blocks of a message arriving out of order do not form a command: dropped with a reason (the "
             "second block first is not_a_message_start, the third after the first then block_out_of_order)")
async def tunnel_reordered_segments(ctx: AttackContext) -> None:
    """The attacker's own CCS01 with its first two GBT blocks swapped."""
    data = await own_ccs01(ctx)
    pieces = ctx.blocks(data)
    pieces[0], pieces[1] = pieces[1], pieces[0]
    await send_and_observe(ctx, data, "CCS01 with reordered segments", pieces=pieces, wait=pairing.INTERPAN_SESSION_MAX_S)


@attack("tunnel_duplicated_segment", family="gbcs", source="rig", constant="SEGMENT_BYTES",
        expect="block_out_of_order",
        rule="a middle GBT block sent twice (fresh APS frame) does not form a command: dropped with a reason")
async def tunnel_duplicated_segment(ctx: AttackContext) -> None:
    """The attacker's own CCS01 with its second GBT block sent twice (a repeated first block may fairly
    restart the message, so the duplicate is in the middle)."""
    data = await own_ccs01(ctx)
    pieces = ctx.blocks(data)
    await send_and_observe(ctx, data, "CCS01 with a duplicated segment", pieces=[pieces[0], pieces[1], *pieces[1:]],
                           wait=pairing.INTERPAN_SESSION_MAX_S)


@attack("injected_segment_wedges_sender", family="gbcs", source="rig", constant="SEGMENT_BYTES",
        expect="aps_security_failed",
        rule="one replayed segment must not wedge a sender's reassembly: after the attacker re-injects one "
             "segment of the HHT's CCS01, the HHT pairs again (its next CCS01 is answered; the replay finds "
             "the session's key gone, aps_security_failed)")
async def injected_segment_wedges_sender(ctx: AttackContext) -> None:
    """The HHT pairs; the attacker re-injects the first of its recorded CCS01 segments; the HHT comes back
    with a new CCS01 over inter-PAN and must get its answer."""
    hht = await legit_pairing(ctx)
    await ctx.inject(ctx.recorded_segments()[0])
    ctx.saw("re-injected the first segment of the HHT's CCS01")
    await ctx.settle(None, 0)
    await hht.leave()
    again = ctx.premises.ccs01_for_hht()
    hht.ccs01 = again
    ctx.allowed.devices.add(ctx.ids.hht)       # its second pairing renews its entry: a legitimate change
    ctx.allowed.counters[ctx.ids.keys.one(Role.ACB)] = Message.from_bytes(again).counter
    await pair_or_breach(ctx, hht, "a second CCS01 after the injected segment", han=False)
