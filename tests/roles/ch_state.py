"""What a refusal must leave unchanged at the CH, for before/after comparisons in the refusal tests."""

from __future__ import annotations

from pathlib import Path

from rig.gbcs import CounterStore


def _file(path) -> bytes | None:
    return Path(path).read_bytes() if path is not None and Path(path).exists() else None


def counter_state(counters: CounterStore) -> dict:
    """A GBCS counter store in memory and on disk (``None`` while it was never saved)."""
    state = {"memory": dict(counters.counters), "file": _file(counters.path)}
    if counters.path is not None and state["file"] is not None:
        assert CounterStore.load(counters.path).counters == counters.counters, "counters: memory differs from disk"
    return state


def ch_state(ch) -> dict:
    """The CHF device log (memory and file) and the CH's GBCS counter stores: the CHF's, and for a
    ``ChShim`` also the GPF's."""
    core = getattr(ch, "core", ch)
    state = {"log": core.log.snapshot(), "log file": _file(core.log.path), "chf counters": counter_state(core.counters)}
    gpf = getattr(ch, "gpf", None)
    if gpf is not None:
        state["gpf counters"] = counter_state(gpf.counters)
    return state
