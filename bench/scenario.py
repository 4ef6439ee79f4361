"""Scenario figures: wall, CPU and crypto CPU of one paired and one refused SECMP0037 run, and `make run`.

Each scenario runs in this process on emulated dongles, on the discrete-event loop (``rig.des``) and,
for comparison, at real pace (the standard loop); a first paired run warms imports and tables and is
not counted.  ``crypto`` is the CPU inside the CBKE/ECDSA/ECDH/AES entry points (``rig.cputime``).
The matrix (``rig scenario matrix``, i.e. ``make run``) runs as its own process.

Targets (issue 15): a paired run <= 1.5x its crypto CPU and <= 0.5 s wall; a refused one <= 0.3 s;
``make run`` <= 5 s on 2 cores.

Where a target is missed the bench says why with a profile (``bench.profile``: CPU samples of three
more paired runs, setup included, filed by the code that spent them), and for ``make run`` the floor
its CPU sets: the CLI's imports (serial, before the workers fork) plus the rows' CPU over the cores.

Run: ``.venv/bin/python -m bench.scenario [--no-matrix]``, or via ``make bench``.
"""

from __future__ import annotations

import json
import os
import resource
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
    from rig.atomic import scratch_dir
    from rig.premises import sim_premises
    from rig.scenarios.secmp0037 import run

    async def main():
        with tempfile.TemporaryDirectory(prefix="bench-scenario-", dir=scratch_dir()) as tmp:
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


def _env() -> dict:
    root = Path(__file__).resolve().parents[1]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def matrix_wall() -> tuple[float, float, list[dict]]:
    """Wall seconds of ``rig scenario matrix --json`` as a process, the CPU seconds it and its worker
    processes used, and its rows."""
    t0, c0 = time.perf_counter(), _children_cpu()
    out = subprocess.run([sys.executable, "-m", "rig.cli", "scenario", "matrix", "--json"], env=_env(),
                         capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    return wall, cpu, json.loads(out.stdout) if out.stdout.strip().startswith("[") else []


def import_seconds() -> float:
    """Wall seconds of a process that only imports what ``rig scenario matrix`` imports, then exits."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import rig.cli, rig.scenarios.matrix"], env=_env(), check=True)
    return time.perf_counter() - t0


def profiled(runs: int = 3) -> None:
    """Sample the CPU of ``runs`` paired runs (setup included) and print where it went."""
    from bench.profile import Sampler, summary
    from rig.cputime import crypto_seconds

    c0, k0 = time.process_time(), crypto_seconds()
    with Sampler() as sampler:
        for _ in range(runs):
            run_scenario("gbcs", 0.0)
    cpu, crypto = time.process_time() - c0, crypto_seconds() - k0
    print(f"  profile of {runs} paired runs with their setup ({cpu:.2f} s CPU, {crypto:.2f} s crypto, "
          f"CPU/crypto {cpu / crypto:.2f}x):")
    for line in summary(sampler, cpu):
        print(line)
    print("  ours, by function (samples):")
    ours = [(k, v) for k, v in sampler.where.most_common() if not k[0].startswith(os.sep)]
    for (path, fn), count in ours[:8]:
        print(f"    {count:5d}  {path}:{fn}")


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
    if ratio > PAIRED_RATIO_TARGET or paired.real_seconds > PAIRED_WALL_TARGET:
        profiled()
    if matrix:
        wall, all_cpu, rows = matrix_wall()
        n, ok = len(rows), sum(1 for r in rows if r["as_expected"])
        print(f"make run (rig scenario matrix, {os.cpu_count()} cores): {wall:.2f} s wall, {all_cpu:.2f} s CPU, "
              f"{ok}/{n} rows as expected "
              f"(target <= {MATRIX_WALL_TARGET:.0f} s: {_verdict(wall <= MATRIX_WALL_TARGET and ok == n)})")
        if rows and wall > MATRIX_WALL_TARGET:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            imports = import_seconds()
            cpu = sum(r["cpu_seconds"] or 0.0 for r in rows)
            crypto = sum(r["crypto_cpu_seconds"] or 0.0 for r in rows)
            print(f"  its floor on {cores} cores: imports {imports:.2f} s (one process, before the workers fork) + "
                  f"the rest of its {all_cpu:.2f} s CPU / {cores} = {imports + (all_cpu - imports) / cores:.2f} s; "
                  f"of that CPU the rows' scenarios {cpu:.2f} s ({crypto:.2f} s crypto), their premises' "
                  f"setup and teardown and the pool the rest")


if __name__ == "__main__":
    main(matrix="--no-matrix" not in sys.argv[1:])
