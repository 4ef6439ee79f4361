"""Minimal ESME and GPF shims: accept CS03 joins validated by the GBCS layer, record the joined partner,
answer with the GBCS response, and refuse an unjoined partner's traffic.

* ``MeterCore`` has no radio: ``handle_command(bytes)`` -> ``(response bytes, None)`` or
  ``(None, Refusal)``; ``partners`` is the meter's list of joined devices (EUI-64 -> device type).
  The GPF uses it in-process inside the CH shim (in a real CH the GPF shares the CH's radio; its
  Entity ID is the HAN's Extended PAN ID).
* ``EsmeShim`` runs a ``MeterCore`` on its own dongle: joins the SM HAN with its install-code key, runs
  CBKE with the CH, serves the CH's GB-HRGP tunnel (requests in, responses back), and answers ZCL
  Metering reads only from a joined partner (``rig.pairing``: Default Response NOT_AUTHORIZED otherwise).
  When a joined partner announces itself on the HAN the ESME reports its reading to it (the ESME is the
  CS03A1 initiator: it makes the first contact).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from zigpy.zcl.clusters.smartenergy import Metering
from zigpy.zcl.foundation import DataTypeId, GeneralCommand, Status
from zigpy.zdo.types import ZDOCmd

from rig import pairing
from rig.clock import Clock
from rig.events import EventLog
from rig.gbcs import Builder, CounterStore, Device, DeviceType, validate
from rig.roles.ezsp_role import EzspRole, Reassembler, RoleError, han_transfers
from rig.roles.refusal import Refusal
from rig.zigbee.eui64 import eui_hex
from rig.zigbee.zcl import ZclHeader

ATTR_CURRENT_SUMMATION = Metering.AttributeDefs.current_summ_delivered.id


def summation_record(value: int) -> bytes:
    return struct.pack("<HB", ATTR_CURRENT_SUMMATION, DataTypeId.uint48) + value.to_bytes(6, "little")


@dataclass
class MeterCore:
    actor: str
    device: Device
    counters: CounterStore
    builder: Builder
    events: EventLog
    partners: dict[str, int] = field(default_factory=dict)

    def handle_command(self, data: bytes) -> tuple[bytes | None, Refusal | None]:
        result = validate(data, self.device, self.counters)
        if not result.ok:
            refusal = Refusal(f"gbcs_rejected:{result.reason.value}", result.detail)
            self.events.emit(self.actor, "meter.command_refused", refusal.reason, detail=refusal.detail)
            return None, refusal
        name, payload = result.use_case.name, result.payload
        if name.startswith("CS03"):
            self.partners[payload["partner_id"].upper()] = int(payload["partner_type"])
            self.events.emit(self.actor, "meter.partner_joined", partner=payload["partner_id"].upper(),
                             partner_type=DeviceType(int(payload["partner_type"])).name, use_case=name)
        elif name.startswith("CS04"):
            self.partners.pop(payload["partner_id"].upper(), None)
            self.events.emit(self.actor, "meter.partner_unjoined", partner=payload["partner_id"].upper())
        return self.builder.response(result.message).to_bytes(), None


class EsmeShim:
    """An ESME on its own dongle (``path``), driven through EZSP."""

    def __init__(self, ezsp, core: MeterCore, clock: Clock, events: EventLog, *, reading: int = 123456,
                 reconnect=None) -> None:
        """``reconnect()`` (optional) opens the ESME's dongle again: with it the ESME recovers from its NCP
        resetting or its link dropping (``rig.pairing.NCP_RECOVERY_DELAY_S``): it reconnects and resumes
        the HAN from the NCP's NV (its partners and the CBKE link key with the CH survive there)."""
        self.core = core
        self.clock = clock
        self.events = events
        self.reconnect = reconnect
        self.reading = reading
        self._joined_with: tuple | None = None
        self._recovery: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()      # answers in progress (reads, reports, tunnel data)
        self._attach(ezsp)
        self.ch_nwk = 0x0000
        self.tunnel_id = 0x0001
        self._rx = Reassembler(segment_bytes=pairing.TUNNEL_MAX_TRANSFER)   # whole messages (APS blocks below)
        self.known: dict[str, int] = {}           # partner EUI -> NWK address, learnt from announcements
        self.refused: list[str] = []

    def _attach(self, ezsp) -> None:
        self.ezsp = ezsp
        self.role = EzspRole(self.core.actor, ezsp, self.clock, self.events)
        self.role.on_fields("incomingMessageHandler", self._on_incoming)
        self.role.on_lost.append(self._ncp_lost)

    async def _prepare(self) -> None:
        await self.role.read_eui64()
        await self.role.prepare(([pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER, pairing.METERING_CLUSTER],
                                 [pairing.KE_CLUSTER]), device_id=0x0501)

    def _ncp_lost(self, lost) -> None:
        if self.reconnect is not None and (self._recovery is None or self._recovery.done()):
            self._recovery = asyncio.ensure_future(self._recover(lost))

    async def _recover(self, lost) -> None:
        """Reconnect, then ``networkInit`` from NV (a rejoin with the install-code key if that fails)."""
        import contextlib

        from rig.transport import close_ezsp

        with contextlib.suppress(Exception):
            await close_ezsp(self.ezsp)
        await self.clock.sleep(pairing.NCP_RECOVERY_DELAY_S)
        for attempt in range(1, pairing.NCP_RECOVERY_ATTEMPTS + 1):
            try:
                self._attach(await self.reconnect())
                await self._prepare()
                if not await self.role.resume_network() and self._joined_with is not None:
                    status = await self.role.join(*self._joined_with)
                    if status != "ok":
                        raise RuntimeError(f"rejoin: {status}")
                self.role.emit("meter.ncp_recovered", attempt=attempt)
                return
            except Exception as exc:  # noqa: BLE001 - reported, then retried or given up with the reason
                self.role.emit("meter.ncp_recovery_failed", type(exc).__name__, attempt=attempt, detail=str(exc))
                with contextlib.suppress(Exception):
                    await close_ezsp(self.ezsp)
                await self.clock.sleep(pairing.NCP_RECOVERY_RETRY_S)
        self.events.emit(self.core.actor, "meter.ncp_lost_for_good", lost.reason)

    async def close(self) -> None:
        """Stop recovering and answering (the run is over)."""
        tasks = [t for t in (self._recovery, *self._tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def power_on(self, channel: int, pan_id: int, extended_pan_id, install_code_key: bytes, ch_eui: str) -> str:
        role = self.role
        await self._prepare()
        self._joined_with = (channel, pan_id, extended_pan_id, install_code_key)
        joined = await role.join(channel, pan_id, extended_pan_id, install_code_key)
        role.emit("meter.joined_han", joined, peer="CH")
        if joined != "ok":
            return joined
        result = await role.run_ke_initiator(
            lambda c, p: role.send_zcl(self.ch_nwk, pairing.KE_CLUSTER, role.zcl(c, p, direction=0)), ch_eui, "with the CH")
        role.emit("meter.cbke_with_ch", "ok" if result.success else result.reason.name.lower(), peer="CH")
        return "ok" if result.success else "cbke_failed"

    def _on_incoming(self, cb) -> None:
        aps, nwk, message, eui = cb.aps_frame, cb.nwk, bytes(cb.message), eui_hex(cb.eui64)
        if aps.profileId == 0 and aps.clusterId == ZDOCmd.Device_annce:
            if len(message) >= 3:
                self.known[eui] = struct.unpack_from("<H", message, 1)[0]
                if eui in self.core.partners:
                    self._spawn(self._report(eui))
            return
        try:
            zcl = ZclHeader.decode(message)
        except Exception:  # noqa: BLE001 - malformed ZCL from the air is dropped
            return
        if aps.clusterId == pairing.KE_CLUSTER:
            self.role.feed_ke(zcl)
        elif aps.clusterId == pairing.TUNNEL_CLUSTER:
            self._spawn(self._on_tunnel(int(nwk), zcl))
        elif aps.clusterId == pairing.METERING_CLUSTER and zcl.frame_type == 0 and zcl.command_id == GeneralCommand.Read_Attributes:
            self._spawn(self._on_read(int(nwk), eui, zcl))

    def _spawn(self, coro) -> asyncio.Task:
        """Answer a frame in the background.  An answer cut off by the ESME's own NCP reset or link drop
        (``RoleError`` ncp_reset / ncp_link_lost, already reported as ``esme.ncp_lost`` and being
        recovered) is gone with the link, as a real ESME's would be: ``meter.answer_lost``, and the
        peer's retry asks again.  Any other failure is the loop's to report, as before."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._answered)
        return task

    def _answered(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, RoleError) and exc.reason in ("ncp_reset", "ncp_link_lost"):
            self.events.emit(self.core.actor, "meter.answer_lost", exc.reason)
        elif exc is not None:
            asyncio.get_running_loop().call_exception_handler(
                {"message": "an ESME answer failed", "exception": exc, "task": task})

    async def _on_tunnel(self, nwk: int, zcl: ZclHeader) -> None:
        role = self.role
        if zcl.direction == 0 and zcl.command_id == pairing.CMD_REQUEST_TUNNEL:
            payload = struct.pack("<HBH", self.tunnel_id, 0, pairing.TUNNEL_MAX_TRANSFER)
            await role.send_zcl(nwk, pairing.TUNNEL_CLUSTER,
                                role.zcl(pairing.CMD_REQUEST_TUNNEL_RESPONSE, payload, direction=1), encrypt=True)
        elif zcl.direction == 0 and zcl.command_id == pairing.CMD_TRANSFER_DATA_C2S and len(zcl.payload) > 2:
            whole = self._rx.feed(zcl.payload[2:])
            if whole is None:
                return
            response, _refusal = self.core.handle_command(whole)
            if response is not None:
                for piece in han_transfers(response):
                    await role.send_zcl(nwk, pairing.TUNNEL_CLUSTER, role.zcl(
                        pairing.CMD_TRANSFER_DATA_S2C, struct.pack("<H", self.tunnel_id) + piece, direction=1),
                        encrypt=True)

    async def _report(self, eui: str) -> None:
        role = self.role
        zcl = role.zcl(GeneralCommand.Report_Attributes, summation_record(self.reading), direction=1, cluster_specific=False)
        ok = await role.send_zcl(self.known[eui], pairing.METERING_CLUSTER, zcl)
        role.emit("meter.report_to_partner", "ok" if ok else "delivery_failed", peer=eui)

    async def _on_read(self, nwk: int, eui: str, zcl: ZclHeader) -> None:
        role = self.role
        if eui not in self.core.partners:
            self.refused.append(eui)
            role.emit("meter.read_refused", "not_joined_partner", peer=eui)
            answer = ZclHeader(frame_type=0, direction=1, disable_default_response=1, seq=zcl.seq,
                               command_id=GeneralCommand.Default_Response, payload=bytes([zcl.command_id, Status.NOT_AUTHORIZED]))
        else:
            role.emit("meter.read_answered", peer=eui, value=self.reading)
            answer = ZclHeader(frame_type=0, direction=1, disable_default_response=1, seq=zcl.seq,
                               command_id=GeneralCommand.Read_Attributes_rsp,
                               payload=struct.pack("<HB", ATTR_CURRENT_SUMMATION, 0) + summation_record(self.reading)[2:])
        await role.send_zcl(nwk, pairing.METERING_CLUSTER, answer.encode())
