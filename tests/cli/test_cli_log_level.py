"""``rig --log-level``: what the rig's modules, the emulated NCPs and the host stack log reaches stderr
only from the level asked for (default error), with its level and logger named; a bad level is one line."""

from __future__ import annotations

import os
import subprocess
import sys

from cli_checks import assert_one_line_error, invoke

# a warning the emulated NCP logs when a host goes away at the end of an attack (expected, not a fault)
EMIT = ("import logging, sys; from rig import cli; cli._logging(sys.argv[1]); "
        "logging.getLogger('firmware_shims.ncp.ash').warning('host stopped acknowledging; ASH link failed'); "
        "logging.getLogger('bellows.ezsp').error('a dongle that answers nothing')")


def _stderr(level: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "RIG_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", EMIT, level], env=env, capture_output=True, text=True,
                          check=True).stderr


def test_default_level_keeps_expected_warnings_off_stderr():
    assert _stderr("error") == "ERROR bellows.ezsp: a dongle that answers nothing\n"


def test_warning_level_shows_them_with_level_and_logger():
    assert _stderr("warning").splitlines() == [
        "WARNING firmware_shims.ncp.ash: host stopped acknowledging; ASH link failed",
        "ERROR bellows.ezsp: a dongle that answers nothing",
    ]


def test_a_bad_level_is_one_line_naming_it():
    assert_one_line_error(invoke("--log-level", "loud", "attack", "list"), "--log-level", "loud", "debug, info")
