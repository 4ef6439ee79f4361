"""Bugs found in the emulated NCP's over-the-air stack (firmware_shims/ncp/zigbee.py), now fixed.

Each test states what a real EmberZNet NCP does; they were strict-xfail until the stack was fixed.
The coordinator keeps the EUI-64 <-> NWK map in NV (like EmberZNet's child/address tables), so an
APS-encrypted unicast to a device that joined before a reset still finds the device's link key.
"""

from __future__ import annotations

import asyncio

import zigpy.types as zt

from rig import pairing
from rig.gbcs import Builder, CounterStore, Device, Role
from rig.premises import sim_premises
from rig.roles.meters import EsmeShim, MeterCore


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_aps_encrypted_unicast_to_known_device_after_coordinator_reset(tmp_path):
    premises = await sim_premises(tmp_path)
    ids = premises.ids
    events = premises.events
    ch = premises.ch("gbcs", state_dir=tmp_path / "ch")
    esme_ezsp = None
    try:
        await ch.power_on()
        builder = Builder(ids.keys)
        esme_ezsp = await premises.open("esme")
        esme = EsmeShim(esme_ezsp, MeterCore("ESME", Device.from_store(ids.keys, ids.esme), CounterStore(), builder,
                                             events), premises.clock, events)
        await ch.add_from_wan(builder.ccs01(ids.chf, ids.esme, Role.ESME, ids.install_codes[ids.esme]).to_bytes())
        assert await esme.power_on(ch.channel, ch.pan_id, zt.ExtendedPanId(bytes.fromhex(ids.gpf)[::-1]),
                                   ids.link_key(ids.esme), ids.gpf) == "ok"
        await premises.clock.wait_for(_until(lambda: ids.esme in ch._secure), 5, "the CH storing the CBKE key")
        nwk = ch.core.log.get(ids.esme).nwk
        # a frame the ESME does not answer (an attribute report), so nothing the ESME sends re-teaches the CH
        zcl = ch.role.zcl(0x0A, bytes([0, 0, 0x25]) + bytes(6), direction=1, cluster_specific=False)
        assert await ch.role.send_zcl(nwk, pairing.METERING_CLUSTER, zcl, encrypt=True)   # before the reset: fine
        await premises.power_cycle("ch")
        await ch.power_off()
        await ch.power_on()
        assert await ch.role.link_key_for(ids.esme) is not None                             # the key survived
        assert await ch.role.send_zcl(nwk, pairing.METERING_CLUSTER, zcl, encrypt=True)    # fails: no EUI for nwk
    finally:
        if esme_ezsp is not None:
            await esme_ezsp.disconnect()
        await ch.power_off()
        await premises.close()
