"""``rig cbke ...``: the suite-2 test CA and the CBKE token files emulated dongles load.

* ``rig cbke ca init DIR`` -- make a test CA key in ``DIR/ca.json``;
* ``rig cbke issue DIR --eui64 HEX --out FILE`` -- certificate + private key for one device, written
  as a token file (JSON, hex ``certificate``, ``caPublicKey``, ``privateKey``) that an emulated dongle
  loads into its MFG_CBKE_283K1_DATA token;
* ``rig cbke show FILE`` -- decode a token file and check that its key pair matches the certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rig.cbke import crypto
from rig.cbke.ca import DEFAULT_ISSUER, DEFAULT_KEY_USAGE, TestCa, parse_eui64
from rig.cbke.certificate import VALID_TO_NO_EXPIRY
from rig.cbke.token import load_token


def _hex_int(text: str, what: str, size: int) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise typer.BadParameter(f"{what} must be hex, got {text!r}") from None
    if not 0 <= value < 1 << (8 * size):
        raise typer.BadParameter(f"{what} must fit {size} byte(s)")
    return value


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def build_app() -> typer.Typer:
    cbke = typer.Typer(
        help="CBKE (SE key establishment, suite 2): test CA and token files.", no_args_is_help=True
    )
    ca_app = typer.Typer(help="The test certificate authority.", no_args_is_help=True)
    cbke.add_typer(ca_app, name="ca")

    @ca_app.command("init")
    def ca_init(
        directory: Annotated[Path, typer.Argument(help="Directory for ca.json (created if missing).")],
        issuer: Annotated[str, typer.Option(help="8-byte issuer id, hex.")] = DEFAULT_ISSUER.hex().upper(),
        force: Annotated[bool, typer.Option(help="Replace an existing CA key.")] = False,
    ) -> None:
        """Create a test CA key (sect283k1) in DIRECTORY/ca.json."""
        try:
            ca = TestCa.create(parse_eui64(issuer))
            path = ca.save(directory, overwrite=force)
        except (ValueError, FileExistsError) as exc:
            _fail(f"{exc}{' (use --force to replace it)' if isinstance(exc, FileExistsError) else ''}")
        typer.echo(f"test CA {ca.issuer.hex().upper()} written to {path}")
        typer.echo(f"CA public key: {ca.public_key.hex().upper()}")

    @cbke.command("issue")
    def issue(
        directory: Annotated[Path, typer.Argument(help="The CA directory (from `rig cbke ca init`).")],
        eui64: Annotated[str, typer.Option("--eui64", help="Subject EUI64, hex, most significant first.")],
        out: Annotated[Path, typer.Option("--out", help="Token file to write (JSON).")],
        serial: Annotated[
            str | None, typer.Option(help="8-byte serial number, hex (random if unset).")
        ] = None,
        valid_from: Annotated[int, typer.Option(help="Valid-from, Unix seconds.")] = 0,
        valid_to: Annotated[
            str, typer.Option(help="Seconds after valid-from, hex; FFFFFFFF = no expiry.")
        ] = f"{VALID_TO_NO_EXPIRY:08X}",
        key_usage: Annotated[
            str, typer.Option(help="Key-usage byte, hex (08 key agreement, 80 signature).")
        ] = f"{DEFAULT_KEY_USAGE:02X}",
    ) -> None:
        """Issue a suite-2 certificate and private key for one device, as a token file."""
        try:
            ca = TestCa.load(directory)
            subject = parse_eui64(eui64)
            serial_bytes = parse_eui64(serial) if serial is not None else None
        except (ValueError, FileNotFoundError) as exc:
            _fail(str(exc))
        if not 0 <= valid_from < 1 << 40:
            raise typer.BadParameter("valid-from must fit 5 bytes")
        token = ca.issue(
            subject,
            serial=serial_bytes,
            valid_from=valid_from,
            valid_to=_hex_int(valid_to, "valid-to", 4),
            key_usage=_hex_int(key_usage, "key-usage", 1),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        token.save(out)
        typer.echo(
            f"certificate for {subject.hex().upper()} from CA {ca.issuer.hex().upper()} written to {out}"
        )

    @cbke.command("show")
    def show(file: Annotated[Path, typer.Argument(help="A token file.")]) -> None:
        """Decode a token file and check its key pair against the certificate."""
        try:
            token = load_token(file)
        except (OSError, ValueError, KeyError) as exc:
            _fail(f"cannot read token file {file}: {exc}")
        suite = token.SUITE
        cert = suite.certificate.decode(token.certificate)
        typer.echo(f"suite {suite.number} ({suite.curve.name}) token, flags 0x{token.flags:02X}")
        for name, value in vars(cert).items():
            shown = value.hex().upper() if isinstance(value, bytes) else f"0x{value:X}"
            typer.echo(f"  {name:<26} {shown}")
        for problem in cert.problems():
            typer.echo(f"  warning: {problem}")
        try:
            d = crypto.decode_private_key(suite, token.private_key)
            ok = crypto.reconstruct_public_key(
                suite, token.certificate, token.ca_public_key
            ) == crypto.public_key(suite, d)
        except crypto.CbkeCryptoError as exc:
            _fail(f"unusable key material: {exc}")
        typer.echo(f"  key pair matches certificate and CA key: {'yes' if ok else 'NO'}")
        if not ok:
            raise typer.Exit(1)

    return cbke


def register(app: typer.Typer) -> None:
    app.add_typer(build_app(), name="cbke")
