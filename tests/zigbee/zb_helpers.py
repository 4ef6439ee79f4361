"""Helpers for the ZigBee codec tests: the published vectors in ``tests/vectors/``, the inter-PAN
worked example, and scapy."""

from __future__ import annotations

import json
import re
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def vector_files(name: str) -> list[Path]:
    """``name`` at both levels of tests/vectors (top level and more/)."""
    files = sorted(VECTORS.rglob(name))
    assert files, f"no {name} under {VECTORS}"
    return files


def nwk_vectors() -> list[dict]:
    out = []
    for path in vector_files("nwk_ccm.json"):
        out += json.loads(path.read_text())["vectors"]
    return out


def ccm_primitive_vectors() -> list[dict]:
    out = []
    for path in vector_files("nwk_ccm.json"):
        out += json.loads(path.read_text()).get("primitive_vectors", [])
    return out


def install_code_vectors() -> list[dict]:
    out = []
    for path in vector_files("install_codes.json"):
        out += json.loads(path.read_text())["valid"]
    return out


def mmo_hmac_vectors() -> list[dict]:
    out = []
    for path in vector_files("cbke.json"):
        out += [v for v in json.loads(path.read_text())["vectors"] if v.get("kind") == "mmo_hmac"]
    return out


INTERPAN_WORKED_EXAMPLE = """
0000  21 cc 37 2b 1a a3 90 78 56 34 12 db 00 ff ff 88   FCF 0xCC21, seq 0x37, dPAN 1A2B, dst EUI, sPAN FFFF
0010  77 66 55 44 33 22 11 0b 00 03 00 08 09 01 01 42   src EUI | NWK 000B | APS 03, cl 0800, pr 0109 | ZCL 01 42
0020  00 02 00 10 10 00 00 00 00 00 00 00 00 01 0d 08   cmd 00, suite 0002, 10 10 | cert: 00, serial, 0D, 08
0030  54 45 53 54 43 41 30 31 00 00 00 00 00 ff ff ff   issuer, validFrom(5), validTo(4)…
0040  ff 11 22 33 44 55 66 77 88 08 02 ab ab ab ab ab   subject, usage 08, pubkey 02 AB…
0050  ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab
0060  ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab 68   … FCS 0x4C68 (`68 4C`)
0070  4c
"""
"""The team's inter-PAN worked example (HHT → CH, unicast inter-PAN, KE Initiate, suite 2), as the
inter-PAN notes (§6) give it, checked there against scapy and tshark.  Kept here so the tests read
nothing outside the project."""


def interpan_worked_example() -> bytes:
    """The 113-byte PSDU of the worked example, parsed from its hex dump."""
    data = bytearray()
    for line in INTERPAN_WORKED_EXAMPLE.strip().splitlines():
        m = re.match(r"^[0-9a-f]{4}  ((?:[0-9a-f]{2} ?)+)", line)
        assert m, line
        data += bytes.fromhex(m.group(1).replace(" ", ""))
    return bytes(data)


def scapy_layers():
    """Import scapy's 802.15.4/ZigBee layers with ZigBee dissection selected."""
    from scapy.config import conf

    conf.dot15d4_protocol = "zigbee"
    from scapy.layers import dot15d4, zigbee

    return dot15d4, zigbee


def scapy_fcs(body: bytes) -> int:
    """scapy's own Kermit implementation, as an independent FCS oracle."""
    dot15d4, _ = scapy_layers()
    return int.from_bytes(dot15d4.Dot15d4FCS().compute_fcs(body), "little")
