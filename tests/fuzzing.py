"""Helpers for the fuzz tests' strategies (``from fuzzing import pick``)."""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy


@cache
def _index(n: int) -> SearchStrategy:
    return st.integers(0, n - 1)


def pick(draw, *choices):
    """One of ``(weight, value or strategy)`` by weight, inside an ``@st.composite``: the fuzzer mostly
    takes what gets a frame or message past one check to the next, and sometimes anything.  Cheaper than
    building a strategy per draw (hypothesis validates every new strategy it meets)."""
    i = draw(_index(sum(w for w, _ in choices)))
    for weight, choice in choices:
        if i < weight:
            return draw(choice) if isinstance(choice, SearchStrategy) else choice
        i -= weight
    raise AssertionError(i)
