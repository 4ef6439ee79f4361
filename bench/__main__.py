"""``make bench``: run every benchmark module that exists and print its figures.

The first line names the machine's load (``os.getloadavg``): other processes on the same cores slow
every wall-clock figure below, and a figure is only comparable with one printed under a similar load.

Each module runs in a process of its own (``python -m bench.NAME``), so one bench's leftovers (twenty
dongles' objects, a pool of workers, open sockets) do not weigh on the next one's figures."""

import importlib.util
import os
import subprocess
import sys

MODULES = ("bench.ncp", "bench.air", "bench.cbke", "bench.scenario", "bench.premises")


def main() -> int:
    print(f"bench: {os.cpu_count()} cores, load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(1 / 5 / 15 min) at the start", flush=True)
    failed = []
    for name in MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        if subprocess.run([sys.executable, "-m", name], check=False).returncode != 0:
            failed.append(name)
    print(f"bench: load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    if failed:
        print(f"bench: {', '.join(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


sys.exit(main())
