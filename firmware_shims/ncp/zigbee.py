"""The ZigBee PRO stack inside an emulated NCP: real 802.15.4 / NWK / APS frames on the radio.

What a Silicon Labs NCP does in firmware, reduced to what a GB smart-metering HAN needs:

* MAC: beacons on request, association (request → data poll → response), acknowledged unicasts with
  ``MAC_RETRIES`` retries (acks themselves are produced by the radio medium, as by a real transceiver).
* NWK: data and command frames secured at level 5 with the network key (extended nonce, outgoing
  frame counter persisted every ``FC_PERSIST_STEP`` and skipped ahead by that much at boot, incoming
  counters per sender with replay rejection); leave.  Routing is single hop: every node of a premises
  is in radio range of the others (a per-pair "out of range" in the air makes a link fail).
* APS fragmentation as EmberZNet does it: the host hands each block to ``sendUnicast`` with
  ``APS_OPTION_FRAGMENT`` (block count and index in ``groupId``, as Silicon Labs' fragmentation host
  plugin sends them; every block after the first carries the first one's APS counter); the NCP builds
  the APS extended header (first block: fragmentation 1, block number = the count; others: 2, the
  index) and reports ``messageSentHandler`` per block once an APS ack covers it: an ack's block number
  is the first block of a window of ``CONFIG_FRAGMENT_WINDOW_SIZE`` blocks and its bitfield says which
  of them arrived.  Received blocks are not acknowledged by the NCP: each goes up as its own
  ``incomingMessageHandler`` with ``APS_OPTION_FRAGMENT`` (groupId ``count << 8`` for block 0,
  ``0xFF00 | index`` after), and the host's ``sendReply`` with the fragment option (groupId
  ``mask << 8 | base``) becomes that APS ack.  A frame that would not fit in 127 bytes is refused
  with MESSAGE_TOO_LONG (``aps_payload_room``).
* APS: data with optional APS ack (``APS_OPTION_RETRY``) and retries, group delivery, APS security
  with the link key for the destination (``APS_OPTION_ENCRYPTION``), the Transport Key command
  protected with the key-transport key derived from the joiner's link key, ZDO answered by the NCP
  itself (descriptors from ``addEndpoint``, Mgmt_Leave_req), Device_annce passed up.
* Trust centre (coordinator): admits a joiner only while joining is permitted and only with a link
  key it holds — a transient key from ``importTransientKey`` (install code) or a key-table entry — or
  the global key when the TC policy does not demand install-code keys.  Without a key the association
  is refused and the host sees ``trustCenterJoinHandler`` with DENY_JOIN.  With a key the TC reports
  the join (UNSECURED_JOIN, USE_PRECONFIGURED_KEY) and sends the network key; a joiner that never
  announces itself within ``ANNOUNCE_TIMEOUT`` (it could not decrypt the key) is reported as left.
* Joiner (``joinNetwork``): active scan on the requested channel, association, Transport Key decrypted
  with its preconfigured (install-code) key; wrong key or no key → ``stackStatusHandler`` with
  ZIGBEE_NO_NETWORK_KEY_RECEIVED (NO_BEACONS / NOT_JOINED for the earlier failures).

Every timer reads the node's clock, so a virtual clock drives the whole stack.
"""

from __future__ import annotations

import logging
import os
import struct

import bellows.types as t
from zigpy.util import convert_install_code
from zigpy.zdo.types import ZDOCmd

from rig.zigbee import frames as f
from rig.zigbee import security as sec
from rig.zigbee.eui64 import eui_hex as _hex
from rig.zigbee.eui64 import eui_int as _eui_int
from rig.zigbee.eui64 import eui_obj as _eui_obj

from .nv import NetworkTokens
from .stack import MAC_RETRIES, ZDO_PROFILE, Stack, scan_seconds

LOGGER = logging.getLogger(__name__)
Sec = t.EmberInitialSecurityBitmask

APS_RETRIES = 3
APS_DUPLICATE_S = 8.0         # [I] how long a received APS counter is remembered (APS duplicate rejection)
APS_ACK_TIMEOUT = 1.6          # seconds per APS attempt (EmberZNet's default for one hop is similar)
ASSOC_RESPONSE_WAIT = 0.5
TRANSPORT_KEY_WAIT = 5.0
ANNOUNCE_TIMEOUT = 10.0
FC_PERSIST_STEP = 4096
JOIN_SCAN_DURATION = 3
GLOBAL_TC_KEY = b"ZigBeeAlliance09"
APS_OPTION_ENCRYPTION = 0x0020
APS_OPTION_RETRY = 0x0040
APS_OPTION_FRAGMENT = 0x8000
MAX_PSDU = 127
TC_ALLOW_JOINS = int(t.EzspDecisionBitmask.ALLOW_JOINS)
TC_POLICY_INSTALL_CODE_ONLY = int(t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)



class AirStack(Stack):
    """Stack on a radio medium that carries real frames."""

    def reset(self) -> None:
        super().reset()
        self.mac_seq = os.urandom(1)[0]
        self.nwk_seq = os.urandom(1)[0]
        self.devices = _DeviceTable(self.node.nv)   # EUI-64 (int) -> short address, kept in NV
        self.incoming_fc: dict[int, int] = {}
        self.aps_seen: dict[tuple[int, int, int], float] = {}   # (sender, APS counter, payload) -> when
        self.pending_aps: dict[tuple[int, int], object] = {}
        self.pending_assoc: dict[int, bytes] = {}   # joiner EUI -> association response PSDU (coordinator)
        self.awaiting_announce: dict[int, object] = {}
        self.beacons: list[tuple[f.MacFrame, f.ZigbeeBeacon, int, int]] | None = None
        self.join_state: dict | None = None
        self._nwk_fc: int | None = None
        self._set_radio_address(pan=0xFFFF, short=0xFFFF)

    # --- addressing helpers ---------------------------------------------------------------------
    @property
    def ieee(self) -> int:
        return _eui_int(self.state.eui64)

    def _set_radio_address(self, *, pan: int, short: int) -> None:
        radio = self.radio
        radio.pan_id = pan
        radio.short_addr = short
        radio.ieee = self.ieee

    def network_up(self) -> None:
        net = self.node.network
        super().network_up()
        self._set_radio_address(pan=net.pan_id, short=net.node_id)
        if self._nwk_fc is None:                  # first bring-up after boot: skip ahead
            self._skip_ahead()

    def _skip_ahead(self) -> None:
        """The outgoing NWK frame counter after a boot: the persisted value plus ``FC_PERSIST_STEP`` (up
        to that many frames since the last save may have gone out), saved at once."""
        net = self.node.network
        self._nwk_fc = net.nwk_frame_counter + (FC_PERSIST_STEP if net.nwk_frame_counter else 0)
        net.nwk_frame_counter = self._nwk_fc
        self.node.nv.save()

    def network_down(self) -> None:
        self._set_radio_address(pan=0xFFFF, short=0xFFFF)
        self.devices.clear()
        self._nwk_fc = None

    def lookup_nwk(self, eui) -> int | None:
        return self.devices.get(_eui_int(eui))

    def eui_of(self, short: int) -> int | None:
        for eui, nwk in self.devices.items():
            if nwk == short:
                return eui
        return None

    def _next_mac_seq(self) -> int:
        self.mac_seq = (self.mac_seq + 1) & 0xFF
        return self.mac_seq

    def _next_nwk_seq(self) -> int:
        self.nwk_seq = (self.nwk_seq + 1) & 0xFF
        return self.nwk_seq

    def _next_nwk_fc(self) -> int:
        net = self.node.network
        if self._nwk_fc is None:                  # never the persisted value itself: frames up to it went out
            self._skip_ahead()
        fc = self._nwk_fc
        self._nwk_fc = fc + 1
        if self._nwk_fc % FC_PERSIST_STEP == 0 or net.nwk_frame_counter == 0:
            net.nwk_frame_counter = self._nwk_fc
            self.node.nv.save()
        return fc

    # --- transmit -------------------------------------------------------------------------------
    async def _transmit(self, frame: f.MacFrame) -> bool:
        """Send one MAC frame, retrying unacknowledged unicasts; True when delivered (or broadcast)."""
        psdu = frame.encode()
        for _attempt in range(1 + (MAC_RETRIES if frame.ack_request else 0)):
            result = await self.radio.transmit(psdu)
            if not frame.ack_request:
                return result.sent
            if result.acked:
                return True
        return False

    def _nwk_secured(self, *, dst: int, payload: bytes, frame_type: int = f.NWK_DATA, radius: int = 30,
                     dst_ieee: int | None = None) -> bytes:
        net = self.node.network
        aux = f.AuxHeader(key_id=f.KEY_ID_NWK, frame_counter=self._next_nwk_fc(), source=self.ieee,
                          key_seq=net.network_key_seq)
        frame = f.NwkFrame(frame_type=frame_type, dst=dst, src=net.node_id, radius=radius,
                           seq=self._next_nwk_seq(), dst_ieee=dst_ieee, aux=aux)
        return sec.secure_nwk(frame, bytes.fromhex(net.network_key), payload)

    async def _send_nwk(self, dst: int, nwk_bytes: bytes) -> bool:
        net = self.node.network
        mac = f.mac_data(self._next_mac_seq(), net.pan_id, 0xFFFF if dst >= 0xFFF8 else dst, net.node_id,
                         nwk_bytes)
        return await self._transmit(mac)

    def _aps_data(self, aps: t.EmberApsFrame, message: bytes, *, delivery: int, dst_eui: int | None,
                  group: int | None = None) -> bytes | None:
        options = int(aps.options)
        frame = f.ApsFrame(frame_type=f.APS_DATA, delivery_mode=delivery,
                           ack_request=int(bool(options & APS_OPTION_RETRY) and delivery == f.DELIVERY_UNICAST),
                           dst_endpoint=None if delivery == f.DELIVERY_GROUP else aps.destinationEndpoint,
                           group=group, cluster=aps.clusterId, profile=aps.profileId,
                           src_endpoint=aps.sourceEndpoint, counter=aps.sequence)
        if options & APS_OPTION_FRAGMENT and delivery == f.DELIVERY_UNICAST:
            count, index = aps.groupId >> 8, aps.groupId & 0xFF
            frame = frame.replace(extended_header=1, fragmentation=f.FRAG_FIRST if index == 0 else f.FRAG_MORE,
                                  block_number=count if index == 0 else index)
        if options & APS_OPTION_ENCRYPTION and delivery == f.DELIVERY_UNICAST:
            key = self.node.link_key_for(_hex(dst_eui)) if dst_eui is not None else None
            if key is None:
                return None
            aux = f.AuxHeader(key_id=f.KEY_ID_DATA, frame_counter=self._next_aps_fc(), source=self.ieee)
            return sec.secure_aps(frame.replace(aux=aux), key, message)
        return frame.replace(payload=message).encode()

    def _next_aps_fc(self) -> int:
        net = self.node.network
        net.aps_frame_counter += 1
        return net.aps_frame_counter

    def aps_payload_room(self, aps: t.EmberApsFrame) -> int:
        """The longest APS payload a unicast with ``aps``'s options fits in one 127-byte PSDU: MAC header
        and FCS (11), NWK header with its auxiliary header (extended source) and MIC (26), APS header
        (8), and with ``APS_OPTION_ENCRYPTION`` the APS auxiliary header (extended nonce) and MIC (17),
        with ``APS_OPTION_FRAGMENT`` the extended header (2)."""
        options = int(aps.options)
        room = MAX_PSDU - 11 - 26 - 8
        if options & APS_OPTION_ENCRYPTION:
            room -= 17
        if options & APS_OPTION_FRAGMENT:
            room -= 2
        return room

    def fragment_window(self) -> int:
        return max(1, min(8, self.state.config.get(int(t.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE), 1)))

    async def _wait_flag(self, flag: _Flag, seconds: float) -> None:
        """Wait until ``flag`` is set or ``seconds`` of node-clock time pass (no error either way)."""
        try:
            await self.node.clock.wait_for(flag.wait(), seconds, "a frame")
        except TimeoutError:
            pass

    # --- host requests --------------------------------------------------------------------------
    def deliver_remote(self, *, nwk, aps, tag, message, message_type) -> None:
        self.spawn(self._unicast(nwk, aps, tag, message, message_type))

    async def _unicast(self, nwk, aps, tag, message, message_type) -> None:
        dst_eui = self.eui_of(nwk)
        aps_bytes = self._aps_data(aps, message, delivery=f.DELIVERY_UNICAST, dst_eui=dst_eui)
        if aps_bytes is None:
            self._message_sent(message_type, nwk, aps, tag, message, "ZIGBEE_APS_ENCRYPTION_ERROR")
            return
        want_ack = bool(int(aps.options) & APS_OPTION_RETRY)
        key = (nwk, aps.sequence)
        if int(aps.options) & APS_OPTION_FRAGMENT:
            key = (nwk, aps.sequence, aps.groupId & 0xFF)        # every block has the message's counter
        delivered = False
        for _ in range(1 + (APS_RETRIES if want_ack else 0)):
            acked = self.pending_aps[key] = _Flag()
            mac_ok = await self._send_nwk(nwk, self._nwk_secured(dst=nwk, payload=aps_bytes))
            if mac_ok and want_ack:
                await self._wait_flag(acked, APS_ACK_TIMEOUT)
            delivered = mac_ok and (acked.is_set or not want_ack)
            if delivered or not want_ack:
                break
        self.pending_aps.pop(key, None)
        self._message_sent(message_type, nwk, aps, tag, message, "OK" if delivered else "ZIGBEE_DELIVERY_FAILED")

    def send_fragment_ack(self, *, nwk: int, aps: t.EmberApsFrame) -> None:
        """The APS ack for a window of received blocks: the host's ``sendReply`` with the fragment option,
        ``aps`` the incoming block's APS frame with ``groupId = mask << 8 | first block of the window``."""
        base, mask = aps.groupId & 0xFF, aps.groupId >> 8
        ack = f.ApsFrame(frame_type=f.APS_ACK, delivery_mode=f.DELIVERY_UNICAST, dst_endpoint=aps.sourceEndpoint,
                         cluster=aps.clusterId, profile=aps.profileId, src_endpoint=aps.destinationEndpoint,
                         counter=aps.sequence, fragmentation=f.FRAG_FIRST if base == 0 else f.FRAG_MORE,
                         block_number=base, ack_bitfield=mask)
        # NWK-secured like every APS ack this stack sends (no APS security on acks)
        self.spawn(self._send_nwk(nwk, self._nwk_secured(dst=nwk, payload=ack.encode())))

    def _fragment_acked(self, src: int, aps: f.ApsFrame) -> None:
        """An APS ack with the extended header: every block of its window whose bit is set is delivered."""
        base, bits = aps.block_number or 0, aps.ack_bitfield if aps.ack_bitfield is not None else 0xFF
        for offset in range(self.fragment_window()):
            if bits & (1 << offset):
                flag = self.pending_aps.get((src, aps.counter, base + offset))
                if flag is not None:
                    flag.set()

    def send_broadcast(self, *, dest, aps, radius, tag, message) -> None:
        aps_bytes = self._aps_data(aps, message, delivery=f.DELIVERY_BROADCAST, dst_eui=None)
        self.spawn(self._send_nwk(0xFFFF, self._nwk_secured(dst=dest, payload=aps_bytes, radius=radius or 30)))

    def send_multicast(self, *, aps, hops, tag, message) -> None:
        aps_bytes = self._aps_data(aps, message, delivery=f.DELIVERY_GROUP, dst_eui=None, group=aps.groupId)
        self.spawn(self._send_nwk(0xFFFF, self._nwk_secured(dst=0xFFFD, payload=aps_bytes, radius=hops or 30)))

    def leave(self) -> None:
        net = self.node.network
        if net is None or not self.state.network_up:
            return
        payload = f.NwkCommand(command_id=f.NWK_CMD_LEAVE, options=0).encode()
        data = self._nwk_secured(dst=0xFFFD, payload=payload, frame_type=f.NWK_COMMAND, radius=1)
        mac = f.mac_data(self._next_mac_seq(), net.pan_id, 0xFFFF, net.node_id, data)
        self.spawn(self._transmit(mac))

    # --- receive --------------------------------------------------------------------------------
    def on_receive(self, psdu: bytes, lqi: int, rssi: int) -> None:
        try:
            mac = f.MacFrame.decode(psdu, check_fcs=False)
        except f.FrameError as exc:
            LOGGER.debug("%s: undecodable frame dropped: %s", self.state.eui64, exc)
            return
        if mac.frame_type == f.FT_ACK:
            return
        if mac.frame_type == f.FT_DATA and self.pass_up_raw(psdu[:-2], lqi, rssi):
            return
        try:
            layer = f.follows(mac)
            if layer is f.MacCommand:
                self._on_mac_command(mac)
            elif layer is f.MacBeacon:
                self._on_beacon(mac, lqi, rssi)
            elif layer is f.NwkFrame:
                self._on_data(mac, lqi, rssi)
        except (f.FrameError, sec.SecurityError) as exc:
            LOGGER.debug("%s: dropped frame: %s", self.state.eui64, exc)

    def _addressed_to_me(self, mac: f.MacFrame) -> bool:
        if mac.dst_mode == f.ADDR_LONG:
            return mac.dst_addr == self.ieee
        if mac.dst_mode == f.ADDR_SHORT:
            pan_ok = mac.dst_pan in (self.radio.pan_id, 0xFFFF)
            return pan_ok and mac.dst_addr in (self.radio.short_addr, 0xFFFF)
        return False

    def _on_mac_command(self, mac: f.MacFrame) -> None:
        cmd = f.MacCommand.decode(mac.payload)
        node = self.node
        if cmd.command_id == f.MAC_BEACON_REQ:
            net = node.network
            if node.state.network_up and net.node_type in (1, 2):
                frame = f.beacon(self._next_mac_seq(), net.pan_id, net.node_id,
                                 int(net.extended_pan_id, 16), permit_joining=node.permitting(),
                                 pan_coordinator=net.node_type == 1, device_depth=0 if net.node_type == 1 else 1,
                                 update_id=net.update_id)
                self.spawn(self._transmit(frame))
        elif not self._addressed_to_me(mac):
            return
        elif cmd.command_id == f.MAC_ASSOC_REQ:
            self._tc_association(mac.src_addr, cmd.capability)
        elif cmd.command_id == f.MAC_DATA_REQ and mac.src_mode == f.ADDR_LONG:
            psdu = self.pending_assoc.pop(mac.src_addr, None)
            if psdu is not None:
                self.spawn(self._send_assoc_response(mac.src_addr, psdu))
        elif cmd.command_id == f.MAC_ASSOC_RSP and self.join_state is not None:
            self.join_state["assoc"] = (cmd.short_addr, cmd.status, mac.src_addr)
            if cmd.status == f.ASSOC_SUCCESS:
                # take the address at once: the TC's Transport Key follows right after our MAC ack
                self._set_radio_address(pan=self.radio.pan_id, short=cmd.short_addr)
            self.join_state["flag"].set()

    def _on_beacon(self, mac: f.MacFrame, lqi: int, rssi: int) -> None:
        if self.beacons is None:
            return
        sf = f.MacBeacon.decode(mac.payload)
        if f.follows(sf) is not f.ZigbeeBeacon:
            return
        zb = f.ZigbeeBeacon.decode(sf.payload)
        self.beacons.append((mac, sf, zb, lqi, rssi))

    def _on_data(self, mac: f.MacFrame, lqi: int, rssi: int) -> None:
        if not self._addressed_to_me(mac) or not mac.payload:
            return
        nwk = f.NwkFrame.decode(mac.payload)
        if nwk.frame_type == f.NWK_INTERPAN:
            return                                   # not passed up by a filter: dropped, as on a real NCP
        if not nwk.security:
            self._on_unsecured_nwk(mac, nwk)
            return
        net = self.node.network
        if net is None or not self.state.network_up:
            return
        frame, plaintext = sec.unsecure_nwk(mac.payload, bytes.fromhex(net.network_key))
        src_eui = frame.aux.source
        last = self.incoming_fc.get(src_eui)
        if last is not None and frame.aux.frame_counter <= last:
            LOGGER.info("%s: replayed NWK frame counter %d from %016X dropped", self.state.eui64,
                        frame.aux.frame_counter, src_eui)
            return
        self.incoming_fc[src_eui] = frame.aux.frame_counter
        if frame.dst not in (net.node_id, 0xFFFF, 0xFFFD, 0xFFFC):
            return
        self.devices.setdefault(src_eui, frame.src)
        layer = f.follows(frame)
        if layer is f.NwkCommand:
            self._on_nwk_command(frame, f.NwkCommand.decode(plaintext), src_eui)
        elif layer is f.ApsFrame:
            self._on_aps(frame, plaintext, src_eui, lqi, rssi)

    def _on_nwk_command(self, nwk: f.NwkFrame, cmd: f.NwkCommand, src_eui: int) -> None:
        if cmd.command_id != f.NWK_CMD_LEAVE:
            return
        if cmd.options & f.LEAVE_REQUEST:
            if nwk.dst == self.node.network.node_id:
                self._leave_requested()
            return
        # a device announced it is leaving
        self.devices.pop(src_eui, None)
        if self.node.network.node_type == 1:
            self._tc_report(nwk.src, src_eui, t.EmberDeviceUpdate.DEVICE_LEFT, t.EmberJoinDecision.NO_ACTION)

    def _on_aps(self, nwk: f.NwkFrame, data: bytes, src_eui: int, lqi: int, rssi: int) -> None:
        aps = f.ApsFrame.decode(data)
        payload = aps.payload
        if aps.security:
            key = self.node.link_key_for(_hex(src_eui))
            if key is None:
                return
            aps, payload = sec.unsecure_aps(data, key, source=src_eui)
        if aps.frame_type == f.APS_ACK:
            if aps.fragmentation:
                self._fragment_acked(nwk.src, aps)
                return
            flag = self.pending_aps.get((nwk.src, aps.counter))
            if flag is not None:
                flag.set()
            return
        if aps.frame_type == f.APS_COMMAND:
            return                                   # TC-originated commands after join: not needed
        if aps.frame_type != f.APS_DATA:
            return
        if aps.fragmentation and aps.delivery_mode == f.DELIVERY_UNICAST:
            self._on_block(nwk, aps, payload, src_eui, lqi, rssi)
            return
        if aps.ack_request:
            ack = f.ApsFrame(frame_type=f.APS_ACK, delivery_mode=f.DELIVERY_UNICAST, dst_endpoint=aps.src_endpoint,
                             cluster=aps.cluster, profile=aps.profile, src_endpoint=aps.dst_endpoint,
                             counter=aps.counter).encode()
            self.spawn(self._send_nwk(nwk.src, self._nwk_secured(dst=nwk.src, payload=ack)))
            if self._aps_duplicate(src_eui, aps.counter, payload):
                return                    # a retry whose first copy arrived (its ack was lost or late)
        if aps.delivery_mode == f.DELIVERY_GROUP and aps.group not in {g for g, _e, _n in self.state.multicast.values()}:
            return
        broadcast = nwk.dst >= 0xFFF8
        if aps.profile == ZDO_PROFILE and aps.dst_endpoint == 0 and aps.cluster < 0x8000:
            if aps.cluster == ZDOCmd.Device_annce:
                self._on_device_announce(payload, src_eui)
            elif aps.cluster == ZDOCmd.Mgmt_Leave_req and not broadcast:
                self._reply_zdo(nwk.src, aps, ZDOCmd.Mgmt_Leave_rsp, bytes((payload[:1] or b"\x00")[0:1]) + b"\x00")
                self.node.clock.call_later(0.05, self._leave_requested)
                return
            elif not broadcast:
                response = self.answer_zdo(aps.cluster, payload)
                if response is not None:
                    self._reply_zdo(nwk.src, aps, *response)
                return
            else:
                return
        self.deliver_local(aps.cluster, payload, aps.counter, src_nwk=nwk.src, src_eui=_eui_obj(src_eui),
                           profile=aps.profile, src_ep=aps.src_endpoint or 0, dst_ep=aps.dst_endpoint or 0,
                           message_type=4 if broadcast else (2 if aps.delivery_mode == f.DELIVERY_GROUP else 0),
                           lqi=lqi, rssi=max(-128, min(127, rssi)))

    def _on_block(self, nwk: f.NwkFrame, aps: f.ApsFrame, payload: bytes, src_eui: int, lqi: int, rssi: int) -> None:
        """One block of a fragmented message: up to the host as it is (the host reassembles and acks it)."""
        first = aps.fragmentation == f.FRAG_FIRST
        group = (aps.block_number << 8) if first else 0xFF00 | aps.block_number
        options = APS_OPTION_FRAGMENT | (APS_OPTION_RETRY if aps.ack_request else 0) | (
            APS_OPTION_ENCRYPTION if aps.security else 0)
        self.deliver_local(aps.cluster, payload, aps.counter, src_nwk=nwk.src, src_eui=_eui_obj(src_eui),
                           profile=aps.profile, src_ep=aps.src_endpoint or 0, dst_ep=aps.dst_endpoint or 0,
                           message_type=0, lqi=lqi, rssi=max(-128, min(127, rssi)), options=options, group=group)

    def _aps_duplicate(self, src_eui: int, counter: int, payload: bytes) -> bool:
        """APS duplicate rejection (ZigBee PRO: a retried frame is acknowledged again but delivered once):
        the same sender and APS counter within ``APS_DUPLICATE_S`` — [I] and the same payload, so that a
        busy sender's counter wrapping inside the window never drops a new frame."""
        now = self.node.clock.now()
        seen = self.aps_seen
        for key in [k for k, at in seen.items() if now - at > APS_DUPLICATE_S]:
            del seen[key]
        key = (src_eui, counter, hash(bytes(payload)))
        if key in seen:
            return True
        seen[key] = now
        return False

    def _reply_zdo(self, dst: int, request: f.ApsFrame, cluster: int, payload: bytes) -> None:
        frame = f.ApsFrame(frame_type=f.APS_DATA, delivery_mode=f.DELIVERY_UNICAST, dst_endpoint=0,
                           cluster=cluster, profile=ZDO_PROFILE, src_endpoint=0,
                           counter=self.node.next_aps_seq(), payload=payload).encode()
        self.spawn(self._send_nwk(dst, self._nwk_secured(dst=dst, payload=frame)))

    def _leave_requested(self) -> None:
        node = self.node
        if node.state.network_up:
            self.leave()
            node.drop_network()
            node.callback("stackStatusHandler", status="NETWORK_DOWN")

    # --- trust centre ---------------------------------------------------------------------------
    def _tc_key_for(self, eui: int) -> bytes | None:
        node = self.node
        policy = node.state.policies.get(int(t.EzspPolicyId.TRUST_CENTER_POLICY), 0)
        if not policy & TC_ALLOW_JOINS:            # the trust centre sends no network key: joins are denied
            return None
        key = node.transient_key_for(_eui_obj(eui)) or node.link_key_for(_hex(eui))
        if key is None and not policy & TC_POLICY_INSTALL_CODE_ONLY:
            key = GLOBAL_TC_KEY
        return key

    def _tc_association(self, joiner: int, capability: int) -> None:
        node = self.node
        net = node.network
        if not node.state.network_up or net.node_type != 1:
            return
        key = self._tc_key_for(joiner) if node.permitting() else None
        short = self.devices.get(joiner) or self._new_short()
        status = f.ASSOC_SUCCESS if key is not None else f.ASSOC_ACCESS_DENIED
        if key is None:
            self._tc_report(short, joiner, t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
                            t.EmberJoinDecision.DENY_JOIN)
        rsp = f.association_response(self._next_mac_seq(), net.pan_id, joiner, self.ieee,
                                     short if key is not None else 0xFFFF, status)
        self.pending_assoc[joiner] = (rsp, short, key)

    def _new_short(self) -> int:
        used = set(self.devices.values()) | {0x0000}
        while True:
            short = struct.unpack("<H", os.urandom(2))[0]
            if 0x0001 <= short < 0xFFF8 and short not in used:
                return short

    async def _send_assoc_response(self, joiner: int, pending) -> None:
        rsp, short, key = pending
        delivered = await self._transmit(rsp)
        if key is None or not delivered:
            return
        net = self.node.network
        self.devices[joiner] = short
        # a (re)joining device is a new neighbour: the frame counters it used on an earlier stay no longer
        # count against it (it starts again with the network key it is about to get), as for any new entry
        # of a real stack's neighbour table
        self.incoming_fc.pop(joiner, None)
        tk = f.ApsCommand(command_id=f.APS_CMD_TRANSPORT_KEY, key_type=f.KEY_NWK,
                          key=bytes.fromhex(net.network_key), key_seq=net.network_key_seq,
                          dst_ieee=joiner, src_ieee=self.ieee).encode()
        aux = f.AuxHeader(key_id=f.KEY_ID_KEY_TRANSPORT, frame_counter=self._next_aps_fc(), source=self.ieee)
        aps = sec.secure_aps(f.ApsFrame(frame_type=f.APS_COMMAND, delivery_mode=f.DELIVERY_UNICAST,
                                        counter=self.node.next_aps_seq(), aux=aux), key, tk)
        nwk = f.NwkFrame(frame_type=f.NWK_DATA, dst=short, src=0x0000, radius=1, seq=self._next_nwk_seq(),
                         payload=aps).encode()
        self._tc_report(short, joiner, t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
                        t.EmberJoinDecision.USE_PRECONFIGURED_KEY)
        self.node.callback("childJoinHandler", index=0, joining=True, childId=short, childEui64=_eui_obj(joiner),
                           childType=t.EmberNodeType.ROUTER)
        self.awaiting_announce[joiner] = self.node.clock.call_later(ANNOUNCE_TIMEOUT, self._announce_timeout,
                                                                    joiner, short)
        await self._transmit(f.mac_data(self._next_mac_seq(), net.pan_id, short, 0x0000, nwk))

    def _announce_timeout(self, joiner: int, short: int) -> None:
        if self.awaiting_announce.pop(joiner, None) is not None:
            LOGGER.info("joiner %016X never announced itself (wrong link key?): reported as left", joiner)
            self.devices.pop(joiner, None)
            self._tc_report(short, joiner, t.EmberDeviceUpdate.DEVICE_LEFT, t.EmberJoinDecision.NO_ACTION)

    def _on_device_announce(self, payload: bytes, src_eui: int) -> None:
        timer = self.awaiting_announce.pop(src_eui, None)
        if timer is not None:
            timer.cancel()
        if len(payload) >= 11:
            short = struct.unpack_from("<H", payload, 1)[0]
            self.devices[src_eui] = short
        self.deliver_local(ZDOCmd.Device_annce, payload, 0, src_nwk=self.devices.get(src_eui, 0xFFFE),
                           src_eui=_eui_obj(src_eui), message_type=4)

    def _tc_report(self, short, eui, status, decision) -> None:
        self.node.callback("trustCenterJoinHandler", newNodeId=short, newNodeEui64=_eui_obj(eui), status=status,
                           policyDecision=decision, parentOfNewNodeId=0x0000)

    # --- joining --------------------------------------------------------------------------------
    def join(self, node_type: int, parameters, security) -> None:
        self.spawn(self._join_listening(node_type, parameters, security or {}))

    def _preconfigured_key(self, security: dict) -> bytes | None:
        bitmask = security.get("bitmask", 0)
        if bitmask & Sec.GET_PRECONFIGURED_KEY_FROM_INSTALL_CODE:     # key from MFG_INSTALLATION_CODE
            code = self.node.nv.state.install_code
            return bytes(convert_install_code(bytes.fromhex(code))) if code else None
        if bitmask & Sec.HAVE_PRECONFIGURED_KEY:
            return security.get("preconfigured_key")
        return GLOBAL_TC_KEY

    @staticmethod
    def _pinned_trust_center(security: dict) -> int | None:
        """The only trust centre this join may accept (HAVE_TRUST_CENTER_EUI64), or None: learnt while joining.

        EmberZNet (ember-types.h, EmberInitialSecurityBitmask): with HAVE_TRUST_CENTER_EUI64 set "the device
        will only join a network and accept commands from a trust center with that EUI64" — an all-zero
        preconfiguredTrustCenterEui64 therefore pins a trust centre no network has."""
        if not security.get("bitmask", 0) & Sec.HAVE_TRUST_CENTER_EUI64:
            return None
        return int(security.get("tc_eui64", "0" * 16), 16)

    async def _join_listening(self, node_type: int, params, security: dict) -> None:
        self.rx_hold += 1                        # beacons, association response, Transport Key
        try:
            await self._join(node_type, params, security)
        finally:
            self.rx_hold -= 1

    async def _join(self, node_type: int, params, security: dict) -> None:
        node = self.node
        preconfigured = self._preconfigured_key(security)
        if preconfigured is not None:
            node.key_hint(preconfigured, "preconfigured (install-code) link key")
        channel = int(params.radioChannel)
        want_epan = bytes(params.extendedPanId)
        want_pan = int(params.panId)
        self.radio.set_channel(channel)
        self.beacons = []
        await self._transmit(f.beacon_request(self._next_mac_seq()))
        await node.clock.sleep(scan_seconds(JOIN_SCAN_DURATION))
        found, self.beacons = self.beacons, None
        candidates = [b for b in found
                      if (want_epan == bytes(8) or b[2].extended_pan_id == int.from_bytes(want_epan, "little"))
                      and (want_pan in (0, 0xFFFF) or b[0].src_pan == want_pan)]
        if not candidates:
            node.join_failed("NO_BEACONS")
            return
        open_ = [b for b in candidates if b[1].association_permit]
        if not open_:
            node.join_failed("NOT_JOINED")
            return
        mac, _sf, zb, _lqi, _rssi = min(open_, key=lambda b: b[0].src_addr != 0x0000)   # prefer the TC
        pan, parent = mac.src_pan, mac.src_addr
        capability = f.CAP_ALLOCATE_ADDRESS | f.CAP_RX_ON_WHEN_IDLE | f.CAP_MAINS_POWERED
        if node_type == 2:
            capability |= f.CAP_FFD
        state = self.join_state = {"flag": _Flag(), "assoc": None, "key_flag": _Flag(),
                                   "key": self._preconfigured_key(security), "network_key": None,
                                   "pinned_tc": self._pinned_trust_center(security)}
        self.radio.pan_id = pan
        await self._transmit(f.association_request(self._next_mac_seq(), pan, parent, self.ieee, capability))
        await node.clock.sleep(0.01)
        await self._transmit(f.data_request(self._next_mac_seq(), pan, parent, self.ieee, src_long=True))
        await self._wait_flag(state["flag"], ASSOC_RESPONSE_WAIT)
        if state["assoc"] is None or state["assoc"][1] != f.ASSOC_SUCCESS:
            self.join_state = None
            self._set_radio_address(pan=0xFFFF, short=0xFFFF)
            node.join_failed("NOT_JOINED")
            return
        short, _status, tc_long = state["assoc"]
        state["tc"] = tc_long
        await self._wait_flag(state["key_flag"], TRANSPORT_KEY_WAIT)
        self.join_state = None
        if state["network_key"] is None:
            self._set_radio_address(pan=0xFFFF, short=0xFFFF)
            node.join_failed("ZIGBEE_NO_NETWORK_KEY_RECEIVED")
            return
        network_key, key_seq = state["network_key"]
        node.joined(NetworkTokens(
            node_type=node_type, node_id=short, pan_id=pan,
            extended_pan_id=zb.extended_pan_id.to_bytes(8, "big").hex().upper(), channel=channel,
            tx_power=int(params.radioTxPower), update_id=zb.update_id, network_key=network_key.hex().upper(),
            network_key_seq=key_seq, security_bitmask=security.get("bitmask", 0),
            preconfigured_key=(state["key"] or bytes(16)).hex().upper(), tc_eui64=_hex(tc_long),
            tc_link_key=(state["key"] or bytes(16)).hex().upper(), parent_eui64=_hex(tc_long),
            parent_node_id=parent))
        if state["key"] is not None:
            node.store_link_key(_hex(tc_long), state["key"])
        self.devices[tc_long] = 0x0000
        self._announce(short)

    def _announce(self, short: int) -> None:
        cap = f.CAP_ALLOCATE_ADDRESS | f.CAP_RX_ON_WHEN_IDLE | f.CAP_MAINS_POWERED | f.CAP_FFD
        payload = bytes((self.node.next_aps_seq(),)) + struct.pack("<HQB", short, self.ieee, cap)
        aps = f.ApsFrame(frame_type=f.APS_DATA, delivery_mode=f.DELIVERY_BROADCAST, dst_endpoint=0,
                         cluster=ZDOCmd.Device_annce, profile=ZDO_PROFILE, src_endpoint=0,
                         counter=self.node.next_aps_seq(), payload=payload).encode()
        self.spawn(self._send_nwk(0xFFFF, self._nwk_secured(dst=0xFFFD, payload=aps)))

    def _on_unsecured_nwk(self, mac: f.MacFrame, nwk: f.NwkFrame) -> None:
        """Only the TC's Transport Key to a joiner travels without NWK security."""
        state = self.join_state
        if state is None or state.get("key") is None or f.follows(nwk) is not f.ApsFrame:
            return
        aps = f.ApsFrame.decode(nwk.payload)
        if f.follows(aps) is not f.ApsCommand or not aps.security:
            return
        try:
            _frame, plaintext = sec.unsecure_aps(nwk.payload, state["key"])
        except sec.SecurityError:
            LOGGER.info("%s: Transport Key did not decrypt with our preconfigured key", self.state.eui64)
            return
        cmd = f.ApsCommand.decode(plaintext)
        pinned = state.get("pinned_tc")
        if pinned is not None and cmd.src_ieee != pinned:
            # [I] the key is dropped as from a foreign trust centre: the join ends, as any join whose
            # Transport Key never comes, with ZIGBEE_NO_NETWORK_KEY_RECEIVED
            LOGGER.info("%s: Transport Key from trust centre %016X, not the pinned %016X: dropped",
                        self.state.eui64, cmd.src_ieee, pinned)
            return
        if cmd.command_id == f.APS_CMD_TRANSPORT_KEY and cmd.key_type == f.KEY_NWK and cmd.dst_ieee == self.ieee:
            state["network_key"] = (cmd.key, cmd.key_seq)
            state["tc"] = cmd.src_ieee
            state["key_flag"].set()

    # --- scans ----------------------------------------------------------------------------------
    async def active_scan_channel(self, channel: int, duration: int) -> list:
        self.beacons = []
        await self._transmit(f.beacon_request(self._next_mac_seq()))
        await self.node.clock.sleep(scan_seconds(duration))
        found, self.beacons = self.beacons, None
        networks = []
        for mac, sf, zb, lqi, rssi in found:
            network = t.EmberZigbeeNetwork(
                channel=channel, panId=mac.src_pan, extendedPanId=t.ExtendedPanId(zb.extended_pan_id.to_bytes(8, "little")),
                allowingJoin=bool(sf.association_permit), stackProfile=zb.stack_profile, nwkUpdateId=zb.update_id)
            networks.append((network, lqi, max(-128, min(127, rssi))))
        return networks


class _DeviceTable(dict):
    """EUI-64 ↔ NWK address of the nodes this NCP knows, persisted like EmberZNet's child and
    address tables: after a reset the stack still knows whom a NWK address belongs to (needed for
    APS encryption with that node's link key)."""

    def __init__(self, nv) -> None:
        super().__init__({int(eui, 16): nwk for eui, nwk in nv.state.address_map.items()})
        self._nv = nv

    def _save(self) -> None:
        self._nv.state.address_map = {_hex(eui): nwk for eui, nwk in self.items()}
        self._nv.save()

    def __setitem__(self, eui: int, nwk: int) -> None:
        if self.get(eui) != nwk:
            super().__setitem__(eui, nwk)
            self._save()

    def setdefault(self, eui: int, nwk: int) -> int:
        if eui not in self:
            self[eui] = nwk
        return self[eui]

    def pop(self, eui: int, default=None):
        if eui not in self:
            return default
        value = super().pop(eui)
        self._save()
        return value

    def clear(self) -> None:
        if self:
            super().clear()
            self._save()


class _Flag:
    """A settable flag that can be awaited (an asyncio.Event created lazily on the running loop)."""

    def __init__(self) -> None:
        self.is_set = False
        self._event = None

    def set(self) -> None:
        self.is_set = True
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        import asyncio

        if self.is_set:
            return
        self._event = asyncio.Event()
        await self._event.wait()
