"""``rig cbke ...``: the suite-2 test CA and the CBKE token files emulated dongles load.

* ``rig cbke ca init DIR`` -- make a test CA key in ``DIR/ca.json``;
* ``rig cbke issue DIR --eui64 HEX --out FILE`` -- certificate + private key for one device, written
  as a token file (JSON, hex ``certificate``, ``caPublicKey``, ``privateKey``) that an emulated dongle
  loads into its MFG_CBKE_283K1_DATA token;
* ``rig cbke show FILE`` -- decode a token file and check that its key pair matches the certificate;
* ``rig cbke install PORT FILE --burn`` -- write a token into a dongle's write-once MFG_CBKE_283K1_DATA
  over EZSP and read it back (``rig.cbke.install``; refused without ``--burn``, like ``rig write-eui64``).
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

    @cbke.command("install")
    def install(
        port: Annotated[str, typer.Argument(help="Dongle path or URL (tcp://, socket://, rfc2217://, /dev/...).")],
        file: Annotated[Path, typer.Argument(help="A suite-2 token file (from `rig cbke issue`).")],
        burn: Annotated[bool, typer.Option("--burn", help="Allow writing the WRITE-ONCE CBKE token (and, when "
                                           "the certificate names another EUI-64, the write-once custom EUI-64). "
                                           "Can never be undone.")] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for the dongle.")] = 15.0,
        baudrate: Annotated[int, typer.Option(help="Baud rate for serial ports.")] = 115200,
        flow_control: Annotated[str, typer.Option(help="none, software or hardware.")] = "none",
    ) -> None:
        """Install a CBKE certificate and keys into a dongle's manufacturing token over EZSP, then read them
        back (exit 0 also when the dongle already holds this certificate; 1 refused; 2 dongle error)."""
        import asyncio

        from bellows.exception import EzspError

        from rig.cbke.install import CbkeInstallError, install_and_read_back, plan_cbke_install
        from rig.inventory import check_port
        from rig.power import PowerError, open_when_ready

        problem = check_port(port)
        if problem:
            raise typer.BadParameter(problem, param_hint="PORT")
        if flow_control not in ("none", "software", "hardware"):
            raise typer.BadParameter(f"{flow_control!r} is not one of none, software, hardware")
        try:
            token = load_token(file)
        except (OSError, ValueError, KeyError) as exc:
            _fail(f"cannot read token file {file}: {exc}")
        flow = None if flow_control == "none" else flow_control
        with asyncio.Runner() as runner:
            try:
                ezsp = runner.run(open_when_ready(port, baudrate=baudrate, flow_control=flow, timeout=timeout))
            except PowerError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            try:
                plan = runner.run(plan_cbke_install(ezsp, port, token, burn=burn))
                if plan.method == "nothing":
                    typer.echo(plan.reason)
                    return
                if plan.method == "refuse":
                    typer.echo(f"refused: {port}: {plan.reason}", err=True)
                    raise typer.Exit(1)
                typer.echo(f"{port}: CBKE certificate for {plan.subject} (device {plan.device})")
                typer.echo(f"writes: {plan.reason}")
                typer.echo("WARNING: these manufacturing tokens are write-once; this can never be undone.")
                if not yes and not typer.confirm("Write it?", default=False):
                    typer.echo("nothing written")
                    raise typer.Exit(1)
                runner.run(install_and_read_back(ezsp, token, plan))
            except (CbkeInstallError, EzspError, TimeoutError) as exc:
                typer.echo(f"error: {port}: {str(exc) or type(exc).__name__}", err=True)
                raise typer.Exit(2) from None
            finally:
                runner.run(ezsp.disconnect())
        extra = f"; custom EUI-64 {plan.subject} from the next boot" if plan.burns_eui64 else ""
        typer.echo(f"installed and read back: certificate for {plan.subject}{extra}")

    return cbke


def register(app: typer.Typer) -> None:
    app.add_typer(build_app(), name="cbke")
