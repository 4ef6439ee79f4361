"""Local-delivery bundles: the ordered GBCS commands an HHT (or a PPMID acting as one) carries to the
devices, as a JSON file the HHT role loads.

Commands come in three ways:

* ``import_duis``: a DUIS XML response whose ``sr:ResponseMessage/sr:LocalCommand/sr:GBCSPayload``
  holds the Base64 GBCS command.  Only Command Variants 2, 3, 6 and 7 return a command for local
  delivery; a CV1 request/variant, a device response (``sr:GBCSPayload``) or a pre-command (CV4) is
  refused with ``NoLocalDelivery``.  DUIS responses do not repeat the CV; pass ``command_variant``
  to have it checked (CV6/7 must be critical, CV2/3 not), otherwise critical-ness is read from the
  command (signed, no Supplementary Remote Party = supplier-signed critical command [I]).
* ``import_raw``: a binary, hex or Base64 file holding one MAC'd command.
* ``generate_bundle``: made from the test PKI as the DCC would (``Builder``), with
  ``duis_response_xml`` to write the matching DUIS responses.

``Bundle.ordered()`` puts CHF device-log changes first, then joins, then unjoins (``UseCase.phase``).
The XML is parsed with the standard library; documents with DOCTYPE/ENTITY declarations are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rig.atomic import write_atomic

from .builder import Builder
from .fields import DecodeError
from .keystore import KeyStore
from .message import Cra, InputFormatError, Message, entity_id, parse_text_or_binary
from .usecases import USE_CASES, DeviceType, Role, UseCase, use_case

FORMAT = "secmp0037-rig/gbcs-local-delivery-bundle"
DUIS_NS = "http://www.dccinterface.co.uk/ServiceUserGateway"
COMMAND_VARIANTS = {
    1: "non-critical, command sent to the device over the SM WAN",
    2: "non-critical, command returned to the user for local delivery",
    3: "non-critical, command sent over the SM WAN and returned for local delivery",
    4: "critical request transformed into a pre-command for the user to sign",
    5: "critical signed pre-command, command sent over the SM WAN",
    6: "critical signed pre-command, command returned for local delivery",
    7: "critical signed pre-command, sent over the SM WAN and returned for local delivery",
    8: "non-device service request",
}
LOCAL_DELIVERY = frozenset({2, 3, 6, 7})
CRITICAL_VARIANTS = frozenset({5, 6, 7})


class BundleError(ValueError):
    """Input that cannot become a bundle entry (malformed XML/Base64, not a deliverable command ...)."""


class NoLocalDelivery(BundleError):
    """The DUIS variant or message does not return a command for local delivery."""


def _refuse_variant(cv: int) -> None:
    if cv not in COMMAND_VARIANTS:
        raise BundleError(f"Command Variant {cv} does not exist (DUIS defines 1-8)")
    if cv not in LOCAL_DELIVERY:
        raise NoLocalDelivery(f"Command Variant {cv} ({COMMAND_VARIANTS[cv]}) returns no command for local "
                              "delivery; only CV 2, 3, 6 and 7 do")


def is_critical(message: Message) -> bool:
    """Supplier-signed critical command: signed, and not built by the ACB for a user [I]."""
    return message.signed and message.supplementary_remote_party_id is None


@dataclass
class BundleEntry:
    gbcs: bytes
    command_variant: int | None = None
    service_reference_variant: str | None = None
    source: str = ""
    message: Message = field(init=False, repr=False)
    use_case: UseCase = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.message = Message.from_bytes(self.gbcs)
        except DecodeError as e:
            raise BundleError(f"{self.source or 'command'}: not a GBCS message: {e}") from None
        m = self.message
        if m.cra != Cra.COMMAND or m.mac is None:
            raise BundleError(f"{self.source or 'message'}: a local-delivery command is a MAC'd (DD) command; "
                              f"this is a {m.form} {m.cra.name.lower()}")
        self.use_case = USE_CASES.get(m.message_code)  # type: ignore[assignment]
        if self.use_case is None or self.use_case.command is None:
            raise BundleError(f"{self.source or 'command'}: message code 0x{m.message_code:04X} is not a "
                              "command the rig knows")
        if self.command_variant is not None:
            _refuse_variant(self.command_variant)
            if (self.command_variant in CRITICAL_VARIANTS) != is_critical(m):
                kind = "critical (supplier-signed)" if is_critical(m) else "non-critical"
                raise BundleError(f"{self.source or 'command'}: CV {self.command_variant} does not fit a "
                                  f"{kind} {self.use_case.name} command")

    def to_json(self, step: int) -> dict[str, Any]:
        m = self.message
        return {"step": step, "use_case": self.use_case.name, "message_code": f"0x{m.message_code:04X}",
                "originator": m.originator, "recipient": m.recipient, "counter": m.counter,
                "critical": is_critical(m), "command_variant": self.command_variant,
                "service_reference_variant": self.service_reference_variant, "source": self.source,
                "gbcs": base64.b64encode(self.gbcs).decode()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BundleEntry:
        if not isinstance(d, dict):
            raise BundleError(f"bundle entry {d!r} is not an object")
        try:
            gbcs = base64.b64decode(d["gbcs"], validate=True)
        except (KeyError, TypeError, binascii.Error) as e:
            raise BundleError(f"bundle step {d.get('step')}: no valid Base64 'gbcs' ({e})") from None
        return cls(gbcs, d.get("command_variant"), d.get("service_reference_variant"), d.get("source", ""))


@dataclass
class Bundle:
    entries: list[BundleEntry] = field(default_factory=list)
    description: str = ""

    def ordered(self) -> Bundle:
        return Bundle(sorted(self.entries, key=lambda e: e.use_case.phase), self.description)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, "description": self.description,
                "commands": [e.to_json(i) for i, e in enumerate(self.entries, 1)]}

    def save(self, path: str | os.PathLike) -> None:
        write_atomic(Path(path), (json.dumps(self.to_json(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Bundle:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise BundleError(f"{path}: not a readable JSON bundle ({e})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise BundleError(f"{path}: not a {FORMAT} file")
        return cls([BundleEntry.from_json(c) for c in d.get("commands", [])], d.get("description", ""))


# --- DUIS XML ----------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node: ET.Element, *path: str) -> ET.Element | None:
    for name in path:
        node = next((c for c in node if _local(c.tag) == name), None)
        if node is None:
            return None
    return node


def parse_duis(xml: bytes) -> ET.Element:
    if re.search(rb"<!(DOCTYPE|ENTITY)", xml):
        raise BundleError("DUIS XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        return ET.fromstring(xml)
    except ET.ParseError as e:
        raise BundleError(f"malformed DUIS XML: {e}") from None


def _payload_bytes(payload: ET.Element) -> bytes:
    try:
        gbcs = base64.b64decode(re.sub(r"\s+", "", payload.text or ""), validate=True)
    except (binascii.Error, ValueError) as e:
        raise BundleError(f"sr:GBCSPayload is not valid Base64: {e}") from None
    if not gbcs:
        raise BundleError("sr:GBCSPayload is empty")
    return gbcs


def import_duis(xml: bytes, *, command_variant: int | None = None, source: str = "") -> BundleEntry:
    root = parse_duis(xml)
    declared = next((e for e in root.iter() if _local(e.tag) == "CommandVariant"), None)
    if declared is not None and command_variant is None:
        try:
            command_variant = int((declared.text or "").strip())
        except ValueError:
            raise BundleError(f"sr:CommandVariant {declared.text!r} is not a number") from None
    if command_variant is not None:
        _refuse_variant(command_variant)
    if _local(root.tag) == "Request":
        raise BundleError("this is a DUIS request; the command for local delivery comes back in the DCC's "
                          "response (sr:Response ... sr:LocalCommand/sr:GBCSPayload)")
    if _local(root.tag) != "Response":
        raise BundleError(f"not a DUIS response: root element is {_local(root.tag)}")
    body = _find(root, "Body", "ResponseMessage")
    payload = _find(body, "LocalCommand", "GBCSPayload") if body is not None else None
    if payload is None:
        if body is not None and _find(body, "PreCommand") is not None:
            raise NoLocalDelivery("this response carries a pre-command (CV4) to be signed, not a command for "
                                  "local delivery; sign it and submit it with CV 6 or 7")
        raise NoLocalDelivery("no sr:LocalCommand/sr:GBCSPayload in this DUIS response: it is not a command "
                              "returned for local delivery (only CV 2, 3, 6 and 7 return one; CV1 sends the "
                              "command over the SM WAN)")
    gbcs = _payload_bytes(payload)
    srv = _find(body, "ServiceReferenceVariant")
    return BundleEntry(gbcs, command_variant, srv.text.strip() if srv is not None and srv.text else None, source)


def import_raw(data: bytes, *, command_variant: int | None = None, srv: str | None = None,
               source: str = "") -> BundleEntry:
    try:
        gbcs = parse_text_or_binary(data)
    except InputFormatError as e:
        raise BundleError(f"{source or 'input'}: {e}") from None
    return BundleEntry(gbcs, command_variant, srv, source)


def import_file(path: str | os.PathLike, *, command_variant: int | None = None) -> BundleEntry:
    data = Path(path).read_bytes()
    if data.lstrip()[:1] == b"<":
        return import_duis(data, command_variant=command_variant, source=str(path))
    return import_raw(data, command_variant=command_variant, source=str(path))


def read_gbcs(data: bytes) -> bytes:
    """The GBCS message in ``data``: DUIS XML (any variant), binary, hex or Base64."""
    if data.lstrip()[:1] != b"<":
        return parse_text_or_binary(data)
    root = parse_duis(data)
    payload = next((e for e in root.iter() if _local(e.tag) == "GBCSPayload"), None)
    if payload is None:
        raise BundleError("no sr:GBCSPayload in this DUIS XML")
    return _payload_bytes(payload)


def duis_response_xml(entry: BundleEntry, *, when: datetime | None = None) -> bytes:
    """The DUIS response the DCC returns for a local-delivery request (unsigned: no ds:Signature)."""
    m, srv = entry.message, entry.service_reference_variant or entry.use_case.srv
    ET.register_namespace("sr", DUIS_NS)

    def el(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        e = ET.SubElement(parent, f"{{{DUIS_NS}}}{name}")
        e.text = text
        return e

    user = m.supplementary_remote_party_id or m.originator
    dashed = "-".join(re.findall("..", user)), "-".join(re.findall("..", m.recipient))
    root = ET.Element(f"{{{DUIS_NS}}}Response", {"schemaVersion": "5.1"})
    header = el(root, "Header")
    el(header, "RequestID", f"{dashed[0]}:{dashed[1]}:{m.supplementary_remote_party_counter or m.counter}")
    el(header, "ResponseID", f"{dashed[1]}:{dashed[0]}:{m.supplementary_remote_party_counter or m.counter}")
    el(header, "ResponseCode", "I0")
    el(header, "ResponseDateTime", (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    body = el(el(root, "Body"), "ResponseMessage")
    el(body, "ServiceReference", ".".join(srv.split(".")[:2]))
    el(body, "ServiceReferenceVariant", srv)
    el(el(body, "LocalCommand"), "GBCSPayload", base64.b64encode(entry.gbcs).decode())
    return ET.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- the DCC side, from the test PKI --------------------------------------------------------------------


def _srv(name: str, critical: bool) -> str:
    variants = use_case(name).srv.split("/")
    return variants[0] if critical or len(variants) == 1 else variants[1]


def ka_credential(keys: KeyStore, entity: str) -> bytes:
    """What a GSME <-> PPMID join carries of the partner's key agreement key [I]: the DER of its KA
    certificate when the store holds one, else of its KA public key (SubjectPublicKeyInfo; the rig's test
    store holds bare keys).  GBCS carries the partner's Device Security Credentials certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    path = keys.path / f"{entity_id(entity)}.ka.pub.pem"
    if path.exists() and b"BEGIN CERTIFICATE" in path.read_bytes():
        return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
    return keys.public_key(entity, "ka").public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_bundle(keys: KeyStore, ppmid: str, install_code: bytes, *, chf: str | None = None,
                    esme: str | None = None, gpf: str | None = None, gsme: str | None = None, gas: bool = True,
                    join_timeout: int = 90, builder: Builder | None = None) -> Bundle:
    """The commands a DCC returns for pairing ``ppmid`` locally, in delivery order:
    CCS01 to the CHF (CV2, 8.11), CS03A1 to the ESME (critical, CV6, 8.7.1), CS03C to the GPF
    (non-critical ACB-signed, CV2, 8.7.2) and, with ``gas`` (a premises with a gas meter), the gas-side
    join GBCS requires for a PPMID: CS03A1 to the GSME (critical, CV6, 8.7.1), carrying the PPMID's KA
    credential (``ka_certificate``: only a GSME <-> PPMID join carries one, gbcs.md §5).  It goes last:
    the GSME is sleepy and answers only at its next wake (``rig.pairing.SLEEPY_PROTOCOL``)."""
    b = builder or Builder(keys)
    chf, esme, gpf = chf or keys.one(Role.CHF), esme or keys.one(Role.ESME), gpf or keys.one(Role.GPF)
    ppmid = entity_id(ppmid)
    steps = [
        (b.ccs01(chf, ppmid, DeviceType.PPMID, install_code, join_timeout=join_timeout), 2, _srv("CCS01", False)),
        (b.join("CS03A1", esme, ppmid, DeviceType.PPMID, critical=True), 6, _srv("CS03A1", True)),
        (b.join("CS03C", gpf, ppmid, DeviceType.PPMID, critical=False), 2, _srv("CS03C", False)),
    ]
    described = f"CHF {chf}, ESME {esme}, GPF {gpf}"
    if gas:
        gsme = gsme or keys.one(Role.GSME)
        steps.append((b.join("CS03A1", gsme, ppmid, DeviceType.PPMID, critical=True,
                             ka_certificate=ka_credential(keys, ppmid)), 6, _srv("CS03A1", True)))
        described += f", GSME {gsme}"
    entries = [BundleEntry(m.to_bytes(), cv, srv, source="generated") for m, cv, srv in steps]
    return Bundle(entries, f"local pairing of PPMID {ppmid}: {described}").ordered()
