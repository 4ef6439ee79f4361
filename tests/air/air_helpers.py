"""Helpers for the air tests: a small PAN of radios on a virtual clock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from firmware_shims.air import Air
from firmware_shims.ncp.radio import TxResult
from rig.clock import VirtualClock
from rig.zigbee import frames as F

PAN = 0x1A2B
TC_EUI = 0x00DB1234567890A3
JOINER_EUI = 0x1122334455667788


async def send(clock: VirtualClock, radio, psdu: bytes, advance: float = 0.01) -> TxResult:
    """Transmit and move virtual time on until the transmission (and its ack wait) is over."""
    task = asyncio.ensure_future(radio.transmit(psdu))
    await clock.advance(advance)
    assert task.done(), "transmit still pending after advancing the clock"
    return task.result()


class Inbox:
    """An ``on_receive`` callback that records ``(time, psdu, lqi, rssi)``."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.items: list[tuple[float, bytes, int, int]] = []

    def __call__(self, psdu: bytes, lqi: int, rssi: int) -> None:
        self.items.append((self.clock.now(), psdu, lqi, rssi))

    @property
    def psdus(self) -> list[bytes]:
        return [i[1] for i in self.items]

    def __len__(self) -> int:
        return len(self.items)


def pan(air: Air, names_and_shorts: dict[str, int], channel: int = 15) -> dict:
    """Radios on one PAN and channel, each with an inbox; the first is the coordinator."""
    out = {}
    for i, (name, short) in enumerate(names_and_shorts.items()):
        r = air.attach(name, channel=channel)
        r.pan_id, r.short_addr, r.ieee = PAN, short, 0x0A00000000000000 + i
        r.pan_coordinator = i == 0
        r.on_receive = Inbox(air.clock)
        out[name] = r
    return out


def install_code_link_key() -> bytes:
    """The link key of the first published install code (tests/vectors/install_codes.json)."""
    path = Path(__file__).resolve().parents[1] / "vectors" / "install_codes.json"
    vectors = json.loads(path.read_text())["valid"]
    return bytes.fromhex(vectors[0]["link_key_hex"])


def data(seq: int, dst: int, src: int, payload: bytes = b"\x08\x00\xff\xff\x00\x00\x1e\x01") -> bytes:
    return F.mac_data(seq, PAN, dst, src, payload).encode()


NWK_KEY = bytes.fromhex("01030507090B0D0F00020406080A0C0D")
"""Zigbee2MQTT's published default network key (also the nwk_ccm.json vectors' key)."""
JOINER_SHORT = 0x4567


async def join_like_exchange(air: Air, link_key: bytes) -> dict:
    """A coordinator and a joiner play the frames of an install-code join and an inter-PAN exchange.

    Returns the radios and what was sent, for the capture and tshark tests.
    """
    from rig.zigbee import security as S
    from rig.zigbee.zcl import ZclHeader

    clock = air.clock
    tc = air.attach("tc", channel=15)
    tc.pan_id, tc.short_addr, tc.ieee, tc.pan_coordinator = PAN, 0x0000, TC_EUI, True
    j = air.attach("joiner", channel=15)
    j.ieee = JOINER_EUI
    air.add_key(NWK_KEY, "network key")
    air.add_key(link_key, "install-code link key")
    sent = {}
    await send(clock, j, F.beacon_request(1).encode())
    await send(clock, tc, F.beacon(2, PAN, 0x0000, TC_EUI, permit_joining=True).encode())
    j.pan_id = PAN
    await send(clock, j, F.association_request(3, PAN, 0x0000, JOINER_EUI, 0x8E).encode())
    await send(clock, j, F.data_request(4, PAN, 0x0000, JOINER_EUI, src_long=True).encode())
    await send(clock, tc, F.association_response(5, PAN, JOINER_EUI, TC_EUI, JOINER_SHORT).encode())
    j.short_addr = JOINER_SHORT
    # Transport Key (network key), APS-secured with the key-transport key of the link key, NWK unsecured
    tk = F.ApsCommand(command_id=F.APS_CMD_TRANSPORT_KEY, key_type=F.KEY_NWK, key=NWK_KEY, key_seq=0,
                      dst_ieee=JOINER_EUI, src_ieee=TC_EUI).encode()
    aps = F.ApsFrame(frame_type=F.APS_COMMAND, counter=1,
                     aux=F.AuxHeader(key_id=F.KEY_ID_KEY_TRANSPORT, frame_counter=0, source=TC_EUI))
    nwk = F.NwkFrame(frame_type=F.NWK_DATA, dst=JOINER_SHORT, src=0x0000, radius=1, seq=1,
                     payload=S.secure_aps(aps, link_key, tk))
    sent["transport_key"] = await send(clock, tc, F.mac_data(6, PAN, JOINER_SHORT, 0x0000, nwk.encode()).encode())
    # Device announce, NWK-encrypted broadcast
    annce = bytes([0x80]) + JOINER_SHORT.to_bytes(2, "little") + JOINER_EUI.to_bytes(8, "little") + b"\x8e"
    zdo = F.ApsFrame(frame_type=F.APS_DATA, delivery_mode=F.DELIVERY_BROADCAST, dst_endpoint=0, cluster=0x0013,
                     profile=F.PROFILE_ZDO, src_endpoint=0, counter=1, payload=annce)
    nwk = F.NwkFrame(frame_type=F.NWK_DATA, dst=0xFFFD, src=JOINER_SHORT, radius=30, seq=1, src_ieee=JOINER_EUI,
                     aux=F.AuxHeader(key_id=F.KEY_ID_NWK, frame_counter=0, source=JOINER_EUI, key_seq=0))
    await send(clock, j, F.mac_data(7, PAN, F.BROADCAST, JOINER_SHORT, S.secure_nwk(nwk, NWK_KEY, zdo.encode()))
               .encode())
    # ZCL read attributes, NWK-encrypted, acked
    zcl = ZclHeader(frame_type=0, seq=0x21, command_id=0x00, payload=b"\x00\x00").encode()
    aps = F.ApsFrame(frame_type=F.APS_DATA, ack_request=1, dst_endpoint=1, cluster=0x0000, profile=F.PROFILE_SE,
                     src_endpoint=1, counter=2, payload=zcl)
    nwk = F.NwkFrame(frame_type=F.NWK_DATA, dst=0x0000, src=JOINER_SHORT, radius=30, seq=2,
                     aux=F.AuxHeader(key_id=F.KEY_ID_NWK, frame_counter=1, source=JOINER_EUI, key_seq=0))
    sent["zcl"] = await send(clock, j, F.mac_data(8, PAN, 0x0000, JOINER_SHORT,
                                                  S.secure_nwk(nwk, NWK_KEY, aps.encode())).encode())
    # inter-PAN: plain Price GetCurrentPrice, and APS-secured (extended nonce) from an unjoined HHT
    hht = air.attach("hht", channel=15)
    hht.ieee = 0x8877665544332211
    price = ZclHeader(frame_type=1, seq=0x42, command_id=0x00, payload=b"\x00").encode()
    sent["interpan"] = await send(clock, hht, F.interpan(9, dst_pan=PAN, dst=TC_EUI, src_pan=0xFFFF,
                                                         src_ieee=hht.ieee, cluster=0x0700, payload=price).encode())
    stub = F.ApsFrame(frame_type=F.APS_INTERPAN, cluster=0x0700, profile=F.PROFILE_SE)
    secured = S.secure_interpan(stub, link_key, price.replace(b"\x42", b"\x43", 1), sender=hht.ieee,
                                frame_counter=1)
    await send(clock, hht, F.interpan_mac(10, dst_pan=PAN, dst=TC_EUI, src_pan=0xFFFF, src_ieee=hht.ieee,
                                          nwk_payload=secured, unicast=True).encode())
    # NWK leave command, encrypted
    leave = F.NwkCommand(command_id=F.NWK_CMD_LEAVE, options=0).encode()
    nwk = F.NwkFrame(frame_type=F.NWK_COMMAND, dst=0xFFFD, src=JOINER_SHORT, radius=1, seq=3, src_ieee=JOINER_EUI,
                     aux=F.AuxHeader(key_id=F.KEY_ID_NWK, frame_counter=2, source=JOINER_EUI, key_seq=0))
    await send(clock, j, F.mac_data(11, PAN, F.BROADCAST, JOINER_SHORT, S.secure_nwk(nwk, NWK_KEY, leave)).encode())
    return {"tc": tc, "joiner": j, "hht": hht, "sent": sent}
