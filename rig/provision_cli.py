"""``rig provision INVENTORY``: what every dongle of a bench needs before ``pytest --rig=INVENTORY``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("provision")
    def provision_cmd(
        inventory: Path = typer.Argument(..., help="The bench's inventory (YAML)."),
        burn: bool = typer.Option(False, "--burn", help="Allow writing the WRITE-ONCE manufacturing tokens (CBKE "
                                                        "data, install code, custom EUI-64). Can never be undone."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        timeout: float = typer.Option(20.0, help="Seconds each dongle may take to answer."),
    ) -> None:
        """Install codes and CBKE certificates (from the bench's test CA) into every dongle, and, beside the
        inventory (INVENTORY.provisioned/), the test CA, token files, labels (the PPMID's identity B) and the
        GBCS test key store.  Re-running keeps what is there.  Exits 1 if a dongle could not be provisioned."""
        from rig.inventory import InventoryError, load_inventory
        from rig.provision import provision, provision_dir

        try:
            loaded = load_inventory(inventory)
        except (InventoryError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if burn and not yes and not typer.confirm(
                "Write-once tokens (CBKE data, install codes, custom EUI-64s) will be written where they are "
                "erased; that can never be undone. Go on?", default=False):
            typer.echo("nothing written")
            raise typer.Exit(1)
        from rig.provision import ProvisionError

        try:
            result = asyncio.run(provision(loaded, inventory, burn=burn, timeout=timeout, say=typer.echo))
        except ProvisionError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"{len(result.done)} dongle(s) provisioned, {len(result.failed)} failed; files in "
                   f"{provision_dir(inventory)}")
        if result.failed:
            raise typer.Exit(1)
