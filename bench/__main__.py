"""``make bench``: run every benchmark module that exists and print its figures.

The first line names the machine's load (``os.getloadavg``): other processes on the same cores slow
every wall-clock figure below, and a figure is only comparable with one printed under a similar load."""

import importlib
import os

print(f"bench: {os.cpu_count()} cores, load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} "
      "(1 / 5 / 15 min) at the start")
for name in ("bench.ncp", "bench.air", "bench.cbke", "bench.scenario", "bench.premises"):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        continue
    module.main()
print(f"bench: load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
