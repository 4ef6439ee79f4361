"""CBKE on the emulated NCP as on a real one (issue 13): IN_PROGRESS, then the handler callback after the
library's delay on the node's clock; one ECC operation at a time; NOT_AVAILABLE without the library.

The dongle runs on a virtual clock, so the real NCP's delays (``CbkeTiming``: up to 1 s for the
ephemeral keys, 3.5 s for the SMACs) cost no time; the host is bellows over TCP, as always."""

from __future__ import annotations

import asyncio

import bellows.types as t
import pytest

from firmware_shims.ncp.areas.cbke import REAL_NCP_TIMING
from rig.cbke.ca import TestCa
from rig.cbke.engine import CbkeEngine
from rig.clock import VirtualClock
from rig.transport import open_ezsp


def status(value) -> t.sl_Status:
    return t.sl_Status.from_ember_status(value)


async def callbacks(ezsp) -> asyncio.Queue:
    queue: asyncio.Queue = asyncio.Queue()
    ezsp.add_callback(lambda name, args: name.endswith("283k1") and queue.put_nowait((name, args)))
    return queue


async def settle(ezsp) -> None:
    await ezsp.getEui64()        # one round trip: every callback already raised has reached the host


@pytest.mark.parametrize("version", [13, 14])
async def test_ecc_operations_call_back_after_the_ncps_delays_one_at_a_time(make_dongle, version):
    clock = VirtualClock()
    ca = TestCa.create()
    dongle = await make_dongle("ch", clock=clock, ezsp_version=version, versions=(version,))
    dongle.node.install_cbke_token(ca.issue(bytes(dongle.node.eui64)[::-1]).to_json())
    ezsp = await open_ezsp(dongle.url)
    try:
        heard = await callbacks(ezsp)
        (st,) = await ezsp.generateCbkeKeys283k1()
        assert status(st) == t.sl_Status.IN_PROGRESS
        (st,) = await ezsp.generateCbkeKeys283k1()                  # a second ECC operation meanwhile
        assert status(st) == t.sl_Status.INVALID_STATE
        await clock.advance(REAL_NCP_TIMING.generate_keys_s - 0.01)
        await settle(ezsp)
        assert heard.empty()                                         # not before the library is done
        await clock.advance(0.01)
        await settle(ezsp)
        name, (st, _public) = heard.get_nowait()
        assert name == "generateCbkeKeysHandler283k1" and status(st) == t.sl_Status.OK

        other = CbkeEngine(ca.issue(bytes.fromhex("00124B0000000A01")))
        peer_public = other.generate_cbke_keys_283k1().ephemeral_public_key
        (st,) = await ezsp.calculateSmacs283k1(amInitiator=False,
                                               partnerCertificate=t.EmberCertificate283k1Data(other.token.certificate),
                                               partnerEphemeralPublicKey=t.EmberPublicKey283k1Data(peer_public))
        assert status(st) == t.sl_Status.IN_PROGRESS
        await clock.advance(REAL_NCP_TIMING.calculate_smacs_s - 0.01)
        await settle(ezsp)
        assert heard.empty()
        await clock.advance(0.01)
        await settle(ezsp)
        name, (st, *_smacs) = heard.get_nowait()
        assert name == "calculateSmacsHandler283k1" and status(st) == t.sl_Status.OK
    finally:
        await ezsp.disconnect()


async def test_a_dongle_without_the_cbke_library_answers_not_available(make_dongle):
    dongle = await make_dongle("ch", cbke_library=False)
    ezsp = await open_ezsp(dongle.url)
    try:
        st, _cert = await ezsp.getCertificate283k1()
        assert status(st) == t.sl_Status.NOT_AVAILABLE
        (st,) = await ezsp.generateCbkeKeys283k1()
        assert status(st) == t.sl_Status.NOT_AVAILABLE
    finally:
        await ezsp.disconnect()


async def test_a_reset_loses_the_operation_in_progress(make_dongle):
    clock = VirtualClock()
    dongle = await make_dongle("ch", clock=clock)
    dongle.node.install_cbke_token(TestCa.create().issue(bytes(dongle.node.eui64)[::-1]).to_json())
    ezsp = await open_ezsp(dongle.url)
    try:
        heard = await callbacks(ezsp)
        (st,) = await ezsp.generateCbkeKeys283k1()
        assert status(st) == t.sl_Status.IN_PROGRESS
        await ezsp.reset()
        await ezsp.version()
        await clock.advance(REAL_NCP_TIMING.generate_keys_s)
        await settle(ezsp)
        assert heard.empty()
        (st,) = await ezsp.generateCbkeKeys283k1()                  # the library is free again
        assert status(st) == t.sl_Status.IN_PROGRESS
    finally:
        await ezsp.disconnect()


async def provision(ezsp, token):
    """CBKE provisioning over EZSP: the three values, then the write-once save; its status as sent."""
    for value_id, value in ((t.EzspValueId.VALUE_CERTIFICATE_283K1, token.certificate),
                            (t.EzspValueId.VALUE_PUBLIC_KEY_283K1, token.ca_public_key),
                            (t.EzspValueId.VALUE_PRIVATE_KEY_283K1, token.private_key)):
        (st,) = await ezsp.setValue(valueId=value_id, value=value)
        assert status(st) == t.sl_Status.OK
    (st,) = await ezsp.savePreinstalledCbkeData283k1()
    return st


@pytest.mark.parametrize("version", [13, 14])
async def test_cbke_provisioning_is_write_once_and_burns_the_certificates_eui64(make_dongle, version):
    ca = TestCa.create()
    dongle = await make_dongle("ppmid", ezsp_version=version, versions=(version,))
    ezsp = await open_ezsp(dongle.url)
    try:
        other = "00124B00000B0B02"                    # the certificate names another EUI-64 than the dongle's
        token = ca.issue(bytes.fromhex(other))
        inhibited = t.EmberStatus.ERR_FLASH_WRITE_INHIBITED if version == 13 else t.sl_Status.FLASH_WRITE_INHIBITED
        assert status(await provision(ezsp, token)) == t.sl_Status.OK
        st, cert = await ezsp.getCertificate283k1()
        assert status(st) == t.sl_Status.OK and bytes(cert) == token.certificate
        assert dongle.nv.state.mfg_custom_eui64 == other          # burnt, effective at the next boot
        assert await provision(ezsp, ca.issue(bytes.fromhex(other))) == inhibited
        await ezsp.reset()
        await ezsp.version()
        (eui,) = await ezsp.getEui64()
        assert str(eui).replace(":", "").upper() == other
    finally:
        await ezsp.disconnect()
