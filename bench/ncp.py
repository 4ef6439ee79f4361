"""Emulated NCP figures: EZSP round trips per second over tcp://, startup(auto_form) wall time, memory
per emulated dongle, and the wall time of an install-code join over the virtual air.

Each figure is also printed as a ratio to what a real dongle on a 115 200-baud UART allows: the same
serial bytes, counted on the emulated link during the run, take ``bytes × 10 bits / 115 200 s`` on a
real wire (8N1).  That wire time is a lower bound for hardware (a real NCP also needs processing time).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time

BAUD = 115_200


def wire_seconds(n_bytes: int) -> float:
    return n_bytes * 10 / BAUD


async def round_trips(n: int = 2000) -> dict:
    from firmware_shims.ncp.dongle import EmulatedDongle
    from rig.transport import open_ezsp

    dongle = EmulatedDongle("bench")
    url = await dongle.start_tcp()
    ezsp = await open_ezsp(url)
    try:
        for _ in range(50):                       # warm-up
            await ezsp.getEui64()
        b0 = dongle.bytes_in + dongle.bytes_out
        t0 = time.perf_counter()
        for _ in range(n):
            await ezsp.getEui64()
        elapsed = time.perf_counter() - t0
        n_bytes = dongle.bytes_in + dongle.bytes_out - b0
    finally:
        await ezsp.disconnect()
        await dongle.stop()
    rate = n / elapsed
    wire_rate = n / wire_seconds(n_bytes)
    return {"round_trips_per_s": rate, "bytes_per_round_trip": n_bytes / n, "wire_limit_per_s": wire_rate,
            "ratio": rate / wire_rate}


async def auto_form(runs: int = 5) -> dict:
    import bellows.zigbee.application as bellows_app

    from firmware_shims.ncp.dongle import EmulatedDongle
    from rig.transport import zigpy_config

    times, wire = [], []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            dongle = EmulatedDongle(f"form{i}", state_dir=tmp)
            url = await dongle.start_tcp()
            t0 = time.perf_counter()
            app = await bellows_app.ControllerApplication.new(zigpy_config(url, channel=15), auto_form=True,
                                                              start_radio=True)
            times.append(time.perf_counter() - t0)
            wire.append(wire_seconds(dongle.bytes_in + dongle.bytes_out))
            await app.shutdown()
            await dongle.stop()
    median, wire_median = statistics.median(times), statistics.median(wire)
    return {"auto_form_s": median, "wire_s": wire_median, "ratio": wire_median / median}


async def memory_per_dongle(n: int = 20) -> dict:
    """Python heap allocated per emulated dongle (NCP + stack + radio on one air), via tracemalloc."""
    import gc
    import tracemalloc

    from firmware_shims.air import Air
    from firmware_shims.ncp.dongle import EmulatedDongle
    from firmware_shims.ncp.zigbee import AirStack
    from rig.clock import RealClock

    clock = RealClock()
    air = Air(clock)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    dongles = []
    for i in range(n):
        d = EmulatedDongle(f"m{i}", radio=air.attach(f"m{i}"), clock=clock, stack_factory=AirStack)
        await d.start_tcp()
        dongles.append(d)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    for d in dongles:
        await d.stop()
    return {"bytes_per_dongle": (after - before) / n, "n": n}


async def join_time(runs: int = 3) -> dict:
    """Wall time of an install-code join over the air: joinNetwork → NETWORK_UP on the router."""
    import bellows.types as t
    import bellows.zigbee.application as bellows_app
    import zigpy.types as zt
    from zigpy.util import convert_install_code

    from firmware_shims.air import Air
    from firmware_shims.ncp.dongle import EmulatedDongle
    from firmware_shims.ncp.zigbee import AirStack
    from rig.clock import RealClock
    from rig.transport import open_ezsp, zigpy_config

    key = convert_install_code(bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5"))
    times, frames = [], []
    for i in range(runs):
        clock = RealClock()
        air = Air(clock, seed=i)
        coord = EmulatedDongle("c", radio=air.attach("c"), clock=clock, stack_factory=AirStack)
        router = EmulatedDongle("r", radio=air.attach("r"), clock=clock, stack_factory=AirStack)
        await coord.start_tcp()
        await router.start_tcp()
        app = await bellows_app.ControllerApplication.new(zigpy_config(coord.url, channel=15), auto_form=True,
                                                          start_radio=True)
        info = app.state.network_info
        await app.permit_with_link_key(router.node.eui64, key, time_s=60)
        ezsp = await open_ezsp(router.url)
        up = asyncio.get_running_loop().create_future()

        def on_status(name, args, up=up):
            if name == "stackStatusHandler" and not up.done():
                up.set_result(t.sl_Status.from_ember_status(args[0]))

        ezsp.add_callback(on_status)
        await ezsp.setInitialSecurityState(t.EmberInitialSecurityState(
            bitmask=t.EmberInitialSecurityBitmask(0x0900), preconfiguredKey=key, networkKey=t.KeyData(bytes(16)),
            networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=zt.EUI64(bytes(8))))
        params = t.EmberNetworkParameters(extendedPanId=info.extended_pan_id, panId=info.pan_id, radioTxPower=8,
                                          radioChannel=info.channel, joinMethod=0, nwkManagerId=0, nwkUpdateId=0,
                                          channels=t.Channels.ALL_CHANNELS)
        n0 = air.stats.transmissions
        t0 = time.perf_counter()
        await ezsp.joinNetwork(nodeType=t.EmberNodeType.ROUTER, parameters=params)
        status = await asyncio.wait_for(up, 20)
        times.append(time.perf_counter() - t0)
        frames.append(air.stats.transmissions - n0)
        assert status == t.sl_Status.NETWORK_UP, status
        await ezsp.disconnect()
        await app.shutdown()
        await coord.stop()
        await router.stop()
        air.close()
    return {"join_s": statistics.median(times), "frames": statistics.median(frames)}


def main() -> None:
    from firmware_shims.ncp.stack import scan_seconds

    logging.disable(logging.CRITICAL)
    rt = asyncio.run(round_trips())
    print(f"ncp  EZSP round trips over tcp://: {rt['round_trips_per_s']:.0f}/s "
          f"({rt['bytes_per_round_trip']:.0f} serial bytes each; a 115200-baud wire allows "
          f"{rt['wire_limit_per_s']:.0f}/s) -> {rt['ratio']:.1f}x a real dongle's wire limit")
    af = asyncio.run(auto_form())
    print(f"ncp  startup(auto_form=True): {af['auto_form_s'] * 1000:.0f} ms median of 5 "
          f"(its serial bytes alone take {af['wire_s'] * 1000:.0f} ms at 115200 baud) "
          f"-> {af['ratio']:.1f}x faster than a real dongle's wire time")
    mem = asyncio.run(memory_per_dongle())
    print(f"ncp  memory per emulated dongle (NCP + stack + radio, {mem['n']} on one air): "
          f"{mem['bytes_per_dongle'] / 1024:.0f} KiB")
    jt = asyncio.run(join_time())
    print(f"air  install-code join over the air (joinNetwork -> NETWORK_UP): {jt['join_s'] * 1000:.0f} ms median "
          f"of 3, {jt['frames']:.0f} frames on the air (includes the {scan_seconds(3) * 1000:.0f} ms beacon-scan window a real NCP also waits)")


if __name__ == "__main__":
    main()
