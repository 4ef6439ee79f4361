"""The radio-facing part of the emulated NCP firmware: ZDO it answers itself, raw frames, scans.

``Stack`` is what ``Node`` delegates radio work to.  This module holds the parts that need no
ZigBee network layer: the NCP answering ZDO requests addressed to itself (as EmberZNet does:
node/active-endpoint/simple descriptors built from ``addEndpoint``), raw MAC frames
(``sendRawMessageExtended`` → ``rawTransmitCompleteHandler``), energy scans, and passing received
inter-PAN frames up through the MAC filter list or the SE passthrough flag.  Unicasts to other nodes
fail with ZIGBEE_DELIVERY_FAILED and joins with NO_BEACONS; the virtual-air stack (MAC/NWK/APS,
``zigbee.AirStack``) subclasses this one.  The firmware's RAM is read through ``self.state``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import TYPE_CHECKING

import bellows.types as t
import zigpy.types as zt
import zigpy.zdo.types as zdo_t

from .macfilter import classify, match_filter
from .radio import Radio, fcs

if TYPE_CHECKING:
    from .node import Node
    from .state import NcpState

LOGGER = logging.getLogger(__name__)

ZDO_PROFILE = 0x0000
SILABS_MANUFACTURER = 0x1002
SCAN_SYMBOL_S = 16e-6                     # one 802.15.4 symbol at 2.4 GHz
BASE_SUPERFRAME_SYMBOLS = 960
MAC_RETRIES = 3


def scan_seconds(duration: int) -> float:
    """How long one channel is scanned for an exponent ``duration`` (IEEE 802.15.4)."""
    return BASE_SUPERFRAME_SYMBOLS * ((1 << duration) + 1) * SCAN_SYMBOL_S


class Stack:
    """Radio work for one NCP."""

    def __init__(self, node: Node, radio: Radio) -> None:
        self.node = node
        self.radio = radio
        self.radio.on_receive = self.on_receive
        self.radio.listening = self.listening
        self._tasks: set[asyncio.Task] = set()
        self._scan_token = 0
        self.rx_hold = 0                       # scans and joins in progress: the receiver is on for them
        self.reset()

    def listening(self) -> bool:
        """Whether the receiver is on now (the air drops frames that reach a deaf radio; acks to this
        radio's own transmissions are always received, as a real radio turns round for them).

        [I] EmberZNet keeps the receiver on while it is on a network as a router or coordinator, during
        scans and joins, and off the network only when the host asked for it: ``zllSetRadioIdleMode``
        (RX_ON until set OFF) or ``zllSetRxOnWhenIdle`` (for a duration) — the calls Silicon Labs' ZLL and
        inter-PAN code make for an unjoined device that must hear answers.  [U] Not modelled: the radio
        being off while the CBKE library computes (gecko_sdk crypto-state.h says only that the NCP is
        "completely consumed" for seconds)."""
        state = self.state
        return (state.network_up or self.rx_hold > 0 or state.rx_idle_on
                or self.node.clock.now() < state.rx_on_until)

    @property
    def state(self) -> NcpState:
        """The firmware's RAM (replaced at every boot, so always read through the node)."""
        return self.node.state

    # lifecycle
    def reset(self) -> None:
        """The firmware rebooted: its RAM is gone, so is every transmission it had in flight (a MAC or
        APS retry, a reply being sent).  Had one lived on, it would go out after the reboot with the
        counters of a network that is not up yet (the NWK frame counter before its skip ahead)."""
        self._scan_token += 1
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    def network_up(self) -> None:
        net = self.node.network
        if net is not None:
            self.radio.set_channel(net.channel)

    def network_down(self) -> None:
        pass

    def leave(self) -> None:
        pass

    @property
    def channel(self) -> int:
        return self.radio.channel

    def set_channel(self, channel: int) -> None:
        self.radio.set_channel(channel)

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def lookup_nwk(self, eui: zt.EUI64) -> int | None:
        return None

    # joining (needs the network layer)
    def join(self, node_type: int, parameters, security) -> None:
        self.node.clock.call_later(0.0, self.node.join_failed, "NO_BEACONS")

    # APS messaging
    def send_unicast(self, *, nwk: int, aps, tag: int, message: bytes, message_type: int,
                     reply: bool = False) -> None:
        node = self.node
        if nwk == node.network.node_id and aps.profileId == ZDO_PROFILE:
            self._message_sent(message_type, nwk, aps, tag, message, "OK")
            response = self.answer_zdo(aps.clusterId, message)
            if response is not None:
                cluster, payload = response
                self.deliver_local(cluster, payload, aps.sequence)
            return
        self.deliver_remote(nwk=nwk, aps=aps, tag=tag, message=message, message_type=message_type)

    def deliver_remote(self, *, nwk, aps, tag, message, message_type) -> None:
        """Send to another node; without a network layer nothing can be delivered."""
        self.node.clock.call_later(0.0, self._message_sent, message_type, nwk, aps, tag, message,
                                   "ZIGBEE_DELIVERY_FAILED")

    def aps_payload_room(self, aps) -> int:
        """The longest APS payload one frame carries with ``aps``'s options (no radio: no limit)."""
        return 0xFF

    def send_fragment_ack(self, *, nwk: int, aps) -> None:
        pass

    def send_broadcast(self, *, dest, aps, radius, tag, message) -> None:
        pass

    def send_multicast(self, *, aps, hops, tag, message) -> None:
        pass

    def _message_sent(self, message_type, nwk, aps, tag, message, status) -> None:
        self.node.callback("messageSentHandler", status=status, message_type=message_type, nwk=nwk,
                           aps_frame=aps, message_tag=tag, message=message)

    def deliver_local(self, cluster: int, payload: bytes, seq: int, *, src_nwk: int = 0x0000,
                      src_eui: zt.EUI64 | None = None, profile: int = ZDO_PROFILE, src_ep: int = 0,
                      dst_ep: int = 0, message_type: int = 0, lqi: int = 255, rssi: int = -30,
                      options: int = 0, group: int = 0) -> None:
        """Hand an APS payload to the host (incomingMessageHandler)."""
        aps = t.EmberApsFrame(profileId=profile, clusterId=cluster, sourceEndpoint=src_ep,
                              destinationEndpoint=dst_ep, options=t.EmberApsOption(options), groupId=group,
                              sequence=seq)
        eui = src_eui if src_eui is not None else self.state.eui64
        self.node.callback(
            "incomingMessageHandler", message_type=message_type, aps_frame=aps, nwk=src_nwk, eui64=eui,
            binding_index=0xFF, address_index=0xFF, lqi=lqi, rssi=rssi,
            timestamp=int(self.node.clock.now() * 1000) & 0xFFFFFFFF, message=payload)

    # ZDO the NCP answers itself
    def node_descriptor(self) -> zdo_t.NodeDescriptor:
        node_type = self.node.network.node_type if self.node.network else 1
        logical = {1: 0, 2: 1}.get(node_type, 2)
        return zdo_t.NodeDescriptor(
            byte1=logical, byte2=0x40, mac_capability_flags=0x8E if logical != 2 else 0x80,
            manufacturer_code=self.state.manufacturer_code or SILABS_MANUFACTURER,
            maximum_buffer_size=82, maximum_incoming_transfer_size=128,
            server_mask=0x2C41 if logical == 0 else 0x2C00, maximum_outgoing_transfer_size=128,
            descriptor_capability_field=0)

    def answer_zdo(self, cluster: int, request: bytes) -> tuple[int, bytes] | None:
        """Build the ZDO response to ``request`` addressed to this node (None = not answered)."""
        if not request:
            return None
        tsn, body = request[0], request[1:]
        own = struct.pack("<H", self.node.network.node_id if self.node.network else 0xFFFE)
        if cluster == zdo_t.ZDOCmd.Node_Desc_req:
            return zdo_t.ZDOCmd.Node_Desc_rsp, bytes((tsn, 0)) + own + self.node_descriptor().serialize()
        if cluster == zdo_t.ZDOCmd.Active_EP_req:
            eps = sorted(self.state.endpoints)
            return zdo_t.ZDOCmd.Active_EP_rsp, bytes((tsn, 0)) + own + bytes((len(eps), *eps))
        if cluster == zdo_t.ZDOCmd.Simple_Desc_req and len(body) >= 3:
            ep = body[2]
            desc = self.state.endpoints.get(ep)
            if desc is None:
                return zdo_t.ZDOCmd.Simple_Desc_rsp, bytes((tsn, 0x83)) + own + b"\x00"
            sd = zdo_t.SimpleDescriptor(endpoint=ep, profile=desc["profile"], device_type=desc["device"],
                                        device_version=desc["version"], input_clusters=desc["in"],
                                        output_clusters=desc["out"])
            raw = sd.serialize()
            return zdo_t.ZDOCmd.Simple_Desc_rsp, bytes((tsn, 0)) + own + bytes((len(raw),)) + raw
        if cluster == zdo_t.ZDOCmd.IEEE_addr_req:
            return zdo_t.ZDOCmd.IEEE_addr_rsp, bytes((tsn, 0)) + bytes(self.state.eui64) + own
        if cluster == zdo_t.ZDOCmd.NWK_addr_req:
            return zdo_t.ZDOCmd.NWK_addr_rsp, bytes((tsn, 0)) + bytes(self.state.eui64) + own
        if cluster == zdo_t.ZDOCmd.Mgmt_Permit_Joining_req:
            return zdo_t.ZDOCmd.Mgmt_Permit_Joining_rsp, bytes((tsn, 0))
        if cluster < 0x8000:
            return cluster | 0x8000, bytes((tsn, 0x84))        # NOT_SUPPORTED
        return None

    # raw MAC frames (inter-PAN)
    def send_raw(self, psdu_without_fcs: bytes) -> None:
        self.spawn(self._send_raw(psdu_without_fcs))

    async def _send_raw(self, frame: bytes) -> None:
        psdu = frame + fcs(frame)
        wants_ack = bool(frame[0] & 0x20)
        for _attempt in range(1 + (MAC_RETRIES if wants_ack else 0)):   # macMaxFrameRetries
            result = await self.radio.transmit(psdu)
            if not result.sent or not wants_ack or result.acked:
                break
        if not result.sent:
            status = "FAIL"
        elif result.acked is False:
            status = "MAC_NO_ACK_RECEIVED"
        else:
            status = "OK"
        self.node.callback("rawTransmitCompleteHandler", messageContents=frame, status=status)

    def on_receive(self, psdu: bytes, lqi: int, rssi: int) -> None:
        """A frame heard on our channel (FCS already checked by the radio)."""
        self.pass_up_raw(psdu[:-2], lqi, rssi)

    def pass_up_raw(self, frame: bytes, lqi: int, rssi: int) -> bool:
        """Deliver a received frame to the host if a MAC filter or the passthrough flag asks for it."""
        summary = classify(frame)
        if summary is None:
            return False
        node = self.node
        local_pan = node.network.pan_id if node.state.network_up else None
        index = match_filter(node.state.mac_filters, summary, local_pan)
        passthrough = summary.inter_pan and node.state.passthrough_flags & 0x01
        if index is None and not passthrough:
            return False        # most frames: no packet info built for nobody
        info = t.SlRxPacketInfo(
            sender_short_id=0xFFFE, sender_long_id=summary.src_eui or zt.EUI64(bytes(8)),
            binding_index=0xFF, address_index=0xFF, last_hop_lqi=lqi, last_hop_rssi=rssi,
            last_hop_timestamp=int(node.clock.now() * 1000) & 0xFFFFFFFF)
        if index is not None:
            node.callback("macFilterMatchMessageHandler", filterIndexMatch=index,
                          filterValueMatch=node.state.mac_filters[index],
                          legacyPassthroughType=t.EmberMacPassthroughType.MAC_PASSTHROUGH_APPLICATION,
                          packetInfo=info, lastHopLqi=lqi, lastHopRssi=rssi, messageContents=frame)
            return True
        node.callback("macPassthroughMessageHandler",
                      messageType=t.EmberMacPassthroughType.MAC_PASSTHROUGH_SE_INTERPAN, packetInfo=info,
                      lastHopLqi=lqi, lastHopRssi=rssi, messageContents=frame)
        return True

    # scans
    def scan(self, scan_type: int, channels: list[int], duration: int) -> None:
        self._scan_token += 1
        self.spawn(self._scan(self._scan_token, scan_type, channels, duration))

    def stop_scan(self) -> None:
        self._scan_token += 1

    async def _scan(self, token: int, scan_type: int, channels: list[int], duration: int) -> None:
        self.rx_hold += 1
        try:
            await self._scan_channels(token, scan_type, channels, duration)
        finally:
            self.rx_hold -= 1

    async def _scan_channels(self, token: int, scan_type: int, channels: list[int], duration: int) -> None:
        node = self.node
        home = self.radio.channel
        for channel in channels:
            if token != self._scan_token:
                return
            self.radio.set_channel(channel)
            if scan_type == 1:
                for network, lqi, rssi in await self.active_scan_channel(channel, duration):
                    node.callback("networkFoundHandler", networkFound=network, lastHopLqi=lqi,
                                  lastHopRssi=rssi)
            else:
                await node.clock.sleep(scan_seconds(duration))
                node.callback("energyScanResultHandler", channel=channel,
                              maxRssiValue=max(-128, min(127, self.radio.energy(channel))))
        self.radio.set_channel(home)
        if token == self._scan_token:
            node.callback("scanCompleteHandler", channel=0, status="OK")

    async def active_scan_channel(self, channel: int, duration: int) -> list:
        """Beacon request + listen; returns (EmberZigbeeNetwork, lqi, rssi) per beacon heard."""
        await self.node.clock.sleep(scan_seconds(duration))
        return []
