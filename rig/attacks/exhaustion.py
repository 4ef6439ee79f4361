"""Exhaustion: floods from spoofed sources while a legitimate HHT pairs.  The legitimate pairing
succeeds, and (where the CH is ours) its per-sender inter-PAN state stays bounded.

``STATE_BOUND`` is the catalogue's bound on the CH's per-sender inter-PAN state (key-establishment
responders, sessions, reassembly buffers, link keys) during a flood: far below the flood's size, so
state that grows with the number of spoofed senders is caught.
"""

from __future__ import annotations

import asyncio
import os
import struct

from rig import pairing
from rig.cbke.certificate import Certificate283k1
from rig.gbcs import Message, Role

from .catalogue import attack
from .context import AttackContext
from .interpan import ke_initiate

FLOOD_KE = 1000
FLOOD_JUNK = 300
STATE_BOUND = 64
FLOOD_TAIL = 100         # frames of the flood still to go when the legitimate HHT starts pairing
PAIRING_BOUND_S = 60.0   # clock seconds the legitimate HHT's pairing may take (its own retries end sooner)
DRAIN_S = 3.0            # clock seconds after the flood before the CH's remaining state is counted
SAMPLE_S = 0.02          # clock seconds between samples of the CH's per-sender state


def per_sender_state(ctx: AttackContext) -> int:
    """The largest per-sender table of our CH program: every dict/set attribute of the shim whose name
    says inter-PAN (responders, reassembly buffers, link keys, whatever the CH keeps), and the core's
    inter-PAN sessions."""
    ch = ctx.ch
    if ch is None:
        return 0
    tables = [v for k, v in vars(ch).items() if "interpan" in k and isinstance(v, dict | set)]
    tables += [v for k, v in vars(ch.core).items() if k == "sessions" or ("interpan" in k and isinstance(v, dict | set))]
    return max((len(v) for v in tables), default=0)


async def pair_during_flood(ctx: AttackContext, hht, what: str) -> bool:
    """The legitimate ``hht`` pairs (inter-PAN CCS01 answered, joined, tunnel open) within
    ``PAIRING_BOUND_S`` of the clock; a breach when it cannot.  Bounded in clock time only: how many
    real seconds a loaded machine needs for it cannot change the verdict."""
    from rig.roles.ezsp_role import RoleError

    try:
        await ctx.clock.wait_for(hht.power_on(ctx.ids.gpf), PAIRING_BOUND_S, "the legitimate HHT's pairing")
    except (RoleError, TimeoutError) as exc:
        ctx.breach(f"the legitimate HHT could not pair ({what}): {getattr(exc, 'reason', exc)}")
        return False
    ctx.saw(f"the legitimate HHT paired ({what})")
    return True


async def flood_while_pairing(ctx: AttackContext, frames: list[bytes], what: str) -> None:
    """Inject ``frames`` from the attacker's dongle; the legitimate HHT starts pairing while the last
    ``FLOOD_TAIL`` of them are still to go.  Everything is measured on the clock (the loop's time on
    emulation), and the HHT's start is fixed by the flood's progress in frames, not in seconds: on a
    loaded machine each injection costs more real (and so loop) time, and a start fixed in seconds put
    the HHT's whole retry budget inside a flood that had slowed down (``no_answer_from_ch``)."""
    hht = await ctx.legit_hht()
    ctx.allowed.devices.add(ctx.ids.hht)
    ctx.allowed.link_keys.add(ctx.ids.hht)
    ctx.allowed.counters[ctx.ids.keys.one(Role.ACB)] = Message.from_bytes(hht.ccs01).counter
    await ctx.attacker()
    clock = ctx.clock
    peak = 0
    stop = asyncio.Event()
    tail = asyncio.Event()

    async def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, per_sender_state(ctx))
            await clock.sleep(SAMPLE_S)

    took = []

    async def flood():
        started = clock.now()
        for sent, mpdu in enumerate(frames):
            if len(frames) - sent <= FLOOD_TAIL:
                tail.set()
            await ctx.inject(mpdu, wait=False)
        tail.set()
        took.append(clock.now() - started)

    began = clock.now()
    sampler = asyncio.ensure_future(sample())
    flooding = asyncio.ensure_future(flood())
    try:
        await tail.wait()                          # the flood is under way when the HHT starts
        paired_at = clock.now() - began
        await pair_during_flood(ctx, hht, f"during {what}")
        await flooding
        await clock.sleep(DRAIN_S)                 # not the backlog a CH that keeps every request would drain
    finally:
        stop.set()
        flooding.cancel()
        await asyncio.gather(sampler, flooding, return_exceptions=True)
    peak = max(peak, per_sender_state(ctx))
    ctx.saw(f"sent {len(frames)} frames in {took[0] if took else float('nan'):.1f} clock s ({what}), the HHT "
            f"starting {paired_at:.1f} s in with {min(FLOOD_TAIL, len(frames))} to go; CH per-sender state "
            f"peaked at {peak}; flood and pairing took {clock.now() - began:.1f} clock s")
    if ctx.ch is not None and peak > STATE_BOUND:
        ctx.breach(f"the CH's per-sender inter-PAN state grew to {peak} entries (bound {STATE_BOUND})")
    left = per_sender_state(ctx)
    if ctx.ch is not None and left > STATE_BOUND:
        ctx.breach(f"{left} per-sender entries remain after the flood")


def spoofed() -> str:
    return os.urandom(8).hex().upper()


def initiate_as(payload: bytes, eui: str) -> bytes:
    """An Initiate payload whose certificate names ``eui`` (ECQV certificates carry no signature: anyone can
    write one for any subject, though nobody holds its private key)."""
    cert = Certificate283k1.decode(payload[4:]).replace(subject=bytes.fromhex(eui)).encode()
    return payload[:4] + cert


@attack("ke_flood_spoofed_sources", family="exhaustion", source="rig", constant="INTERPAN_MAX_SESSIONS",
        expect=("ke_rate_limited", "session_not_established", "interpan_sessions_full"),
        rule="1000 Key Establishment requests from spoofed sources within seconds neither stop a legitimate HHT "
             "pairing nor grow the CH's per-sender state without bound (INTERPAN_MAX_SESSIONS slots, evicted "
             "by least progress then age; INTERPAN_KE_ANSWERING Initiates answered at once, the rest dropped; "
             "the HHT retries INTERPAN_ATTEMPTS times)")
async def ke_flood_spoofed_sources(ctx: AttackContext) -> None:
    """1000 genuine-looking Initiate Key Establishment Requests from 1000 random EUI-64s, each with a
    certificate naming its source (the attacker's, subject rewritten), while the HHT pairs."""
    payload = await ke_initiate(ctx)
    sources = [spoofed() for _ in range(FLOOD_KE)]
    frames = [ctx.interpan_mpdu(pairing.KE_CLUSTER, ctx.zcl(0x00, initiate_as(payload, src)), src=src)
              for src in sources]
    await flood_while_pairing(ctx, frames, f"a flood of {FLOOD_KE} KE requests")


@attack("secured_junk_flood", family="exhaustion", source="ZigBee/SE", expect="aps_security_failed",
        rule="a flood of APS-secured junk (random ciphertext) from spoofed sources is refused frame by frame, "
             "keeps no per-sender state and does not stop a legitimate HHT pairing")
async def secured_junk_flood(ctx: AttackContext) -> None:
    """300 secured-looking TransferData frames with random ciphertext from random EUI-64s, while the HHT pairs."""
    frames = [ctx.interpan_mpdu(pairing.TUNNEL_CLUSTER, b"", src=spoofed(),
                                junk_ciphertext=struct.pack("<H", 0) + os.urandom(40)) for _ in range(FLOOD_JUNK)]
    await flood_while_pairing(ctx, frames, f"a flood of {FLOOD_JUNK} secured junk frames")
