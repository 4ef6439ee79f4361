"""Scenario figures: wall, CPU and crypto CPU of one paired and one refused SECMP0037 run, and `make run`.

Each scenario runs in this process on emulated dongles, on the discrete-event loop (``rig.des``) and,
for comparison, at real pace (the standard loop); a first paired run warms imports and tables and is
not counted.  ``crypto`` is the CPU inside the CBKE/ECDSA/ECDH/AES entry points (``rig.cputime``).
The matrix (``rig scenario matrix``, i.e. ``make run``) runs as its own process.

Targets (issue 15): a paired run <= 1.5x its crypto CPU and <= 0.5 s wall; a refused one <= 0.3 s;
``make run`` <= 5 s on 2 cores.

Run: ``.venv/bin/python -m bench.scenario [--no-matrix]``, or via ``make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAIRED_RATIO_TARGET = 1.5
PAIRED_WALL_TARGET = 0.5
REFUSED_WALL_TARGET = 0.3
MATRIX_WALL_TARGET = 5.0


def run_scenario(policy: str, delay: float, *, fast: bool = True):
    """One scenario on fresh emulated premises; returns (ScenarioResult, loop jump stats or None)."""
    from rig import des
    from rig.premises import sim_premises
    from rig.scenarios.secmp0037 import run

    async def main():
        with tempfile.TemporaryDirectory(prefix="bench-scenario-") as tmp:
            premises = await sim_premises(Path(tmp))
            try:
                result = await run(premises, policy=policy, ppmid_delay=delay)
            finally:
                await premises.close()
            return result, des.stats()

    return des.run(main(), fast_forward=fast)


def _line(label: str, r) -> str:
    ratio = r.real_seconds / r.crypto_cpu_seconds if r.crypto_cpu_seconds else float("inf")
    cpu_ratio = r.cpu_seconds / r.crypto_cpu_seconds if r.crypto_cpu_seconds else float("inf")
    return (f"{label:28} {r.outcome:8} real {r.real_seconds:6.3f} s  CPU {r.cpu_seconds:6.3f} s  "
            f"crypto {r.crypto_cpu_seconds:6.3f} s  real/crypto {ratio:5.2f}x  CPU/crypto {cpu_ratio:5.2f}x")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def matrix_wall() -> tuple[float, int, int]:
    """Wall seconds of ``rig scenario matrix --json`` as a process; (seconds, rows, rows as expected)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rig.cli", "scenario", "matrix", "--json"], env=env,
                         capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    rows = json.loads(out.stdout) if out.stdout.strip().startswith("[") else []
    return wall, len(rows), sum(1 for r in rows if r["as_expected"])


def main(matrix: bool = True) -> None:
    run_scenario("gbcs", 0.0)                       # warm-up: imports, curve tables
    paired, stats = run_scenario("gbcs", 0.0)
    refused, rstats = run_scenario("gbcs", 3601.0)
    paired_rt, _ = run_scenario("gbcs", 0.0, fast=False)
    refused_rt, _ = run_scenario("gbcs", 3601.0, fast=False)
    print(_line("scenario paired (des)", paired) + f"  [{stats['jumps']} jumps, {stats['skipped']:.2f} s skipped]")
    print(_line("scenario refused (des)", refused) + f"  [{rstats['jumps']} jumps, {rstats['skipped']:.2f} s skipped]")
    print(_line("scenario paired (real pace)", paired_rt))
    print(_line("scenario refused (real pace)", refused_rt))
    ratio = paired.real_seconds / paired.crypto_cpu_seconds
    print(f"  targets: paired <= {PAIRED_RATIO_TARGET}x crypto: {ratio:.2f}x {_verdict(ratio <= PAIRED_RATIO_TARGET)}; "
          f"paired <= {PAIRED_WALL_TARGET} s: {_verdict(paired.real_seconds <= PAIRED_WALL_TARGET)}; "
          f"refused <= {REFUSED_WALL_TARGET} s: {_verdict(refused.real_seconds <= REFUSED_WALL_TARGET)}")
    if matrix:
        wall, n, ok = matrix_wall()
        print(f"make run (rig scenario matrix, {os.cpu_count()} cores): {wall:.2f} s wall, {ok}/{n} rows as expected "
              f"(target <= {MATRIX_WALL_TARGET:.0f} s: {_verdict(wall <= MATRIX_WALL_TARGET and ok == n)})")


if __name__ == "__main__":
    main(matrix="--no-matrix" not in sys.argv[1:])
