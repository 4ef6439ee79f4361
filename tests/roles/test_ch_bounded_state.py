"""The CH's per-sender state stays bounded under a flood of Key Establishment requests from spoofed
inter-PAN sources, and a legitimate HHT still starts its session (and keeps it once past CBKE)."""

from __future__ import annotations

import asyncio

from roles_ids import HHT_ID, INSTALL_CODE, PPMID_ID

from rig import pairing
from rig.clock import VirtualClock
from rig.events import EventLog
from rig.gbcs import Builder, DeviceType, Role
from rig.roles.ch.shim import ChShim
from rig.zigbee.frames import interpan
from rig.zigbee.zcl import ZclHeader

SPOOFED = [f"{0xBAD0000000000000 + n:016X}" for n in range(1000)]


async def test_spoofed_session_flood_keeps_sessions_bounded_and_a_legitimate_hht_still_starts(core):
    evicted = []
    core.on_session_evicted = evicted.append
    for sender in SPOOFED:
        assert core.begin_session(sender) is None
    assert len(core.sessions) == pairing.INTERPAN_MAX_SESSIONS
    assert len(evicted) == len(SPOOFED) - pairing.INTERPAN_MAX_SESSIONS
    assert core.begin_session(HHT_ID) is None and HHT_ID in core.sessions
    core.session_established(HHT_ID)               # the HHT finished CBKE: the flood goes on
    for sender in SPOOFED:
        core.begin_session(sender)
    assert HHT_ID in core.sessions and len(core.sessions) == pairing.INTERPAN_MAX_SESSIONS
    assert {e.result for e in core.events.named("ch.session_evicted")} == {"session_not_established"}


async def test_expired_session_is_evicted_first(core):
    assert core.begin_session(HHT_ID) is None
    core.session_established(HHT_ID)
    await core.clock.advance(pairing.INTERPAN_SESSION_MAX_S + 1)          # it never finished
    for sender in SPOOFED[:pairing.INTERPAN_MAX_SESSIONS]:
        core.begin_session(sender)
    assert HHT_ID not in core.sessions and len(core.sessions) == pairing.INTERPAN_MAX_SESSIONS
    assert [(e.result, e.peer) for e in core.events.named("ch.session_evicted")] == [("session_expired", HHT_ID)]


class FakeResponder:
    """A KE responder that never finishes (a spoofed sender never answers the CH's KE response)."""

    expected_partner_eui64 = None
    active = True
    waiting_for_ephemeral = True
    state = "waiting for Ephemeral Data Request"

    def abandon(self):
        return None

    async def handle(self, command_id, payload):
        return None

    async def next_result(self):
        await asyncio.Event().wait()


class FakeRole:
    """Just enough of an ``EzspRole`` for the CH's bookkeeping (no dongle)."""

    def ke_responder(self, send):
        return FakeResponder()

    def zcl(self, command_id, payload, *, direction):
        return bytes([1, command_id]) + payload

    async def send_zcl(self, nwk, cluster, zcl, *, encrypt=False):
        return True


def ke_initiate(src: str, ch: str) -> bytes:
    zcl = ZclHeader(frame_type=1, direction=0, disable_default_response=1, seq=1, command_id=0,
                    payload=b"\x00\x02").encode()
    return interpan(1, dst_pan=0x1234, dst=int(ch, 16), src_pan=0xFFFF, src_ieee=int(src, 16),
                    cluster=pairing.KE_CLUSTER, payload=zcl).encode_mpdu()


async def test_ch_shim_state_bounded_after_a_flood_of_spoofed_key_establishment_requests(keys, tmp_path):
    clock = VirtualClock()
    ch = ChShim("unused://", clock=clock, events=EventLog(clock), policy="secmp0037", keys=keys,
                state_dir=tmp_path / "ch")
    ch.role = FakeRole()
    ch.core.power_on()
    gpf = keys.one(Role.GPF)
    for sender in SPOOFED:
        ch._on_interpan(ke_initiate(sender, gpf))
        await clock.advance(0.01)                   # 100 a second: most are dropped (ke_rate_limited)
    await asyncio.sleep(0)
    cap = pairing.INTERPAN_MAX_SESSIONS
    assert len(ch.core.sessions) == cap and len(ch._interpan_ke) == cap
    assert len(ch._interpan_rx) <= pairing.REASSEMBLY_MAX_SENDERS and len(ch._interpan_keys) == 0
    assert len(ch._tasks) <= cap + 1                # the evicted senders' KE waiters were cancelled
    limited = [e for e in ch.events.named("ch.dropped") if e.result == "ke_rate_limited"]
    answered = len(SPOOFED) - len(limited)
    assert answered <= pairing.INTERPAN_KE_PER_S * (len(SPOOFED) * 0.01 + 1)
    await clock.advance(1.0)                        # the flood is over: the HHT's next attempt is answered
    ch._on_interpan(ke_initiate(HHT_ID, gpf))
    await asyncio.sleep(0)
    assert HHT_ID in ch.core.sessions and HHT_ID in ch._interpan_ke
    for task in list(ch._tasks):
        task.cancel()
    await asyncio.gather(*ch._tasks, return_exceptions=True)


async def test_relayed_commands_awaiting_a_response_stay_bounded(keys, tmp_path):
    clock = VirtualClock()
    ch = ChShim("unused://", clock=clock, events=EventLog(clock), policy="secmp0037", keys=keys,
                state_dir=tmp_path / "ch")
    ch.role = FakeRole()
    ch.core.power_on()
    esme, chf = keys.one(Role.ESME), keys.one(Role.CHF)
    dcc = Builder(keys, counter_start=1)
    for device, kind in ((esme, Role.ESME), (HHT_ID, Role.HHT)):
        assert ch.core.handle_command(dcc.ccs01(chf, device, kind, INSTALL_CODE).to_bytes(), via="wan").ok
    ch.core.mark_joined(esme, 0x1001)
    ch.core.mark_joined(HHT_ID, 0x2002)
    ch._out_tunnel_ids[esme] = 1                  # the CH's tunnel to the ESME is open
    for _ in range(100):                          # commands the ESME never answers
        command = dcc.join("CS03B", esme, PPMID_ID, DeviceType.PPMID).to_bytes()
        await ch._gbcs_from_device(0x2002, HHT_ID, 1, command)
    assert len(ch._pending) == pairing.RELAY_MAX_PENDING
    dropped = ch.events.named("ch.dropped")
    assert len(dropped) == 100 - pairing.RELAY_MAX_PENDING and {e.result for e in dropped} == {"relay_evicted"}


async def test_session_past_its_initiate_is_never_evicted_while_young_and_a_full_table_refuses_newcomers(core):
    """Least progress, then age: spoofed senders (never past Initiate) push out only each other; with every
    slot past Initiate a newcomer is refused ``interpan_sessions_full``, until the bound passes."""
    assert core.begin_session(HHT_ID) is None
    core.session_progressed(HHT_ID)                 # the HHT sent Ephemeral Data: it heard the CH's answer
    for sender in SPOOFED[:100]:
        assert core.begin_session(sender) is None
    assert HHT_ID in core.sessions and len(core.sessions) == pairing.INTERPAN_MAX_SESSIONS
    for sender in list(core.sessions):
        core.session_progressed(sender)
    refusal = core.begin_session(SPOOFED[500])
    assert refusal is not None and refusal.reason == "interpan_sessions_full"
    assert SPOOFED[500] not in core.sessions and HHT_ID in core.sessions
    await core.clock.advance(pairing.INTERPAN_SESSION_MAX_S + 1)
    assert core.begin_session(SPOOFED[500]) is None
    assert core.events.named("ch.session_evicted")[-1].result == "session_expired"


def initiate_naming(src: str, ch: str, subject: str) -> bytes:
    """A decodable Initiate (suite 2) whose certificate names ``subject``."""
    from rig.cbke.certificate import Certificate283k1

    cert = Certificate283k1.decode(bytes(Certificate283k1.SIZE)).replace(subject=bytes.fromhex(subject)).encode()
    zcl = ZclHeader(frame_type=1, direction=0, disable_default_response=1, seq=1, command_id=0,
                    payload=b"\x02\x00\x0a\x0a" + cert).encode()
    return interpan(1, dst_pan=0x1234, dst=int(ch, 16), src_pan=0xFFFF, src_ieee=int(src, 16),
                    cluster=pairing.KE_CLUSTER, payload=zcl).encode_mpdu()


async def test_spoofed_initiates_claiming_a_pairing_hht_are_dropped_not_a_reset(keys, tmp_path):
    """An Initiate claiming an address whose key establishment is in progress is ignored (``ke_in_progress``);
    one whose certificate names another device than its source is dropped unanswered
    (``ke_certificate_not_sender``) and opens no session."""
    clock = VirtualClock()
    ch = ChShim("unused://", clock=clock, events=EventLog(clock), policy="secmp0037", keys=keys,
                state_dir=tmp_path / "ch")
    ch.role = FakeRole()
    ch.core.power_on()
    gpf = keys.one(Role.GPF)
    ch._on_interpan(initiate_naming(SPOOFED[0], gpf, SPOOFED[1]))
    await asyncio.sleep(0)
    assert ch.core.sessions == {} and ch._interpan_ke == {}
    ch._on_interpan(initiate_naming(HHT_ID, gpf, HHT_ID))      # the HHT's genuine Initiate
    await asyncio.sleep(0)
    responder = ch._interpan_ke[HHT_ID][0]
    await clock.advance(1.0)
    ch._on_interpan(initiate_naming(HHT_ID, gpf, HHT_ID))      # a replay or a spoof of it, mid-exchange
    await asyncio.sleep(0)
    assert ch._interpan_ke[HHT_ID][0] is responder
    assert [(e.result, e.peer) for e in ch.events.named("ch.dropped")] == [
        ("ke_certificate_not_sender", SPOOFED[0]), ("ke_in_progress", HHT_ID)]
    for task in list(ch._tasks):
        task.cancel()
    await asyncio.gather(*ch._tasks, return_exceptions=True)
