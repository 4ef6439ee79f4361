"""Key Establishment frames that start nothing are dropped by name, and leave no state behind (found by
tests/roles/test_ch_air_fuzz.py: a Terminate with no exchange in progress reached the CH host and
vanished without an event, and on the HAN it left a key-establishment responder waiting for ever)."""

from __future__ import annotations

import struct

from ch_state import ch_state

from rig import pairing
from rig.cbke.ke_cluster import SUITE_2, KeCommand
from rig.roles.ezsp_role import EzspRole
from rig.zigbee.frames import interpan
from rig.zigbee.zcl import ZclHeader

STRAY = "00DB5A5A5A5AF00D"
STRAY_NWK = 0x3B3B


def ke_zcl(command: int, payload: bytes = b"") -> ZclHeader:
    return ZclHeader(frame_type=1, direction=0, disable_default_response=1, seq=1, command_id=command, payload=payload)


def dropped(events, since: int) -> list[tuple[str, str | None, str]]:
    return [(e.result, e.peer, e.detail.get("via")) for e in events.events[since:] if e.name == "ch.dropped"]


async def test_interpan_terminate_with_no_exchange_dropped_and_opens_no_session(lab):
    premises, events, ch, _ezsp = lab
    terminate = ke_zcl(KeCommand.TERMINATE_KEY_ESTABLISHMENT, struct.pack("<BBH", 1, 10, SUITE_2)).encode()
    mpdu = interpan(1, dst_pan=ch.pan_id, dst=int(ch.role.eui64, 16), src_pan=0xFFFF, src_ieee=int(STRAY, 16),
                    cluster=pairing.KE_CLUSTER, payload=terminate).encode_mpdu()
    before, since = ch_state(ch), len(events.events)
    ch._on_interpan(mpdu)
    await premises.clock.sleep(pairing.KE_TIMEOUT_S)
    assert dropped(events, since) == [("ke_not_in_progress", STRAY, "interpan")]
    assert ch.core.sessions == {} and ch._interpan_ke == {}
    assert ch_state(ch) == before
    assert EzspRole.parse_interpan(mpdu, lambda _src: None).zcl.command_id == KeCommand.TERMINATE_KEY_ESTABLISHMENT


async def test_han_terminate_with_no_exchange_dropped_and_leaves_no_responder(lab):
    premises, events, ch, _ezsp = lab
    since = len(events.events)
    await ch._han_ke_message(STRAY_NWK, STRAY, ke_zcl(KeCommand.TERMINATE_KEY_ESTABLISHMENT, b"\x01\x0a\x02\x00"))
    await premises.clock.sleep(pairing.KE_TIMEOUT_S)
    assert dropped(events, since) == [("ke_not_in_progress", STRAY, "han")]
    assert ch._han_ke == {}


async def test_han_initiate_during_an_exchange_dropped_and_the_exchange_goes_on(lab):
    premises, events, ch, _ezsp = lab
    await premises.backend.manufacture(("ppmid",))
    certificate = bytes.fromhex(premises.backend.dongle("ppmid").nv.state.cbke_283k1["certificate"])
    initiate = ke_zcl(KeCommand.INITIATE_KEY_ESTABLISHMENT, struct.pack("<HBB", SUITE_2, 10, 10) + certificate)
    eui = premises.ids.hht                      # the certificate's subject
    await ch._han_ke_message(STRAY_NWK, eui, initiate)
    responder = ch._han_ke[STRAY_NWK]
    assert responder.active
    state, since = responder.state, len(events.events)
    await ch._han_ke_message(STRAY_NWK, eui, initiate)
    assert dropped(events, since) == [("ke_in_progress", eui, "han")]
    assert ch._han_ke[STRAY_NWK] is responder and responder.state == state
    await premises.clock.sleep(pairing.KE_TIMEOUT_S + 30)      # nobody answers: the exchange times out
    assert ch._han_ke == {}
    assert [e.result for e in events.named("ch.cbke_han") if e.peer == eui] == ["timeout_occurred"]
