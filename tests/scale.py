"""How many cases a property, fuzz or fault test runs: its fast set in ``make test``, its long form in
``make test-slow`` (``RIG_SLOW=1``).  Import it as ``from scale import scaled``: pytest puts tests/ on
sys.path, and a module of its own cannot be shadowed by a sub-folder's ``conftest.py`` as
``from conftest import ...`` is (tests/roles has one)."""

from __future__ import annotations

import os

#: ``make test-slow`` sets RIG_SLOW=1: property and fault tests then run their long form.
SLOW_RUN = os.environ.get("RIG_SLOW", "") == "1"


def scaled(fast: int, slow: int = 10_000) -> int:
    """``fast`` in ``make test`` (CI), ``slow`` in ``make test-slow``."""
    return slow if SLOW_RUN else fast
