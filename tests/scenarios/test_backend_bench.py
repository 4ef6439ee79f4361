"""The scenario on the project's backend abstraction (``rig.backend``): identities and install codes are
read from the dongles over EZSP, as they would be from real dongles named by an inventory."""

from __future__ import annotations

import os

from rig.backend import SimBackend
from rig.cbke.ca import TestCa
from rig.scenarios.bench import BackendBench, install_code_from_token
from rig.scenarios.secmp0037 import run
from rig.zigbee.install_code import with_crc

EUIS = {"ch": "00DB5A5A5A5A0C01", "esme": "00DB5A5A5A5A0E02", "ppmid": "00DB5A5A5A5A0A03"}


def test_install_code_token_layout():
    code = bytes(range(16))
    assert install_code_from_token(b"\x06\x00" + code + b"\x12\x34") == code
    assert install_code_from_token(b"\x02\x00" + code[:8] + b"\xff" * 8 + b"\x12\x34") == code[:8]
    assert install_code_from_token(b"\xff" * 20) is None


async def test_scenario_on_a_backend_reads_identities_from_the_dongles(tmp_path):
    backend = SimBackend(state_dir=tmp_path / "nv", eui64s=EUIS, pcap=tmp_path / "run.pcap")
    ca = TestCa.create()
    for role, eui in EUIS.items():                      # the factory: certificate and install code tokens
        dongle = backend.dongle(role)
        dongle.node.install_cbke_token(ca.issue(bytes.fromhex(eui)).to_json())
        dongle.nv.state.install_code = with_crc(os.urandom(16)).hex().upper()
        dongle.nv.save()
    bench = await BackendBench(backend, tmp_path / "bench", install_code_b=os.urandom(16)).setup()
    try:
        assert (bench.ids.gpf, bench.ids.esme, bench.ids.hht) == (EUIS["ch"], EUIS["esme"], EUIS["ppmid"])
        result = await run(bench, policy="gbcs", ppmid_delay=59 * 60 + 59)
    finally:
        await bench.close()
    assert result.outcome == "paired" and all(result.checks.values()), result.checks
