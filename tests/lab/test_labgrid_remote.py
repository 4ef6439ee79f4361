"""labgrid's own coordinator and exporter on loopback: the exporter exports an emulated dongle's TCP
port as a NetworkSerialPort, a client acquires the place, and the rig's RemotePlace environment finds
the port through the coordinator, its EzspDriver's url opened by bellows.  No ser2net: the exporter
publishes a NetworkSerialPort as it is (ser2net serves only USB/RawSerialPort exports)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_labgrid_env import on_real_loop, read_eui64

from rig.backend import LabgridBackend

BIN = Path(sys.executable).parent
WAIT = 60.0          # bound on each process coming up (seconds)


class Service:
    """A labgrid process this test started, ended by its own pid at teardown."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []

    def wait_for(self, start: str) -> str:
        """The first output line starting with ``start`` (a readline loop: the process itself paces it)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if line.startswith(start):
                return line.strip()
        raise AssertionError(f"{self.argv[0]} never printed {start!r}: {self.lines[-10:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def client(address: str, *args: str, cwd: Path) -> str:
    done = subprocess.run([str(BIN / "labgrid-client"), "-x", address, *args], check=False, cwd=cwd, capture_output=True,
                          text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def coordinator(tmp_path):
    work = tmp_path / "coordinator"
    work.mkdir()
    service = Service([str(BIN / "labgrid-coordinator"), "-l", "127.0.0.1:0"], work)
    try:
        service.address = service.wait_for("listening on ").split()[-1]
        yield service
    finally:
        service.stop()


def test_an_exported_emulated_dongle_is_acquired_through_a_remote_place(dongles, coordinator, tmp_path, pytester):
    ch = dongles.start("ch", transport="tcp")
    port = int(ch.url.rsplit(":", 1)[1])
    (tmp_path / "exporter.yaml").write_text(textwrap.dedent(f"""\
        zigbee-bench:
          ch-serial:
            cls: NetworkSerialPort
            host: 127.0.0.1
            port: {port}
            protocol: raw
        """))
    exporter = Service([str(BIN / "labgrid-exporter"), "-c", coordinator.address, "-n", "bench-host",
                        "--hostname", "127.0.0.1", "exporter.yaml"], tmp_path)
    try:
        exporter.wait_for("Exporter ready")
        deadline = time.monotonic() + WAIT       # the exporter registers its resources after connecting
        while "bench-host/zigbee-bench/NetworkSerialPort" not in client(coordinator.address, "resources", cwd=tmp_path):
            assert time.monotonic() < deadline, "the exporter's resource never reached the coordinator"
        client(coordinator.address, "-p", "bench", "create", cwd=tmp_path)
        client(coordinator.address, "-p", "bench", "add-match", "bench-host/zigbee-bench/*", cwd=tmp_path)
        env = tmp_path / "env.yaml"
        env.write_text(textwrap.dedent(f"""\
            options:
              coordinator_address: {coordinator.address}
            imports: [rig.labgrid]
            targets:
              bench:
                resources:
                  RemotePlace: {{name: bench}}
                drivers:
                  - EzspDriver: {{name: ch, eui64: "{ch.nv.state.effective_eui64()}", bindings: {{port: ch-serial}}}}
            """))
        # before the place is acquired: one line naming the file, the target and what to do (in a
        # process of its own: a labgrid client session keeps the place's state it saw first)
        pytester.makepyfile(test_bench="def test_a(): pass\n")
        refused = pytester.runpytest_subprocess(f"--rig=labgrid:{env}")
        assert refused.ret == pytest.ExitCode.USAGE_ERROR
        refused.stderr.fnmatch_lines([(f"ERROR: --rig=labgrid:{env}: {env}: targets.bench: place bench is not "
                                      "acquired (labgrid-client -p PLACE acquire)")])

        client(coordinator.address, "-p", "bench", "acquire", cwd=tmp_path)
        backend = LabgridBackend.from_env(env)
        url = on_real_loop(backend.dongle_path("ch"))
        assert url == f"socket://127.0.0.1:{port}"
        dongle = backend.dongle("ch")
        assert (dongle.place, dongle.serial_resource) == ("bench", "ch-serial")
        assert on_real_loop(read_eui64(url, backend.serial_settings("ch"))) == ch.nv.state.effective_eui64()
        assert ch.connections >= 1
        backend.labgrid.close()
        client(coordinator.address, "-p", "bench", "release", cwd=tmp_path)
    finally:
        exporter.stop()
