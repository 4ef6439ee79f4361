"""CH shim core without a radio, on a virtual clock: device log, inter-PAN window, HHT expiry, refusals."""

from __future__ import annotations

import json

import pytest
from ch_state import ch_state
from roles_ids import HHT_ID, INSTALL_CODE, PPMID_ID

from rig import pairing
from rig.clock import VirtualClock
from rig.gbcs import Builder, CounterStore, Device, DeviceType, Role
from rig.roles.ch import ChCore, DeviceLog
from rig.zigbee.install_code import link_key_from_code


def make_core(keys, tmp_path, policy, clock=None):
    clock = clock or VirtualClock()
    closed = []
    core = ChCore(clock, policy, DeviceLog(tmp_path / "log.json"), Device.from_store(keys, keys.one(Role.CHF)),
                  CounterStore.load(tmp_path / "counters.json"), Builder(keys), on_window_closed=lambda: closed.append(1))
    return clock, core, closed


def ccs01(keys, builder, device, device_type=Role.HHT, **kw):
    return builder.ccs01(keys.one(Role.CHF), device, device_type, INSTALL_CODE, **kw).to_bytes()


def refused(core, data: bytes, reason: str, **kw):
    """Hand ``data`` to the core; assert the exact refusal reason and that neither the device log nor
    the GBCS counters moved (memory and file)."""
    before = ch_state(core)
    out = core.handle_command(data, **kw)
    assert not out.ok and out.reason == reason, out
    assert ch_state(core) == before
    return out


@pytest.mark.parametrize("policy", pairing.POLICIES)
async def test_window_open_at_power_on_and_gbcs_closes_it_after_60_minutes(keys, tmp_path, policy):
    clock, core, closed = make_core(keys, tmp_path, policy)
    core.power_on()
    await clock.advance(pairing.INTERPAN_WINDOW_S - 1)
    assert core.interpan_open and not closed
    await clock.advance(2)
    assert core.interpan_open is (policy == "secmp0037")
    assert closed == ([1] if policy == "gbcs" else [])


async def test_hht_ccs01_over_interpan_adds_entry_persisted_atomically(keys, tmp_path):
    _clock, core, _ = make_core(keys, tmp_path, "gbcs")
    core.power_on()
    b = Builder(keys, counter_start=100)
    out = core.handle_command(ccs01(keys, b, HHT_ID), via="interpan", sender=HHT_ID)
    assert out.ok and out.use_case == "CCS01"
    entry = core.log.get(HHT_ID)
    assert entry.device_type == DeviceType.TYPE2 and entry.is_hht
    assert entry.link_key == link_key_from_code(INSTALL_CODE).hex().upper()
    saved = json.loads((tmp_path / "log.json").read_text())["entries"]
    assert [e["eui64"] for e in saved] == [HHT_ID]
    assert DeviceLog(tmp_path / "log.json").get(HHT_ID) == entry        # survives a reload
    assert not list(tmp_path.glob(".log.json.*"))                       # no temp file left behind


async def test_gbcs_refuses_after_window_and_log_unchanged(keys, tmp_path):
    clock, core, _ = make_core(keys, tmp_path, "gbcs")
    core.power_on()
    await clock.advance(60 * 60 + 1)
    refused(core, ccs01(keys, Builder(keys, counter_start=5), HHT_ID), "interpan_window_closed", via="interpan",
            sender=HHT_ID)
    assert HHT_ID not in core.log and core.counters.counters == {}


async def test_secmp0037_accepts_after_five_days(keys, tmp_path):
    clock, core, _ = make_core(keys, tmp_path, "secmp0037")
    core.power_on()
    await clock.advance(5 * 86400)
    out = core.handle_command(ccs01(keys, Builder(keys, counter_start=5), HHT_ID), via="interpan", sender=HHT_ID)
    assert out.ok


async def test_hht_removed_after_18_hours_ppmid_entry_stays(keys, tmp_path):
    clock, core, _ = make_core(keys, tmp_path, "secmp0037")
    removed = []
    core.on_removed = removed.append
    core.power_on()
    b = Builder(keys, counter_start=10)
    assert core.handle_command(ccs01(keys, b, HHT_ID), via="interpan", sender=HHT_ID).ok
    assert core.handle_command(ccs01(keys, b, PPMID_ID, Role.PPMID), via="tunnel", sender=HHT_ID).ok
    await clock.advance(18 * 3600 - 1)
    assert HHT_ID in core.log
    await clock.advance(2)
    assert HHT_ID not in core.log and PPMID_ID in core.log
    assert [e.eui64 for e in removed] == [HHT_ID]


async def test_hht_removed_at_next_power_on(keys, tmp_path):
    clock, core, _ = make_core(keys, tmp_path, "gbcs")
    core.power_on()
    b = Builder(keys, counter_start=10)
    core.handle_command(ccs01(keys, b, HHT_ID), via="interpan", sender=HHT_ID)
    core.handle_command(ccs01(keys, b, PPMID_ID, Role.PPMID), via="tunnel", sender=HHT_ID)
    await clock.advance(3600)
    # the CH loses power: a new core reads the same log file
    _clock2, core2, _ = make_core(keys, tmp_path, "gbcs", clock)
    removed = core2.power_on()
    assert [e.eui64 for e in removed] == [HHT_ID]
    assert PPMID_ID in core2.log and HHT_ID not in core2.log
    await clock.advance(18 * 3600)       # the old expiry timer of the first core does nothing harmful
    assert PPMID_ID in core2.log


async def test_replayed_altered_and_misaddressed_ccs01_refused_with_reason(keys, tmp_path):
    _clock, core, _ = make_core(keys, tmp_path, "secmp0037")
    core.power_on()
    b = Builder(keys, counter_start=50)
    good = ccs01(keys, b, HHT_ID)
    assert core.handle_command(good, via="interpan", sender=HHT_ID).ok
    acb = keys.one(Role.ACB)
    assert core.counters.last(acb) == 50
    snapshot = core.log.snapshot()
    refused(core, good, "gbcs_rejected:counter_not_newer", via="interpan", sender=HHT_ID)
    altered = bytearray(ccs01(keys, b, HHT_ID))
    altered[-1] ^= 0x01                                        # last MAC byte
    refused(core, bytes(altered), "gbcs_rejected:bad_mac", via="interpan", sender=HHT_ID)
    wrong = b.ccs01(keys.one(Role.GPF), HHT_ID, Role.HHT, INSTALL_CODE).to_bytes()
    refused(core, wrong, "gbcs_rejected:wrong_recipient", via="interpan", sender=HHT_ID)
    assert core.counters.last(acb) == 50
    # a CCS01 that passes every GBCS check but registers someone other than its inter-PAN sender: the
    # log does not change and neither does the counter (counters move only when the CHF accepts), so the
    # originator's next valid command is not locked out
    before = ch_state(core)
    other = ccs01(keys, b, PPMID_ID)
    out = core.handle_command(other, via="interpan", sender=HHT_ID)
    assert not out.ok and out.reason == "ccs01_not_for_sender"
    assert ch_state(core) == before
    assert (before["log"], before["log file"]) == (snapshot, (tmp_path / "log.json").read_bytes())
    assert CounterStore.load(tmp_path / "counters.json").counters == {acb: 50}
    again = ccs01(keys, b, HHT_ID)                             # the HHT's next CCS01 (counter 54)
    assert core.handle_command(again, via="interpan", sender=HHT_ID).ok
    assert core.counters.last(acb) == 54


def test_unknown_policy_is_a_clear_error(keys, tmp_path):
    with pytest.raises(ValueError, match="unknown inter-PAN policy 'foo'"):
        make_core(keys, tmp_path, "foo")


async def test_tunnel_only_for_joined_log_entries(keys, tmp_path):
    _clock, core, _ = make_core(keys, tmp_path, "gbcs")
    core.power_on()
    assert core.may_tunnel(PPMID_ID).reason == "not_in_device_log"
    core.handle_command(ccs01(keys, Builder(keys, counter_start=3), PPMID_ID, Role.PPMID), via="wan")
    assert core.may_tunnel(PPMID_ID).reason == "not_joined"
    core.mark_joined(PPMID_ID, 0x1234)
    assert core.may_tunnel(PPMID_ID) is None


async def test_session_begun_inside_the_window_may_finish_new_ones_refused(keys, tmp_path):
    clock, core, closed = make_core(keys, tmp_path, "gbcs")
    core.power_on()
    await clock.advance(pairing.INTERPAN_WINDOW_S - 0.5)
    assert core.begin_session(HHT_ID) is None                       # KE Initiate 0.5 s before the deadline
    await clock.advance(1.0)
    assert closed == [1] and core.reception_needed() > 0           # the filter list stays open for it
    before = ch_state(core)
    assert core.begin_session(PPMID_ID).reason == "interpan_window_closed"
    assert ch_state(core) == before and PPMID_ID not in core.sessions
    out = core.handle_command(ccs01(keys, Builder(keys, counter_start=9), HHT_ID), via="interpan", sender=HHT_ID)
    assert out.ok
    core.end_session(HHT_ID)
    assert core.reception_needed() == 0


async def test_session_grace_is_bounded(keys, tmp_path):
    clock, core, _ = make_core(keys, tmp_path, "gbcs")
    core.power_on()
    await clock.advance(pairing.INTERPAN_WINDOW_S - 1)
    core.begin_session(HHT_ID)
    await clock.advance(pairing.INTERPAN_SESSION_MAX_S + 2)
    assert core.reception_needed() == 0
    refused(core, ccs01(keys, Builder(keys, counter_start=9), HHT_ID), "interpan_window_closed", via="interpan",
            sender=HHT_ID)
    assert HHT_ID not in core.log
