"""NCP reset and host-link drop of each role at each step of a full SECMP0037 pairing (issue #12 item 7).

A step is one of the scenario's named events; when it is first emitted, the dongle of a role either
resets by itself (an unsolicited RSTACK with the watchdog code, as bellows sees a real NCP reset:
"unexpected reset" -> ``connection_lost(NcpFailure)``) or loses its host link (the TCP connection cut,
the NCP running on).  The roles: the CH and the ESME reconnect ``NCP_RECOVERY_DELAY_S`` later and
resume the HAN from NV (``ch.ncp_recovered``, ``meter.ncp_recovered``); the HHT and the PPMID (one
dongle, identities A and B) end their pairing with ``ppmid:ncp_reset`` / ``ppmid:ncp_link_lost``.

Every run: the pairing completes (every check passing) or ends with one named reason; it never hangs
(bounded in virtual time); the CH's device log is whole, holds each device once, only the premises'
devices, each with its own key.  ``make test`` runs each fault of each role once; ``make test-slow``
the whole role x step x fault matrix (128 runs).
"""

from __future__ import annotations

import pytest
from fault_helpers import SLOW_RUN, check_ch_state, check_outcome, pairing_under

from rig import pairing

pytestmark = pytest.mark.sim_only

#: The pairing's steps (the scenario's named events, in order), by the role whose dongle a fault hits;
#: the HHT is identity A of the PPMID's dongle (phase 1), the PPMID identity B (phase 2).
PHASE1 = ["scenario.ppmid_power_on", "hht.powered_on", "hht.scan", "hht.cbke_interpan", "ch.cbke_interpan",
          "ch.gbcs_received", "hht.ccs01_sent", "hht.ccs01_response", "hht.joined_han", "hht.cbke_han",
          "hht.tunnel", "hht.gbcs_sent", "hht.gbcs_response", "meter.partner_joined", "hht.left_han"]
PHASE2 = ["ppmid.identity_switched", "ppmid.joined_han", "ppmid.esme_report", "ppmid.cbke_han",
          "meter.read_answered", "ppmid.esme_read"]
STEPS = {"CH": ["scenario.esme_commissioned", *PHASE1, *PHASE2],
         "ESME": ["scenario.esme_commissioned", *PHASE1, *PHASE2],
         "HHT": PHASE1[1:],
         "PPMID": PHASE2}
DONGLE = {"CH": "ch", "ESME": "esme", "HHT": "ppmid", "PPMID": "ppmid"}
KINDS = ("ncp_reset", "link_drop")
PPMID_AFTER_PAIRING = frozenset({"ppmid_reads_esme_at_end", "ppmid_reads_esme_after_ch_power_cycle"})
#: What ``make test`` runs of the matrix (with the two tests below, each fault of each role once).
FAST = {("CH", "ch.gbcs_received", "ncp_reset"), ("ESME", "hht.tunnel", "ncp_reset"),
        ("HHT", "hht.ccs01_sent", "link_drop"), ("PPMID", "ppmid.joined_han", "link_drop")}


def cases():
    for role, steps in STEPS.items():
        for step in steps:
            for kind in KINDS:
                fast = (role, step, kind) in FAST
                if fast or SLOW_RUN:
                    marks = [] if fast else [pytest.mark.slow]
                    yield pytest.param(role, step, kind, marks=marks, id=f"{role}-{step}-{kind}")


#: Events that end a long-running program's recovery of its NCP (it begins with the fault itself).
RECOVERY_ENDS = {"ch.ncp_recovered", "ch.ncp_lost_for_good", "meter.ncp_recovered", "meter.ncp_lost_for_good"}
#: Loop seconds a recovery may take at most: the pause, then every reconnection attempt and its retry pause.
RECOVERY_BOUND_S = pairing.NCP_RECOVERY_DELAY_S + pairing.NCP_RECOVERY_ATTEMPTS * (pairing.NCP_RECOVERY_RETRY_S + 30)


def time_passes_after_recoveries(premises, recovering: set) -> None:
    """The scenario's "time passes" (an 18 h jump of the rig's clock) lets a recovery under way finish
    first, as those hours would: a reconnection runs at the pace of the host link (loop time), which a
    jump of the rig's clock does not pass, so without this a recovery begun just before the jump was still
    under way when the run ended, and the CH's ``ch.ncp_recovered`` missing from a run that went on for
    18 hours was a false failure (or the ESME missed the PPMID's read after them)."""
    clock = premises.clock
    advance = clock.advance

    async def advance_after_recoveries(duration: float) -> None:
        waited = 0.0
        while recovering and waited < RECOVERY_BOUND_S:
            await clock.sleep(0.05)
            waited += 0.05
        await advance(duration)

    clock.advance = advance_after_recoveries


async def faulted_pairing(tmp_path, role: str, step: str, kind: str):
    fired: list[float] = []
    state: dict = {}
    recovering: set[str] = set()

    def setup(premises):
        state["premises"] = premises
        time_passes_after_recoveries(premises, recovering)

    def on_event(event):
        if event.name in RECOVERY_ENDS:
            recovering.discard(event.actor)
        if event.name == step and not fired:
            fired.append(event.time)
            dongle = state["premises"].backend.dongle(DONGLE[role])
            dongle.ncp_reset() if kind == "ncp_reset" else dongle.drop_link()
            if role in ("CH", "ESME"):
                recovering.add(role)              # from the fault on: its host hears of it a moment later

    result, premises = await pairing_under(tmp_path, setup=setup, on_event=on_event)
    assert fired, f"step {step} never happened: {[s['name'] for s in result.steps]}"
    # the PPMID does not reconnect a lost dongle (its pairing is over by then): a loss at its last step
    # leaves the pairing done and only its later reads of the ESME failing
    check_outcome(result, PPMID_AFTER_PAIRING if role == "PPMID" else frozenset())
    check_ch_state(result, premises)
    names = [s["name"] for s in result.steps]
    lost = {"CH": "ch.ncp_lost", "ESME": "esme.ncp_lost", "HHT": "ppmid.ncp_lost", "PPMID": "ppmid.ncp_lost"}[role]
    reason = "ncp_reset" if kind == "ncp_reset" else "ncp_link_lost"
    assert any(s["name"] == lost and s["result"] == reason for s in result.steps), names
    # the CH and the ESME reconnect and resume (unless the run ended before their recovery was due)
    lost_at = next(s["time"] for s in result.steps if s["name"] == lost)
    ran_on = result.steps[-1]["time"] - lost_at > pairing.NCP_RECOVERY_DELAY_S + 1
    if role == "CH":
        assert "ch.ncp_recovered" in names or not ran_on, names      # HAN resumed, inter-PAN reopened
        assert names.count("ch.powered_on") == 1                      # no power-on: HHT entries kept
    elif role == "ESME":
        assert "meter.ncp_recovered" in names or not ran_on, names
    elif result.outcome == "refused":
        assert result.reason in (f"ppmid:{reason}",) or not result.reason.startswith("ppmid:ncp"), result.reason
    print(f"{role} {kind} at {step}: {result.outcome} {result.reason or ''}")
    return result


@pytest.mark.parametrize(("role", "step", "kind"), list(cases()))
async def test_ncp_reset_or_link_drop_at_a_step_ends_paired_or_with_a_named_reason(tmp_path, role, step, kind):
    await faulted_pairing(tmp_path, role, step, kind)


@pytest.mark.parametrize("kind", KINDS)
async def test_the_ch_recovers_its_ncp_at_the_start_of_the_pairing_and_the_hht_still_pairs(tmp_path, kind):
    """Sane handling, not just a named end: an NCP reset (or a dropped link) of the CH just before the
    HHT looks for it costs the HHT nothing, since the CH is back long before the HHT's retries run out."""
    result = await faulted_pairing(tmp_path, "CH", "scenario.ppmid_power_on", kind)
    assert (result.outcome, result.reason) == ("paired", None), result.steps


async def test_the_hht_losing_its_own_ncp_ends_the_pairing_with_that_reason(tmp_path):
    result = await faulted_pairing(tmp_path, "HHT", "hht.cbke_interpan", "ncp_reset")
    assert (result.outcome, result.reason) == ("refused", "ppmid:ncp_reset")


@pytest.mark.parametrize("kind", KINDS)
async def test_the_ppmid_reads_again_an_esme_that_was_reconnecting_when_it_first_read(tmp_path, kind):
    """The ESME's dongle fails as the PPMID finishes CBKE with the CH, so the PPMID's first Read Attributes
    goes out while the ESME is still ``NCP_RECOVERY_DELAY_S`` and a reconnection away: unanswered.  The
    PPMID reads again (``ESME_READ_ATTEMPTS``) and the pairing completes with every check passing."""
    result = await faulted_pairing(tmp_path, "ESME", "ppmid.cbke_han", kind)
    assert (result.outcome, result.reason) == ("paired", None), result.steps
    assert all(result.checks.values()), result.checks
    names = [s["name"] for s in result.steps]
    assert "ppmid.esme_read_retry" in names, names
    recovered = names.index("meter.ncp_recovered")
    assert "meter.read_answered" in names[recovered:], names
