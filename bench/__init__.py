"""Benchmarks: `make bench` prints measured figures and ratios (no timed tests)."""
