"""The ``rig`` command line.  Each area registers its own commands (see ``REGISTRARS``).

A registrar is a module with ``register(app: typer.Typer) -> None``; keep command code beside the
layer it drives (e.g. ``rig/gbcs/cli.py``) and list the module here.
"""

from __future__ import annotations

import importlib

import typer

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

for _module in REGISTRARS:
    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
