"""The ``rig`` command line.  Each area registers its own commands (see ``REGISTRARS``).

A registrar is a module with ``register(app: typer.Typer) -> None``; keep command code beside the
layer it drives (e.g. ``rig/gbcs/cli.py``) and list the module here.
"""

from __future__ import annotations

import importlib
import logging
import os

import typer

from rig.cli_common import fail

REGISTRARS: list[str] = [
    "rig.attack_cli",
    "rig.cbke.cli",
    "rig.gbcs.cli",
    "rig.lab_cli",
    "rig.provision_cli",
    "rig.scenario_cli",
    "rig.sim_cli",
    "rig.sniff",
]

app = typer.Typer(
    name="rig",
    help="ZigBee hardware-in-the-loop rig for GB smart-metering CH local pairing (SECMP0037).",
    no_args_is_help=True,
    add_completion=False,
)

LOG_LEVELS = ("debug", "info", "warning", "error")


@app.callback()
def _logging(
    log_level: str = typer.Option(
        os.environ.get("RIG_LOG_LEVEL", "error"), "--log-level", metavar="|".join(LOG_LEVELS),
        help="what the rig's modules, the emulated NCPs, bellows and zigpy log to stderr "
             "(default error, or RIG_LOG_LEVEL); results and refusals are printed whatever it is",
    ),
) -> None:
    level = log_level.lower()
    if level not in LOG_LEVELS:
        fail(f"--log-level {log_level!r}: not one of {', '.join(LOG_LEVELS)}")
    # An emulated NCP notices a host that stopped acknowledging, bellows a dongle that reset: expected in
    # attacks and power cycles, noise at a bench unless asked for.  Python's last-resort handler would
    # print every such warning bare; this gives them a level and a name.
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(levelname)s %(name)s: %(message)s")


for _module in REGISTRARS:
    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
