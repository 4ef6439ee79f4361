"""The HHT role: pair with a CH over inter-PAN, join the SM HAN, deliver a GBCS bundle through a tunnel.

``Hht.power_on(gpf_entity_id)`` runs, in order, each step reported as an event:

1. ``hht.scan``: active scan; the CH is the network whose Extended PAN ID is the GPF Entity ID printed on
   the hub (its HAN radio's IEEE address, so inter-PAN frames go to that EUI-64).
2. ``hht.cbke_interpan``: CBKE with the CH over inter-PAN (Key Establishment cluster, plaintext: the
   only inter-PAN traffic a CH accepts unsecured).  No answer within ``INTERPAN_ANSWER_TIMEOUT_S``, or a
   failed CBKE, is retried after ``INTERPAN_RETRY_S`` (doubling), ``INTERPAN_ATTEMPTS`` attempts in all;
   then the pairing ends.
3. ``hht.ccs01_sent`` / ``hht.ccs01_response``: its own CCS01 (Entity ID + install code, built by the
   DCC) over inter-PAN, one GBT block per APS-secured TransferData (``segments``, ``rig.gbcs.gbt``),
   keyed with the CBKE link key; waits for the CH's response (GBT blocks too).
4. ``hht.joined_han``: joins with its install-code key; ``hht.cbke_han``: CBKE with the CH again.
5. ``hht.tunnel``: RequestTunnel (GB-HRGP); ``deliver(bundle)`` sends each command in order, each whole
   in one TransferData (APS-fragmented, ``rig.fragments``), and collects its response (``hht.delivered``).

Failures raise ``RoleError(reason)``; the transcript is the event log.
"""

from __future__ import annotations

import asyncio
import struct

from rig import pairing
from rig.clock import Clock
from rig.events import EventLog
from rig.gbcs import Bundle, Message
from rig.roles.ezsp_role import (
    EzspRole,
    Reassembler,
    RoleError,
    han_transfers,
    se_zcl,
    segments,
    tunnel_granted,
)
from rig.roles.ezsp_role import describe_gbcs as _info
from rig.zigbee.eui64 import eui_hex
from rig.zigbee.install_code import link_key_from_code
from rig.zigbee.zcl import ZclHeader


class Hht:
    def __init__(self, ezsp, clock: Clock, events: EventLog, *, install_code: bytes, ccs01: bytes,
                 name: str = "HHT", attempts: int = pairing.INTERPAN_ATTEMPTS) -> None:
        self.role = EzspRole(name, ezsp, clock, events)
        self.attempts = attempts
        self.clock = clock
        self.install_code = install_code
        self.ccs01 = ccs01
        self.ch_eui: str | None = None
        self.network = None
        self.link_key: bytes | None = None
        self.tunnel_id: int | None = None
        self._interpan_rx = Reassembler()
        self._han_rx = Reassembler(segment_bytes=pairing.TUNNEL_MAX_TRANSFER)   # whole messages (APS blocks below)
        self._responses: dict[int, asyncio.Future] = {}
        self._tunnel_fut: asyncio.Future | None = None
        self._first_answer = asyncio.Event()
        self.role.on("macFilterMatchMessageHandler", self._on_interpan)
        self.role.on_fields("incomingMessageHandler", self._on_incoming)

    @property
    def name(self) -> str:
        return self.role.name

    # --- the whole HHT pairing ------------------------------------------------------------------
    async def power_on(self, gpf_entity_id: str) -> None:
        role = self.role
        await role.read_eui64()
        await role.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER, pairing.METERING_CLUSTER]),
                           device_id=0x0507)
        role.emit("hht.powered_on", eui64=role.eui64)
        await self.find_ch(gpf_entity_id)
        await self.interpan_pairing()
        await self.join_han()

    async def find_ch(self, gpf_entity_id: str) -> None:
        """Active scans (up to ``SCAN_ATTEMPTS``: one lost beacon is no absent CH) for the CH's beacon."""
        for _attempt in range(pairing.SCAN_ATTEMPTS):
            found = await self.role.active_scan(pairing.SCAN_DURATION)
            for network, _lqi, _rssi in found:
                if eui_hex(network.extendedPanId) == gpf_entity_id.upper():
                    self.network = network
                    self.ch_eui = gpf_entity_id.upper()
                    self.role.emit("hht.scan", peer="CH", channel=int(network.channel),
                                   pan_id=f"{int(network.panId):04X}")
                    return
        self.role.emit("hht.scan", "ch_not_found", networks=len(found))
        raise RoleError("ch_not_found", f"no beacon with Extended PAN ID {gpf_entity_id}")

    async def interpan_pairing(self) -> None:
        role = self.role
        await role.set_channel(int(self.network.channel))
        await role.open_interpan()
        ch, pan = self.ch_eui, int(self.network.panId)

        async def send(c, p):
            return await role.send_interpan(ch, pan, pairing.KE_CLUSTER, role.zcl(c, p, direction=0))

        for attempt in range(1, self.attempts + 1):
            failure = await self._interpan_cbke(send, attempt)
            if failure is None:
                break
            if attempt == self.attempts:
                raise failure
            await self.clock.sleep(pairing.INTERPAN_RETRY_S * 2 ** (attempt - 1))
        self.link_key = await role.link_key_for(ch)
        role.emit("hht.cbke_interpan", peer="CH", attempt=attempt)

        fut = self._expect(self.ccs01)
        for piece in segments(self.ccs01):
            zcl = role.zcl(pairing.CMD_TRANSFER_DATA_C2S, struct.pack("<H", pairing.INTERPAN_TUNNEL_ID) + piece,
                           direction=0)
            if not await role.send_interpan(ch, pan, pairing.TUNNEL_CLUSTER, zcl, link_key=self.link_key):
                raise RoleError("interpan_send_failed", "CCS01 GBT block not acknowledged")
        role.emit("hht.ccs01_sent", peer="CH", **_info(self.ccs01))
        response = await self._await_response(fut, "CCS01 response over inter-PAN")
        role.emit("hht.ccs01_response", peer="CH", **_info(response))

    async def _interpan_cbke(self, send, attempt: int) -> RoleError | None:
        """One attempt at CBKE with the CH over inter-PAN; the failure (not raised), or None."""
        role = self.role
        self._first_answer.clear()
        ke = asyncio.ensure_future(role.run_ke_initiator(send, self.ch_eui, "with the CH over inter-PAN"))
        try:
            await self.clock.wait_for(self._first_answer.wait(), pairing.INTERPAN_ANSWER_TIMEOUT_S,
                                      "the CH's inter-PAN Initiate Key Establishment Response")
        except TimeoutError:
            ke.cancel()
            await asyncio.gather(ke, return_exceptions=True)
            role.emit("hht.cbke_interpan", "no_answer_from_ch", peer="CH", attempt=attempt)
            return RoleError("no_answer_from_ch", "the CH did not answer inter-PAN key establishment")
        result = await ke
        if not result.success:
            role.emit("hht.cbke_interpan", result.reason.name.lower(), peer="CH", attempt=attempt)
            return RoleError("cbke_interpan_failed", result.reason.value)
        return None

    async def join_han(self) -> None:
        role = self.role
        await role.close_interpan()
        key = link_key_from_code(self.install_code)
        status = await role.join(int(self.network.channel), int(self.network.panId), self.network.extendedPanId, key)
        role.emit("hht.joined_han", status, peer="CH")
        if status != "ok":
            raise RoleError("join_failed", status)
        result = await role.run_ke_initiator(
            lambda c, p: role.send_zcl(0x0000, pairing.KE_CLUSTER, role.zcl(c, p, direction=0)), self.ch_eui, "on the HAN")
        role.emit("hht.cbke_han", "ok" if result.success else result.reason.name.lower(), peer="CH")
        if not result.success:
            raise RoleError("cbke_han_failed", result.reason.value)
        await self.open_tunnel()

    async def open_tunnel(self) -> None:
        role = self.role
        self._tunnel_fut = asyncio.get_running_loop().create_future()
        payload = struct.pack("<BHBH", pairing.GB_HRGP, pairing.TUNNEL_MANUFACTURER, 0, pairing.TUNNEL_MAX_TRANSFER)
        await role.send_zcl(0x0000, pairing.TUNNEL_CLUSTER, role.zcl(pairing.CMD_REQUEST_TUNNEL, payload, direction=0),
                            encrypt=True)
        try:
            self.tunnel_id = await self.clock.wait_for(self._tunnel_fut, pairing.RESPONSE_TIMEOUT_S, "RequestTunnelResponse")
        except TimeoutError:
            role.emit("hht.tunnel", "tunnel_refused", peer="CH")
            raise RoleError("tunnel_refused", "no RequestTunnelResponse from the CH") from None
        role.emit("hht.tunnel", peer="CH", tunnel_id=self.tunnel_id)

    async def deliver(self, commands: list[bytes] | Bundle, *, sleepy: frozenset[str] | set[str] = frozenset()) -> list[bytes]:
        """Send each GBCS command (raw bytes, or a loaded ``rig.gbcs.Bundle``) through the tunnel in order;
        return the responses.  A command for a device in ``sleepy`` (the GSME: the CHF holds it until the
        device wakes) is given ``SLEEPY_RESPONSE_TIMEOUT_S`` for its response."""
        if isinstance(commands, Bundle):
            commands = [entry.gbcs for entry in commands.entries]
        sleepy = {s.upper() for s in sleepy}
        responses = []
        for command in commands:
            timeout = (pairing.SLEEPY_RESPONSE_TIMEOUT_S if Message.from_bytes(command).recipient in sleepy
                       else pairing.RESPONSE_TIMEOUT_S)
            responses.append(await self.send_gbcs(command, timeout=timeout))
        return responses

    async def send_gbcs(self, command: bytes, *, timeout: float = pairing.RESPONSE_TIMEOUT_S) -> bytes:
        role = self.role
        fut = self._expect(command)
        for piece in han_transfers(command):
            zcl = role.zcl(pairing.CMD_TRANSFER_DATA_C2S, struct.pack("<H", self.tunnel_id) + piece, direction=0)
            if not await role.send_zcl(0x0000, pairing.TUNNEL_CLUSTER, zcl, encrypt=True):
                raise RoleError("tunnel_send_failed", "TransferData not delivered to the CH")
        role.emit("hht.gbcs_sent", peer="CH", **_info(command))
        response = await self._await_response(fut, f"response to {_info(command)['use_case']}", timeout)
        role.emit("hht.gbcs_response", peer="CH", **_info(response))
        return response

    async def leave(self) -> None:
        await self.role.leave()
        self.role.emit("hht.left_han", peer="CH")

    # --- responses ------------------------------------------------------------------------------
    def _expect(self, command: bytes) -> asyncio.Future:
        counter = Message.from_bytes(command).counter
        fut = self._responses[counter] = asyncio.get_running_loop().create_future()
        return fut

    async def _await_response(self, fut: asyncio.Future, what: str, timeout: float = pairing.RESPONSE_TIMEOUT_S) -> bytes:
        try:
            return await self.clock.wait_for(fut, timeout, what)
        except TimeoutError:
            self.role.emit("hht.no_response", "no_response", what=what)
            raise RoleError("no_response", what) from None

    def _deliver_response(self, data: bytes) -> None:
        try:
            counter = Message.from_bytes(data).counter
        except Exception:  # noqa: BLE001
            return
        fut = self._responses.pop(counter, None)
        if fut is not None and not fut.done():
            fut.set_result(data)

    def _on_interpan(self, *args) -> None:
        frame = EzspRole.parse_interpan(bytes(args[-1]), lambda src: self.link_key if src == self.ch_eui else None)
        if frame is None or frame.src != self.ch_eui or frame.zcl is None:
            return
        if frame.cluster == pairing.KE_CLUSTER and not frame.secured:
            self._first_answer.set()
            self.role.feed_ke(frame.zcl)
        elif frame.cluster == pairing.TUNNEL_CLUSTER and frame.secured and len(frame.zcl.payload) > 2:
            whole = self._interpan_rx.feed(frame.zcl.payload[2:])
            if whole is not None:
                self._deliver_response(whole)

    def _on_incoming(self, cb) -> None:
        aps, nwk, eui64, zcl = cb.aps_frame, cb.nwk, cb.eui64, se_zcl(cb)
        if zcl is None:
            return
        if aps.clusterId == pairing.KE_CLUSTER:
            self.role.feed_ke(zcl)
        elif aps.clusterId == pairing.TUNNEL_CLUSTER and zcl.direction == 1:
            if (tunnel_id := tunnel_granted(zcl)) is not None:
                if self._tunnel_fut is not None and not self._tunnel_fut.done():
                    self._tunnel_fut.set_result(tunnel_id)
            elif zcl.command_id == pairing.CMD_TRANSFER_DATA_S2C and len(zcl.payload) > 2:
                whole = self._han_rx.feed(zcl.payload[2:])
                if whole is not None:
                    self._deliver_response(whole)
        else:
            self.on_other(aps, int(nwk), eui64, zcl)

    def on_other(self, aps, nwk: int, eui64, zcl: ZclHeader) -> None:
        """Other HAN traffic (the PPMID role overrides this)."""

