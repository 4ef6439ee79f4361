"""Benches made of emulated dongles for the hardware-path tests: ``rig sim up`` in another process (as
ser2net serves real dongles) and the inventory text naming what it served.  Import as
``from benches import ...`` (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PPMID_A, PPMID_B = "00DB5A5A5A5A0A01", "00DB5A5A5A5A0B02"


def env() -> dict[str, str]:
    """This checkout first on PYTHONPATH; no xdist worker or addopts leaking into a child pytest."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [out.get("PYTHONPATH")])])
    out.pop("PYTEST_XDIST_WORKER", None)
    out.pop("PYTEST_ADDOPTS", None)
    return out


def rig(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], check=False, cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def bench_pytest(lab: Path, tests: list[str], artifacts: Path, *, timeout: float) -> tuple[subprocess.CompletedProcess, str]:
    """``pytest --rig=LAB -m hardware TESTS`` in a child process; returns it and the tail of its output."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:labgrid",
                          "-p", "no:xdist", "-rfEs", f"--rig={lab}", "-m", "hardware", f"--rig-artifacts={artifacts}",
                          *tests], check=False, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    return run, run.stdout[-5000:] + run.stderr[-2000:]


@contextlib.contextmanager
def sim_up(*args: str, lines: int):
    """``rig sim up ARGS`` in another process; yields ``{name: url}`` of its first ``lines`` lines, and
    stops it (SIGINT, as an engineer would) at the end."""
    up = subprocess.Popen([sys.executable, "-m", "rig.cli", "sim", "up", *args], cwd=ROOT, env=env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield dict(up.stdout.readline().split() for _ in range(lines))
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(20)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


def external_ch_inventory(urls: dict[str, str], *, policy: str, pki: str, power: str | None = None) -> str:
    """An inventory whose CH is external: the rig's esme, ppmid and attacker dongles, the sniffer stream, and
    ``external_ch`` with the CH's PKI, its control line as WAN and, given, a power command."""
    text = f"""\
dongles:
  esme-dongle: {{port: "{urls['esme']}", role: esme}}
  ppmid-dongle: {{port: "{urls['ppmid']}", role: ppmid, eui64s: ["{PPMID_A}", "{PPMID_B}"]}}
  attacker-dongle: {{port: "{urls['attacker']}", role: attacker}}
roles: [esme, ppmid]
sniffer: {{url: "{urls['sniffer']}"}}
external_ch:
  policy: {policy}
  pki: {pki}
  wan: "{urls['ch-dut']}"
"""
    return text + (f'  power: {{command: "{power}"}}\n' if power else "")
