"""The CHF refuses what a channel may not carry, with the exact reason, and a refusal changes nothing:
not the device log, not the originator counters (in memory and on disk alike)."""

from __future__ import annotations

import importlib

import pytest
from roles_ids import HHT_ID, INSTALL_CODE, PPMID_ID

from rig.gbcs import Builder, CounterStore, Role
from rig.roles.ch import DeviceLog

COUNTERS_MODULE = importlib.import_module("rig.gbcs.validate")      # (rig.gbcs.validate is also a function)
DEVICE_LOG_MODULE = importlib.import_module("rig.roles.ch.devicelog")


@pytest.fixture
def dcc(keys):
    return Builder(keys, counter_start=100)


def ccs01(keys, builder, device, device_type=Role.HHT):
    return builder.ccs01(keys.one(Role.CHF), device, device_type, INSTALL_CODE).to_bytes()


def state(core):
    """Device log and counters as the CH holds them in memory and as its next power-on would load them."""
    return {"log": core.log.snapshot(), "counters": dict(core.counters.counters),
            "log_on_disk": DeviceLog(core.log.path).snapshot(),
            "counters_on_disk": CounterStore.load(core.counters.path).counters}


def assert_refused(core, data: bytes, *, via: str, sender: str | None, reason: str) -> None:
    """Refused with exactly ``reason``, reported as the event ch.refused, and nothing changed."""
    before = state(core)
    seen = len(core.events.named("ch.refused"))
    out = core.handle_command(data, via=via, sender=sender)
    assert not out.ok and out.reason == reason, out
    assert [(e.result, e.peer, e.detail["via"]) for e in core.events.named("ch.refused")[seen:]] == [(reason, sender, via)]
    assert state(core) == before


async def test_refused_command_does_not_consume_the_originator_counter(keys, core, dcc):
    hht_own = ccs01(keys, dcc, HHT_ID)                    # counter 100: what the HHT will send
    foreign = ccs01(keys, dcc, PPMID_ID)                  # counter 101: refused over inter-PAN
    assert_refused(core, foreign, via="interpan", sender=HHT_ID, reason="ccs01_not_for_sender")
    assert core.handle_command(hht_own, via="interpan", sender=HHT_ID).ok


async def test_failed_counter_write_changes_neither_counters_nor_log(keys, core, dcc, monkeypatch):
    command = ccs01(keys, dcc, HHT_ID)

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(COUNTERS_MODULE, "write_atomic", disk_full)
    assert_refused(core, command, via="interpan", sender=HHT_ID, reason="state_not_saved")
    monkeypatch.undo()
    assert core.handle_command(command, via="interpan", sender=HHT_ID).ok   # its counter was not used up


async def test_failed_device_log_write_puts_the_counter_back(keys, core, dcc, monkeypatch):
    assert core.handle_command(ccs01(keys, dcc, PPMID_ID, Role.PPMID), via="wan").ok
    command = ccs01(keys, dcc, HHT_ID)

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DEVICE_LOG_MODULE, "write_atomic", disk_full)
    assert_refused(core, command, via="interpan", sender=HHT_ID, reason="state_not_saved")
    monkeypatch.undo()
    assert core.handle_command(command, via="interpan", sender=HHT_ID).ok
    assert HHT_ID in DeviceLog(core.log.path)


@pytest.mark.parametrize("length", [0, 5, 7, 17, 18])
async def test_ccs01_whose_install_code_gives_no_link_key_refused_and_changes_nothing(keys, core, dcc, length):
    """Found by tests/roles/test_ch_gbcs_fuzz.py: an authentic CCS01 with an install code of a length
    other than 6, 8, 12 or 16 bytes raised out of ChCore; it is refused by name, its counter unused."""
    chf, code = keys.one(Role.CHF), bytes(range(length))
    for via, sender, device in (("interpan", HHT_ID, HHT_ID), ("tunnel", HHT_ID, PPMID_ID), ("wan", None, PPMID_ID)):
        command = dcc.ccs01(chf, device, Role.HHT, code).to_bytes()
        assert_refused(core, command, via=via, sender=sender, reason="ccs01_bad_install_code")
    assert core.handle_command(ccs01(keys, dcc, HHT_ID), via="interpan", sender=HHT_ID).ok


# --- inter-PAN carries only the sender's own CCS01, as an HHT ---------------------------------------

async def test_interpan_ccs01_claiming_device_type_other_than_hht_refused(keys, core, dcc):
    assert_refused(core, ccs01(keys, dcc, HHT_ID, Role.ESME), via="interpan", sender=HHT_ID,
                   reason="interpan_device_type_not_hht")
    assert HHT_ID not in core.log


async def test_ccs02_over_interpan_refused_and_the_esme_stays(keys, core, dcc):
    esme = keys.one(Role.ESME)
    assert core.handle_command(ccs01(keys, dcc, esme, Role.ESME), via="wan").ok
    assert core.handle_command(ccs01(keys, dcc, HHT_ID), via="interpan", sender=HHT_ID).ok
    for device in (esme, HHT_ID):                 # another device's entry, or the sender's own
        ccs02 = dcc.ccs02(keys.one(Role.CHF), device).to_bytes()
        assert_refused(core, ccs02, via="interpan", sender=HHT_ID, reason="interpan_command_not_allowed")
    assert esme in core.log and HHT_ID in core.log


async def test_interpan_ccs01_for_another_device_refused(keys, core, dcc):
    assert_refused(core, ccs01(keys, dcc, PPMID_ID), via="interpan", sender=HHT_ID, reason="ccs01_not_for_sender")
    assert_refused(core, ccs01(keys, dcc, PPMID_ID), via="interpan", sender=None, reason="ccs01_not_for_sender")
    assert PPMID_ID not in core.log


async def test_interpan_ccs01_does_not_replace_an_entry_that_is_not_an_hht_entry(keys, core, dcc):
    esme = keys.one(Role.ESME)
    assert core.handle_command(ccs01(keys, dcc, esme, Role.ESME), via="wan").ok
    assert_refused(core, ccs01(keys, dcc, esme), via="interpan", sender=esme, reason="interpan_entry_not_hht")
    assert not core.log.get(esme).is_hht


# --- an HHT entry is not re-added or extended by the HHT itself -------------------------------------

async def test_hht_own_ccs01_through_its_tunnel_refused_and_the_hht_still_expires(keys, core, dcc):
    assert core.handle_command(ccs01(keys, dcc, HHT_ID), via="interpan", sender=HHT_ID).ok
    core.mark_joined(HHT_ID, 0x4A1F)
    expiry = core.log.get(HHT_ID).hht_expiry
    for device_type in (Role.HHT, Role.PPMID):
        assert_refused(core, ccs01(keys, dcc, HHT_ID, device_type), via="tunnel", sender=HHT_ID,
                       reason="ccs01_names_sender")
    assert core.log.get(HHT_ID).hht_expiry == expiry
    await core.clock.advance(expiry - core.clock.now() + 1)
    assert HHT_ID not in core.log


async def test_tunnel_ccs01_for_a_device_with_an_hht_entry_refused(keys, core, dcc):
    assert core.handle_command(ccs01(keys, dcc, HHT_ID), via="interpan", sender=HHT_ID).ok
    assert core.handle_command(ccs01(keys, dcc, PPMID_ID), via="interpan", sender=PPMID_ID).ok   # a second HHT
    core.mark_joined(HHT_ID, 0x4A1F)
    assert_refused(core, ccs01(keys, dcc, PPMID_ID, Role.PPMID), via="tunnel", sender=HHT_ID,
                   reason="hht_entry_not_extendable")
    assert core.log.get(PPMID_ID).is_hht


async def test_hht_pairing_again_over_interpan_keeps_its_expiry(keys, core, dcc):
    assert core.handle_command(ccs01(keys, dcc, HHT_ID), via="interpan", sender=HHT_ID).ok
    expiry = core.log.get(HHT_ID).hht_expiry
    await core.clock.advance(10 * 3600)
    assert core.handle_command(ccs01(keys, dcc, HHT_ID), via="interpan", sender=HHT_ID).ok
    assert core.log.get(HHT_ID).hht_expiry == expiry
    await core.clock.advance(expiry - core.clock.now() + 1)
    assert HHT_ID not in core.log
