"""The air-loss seed that ended a pairing with ``aps_security_failed`` (issue #12 item 7, ``loss`` seed 20).

What happened: the HHT's fourth CBKE attempt succeeded; the CH's Confirm Key Data Response reached the
HHT, but the HHT's MAC ack of it was lost, so the CH's radio went on retrying a frame the HHT already
had.  The HHT took the key as agreed and sent the first APS-secured segment of its CCS01 at once; it
reached the CH while the CH's own send of the Confirm response had not completed, i.e. before the CH
had its copy of the key and before it began holding that sender's secured frames (the held-frames path
started only once the exchange reported success).  The CH refused the segment (``aps_security_failed``),
dropped the rest as ``not_a_message_start`` and the HHT got no answer.  Not real EmberZNet behaviour to
keep: the key is agreed once the CH has checked MACU, and a responder that refuses the partner's first
use of it fails a legitimate HHT whenever one ack is lost.  The CH now holds a sender's secured frames
from key confirmation on (``ChShim._key_agreed``) and lets them through once its key is in place.

The test makes that timing certain instead of waiting for the air's dice: the CH's send of its Confirm Key
Data Response completes only ``CONFIRM_SEND_S`` after it went on the air (what MAC retries after a lost ack
cost), so the HHT's segment always comes first.
"""

from __future__ import annotations

import pytest
from fault_helpers import check_ch_state, check_outcome, pairing_under

from rig import pairing
from rig.cbke.ke_cluster import KeCommand
from rig.roles.ezsp_role import EzspRole
from rig.zigbee.zcl import ZclHeader

pytestmark = pytest.mark.sim_only

CONFIRM_SEND_S = 0.5     # clock seconds the CH's Confirm Key Data Response send takes to complete


async def test_an_hht_segment_that_overtakes_the_chs_confirm_key_response_is_held_not_refused(tmp_path, monkeypatch):
    send_interpan = EzspRole.send_interpan
    slowed = []

    async def slow_confirm(self, dst, dst_pan, cluster, zcl, **kwargs):
        sent = await send_interpan(self, dst, dst_pan, cluster, zcl, **kwargs)
        header = ZclHeader.decode(zcl)
        if (self.name == "CH" and cluster == pairing.KE_CLUSTER and header.direction == 1
                and header.command_id == KeCommand.CONFIRM_KEY_DATA):
            slowed.append(self.events.now())
            await self.clock.sleep(CONFIRM_SEND_S)   # on the air already; the send has not completed
        return sent

    monkeypatch.setattr(EzspRole, "send_interpan", slow_confirm)
    result, premises = await pairing_under(tmp_path)
    assert slowed, "the CH never sent a Confirm Key Data Response over inter-PAN"
    check_outcome(result)
    check_ch_state(result, premises)
    names = [(s["name"], s["result"]) for s in result.steps]
    assert ("ch.refused", "aps_security_failed") not in names, names
    assert (result.outcome, result.reason) == ("paired", None), names
    # the HHT's CCS01 went out before the CH had finished with CBKE: the CH held it, then executed it
    cbke_done = next(s["time"] for s in result.steps if s["name"] == "ch.cbke_interpan" and s["result"] == "ok")
    received = next(s["time"] for s in result.steps if s["name"] == "ch.gbcs_received")
    assert received >= cbke_done
    assert result.checks and all(result.checks.values()), result.checks
