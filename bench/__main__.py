"""``make bench``: run every benchmark module that exists and print its figures."""

import importlib

for name in ("bench.ncp", "bench.air", "bench.cbke", "bench.scenario", "bench.premises"):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        continue
    module.main()
