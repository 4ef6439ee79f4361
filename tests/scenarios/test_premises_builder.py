"""The premises builder on the backend abstraction (``rig.backend``): identities and install codes are
read from the dongles over EZSP, as they are from real dongles named by an inventory."""

from __future__ import annotations

from rig.backend import SimBackend
from rig.premises import Premises
from rig.scenarios.secmp0037 import run
from rig.zigbee.install_code import install_code_from_token, with_crc

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


SETTINGS = {"ch": {"baudrate": 460800, "flow_control": "hardware"}, "esme": {"baudrate": 115200, "flow_control": None},
            "ppmid": {"baudrate": 57600, "flow_control": "software"},
            "attacker": {"baudrate": 230400, "flow_control": None}}


class _InventoryLikeBackend(SimBackend):
    """Emulated dongles with the per-dongle serial settings an inventory would give."""

    def serial_settings(self, role):
        return SETTINGS[role]


async def test_every_dongle_is_opened_through_the_backend_with_its_serial_settings(tmp_path, monkeypatch):
    import rig.power

    opened, original = [], rig.power.open_when_ready

    async def recording(path, **kwargs):
        opened.append((path, {k: kwargs[k] for k in ("baudrate", "flow_control")}))
        return await original(path, **kwargs)

    monkeypatch.setattr(rig.power, "open_when_ready", recording)
    backend = _InventoryLikeBackend(state_dir=tmp_path / "nv")
    premises = Premises(backend, tmp_path / "premises")
    try:
        await premises.setup()
        ch = premises.ch("secmp0037")
        await ch.power_on()
        attacker = await premises.open("attacker")        # an extra dongle a test asks for
        await attacker.getEui64()
        await ch.power_off()
        urls = {role: await backend.dongle_path(role) for role in SETTINGS}
    finally:
        await premises.close()
    by_url = {url: role for role, url in urls.items()}
    assert [by_url[path] for path, _ in opened] == ["ch", "esme", "ppmid", "ch", "attacker"]
    assert all(kw == SETTINGS[by_url[path]] for path, kw in opened)
    assert premises._open == []                          # every connection it opened was closed


async def test_extra_dongles_share_the_premises_air_and_its_one_capture(tmp_path):
    backend = SimBackend(state_dir=tmp_path / "nv", pcap=tmp_path / "run.pcap")
    premises = Premises(backend, tmp_path / "premises")
    try:
        await premises.setup()
        await premises.open("hht2")
        await premises.open("attacker")
        assert premises.air is backend.air
        assert {"ch", "esme", "ppmid", "hht2", "attacker"} <= set(backend.air.radios)
        assert premises.pcap == tmp_path / "run.pcap"
    finally:
        await premises.close()


class _BenchLikeBackend(SimBackend):
    hardware = True           # what an inventory's backend says: its dongles keep state between tests


async def test_an_extra_dongle_on_a_bench_is_factory_reset_once_per_premises(tmp_path, monkeypatch):
    from rig.roles.ezsp_role import EzspRole

    resets = []
    original = EzspRole.factory_reset

    async def recording(self):
        resets.append(self.name)
        await original(self)
    monkeypatch.setattr(EzspRole, "factory_reset", recording)
    backend = _BenchLikeBackend(state_dir=tmp_path / "nv")
    premises = Premises(backend, tmp_path / "premises")
    try:
        await premises.setup()
        for _ in range(2):
            await premises.disconnect(await premises.open("attacker"))
    finally:
        await premises.close()
    assert resets == ["premises/ch", "premises/esme", "premises/ppmid", "premises/attacker"]


async def test_a_dongle_that_cannot_play_its_role_is_refused_at_start_up(tmp_path):
    """Issue 13: a dongle built without the CBKE library is named before any role runs."""
    import pytest

    from rig.backend import SIM_EUI64S, SimBackend
    from rig.premises import Premises, PremisesError

    backend = SimBackend(state_dir=tmp_path / "nv")
    backend.lab.add("esme", eui64=SIM_EUI64S["esme"], cbke_library=False)
    premises = Premises(backend, tmp_path)
    try:
        with pytest.raises(PremisesError, match=r"the esme dongle \(0052494700000003\) cannot play its role: "
                                                r"the firmware was built without the CBKE 283k1 library"):
            await premises.setup()
    finally:
        await premises.close()
