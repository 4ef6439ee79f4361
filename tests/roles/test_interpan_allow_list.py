"""The CH's inter-PAN allow-list (``rig.pairing.INTERPAN_ALLOW_LIST``): profile, APS delivery mode,
cluster and command, security, ZCL frame type and direction are each checked, each refusal has its own
reason and is an event, and a refused frame opens no session and changes neither log nor counters."""

from __future__ import annotations

import asyncio

import pytest

from rig import pairing
from rig.premises import sim_premises
from rig.roles.ezsp_role import EzspRole
from rig.roles.hht import Hht
from rig.zigbee.frames import APS_INTERPAN, ApsFrame, interpan
from rig.zigbee.security import secure_interpan
from rig.zigbee.zcl import ZclHeader

HHT = 0x00DB5A5A5A5A0A01
CH = 0x90B3D51F30010000
KEY = bytes(range(16))
HA_PROFILE = 0x0104
ON_OFF_CLUSTER = 0x0006


def zcl(command: int, payload: bytes = b"\x00\x02", *, frame_type: int = 1, direction: int = 0) -> bytes:
    return ZclHeader(frame_type=frame_type, direction=direction, disable_default_response=1, seq=7,
                     command_id=command, payload=payload).encode()


def plain(cluster: int, payload: bytes, *, profile: int = pairing.SE_PROFILE, delivery: str = "unicast") -> bytes:
    dst = CH if delivery == "unicast" else 0xFFFF
    return interpan(1, dst_pan=0x1234, dst=dst, src_pan=0xFFFF, src_ieee=HHT, cluster=cluster, profile=profile,
                    payload=payload, delivery=delivery, group=0x0001 if delivery == "group" else None).encode_mpdu()


def secured(cluster: int, payload: bytes, key: bytes = KEY) -> bytes:
    stub = ApsFrame(frame_type=APS_INTERPAN, delivery_mode=0, cluster=cluster, profile=pairing.SE_PROFILE)
    aps = secure_interpan(stub, key, payload, sender=HHT, frame_counter=1)
    frame = interpan(1, dst_pan=0x1234, dst=CH, src_pan=0xFFFF, src_ieee=HHT, cluster=cluster,
                     profile=pairing.SE_PROFILE)
    return frame.replace(payload=frame.payload[:2] + aps).encode_mpdu()


KE, TUNNEL, TRANSFER = pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER, pairing.CMD_TRANSFER_DATA_C2S

CASES = {
    "ke_initiate": (plain(KE, zcl(0x00)), None),
    "transfer_data_secured": (secured(TUNNEL, zcl(TRANSFER, b"\x00\x00\xdd")), None),
    "wrong_profile": (plain(KE, zcl(0x00), profile=HA_PROFILE), "interpan_wrong_profile"),
    "broadcast": (plain(KE, zcl(0x00), delivery="broadcast"), "interpan_not_unicast"),
    "group": (plain(KE, zcl(0x00), delivery="group"), "interpan_not_unicast"),
    "cluster_not_listed": (plain(ON_OFF_CLUSTER, zcl(0x01)), "not_allow_listed"),
    "profile_wide": (plain(KE, zcl(0x00, frame_type=0)), "interpan_not_cluster_specific"),
    "server_to_client": (plain(KE, zcl(0x00, direction=1)), "interpan_wrong_direction"),
    "ke_command_not_listed": (plain(KE, zcl(0x05)), "not_allow_listed"),
    "plaintext_transfer_data": (plain(TUNNEL, zcl(TRANSFER, b"\x00\x00\xdd")), "not_allow_listed"),
    "secured_ke": (secured(KE, zcl(0x00)), "not_allow_listed"),
    "secured_request_tunnel": (secured(TUNNEL, zcl(pairing.CMD_REQUEST_TUNNEL)), "not_allow_listed"),
    "secured_transfer_data_s2c": (secured(TUNNEL, zcl(pairing.CMD_TRANSFER_DATA_S2C, b"\x00\x00\xdd", direction=1)),
                                  "interpan_wrong_direction"),
    "secured_wrong_key": (secured(TUNNEL, zcl(TRANSFER, b"\x00\x00\xdd"), key=bytes(16)), "aps_security_failed"),
    "plaintext_not_zcl": (plain(KE, b"\x01"), "interpan_malformed_zcl"),
}


@pytest.mark.parametrize("case", CASES)
def test_interpan_frame_checked_against_the_allow_list_with_named_reason(core, case):
    raw, reason = CASES[case]
    frame = EzspRole.parse_interpan(raw, lambda src: KEY if src == f"{HHT:016X}" else None)
    before = core.log.snapshot(), dict(core.counters.counters)
    refusal = core.screen_interpan(frame)
    if reason is None:
        assert refusal is None
        assert core.events.named("ch.refused") == []
        return
    assert refusal.reason == reason
    assert [(e.result, e.peer) for e in core.events.named("ch.refused")] == [(reason, f"{HHT:016X}")]
    assert core.sessions == {} and (core.log.snapshot(), dict(core.counters.counters)) == before


def test_parsed_interpan_frame_carries_the_aps_delivery_mode():
    modes = {d: EzspRole.parse_interpan(plain(KE, zcl(0x00), delivery=d), lambda _s: None).delivery_mode
             for d in ("unicast", "broadcast", "group")}
    assert modes == {"unicast": 0, "broadcast": 2, "group": 3}


# --- on the CH, over the air -----------------------------------------------------------------------

@pytest.fixture
async def lab(tmp_path):
    premises = await sim_premises(tmp_path)
    events = premises.events
    ch = premises.ch("secmp0037", state_dir=tmp_path / "ch")
    await ch.power_on()
    ezsp = await premises.open("ppmid")
    hht = Hht(ezsp, premises.clock, events, install_code=premises.ids.install_codes[premises.ids.hht], ccs01=b"")
    await hht.role.read_eui64()
    await hht.find_ch(premises.ids.gpf)
    await ezsp.setRadioChannel(channel=int(hht.network.channel))
    yield premises, events, ch, hht
    await ezsp.disconnect()
    await ch.power_off()
    await premises.close()


@pytest.mark.parametrize(("delivery", "profile", "direction", "reason"), [
    ("broadcast", pairing.SE_PROFILE, 0, "interpan_not_unicast"),
    ("unicast", HA_PROFILE, 0, "interpan_wrong_profile"),
    ("unicast", pairing.SE_PROFILE, 1, "interpan_wrong_direction"),
])
async def test_ch_refuses_key_establishment_frame_outside_the_allow_list(lab, delivery, profile, direction, reason):
    premises, events, ch, hht = lab
    refused = asyncio.get_running_loop().create_future()
    events.listeners.append(lambda e: e.name == "ch.refused" and not refused.done() and refused.set_result(e))
    before = ch.core.log.snapshot(), dict(ch.core.counters.counters)
    dst = int(premises.ids.gpf, 16) if delivery == "unicast" else 0xFFFF
    frame = interpan(9, dst_pan=int(hht.network.panId), dst=dst, src_pan=0xFFFF, src_ieee=int(hht.role.eui64, 16),
                     cluster=pairing.KE_CLUSTER, profile=profile, delivery=delivery,
                     payload=hht.role.zcl(0x00, b"\x00\x02", direction=direction))
    await hht.role.ezsp.sendRawMessageExtended(message=frame.encode_mpdu(), priority=0, useCca=True)
    event = await premises.clock.wait_for(refused, 5, "the CH's refusal")
    assert (event.result, event.peer) == (reason, hht.role.eui64)
    assert ch.core.sessions == {} and not events.named("ch.cbke_interpan")
    assert (ch.core.log.snapshot(), dict(ch.core.counters.counters)) == before
