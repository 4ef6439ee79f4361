"""Fuzzing the air into the CH: 802.15.4 frames toward our CH program on its emulated dongle.

One premises for the whole run: the CH powered on (policy secmp0037) on its emulated NCP, the ESME
commissioned, joined and through CBKE.  A radio of the test's own on the same air puts each case's
frames on the CH's channel, then the case waits (virtual time): ``QUICK_S``, and if the CH still holds
state for a sender or has work in flight, ``SETTLE_S`` (longer than every CH timer a frame can start: key
establishment, reassembly, a relayed command's answer), before it checks.

Frames are built to reach deep:

* inter-PAN: a correct MAC header (long source, to the CH's EUI-64 or broadcast) and NWK stub, an APS stub
  whose delivery mode, cluster, profile and security are fuzzed around the allow-list, and ZCL headers
  with fuzzed type, direction, command and payload; some carry a genuine KE Initiate (a test-CA
  certificate whose subject is the source, so the CH answers and waits for the rest), followed by
  fuzzed Ephemeral Data and Confirm Key frames from the same sender; some are APS-secured under a key
  the CH does not hold;
* the SM HAN: MAC data frames on the HAN's PAN, NWK-secured with the HAN's real network key and a fresh
  frame counter, so the NCP decrypts them and passes the APS frame up: from the ESME (joined: the
  tunnel paths behind ``may_tunnel``) or another sender, with fuzzed APS fields and ZCL for the Key
  Establishment and Tunneling clusters (RequestTunnel, TransferData segments with GBCS-looking bytes);
* random MPDUs with a correct FCS.

Property: no exception escapes (loop, tasks, logged errors); every frame the CH host received (but ZDO,
which the NCP serves and the host only reads) ends in a CH event (a refusal or drop names its reason); nothing changed: the device log and GBCS counters
(memory and disk), the NCP's network, key table and trust-centre state; the CH's per-sender state is back
where it was (sessions, KE responders, reassembly buffers, inter-PAN keys, relay table).  After the run a
legitimate HHT still pairs.  The run also proves depth: it meets the CH's allow-list refusals and drops.

Cases: ``scaled(80)`` in ``make test``, 10 000 in ``make test-slow`` (``fuzz`` marker, see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import struct
from collections import Counter
from dataclasses import dataclass

import pytest
from ch_state import ch_state
from fuzzing import pick
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scale import scaled

from rig import des, pairing
from rig.cbke.ke_cluster import SUITE_2, KeCommand
from rig.premises import sim_premises
from rig.roles.ezsp_role import Reassemblers
from rig.zigbee import frames as f
from rig.zigbee.eui64 import eui_int
from rig.zigbee.frames import PROFILE_ZDO
from rig.zigbee.security import secure_aps, secure_interpan, secure_nwk
from rig.zigbee.zcl import ZclHeader

FAST = 80
SETTLE_S = pairing.KE_TIMEOUT_S + pairing.REASSEMBLY_TIMEOUT_S + pairing.RESPONSE_TIMEOUT_S + 5
QUICK_S = 0.5        # a frame refused or dropped at once leaves nothing behind: no need to wait SETTLE_S
SPOOFED = 0x00DB5A5A5A5AF00D
# ZCL bytes that fit one 127-byte PSDU: inter-PAN APS-secured (MAC 23 + NWK stub 2 + APS 7 + aux 14 + MIC 4
# + FCS 2); on the HAN (MAC 9 + NWK 8 + aux 14 + MIC 4 + APS 8 + FCS 2), and with APS security (aux 14, MIC 4)
INTERPAN_SECURED_ZCL_MAX = 75
HAN_ZCL_MAX = 82
HAN_SECURED_ZCL_MAX = 64
REASON = re.compile(r"[a-z0-9_]+(:[a-z0-9_]+)?")
#: reasons the fast set must meet (allow-list, inter-PAN framing, HAN and tunnel paths)
EXPECTED_REASONS = {"interpan_wrong_profile", "interpan_not_unicast", "not_allow_listed", "aps_security_failed",
                    "interpan_not_cluster_specific", "interpan_wrong_direction", "interpan_malformed_zcl",
                    "ke_not_in_progress", "not_se_profile", "malformed_zcl"}
#: a CH event that says what became of a frame (its result is the reason, or ok)
FATE_EVENTS = ("ch.refused", "ch.dropped", "ch.cbke_interpan", "ch.cbke_han", "ch.tunnel_opened", "ch.gbcs_received",
               "ch.join_denied", "ch.session_evicted")


class Errors(logging.Handler):
    """ERROR records from any logger (a callback that raised inside bellows, zigpy or the emulator is
    caught and logged there)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@dataclass
class Rig:
    premises: object
    ch: object
    ncp: object                  # the CH dongle's emulated NCP node
    radio: object                # the fuzzer's radio on the air
    esme: str
    esme_nwk: int
    network_key: bytes
    certificate_initiate: bytes  # a genuine KE Initiate payload: a test-CA certificate whose subject is ``hht``
    hht: str
    nwk_counter: int = 0x10000000
    received: int = 0            # frames the NCP passed up to the CH host
    last: tuple = ()             # the last one's callback fields


def ncp_state(node) -> dict:
    """What no received frame may change in the CH's NCP: network tokens, the key table (EUI-64s and keys),
    the trust-centre settings.  Frame counters and the address map move with any traffic."""
    nv = json.loads(node.nv.state.to_json())
    nv["network"].pop("nwk_frame_counter")
    nv["network"].pop("aps_frame_counter")
    nv.pop("address_map")
    nv["key_table"] = sorted((k["eui64"], k["key"]) for k in nv["key_table"])
    return {"nv": nv, "network_up": node.state.network_up, "policies": dict(node.state.policies),
            "mac_filters": list(node.state.mac_filters)}


def per_sender_tables(ch) -> dict[str, int]:
    """The size of every per-sender table the CH program keeps (shim and core)."""
    sizes = {name: len(value) for name, value in vars(ch).items()
             if isinstance(value, dict | set | Reassemblers) and name != "_tasks"}
    sizes.update({f"core.{name}": len(value) for name, value in vars(ch.core).items() if isinstance(value, dict | set)})
    return sizes


u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1)
eui64s = st.integers(0, 2**64 - 1)
keys = st.binary(min_size=16, max_size=16)
KE_COMMANDS = st.sampled_from([0, 1, 2, 3])
ZCL_FRAME_TYPES = st.integers(0, 3)
PAYLOADS = st.binary(max_size=60)
SHORT_PAYLOADS = st.binary(max_size=50)
INITIATE_LIKE = st.binary(max_size=90)
KE_OR_TUNNEL = st.sampled_from([pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER])
NOT_UNICAST = st.sampled_from(["broadcast", "group"])
TUNNEL_COMMANDS = st.sampled_from([pairing.CMD_REQUEST_TUNNEL, pairing.CMD_TRANSFER_DATA_C2S])
BITS = st.integers(0, 1)


@st.composite
def zcl_frames(draw, cluster: int, initiate: bytes) -> bytes:
    """ZCL with fuzzed header fields; for the KE cluster sometimes a genuine Initiate's payload."""
    command = pick(draw, (3, KE_COMMANDS), (1, u8))
    if cluster == pairing.KE_CLUSTER and command == KeCommand.INITIATE_KEY_ESTABLISHMENT:
        payload = pick(draw, (2, initiate), (1, INITIATE_LIKE))
    elif cluster == pairing.TUNNEL_CLUSTER:
        payload = struct.pack("<H", pick(draw, (3, 0), (1, u16))) + draw(PAYLOADS)
    else:
        payload = draw(PAYLOADS)
    raw = ZclHeader(frame_type=pick(draw, (4, 1), (1, ZCL_FRAME_TYPES)), direction=pick(draw, (4, 0), (1, 1)),
                    disable_default_response=draw(BITS), manufacturer_code=pick(draw, (6, None), (1, u16)),
                    seq=draw(u8), command_id=command, payload=payload).encode()
    if pick(draw, (4, False), (1, True)):
        raw = raw[:draw(st.integers(0, 2))]        # too short for a ZCL header
    return raw


@st.composite
def interpan_frames(draw, rig: Rig, src: int) -> bytes:
    ch = eui_int(rig.ch.role.eui64)
    cluster = pick(draw, (4, KE_OR_TUNNEL), (1, u16))
    profile = pick(draw, (6, pairing.SE_PROFILE), (1, u16))
    delivery = pick(draw, (3, "unicast"), (1, NOT_UNICAST))
    dst_pan = pick(draw, (3, int(rig.ch.pan_id)), (1, 0xFFFF), (1, u16))
    zcl = draw(zcl_frames(cluster, rig.certificate_initiate))
    seq = draw(u8)
    dst = ch if delivery == "unicast" else 0xFFFF
    security = pick(draw, (4, "none"), (2, "wrong key"), (1, "junk"))
    mode = {"unicast": 0, "broadcast": 2, "group": 3}[delivery]
    group = draw(u16) if mode == 3 else None
    if security == "none":
        frame = f.interpan(seq, dst_pan=dst_pan, dst=dst, src_pan=0xFFFF, src_ieee=src, cluster=cluster,
                           profile=profile, payload=zcl, delivery=delivery, group=group)
        return frame.encode()
    zcl = zcl[:INTERPAN_SECURED_ZCL_MAX]
    stub = f.ApsFrame(frame_type=f.APS_INTERPAN, delivery_mode=mode, cluster=cluster, profile=profile, group=group)
    if security == "wrong key":
        aps = secure_interpan(stub, draw(keys), zcl, sender=src, frame_counter=draw(u32))
    else:                                           # a secured-looking frame: aux header, junk ciphertext + MIC
        aux = f.AuxHeader(key_id=f.KEY_ID_DATA, frame_counter=draw(u32), source=src)
        aps = f.ApsFrame(frame_type=f.APS_INTERPAN, delivery_mode=mode, cluster=cluster, profile=profile, group=group,
                         aux=aux, payload=draw(PAYLOADS)).encode()
    frame = f.interpan(seq, dst_pan=dst_pan, dst=dst, src_pan=0xFFFF, src_ieee=src, cluster=cluster,
                       profile=profile, delivery=delivery, group=group)
    return frame.replace(payload=frame.payload[:2] + aps).encode()


@st.composite
def han_frames(draw, rig: Rig) -> bytes:
    """A NWK data frame on the HAN, secured with the network key (the NCP decrypts it), carrying a fuzzed
    APS data frame (SE profile mostly; Key Establishment and Tunneling clusters mostly)."""
    from_esme = pick(draw, (3, True), (1, False))
    source = eui_int(rig.esme) if from_esme else pick(draw, (1, SPOOFED), (1, eui_int(rig.hht)))
    src_short = rig.esme_nwk if from_esme else draw(u16.filter(lambda v: v < 0xFFF8 and v not in (0, rig.esme_nwk)))
    cluster = pick(draw, (4, KE_OR_TUNNEL), (1, u16))
    profile = pick(draw, (8, pairing.SE_PROFILE), (1, 0x0104), (1, u16))
    if cluster == pairing.TUNNEL_CLUSTER:
        command = pick(draw, (4, TUNNEL_COMMANDS), (1, u8))
        payload = struct.pack("<H", pick(draw, (3, 1), (1, u16))) + draw(SHORT_PAYLOADS)
        if command == pairing.CMD_REQUEST_TUNNEL:
            payload = struct.pack("<BHBH", pick(draw, (3, pairing.GB_HRGP), (1, u8)), 0xFFFF, 0, 1500)
        zcl = ZclHeader(frame_type=1, direction=draw(BITS), disable_default_response=1, seq=draw(u8),
                        command_id=command, payload=payload).encode()
    else:
        zcl = draw(zcl_frames(cluster, rig.certificate_initiate))
    aps = f.ApsFrame(frame_type=f.APS_DATA, delivery_mode=f.DELIVERY_UNICAST, ack_request=draw(BITS),
                     dst_endpoint=pick(draw, (6, 1), (1, u8)), cluster=cluster, profile=profile,
                     src_endpoint=pick(draw, (6, 1), (1, u8)), counter=draw(u8))
    if pick(draw, (5, False), (1, True)):        # APS-secured under a key nobody holds
        aux = f.AuxHeader(key_id=f.KEY_ID_DATA, frame_counter=draw(u32), source=source)
        aps_bytes = secure_aps(aps.replace(aux=aux), draw(keys), zcl[:HAN_SECURED_ZCL_MAX])
    else:
        aps_bytes = aps.replace(payload=zcl[:HAN_ZCL_MAX]).encode()
    return han_psdu(rig, source, src_short, aps_bytes, draw(u8))


def han_psdu(rig: Rig, source: int, src_short: int, aps: bytes, seq: int) -> bytes:
    """``aps`` in a NWK data frame to the CH, secured with the HAN's network key and a fresh counter (and
    MAC and NWK sequence numbers that move with it: a repeated one is a duplicate the NCP drops)."""
    rig.nwk_counter += 1
    seq = (seq + rig.nwk_counter) & 0xFF
    aux = f.AuxHeader(key_id=f.KEY_ID_NWK, frame_counter=rig.nwk_counter, source=source, key_seq=0)
    nwk = secure_nwk(f.NwkFrame(frame_type=f.NWK_DATA, dst=0x0000, src=src_short, radius=30, seq=seq, aux=aux),
                     rig.network_key, aps)
    return f.mac_data(seq, int(rig.ch.pan_id), 0x0000, src_short, nwk).encode()


#: HAN frames from the ESME aimed at one of the CH host's HAN checks each: (profile, cluster, ZCL command or
#: None for a ZCL frame too short to decode)
AIMED_HAN = {
    "not_se_profile": (0x0104, pairing.KE_CLUSTER, 0),
    "malformed_zcl": (pairing.SE_PROFILE, pairing.KE_CLUSTER, None),
    "cluster_not_served": (pairing.SE_PROFILE, 0x0006, 1),
    "ke_not_in_progress": (pairing.SE_PROFILE, pairing.KE_CLUSTER, KeCommand.TERMINATE_KEY_ESTABLISHMENT),
}


@st.composite
def aimed_han(draw, rig: Rig, rule: str) -> bytes:
    profile, cluster, command = AIMED_HAN[rule]
    if command is None:
        zcl = draw(st.binary(max_size=2))
    else:
        zcl = ZclHeader(frame_type=1, direction=0, disable_default_response=1, seq=draw(u8), command_id=command,
                        payload=draw(SHORT_PAYLOADS)).encode()
    aps = f.ApsFrame(frame_type=f.APS_DATA, delivery_mode=f.DELIVERY_UNICAST, dst_endpoint=1, cluster=cluster,
                     profile=profile, src_endpoint=1, counter=draw(u8), payload=zcl).encode()
    return han_psdu(rig, eui_int(rig.esme), rig.esme_nwk, aps, draw(u8))


def raw_frames():
    from firmware_shims.ncp.radio import fcs

    return st.binary(min_size=3, max_size=125).map(lambda p: p + fcs(p))


RAW = raw_frames()
FRAME_COUNTS = st.integers(1, 3)


#: plaintext inter-PAN frames aimed at one allow-list rule each: (profile, delivery, cluster, ZCL frame type,
#: direction, command); the ZCL payload, sequence numbers and source stay fuzzed
AIMED = {
    "interpan_wrong_profile": (0x0104, "unicast", pairing.KE_CLUSTER, 1, 0, 0),
    "interpan_not_unicast": (pairing.SE_PROFILE, "broadcast", pairing.KE_CLUSTER, 1, 0, 0),
    "not_allow_listed": (pairing.SE_PROFILE, "unicast", 0x0006, 1, 0, 1),
    "interpan_not_cluster_specific": (pairing.SE_PROFILE, "unicast", pairing.KE_CLUSTER, 0, 0, 0),
    "interpan_wrong_direction": (pairing.SE_PROFILE, "unicast", pairing.KE_CLUSTER, 1, 1, 0),
    "interpan_malformed_zcl": (pairing.SE_PROFILE, "unicast", pairing.KE_CLUSTER, None, 0, 0),
    "ke_not_in_progress": (pairing.SE_PROFILE, "unicast", pairing.KE_CLUSTER, 1, 0, KeCommand.TERMINATE_KEY_ESTABLISHMENT),
}


@st.composite
def aimed_interpan(draw, rig: Rig, rule: str, src: int) -> bytes:
    profile, delivery, cluster, frame_type, direction, command = AIMED[rule]
    if frame_type is None:
        zcl = draw(st.binary(max_size=2))           # no ZCL header
    else:
        zcl = ZclHeader(frame_type=frame_type, direction=direction, disable_default_response=draw(BITS), seq=draw(u8),
                        command_id=command, payload=draw(PAYLOADS)).encode()
    dst = eui_int(rig.ch.role.eui64) if delivery == "unicast" else 0xFFFF
    return f.interpan(draw(u8), dst_pan=int(rig.ch.pan_id), dst=dst, src_pan=0xFFFF, src_ieee=src, cluster=cluster,
                      profile=profile, payload=zcl, delivery=delivery).encode()


KINDS = st.sampled_from(["interpan"] * 4 + ["aimed"] * 2 + ["han"] * 3 + ["raw"])


@st.composite
def cases(draw, rig: Rig) -> list[bytes]:
    """One to three frames from one inter-PAN sender (a KE Initiate then what follows it), one HAN frame,
    random bytes, or one frame aimed at each allow-list rule and HAN check in turn (so every one is met
    however hypothesis' draws clump), their other fields fuzzed."""
    kind = draw(KINDS)
    if kind == "raw":
        return [draw(RAW)]
    if kind == "han":
        return [draw(han_frames(rig))]
    src = pick(draw, (2, eui_int(rig.hht)), (1, SPOOFED), (1, eui64s))
    if kind == "aimed":
        return ([draw(aimed_interpan(rig, rule, src)) for rule in sorted(AIMED)]
                + [draw(aimed_han(rig, rule)) for rule in sorted(AIMED_HAN)])
    return [draw(interpan_frames(rig, src)) for _ in range(draw(FRAME_COUNTS))]


async def start(tmp_path) -> Rig:
    premises = await sim_premises(tmp_path)
    ch = premises.ch("secmp0037", state_dir=tmp_path / "ch")
    await ch.power_on()
    _esme, status = await premises.esme(ch)
    assert status == "ok", status
    await premises.clock.sleep(SETTLE_S)          # the ESME's CBKE with the CH finishes
    ids = premises.ids
    assert ids.esme in ch._secure, "the ESME has no CBKE link key with the CH"
    node = premises.backend.dongle("ch").node
    await premises.backend.manufacture(("ppmid",))
    certificate = bytes.fromhex(premises.backend.dongle("ppmid").nv.state.cbke_283k1["certificate"])
    radio = premises.air.attach("fuzzer", channel=int(ch.channel))
    rig = Rig(premises, ch, node, radio, ids.esme, ch.core.log.get(ids.esme).nwk,
              bytes.fromhex(node.nv.state.network.network_key), struct.pack("<HBB", SUITE_2, 10, 10) + certificate,
              ids.hht)

    def received(*args):
        rig.received += 1
        rig.last = args

    def incoming(*args):            # a ZDO frame is the NCP's to serve: the host's copy is for information
        if args[1].profileId != PROFILE_ZDO:
            received(*args)
    ch.role.on("macFilterMatchMessageHandler", received)
    ch.role.on("incomingMessageHandler", incoming)
    return rig


async def run_case(rig: Rig, frames: list[bytes], errors: Errors, failures: list) -> list:
    """Put the frames on the air, wait for every timer they started, check the property; the CH events."""
    premises, ch = rig.premises, rig.ch
    before = ch_state(ch), ncp_state(rig.ncp), per_sender_tables(ch)
    first_event, received = len(premises.events.events), rig.received
    for psdu in frames:
        await rig.radio.transmit(psdu)          # on the air for its airtime (and its MAC ack wait)
    await premises.clock.sleep(QUICK_S)
    if per_sender_tables(ch) != before[2] or any(not t.done() for t in ch._tasks):
        await premises.clock.sleep(SETTLE_S)        # the frames started something: wait out every timer
    events = [e for e in premises.events.events[first_event:] if e.actor == "CH"]
    assert errors.records == [] and failures == [], (errors.records, failures)
    for e in events:
        if e.name in ("ch.refused", "ch.dropped"):
            assert REASON.fullmatch(e.result), e
    if rig.received > received:             # a frame reached the CH host: it ends in an event
        assert any(e.name in FATE_EVENTS for e in events), (
            f"{rig.received - received} frame(s) reached the CH host and left no trace: {[f.hex() for f in frames]}, "
            f"events {[(e.name, e.result) for e in events]}, callback {rig.last}")
    assert ch_state(ch) == before[0]
    assert ncp_state(rig.ncp) == before[1]
    assert per_sender_tables(ch) == before[2]
    assert [t for t in ch._tasks if not t.done()] == []
    return events


@pytest.mark.fuzz
def test_fuzzed_air_into_the_ch_is_refused_or_dropped_by_name_and_changes_nothing(tmp_path):
    loop = des.new_loop()
    failures: list = []
    errors = Errors()
    seen: Counter = Counter()
    try:
        rig = loop.run_until_complete(start(tmp_path))
        loop.set_exception_handler(lambda _loop, context: failures.append(context.get("message")))

        def watch(task):                # an exception in any task but the case's own (that is the test failing)
            if task.get_coro().__name__ != "run_case" and not task.cancelled() and task.exception() is not None:
                failures.append(repr(task.exception()))

        def factory(lp, coro, **kwargs):
            task = asyncio.Task(coro, loop=lp, **kwargs)
            task.add_done_callback(watch)
            return task
        loop.set_task_factory(factory)
        logging.getLogger().addHandler(errors)

        @settings(max_examples=scaled(FAST), deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(frames=cases(rig))
        def fuzz(frames):
            for e in loop.run_until_complete(run_case(rig, frames, errors, failures)):
                if e.name in ("ch.refused", "ch.dropped"):
                    seen[e.result] += 1
            seen["cases"] += 1

        fuzz()
        print(f"air -> CH: {dict(sorted(seen.items()))}")
        assert seen["cases"] >= scaled(FAST) * 0.9
        assert EXPECTED_REASONS - set(seen) == set()
        # and the CH still does its job: a legitimate HHT pairs
        hht = loop.run_until_complete(rig.premises.hht())
        loop.run_until_complete(hht.power_on(rig.premises.ids.gpf))
        assert rig.hht in rig.ch.core.log
    finally:
        logging.getLogger().removeHandler(errors)
        with contextlib.suppress(NameError):
            loop.run_until_complete(rig.ch.power_off())
            loop.run_until_complete(rig.premises.close())
        loop.close()
