"""The SECMP0037 matrix: both policies x PPMID delays x with/without a CH power cycle.

Expected outcome: ``paired`` when the CH's inter-PAN window is open at the PPMID's power-on — always
under ``secmp0037``; under ``gbcs`` only within 60 minutes of the CH's last power-on — otherwise
``refused`` with reason ``interpan_window_closed``.  A paired row must also pass every check of the
run (log holds HHT + PPMID, ESME and GPF accept the PPMID, the HHT goes at 18 h / at the next CH
power-on, the PPMID stays and keeps reading the ESME); a refused row must leave the device log unchanged.

Against an external CH (a device under test) a row runs only if the CH implements its policy, the
bench can power-cycle the CH where the row does, and the CH time it waits can pass in real time
(``real_waits``); otherwise it is *not run* with the reason (``Row.skipped``), never counted as passed.
A refused row's reason there is what the PPMID saw (``ppmid:...``): a real CH names no reason.

Power cycle rule: 30 minutes before the PPMID powers on (so under ``gbcs`` it reopens the window), or
30 minutes after it for a delay shorter than that (then it removes the HHT identity after pairing).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rig import des, pairing
from rig.atomic import scratch_dir
from rig.premises import Premises, sim_premises
from rig.scenarios.secmp0037 import ScenarioResult, ch_waits, format_duration, parse_duration, run

DELAYS = ("0", "59m59s", "60m1s", "5d")
POWER_CYCLE_OFFSET_S = 30 * 60


def power_cycle_time(delay: float) -> float:
    return delay - POWER_CYCLE_OFFSET_S if delay >= POWER_CYCLE_OFFSET_S else delay + POWER_CYCLE_OFFSET_S


def expected(policy: str, delay: float, power_cycle_at: float | None) -> tuple[str, str | None]:
    last_power_on = power_cycle_at if power_cycle_at is not None and power_cycle_at <= delay else 0.0
    if policy == "secmp0037" or delay - last_power_on < pairing.INTERPAN_WINDOW_S:
        return "paired", None
    return "refused", "interpan_window_closed"


@dataclass
class Row:
    policy: str
    delay: float
    power_cycle_at: float | None
    expected_outcome: str
    expected_reason: str | None
    result: ScenarioResult | None = None
    error: str | None = None
    skipped: str | None = None           # not run against this CH, and why

    @property
    def failed_checks(self) -> list[str]:
        return [] if self.result is None else [k for k, v in self.result.checks.items() if not v]

    @property
    def as_expected(self) -> bool:
        r = self.result
        if r is None or r.outcome != self.expected_outcome or self.failed_checks:
            return False
        if r.ch_external and self.expected_reason is not None:      # a real CH names no reason: the PPMID's
            return (r.reason or "").startswith("ppmid:")
        return r.reason == self.expected_reason

    def to_json(self) -> dict:
        r = self.result
        return {"policy": self.policy, "ppmid_delay": format_duration(self.delay),
                "ch_power_cycle_at": format_duration(self.power_cycle_at) if self.power_cycle_at is not None else None,
                "expected": {"outcome": self.expected_outcome, "reason": self.expected_reason},
                "actual": None if r is None else {"outcome": r.outcome, "reason": r.reason},
                "failed_checks": self.failed_checks, "error": self.error, "as_expected": self.as_expected,
                "skipped": self.skipped,
                "not_checked": None if r is None else r.not_checked,
                "real_seconds": None if r is None else round(r.real_seconds, 3),
                "cpu_seconds": None if r is None else round(r.cpu_seconds, 3),
                "crypto_cpu_seconds": None if r is None else round(r.crypto_cpu_seconds, 3)}


def rows(policies=pairing.POLICIES, delays=DELAYS) -> list[Row]:
    out = []
    for policy in policies:
        for text in delays:
            delay = parse_duration(text)
            for pc in (None, power_cycle_time(delay)):
                outcome, reason = expected(policy, delay, pc)
                out.append(Row(policy, delay, pc, outcome, reason))
    return out


def not_runnable(row: Row, premises: Premises, *, real_waits: bool = False) -> str | None:
    """Why ``row`` cannot run on ``premises`` (None: it can): only an external CH limits it."""
    ext = premises.external
    if ext is None:
        return None
    if row.policy != ext.policy:
        return f"the CH under test implements {ext.policy}"
    if row.power_cycle_at is not None and ext.power is None:
        return "the bench cannot power-cycle the CH under test (no external_ch.power)"
    wait = ch_waits(row.delay, row.power_cycle_at)
    if wait > 0 and not real_waits:
        return f"waits {format_duration(wait)} of the CH's own time (allow it with --real-time)"
    return None


async def run_row(row: Row, work_dir: Path | None = None, pcap: Path | None = None, *,
                  premises: Premises | None = None, real_waits: bool = False) -> Row:
    """One row on a fresh emulated premises (or on ``premises``, set up by the caller, who closes it: a
    bench's, as the pytest plugin's fixture gives); a row the premises cannot run is marked skipped."""
    if premises is not None:
        row.skipped = not_runnable(row, premises, real_waits=real_waits)
        return row if row.skipped else await _run_row_on(row, premises, real_waits=real_waits)
    with tempfile.TemporaryDirectory(prefix="rig-matrix-", dir=scratch_dir()) as tmp:
        try:
            premises = await sim_premises(Path(work_dir or tmp), pcap=pcap)
        except Exception as exc:  # noqa: BLE001 - a crashed row is reported, not raised
            row.error = f"{type(exc).__name__}: {exc}"
            return row
        try:
            await _run_row_on(row, premises)
        finally:
            await premises.close()
    return row


async def _run_row_on(row: Row, premises: Premises, *, real_waits: bool = False) -> Row:
    try:
        row.result = await run(premises, policy=row.policy, ppmid_delay=row.delay,
                               ch_power_cycle_at=row.power_cycle_at, real_waits=real_waits)
    except Exception as exc:  # noqa: BLE001 - a crashed row is reported, not raised
        row.error = f"{type(exc).__name__}: {exc}"
    return row


def run_row_now(row: Row) -> Row:
    """``run_row`` on its own discrete-event loop (what one worker process does with a row)."""
    return des.run(run_row(row))


def default_jobs() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_rows(todo: list[Row], jobs: int | None = None,
             runner: Callable[[Row], Row] = run_row_now) -> Iterator[Row]:
    """Run the rows, ``jobs`` at a time in worker processes (``concurrent.futures``), yielding each
    finished row in the given order; ``jobs=1`` runs them one after another in this process."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs <= 1 or len(todo) <= 1:
        for row in todo:
            yield runner(row)
        return
    # fork: workers start with the parent's modules imported and no loop running
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
        yield from pool.map(runner, todo)
