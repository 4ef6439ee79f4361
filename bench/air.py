"""Virtual-air figures: frames/s through the air, and measured us per frame to encode/decode.

* codec: a typical NWK-secured unicast (MAC + NWK header + aux header + APS data + ZCL) built and
  parsed layer by layer, without and with the CCM* step;
* air, virtual clock: unicast data frames with ack request between pairs of radios (one pair per
  channel), driven by ``VirtualClock.advance`` -- the CPU cost of the emulation, clock included;
* air, real clock: the same on wall time, where airtime (250 kbit/s) and the ack turnaround bound
  the rate, printed with the physical limit of one 2.4 GHz channel for comparison.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path


def _frames():
    from rig.zigbee import frames as F
    from rig.zigbee import security as S
    from rig.zigbee.zcl import ZclHeader

    key = bytes(range(16))
    zcl = ZclHeader(frame_type=1, seq=7, command_id=0x00, payload=bytes(20))
    aps = F.ApsFrame(frame_type=F.APS_DATA, ack_request=1, dst_endpoint=1, cluster=0x0704, profile=F.PROFILE_SE,
                     src_endpoint=1, counter=9, payload=zcl.encode())
    nwk = F.NwkFrame(frame_type=F.NWK_DATA, dst=0x0000, src=0x4567, radius=30, seq=3,
                     aux=F.AuxHeader(key_id=F.KEY_ID_NWK, frame_counter=1000, source=0x1122334455667788,
                                     key_seq=0))
    return F, S, ZclHeader, key, zcl, aps, nwk


def codec(n: int = 20000) -> dict:
    F, S, ZclHeader, key, zcl, aps, nwk = _frames()
    plaintext = aps.encode()
    nwk_plain = nwk.replace(payload=plaintext)
    nwk_secured = S.secure_nwk(nwk, key, plaintext)
    psdu_plain = F.mac_data(1, 0x1A2B, 0x0000, 0x4567, nwk_plain.encode()).encode()
    psdu = F.mac_data(1, 0x1A2B, 0x0000, 0x4567, nwk_secured).encode()

    def encode_plain():
        z = zcl.encode()
        a = aps.replace(payload=z).encode()
        return F.mac_data(1, 0x1A2B, 0x0000, 0x4567, nwk.replace(payload=a).encode()).encode()

    def decode_plain():
        m = F.MacFrame.decode(psdu_plain)
        n_ = F.NwkFrame.decode(m.payload)
        a = F.ApsFrame.decode(n_.payload)
        return ZclHeader.decode(a.payload)

    def encode_secured():
        a = aps.replace(payload=zcl.encode()).encode()
        return F.mac_data(1, 0x1A2B, 0x0000, 0x4567, S.secure_nwk(nwk, key, a)).encode()

    def decode_secured():
        m = F.MacFrame.decode(psdu)
        _, pt = S.unsecure_nwk(m.payload, key)
        a = F.ApsFrame.decode(pt)
        return ZclHeader.decode(a.payload)

    def mac_only():
        return F.MacFrame.decode(psdu)

    out = {"psdu_bytes": len(psdu)}
    for name, fn in (("encode_us", encode_plain), ("decode_us", decode_plain), ("mac_decode_us", mac_only),
                     ("encode_ccm_us", encode_secured), ("decode_ccm_us", decode_secured)):
        for _ in range(200):
            fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out[name] = (time.perf_counter() - t0) / n * 1e6
    assert decode_secured() == decode_plain()
    return out


async def air_virtual(pairs: int = 4, per_pair: int = 1500, pcap: Path | None = None) -> dict:
    from firmware_shims.air import Air, airtime
    from rig.clock import VirtualClock
    from rig.zigbee import frames as F

    clock = VirtualClock()
    air = Air(clock, seed=1, pcap=pcap)
    psdu_len = 0
    received = 0

    def count(psdu, lqi, rssi):
        nonlocal received
        received += 1

    senders = []
    for i in range(pairs):
        ch = 11 + i % 16
        a, b = air.attach(f"a{i}", channel=ch), air.attach(f"b{i}", channel=ch)
        a.pan_id = b.pan_id = 0x1A2B
        a.short_addr, b.short_addr = 0x0000, 0x1000 + i
        b.on_receive = count
        psdu = F.mac_data(0, 0x1A2B, b.short_addr, 0x0000, bytes(60)).encode()
        psdu_len = len(psdu)
        senders.append((a, psdu))

    results = []

    async def run(radio, psdu):
        for _ in range(per_pair):
            results.append(await radio.transmit(psdu))

    tasks = [asyncio.ensure_future(run(r, p)) for r, p in senders]
    step = airtime(psdu_len) + 0.002
    t0 = time.perf_counter()
    while not all(t.done() for t in tasks):
        await clock.advance(step)
    elapsed = time.perf_counter() - t0
    air.close()
    frames = air.stats.transmissions + air.stats.acks_sent
    assert received == pairs * per_pair and all(r.acked for r in results)
    return {"data_frames_per_s": pairs * per_pair / elapsed, "frames_incl_acks_per_s": frames / elapsed,
            "us_per_data_frame": elapsed / (pairs * per_pair) * 1e6, "virtual_seconds": clock.now()}


async def air_real(pairs: int = 16, seconds: float = 1.0) -> dict:
    from firmware_shims.air import ACK_WAIT, TURNAROUND, Air, airtime
    from rig.clock import RealClock
    from rig.zigbee import frames as F

    clock = RealClock()
    air = Air(clock, seed=1)
    stop = time.perf_counter() + seconds
    sent = 0

    async def run(radio, psdu):
        nonlocal sent
        while time.perf_counter() < stop:
            r = await radio.transmit(psdu)
            sent += r.acked is True

    tasks, psdu = [], b""
    for i in range(pairs):
        ch = 11 + i % 16
        a, b = air.attach(f"a{i}", channel=ch), air.attach(f"b{i}", channel=ch)
        a.pan_id = b.pan_id = 0x1A2B
        a.short_addr, b.short_addr = 0x0000, 0x1000 + i
        psdu = F.mac_data(0, 0x1A2B, b.short_addr, 0x0000, bytes(60)).encode()
        tasks.append(run(a, psdu))
    t0 = time.perf_counter()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    per_channel_limit = 1 / (airtime(len(psdu)) + TURNAROUND + airtime(5))
    return {"acked_frames_per_s": sent / elapsed, "channels": min(pairs, 16),
            "physical_limit_per_s": per_channel_limit * min(pairs, 16), "ack_wait_s": ACK_WAIT}


def main() -> None:
    c = codec()
    print(f"air codec: {c['psdu_bytes']}-byte NWK-secured unicast (MAC+NWK+aux+APS+ZCL)")
    print(f"  encode {c['encode_us']:.1f} us/frame, decode {c['decode_us']:.1f} us/frame "
          f"(MAC header + FCS alone {c['mac_decode_us']:.1f} us)")
    print(f"  with CCM*: encode {c['encode_ccm_us']:.1f} us/frame, decode {c['decode_ccm_us']:.1f} us/frame")
    v = asyncio.run(air_virtual())
    print(f"air, virtual clock: {v['data_frames_per_s']:.0f} acked unicasts/s "
          f"({v['frames_incl_acks_per_s']:.0f} frames/s incl. acks, {v['us_per_data_frame']:.0f} us each, "
          f"{v['virtual_seconds']:.1f} virtual s)")
    with tempfile.TemporaryDirectory() as tmp:
        vp = asyncio.run(air_virtual(pcap=Path(tmp) / "bench.pcap"))
    print(f"air, virtual clock + pcap: {vp['data_frames_per_s']:.0f} acked unicasts/s "
          f"({vp['us_per_data_frame']:.0f} us each)")
    r = asyncio.run(air_real())
    print(f"air, real clock, {r['channels']} busy channels: {r['acked_frames_per_s']:.0f} acked unicasts/s "
          f"(250 kbit/s limit {r['physical_limit_per_s']:.0f}/s, ratio {r['acked_frames_per_s'] / r['physical_limit_per_s']:.2f})")


if __name__ == "__main__":
    main()
