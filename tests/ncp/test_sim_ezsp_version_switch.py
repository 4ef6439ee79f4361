"""One switch gives every emulated dongle of a run the same firmware: ``pytest --rig-ezsp-version N`` (or
``RIG_SIM_EZSP_VERSION=N``) is what ``make test-v13`` uses to run the dongle tests on EmberZNet 7.4."""

from __future__ import annotations

import pytest

from rig.sim import EZSP_VERSION_ENV, SimError, SimLab, default_ezsp_version


def test_the_environment_switch_sets_every_new_dongles_firmware(monkeypatch):
    monkeypatch.setenv(EZSP_VERSION_ENV, "13")
    lab = SimLab()
    dongle = lab.add("ch")
    assert lab.ezsp_version == 13 and dongle.ezsp.firmware_version == 13
    assert lab.firmware()["ch"].startswith("EmberZNet 7.4")


def test_a_caller_that_names_a_version_wins_over_the_switch(monkeypatch):
    monkeypatch.setenv(EZSP_VERSION_ENV, "13")
    assert SimLab(ezsp_version=14).add("ch").ezsp.firmware_version == 14


def test_without_the_switch_dongles_get_the_emulators_default(monkeypatch):
    from firmware_shims.ncp.ezsp import DEFAULT_VERSION

    monkeypatch.delenv(EZSP_VERSION_ENV, raising=False)
    assert default_ezsp_version() is None
    assert SimLab().add("ch").ezsp.firmware_version == DEFAULT_VERSION


@pytest.mark.parametrize(("text", "says"), [("thirteen", "not an EZSP version number"), ("7", "is not emulated")])
def test_a_bad_switch_value_is_one_clear_error(monkeypatch, text, says):
    monkeypatch.setenv(EZSP_VERSION_ENV, text)
    with pytest.raises(SimError, match=says):
        SimLab()
