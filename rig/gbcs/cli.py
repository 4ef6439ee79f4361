"""``rig gbcs ...`` and ``rig install-code``: decode messages, make test key stores and bundles."""

from __future__ import annotations

import enum
import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from rig.zigbee import install_code as ic

from .builder import GBZ_EPOCH
from .bundle import (
    Bundle,
    BundleError,
    duis_response_xml,
    generate_bundle,
    import_file,
    is_critical,
    read_gbcs,
)
from .fields import DecodeError
from .keystore import KeyStore, KeyStoreError, create_test_store
from .message import Cra, Message
from .usecases import ALERT_CODES, DLMS_RESULTS, JOIN_RESULTS, UNJOIN_RESULTS, USE_CASES, decode_payload
from .validate import Reason, check_with_store


def _dlms_date_time(b: bytes) -> str:
    year, month, day, hour, minute, second = int.from_bytes(b[:2], "big"), b[2], b[3], b[5], b[6], b[7]
    if year == 0xFFFF or not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        return b.hex().upper()
    return f"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02} ({b.hex().upper()})"


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.IntEnum):
        return value.name
    if isinstance(value, bytes):
        return value.hex().upper()
    return value


def _meaning(use_case: str, name: str, value: Any) -> str | None:
    if isinstance(value, enum.IntEnum):
        return f"= {int(value)}"
    if name == "invoke_id":
        return f"0x{value:08X} (0x20 ‖ low 24 bits of the counter)"
    if name == "join_timeout":
        return "minutes [I]"
    if name.endswith("_result") and name != "result":
        return DLMS_RESULTS.get(value)
    if name == "result":
        return (UNJOIN_RESULTS if use_case.startswith("CS04") else JOIN_RESULTS).get(value)
    if name == "alert_code":
        return f"0x{value:04X} {ALERT_CODES.get(value, '')}".rstrip()
    if name == "timestamp":
        return (GBZ_EPOCH + timedelta(seconds=value)).isoformat()
    if isinstance(value, bytes) and len(value) > 1 and all(32 <= c < 127 for c in value):
        return f"ASCII {value.decode()!r}"
    return None


def describe(data: bytes, keys: KeyStore | None = None) -> dict[str, Any]:
    """Every field a GBCS engineer looks for, JSON-ready; ``reason`` names the first problem found."""
    out: dict[str, Any] = {"length": len(data), "reason": None, "detail": None}
    try:
        m = Message.from_bytes(data)
    except (DecodeError, ValueError) as e:
        return {**out, "reason": Reason.MALFORMED.value, "detail": str(e)}
    uc = USE_CASES.get(m.message_code)

    def role(entity: str) -> str | None:
        found = keys.role(entity) if keys else None
        return found.value if found else None

    out.update({
        "form": m.form, "cra_flag": int(m.cra), "cra": m.cra.name.lower(), "counter": m.counter,
        "originator": m.originator, "originator_role": role(m.originator),
        "recipient": m.recipient, "recipient_role": role(m.recipient),
        "date_time": _dlms_date_time(m.date_time) if m.date_time else None,
        "message_code": m.message_code, "message_code_hex": f"0x{m.message_code:04X}",
        "message_code_name": uc.label if uc else None, "use_case": uc.name if uc else None,
        "supplementary_remote_party_id": m.supplementary_remote_party_id,
        "supplementary_remote_party_counter": m.supplementary_remote_party_counter,
        "supplementary_originator_counter": m.supplementary_originator_counter,
        "ka_certificate": m.ka_certificate.hex().upper() or None,
        "content": m.content.hex().upper(), "payload": None, "payload_notes": {},
        "critical": is_critical(m) if m.cra == Cra.COMMAND else None,
        "signature": m.signature.hex().upper() if m.signature else None, "signature_valid": None,
        "mac": m.mac.hex().upper() if m.mac is not None else None, "mac_valid": None, "notes": [],
    })
    problems: list[tuple[Reason, str]] = []
    try:
        payload = decode_payload(m)
        out["payload"] = {k: _jsonable(v) for k, v in payload.items()}
        out["payload_notes"] = {k: n for k, v in payload.items() if (n := _meaning(uc.name, k, v))}
    except KeyError as e:
        problems.append((Reason.UNSUPPORTED_MESSAGE_CODE, e.args[0]))
    except DecodeError as e:
        problems.append((Reason.MALFORMED, str(e)))
    if keys is not None:
        check = check_with_store(m, keys)
        out.update(mac_valid=check.mac_valid, signature_valid=check.signature_valid, notes=list(check.notes))
        if check.mac_valid is False:
            problems.append((Reason.BAD_MAC, "MAC does not verify"))
        if check.signature_valid is False:
            problems.append((Reason.BAD_SIGNATURE, "signature does not verify"))
    if uc and uc.signature_required and m.cra == Cra.COMMAND and m.form != "pre-command" and not m.signed:
        problems.append((Reason.BAD_SIGNATURE, f"{uc.name} commands must be signed; this one is not"))
    if problems:
        out["reason"], out["detail"] = problems[0][0].value, problems[0][1]
    return out


def _validity(value: bool | None, present: bool) -> str:
    if not present:
        return "none"
    return {True: "[green]valid[/]", False: "[red]INVALID[/]", None: "not checked"}[value]


def _print_human(d: dict[str, Any], console: Console) -> None:
    if d.get("form") is None:
        console.print(f"[red]malformed[/] ({d['length']} bytes): {d['detail']}")
        return
    table = Table(title=f"GBCS {d['form']} message, {d['length']} bytes", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("CRA flag", f"{d['cra_flag']} ({d['cra']})")
    table.add_row("Originator counter", f"{d['counter']} (0x{d['counter']:016X})")
    for key in ("originator", "recipient"):
        table.add_row(key.capitalize(), d[key] + (f" ({d[key + '_role']})" if d[key + "_role"] else ""))
    table.add_row("Date-time", d["date_time"] or "none")
    table.add_row("Message code", f"{d['message_code_hex']} {d['message_code_name'] or '(unknown to the rig)'}")
    if d["supplementary_remote_party_id"]:
        table.add_row("Suppl. remote party", f"{d['supplementary_remote_party_id']}, counter "
                      f"{d['supplementary_remote_party_counter']}")
    if d["supplementary_originator_counter"] is not None:
        table.add_row("Suppl. originator counter", str(d["supplementary_originator_counter"]))
    if d["ka_certificate"]:
        table.add_row("KA certificate", d["ka_certificate"])
    if d["critical"] is not None:
        table.add_row("Critical", "yes (supplier-signed)" if d["critical"] else "no")
    table.add_row("Content", f"{len(d['content']) // 2} bytes: {d['content']}")
    for name, value in (d["payload"] or {}).items():
        note = d["payload_notes"].get(name)
        table.add_row(f"  {name}", f"{value}" + (f"  [dim]{note}[/]" if note else ""))
    table.add_row("Signature", " ".join(filter(None, (d["signature"], _validity(d["signature_valid"],
                                                                               bool(d["signature"]))))))
    table.add_row("MAC", " ".join(filter(None, (d["mac"], _validity(d["mac_valid"], d["mac"] is not None)))))
    console.print(table)
    for note in d["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    if d["reason"]:
        console.print(f"[red]rejected: {d['reason']}[/] — {d['detail']}")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def decode(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Binary, hex, Base64 or DUIS XML.")],
    keys: Annotated[Path | None, typer.Option(help="Key store directory: check MAC and signature.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Decode one GBCS message; exit status 1 when it is malformed or a MAC/signature fails."""
    try:
        store = KeyStore(keys) if keys else None
        d = describe(read_gbcs(file.read_bytes()), store)
    except (ValueError, KeyStoreError) as e:
        d = {"length": None, "reason": Reason.MALFORMED.value, "detail": str(e)}
        if not as_json:
            _fail(str(e))
    if as_json:
        typer.echo(json.dumps(d, indent=2))
    else:
        _print_human(d, Console())
    if d["reason"]:
        raise typer.Exit(1)


def keystore(
    directory: Annotated[Path, typer.Argument(file_okay=False, help="Directory to create the store in.")],
    hht: Annotated[list[str] | None, typer.Option(help="HHT Entity ID (repeatable).")] = None,
    ppmid: Annotated[list[str] | None, typer.Option(help="PPMID Entity ID (repeatable).")] = None,
    force: Annotated[bool, typer.Option(help="Write into a directory that already holds keys.")] = False,
) -> None:
    """Create a complete test key store: ACB, supplier, network operator, CHF, GPF, ESME, GSME (+HHT/PPMID)."""
    try:
        store = create_test_store(directory, hht=hht or [], ppmid=ppmid or [], force=force)
    except (ValueError, FileExistsError) as e:
        _fail(str(e))
    table = Table(title=f"test key store {directory}", title_justify="left")
    table.add_column("Entity ID")
    table.add_column("role")
    for entity in store.entities():
        table.add_row(entity, store.role(entity).value if store.role(entity) else "")
    Console().print(table)


def bundle_import(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="Bundle JSON to write.")],
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="DUIS XML or raw commands.")],
    cv: Annotated[int | None, typer.Option(help="Command Variant of every file (checked; DUIS responses "
                                                   "do not repeat it).")] = None,
    description: Annotated[str, typer.Option(help="Free text stored in the bundle.")] = "",
) -> None:
    """Import commands returned for local delivery (CV 2, 3, 6, 7) into an ordered bundle."""
    try:
        bundle = Bundle([import_file(f, command_variant=cv) for f in files], description).ordered()
    except (ValueError, OSError) as e:
        _fail(str(e))
    bundle.save(out)
    _print_bundle(bundle, out)


def bundle_generate(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="Bundle JSON to write.")],
    keys: Annotated[Path, typer.Option(help="Test key store (rig gbcs keystore).")],
    ppmid: Annotated[str, typer.Option(help="Entity ID of the PPMID to pair.")],
    install_code: Annotated[str, typer.Option(help="PPMID install code, hex, without CRC.")],
    join_timeout: Annotated[int, typer.Option(help="CCS01 join timeout (minutes).")] = 90,
    duis_dir: Annotated[Path | None, typer.Option(help="Also write each command as a DUIS response here.")] = None,
    gas: Annotated[bool, typer.Option(help="Include the gas-side join (CS03A1 → GSME); --no-gas for an "
                                           "electricity-only premises.")] = True,
) -> None:
    """Make the bundle a DCC would return for pairing a PPMID locally (CCS01, CS03A1 → ESME, CS03C → GPF,
    CS03A1 → GSME)."""
    try:
        bundle = generate_bundle(KeyStore(keys), ppmid, ic.parse_hex(install_code), join_timeout=join_timeout,
                                 gas=gas)
    except (ValueError, KeyStoreError) as e:
        _fail(str(e))
    bundle.save(out)
    if duis_dir:
        duis_dir.mkdir(parents=True, exist_ok=True)
        for i, entry in enumerate(bundle.entries, 1):
            (duis_dir / f"{i:02}_{entry.use_case.name}_CV{entry.command_variant}_DUIS.XML").write_bytes(
                duis_response_xml(entry))
    _print_bundle(bundle, out)


def bundle_show(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """List the commands of a bundle in delivery order."""
    try:
        bundle = Bundle.load(file)
    except BundleError as e:
        _fail(str(e))
    _print_bundle(bundle, file)


def _print_bundle(bundle: Bundle, path: Path) -> None:
    table = Table(title=f"{path}: {bundle.description}", title_justify="left")
    for col in ("#", "use case", "to", "counter", "CV", "SRV", "critical"):
        table.add_column(col, overflow="fold")
    for i, e in enumerate(bundle.entries, 1):
        m = e.message
        table.add_row(str(i), e.use_case.name, m.recipient, str(m.counter),
                      str(e.command_variant or "?"), e.service_reference_variant or "", "yes" if is_critical(m) else "no")
    Console().print(table)


def install_code(code: Annotated[str, typer.Argument(help="Install code with its CRC, hex (8/10/14/18 bytes).")]) -> None:
    """Print the ZigBee link key derived from an install code (CRC checked)."""
    try:
        typer.echo(ic.link_key(ic.parse_hex(code)).hex().upper())
    except ic.BadCrc as e:
        _fail(f"bad CRC: {e}", 2)
    except ic.BadLength as e:
        _fail(f"bad length: {e}", 2)
    except ic.InstallCodeError as e:
        _fail(str(e), 2)


def register(app: typer.Typer) -> None:
    gbcs = typer.Typer(help="GBCS messages: decode, test key store, local-delivery bundles.", no_args_is_help=True)
    gbcs.command("decode")(decode)
    gbcs.command("keystore")(keystore)
    bundle = typer.Typer(help="Local-delivery bundles an HHT loads.", no_args_is_help=True)
    bundle.command("import")(bundle_import)
    bundle.command("generate")(bundle_generate)
    bundle.command("show")(bundle_show)
    gbcs.add_typer(bundle, name="bundle")
    app.add_typer(gbcs, name="gbcs")
    app.command("install-code")(install_code)
