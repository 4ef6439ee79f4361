"""Test PKI: a key store is a directory of PEM files, one key per file.

``<ENTITY-ID>.<ka|ds>.key.pem`` holds a private key, ``<ENTITY-ID>.<ka|ds>.pub.pem`` a public key or an
X.509 certificate; Entity IDs are 16 upper-case hex digits, ``ka`` = key agreement (MACs),
``ds`` = digital signing.  ``roles.json`` (optional) names each entity's role, which is what a device
checks a command's originator against.  ``create_test_store`` makes a complete store for the rig:
ACB, supplier, network operator, CHF, GPF, ESME, GSME, plus any HHT / PPMID identities asked for.
Nothing needs a network; keys are fresh random P-256 keys.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from rig.atomic import write_atomic

from . import crypto
from .message import entity_id
from .usecases import Role

USAGES = ("ka", "ds")
FILE_NAME = re.compile(r"^([0-9A-F]{16})\.(ka|ds)\.(key|pub)\.pem$")
ROLES_FILE = "roles.json"

# Default identities of a rig test store; organisation IDs spell "RIG", devices are EUI-64-like.
DEFAULT_IDS: dict[Role, str] = {
    Role.ACB: "5249470000000001",
    Role.SUPPLIER: "5249470000000002",
    Role.NETWORK_OPERATOR: "5249470000000003",
    Role.CHF: "0052494700000001",
    Role.GPF: "0052494700000002",
    Role.ESME: "0052494700000003",
    Role.GSME: "0052494700000004",
}


class KeyStoreError(LookupError):
    """A key or identity the caller needs is not in the store."""


class KeyStore:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise KeyStoreError(f"key store {self.path} is not a directory")
        roles_file = self.path / ROLES_FILE
        raw = json.loads(roles_file.read_text()) if roles_file.exists() else {}
        self.roles: dict[str, Role] = {entity_id(k): Role(v) for k, v in raw.get("roles", {}).items()}
        self._cache: dict[tuple[str, str, str], object] = {}

    def _pem_path(self, entity: str, usage: str, kind: str) -> Path:
        if usage not in USAGES:
            raise ValueError(f"key usage must be ka or ds, not {usage!r}")
        return self.path / f"{entity_id(entity)}.{usage}.{kind}.pem"

    def has(self, entity: str, usage: str, *, private: bool = False) -> bool:
        kinds = ("key",) if private else ("key", "pub")
        return any(self._pem_path(entity, usage, k).exists() for k in kinds)

    def private_key(self, entity: str, usage: str) -> crypto.PrivateKey:
        key = (entity_id(entity), usage, "key")
        if key not in self._cache:
            path = self._pem_path(entity, usage, "key")
            if not path.exists():
                raise KeyStoreError(f"no {usage.upper()} private key for {key[0]} ({path.name}) in {self.path}")
            self._cache[key] = crypto.load_private_key(path.read_bytes())
        return self._cache[key]  # type: ignore[return-value]

    def public_key(self, entity: str, usage: str) -> crypto.PublicKey:
        key = (entity_id(entity), usage, "pub")
        if key not in self._cache:
            path = self._pem_path(entity, usage, "pub")
            if path.exists():
                self._cache[key] = crypto.load_public_key(path.read_bytes())
            elif self._pem_path(entity, usage, "key").exists():
                self._cache[key] = self.private_key(entity, usage).public_key()
            else:
                raise KeyStoreError(f"no {usage.upper()} key for {key[0]} ({path.name}) in {self.path}")
        return self._cache[key]  # type: ignore[return-value]

    def entities(self) -> list[str]:
        found = {m.group(1) for p in self.path.iterdir() if (m := FILE_NAME.match(p.name))}
        return sorted(found | set(self.roles))

    def role(self, entity: str) -> Role | None:
        return self.roles.get(entity_id(entity))

    def ids(self, role: Role | str) -> list[str]:
        return sorted(e for e, r in self.roles.items() if r == Role(role))

    def one(self, role: Role | str) -> str:
        role = Role(role)
        ids = self.ids(role)
        if not ids:
            raise KeyStoreError(f"no {role.value} in key store {self.path} ({ROLES_FILE} names none)")
        return ids[0]

    def add_pem(self, entity: str, usage: str, pem: bytes) -> Path:
        """Store a PEM private key, public key or certificate under ``entity``."""
        kind = "key" if b"PRIVATE KEY" in pem else "pub"
        (crypto.load_private_key if kind == "key" else crypto.load_public_key)(pem)  # refuse junk early
        path = self._pem_path(entity, usage, kind)
        write_atomic(path, pem)
        self._cache.clear()
        return path

    def add_identity(self, entity: str, role: Role | None = None) -> None:
        """Fresh KA and DS key pairs for ``entity`` (both .key.pem and .pub.pem)."""
        for usage in USAGES:
            key = crypto.new_private_key()
            self.add_pem(entity, usage, crypto.private_pem(key))
            self.add_pem(entity, usage, crypto.public_pem(key.public_key()))
        if role is not None:
            self.set_role(entity, role)

    def set_role(self, entity: str, role: Role) -> None:
        self.roles[entity_id(entity)] = Role(role)
        body = {"roles": {e: r.value for e, r in sorted(self.roles.items())}}
        write_atomic(self.path / ROLES_FILE, (json.dumps(body, indent=2) + "\n").encode())


def create_test_store(path: str | os.PathLike, *, hht: tuple[str, ...] | list[str] = (),
                      ppmid: tuple[str, ...] | list[str] = (), ids: dict[Role, str] | None = None,
                      force: bool = False) -> KeyStore:
    """A complete store at ``path``: every ``DEFAULT_IDS`` role (or ``ids`` overrides) + HHTs/PPMIDs."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if not force and any(FILE_NAME.match(p.name) or p.name == ROLES_FILE for p in path.iterdir()):
        raise FileExistsError(f"{path} already holds a key store (use force to add/replace keys)")
    store = KeyStore(path)
    wanted = [(entity_id(e), r) for r, e in {**DEFAULT_IDS, **(ids or {})}.items()]
    wanted += [(entity_id(e), Role.HHT) for e in hht] + [(entity_id(e), Role.PPMID) for e in ppmid]
    if len({e for e, _ in wanted}) != len(wanted):
        raise ValueError("every identity in a key store needs its own Entity ID")
    for entity, role in wanted:
        store.add_identity(entity, role)
    return store


def derive_store(source: str | os.PathLike, path: str | os.PathLike,
                 identities: list[tuple[str, Role]]) -> KeyStore:
    """A store at ``path``: every key and role of ``source`` (a PKI a CH under test trusts) plus fresh keys
    for each ``(entity, role)`` it lacks.  ``source`` is never written; an existing ``path`` is extended."""
    import shutil

    source, path = Path(source), Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if (FILE_NAME.match(item.name) or item.name == ROLES_FILE) and not (path / item.name).exists():
            shutil.copyfile(item, path / item.name)
    store = KeyStore(path)
    for entity, role in identities:
        entity = entity_id(entity)
        if not store.has(entity, "ds", private=True):
            store.add_identity(entity, role)
        elif store.role(entity) != role:
            store.set_role(entity, role)
    return store
