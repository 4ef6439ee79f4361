"""Test data: the project's copy of the published reference vectors (``tests/vectors/``, sources
named in its README), and the identities the GBCS tests use.

Every JSON file under ``tests/vectors`` (both levels) is read; entries are picked by the file's
``kind``, so a vector file added later is covered without touching the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.gbcs.keystore import KeyStore
from rig.gbcs.usecases import Role

PPMID = "00DB5A5A5A5A0005"
HHT = "00DB5A5A5A5A0006"
INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505")
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _files(kind: str) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted(VECTORS.rglob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("kind") == kind:
            out.append((path, data))
    return out


def params(kind: str, key: str) -> list:
    """One ``pytest.param`` per entry of ``key`` in every file of ``kind``, id = file:entry id."""
    return [pytest.param(entry, id=f"{path.relative_to(VECTORS)}:{entry.get('id', i)}")
            for path, data in _files(kind) for i, entry in enumerate(data.get(key, []))]


def all_messages() -> list:
    """Every GBCS message in the MAC and signature vector files (hex fields holding a message)."""
    out = []
    for kind in ("gbcs-command-mac", "gbcs-ecdsa-signature"):
        for path, data in _files(kind):
            for entries in data.values():
                if not isinstance(entries, list):
                    continue
                for entry in entries:
                    for field in ("message_hex", "precommand_hex", "signed_command_hex"):
                        if field in entry:
                            out.append(pytest.param(bytes.fromhex(entry[field]),
                                                    id=f"{path.relative_to(VECTORS)}:{entry['id']}:{field}"))
    return out


def rtds_store(tmp: Path) -> KeyStore:
    """A key store holding the RTDS test keys the vectors publish, with the roles they name: the
    MAC key owner of a command is the ACB, a signer of a critical pre-command the supplier."""
    tmp.mkdir(parents=True, exist_ok=True)
    store = KeyStore(tmp)
    for _, data in _files("gbcs-command-mac"):
        for v in data["mac_vectors"]:
            store.add_pem(v["ka_private_key_owner"], "ka", v["ka_private_key_pem"].encode())
            store.add_pem(v["ka_peer_owner"], "ka", v["ka_peer_certificate_pem"].encode())
            if "recipient_ka_private_key_pem" in v:
                store.add_pem(v["ka_peer_owner"], "ka", v["recipient_ka_private_key_pem"].encode())
            if v["cra_flag"] == 1:
                store.set_role(v["ka_private_key_owner"], Role.ACB)
    for _, data in _files("gbcs-ecdsa-signature"):
        for v in data["vectors"]:
            store.add_pem(v["signer_system_title_hex"], "ds", v["signer_ds_certificate_pem"].encode())
            store.set_role(v["signer_system_title_hex"], Role.SUPPLIER)
    return store
