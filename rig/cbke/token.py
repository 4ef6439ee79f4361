"""Manufacturing-token images of the CBKE data an NCP holds (notes/cbke.md §8).

``CbkeToken`` is MFG_CBKE_283K1_DATA (creator 0xC345, 148 bytes): certificate[74] ||
caPublicKey[37] || privateKey[36] || flags[1]; ``CbkeToken163k1`` is MFG_CBKE_DATA (0xC342, 92 bytes)
for suite 1.  Flags bit 0 set means "uninitialised" (an erased token reads all 0xFF).  Token files
are JSON with hex fields, as written by ``rig cbke issue``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from rig.cbke.certificate import FixedLayout, _octets, _uint
from rig.cbke.crypto import SUITE1, SUITE2, CryptoSuite

FLAG_UNINITIALISED = 0x01


class _TokenMixin(FixedLayout):
    SUITE: ClassVar[CryptoSuite]
    CREATOR: ClassVar[int]

    certificate: bytes
    ca_public_key: bytes
    private_key: bytes
    flags: int

    @property
    def initialised(self) -> bool:
        return not self.flags & FLAG_UNINITIALISED

    @property
    def subject(self) -> bytes:
        """The certificate's subject EUI64, most significant byte first."""
        return self.SUITE.certificate.decode(self.certificate).subject

    @classmethod
    def erased(cls) -> Self:
        return cls.decode(b"\xff" * cls.SIZE)

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.SUITE.number,
            "subject": self.subject.hex().upper(),
            "certificate": self.certificate.hex().upper(),
            "caPublicKey": self.ca_public_key.hex().upper(),
            "privateKey": self.private_key.hex().upper(),
            "flags": self.flags,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        suite = int(data.get("suite", cls.SUITE.number))
        if suite != cls.SUITE.number:
            raise ValueError(f"token file is for suite {suite}, not {cls.SUITE.number}")
        return cls(
            certificate=bytes.fromhex(data["certificate"]),
            ca_public_key=bytes.fromhex(data["caPublicKey"]),
            private_key=bytes.fromhex(data["privateKey"]),
            flags=int(data.get("flags", 0)),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        return cls.from_json(json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class CbkeToken(_TokenMixin):
    """MFG_CBKE_283K1_DATA."""

    SIZE: ClassVar[int] = 148
    SUITE: ClassVar[CryptoSuite] = SUITE2
    CREATOR: ClassVar[int] = 0xC345

    certificate: bytes = _octets(74)
    ca_public_key: bytes = _octets(37)
    private_key: bytes = _octets(36)
    flags: int = _uint(1)


@dataclass(frozen=True)
class CbkeToken163k1(_TokenMixin):
    """MFG_CBKE_DATA (suite 1)."""

    SIZE: ClassVar[int] = 92
    SUITE: ClassVar[CryptoSuite] = SUITE1
    CREATOR: ClassVar[int] = 0xC342

    certificate: bytes = _octets(48)
    ca_public_key: bytes = _octets(22)
    private_key: bytes = _octets(21)
    flags: int = _uint(1)


def load_token(path: str | Path) -> CbkeToken | CbkeToken163k1:
    """Read a token file of either suite."""
    data = json.loads(Path(path).read_text())
    cls = CbkeToken163k1 if int(data.get("suite", 2)) == 1 else CbkeToken
    return cls.from_json(data)
