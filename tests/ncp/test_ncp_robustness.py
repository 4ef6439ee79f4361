"""Nothing a host or the air sends can kill an emulated NCP: fuzzed EZSP frames and PSDUs.

The PSDU fuzzing runs against a coordinator that has formed a network and holds a link key for one
sender, so fuzzed frames reach every layer: MAC commands and filtering, NWK decoding, NWK security
(frames secured with the real network key and a fresh counter, so the MIC passes and the plaintext
is parsed), NWK commands, APS decoding, APS security (with the sender's real link key), ZDO the NCP
answers itself, and delivery to the host.  After each frame the NCP must still answer EZSP, its
network and key state must be unchanged, a well-formed frame must still be delivered to the host,
and no exception may have been raised anywhere, spawned tasks and loop callbacks included.
"""

import asyncio
import contextlib
import json
import logging

import bellows.types as t
import pytest
import zigpy.types as zt
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from scale import scaled

from firmware_shims.air import Air
from firmware_shims.ncp.ezsp import EzspNcp, command_table, encode_fields
from firmware_shims.ncp.node import Node
from firmware_shims.ncp.nv import NvStore
from firmware_shims.ncp.radio import fcs
from firmware_shims.ncp.zigbee import AirStack
from rig.clock import VirtualClock
from rig.zigbee import frames as F
from rig.zigbee import security as S

COMMAND_IDS = sorted(command_table(14)[1])

CH_EUI = "00DB1234567890A3"
PAN = 0x1A2B
CHANNEL = 15
NWK_KEY = bytes.fromhex("01030507090B0D0F00020406080A0C0D")
SENDER = 0x00DB5A5A5A5A0001              # a joined node the coordinator holds a link key for
SENDER_SHORT = 0x4567
LINK_KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")
PROBE = 0x00DB5A5A5A5A0002               # sends one well-formed frame after the fuzzed one
PROBE_SHORT = 0x7001
SETTLE_S = 30.0                          # longer than every NCP timer a frame can start (APS retries, announce wait)


class Watch:
    """Records every task created on the loop and every error the loop reports (exceptions in
    callbacks, in tasks nobody awaited), so that an exception inside a spawned task fails the test."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.tasks: list[asyncio.Task] = []
        self.loop_errors: list[dict] = []
        loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        loop.set_task_factory(self._task)

    def _task(self, loop, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop, **kwargs)
        self.tasks.append(task)
        return task

    def failures(self) -> list:
        failed = [(task, task.exception()) for task in self.tasks
                  if task.done() and not task.cancelled() and task.exception() is not None]
        return failed + self.loop_errors


class ErrorLog(logging.Handler):
    """ERROR records of the emulated firmware: a handler exception the EZSP layer catches (and
    answers with invalidCommand) is logged here, so a test can still see it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def firmware_errors():
    log, logger = ErrorLog(), logging.getLogger("firmware_shims")
    logger.addHandler(log)
    try:
        yield log.records
    finally:
        logger.removeHandler(log)


def negotiated_ncp():
    sent = []
    ezsp = EzspNcp(sent.append, {})
    node = Node(NvStore(None, "00DB1234567890A3"), VirtualClock(), ezsp.callback)
    ezsp.handlers = node.handlers()
    ezsp.frame_received(bytes.fromhex("00000100000e"))
    sent.clear()
    return ezsp, node, sent


@pytest.mark.fuzz
@settings(max_examples=scaled(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame_id=st.sampled_from(COMMAND_IDS) | st.integers(0, 0xFFFF), params=st.binary(max_size=80),
       seq=st.integers(0, 255))
@example(frame_id=0x0064, params=bytes(4), seq=0)    # setMulticastTableEntry without the optional networkIndex
@example(frame_id=0x0076, params=b"\x04", seq=0)    # eraseKeyTableEntry past the key table: its status raised
def test_any_ezsp_frame_gets_at_most_one_reply_and_never_an_exception(frame_id, params, seq):
    async def run():                  # on a running loop, as in a dongle: some handlers answer later
        watch = Watch(asyncio.get_running_loop())
        ezsp, node, sent = negotiated_ncp()
        frame = bytes((seq, 0x00, 0x01)) + frame_id.to_bytes(2, "little") + params
        with firmware_errors() as errors:
            ezsp.frame_received(frame)
            replies = [f for f in sent if f[1] == 0x80]
            await node.clock.advance(SETTLE_S)
        assert [r.getMessage() for r in errors] == []     # no handler raised (they are caught and logged)
        assert watch.failures() == []
        assert len(replies) <= 1
        if replies:
            assert replies[0][0] == seq
        # the NCP still answers afterwards
        ezsp.frame_received(bytes((seq ^ 1, 0x00, 0x01, 0x26, 0x00)))      # getEui64
        assert sent[-1][3:5] == b"\x26\x00"

    asyncio.run(run())


# --- the air side, on a formed network -------------------------------------------------------


def ezsp_command(ezsp: EzspNcp, sent: list, name: str, seq: int, **params) -> dict:
    """Send one EZSP command through the NCP's frame decoder; the decoded reply fields."""
    commands, _ = command_table(ezsp.version)
    frame_id, tx_schema, rx_schema = commands[name]
    before = len(sent)
    ezsp.frame_received(bytes((seq, 0x00, 0x01)) + frame_id.to_bytes(2, "little") + encode_fields(tx_schema, params))
    replies = [f for f in sent[before:] if f[1] == 0x80]
    assert len(replies) == 1 and replies[0][3] | replies[0][4] << 8 == frame_id, f"{name}: no reply"
    values, _rest = t.deserialize_dict(replies[0][5:], rx_schema)
    return values


def formed_coordinator(clock: VirtualClock, air: Air):
    """An EZSP v14 NCP on the air that formed PAN 0x1A2B (network key NWK_KEY) through EZSP and holds
    a link key for SENDER; ``calls`` records every callback the node raises."""
    sent, calls = [], []
    ezsp = EzspNcp(sent.append, {})

    def callback(name, **fields):
        calls.append((name, fields))
        ezsp.callback(name, **fields)

    node = Node(NvStore(None, CH_EUI), clock, callback)
    node.stack = AirStack(node, air.attach("ncp"))
    ezsp.handlers = node.handlers()
    ezsp.frame_received(bytes.fromhex("00000100000e"))
    security = t.EmberInitialSecurityState(
        bitmask=0x0200 | 0x0100 | 0x0004 | 0x0008, preconfiguredKey=t.KeyData(LINK_KEY),
        networkKey=t.KeyData(NWK_KEY), networkKeySequenceNumber=0,
        preconfiguredTrustCenterEui64=zt.EUI64(bytes(8)))
    assert ezsp_command(ezsp, sent, "setInitialSecurityState", 1, state=security)["status"] == t.sl_Status.OK
    params = t.EmberNetworkParameters(extendedPanId=t.ExtendedPanId.convert("00:DB:12:34:56:78:90:A3"), panId=PAN,
                                      radioTxPower=8, radioChannel=CHANNEL, joinMethod=0, nwkManagerId=0,
                                      nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS)
    assert ezsp_command(ezsp, sent, "formNetwork", 2, parameters=params)["status"] == t.sl_Status.OK
    address = zt.EUI64(SENDER.to_bytes(8, "little"))
    assert ezsp_command(ezsp, sent, "importLinkKey", 3, index=0, address=address,
                        key=t.KeyData(LINK_KEY))["status"] == t.sl_Status.OK
    assert node.state.network_up and node.network.pan_id == PAN and bytes.fromhex(node.network.network_key) == NWK_KEY
    assert node.link_key_for(f"{SENDER:016X}") == LINK_KEY
    return ezsp, node, sent, calls


def state_of(node: Node) -> dict:
    """What no received frame may change: NV (network tokens, keys, EUI-64s) and the RAM settings.

    Left out on purpose: the outgoing frame counters (every APS ack or ZDO answer the NCP sends
    advances them) and the EUI-64 <-> NWK map (a frame from a node teaches the coordinator its
    address, and a device announcement or leave updates it).
    """
    nv = json.loads(node.nv.state.to_json())
    nv["network"].pop("nwk_frame_counter")
    nv["network"].pop("aps_frame_counter")
    nv.pop("address_map")
    radio = node.stack.radio
    return {"nv": nv, "network_up": node.state.network_up, "permit_until": node.state.permit_until,
            "policies": dict(node.state.policies), "endpoints": dict(node.state.endpoints),
            "mac_filters": list(node.state.mac_filters),
            "radio": (radio.pan_id, radio.short_addr, radio.ieee, radio.channel)}


def secured_nwk_psdu(*, source: int, src_short: int, frame_counter: int, plaintext: bytes, dst: int = 0x0000,
                     frame_type: int = F.NWK_DATA, key: bytes = NWK_KEY, key_seq: int = 0, radius: int = 30,
                     seq: int = 1, mac_dst: int | None = None) -> bytes:
    aux = F.AuxHeader(key_id=F.KEY_ID_NWK, frame_counter=frame_counter, source=source, key_seq=key_seq)
    nwk = S.secure_nwk(F.NwkFrame(frame_type=frame_type, dst=dst, src=src_short, radius=radius, seq=seq, aux=aux),
                       key, plaintext)
    mac_dst = (0xFFFF if dst >= 0xFFF8 else dst) if mac_dst is None else mac_dst
    return F.mac_data(seq, PAN, mac_dst, src_short, nwk).encode()


PROBE_PAYLOAD = bytes.fromhex("0101000000")     # ZCL read-attributes response frame, any content will do


def probe_psdu() -> bytes:
    """A well-formed Smart Energy unicast from PROBE to the coordinator (NWK-secured, no APS security)."""
    aps = F.ApsFrame(frame_type=F.APS_DATA, delivery_mode=F.DELIVERY_UNICAST, dst_endpoint=1, cluster=0x0702,
                     profile=F.PROFILE_SE, src_endpoint=1, counter=0x55, payload=PROBE_PAYLOAD).encode()
    return secured_nwk_psdu(source=PROBE, src_short=PROBE_SHORT, frame_counter=1, plaintext=aps)


def _is_leave_request_for_coordinator(nwk_type: int, dst: int, plaintext: bytes) -> bool:
    """Frames that legitimately make the coordinator leave: a NWK Leave with the request bit, or a
    ZDO Mgmt_Leave_req unicast to it.  The fuzzer does not send those (the NCP is right to obey them)."""
    try:
        if nwk_type == F.NWK_COMMAND:
            cmd = F.NwkCommand.decode(plaintext)
            return cmd.command_id == F.NWK_CMD_LEAVE and bool(cmd.options & F.LEAVE_REQUEST) and dst == 0x0000
        aps = F.ApsFrame.decode(plaintext)
    except F.FrameError:
        return False
    return (aps.frame_type == F.APS_DATA and aps.profile == 0 and aps.dst_endpoint == 0 and aps.cluster == 0x0034
            and dst < 0xFFF8)


u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)


def mostly(usual, other):
    """``usual`` three times in four, ``other`` otherwise: fuzzed frames should mostly get past the
    address and key checks to the layers behind them, and sometimes not."""
    return st.integers(0, 3).flatmap(lambda i: other if i == 0 else usual)


@st.composite
def aps_frames(draw) -> bytes:
    """APS data/command/ack frames with fuzzed fields, unsecured or secured (right or wrong key)."""
    frame_type = draw(st.sampled_from([F.APS_DATA, F.APS_DATA, F.APS_COMMAND, F.APS_ACK]))
    delivery = draw(st.sampled_from([F.DELIVERY_UNICAST, F.DELIVERY_UNICAST, F.DELIVERY_BROADCAST, F.DELIVERY_GROUP]))
    fields = {"frame_type": frame_type, "delivery_mode": delivery, "ack_request": draw(st.integers(0, 1)),
              "counter": draw(u8)}
    if frame_type in (F.APS_DATA, F.APS_ACK):
        if frame_type == F.APS_ACK or delivery in (F.DELIVERY_UNICAST, F.DELIVERY_BROADCAST):
            fields["dst_endpoint"] = draw(mostly(st.sampled_from([0, 1]), u8))
        if frame_type == F.APS_DATA and delivery == F.DELIVERY_GROUP:
            fields["group"] = draw(u16)
        fields["cluster"] = draw(mostly(st.sampled_from([0x0000, 0x0001, 0x0002, 0x0004, 0x0005, 0x0013, 0x0021,
                                                         0x0036, 0x0034, 0x0702, 0x0800, 0x8000]), u16))
        fields["profile"] = draw(mostly(st.sampled_from([F.PROFILE_ZDO, F.PROFILE_SE, F.PROFILE_HA]), u16))
        fields["src_endpoint"] = draw(u8)
        fragmentation = draw(st.sampled_from([None, None, F.FRAG_NONE, F.FRAG_FIRST, F.FRAG_MORE]))
        if fragmentation is not None:
            fields["fragmentation"] = fragmentation
            if fragmentation:
                fields["block_number"] = draw(u8)
                if frame_type == F.APS_ACK:
                    fields["ack_bitfield"] = draw(u8)
    payload = draw(st.binary(max_size=24))
    if frame_type == F.APS_COMMAND:
        payload = bytes((draw(st.integers(1, 17)),)) + payload
    security = draw(st.sampled_from(["none", "link key", "link key", "wrong key"]))
    if security == "none":
        return F.ApsFrame(**fields, payload=payload).encode()
    key_id = draw(st.sampled_from([F.KEY_ID_DATA, F.KEY_ID_DATA, F.KEY_ID_KEY_TRANSPORT, F.KEY_ID_KEY_LOAD]))
    aux = F.AuxHeader(key_id=key_id, frame_counter=draw(u32), source=SENDER)
    key = LINK_KEY if security == "link key" else bytes(16)
    return S.secure_aps(F.ApsFrame(**fields, aux=aux), key, payload)


@st.composite
def secured_nwk_frames(draw) -> bytes:
    """NWK frames secured with the network key, so the MIC passes and the plaintext is parsed."""
    frame_type = draw(st.sampled_from([F.NWK_DATA, F.NWK_DATA, F.NWK_DATA, F.NWK_COMMAND]))
    dst = draw(mostly(st.sampled_from([0x0000, 0x0000, 0xFFFF, 0xFFFD, 0xFFFC]), u16))
    if frame_type == F.NWK_DATA:
        plaintext = draw(mostly(aps_frames(), st.binary(max_size=40)))
    else:
        plaintext = bytes((draw(mostly(st.integers(1, 12), u8)),)) + draw(st.binary(max_size=20))
    assume(not _is_leave_request_for_coordinator(frame_type, dst, plaintext))
    source = draw(mostly(st.just(SENDER), st.integers(0, 2**64 - 1).filter(lambda e: e != PROBE)))
    return secured_nwk_psdu(source=source, src_short=draw(mostly(st.just(SENDER_SHORT), u16)),
                            frame_counter=draw(u32), plaintext=plaintext, dst=dst, frame_type=frame_type,
                            key_seq=draw(mostly(st.just(0), u8)), radius=draw(u8), seq=draw(u8),
                            mac_dst=draw(mostly(st.none(), u16)))


@st.composite
def mac_frames_to_the_coordinator(draw) -> bytes:
    """MAC data and command frames addressed to the coordinator with fuzzed NWK/command bytes
    (NWK security bit often set, so the bytes reach NWK decryption and fail its MIC check)."""
    if draw(st.booleans()):
        fc = draw(u16) | 0x0200 if draw(st.booleans()) else draw(u16)
        nwk = fc.to_bytes(2, "little") + draw(st.binary(max_size=60))
        return F.mac_data(draw(u8), PAN, draw(st.sampled_from([0x0000, 0xFFFF])), draw(u16), nwk).encode()
    command = bytes((draw(st.integers(1, 9) | u8),)) + draw(st.binary(max_size=20))
    dst = draw(st.sampled_from([0x0000, 0xFFFF]))
    frame = F.MacFrame(frame_type=F.FT_COMMAND, ack_request=0, pan_id_compression=1, seq=draw(u8),
                       dst_mode=F.ADDR_SHORT, dst_pan=PAN, dst_addr=dst, src_mode=F.ADDR_LONG,
                       src_addr=draw(st.integers(0, 2**64 - 1)), payload=command)
    return frame.encode()


def raw_psdus():
    """Any bytes, with the FCS fixed (what a radio passes up) or as they came."""
    return st.binary(min_size=5, max_size=127).map(lambda p: p[:-2] + fcs(p[:-2])) | st.binary(min_size=5, max_size=127)


@pytest.mark.fuzz
@settings(max_examples=scaled(400), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(psdu=st.one_of(raw_psdus(), mac_frames_to_the_coordinator(), secured_nwk_frames(), secured_nwk_frames()),
       replay=st.booleans())
def test_any_psdu_on_a_formed_network_leaves_the_ncp_answering_and_its_state_unchanged(psdu, replay):
    async def run():
        watch = Watch(asyncio.get_running_loop())
        clock = VirtualClock()
        air = Air(clock)
        ezsp, node, sent, calls = formed_coordinator(clock, air)
        before = state_of(node)

        with firmware_errors() as errors:
            node.stack.on_receive(psdu, 255, -40)
            if replay:                              # the same frame again: replay protection path
                node.stack.on_receive(psdu, 255, -40)
            await clock.advance(SETTLE_S)

        assert watch.failures() == []
        assert [r.getMessage() for r in errors] == []
        assert [task for task in watch.tasks if not task.done()] == [], "tasks still running after every timer"
        assert state_of(node) == before
        assert not any(name == "stackStatusHandler" and fields.get("status") == "NETWORK_DOWN"
                       for name, fields in calls)
        # the NCP still answers EZSP, and still reports the network it formed
        assert ezsp_command(ezsp, sent, "networkState", 0x40)["status"] == t.EmberNetworkStatus.JOINED_NETWORK
        reply = ezsp_command(ezsp, sent, "getNetworkParameters", 0x41)
        assert reply["status"] == t.sl_Status.OK and reply["parameters"].panId == PAN
        assert reply["parameters"].radioChannel == CHANNEL
        # and still receives: a well-formed frame from another node reaches the host
        calls.clear()
        node.stack.on_receive(probe_psdu(), 255, -40)
        await clock.advance(SETTLE_S)
        delivered = [fields for name, fields in calls if name == "incomingMessageHandler"]
        assert [(f["aps_frame"].clusterId, f["nwk"], f["message"]) for f in delivered] == [
            (0x0702, PROBE_SHORT, PROBE_PAYLOAD)]
        assert watch.failures() == []

    asyncio.run(run())


def test_the_fuzzer_frames_reach_the_secured_paths():
    """The builders the fuzzer uses make frames that pass NWK security (network key) and APS security
    (the sender's link key) on the formed coordinator: fuzzing them exercises what lies behind both."""
    async def run():
        watch = Watch(asyncio.get_running_loop())
        clock = VirtualClock()
        _ezsp, node, _sent, calls = formed_coordinator(clock, Air(clock))
        aux = F.AuxHeader(key_id=F.KEY_ID_DATA, frame_counter=9, source=SENDER)
        aps = S.secure_aps(F.ApsFrame(frame_type=F.APS_DATA, delivery_mode=F.DELIVERY_UNICAST, dst_endpoint=1,
                                      cluster=0x0800, profile=F.PROFILE_SE, src_endpoint=1, counter=7, aux=aux),
                           LINK_KEY, b"\x01\x42\x00")
        node.stack.on_receive(secured_nwk_psdu(source=SENDER, src_short=SENDER_SHORT, frame_counter=5, plaintext=aps),
                              255, -40)
        await clock.advance(SETTLE_S)
        delivered = [fields for name, fields in calls if name == "incomingMessageHandler"]
        assert [(f["aps_frame"].clusterId, f["nwk"], f["message"]) for f in delivered] == [
            (0x0800, SENDER_SHORT, b"\x01\x42\x00")]
        assert node.stack.incoming_fc[SENDER] == 5
        assert watch.failures() == []

    asyncio.run(run())


def test_an_exception_in_a_spawned_task_is_caught_by_the_watch():
    """The check the fuzz tests rely on: an exception inside a task the NCP spawns is seen."""
    async def run():
        watch = Watch(asyncio.get_running_loop())
        clock = VirtualClock()
        _ezsp, node, _sent, _calls = formed_coordinator(clock, Air(clock))

        async def broken():
            raise RuntimeError("boom")

        node.stack.spawn(broken())
        await clock.advance(1)
        assert [str(exc) for _task, exc in watch.failures()] == ["boom"]

    asyncio.run(run())
