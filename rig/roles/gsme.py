"""The GSME: a sleepy gas meter on its own dongle, behind the CH's GPF (``rig.pairing``, SLEEPY_PROTOCOL).

``GsmeShim.power_on`` joins the SM HAN as a sleepy end device with the GSME's install-code key (the DCC
put it in the CHF device log with a CCS01 over the WAN, ``rig.premises.Premises.gsme``), runs CBKE with
the CH, opens its own tunnel to the CHF (the CH never opens one to a GSME) and wakes once; from then on
it wakes every ``wake_s`` (``rig.pairing.GSME_WAKE_S``; None: never by itself), and when its button is pressed
(``press_button``: an installer joining a PPMID to it does not wait half an hour).  A wake (``wake``):

1. PUT: its Metering attributes (CurrentSummationDelivered) as a Report Attributes frame, the GPF's mirror;
2. GET, and a ``pollForData`` (a sleepy end device's parent holds its frames until it polls); the
   GET-RESPONSE says how many messages the CHF still holds and carries the oldest;
3. each message is executed by the GSME's ``MeterCore`` (GBCS validation, CS03/CS04 partners) and its
   response PUT back; it GETs again while the CHF says more are held.

The GSME answers nobody's Metering reads itself: the GPF does, from the mirror.  Events: ``gsme.tunnel``,
``gsme.gbcs_received`` / ``gsme.gbcs_put`` per held command, ``gsme.mirror_put`` when its reading
changed, ``gsme.wake`` for a wake that carried a command; a wake with nothing held is counted
(``wakes``), not logged, so days of sleeping do not flood the step log.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

import bellows.types as t
from zigpy.zcl.foundation import DataTypeId, GeneralCommand

from rig import pairing
from rig.clock import Clock, Timer
from rig.events import EventLog
from rig.roles.ch.gpf import put, report_records
from rig.roles.ezsp_role import EzspRole, describe_gbcs, han_transfers, se_zcl, tunnel_granted
from rig.roles.meters import ATTR_CURRENT_SUMMATION, MeterCore

GSME_DEVICE_ID = 0x0501        # SE Metering device


class GsmeShim:
    """A GSME on its own dongle, driven through EZSP."""

    def __init__(self, ezsp, core: MeterCore, clock: Clock, events: EventLog, *, reading: int = 8642,
                 wake_s: float | None = pairing.GSME_WAKE_S) -> None:
        """``wake_s`` None: no periodic wake (only at power-on and when its button is pressed)."""
        self.ezsp = ezsp
        self.core = core
        self.clock = clock
        self.events = events
        self.reading = reading
        self.wake_s = wake_s
        self.role = EzspRole(core.actor, ezsp, clock, events)
        self.role.on_fields("incomingMessageHandler", self._on_incoming)
        self.tunnel_id: int | None = None
        self.wakes = 0                       # every wake, also those with nothing held
        self.executed: list[str] = []        # use cases of the held commands it executed
        self._put_reading: int | None = None
        self._tunnel_fut: asyncio.Future | None = None
        self._answer: asyncio.Future | None = None
        self._lock = asyncio.Lock()
        self._timer: Timer | None = None
        self._task: asyncio.Task | None = None
        self._closed = False

    # --- power-on -------------------------------------------------------------------------------
    async def power_on(self, channel: int, pan_id: int, extended_pan_id, install_code_key: bytes, ch_eui: str) -> str:
        role = self.role
        await role.read_eui64()
        await role.prepare(([pairing.KE_CLUSTER, pairing.METERING_CLUSTER], [pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER]),
                           device_id=GSME_DEVICE_ID)
        joined = await role.join(channel, pan_id, extended_pan_id, install_code_key, node_type=pairing.GSME_NODE_TYPE)
        role.emit("meter.joined_han", joined, peer="CH", node_type="sleepy_end_device")
        if joined != "ok":
            return joined
        result = await role.run_ke_initiator(
            lambda c, p: role.send_zcl(0x0000, pairing.KE_CLUSTER, role.zcl(c, p, direction=0)), ch_eui, "with the CH")
        role.emit("meter.cbke_with_ch", "ok" if result.success else result.reason.name.lower(), peer="CH")
        if not result.success:
            return "cbke_failed"
        if not await self._request_tunnel():
            return "tunnel_refused"
        await self.wake()
        self._schedule()
        return "ok"

    async def _request_tunnel(self) -> bool:
        role = self.role
        self._tunnel_fut = asyncio.get_running_loop().create_future()
        payload = struct.pack("<BHBH", pairing.GB_HRGP, pairing.TUNNEL_MANUFACTURER, 0, pairing.TUNNEL_MAX_TRANSFER)
        await role.send_zcl(0x0000, pairing.TUNNEL_CLUSTER, role.zcl(pairing.CMD_REQUEST_TUNNEL, payload, direction=0),
                            encrypt=True)
        try:
            self.tunnel_id = await self.clock.wait_for(self._tunnel_fut, pairing.RESPONSE_TIMEOUT_S,
                                                       "RequestTunnelResponse from the CHF")
        except TimeoutError:
            role.emit("gsme.tunnel", "no_response", peer="CH")
            return False
        role.emit("gsme.tunnel", peer="CH", tunnel_id=self.tunnel_id)
        return True

    # --- waking ---------------------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._closed and self.wake_s is not None:
            self._timer = self.clock.call_later(self.wake_s, self._wake_due)

    def _wake_due(self) -> None:
        if not self._closed:
            self._task = asyncio.ensure_future(self._periodic())

    async def _periodic(self) -> None:
        try:
            await self.wake()
        except Exception as exc:  # noqa: BLE001 - a wake that fails (link gone) is reported; the next one tries again
            self.role.emit("gsme.wake", "failed", detail=f"{type(exc).__name__}: {exc}")
        self._schedule()

    def press_button(self) -> asyncio.Task:
        """The installer wakes the GSME now (its button), as for joining a PPMID in the field [I]."""
        self.role.emit("gsme.button_pressed", peer=None)
        task = self._task = asyncio.ensure_future(self.wake())
        return task

    async def wake(self) -> int:
        """One wake: PUT the reading, GET until nothing is held; returns how many commands it executed."""
        async with self._lock:
            self.wakes += 1
            await self._put_mirror()
            executed = 0
            while True:
                answer = await self._get()
                if answer is None:
                    break
                remaining, message = answer
                if message:
                    executed += 1
                    await self._execute(message)
                if remaining == 0 or not message:
                    break
            if executed:
                self.role.emit("gsme.wake", peer="CH", executed=executed, wakes=self.wakes)
            return executed

    async def _put_mirror(self) -> None:
        records = report_records({ATTR_CURRENT_SUMMATION: (int(DataTypeId.uint48), self.reading)})
        zcl = self.role.zcl(GeneralCommand.Report_Attributes, records, direction=1, cluster_specific=False)
        ok = await self._send(put(zcl))
        if self._put_reading != self.reading or not ok:
            self.role.emit("gsme.mirror_put", "ok" if ok else "send_failed", peer="GPF", value=self.reading)
        if ok:
            self._put_reading = self.reading

    async def _get(self) -> tuple[int, bytes] | None:
        self._answer = asyncio.get_running_loop().create_future()
        if not await self._send(bytes([pairing.TUNNEL_GET])):
            self.role.emit("gsme.get", "send_failed", peer="CH")
            return None
        with contextlib.suppress(Exception):         # one poll of the parent (its indirect queue on hardware)
            await self.clock.wait_for(self.ezsp.pollForData(interval=0, units=t.EmberEventUnits.EVENT_MS_TIME,
                                                            failureLimit=0), pairing.RESPONSE_TIMEOUT_S, "pollComplete")
        try:
            data = await self.clock.wait_for(self._answer, pairing.RESPONSE_TIMEOUT_S, "GET-RESPONSE from the CHF")
        except TimeoutError:
            self.role.emit("gsme.get", "no_response", peer="CH")
            return None
        return data[1], data[2:]

    async def _execute(self, message: bytes) -> None:
        self.role.emit("gsme.gbcs_received", peer="CH", **describe_gbcs(message))
        response, _refusal = self.core.handle_command(message)     # a refusal is the meter's event
        self.executed.append(describe_gbcs(message)["use_case"])
        if response is not None:
            ok = await self._send(put(response))
            self.role.emit("gsme.gbcs_put", "ok" if ok else "send_failed", peer="CH", **describe_gbcs(response))

    async def _send(self, data: bytes) -> bool:
        role = self.role
        ok = True
        for piece in han_transfers(data):
            zcl = role.zcl(pairing.CMD_TRANSFER_DATA_C2S, struct.pack("<H", self.tunnel_id or 0) + piece, direction=0)
            ok = await role.send_zcl(0x0000, pairing.TUNNEL_CLUSTER, zcl, encrypt=True) and ok
        return ok

    def _on_incoming(self, cb) -> None:
        aps, zcl = cb.aps_frame, se_zcl(cb)
        if zcl is None:
            return
        if aps.clusterId == pairing.KE_CLUSTER:
            self.role.feed_ke(zcl)
        elif aps.clusterId == pairing.TUNNEL_CLUSTER and zcl.direction == 1:
            if (tunnel_id := tunnel_granted(zcl)) is not None:
                if self._tunnel_fut is not None and not self._tunnel_fut.done():
                    self._tunnel_fut.set_result(tunnel_id)
            elif zcl.command_id == pairing.CMD_TRANSFER_DATA_S2C and len(zcl.payload) >= 4:
                data = zcl.payload[2:]
                if data[0] == pairing.TUNNEL_GET_RESPONSE and self._answer is not None and not self._answer.done():
                    self._answer.set_result(data)

    async def close(self) -> None:
        """Stop waking (the run is over)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
