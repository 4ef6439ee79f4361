"""Emulated NCP figures: EZSP round trips per second over tcp://, and startup(auto_form) wall time.

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


def main() -> None:
    logging.disable(logging.WARNING)
    rt = asyncio.run(round_trips())
    print(f"ncp  EZSP round trips over tcp://: {rt['round_trips_per_s']:.0f}/s "
          f"({rt['bytes_per_round_trip']:.0f} serial bytes each; a 115200-baud wire allows "
          f"{rt['wire_limit_per_s']:.0f}/s) -> {rt['ratio']:.1f}x a real dongle's wire limit")
    af = asyncio.run(auto_form())
    print(f"ncp  startup(auto_form=True): {af['auto_form_s'] * 1000:.0f} ms median of 5 "
          f"(its serial bytes alone take {af['wire_s'] * 1000:.0f} ms at 115200 baud) "
          f"-> {af['ratio']:.1f}x faster than a real dongle's wire time")


if __name__ == "__main__":
    main()
