"""Shared checks of the fault tests: a full SECMP0037 pairing on emulated dongles under a fault, then the
CH's state as its next power-on would load it."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

from scale import SLOW_RUN, scaled  # noqa: F401  (make test: the fast count; make test-slow: the long form)

from rig.premises import Premises, sim_premises
from rig.roles.ch import DeviceLog
from rig.scenarios.secmp0037 import ScenarioResult, run

#: A scenario that runs longer than this in virtual time hangs (a pairing takes seconds, the HHT's
#: residency 18 h after it): the test fails instead of waiting for ever.
VIRTUAL_BOUND_S = 30 * 3600
REASON = re.compile(r"^[a-z0-9_]+(:[a-z0-9_]+)?$")


async def pairing_under(tmp_path: Path, *, seed: int = 7, setup=None, on_event=None) -> tuple[ScenarioResult, Premises]:
    """One full pairing (policy secmp0037, the PPMID at once), ``setup(premises)`` first; bounded in
    virtual time.  Returns the result and the (closed) premises, whose work folder holds the CH's files."""
    premises = await sim_premises(tmp_path / "premises", seed=seed)
    try:
        if setup is not None:
            setup(premises)
        result = await premises.clock.wait_for(
            run(premises, policy="secmp0037", ppmid_delay=0, on_event=on_event), VIRTUAL_BOUND_S,
            "the whole scenario (a hang)")
    finally:
        await premises.close()
    return result, premises


def check_outcome(result: ScenarioResult, may_fail: frozenset[str] = frozenset()) -> None:
    """Paired with every check passing (but those in ``may_fail``), or refused with one clear named reason."""
    assert result.outcome in ("paired", "refused"), result.outcome
    if result.outcome == "paired":
        assert result.reason is None
        assert result.checks, result.checks
        failed = {name for name, ok in result.checks.items() if not ok}
        assert failed <= may_fail, result.checks
    else:
        assert result.reason and REASON.match(result.reason), f"not a named reason: {result.reason!r}"
    assert result.steps[-1]["name"] == "scenario.done"


def check_ch_state(result: ScenarioResult, premises: Premises) -> DeviceLog:
    """The CH's device log after the run: whole, no device twice (on disk or added twice while
    present), only the premises' devices, each with its own install-code key and a sane join state."""
    path = premises.work_dir / "ch" / "chf-device-log.json"
    raw = json.loads(path.read_text())
    names = [e["eui64"] for e in raw["entries"]]
    assert len(names) == len(set(names)), f"duplicate device-log entries: {names}"
    log = DeviceLog(path)                          # the CH's next power-on: it parses, temps cleared
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    ids = premises.ids
    known = {ids.esme, ids.hht, ids.ppmid} | ({ids.gsme} if ids.gsme else set())
    assert set(log.entries) <= known, set(log.entries) - known
    assert ids.esme in log                          # commissioned by the DCC: no fault removes it
    assert ids.gsme is None or ids.gsme in log      # likewise the GSME
    for eui, entry in log.entries.items():
        assert entry.link_key.upper() == ids.link_key(eui).hex().upper(), f"{eui}: not its install-code key"
        assert entry.join_state in ("registered", "joined")
        assert (entry.join_state == "joined") == (entry.nwk is not None)
    # a device is added once while it is in the log (an HHT leaves at 18 h; none may come back twice)
    present: collections.Counter = collections.Counter()
    for step in result.steps:
        device = step.get("detail", {}).get("device")
        if step["name"] == "ch.device_log_added" and step["result"] == "ok":
            present[device] += 1
            assert present[device] == 1, f"{device} added to the device log twice: {result.steps}"
        elif step["name"] == "ch.device_log_removed":
            present[device] -= 1
    return log
