"""What an emulated NCP had in flight when it reset dies with the reset (issue #12 item 7's open bug).

The bug: an ESME whose NCP reset while it was still retrying its answer to the PPMID's read (an APS retry
in a task of the emulated stack) sent that retry *after* the reboot.  The stack's RAM was new, so the retry
took the NWK frame counter straight from NV (the value persisted at the last ``FC_PERSIST_STEP``), and the
boot's skip ahead never happened: the stack took the counter as already brought up.  Every frame the ESME
sent after its recovery then carried a counter the PPMID had already seen, and the PPMID's NCP dropped
them as replays: the ESME "never answered" the PPMID's final read.  Whether the retry was in flight at the
reset depended on the timing of the run, hence the flaky xfail.

A real NCP's reboot loses everything in RAM, transmissions included, and its first frame after a boot
carries a counter past every one it sent before.  Both are checked here on one emulated NCP on a virtual
air and a virtual clock, with no timing left to chance: the unicast goes to a radio that acknowledges it at
the MAC but never at the APS, so the NCP's APS retries are certainly under way when it resets.
"""

from __future__ import annotations

import bellows.types as t
import pytest
import zigpy.types as zt

from firmware_shims.air import Air
from firmware_shims.ncp.node import Node
from firmware_shims.ncp.nv import NvStore
from firmware_shims.ncp.zigbee import APS_ACK_TIMEOUT, AirStack
from rig.clock import VirtualClock
from rig.zigbee import frames as F

pytestmark = pytest.mark.sim_only

EUI = "00DB1234567890A4"
PAN, CHANNEL = 0x2B3C, 15
NWK_KEY = bytes.fromhex("01030507090B0D0F00020406080A0C0D")
SILENT_NWK = 0x4242          # a radio that acks at the MAC and never answers at the APS: the NCP retries


def coordinator(clock: VirtualClock, air: Air) -> Node:
    node = Node(NvStore(None, EUI), clock, lambda name, **fields: None)
    node.stack = AirStack(node, air.attach("ncp"))
    security = t.EmberInitialSecurityState(
        bitmask=t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY | t.EmberInitialSecurityBitmask.HAVE_PRECONFIGURED_KEY,
        preconfiguredKey=t.KeyData(b"ZigBeeAlliance09"), networkKey=t.KeyData(NWK_KEY), networkKeySequenceNumber=0,
        preconfiguredTrustCenterEui64=zt.EUI64(bytes(8)))
    assert node.cmd_setInitialSecurityState({"state": security})["status"] == "OK"
    params = t.EmberNetworkParameters(extendedPanId=t.ExtendedPanId.convert("00:DB:12:34:56:78:90:A4"), panId=PAN,
                                      radioTxPower=8, radioChannel=CHANNEL, joinMethod=0, nwkManagerId=0,
                                      nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS)
    assert node.cmd_formNetwork({"parameters": params})["status"] == "OK"
    return node


def unicast(node: Node, payload: bytes) -> None:
    aps = t.EmberApsFrame(profileId=0x0109, clusterId=0x0702, sourceEndpoint=1, destinationEndpoint=1,
                          options=t.EmberApsOption.APS_OPTION_RETRY, groupId=0, sequence=0)
    reply = node.cmd_sendUnicast({"aps_frame": aps, "nwk": SILENT_NWK, "message_tag": 1, "message": payload,
                                  "message_type": 0})
    assert reply["status"] == "OK", reply


async def test_an_ncp_reset_ends_its_transmissions_and_its_next_frame_counter_is_above_every_one_sent():
    clock = VirtualClock()
    air = Air(clock)
    node = coordinator(clock, air)
    sent: list[tuple[float, int]] = []         # (time, NWK frame counter) of every secured frame of the NCP

    def tap(when, _channel, psdu):
        mac = F.MacFrame.decode(psdu, check_fcs=False)
        if mac.frame_type == F.FT_DATA and mac.payload:
            nwk = F.NwkFrame.decode(mac.payload)
            if nwk.security:
                sent.append((when, nwk.aux.frame_counter))

    mute = air.attach("mute", channel=CHANNEL)
    mute.pan_id, mute.short_addr, mute.ieee = PAN, SILENT_NWK, 0x00DB1234567890A5
    air.add_tap(tap)
    unicast(node, b"\x18\x01\x01\x00\x00\x00")
    await clock.advance(APS_ACK_TIMEOUT / 2)
    assert sent, "the unicast never went on the air"
    assert node.stack._tasks, "nothing in flight: the reset below would test nothing"
    before = [fc for _t, fc in sent]

    node.boot()                                  # the NCP resets: RAM gone, NV kept
    reset_at = clock.now()
    await clock.advance(10 * APS_ACK_TIMEOUT)    # longer than every retry the unicast had left
    assert [fc for when, fc in sent if when >= reset_at] == [], "a transmission outlived the NCP's reset"
    assert not node.stack._tasks

    assert node.cmd_networkInit({})["status"] == "OK"
    await clock.advance(1.0)
    assert node.state.network_up
    unicast(node, b"\x18\x02\x01\x00\x00\x00")
    await clock.advance(APS_ACK_TIMEOUT / 2)
    after = [fc for when, fc in sent if when >= reset_at]
    assert after, "the NCP sent nothing after its network came back"
    assert min(after) > max(before), f"frame counters after the reset {after} not above those before {before}"
