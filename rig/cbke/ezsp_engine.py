"""``KeEngine`` over EZSP: the CBKE cryptography done by the dongle, as on hardware.

An EmberZNet NCP answers ``generateCbkeKeys283k1``, ``calculateSmacs283k1`` and ``dsaVerify283k1``
with IN_PROGRESS and reports the result in a handler callback; ``getCertificate283k1`` and
``clearTemporaryDataMaybeStoreLinkKey283k1`` answer at once.  This engine hides that split behind
the async ``KeEngine`` interface the key-establishment state machines use.  Suite 2 (sect283k1)
only — the GB smart-metering HAN's suite.  Works with a real or an emulated dongle alike.
"""

from __future__ import annotations

import asyncio

import bellows.types as t
from bellows.exception import EzspError

from rig.cbke.ke_cluster import SUITE_2, KeEngineError

CALLBACK_TIMEOUT_S = 30.0   # real NCPs quote up to 3.5 s for the SMACs; leave room for slow hosts


class EzspKeEngine:
    """CBKE through a connected ``bellows.ezsp.EZSP`` (see ``rig.transport.open_ezsp``)."""

    def __init__(self, ezsp, *, timeout: float = CALLBACK_TIMEOUT_S) -> None:
        self.ezsp = ezsp
        self.timeout = timeout
        self._waiters: dict[str, asyncio.Future] = {}
        ezsp.add_callback(self._on_callback)

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

    async def get_certificate(self, suite: int) -> bytes:
        self._check_suite(suite)
        status, cert = await self._command("getCertificate283k1")
        if not self._ok(status):
            raise KeEngineError("getCertificate283k1", int(status))
        return bytes(cert)

    async def generate_keys(self, suite: int) -> bytes:
        self._check_suite(suite)
        _status, public = await self._with_callback("generateCbkeKeys283k1", "generateCbkeKeysHandler283k1")
        return bytes(public)

    async def calculate_smacs(self, suite: int, am_initiator: bool, partner_certificate: bytes,
                              partner_ephemeral_public_key: bytes) -> tuple[bytes, bytes]:
        self._check_suite(suite)
        _status, macu, macv = await self._with_callback(
            "calculateSmacs283k1", "calculateSmacsHandler283k1", amInitiator=am_initiator,
            partnerCertificate=t.EmberCertificate283k1Data(partner_certificate),
            partnerEphemeralPublicKey=t.EmberPublicKey283k1Data(partner_ephemeral_public_key))
        return bytes(macu), bytes(macv)

    async def clear_temporary_data(self, suite: int, store_link_key: bool) -> bytes | None:
        self._check_suite(suite)
        (status,) = await self._command("clearTemporaryDataMaybeStoreLinkKey283k1", storeLinkKey=store_link_key)
        if store_link_key and not self._ok(status):
            raise KeEngineError("clearTemporaryDataMaybeStoreLinkKey283k1", int(status))
        return None          # the key stays in the NCP's key table, as on hardware


class HostKeEngine:
    """CBKE with credentials the *host* holds, for an identity the NCP's write-once token cannot name.

    A one-dongle dual-address PPMID has one MFG_CBKE_283K1_DATA token (identity A).  For identity B
    the host keeps B's certificate and private key and runs the same cryptography itself; the link
    key it agrees is then imported into the NCP's key table (``importLinkKey``), so APS encryption
    with the partner works exactly as after an NCP-side CBKE.
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
        try:
            (index,) = await self.ezsp.findKeyTableEntry(address=partner, linkKey=True)
            if index == 0xFF:
                index = await self._free_key_slot()
            (status,) = await self.ezsp.importLinkKey(index=index, address=partner, key=t.KeyData(result.link_key))
        except (EzspError, OSError, RuntimeError, TimeoutError) as exc:
            raise KeEngineError(f"importLinkKey ({type(exc).__name__}: {exc})", t.EmberStatus.ERR_FATAL) from exc
        if not self._ok(status):
            raise KeEngineError("importLinkKey", int(status))
        return result.link_key

    async def _free_key_slot(self) -> int:
        (_status, size) = await self.ezsp.getConfigurationValue(configId=t.EzspConfigId.CONFIG_KEY_TABLE_SIZE)
        for index in range(int(size)):
            if not self._ok((await self.ezsp.exportLinkKeyByIndex(index=index))[0]):
                return index
        raise KeEngineError("importLinkKey (key table full)", t.EmberStatus.ERR_FATAL)

    _ok = staticmethod(EzspKeEngine._ok)
