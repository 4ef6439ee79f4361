"""``KeEngine`` over EZSP: the CBKE cryptography done by the dongle, as on hardware.

An EmberZNet NCP answers ``generateCbkeKeys283k1``, ``calculateSmacs283k1`` and ``dsaVerify283k1``
with IN_PROGRESS and reports the result in a handler callback; ``getCertificate283k1`` and
``clearTemporaryDataMaybeStoreLinkKey283k1`` answer at once.  This engine hides that split behind
the async ``KeEngine`` interface the key-establishment state machines use.  Suite 2 (sect283k1)
only — the GB smart-metering HAN's suite.  Works with a real or an emulated dongle alike.

The NCP has *one* CBKE library: one ECC operation at a time, and one set of temporary data (the
ephemeral key pair from ``generateCbkeKeys283k1``, used by ``calculateSmacs283k1`` and wiped by
``clearTemporaryData…``).  Several key-establishment sessions on one dongle (a trust centre answering
an HHT over inter-PAN while an ESME runs CBKE on the HAN) therefore must not interleave: each session
takes its own handle (``session()``), and a handle holds the NCP's temporary data from its
``generate_keys`` until its ``clear_temporary_data``.  Other sessions wait their turn in a queue of at
most ``ECC_QUEUE_MAX``; one more is refused at once (``KeEngineError``: the session ends with
NO_RESOURCES, as Silicon Labs' plugin answers a second initiator), and one that waits longer than the
engine's timeout gives up.  A session's clear never touches another session's temporary data.
"""

from __future__ import annotations

import asyncio
import collections

import bellows.types as t
from bellows.exception import EzspError

from rig import ezsp_fields
from rig.cbke.ke_cluster import SUITE_2, KeEngineError

CALLBACK_TIMEOUT_S = 30.0   # real NCPs quote up to 3.5 s for the SMACs; leave room for slow hosts
ECC_QUEUE_MAX = 4           # [I] sessions that may wait for the NCP's CBKE library on one dongle


class EzspKeEngine:
    """CBKE through a connected ``bellows.ezsp.EZSP`` (see ``rig.transport.open_ezsp``).

    Used directly it is one session's engine (the shared default handle); ``session()`` gives each
    concurrent key-establishment session its own handle on the same NCP."""

    def __init__(self, ezsp, *, timeout: float = CALLBACK_TIMEOUT_S, queue_max: int = ECC_QUEUE_MAX) -> None:
        self.ezsp = ezsp
        self.timeout = timeout
        self.queue_max = queue_max
        self._waiters: dict[str, asyncio.Future] = {}
        self._ecc = asyncio.Lock()                   # one ECC command outstanding on the NCP
        self._holder: object | None = None           # the session whose temporary data the NCP holds
        self._queue: collections.deque[tuple[object, asyncio.Future]] = collections.deque()
        self._default = EzspKeSession(self)
        ezsp.add_callback(self._on_callback)

    def session(self) -> EzspKeSession:
        """A handle for one key-establishment session on this NCP."""
        return EzspKeSession(self)

    # --- the NCP's one set of CBKE temporary data ---------------------------------------------------
    @property
    def holder(self) -> object | None:
        return self._holder

    @property
    def waiting(self) -> int:
        return sum(1 for _owner, fut in self._queue if not fut.done())

    async def _reserve(self, owner: object) -> None:
        if self._holder is owner:
            return
        if self._holder is None and not self.waiting:
            self._holder = owner
            return
        if self.waiting >= self.queue_max:
            raise KeEngineError(f"CBKE library busy ({self.waiting} sessions waiting)", t.EmberStatus.INVALID_CALL)
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((owner, fut))
        try:
            await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise KeEngineError("CBKE library busy (waited too long)", t.EmberStatus.INVALID_CALL) from None
        finally:
            self._queue = collections.deque(e for e in self._queue if e[1] is not fut)
            if fut.cancelled() and self._holder is owner:
                self._release(owner)

    def _release(self, owner: object) -> None:
        if self._holder is not owner:
            return
        self._holder = None
        while self._queue:
            nxt, fut = self._queue.popleft()
            if not fut.done():
                self._holder = nxt
                fut.set_result(None)
                return

    # --- EZSP -----------------------------------------------------------------------------------
    def _on_callback(self, name: str, args: list) -> None:
        fut = self._waiters.pop(name, None)
        if fut is not None and not fut.done():
            fut.set_result(args)

    async def _command(self, name: str, **kwargs) -> list:
        """One EZSP command; a link that is gone (power cycle, unplug) is an engine failure, not a crash."""
        try:
            return await getattr(self.ezsp, name)(**kwargs)
        except (EzspError, OSError, RuntimeError, TimeoutError) as exc:
            raise KeEngineError(f"{name} ({type(exc).__name__}: {exc})", t.EmberStatus.ERR_FATAL) from exc

    @staticmethod
    def _check_suite(suite: int) -> None:
        if suite != SUITE_2:
            raise KeEngineError(f"suite {suite}", t.EmberStatus.ERR_FATAL)

    @staticmethod
    def _ok(status) -> bool:
        return t.sl_Status.from_ember_status(status) == t.sl_Status.OK

    async def _with_callback(self, command: str, handler: str, **kwargs) -> list:
        async with self._ecc:
            fut = asyncio.get_running_loop().create_future()
            self._waiters[handler] = fut
            try:
                (status,) = await self._command(command, **kwargs)
                if t.sl_Status.from_ember_status(status) not in (t.sl_Status.IN_PROGRESS, t.sl_Status.OK):
                    raise KeEngineError(command, int(status))
                args = await asyncio.wait_for(fut, self.timeout)
            except TimeoutError:
                raise KeEngineError(f"{command} ({handler} never came)", t.EmberStatus.ERR_FATAL) from None
            finally:
                self._waiters.pop(handler, None)
        if not self._ok(args[0]):
            raise KeEngineError(handler, int(args[0]))
        return args

    # --- the KeEngine interface, on the default handle --------------------------------------------
    async def get_certificate(self, suite: int) -> bytes:
        return await self._default.get_certificate(suite)

    async def generate_keys(self, suite: int) -> bytes:
        return await self._default.generate_keys(suite)

    async def calculate_smacs(self, suite: int, am_initiator: bool, partner_certificate: bytes,
                              partner_ephemeral_public_key: bytes) -> tuple[bytes, bytes]:
        return await self._default.calculate_smacs(suite, am_initiator, partner_certificate,
                                                   partner_ephemeral_public_key)

    async def clear_temporary_data(self, suite: int, store_link_key: bool) -> bytes | None:
        return await self._default.clear_temporary_data(suite, store_link_key)


class EzspKeSession:
    """One key-establishment session's handle on an ``EzspKeEngine`` (a ``KeEngine``)."""

    def __init__(self, engine: EzspKeEngine) -> None:
        self.engine = engine

    @property
    def holds_ncp(self) -> bool:
        return self.engine.holder is self

    async def get_certificate(self, suite: int) -> bytes:
        e = self.engine
        e._check_suite(suite)
        status, cert = await e._command("getCertificate283k1")
        if not e._ok(status):
            raise KeEngineError("getCertificate283k1", int(status))
        return bytes(cert)

    async def generate_keys(self, suite: int) -> bytes:
        e = self.engine
        e._check_suite(suite)
        await e._reserve(self)
        _status, public = await e._with_callback("generateCbkeKeys283k1", "generateCbkeKeysHandler283k1")
        return bytes(public)

    async def calculate_smacs(self, suite: int, am_initiator: bool, partner_certificate: bytes,
                              partner_ephemeral_public_key: bytes) -> tuple[bytes, bytes]:
        e = self.engine
        e._check_suite(suite)
        if not self.holds_ncp:
            raise KeEngineError("calculateSmacs283k1 (the NCP holds no ephemeral key of this session)",
                                t.EmberStatus.INVALID_CALL)
        _status, macu, macv = await e._with_callback(
            "calculateSmacs283k1", "calculateSmacsHandler283k1", amInitiator=am_initiator,
            partnerCertificate=t.EmberCertificate283k1Data(partner_certificate),
            partnerEphemeralPublicKey=t.EmberPublicKey283k1Data(partner_ephemeral_public_key))
        return bytes(macu), bytes(macv)

    async def clear_temporary_data(self, suite: int, store_link_key: bool) -> bytes | None:
        e = self.engine
        e._check_suite(suite)
        if not self.holds_ncp:              # never generated keys: the NCP's temporary data is another's
            if store_link_key:
                raise KeEngineError("clearTemporaryDataMaybeStoreLinkKey283k1 (no key of this session)",
                                    t.EmberStatus.INVALID_CALL)
            return None
        try:
            async with e._ecc:          # after this session's ECC operation still under way, if any
                (status,) = await e._command("clearTemporaryDataMaybeStoreLinkKey283k1", storeLinkKey=store_link_key)
        finally:
            e._release(self)
        if store_link_key and not e._ok(status):
            raise KeEngineError("clearTemporaryDataMaybeStoreLinkKey283k1", int(status))
        return None          # the key stays in the NCP's key table, as on hardware


class HostKeEngine:
    """CBKE with credentials the *host* holds, for an identity the NCP's write-once token cannot name.

    A one-dongle dual-address PPMID has one MFG_CBKE_283K1_DATA token (identity A).  For identity B
    the host keeps B's certificate and private key and runs the same cryptography itself; the link
    key it agrees goes where the NCP keeps it after an NCP-side CBKE: with the trust centre it is the
    trust-centre link key (``importKey``, TC_LINK context; Silicon Labs' key-establishment plugin
    treats CBKE with the TC as updating that key), with any other partner a key-table entry
    (``importLinkKey``) — so APS encryption with the partner works exactly as after an NCP-side CBKE.
    """

    def __init__(self, ezsp, token) -> None:
        from rig.cbke.engine import CbkeEngine
        from rig.cbke.ke_cluster import LocalKeEngine

        self.ezsp = ezsp
        self._engine = CbkeEngine(token)
        self._local = LocalKeEngine(self._engine)
        self._partner: bytes | None = None

    async def get_certificate(self, suite: int) -> bytes:
        return await self._local.get_certificate(suite)

    async def generate_keys(self, suite: int) -> bytes:
        return await self._local.generate_keys(suite)

    async def calculate_smacs(self, suite: int, am_initiator: bool, partner_certificate: bytes,
                              partner_ephemeral_public_key: bytes) -> tuple[bytes, bytes]:
        return await self._local.calculate_smacs(suite, am_initiator, partner_certificate,
                                                 partner_ephemeral_public_key)

    async def clear_temporary_data(self, suite: int, store_link_key: bool) -> bytes | None:
        result = self._engine.clear_temporary_data(suite, store_link_key)
        if not store_link_key:
            return None
        if result.link_key is None:
            raise KeEngineError("clearTemporaryData (host credentials)", int(result.status))
        partner = t.EUI64(result.partner_eui64_le)
        command = "importLinkKey"
        try:
            if await self._is_trust_centre(partner):
                # where the NCP keeps a key agreed with the trust centre: the TC link key, as after an
                # NCP-side CBKE (SE key-establishment plugin); a key-table entry would not be used for it
                command = "importKey"
                context = t.SecurityManagerContextV13(
                    core_key_type=t.SecurityManagerKeyType.TC_LINK, key_index=0,
                    derived_type=t.SecurityManagerDerivedKeyTypeV13.NONE, eui64=partner, multi_network_index=0,
                    flags=t.SecurityManagerContextFlags.NONE, psa_key_alg_permission=0)
                status = (await self.ezsp.importKey(context=context, key=t.KeyData(result.link_key)))[0]
            else:
                (index,) = await self.ezsp.findKeyTableEntry(address=partner, linkKey=True)
                if index == 0xFF:
                    index = await self._free_key_slot()
                (status,) = await self.ezsp.importLinkKey(index=index, address=partner, key=t.KeyData(result.link_key))
        except (EzspError, OSError, RuntimeError, TimeoutError) as exc:
            raise KeEngineError(f"{command} ({type(exc).__name__}: {exc})", t.EmberStatus.ERR_FATAL) from exc
        if not self._ok(status):
            raise KeEngineError(command, int(status))
        return result.link_key

    async def _is_trust_centre(self, partner: t.EUI64) -> bool:
        """``partner`` is the trust centre of the network the NCP is on (getCurrentSecurityState)."""
        status, state = await self.ezsp.getCurrentSecurityState()
        return self._ok(status) and bytes(state.trustCenterLongAddress) == bytes(partner)

    async def _free_key_slot(self) -> int:
        (_status, size) = await self.ezsp.getConfigurationValue(configId=t.EzspConfigId.CONFIG_KEY_TABLE_SIZE)
        for index in range(int(size)):
            entry = ezsp_fields.response(self.ezsp, "exportLinkKeyByIndex", await self.ezsp.exportLinkKeyByIndex(index=index))
            if not self._ok(entry["status"]):          # by name: v13 answers the status last, v14 first
                return index
        raise KeEngineError("importLinkKey (key table full)", t.EmberStatus.ERR_FATAL)

    _ok = staticmethod(EzspKeEngine._ok)

    def session(self) -> HostKeEngine:
        """The host-held credentials serve one session at a time (one identity's CBKE)."""
        return self
