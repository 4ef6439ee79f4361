"""The premises builder on the backend abstraction (``rig.backend``): identities and install codes are
read from the dongles over EZSP, as they are from real dongles named by an inventory."""

from __future__ import annotations

from rig.backend import SimBackend
from rig.premises import Premises, install_code_from_token
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
    premises = Premises(backend, tmp_path / "premises")
    try:
        await premises.setup()
        ids = premises.ids
        assert (ids.gpf, ids.esme, ids.hht) == (EUIS["ch"], EUIS["esme"], EUIS["ppmid"])
        for role, entity in (("esme", ids.esme), ("ppmid", ids.hht)):     # what the factory flashed
            assert with_crc(ids.install_codes[entity]).hex() == backend.dongle(role).nv.state.install_code
        result = await run(premises, policy="gbcs", ppmid_delay=59 * 60 + 59)
    finally:
        await premises.close()
    assert result.outcome == "paired" and all(result.checks.values()), result.checks
