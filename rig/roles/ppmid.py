"""The dual-address PPMID: one dongle, two identities (SECMP0037 local pairing).

Phase 1 (identity A, the factory EUI-64): acts as an HHT (``rig.roles.hht.Hht``): pairs with the CH
over inter-PAN with its own CCS01, joins the SM HAN, and delivers the DCC's bundle for identity B:
CCS01 (B into the CHF device log), CS03A1 (ESME joins B), CS03C (GPF joins B) and, on a premises with
a gas meter, CS03A1 to the GSME (held by the CHF until the sleepy GSME wakes: ``sleepy``).  Then it leaves.

Switch: identity B's EUI-64 goes into the NCP's rewritable NV3 token (``write_custom_eui64``, what
``rig write-eui64`` does) and the NCP is reset: it comes back as B.

Phase 2 (identity B): joins with B's install-code key (the CH admits it because B is in its log),
waits for the ESME's first report (the ESME, CS03A1 initiator, makes first contact) and reads the
ESME's meter reading (``exchange_with_esme``); gas data it reads from the GPF on the CH
(``read_gas``), which answers from what the GSME last put in its mirror.  A one-dongle dual-address PPMID holds one CBKE
certificate in the NCP (MFG_CBKE_283K1_DATA is write-once, its subject is identity A), so identity B's
certificate and key (``credentials_b``, a CBKE token) are held by the host: B runs CBKE with the CH
after joining with that host-side engine, and the agreed link key is imported as the NCP's trust-centre link key
(``rig.cbke.ezsp_engine.HostKeEngine``).  [I] Without ``credentials_b`` B skips CBKE (NWK-secured only).
"""

from __future__ import annotations

import asyncio
import struct

from zigpy.zcl.clusters.smartenergy import Metering
from zigpy.zcl.foundation import GeneralCommand

from rig import pairing
from rig.clock import Clock
from rig.events import EventLog
from rig.roles.ezsp_role import EzspRole, RoleError
from rig.roles.hht import Hht
from rig.zigbee.eui64 import eui_hex
from rig.zigbee.install_code import link_key_from_code
from rig.zigbee.zcl import ZclHeader

ATTR_CURRENT_SUMMATION = Metering.AttributeDefs.current_summ_delivered.id


class DualAddressPpmid:
    def __init__(self, ezsp, clock: Clock, events: EventLog, *, identity_a: str, identity_b: str,
                 install_code_a: bytes, install_code_b: bytes, ccs01_a: bytes, bundle: list[bytes],
                 credentials_b: dict | None = None, sleepy: list[str] | tuple[str, ...] = ()) -> None:
        self.ezsp = ezsp
        self.clock = clock
        self.events = events
        self.identity_a, self.identity_b = identity_a.upper(), identity_b.upper()
        self.install_code_a, self.install_code_b = install_code_a, install_code_b
        self.ccs01_a = ccs01_a
        self.bundle = bundle
        self.credentials_b = credentials_b
        self.sleepy = frozenset(s.upper() for s in sleepy)
        self.hht: Hht | None = None
        self.role_b: EzspRole | None = None
        self.responses: list[bytes] = []
        self.esme: tuple[int, str] | None = None
        self._esme_seen = asyncio.Event()
        self._reads: dict[int, asyncio.Future] = {}
        self.network = None

    # --- phase 1 ----------------------------------------------------------------------------------
    async def phase1(self, gpf_entity_id: str) -> list[bytes]:
        self.hht = Hht(self.ezsp, self.clock, self.events, install_code=self.install_code_a, ccs01=self.ccs01_a,
                       name="PPMID/A")
        await self.hht.power_on(gpf_entity_id)
        self.network = self.hht.network
        self.responses = await self.hht.deliver(self.bundle, sleepy=self.sleepy)
        await self.hht.leave()
        self.hht.role.detach()
        return self.responses

    # --- switch -----------------------------------------------------------------------------------
    async def switch_identity(self) -> None:
        self.role_b = role = EzspRole("PPMID/B", self.ezsp, self.clock, self.events)
        await role.switch_eui64(self.identity_b)
        role.on_fields("incomingMessageHandler", self._on_incoming)
        eui = await role.read_eui64()
        if eui != self.identity_b:
            role.emit("ppmid.identity_switched", "eui64_not_changed", eui64=eui)
            raise RoleError("eui64_not_changed", f"the NCP still reports {eui}")
        role.emit("ppmid.identity_switched", eui64=eui, previous=self.identity_a)

    # --- phase 2 ----------------------------------------------------------------------------------
    async def phase2(self) -> None:
        role = self.role_b
        await role.prepare(([pairing.KE_CLUSTER], [pairing.KE_CLUSTER, pairing.TUNNEL_CLUSTER, pairing.METERING_CLUSTER]),
                           device_id=0x0507)
        status = await role.join(int(self.network.channel), int(self.network.panId), self.network.extendedPanId,
                                 link_key_from_code(self.install_code_b))
        role.emit("ppmid.joined_han", status, peer="CH")
        if status != "ok":
            raise RoleError("ppmid_join_failed", status)
        if self.credentials_b is not None:
            from rig.cbke.token import CbkeToken

            role.use_host_credentials(CbkeToken.from_json(self.credentials_b))
            result = await role.run_ke_initiator(
                lambda c, p: role.send_zcl(0x0000, pairing.KE_CLUSTER, role.zcl(c, p, direction=0)),
                self.hht.ch_eui, "as identity B on the HAN")
            role.emit("ppmid.cbke_han", "ok" if result.success else result.reason.name.lower(), peer="CH")
            if not result.success:
                raise RoleError("ppmid_cbke_failed", result.reason.value)

    async def exchange_with_esme(self, esme_id: str) -> int:
        """Read the ESME's CurrentSummationDelivered; returns the value or raises RoleError.

        A read that gets no answer within ``RESPONSE_TIMEOUT_S`` is sent again, up to
        ``pairing.ESME_READ_ATTEMPTS`` reads in all (an ESME whose NCP reset or whose host link dropped is
        back ``NCP_RECOVERY_DELAY_S`` and a reconnection later; a PPMID polls its meter, it does not
        give up on one lost read).  An answer to any of the reads counts."""
        role = self.role_b
        if self.esme is None:
            try:
                await self.clock.wait_for(self._esme_seen.wait(), pairing.RESPONSE_TIMEOUT_S, "the ESME's first report")
            except TimeoutError:
                role.emit("ppmid.esme_read", "esme_never_reported", peer=esme_id)
                raise RoleError("esme_never_reported", "the ESME did not contact the PPMID") from None
        nwk, eui = self.esme
        return await self._read_summation(nwk, eui, "esme", "ppmid.esme_read")

    async def read_gas(self) -> int:
        """Read the gas meter's CurrentSummationDelivered from the GPF, which has no radio of its own (it
        answers on the CH's, NWK 0x0000) and answers from its mirror of what the GSME put; returns the
        value or raises RoleError (retried as an ESME read is)."""
        return await self._read_summation(0x0000, "GPF", "gpf", "ppmid.gas_read")

    async def _read_summation(self, nwk: int, eui: str, who: str, event: str) -> int:
        """Read Attributes CurrentSummationDelivered of ``nwk``, up to ``ESME_READ_ATTEMPTS`` reads
        ``RESPONSE_TIMEOUT_S`` apart; an answer to any of them counts."""
        role = self.role_b
        answered = asyncio.get_running_loop().create_future()
        seqs: list[int] = []
        try:
            for attempt in range(1, pairing.ESME_READ_ATTEMPTS + 1):
                zcl = role.zcl(GeneralCommand.Read_Attributes, struct.pack("<H", ATTR_CURRENT_SUMMATION),
                               direction=0, cluster_specific=False)
                seq = ZclHeader.decode(zcl).seq
                seqs.append(seq)
                self._reads[seq] = answered
                delivered = await role.send_zcl(nwk, pairing.METERING_CLUSTER, zcl)
                try:
                    answer: ZclHeader = await self.clock.wait_for(asyncio.shield(answered), pairing.RESPONSE_TIMEOUT_S,
                                                                  f"the {who.upper()}'s read response")
                    break
                except TimeoutError:
                    if attempt == pairing.ESME_READ_ATTEMPTS:
                        role.emit(event, "no_response", peer=eui, attempts=attempt)
                        raise RoleError(f"{who}_no_response", f"no answer to {attempt} Read Attributes") from None
                    role.emit(f"{event}_retry", "no_response" if delivered else "delivery_failed",
                              peer=eui, attempt=attempt)
        finally:
            for seq in seqs:
                if self._reads.get(seq) is answered:
                    del self._reads[seq]
        if answer.command_id == GeneralCommand.Default_Response:
            role.emit(event, f"refused_by_{who}", peer=eui, status=f"0x{answer.payload[1]:02X}")
            raise RoleError(f"refused_by_{who}", f"Default Response status 0x{answer.payload[1]:02X}")
        if len(answer.payload) < 10 or answer.payload[2] != 0:
            status = f"0x{answer.payload[2]:02X}" if len(answer.payload) > 2 else "none"
            role.emit(event, f"{who}_attribute_unavailable", peer=eui, status=status)
            raise RoleError(f"{who}_attribute_unavailable", f"Read Attributes status {status}")
        value = int.from_bytes(answer.payload[4:10], "little")
        role.emit(event, peer=eui, value=value)
        return value

    def _on_incoming(self, cb) -> None:
        aps, nwk, eui64 = cb.aps_frame, cb.nwk, cb.eui64
        if aps.profileId != pairing.SE_PROFILE or aps.clusterId not in (pairing.METERING_CLUSTER,
                                                                         pairing.KE_CLUSTER):
            return
        try:
            zcl = ZclHeader.decode(bytes(cb.message))
        except Exception:  # noqa: BLE001
            return
        if aps.clusterId == pairing.KE_CLUSTER:
            self.role_b.feed_ke(zcl)
            return
        if zcl.command_id == GeneralCommand.Report_Attributes and zcl.direction == 1:
            self.esme = (int(nwk), eui_hex(eui64))
            self._esme_seen.set()
            self.role_b.emit("ppmid.esme_report", peer=eui_hex(eui64))
        elif zcl.command_id in (GeneralCommand.Read_Attributes_rsp, GeneralCommand.Default_Response):
            fut = self._reads.pop(zcl.seq, None)
            if fut is not None and not fut.done():
                fut.set_result(zcl)
