"""The virtual 802.15.4 air below the emulated NCPs (see ``medium`` for the model).

    clock = VirtualClock()
    air = Air(clock, seed=1, pcap="artifacts/run.pcap")
    a, b = air.attach("ch"), air.attach("hht")
    a.set_channel(15); b.set_channel(15)
    b.on_receive = lambda psdu, lqi, rssi: ...
    result = await a.transmit(psdu)          # TxResult(sent, acked, reason)
"""

from firmware_shims.air.medium import (
    ACK_WAIT,
    BACKOFF_PERIOD,
    NOISE_FLOOR,
    TURNAROUND,
    Air,
    AirRadio,
    AirStats,
    Faults,
    Link,
    RadioStats,
    airtime,
    lqi_from_rssi,
)

__all__ = ["ACK_WAIT", "BACKOFF_PERIOD", "NOISE_FLOOR", "TURNAROUND", "Air", "AirRadio", "AirStats", "Faults",
           "Link", "RadioStats", "airtime", "lqi_from_rssi"]
