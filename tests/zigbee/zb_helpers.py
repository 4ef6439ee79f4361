"""Shared helpers for the ZigBee codec tests: published vectors (read at run time) and scapy."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

SHARED = Path(os.environ.get("RIG_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
VECTORS = SHARED / "vectors"
NOTES = SHARED / "notes"


def vector_files(name: str) -> list[Path]:
    """``name`` at both levels of shared/vectors (top level and more/)."""
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


def interpan_worked_example() -> bytes:
    """The 113-byte PSDU of inter-pan.md §6, parsed from the note's hex dump."""
    text = (NOTES / "inter-pan.md").read_text()
    section = text[text.index("## 6."):]
    block = section.split("```")[1]
    data = bytearray()
    for line in block.strip().splitlines():
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
