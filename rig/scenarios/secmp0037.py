"""The SECMP0037 scenario: a CH powers on, time passes, a dual-address PPMID pairs locally.

``run(bench, policy, ppmid_delay, ch_power_cycle_at)`` — read top to bottom, it is the pairing:

1. the CH powers on (HAN formed, inter-PAN open; ``gbcs`` closes it after 60 min);
2. the DCC has commissioned the ESME (a CCS01 over the WAN); the ESME joins and runs CBKE with the CH;
   the GSME likewise (where the bench has one), as a sleepy end device behind the GPF;
3. the clock advances by ``ppmid_delay`` (the CH is power-cycled at ``ch_power_cycle_at`` if that comes
   first: the window reopens, HHT entries go);
4. the PPMID powers on as identity A (HHT): scan, CBKE + CCS01 over inter-PAN, join, CBKE, tunnel, and
   delivers the bundle for identity B (CCS01, CS03A1 to the ESME, CS03C to the GPF, CS03A1 to the GSME:
   held by the CHF until the GSME wakes), then leaves;
5. it switches to identity B, joins, reads the ESME, and reads gas data from the GPF (the GSME's mirror);
6. a later CH power cycle (``ch_power_cycle_at`` after the pairing) removes identity A; B keeps working;
7. the clock runs to 18 h after A's entry: A is gone from the log, B stays and still reads the ESME.

The result says ``paired`` or ``refused`` with the reason as the CH saw it, and carries every step.

Against an external CH (a device under test, ``premises.external``) the same steps run over the air only:
checks that need the CH's insides (its device log, its GPF) are listed in ``not_checked`` with the
reason, the reason of a refusal is what the PPMID saw (``ppmid:...``), and since the rig's clock jumps do
not move that CH's clock, a run that must wait on it (a PPMID delay, a power cycle 30 minutes on, the
18 h residency) waits in real time when ``real_waits`` allows it, else is refused (``ScenarioError``) or,
for the closing 18 h check, listed as not checked.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Self

from rig import pairing
from rig.cputime import crypto_seconds
from rig.events import EventLog
from rig.gbcs import Message, decode_payload
from rig.premises import Premises
from rig.roles.ezsp_role import RoleError, link_lost
from rig.roles.ppmid import DualAddressPpmid

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class ScenarioError(ValueError):
    """Bad scenario input (names the value)."""


class Duration(float):
    """Seconds that remember how they were written: ``format_duration`` prints ``60m1s`` as given,
    not as ``1h1s``."""

    text: str | None = None

    def __new__(cls, seconds: float, text: str | None = None) -> Self:
        value = super().__new__(cls, seconds)
        value.text = text
        return value


def parse_duration(text: str) -> Duration:
    """``0``, ``3600``, ``59m59s``, ``60m1s``, ``5d``, ``1h30m`` -> seconds (spelled as given)."""
    given = str(text).strip()
    text = given.lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return Duration(float(text), given)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ScenarioError(f"bad duration {given!r} (examples: 0, 90, 59m59s, 60m1s, 18h, 5d)")
    return Duration(float(sum(float(n) * _UNIT[u] for n, u in parts)), given)


def format_duration(seconds: float | None) -> str:
    """A duration as the user wrote it (a ``parse_duration`` result), else ``1d2h3m4s``."""
    if seconds is None:
        return "-"
    if isinstance(seconds, Duration) and seconds.text:
        return seconds.text
    s = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out or "0"


def format_time(seconds: float) -> str:
    """Virtual time of a step: ``[Nd ]H:MM:SS.mmm``."""
    days, rest = divmod(max(0.0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{int(days)}d " if days else "") + f"{int(hours)}:{int(minutes):02d}:{secs:06.3f}"


@dataclass
class ScenarioResult:
    outcome: str
    reason: str | None
    policy: str
    ppmid_delay: float
    ch_power_cycle_at: float | None
    steps: list[dict[str, Any]]
    checks: dict[str, bool] = field(default_factory=dict)
    not_checked: dict[str, str] = field(default_factory=dict)     # check -> why it could not be made
    ch_external: bool = False          # the CH was a device under test (its insides unseen)
    device_log_before: list[dict] = field(default_factory=list)
    device_log_after_pairing: list[dict] = field(default_factory=list)
    device_log_after: list[dict] = field(default_factory=list)
    pcap: str | None = None
    real_seconds: float = 0.0          # wall time of the run
    cpu_seconds: float = 0.0           # this process's CPU (user + system) during the run
    crypto_cpu_seconds: float = 0.0    # of which in CBKE, ECDSA, ECDH and AES (rig.cputime)
    identities: dict[str, str] = field(default_factory=dict)
    clock_origin: float = 0.0          # clock time of the steps' 0 (device-log times are clock times)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "policy": self.policy,
                "ppmid_delay_s": self.ppmid_delay, "ppmid_delay": format_duration(self.ppmid_delay),
                "ch_power_cycle_at_s": self.ch_power_cycle_at, "checks": self.checks,
                "not_checked": self.not_checked, "ch_external": self.ch_external, "steps": self.steps,
                "device_log_before": self.device_log_before,
                "device_log_after_pairing": self.device_log_after_pairing,
                "device_log_after": self.device_log_after, "pcap": self.pcap, "identities": self.identities,
                "real_seconds": round(self.real_seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3),
                "crypto_cpu_seconds": round(self.crypto_cpu_seconds, 3)}


def _response_ok(data: bytes) -> bool:
    payload = decode_payload(Message.from_bytes(data))
    return all(v == 0 for k, v in payload.items() if k.endswith("result"))


def ch_waits(ppmid_delay: float, ch_power_cycle_at: float | None) -> float:
    """The CH time a run must let pass before its last step (the 18 h residency aside)."""
    return max(ppmid_delay, ch_power_cycle_at or 0.0)


async def run(premises: Premises, *, policy: str, ppmid_delay: float, ch_power_cycle_at: float | None = None,
              state_dir=None, on_event=None, real_waits: bool = False) -> ScenarioResult:
    """One pairing; ``on_event(event)`` (optional) hears every step as it happens (live output, fault
    injection at a named step); ``real_waits``: against an external CH, wait out in real time what the
    CH must see pass (else such a run is refused: its clock does not jump with the rig's)."""
    if policy not in pairing.POLICIES:
        raise ScenarioError(f"unknown policy {policy!r} (expected gbcs or secmp0037)")
    if ppmid_delay < 0 or (ch_power_cycle_at is not None and ch_power_cycle_at < 0):
        raise ScenarioError("durations must not be negative")
    external = not premises.ch_clock_jumps
    if external and not real_waits and ch_waits(ppmid_delay, ch_power_cycle_at) > 0:
        raise ScenarioError(f"the CH under test keeps its own time: this run waits "
                            f"{format_duration(ch_waits(ppmid_delay, ch_power_cycle_at))} of it in real time "
                            f"(allow it with --real-time)")
    if external and ch_power_cycle_at is not None and premises.external.power is None:
        raise ScenarioError("the CH under test has no power control (inventory external_ch.power): "
                            "the rig cannot power-cycle it")
    started, cpu_started, crypto_started = time.perf_counter(), time.process_time(), crypto_seconds()
    clock, ids = premises.clock, premises.ids
    events = premises.events = EventLog(clock)
    if on_event is not None:
        events.listeners.append(on_event)
    checks: dict[str, bool] = {}
    not_checked: dict[str, str] = {}
    unseen = "the CH under test's insides are not observable over the air"

    def step(name: str, result: str = "ok", **detail) -> None:
        events.emit("scenario", name, result, **detail)

    async def advance_to(t: float) -> None:
        if t > events.now():
            if external:                     # its clock is its own: the time really passes
                await clock.sleep(t - events.now())
            else:
                await clock.advance(t - events.now())

    # 1. CH power-on
    ch = premises.ch(policy, state_dir=state_dir)
    await ch.power_on()

    async def power_cycle_ch() -> None:
        step("scenario.ch_power_cycle")
        await premises.power_cycle_ch(ch)  # power lost: the dongle reboots, the host's link drops

    # 2. the ESME, commissioned by the DCC
    esme, esme_status = await premises.esme(ch)
    step("scenario.esme_commissioned", esme_status)
    gsme = await _gsme_power_on(premises, ch, step)
    log_before = ch.log_snapshot()

    # 3. time passes
    pc = ch_power_cycle_at
    if pc is not None and pc <= ppmid_delay:
        await advance_to(pc)
        await power_cycle_ch()
    await advance_to(ppmid_delay)

    # 4-5. the PPMID
    ppmid = await premises.ppmid()      # CCS01 for A requested first, the DCC's bundle for B preloaded
    step("scenario.ppmid_power_on", delay=format_duration(ppmid_delay))
    refusals_before = len(ch.refusals)
    outcome, reason = "paired", None
    try:
        responses = await ppmid.phase1(ids.gpf)
        checks["bundle_responses_success"] = all(_response_ok(r) for r in responses)
        await ppmid.switch_identity()
        await ppmid.phase2()
        await ppmid.exchange_with_esme(ids.esme)
        await _read_gas(ppmid, gsme, checks)
    except Exception as exc:     # a RoleError, or bellows failing on a link that is gone (re-raised otherwise)
        lost = link_lost(ppmid.ezsp)
        if not isinstance(exc, RoleError) and lost is None:
            raise
        outcome = "refused"
        new = ch.refusals[refusals_before:]
        if lost is not None:                 # the PPMID's own dongle reset or its link dropped
            reason = f"ppmid:{lost.reason}"
        elif new:
            reason = new[0].reason
        elif ch.core is not None and not ch.core.interpan_open:
            reason = "interpan_window_closed"
            events.emit("CH", "ch.interpan_reception_closed", reason,
                        detail="the CH's MAC filter list is closed: inter-PAN frames never reached the CH host")
        else:
            reason = f"ppmid:{exc.reason}"
    step("scenario.pairing", "ok" if outcome == "paired" else reason)
    log_after_pairing = ch.log_snapshot()
    log = ch.core.log if ch.core is not None else None

    def check(name: str, value) -> None:
        """A check of the CH's insides (``value`` a callable): made on the rig's own CH, else listed."""
        if log is None:
            not_checked[name] = unseen
        else:
            checks[name] = bool(value())

    if outcome == "refused":
        check("device_log_unchanged", lambda: log_after_pairing == log_before)
    else:
        paired_at = events.now()
        check("log_has_hht_and_ppmid", lambda: ids.hht in log and ids.ppmid in log)
        checks["esme_accepts_ppmid"] = ids.ppmid in esme.core.partners
        check("gpf_accepts_ppmid", lambda: ids.ppmid in ch.gpf.partners)
        if gsme is not None:
            checks["gsme_accepts_ppmid"] = ids.ppmid in gsme.core.partners
        # 6. a CH power cycle after the pairing
        if pc is not None and pc > ppmid_delay:
            await advance_to(pc)
            await power_cycle_ch()
            check("hht_removed_at_ch_power_on", lambda: ids.hht not in log)
            check("ppmid_kept_after_ch_power_cycle", lambda: ids.ppmid in log)
            checks["ppmid_reads_esme_after_ch_power_cycle"] = await _reads(ppmid, ids.esme)
        # 7. the HHT's residency ends
        entry = log.get(ids.hht) if log is not None else None
        if entry is not None:
            await advance_to(entry.hht_expiry - events.origin + 1)
            checks["hht_removed_after_18h"] = ids.hht not in log
        elif log is None and real_waits and (pc is None or pc <= ppmid_delay):
            await advance_to(paired_at + pairing.HHT_RESIDENCY_S + 1)     # 18 h of the CH's own time
            not_checked["hht_removed_after_18h"] = unseen
        elif log is None:
            not_checked["hht_removed_after_18h"] = (f"{unseen}, and it needs 18 h of its own time "
                                                    "(--real-time waits it out)")
        check("ppmid_stays", lambda: ids.ppmid in log)
        checks["ppmid_reads_esme_at_end"] = await _reads(ppmid, ids.esme)
    step("scenario.done", outcome if outcome == "paired" else reason)

    result = ScenarioResult(outcome, reason, policy, ppmid_delay, ch_power_cycle_at, events.to_json(), checks,
                            not_checked, external, log_before or [], log_after_pairing or [], ch.log_snapshot() or [],
                            str(premises.pcap) if premises.pcap else None,
                            identities={"CHF": ids.chf, "GPF": ids.gpf, "ESME": ids.esme, "PPMID/A": ids.hht,
                                        "PPMID/B": ids.ppmid, **({"GSME": ids.gsme} if gsme else {})},
                            clock_origin=events.origin)
    await esme.close()
    if gsme is not None:
        await gsme.close()
        await premises.disconnect(gsme.ezsp)
    for ezsp in (ppmid.ezsp, esme.role.ezsp):
        await premises.disconnect(ezsp)
    await ch.power_off()
    result.real_seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    result.crypto_cpu_seconds = crypto_seconds() - crypto_started
    return result


async def _reads(ppmid: DualAddressPpmid, esme_id: str) -> bool:
    try:
        await ppmid.exchange_with_esme(esme_id)
        return True
    except RoleError:
        return False



# --- the gas side (issue 14 item 5): the GSME behind the GPF ----------------------------------------------
async def _gsme_power_on(premises: Premises, ch, step):
    """The GSME, commissioned by the DCC like the ESME and powered on with it (None: no gsme dongle).
    The installer presses its button once the CHF holds a command for it (the PPMID's gas-side join):
    at its own pace (``rig.pairing.GSME_WAKE_S``) the GSME would fetch it long after identity B's
    join permission (``PERMIT_JOIN_S``) has lapsed [I].  Here it wakes only then and at power-on: a
    periodic wake falling inside the scenario's clock jumps (``Clock.advance`` fires the frames'
    timeouts before the emulated radios deliver them, on a loaded machine) fails for the rig's own
    reasons, not the CH's (its periodic wake is tested in ``tests/roles/test_gsme.py``)."""
    if not premises.has_gsme():
        return None
    gsme, status = await premises.gsme(ch, wake_s=None)
    step("scenario.gsme_commissioned", status)

    def installer(event) -> None:
        if event.name == "ch.gbcs_held" and event.peer == premises.ids.gsme:
            step("scenario.gsme_button")
            gsme.press_button()
    premises.events.listeners.append(installer)
    return gsme


async def _read_gas(ppmid: DualAddressPpmid, gsme, checks: dict[str, bool]) -> None:
    """After pairing, identity B reads gas data; the GPF answers from the GSME's last PUT."""
    if gsme is None:
        return
    try:
        value = await ppmid.read_gas()
    except RoleError:
        value = None
    checks["ppmid_reads_gas"] = value == gsme.reading
