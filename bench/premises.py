"""Premises at scale: N premises paired at once, each CH + ESME + GPF + PPMID on its own air.

For each N a fresh process sets up N emulated premises on one discrete-event loop (``rig.des``) and
runs the SECMP0037 scenario (policy secmp0037, PPMID at once) on all of them concurrently; it reports
wall and CPU seconds, their per-premises cost, the crypto share (``rig.cputime``) and the peak RSS
above the process's warmed-up baseline divided by the emulated dongles (3 per premises: the CH's,
the ESME's and the PPMID's; the GPF runs in the CH host; the peak is reset after the warm-up, and a
single premises partly reuses what the warm-up freed).  The parent prints a table and writes a PNG
plot (matplotlib) to ``artifacts/bench/premises.png``.

The loop runs with ``RIG_DES_BUSY_CAP=0.005`` (unless set): without it a hundred premises' CPU on one
loop eats their hosts' 30 s open and ASH ack timeouts in real time, and N = 100 fails.

Targets (issue 15): per-premises cost at N = 100 within 1.2x of N = 1; < 2 MB per emulated dongle.

Run: ``.venv/bin/python -m bench.premises [N ...]`` (default 1 10 100), or via ``make bench``.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DONGLES_PER_PREMISES = 3
BUSY_CAP = 0.005     # rig.des busy_cap: a pass over N premises' callbacks counts at most 5 ms of loop time
COST_TARGET = 1.2
MB_PER_DONGLE_TARGET = 2.0
ROOT = Path(__file__).resolve().parents[1]


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0  # pragma: no cover


def _reset_peak() -> None:
    """Start VmHWM (peak RSS) afresh, so the warm-up's own peak is not counted (Linux clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # pragma: no cover - not Linux, or not allowed
        pass


def one(n: int) -> dict:
    """Run N premises at once in this process; the figures as a dict."""
    import asyncio

    from rig import des
    from rig.atomic import scratch_dir
    from rig.cputime import crypto_seconds
    from rig.premises import sim_premises
    from rig.scenarios.secmp0037 import run

    async def pair(work: Path):
        premises = await sim_premises(work)
        try:
            return await run(premises, policy="secmp0037", ppmid_delay=0.0)
        finally:
            await premises.close()

    async def main(count: int, tmp: Path):
        return await asyncio.gather(*(pair(tmp / f"p{i}") for i in range(count))), des.stats()

    with tempfile.TemporaryDirectory(prefix="bench-premises-", dir=scratch_dir()) as tmp:
        des.run(main(1, Path(tmp) / "warm"))      # imports, curve tables, first-use caches
        gc.collect()
        _reset_peak()
        base_mb = _status_mb("VmRSS")
        t0, c0, k0 = time.perf_counter(), time.process_time(), crypto_seconds()
        results, stats = des.run(main(n, Path(tmp) / "run"))
        wall, cpu, crypto = time.perf_counter() - t0, time.process_time() - c0, crypto_seconds() - k0
    peak_mb = _status_mb("VmHWM")
    return {"n": n, "paired": sum(r.outcome == "paired" and all(r.checks.values()) for r in results),
            "wall_s": wall, "cpu_s": cpu, "crypto_s": crypto, "base_mb": base_mb, "peak_mb": peak_mb,
            "mb_per_dongle": max(0.0, peak_mb - base_mb) / (n * DONGLES_PER_PREMISES), "loop": stats}


def measure(n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("RIG_DES_BUSY_CAP", str(BUSY_CAP))
    out = subprocess.run([sys.executable, "-m", "bench.premises", "--one", str(n)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        last = [line for line in out.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        for line in out.stderr.splitlines():
            if "Error:" in line and "Traceback" not in line:
                last = [line]
                break
        return {"n": n, "error": last[0].strip()[:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ns = [r["n"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ns, [r["wall_s"] / r["n"] for r in rows], "o-", label="wall / premises")
    ax1.plot(ns, [r["cpu_s"] / r["n"] for r in rows], "s-", label="CPU / premises")
    ax1.plot(ns, [r["crypto_s"] / r["n"] for r in rows], "^-", label="crypto CPU / premises")
    ax1.set_xscale("log")
    ax1.set_xlabel("premises paired at once (N)")
    ax1.set_ylabel("seconds per premises")
    ax1.legend()
    ax1.grid(True, alpha=0.3)
    ax2.plot(ns, [r["mb_per_dongle"] for r in rows], "o-", color="tab:red")
    ax2.axhline(MB_PER_DONGLE_TARGET, linestyle="--", color="grey", label=f"target {MB_PER_DONGLE_TARGET} MB")
    ax2.set_xscale("log")
    ax2.set_xlabel("premises paired at once (N)")
    ax2.set_ylabel("peak RSS per emulated dongle (MB)")
    ax2.legend()
    ax2.grid(True, alpha=0.3)
    fig.suptitle("SECMP0037 premises on emulated dongles (rig.des discrete-event time)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(ns: tuple[int, ...] = (1, 10, 100)) -> list[dict]:
    measured = [measure(n) for n in ns]
    rows = [r for r in measured if "error" not in r]
    print(f"premises at once ({os.cpu_count()} cores; each its own air; one process, one loop):")
    print(f"  {'N':>4} {'paired':>6} {'wall s':>8} {'CPU s':>8} {'wall/N':>8} {'CPU/N':>8} {'crypto/N':>8} "
          f"{'MB/dongle':>9}")
    for r in rows:
        n = r["n"]
        print(f"  {n:>4} {r['paired']:>6} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} {r['wall_s'] / n:>8.3f} "
              f"{r['cpu_s'] / n:>8.3f} {r['crypto_s'] / n:>8.3f} {r['mb_per_dongle']:>9.2f}")
    for r in measured:
        if "error" in r:
            print(f"  {r['n']:>4} failed: {r['error']}")
    if not rows:
        return measured
    first, last = rows[0], rows[-1]
    growth = (last["wall_s"] / last["n"]) / (first["wall_s"] / first["n"])
    worst_mb = max(r["mb_per_dongle"] for r in rows)
    print(f"  targets: wall/N at N={last['n']} vs N={first['n']}: {growth:.2f}x "
          f"(<= {COST_TARGET}x: {'met' if growth <= COST_TARGET else 'MISSED'}); "
          f"peak per dongle {worst_mb:.2f} MB (< {MB_PER_DONGLE_TARGET} MB: "
          f"{'met' if worst_mb < MB_PER_DONGLE_TARGET else 'MISSED'})")
    path = plot(rows, ROOT / "artifacts" / "bench" / "premises.png")
    print(f"  plot: {path}" if path else "  plot: matplotlib not installed")
    return measured


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--one"]:
        print(json.dumps(one(int(args[1]))))
    else:
        main(tuple(int(a) for a in args) or (1, 10, 100))
