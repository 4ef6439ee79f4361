"""CH shim + HHT on emulated dongles on one air: inter-PAN CBKE, CCS01, join, HAN CBKE, tunnel."""

from __future__ import annotations

import pytest

from rig.gbcs import Builder, Role
from rig.premises import sim_premises
from rig.roles.hht import Hht


@pytest.mark.parametrize("ezsp_version", [13, 14, 19])      # EmberZNet 7.4, 8.0 and the newest bellows speaks
async def test_hht_pairs_over_interpan_joins_and_opens_tunnel(tmp_path, ezsp_version):
    premises = await sim_premises(tmp_path, pcap=tmp_path / "slice.pcap", ezsp_version=ezsp_version)
    events = premises.events
    ids = premises.ids
    ch = premises.ch("gbcs", state_dir=tmp_path / "ch")
    ezsp = None
    try:
        await ch.power_on()
        b = Builder(ids.keys)
        ccs01 = b.ccs01(ids.chf, ids.hht, Role.HHT, ids.install_codes[ids.hht]).to_bytes()
        ezsp = await premises.open("ppmid")
        hht = Hht(ezsp, premises.clock, events, install_code=ids.install_codes[ids.hht], ccs01=ccs01)
        await hht.power_on(ids.gpf)
        assert ezsp.ezsp_version == ch.ezsp.ezsp_version == ezsp_version
        assert ch.core.log.get(ids.hht).join_state == "joined"
        assert hht.tunnel_id is not None
        names = [e.name for e in events.events if e.result == "ok"]
        for step in ("hht.scan", "hht.cbke_interpan", "ch.cbke_interpan", "hht.ccs01_response", "hht.joined_han",
                     "ch.device_joined", "hht.cbke_han", "ch.cbke_han", "hht.tunnel"):
            assert step in names, (step, [(e.name, e.result) for e in events.events])
    finally:
        if ezsp is not None:
            await ezsp.disconnect()
        await ch.power_off()
        await premises.close()
