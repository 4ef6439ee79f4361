"""Inter-PAN framing: frames a CH must not act on — outside the plaintext allow-list by cluster,
profile, ZCL frame type, direction or delivery mode, unsecured where APS security is required, with a
bad MIC, and APS frame-counter replays.

The allow-list is the rig's record of Silicon Labs' SE inter-PAN list (``rig.pairing.PLAINTEXT_INTERPAN``):
only Key Establishment client->server commands, SE profile, cluster-specific, unicast, go unsecured.
A KE Initiate that slips through is seen on the air: the CH answers it (an Initiate response or a
Terminate) — that answer is the breach.
"""

from __future__ import annotations

import os
import struct

from rig import pairing
from rig.cbke.ke_cluster import SUITE_2

from .catalogue import attack
from .context import AttackContext
from .gbcs import expect_no_answer, legit_pairing


async def ke_initiate(ctx: AttackContext) -> bytes:
    """A genuine Initiate Key Establishment Request payload with the attacker's certificate."""
    role = await ctx.attacker()
    cert = await role.ke_engine().get_certificate(SUITE_2)
    return struct.pack("<HBB", SUITE_2, 10, 10) + cert


async def expect_no_ke_answer(ctx: AttackContext, mpdu: bytes, what: str) -> None:
    role = await ctx.attacker()
    since = ctx.events.now()
    await ctx.inject(mpdu)
    await ctx.settle(None, 0)
    answers = ctx.answers_to(role.eui64, since=since)
    started = [e for e in ctx.events.named("ch.cbke_interpan") if e.time >= since]
    if answers or started:
        ctx.breach(f"the CH acted on the {what}: {len(answers)} inter-PAN answer(s) to the attacker"
                   + (f", key establishment {started[0].result}" if started else ""))
    else:
        ctx.saw(f"no answer to the {what}")


PLAINTEXT_RULE = ("unsecured inter-PAN is accepted only for the plaintext allow-list (PLAINTEXT_INTERPAN: "
                  "Key Establishment, SE profile, cluster-specific, client->server, unicast)")


@attack("plaintext_tunnel_data", family="interpan", source="rig", constant="PLAINTEXT_INTERPAN",
        expect="not_allow_listed",
        rule="TransferData must be APS-secured: an unsecured CCS01 sent as the HHT by a keyless eavesdropper "
             "is refused (" + PLAINTEXT_RULE + ")")
async def plaintext_tunnel_data(ctx: AttackContext) -> None:
    """A keyless attacker sends the HHT's genuine CCS01 in unsecured TransferData claiming the HHT's address."""
    data = ctx.premises.ccs01_for_hht()
    since = ctx.events.now()
    pieces = ctx.blocks(data)
    for piece in pieces:
        zcl = ctx.zcl(pairing.CMD_TRANSFER_DATA_C2S, struct.pack("<H", pairing.INTERPAN_TUNNEL_ID) + piece)
        await ctx.inject(ctx.interpan_mpdu(pairing.TUNNEL_CLUSTER, zcl, src=ctx.ids.hht))
    await expect_no_answer(ctx, ctx.ids.hht, since, "unsecured CCS01 claiming the HHT")


@attack("plaintext_other_cluster", family="interpan", source="ZigBee/SE", expect="not_allow_listed",
        rule="the SE inter-PAN allow-list admits no other cluster unsecured: a Metering Read Attributes is refused")
async def plaintext_other_cluster(ctx: AttackContext) -> None:
    """An unsecured ZCL Read Attributes (Metering cluster, CurrentSummationDelivered) to the CH."""
    role = await ctx.attacker()
    zcl = ctx.zcl(0x00, b"\x00\x00", frame_type=0)
    await expect_no_ke_answer(ctx, ctx.interpan_mpdu(pairing.METERING_CLUSTER, zcl, src=role.eui64),
                              "plaintext Metering Read Attributes")


@attack("ke_wrong_profile", family="interpan", source="rig", constant="INTERPAN_PROFILE",
        expect="interpan_wrong_profile",
        rule="the allow-list is per profile: a Key Establishment Initiate in the Home Automation profile (0x0104) "
             "is refused (" + PLAINTEXT_RULE + ")")
async def ke_wrong_profile(ctx: AttackContext) -> None:
    """A genuine Initiate Key Establishment Request with APS profile 0x0104 instead of SE 0x0109."""
    role = await ctx.attacker()
    zcl = ctx.zcl(0x00, await ke_initiate(ctx))
    await expect_no_ke_answer(ctx, ctx.interpan_mpdu(pairing.KE_CLUSTER, zcl, src=role.eui64, profile=0x0104),
                              "Key Establishment Initiate in the HA profile")


@attack("ke_global_frame_type", family="interpan", source="rig", constant="INTERPAN_ZCL_FRAME_TYPE",
        expect="interpan_not_cluster_specific",
        rule="the allow-list is for cluster-specific commands: a profile-wide (global) command 0x00 on the Key "
             "Establishment cluster is refused (" + PLAINTEXT_RULE + ")")
async def ke_global_frame_type(ctx: AttackContext) -> None:
    """ZCL frame type 0 (global: Read Attributes) with command id 0 on the KE cluster, unsecured."""
    role = await ctx.attacker()
    zcl = ctx.zcl(0x00, await ke_initiate(ctx), frame_type=0)
    await expect_no_ke_answer(ctx, ctx.interpan_mpdu(pairing.KE_CLUSTER, zcl, src=role.eui64),
                              "global command 0x00 on the KE cluster")


@attack("ke_server_to_client", family="interpan", source="rig", constant="INTERPAN_DIRECTION",
        expect="interpan_wrong_direction",
        rule="the CH is the Key Establishment server: a KE command sent server->client (direction bit set) is "
             "refused (" + PLAINTEXT_RULE + ")")
async def ke_server_to_client(ctx: AttackContext) -> None:
    """A genuine Initiate Key Establishment payload with the ZCL direction bit set (server -> client)."""
    role = await ctx.attacker()
    zcl = ctx.zcl(0x00, await ke_initiate(ctx), direction=1)
    await expect_no_ke_answer(ctx, ctx.interpan_mpdu(pairing.KE_CLUSTER, zcl, src=role.eui64),
                              "server->client Key Establishment command")


@attack("ke_broadcast", family="interpan", source="rig", constant="INTERPAN_DELIVERY_MODE",
        expect="interpan_not_unicast",
        rule="inter-PAN pairing is unicast: a Key Establishment Initiate broadcast (APS delivery mode broadcast, "
             "MAC 0xFFFF) is refused (" + PLAINTEXT_RULE + ")")
async def ke_broadcast(ctx: AttackContext) -> None:
    """A genuine Initiate Key Establishment Request broadcast to PAN 0xFFFF, address 0xFFFF."""
    role = await ctx.attacker()
    zcl = ctx.zcl(0x00, await ke_initiate(ctx))
    await expect_no_ke_answer(ctx, ctx.interpan_mpdu(pairing.KE_CLUSTER, zcl, src=role.eui64, delivery="broadcast",
                                                     dst_pan=0xFFFF), "broadcast Key Establishment Initiate")


@attack("aps_data_frame_in_stub", family="interpan", source="ZigBee/SE", expect="interpan_unparseable",
        rule="an inter-PAN frame carries the APS inter-PAN stub (frame type 3); another APS frame type inside "
             "the stub is dropped with a reason")
async def aps_data_frame_in_stub(ctx: AttackContext) -> None:
    """An APS data frame (type 0, endpoints, counter) behind the inter-PAN NWK stub, carrying a KE Initiate."""
    role = await ctx.attacker()
    zcl = ctx.zcl(0x00, await ke_initiate(ctx))
    await expect_no_ke_answer(ctx, ctx.interpan_mpdu(pairing.KE_CLUSTER, zcl, src=role.eui64, aps_frame_type=0),
                              "APS data frame inside the inter-PAN stub")


@attack("secured_bad_mic", family="interpan", source="ZigBee/SE", expect="aps_security_failed",
        rule="APS-secured inter-PAN must decrypt with the sender's CBKE link key: random ciphertext claiming the "
             "HHT is refused")
async def secured_bad_mic(ctx: AttackContext) -> None:
    """The HHT pairs; a keyless attacker sends a secured-looking TransferData (random ciphertext + MIC)
    claiming the HHT's address."""
    await legit_pairing(ctx)
    since = ctx.events.now()
    await ctx.inject(ctx.interpan_mpdu(pairing.TUNNEL_CLUSTER, b"", src=ctx.ids.hht, junk_ciphertext=os.urandom(40)))
    await expect_no_answer(ctx, ctx.ids.hht, since, "secured junk claiming the HHT")


@attack("aps_frame_counter_replay", family="interpan", source="ZigBee/SE",
        expect="aps_security_failed",
        rule="a replayed APS-secured frame is not acted on: the last segment of the HHT's accepted CCS01, "
             "re-injected twice, is dropped with a reason (our CH has no key for it any more, "
             "aps_security_failed)")
async def aps_frame_counter_replay(ctx: AttackContext) -> None:
    """The HHT pairs; the attacker re-injects the last APS-secured segment it heard, twice."""
    await legit_pairing(ctx)
    last = ctx.recorded_segments()[-1]
    since = ctx.events.now()
    await ctx.inject(last)
    await ctx.inject(last)
    await expect_no_answer(ctx, ctx.ids.hht, since, "replayed APS frame", wait=pairing.INTERPAN_SESSION_MAX_S)


@attack("ke_claiming_the_hht", family="interpan", source="ZigBee/SE",
        expect=("ke_certificate_not_sender", "invalid_partner_message"),
        rule="CBKE binds the link key to the certificate's subject: an attacker claiming the HHT's address with its "
             "own (genuine) certificate gets no key (our CH drops the Initiate unanswered, "
             "ke_certificate_not_sender; a CH answering it with Terminate BAD_MESSAGE, as the SL plugin does, "
             "holds too: invalid_partner_message)")
async def ke_claiming_the_hht(ctx: AttackContext) -> None:
    """The attacker runs key establishment from the HHT's EUI-64 with its own CA-issued certificate, then
    sends the HHT's genuine CCS01 as if it had a key."""
    key = await ctx.cbke(src=ctx.ids.hht, timeout=pairing.KE_TIMEOUT_S)
    if key is not None:
        ctx.breach("the CH agreed a link key with an attacker claiming the HHT's address")
    answers = ctx.answers_to(ctx.ids.hht, cluster=pairing.KE_CLUSTER)
    ctx.saw(f"{len(answers)} KE frame(s) from the CH to the claimed address")


@attack("ke_spoofed_interleave", family="interpan", source="ZigBee/SE",
        expect=("ke_certificate_not_sender", "ke_in_progress"),
        rule="frames claiming a pairing HHT's address must not break its key establishment: an attacker "
             "interleaving spoofed KE Initiates (its own certificate) while the HHT pairs does not stop it (an "
             "Initiate whose certificate names another device is dropped unanswered, ke_certificate_not_sender; "
             "one during the HHT's exchange is ignored, ke_in_progress)")
async def ke_spoofed_interleave(ctx: AttackContext) -> None:
    """While the genuine HHT pairs, the attacker sends, every 20 ms of real time and claiming the HHT's
    EUI-64, an Initiate Key Establishment Request with its own certificate."""
    import asyncio

    from rig.gbcs import Message, Role

    from .gbcs import pair_or_breach

    payload = await ke_initiate(ctx)
    hht = await ctx.legit_hht()
    ctx.allowed.devices.add(ctx.ids.hht)
    ctx.allowed.link_keys.add(ctx.ids.hht)
    ctx.allowed.counters[ctx.ids.keys.one(Role.ACB)] = Message.from_bytes(hht.ccs01).counter
    stop = asyncio.Event()
    sent = 0

    async def interleave():
        nonlocal sent
        while not stop.is_set() and sent < 200:
            await ctx.inject(ctx.interpan_mpdu(pairing.KE_CLUSTER, ctx.zcl(0x00, payload), src=ctx.ids.hht))
            sent += 1
            await asyncio.sleep(0.02)

    task = asyncio.ensure_future(interleave())
    try:
        await pair_or_breach(ctx, hht, "with spoofed KE Initiates interleaved")
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
    ctx.saw(f"{sent} spoofed KE Initiates claiming the HHT")


REPLAY_SUSTAIN_S = 20       # how long (CH clock) the attacker keeps replaying the HHT's Initiate


@attack("ke_replayed_hht_certificate", family="interpan", source="ZigBee/SE",
        expect=("ke_in_progress", "ke_rate_limited"),
        rule="an attacker replaying a pairing HHT's own certificate (public: it is in every Initiate the HHT sends) "
             "from the HHT's address gets no key (it lacks the HHT's private key) and holds the CH's key "
             "establishment for that address only while it keeps transmitting, as a jammer could: once it stops, "
             "the HHT pairs (no lasting wedge)")
async def ke_replayed_hht_certificate(ctx: AttackContext) -> None:
    """For REPLAY_SUSTAIN_S the attacker sends, once a second and claiming the HHT's EUI-64, an Initiate Key
    Establishment Request carrying the HHT's own certificate (an eavesdropper has it from any earlier
    pairing; here it is read from the HHT's dongle, as from its label); then it stops and the HHT pairs."""
    from rig.gbcs import Message, Role

    from .gbcs import pair_or_breach

    hht = await ctx.legit_hht()
    await hht.role.read_eui64()
    cert = await hht.role.ke_engine().get_certificate(SUITE_2)
    payload = struct.pack("<HBB", SUITE_2, 10, 10) + cert
    ctx.allowed.devices.add(ctx.ids.hht)
    ctx.allowed.link_keys.add(ctx.ids.hht)
    ctx.allowed.counters[ctx.ids.keys.one(Role.ACB)] = Message.from_bytes(hht.ccs01).counter
    for _ in range(REPLAY_SUSTAIN_S):
        await ctx.inject(ctx.interpan_mpdu(pairing.KE_CLUSTER, ctx.zcl(0x00, payload), src=ctx.ids.hht))
        await ctx.settle(None, 1.0)
    keyed = [e for e in ctx.events.named("ch.cbke_interpan") if e.time >= ctx.mark_time and e.result == "ok"]
    if keyed:
        ctx.breach("the CH completed key establishment with an attacker replaying the HHT's certificate")
    ctx.saw(f"{REPLAY_SUSTAIN_S} replayed Initiates claiming the HHT, then silence")
    await pair_or_breach(ctx, hht, "after the attacker replaying its certificate stopped")
