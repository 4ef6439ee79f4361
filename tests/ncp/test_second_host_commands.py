"""What the commands a second host stack (zigbee-herdsman's ember adapter) sends are answered with.

Each command goes through EZSP frames (bellows' tables encode the request and decode the answer), so
the layout per version is checked along with the EmberZNet semantics.
"""

from __future__ import annotations

import os

import bellows.types as t
import pytest
import zigpy.types as zt

from firmware_shims.ncp.ash import AshNcp, ResetCode
from firmware_shims.ncp.ezsp import EzspNcp, command_table
from firmware_shims.ncp.node import Node
from firmware_shims.ncp.nv import NvStore
from firmware_shims.ncp.radio import LoopbackRadio
from firmware_shims.ncp.stack import Stack
from rig.clock import VirtualClock
from rig.zigbee.mmo import mmo_hash


class Ncp:
    """One emulated NCP spoken to in EZSP frames of one version."""

    def __init__(self, version: int = 14, nv: NvStore | None = None) -> None:
        self.version = version
        self.sent: list[bytes] = []
        self.clock = VirtualClock()
        self.ezsp = EzspNcp(self.sent.append, {}, firmware_version=version, versions=(version,))
        self.nv = nv or NvStore(None, "00DB1234567890A3")
        self.node = Node(self.nv, self.clock, self.ezsp.callback)
        self.node.stack = Stack(self.node, LoopbackRadio())
        self.ezsp.handlers = self.node.handlers()
        self.ezsp.frame_received(bytes((0, 0, 0, version)))
        self.seq = 0

    def __call__(self, name: str, **params):
        commands, by_id = command_table(self.version)
        frame_id, tx, rx = commands[name]
        body = b"".join(tx[k](params[k]).serialize() for k in tx) if isinstance(tx, dict) else b""
        self.seq = (self.seq + 1) & 0xFF
        self.sent.clear()
        self.ezsp.frame_received(bytes((self.seq, 0, 1)) + frame_id.to_bytes(2, "little") + body)
        reply = next(f for f in self.sent if f[1] & 0x10 == 0)
        assert int.from_bytes(reply[3:5], "little") == frame_id, by_id.get(int.from_bytes(reply[3:5], "little"))
        values, rest = t.deserialize_dict(reply[5:], rx)
        assert rest == b""
        return values

    def callbacks(self) -> list[str]:
        _, by_id = command_table(self.version)
        return [by_id[int.from_bytes(f[3:5], "little")] for f in self.sent if f[1] & 0x10]

    def form(self):
        params = t.EmberNetworkParameters(
            extendedPanId=t.ExtendedPanId.convert("00:DB:12:34:56:78:90:A3"), panId=0x1A2B, radioTxPower=8,
            radioChannel=15, joinMethod=0, nwkManagerId=0, nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS)
        assert self("formNetwork", parameters=params)["status"] in (t.sl_Status.OK, t.EmberStatus.SUCCESS)


@pytest.fixture(params=[13, 14, 19], ids=lambda v: f"v{v}")
async def ncp(request):
    yield Ncp(request.param)


def ok(ncp: Ncp):
    return t.EmberStatus.SUCCESS if ncp.version < 14 else t.sl_Status.OK


async def test_endpoint_flags_are_two_bytes_unknown_endpoint_is_not_ok_until_added(ncp):
    flags = t.EzspExtendedValueId.EXTENDED_VALUE_ENDPOINT_FLAGS
    before = ncp("getExtendedValue", valueId=flags, characteristics=1)
    assert before["status"] != (t.EzspStatus.SUCCESS if ncp.version < 14 else t.sl_Status.OK)
    assert len(before["value"]) == 2             # herdsman reads two bytes whatever the status
    added = ncp("addEndpoint", endpoint=1, profileId=0x0104, deviceId=0x0005, deviceVersion=0,
                inputClusterCount=1, outputClusterCount=0, inputClusterList=[0x0000], outputClusterList=[])
    assert added["status"] == (t.EzspStatus.SUCCESS if ncp.version < 14 else t.sl_Status.OK)
    after = ncp("getExtendedValue", valueId=flags, characteristics=1)
    assert after["status"] in (t.EzspStatus.SUCCESS, t.sl_Status.OK)
    assert after["value"] == b"\x01\x00"         # EZSP_ENDPOINT_ENABLED


async def test_concentrator_source_routes_and_multicast_table_as_herdsman_starts(ncp):
    ncp.form()
    assert ncp("setConcentrator", on=True, concentratorType=0xFFF9, minTime=10, maxTime=90, routeErrorThreshold=4,
               deliveryFailureThreshold=3, maxHops=0)["status"] == ok(ncp)
    assert "remainingTime" in ncp("setSourceRouteDiscoveryMode", mode=1)
    entry = t.EmberMulticastTableEntry(multicastId=0x0B84, endpoint=1, networkIndex=0)
    assert ncp("setMulticastTableEntry", index=0, value=entry)["status"] == ok(ncp)
    got = ncp("getMulticastTableEntry", index=0)["value"]
    assert (got.multicastId, got.endpoint) == (0x0B84, 1)
    assert ncp("setSourceRoute", destination=0x1234, relayList=[0x5678])["status"] == ok(ncp)
    assert ncp("getSourceRouteTableFilledSize")["sourceRouteTableFilledSize"] == 1
    overhead = ncp("getExtendedValue", valueId=t.EzspExtendedValueId.EXTENDED_VALUE_GET_SOURCE_ROUTE_OVERHEAD,
                   characteristics=0x1234)
    assert overhead["value"] == bytes((4,))     # relay count, relay index, one 2-byte relay


async def test_read_and_clear_counters_answers_every_counter_and_clears_them(ncp):
    ncp.node.state.counters[3] = 7
    first = ncp("readAndClearCounters")["values"]
    assert len(first) == len(t.EmberCounterType) and first[3] == 7
    assert ncp("readCounters")["values"][3] == 0


async def test_binding_table_survives_a_reboot_and_deletes(ncp):
    binding = t.EmberBindingTableEntry(type=t.EmberBindingType.UNICAST_BINDING, local=1, clusterId=6, remote=1,
                                       identifier=zt.EUI64.convert("00:11:22:33:44:55:66:77"), networkIndex=0)
    assert ncp("setBinding", index=2, value=binding)["status"] == ok(ncp)
    ncp.node.boot()
    got = ncp("getBinding", index=2)
    assert got["status"] == ok(ncp) and got["value"].clusterId == 6 and got["value"].type == 1
    assert ncp("getBinding", index=3)["value"].type == t.EmberBindingType.UNUSED_BINDING
    assert ncp("getBinding", index=200)["status"] != ok(ncp)
    assert ncp("deleteBinding", index=2)["status"] == ok(ncp)
    assert ncp("getBinding", index=2)["value"].type == t.EmberBindingType.UNUSED_BINDING


async def test_aes_commands_match_the_published_vectors(ncp):
    # FIPS-197 appendix C.1
    key, plaintext = bytes(range(16)), bytes.fromhex("00112233445566778899aabbccddeeff")
    got = ncp("aesEncrypt", plaintext=list(plaintext), key=list(key))["ciphertext"]
    assert bytes(got) == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")
    # AES-MMO over two calls (one block, then the rest with finalize) equals the one-shot hash
    data = os.urandom(37)
    context = t.EmberAesMmoHashContext(result=[0] * 16, length=0)
    step = ncp("aesMmoHash", context=context, finalize=False, data=data[:16])["returnContext"]
    assert step.length == 16
    final = ncp("aesMmoHash", context=step, finalize=True, data=data[16:])["returnContext"]
    assert bytes(final.result) == mmo_hash(data)
    assert ncp("aesMmoHash", context=context, finalize=False, data=data[:5])["status"] != ok(ncp)


async def test_library_status_says_cbke_283k1_present_163k1_and_zll_absent(ncp):
    assert ncp("getLibraryStatus", libraryId=13)["status"] & 0x80        # CBKE 283k1
    assert ncp("getLibraryStatus", libraryId=6)["status"] == 0xFF        # CBKE 163k1
    assert ncp("getLibraryStatus", libraryId=12)["status"] == 0xFF       # ZLL
    assert ncp("generateCbkeKeys")["status"] == (t.EmberStatus.LIBRARY_NOT_PRESENT if ncp.version < 14
                                                 else t.sl_Status.NOT_AVAILABLE)


async def test_ezsp_app_tokens_persist_in_nv(ncp):
    assert ncp("setToken", tokenId=3, tokenData=list(b"ABCDEFGH"))["status"] == ok(ncp)
    again = Ncp(ncp.version, nv=ncp.nv)        # reboot from the same NV
    assert bytes(again("getToken", tokenId=3)["tokenData"]) == b"ABCDEFGH"
    assert again("getToken", tokenId=8)["status"] != ok(ncp)


async def test_a_timer_calls_back_on_the_node_clock_and_repeats(ncp):
    assert ncp("setTimer", timerId=1, time=500, units=t.EmberEventUnits.EVENT_MS_TIME, repeat=True)["status"] == \
        ok(ncp)
    ncp.sent.clear()
    await ncp.clock.advance(1.2)
    assert ncp.callbacks() == ["timerHandler", "timerHandler"]
    assert ncp("getTimer", timerId=1)["units"] == t.EmberEventUnits.EVENT_MS_TIME


async def test_reset_node_answers_then_reboots_with_a_software_reset_rstack(ncp):
    rebooted = []
    ncp.node.reboot = lambda: rebooted.append(True)
    assert ncp("resetNode") == {}
    assert rebooted == []                       # the answer first
    await ncp.clock.advance(0)
    assert rebooted == [True]


async def test_ash_ncp_reset_sends_rstack_with_the_software_reset_code():
    out, resets = [], []
    ash = AshNcp(out.append, lambda frame: None, lambda: resets.append(True))
    ash.ncp_reset()
    assert resets == [True] and ash.connected
    frame = out[-1]
    assert frame[:1] == b"\xc1" and frame[2] == ResetCode.SOFTWARE   # RSTACK version 2, reset code


@pytest.mark.parametrize("version", [14, 19])
async def test_import_transient_key_without_the_flags_emberznet_8_dropped_and_with_them(version):
    ncp = Ncp(version)
    commands, _ = command_table(version)
    frame_id = commands["importTransientKey"][0]
    eui, key = bytes(range(8)), b"ZigBeeAlliance09"
    for flags in (b"", b"\x00"):               # herdsman sends none (EmberZNet 8), bellows still sends one
        ncp.sent.clear()
        ncp.ezsp.frame_received(bytes((7, 0, 1)) + frame_id.to_bytes(2, "little") + eui + key + flags)
        assert ncp.sent[-1][3:5] == frame_id.to_bytes(2, "little") and ncp.sent[-1][5:] == bytes(4)   # OK
    assert ncp.node.transient_key_for(zt.EUI64(eui)) == key


async def test_v13_import_transient_key_still_needs_its_flags():
    ncp = Ncp(13)
    frame_id = command_table(13)[0]["importTransientKey"][0]
    ncp.ezsp.frame_received(bytes((7, 0, 1)) + frame_id.to_bytes(2, "little") + bytes(8) + bytes(16))
    assert int.from_bytes(ncp.sent[-1][3:5], "little") == 0x0058     # invalidCommand: truncated


async def test_the_release_reported_follows_the_version_spoken(tmp_path):
    from firmware_shims.ncp.dongle import EmulatedDongle
    from firmware_shims.ncp.ezsp import STACK_VERSIONS

    dongle = EmulatedDongle("v", state_dir=tmp_path)
    dongle.ezsp.frame_received(bytes((0, 0, 0, 19)))
    assert dongle.node.stack_version == STACK_VERSIONS[19]
    await dongle.stop()


async def test_neighbour_frame_counters_are_the_ones_the_stack_checks(ncp):
    eui = zt.EUI64.convert("00:11:22:33:44:55:66:77")
    ncp.node.stack.incoming_fc = {int.from_bytes(bytes(eui), "little"): 41}
    assert ncp("getNeighborFrameCounter", eui64=eui) == {"status": ok(ncp), "frameCounter": 41}
    assert ncp("setNeighborFrameCounter", eui64=eui, frame_counter=99)["status"] == ok(ncp)
    assert ncp.node.stack.incoming_fc[int.from_bytes(bytes(eui), "little")] == 99
    other = zt.EUI64.convert("00:00:00:00:00:00:00:01")
    assert ncp("getNeighborFrameCounter", eui64=other)["status"] != ok(ncp)
