"""The emulated NCP refuses what a real EmberZNet NCP refuses, and the host roles survive it (issue 13).

Each test drives the emulator the way the role code did before issue 13 and shows that it now fails
there as it would on a real dongle, then shows the fixed ``rig.roles.ezsp_role.EzspRole`` succeeding.
"""

from __future__ import annotations

import asyncio

import bellows.types as t
import pytest
import zigpy.types as zt

import firmware_shims.ncp.zigbee as airstack
from rig import pairing
from rig.backend import SimBackend
from rig.events import EventLog
from rig.roles.ezsp_role import EzspRole
from rig.zigbee.eui64 import eui_obj

CHANNEL = 15
PAN = 0x1A2B
EPAN = "00124B0000ABCDEF"
LINK_KEY = bytes(range(16))
Sec = t.EmberInitialSecurityBitmask

#: What ``EzspRole.join`` set before issue 13: HAVE_TRUST_CENTER_EUI64 with an all-zero EUI-64 and the
#: hidden 0x0010 (EMBER_HAVE_TRUST_CENTER_UNKNOWN_KEY_TOKEN, "used internally").
pytestmark = pytest.mark.sim_only("the emulated NCP's strictness, on its own emulated dongles")

OLD_JOIN_BITMASK = 0x0100 | 0x0800 | 0x0040 | 0x0010


@pytest.fixture
async def lab(tmp_path):
    backend = SimBackend(state_dir=tmp_path / "nv")
    events = EventLog(backend.clock)
    opened: list[EzspRole] = []

    async def role(name: str, **dongle) -> EzspRole:
        if dongle:
            backend.lab.add(name, **dongle)
        r = EzspRole(name, await backend.open_ezsp(name), backend.clock, events)
        await r.read_eui64()
        opened.append(r)
        return r

    yield backend, role
    for r in opened:
        await r.disconnect()
    await backend.close()


async def trust_centre(role: EzspRole) -> EzspRole:
    from rig.roles.ch.shim import TC_SECURITY

    await role.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0500)
    await role.set_trust_center_policy(t.EzspDecisionBitmask.ALLOW_JOINS | t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)
    await role.form_network(extended_pan_id=EPAN, pan_id=PAN, channel=CHANNEL, network_key=bytes(16 * [7]),
                            security_bitmask=TC_SECURITY)
    return role


async def old_join(role: EzspRole, key: bytes) -> t.sl_Status:
    """The joiner's security state and join as ``EzspRole.join`` sent them before issue 13."""
    done = asyncio.get_running_loop().create_future()
    role.on("stackStatusHandler", lambda status, *_: done.done() or t.sl_Status.from_ember_status(status)
            == t.sl_Status.ZIGBEE_NETWORK_OPENED or done.set_result(t.sl_Status.from_ember_status(status)))
    await role.ezsp.setInitialSecurityState(state=t.EmberInitialSecurityState(
        bitmask=t.EmberInitialSecurityBitmask(OLD_JOIN_BITMASK), preconfiguredKey=t.KeyData(key),
        networkKey=t.KeyData(bytes(16)), networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=zt.EUI64(bytes(8))))
    (status,) = await role.ezsp.joinNetwork(nodeType=t.EmberNodeType.ROUTER, parameters=t.EmberNetworkParameters(
        extendedPanId=eui_obj(EPAN, zt.ExtendedPanId), panId=PAN, radioTxPower=8, radioChannel=CHANNEL, joinMethod=0,
        nwkManagerId=0, nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS))
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    return await asyncio.wait_for(done, 10)


# --- join security ----------------------------------------------------------------------------------

async def test_join_refuses_a_trust_centre_other_than_the_pinned_one(lab, monkeypatch):
    monkeypatch.setattr(airstack, "TRANSPORT_KEY_WAIT", 0.5)     # how long a refused join waits for its key
    backend, role = lab
    tc = await trust_centre(await role("ch"))
    joiner = await role("esme")
    await joiner.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0501)
    epan = eui_obj(EPAN, zt.ExtendedPanId)

    await tc.admit(joiner.eui64, LINK_KEY, 60)
    assert await old_join(joiner, LINK_KEY) == t.sl_Status.ZIGBEE_NO_NETWORK_KEY_RECEIVED   # the old joiners
    assert backend.dongle("esme").nv.state.network is None

    other = "00124B0000000001"
    assert await joiner.join(CHANNEL, PAN, epan, LINK_KEY, trust_center=other) == "ZIGBEE_NO_NETWORK_KEY_RECEIVED"
    assert await joiner.join(CHANNEL, PAN, epan, LINK_KEY, trust_center=tc.eui64) == "ok"
    await joiner.leave()
    assert await joiner.join(CHANNEL, PAN, epan, LINK_KEY) == "ok"          # trust centre learnt while joining
    sent = backend.dongle("esme").nv.state.network.security_bitmask
    assert sent == int(Sec.HAVE_PRECONFIGURED_KEY | Sec.REQUIRE_ENCRYPTED_KEY)


# --- the trust-centre policy -------------------------------------------------------------------------

Decision = t.EzspDecisionBitmask


async def tc_policy(role: EzspRole) -> int:
    status, decision = await role.ezsp.getPolicy(policyId=t.EzspPolicyId.TRUST_CENTER_POLICY)
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    return int(decision)


async def test_a_booted_ncp_admits_joiners_until_the_host_sets_the_trust_centre_policy(lab, monkeypatch):
    """A booted NCP's policy is ALLOW_JOINS | ALLOW_UNSECURED_REJOINS (gecko_sdk's DEFAULT_TC_POLICY): a
    trust centre whose host never sets the policy hands the network key to anyone using the well-known
    key, so the CH must set it.  The policy is RAM: a power cycle brings the default back."""
    monkeypatch.setattr(airstack, "TRANSPORT_KEY_WAIT", 0.5)
    backend, role = lab
    tc = await role("ch")
    assert await tc_policy(tc) == int(Decision.ALLOW_JOINS | Decision.ALLOW_UNSECURED_REJOINS)
    await tc.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0500)
    from rig.roles.ch.shim import TC_SECURITY

    await tc.form_network(extended_pan_id=EPAN, pan_id=PAN, channel=CHANNEL, network_key=bytes(16 * [7]),
                          security_bitmask=TC_SECURITY)
    await tc.checked("permitJoining", duration=60)
    stranger = await role("esme")
    epan = eui_obj(EPAN, zt.ExtendedPanId)
    assert await stranger.join(CHANNEL, PAN, epan, airstack.GLOBAL_TC_KEY) == "ok"   # nobody admitted it
    await stranger.leave()

    await tc.set_trust_center_policy(Decision.ALLOW_JOINS | Decision.JOINS_USE_INSTALL_CODE_KEY)   # the CH's
    assert await stranger.join(CHANNEL, PAN, epan, airstack.GLOBAL_TC_KEY) == "NOT_JOINED"   # access denied
    assert backend.dongle("esme").nv.state.network is None

    await backend.power_cycle("ch")
    again = await role("ch")
    assert await tc_policy(again) == int(Decision.ALLOW_JOINS | Decision.ALLOW_UNSECURED_REJOINS)


async def test_a_policy_without_allow_joins_denies_even_an_admitted_joiner(lab, monkeypatch):
    """JOINS_USE_INSTALL_CODE_KEY alone is not "install-code joins only": without ALLOW_JOINS the trust
    centre sends no network key to anyone, whatever key it holds for the joiner."""
    monkeypatch.setattr(airstack, "TRANSPORT_KEY_WAIT", 0.5)
    backend, role = lab
    tc = await trust_centre(await role("ch"))
    await tc.set_trust_center_policy(Decision.JOINS_USE_INSTALL_CODE_KEY)
    joiner = await role("esme")
    await joiner.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0501)
    await tc.admit(joiner.eui64, LINK_KEY, 60)
    epan = eui_obj(EPAN, zt.ExtendedPanId)
    assert await joiner.join(CHANNEL, PAN, epan, LINK_KEY) == "NOT_JOINED"        # association denied
    assert backend.dongle("esme").nv.state.network is None
    await tc.set_trust_center_policy(Decision.ALLOW_JOINS | Decision.JOINS_USE_INSTALL_CODE_KEY)
    assert await joiner.join(CHANNEL, PAN, epan, LINK_KEY) == "ok"


# --- networkInit, then NETWORK_UP ---------------------------------------------------------------------

async def test_network_is_up_only_after_network_init_reports_network_up(lab):
    backend, role = lab
    tc = await trust_centre(await role("ch"))
    await tc.disconnect()
    await backend.power_cycle("ch")
    tc = await role("ch")
    # what the CH did before issue 13: networkInit, then at once the commands that need the network
    (status,) = await tc.ezsp.networkInit(networkInitBitmask=t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS)
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    (status,) = await tc.ezsp.permitJoining(duration=60)
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.INVALID_STATE       # not up yet
    await tc.disconnect()

    await backend.power_cycle("ch")
    tc = await role("ch")
    assert await tc.resume_network() is True            # returns once NETWORK_UP has come
    (status,) = await tc.ezsp.permitJoining(duration=60)
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    (state,) = await tc.ezsp.networkState()
    assert state == t.EmberNetworkStatus.JOINED_NETWORK


# --- MAC filter table size ------------------------------------------------------------------------------

async def test_a_mac_filter_list_longer_than_the_table_is_refused_and_the_host_sizes_it(lab):
    backend, role = lab
    rx, tx = await role("hht"), await role("ppmid")
    # before issue 13: no table size, the list written and its status ignored
    (status,) = await rx.ezsp.setValue(valueId=t.EzspValueId.VALUE_MAC_FILTER_LIST, value=pairing.INTERPAN_FILTERS)
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.INVALID_PARAMETER     # 12 filters, room for 1
    assert backend.dongle("hht").node.state.mac_filters == []                        # so nothing is received

    await rx.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0507)
    (_status, size) = await rx.ezsp.getConfigurationValue(configId=t.EzspConfigId.CONFIG_MAC_FILTER_TABLE_SIZE)
    assert size == len(pairing.INTERPAN_FILTERS) // 2 + 1
    await rx.open_interpan()
    heard = asyncio.get_running_loop().create_future()
    rx.on("macFilterMatchMessageHandler", lambda *args: heard.done() or heard.set_result(args))
    for r in (rx, tx):
        await r.set_channel(CHANNEL)
    assert await tx.send_interpan(rx.eui64, 0xFFFF, pairing.KE_CLUSTER, tx.zcl(0, b"\x02\x00", direction=0))
    frame = EzspRole.parse_interpan(bytes((await asyncio.wait_for(heard, 5))[-1]), lambda _src: None)
    assert frame.src == tx.eui64 and frame.cluster == pairing.KE_CLUSTER


# --- the receiver of an unjoined NCP ---------------------------------------------------------------------

async def interpan_pair(role):
    """Two unjoined NCPs with KE in their MAC filters: ``rx`` listens for what ``tx`` sends inter-PAN."""
    rx, tx = await role("hht"), await role("ppmid")
    for r in (rx, tx):
        await r.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0500)
        await r.open_interpan()
    heard: list = []
    rx.on("macFilterMatchMessageHandler", lambda *args: heard.append(args))
    return rx, tx, heard


async def send_ke(tx, rx) -> bool:
    """One KE frame from ``tx`` to ``rx``; True when ``rx``'s radio acknowledged it (a deaf one does not)."""
    acked = await tx.send_interpan(rx.eui64, 0xFFFF, pairing.KE_CLUSTER, tx.zcl(0, b"\x02\x00", direction=0))
    await asyncio.sleep(0.2)
    return acked


async def test_an_unjoined_ncp_hears_inter_pan_only_when_its_host_keeps_the_receiver_on(lab):
    """Off the network the receiver is off when idle; the host code before issue 13 only tuned the channel,
    so an HHT never heard the CH's inter-PAN answers on a real NCP.  ``set_channel`` now also sets the idle
    mode to RX_ON; ``zllSetRxOnWhenIdle`` listens for a while."""
    backend, role = lab
    rx, tx, heard = await interpan_pair(role)
    await tx.set_channel(CHANNEL)
    await rx.ezsp.setRadioChannel(channel=CHANNEL)                # the old host code: tune, nothing more
    assert not await send_ke(tx, rx)                              # no MAC ack from a deaf radio
    assert heard == [] and backend.air.stats.not_listening >= 1

    (status,) = await rx.ezsp.zllSetRxOnWhenIdle(durationMs=2000)  # on for two seconds
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    assert await send_ke(tx, rx)
    assert len(heard) == 1
    await asyncio.sleep(2.0)
    assert not await send_ke(tx, rx)
    assert len(heard) == 1                                         # the duration is over: deaf again

    await rx.set_channel(CHANNEL)                                  # the fixed host: idle mode RX_ON
    assert (await rx.ezsp.zllRxOnWhenIdleGetActive()) == [True]
    assert await send_ke(tx, rx)
    assert len(heard) == 2

    await backend.power_cycle("hht")                               # RAM: a reset makes it deaf again
    rx2 = await role("hht")
    assert (await rx2.ezsp.zllRxOnWhenIdleGetActive()) == [False]


async def test_configuration_is_refused_once_the_network_has_been_up(lab):
    from rig.roles.ezsp_role import NcpCommandError

    backend, role = lab
    tc = await trust_centre(await role("ch"))
    with pytest.raises(NcpCommandError) as refused:            # what prepare() did: configure regardless
        await tc.checked("setConfigurationValue", configId=t.EzspConfigId.CONFIG_KEY_TABLE_SIZE, value=12)
    # EmberZNet 7.4 (EZSP v13) answers with an EzspStatus, 8.0+ (v14) with an sl_Status
    expected = t.EzspStatus.ERROR_INVALID_CALL if tc.ezsp.ezsp_version < 14 else t.sl_Status.INVALID_STATE
    assert refused.value.reason == "ncp_refused" and refused.value.status == expected
    await tc.leave()
    await tc.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0500)   # resets, then configures
    assert backend.dongle("ch").node.state.config[t.EzspConfigId.CONFIG_MAC_FILTER_TABLE_SIZE] == 13


# --- CBKE on the NCP: one library, one set of temporary data -------------------------------------------

def partner(backend, eui: str):
    """An initiator whose cryptography runs in-process (its certificate from the premises' CA)."""
    from rig.cbke.engine import CbkeEngine
    from rig.cbke.ke_cluster import LocalKeEngine

    return LocalKeEngine(CbkeEngine(backend._ca.issue(bytes.fromhex(eui))))


async def overlapping_sessions(backend, responder_for, euis) -> list:
    """One initiator per EUI, all starting at once against responders on one NCP; their KeResults."""
    from rig.cbke.ke_cluster import KeInitiator

    results = []

    async def one(eui):
        box = {}

        async def to_responder(c, p):
            asyncio.ensure_future(box["responder"].handle(c, p))
            return True

        async def to_initiator(c, p):
            asyncio.ensure_future(box["initiator"].handle(c, p))
            return True

        box["responder"] = responder_for(to_initiator)
        box["initiator"] = KeInitiator(partner(backend, eui), to_responder, backend.clock)
        initiator_result = await box["initiator"].run()
        results.append((initiator_result, await box["responder"].next_result()))

    await asyncio.gather(*(one(eui) for eui in euis))
    return results


async def test_concurrent_key_establishments_on_one_ncp_take_turns(lab):
    from rig.cbke.ezsp_engine import EzspKeEngine
    from rig.cbke.ke_cluster import KeResponder

    backend, role = lab
    await backend.manufacture(["ch"])
    ch = await role("ch")
    euis = ["00124B0000000A01", "00124B0000000A02"]

    # before issue 13 every CH responder shared one engine: the second session's keys overwrite the first's
    shared = EzspKeEngine(ch.ezsp)
    old = await overlapping_sessions(backend, lambda send: KeResponder(shared, send, backend.clock), euis)
    assert not all(i.success and r.success for i, r in old), old

    ch._ke_engine = None
    new = await overlapping_sessions(backend, ch.ke_responder, euis)
    assert all(i.success and r.success for i, r in new), new
    assert {r.partner_eui64.hex().upper() for _i, r in new} == set(euis)

    # bounded: with room for one waiting session, a third concurrent one is refused (Terminate NO_RESOURCES)
    ch._ke_engine = EzspKeEngine(ch.ezsp, queue_max=1)
    euis3 = [*euis, "00124B0000000A03"]
    three = await overlapping_sessions(backend, ch.ke_responder, euis3)
    reasons = sorted(r.reason.name for _i, r in three)
    assert reasons == ["LINK_KEY_ESTABLISHED", "LINK_KEY_ESTABLISHED", "NO_LOCAL_RESOURCES"], three


# --- where the HAN CBKE key goes ------------------------------------------------------------------------

async def test_a_host_held_cbke_key_with_the_trust_centre_is_the_tc_link_key(lab):
    """PPMID identity B: CBKE with the CH from host-held credentials, then APS-encrypted traffic both ways."""
    from rig.cbke.ezsp_engine import HostKeEngine

    backend, role = lab
    await backend.manufacture(["ch"])
    tc = await trust_centre(await role("ch"))
    joiner = await role("ppmid")
    await joiner.prepare(([pairing.KE_CLUSTER, pairing.METERING_CLUSTER], [pairing.KE_CLUSTER]), device_id=0x0507)
    await tc.admit(joiner.eui64, LINK_KEY, 60)
    assert await joiner.join(CHANNEL, PAN, eui_obj(EPAN, zt.ExtendedPanId), LINK_KEY) == "ok"
    joiner_nwk = await joiner.node_id()

    from rig.zigbee.zcl import ZclHeader

    responders, heard = {}, {"ch": asyncio.Queue(), "ppmid": asyncio.Queue()}

    def at_tc(cb):
        zcl = ZclHeader.decode(bytes(cb.message))
        if cb.aps_frame.clusterId == pairing.KE_CLUSTER:
            if "ke" not in responders:
                responders["ke"] = tc.ke_responder(
                    lambda c, p: tc.send_zcl(joiner_nwk, pairing.KE_CLUSTER, tc.zcl(c, p, direction=1)))
            asyncio.ensure_future(responders["ke"].handle(zcl.command_id, zcl.payload))
        else:
            heard["ch"].put_nowait(zcl)

    def at_joiner(cb):
        zcl = ZclHeader.decode(bytes(cb.message))
        if cb.aps_frame.clusterId == pairing.KE_CLUSTER:
            joiner.feed_ke(zcl)
        else:
            heard["ppmid"].put_nowait(zcl)

    tc.on_fields("incomingMessageHandler", lambda cb: cb.aps_frame.profileId == pairing.SE_PROFILE and at_tc(cb))
    joiner.on_fields("incomingMessageHandler",
                     lambda cb: cb.aps_frame.profileId == pairing.SE_PROFILE and at_joiner(cb))
    joiner._ke_engine = HostKeEngine(joiner.ezsp, backend._ca.issue(bytes.fromhex(joiner.eui64)))
    result = await joiner.run_ke_initiator(
        lambda c, p: joiner.send_zcl(0x0000, pairing.KE_CLUSTER, joiner.zcl(c, p, direction=0)), tc.eui64, "B")
    assert result.success, result
    assert (await responders["ke"].next_result()).success

    node = backend.dongle("ppmid").node
    assert node.network.tc_link_key == result.link_key.hex().upper()     # not (only) a key-table entry
    report = joiner.zcl(0x0A, bytes(3), direction=1, cluster_specific=False)
    assert await joiner.send_zcl(0x0000, pairing.METERING_CLUSTER, report, encrypt=True)
    assert (await asyncio.wait_for(heard["ch"].get(), 5)).command_id == 0x0A
    assert await tc.send_zcl(joiner_nwk, pairing.METERING_CLUSTER, tc.zcl(0x0A, bytes(3), direction=1,
                                                                          cluster_specific=False), encrypt=True)
    assert (await asyncio.wait_for(heard["ppmid"].get(), 5)).command_id == 0x0A


# --- APS duplicate rejection -------------------------------------------------------------------------

async def test_an_aps_retry_is_acknowledged_but_delivered_once(lab):
    """The trust centre's acks never reach the sender, which retries: its host still sees the frame once."""
    backend, role = lab
    tc = await trust_centre(await role("ch"))
    joiner = await role("esme")
    await joiner.prepare(([pairing.METERING_CLUSTER], [pairing.METERING_CLUSTER]), device_id=0x0501)
    await tc.admit(joiner.eui64, LINK_KEY, 60)
    assert await joiner.join(CHANNEL, PAN, eui_obj(EPAN, zt.ExtendedPanId), LINK_KEY) == "ok"
    heard = []
    tc.on_fields("incomingMessageHandler", lambda cb: cb.aps_frame.clusterId == pairing.METERING_CLUSTER
                 and heard.append(bytes(cb.message)))
    backend.air.set_out_of_range("ch", "esme", symmetric=False)          # the TC hears, is not heard
    report = joiner.zcl(0x0A, bytes(3), direction=1, cluster_specific=False)
    assert not await joiner.send_zcl(0x0000, pairing.METERING_CLUSTER, report)     # never acknowledged
    await tc.node_id()                                                   # every callback is in
    assert heard == [report]                                             # 1 + 3 APS retries, delivered once
