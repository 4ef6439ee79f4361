"""A test certificate authority issuing suite-2 (sect283k1) implicit certificates and keys.

``TestCa.create()`` makes a CA key; ``ca.issue(eui64)`` returns the ``CbkeToken`` (certificate, CA
public key, private key) an emulated dongle loads into MFG_CBKE_283K1_DATA.  A CA directory holds
``ca.json`` (suite, issuer, private and public key in hex); ``rig cbke ca init`` / ``rig cbke issue``
drive it from the command line.  Test keys only: the private key is stored in clear.
"""

from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from rig.cbke import crypto
from rig.cbke.certificate import (
    CERT_TYPE_IMPLICIT,
    CURVE_SECT283K1,
    HASH_AES_MMO,
    KEY_USAGE_DIGITAL_SIGNATURE,
    KEY_USAGE_KEY_AGREEMENT,
    VALID_TO_NO_EXPIRY,
    Certificate283k1,
)
from rig.cbke.crypto import Rng
from rig.cbke.token import CbkeToken
from rig.zigbee.eui64 import eui_bytes, eui_from_bytes

CA_FILE = "ca.json"
DEFAULT_ISSUER = b"RIGTSTCA"  # 52 49 47 54 53 54 43 41; the Certicom test CA is 1112131415161718
DEFAULT_KEY_USAGE = KEY_USAGE_KEY_AGREEMENT | KEY_USAGE_DIGITAL_SIGNATURE


def parse_eui64(text: str | bytes) -> bytes:
    """An EUI64 as 16 hex digits (``:``/``-``/spaces allowed), most significant byte first."""
    return eui_bytes(eui_from_bytes(text, "big") if isinstance(text, bytes) else text, "big")


@dataclass(frozen=True)
class TestCa:
    """A suite-2 ECQV certificate authority."""

    __test__ = False  # not a pytest test class

    issuer: bytes
    private_key: int

    @property
    def suite(self) -> crypto.CryptoSuite:
        return crypto.SUITE2

    @functools.cached_property
    def public_key(self) -> bytes:
        """The compressed CA public key (37 bytes), as in caPublicKey of a token (one point multiplication,
        done once per CA rather than once per issued token)."""
        return crypto.encode_point(self.suite, crypto.public_key(self.suite, self.private_key))

    @classmethod
    def create(cls, issuer: bytes = DEFAULT_ISSUER, rng: Rng | None = None) -> TestCa:
        if len(issuer) != 8:
            raise ValueError("issuer id must be 8 bytes")
        return cls(bytes(issuer), crypto.random_scalar(crypto.SUITE2, rng))

    def issue(
        self,
        eui64: bytes | str,
        *,
        serial: bytes | None = None,
        valid_from: int = 0,
        valid_to: int = VALID_TO_NO_EXPIRY,
        key_usage: int = DEFAULT_KEY_USAGE,
        rng: Rng | None = None,
    ) -> CbkeToken:
        """Certificate and key pair for ``eui64`` (the subject, most significant byte first)."""
        template = Certificate283k1(
            type=CERT_TYPE_IMPLICIT,
            serial=serial if serial is not None else (rng or secrets.token_bytes)(8),
            curve=CURVE_SECT283K1,
            hash=HASH_AES_MMO,
            issuer=self.issuer,
            valid_from=valid_from,
            valid_to=valid_to,
            subject=parse_eui64(eui64),
            key_usage=key_usage,
            public_key_reconstruction=bytes(37),
        )
        cert, d = crypto.issue_certificate(self.suite, self.private_key, template, rng)
        return CbkeToken(
            certificate=cert,
            ca_public_key=self.public_key,
            private_key=d.to_bytes(self.suite.key_size, "big"),
            flags=0,
        )

    # -- files -----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "suite": self.suite.number,
            "issuer": self.issuer.hex().upper(),
            "privateKey": self.private_key.to_bytes(self.suite.key_size, "big").hex().upper(),
            "publicKey": self.public_key.hex().upper(),
        }

    @classmethod
    def from_json(cls, data: dict) -> TestCa:
        if int(data.get("suite", 2)) != 2:
            raise ValueError("only suite-2 CAs are supported")
        ca = cls(bytes.fromhex(data["issuer"]), int(data["privateKey"], 16))
        if "publicKey" in data and bytes.fromhex(data["publicKey"]) != ca.public_key:
            raise ValueError("CA file's publicKey does not match its privateKey")
        return ca

    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CA_FILE
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists")
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> TestCa:
        path = Path(directory) / CA_FILE
        if not path.exists():
            raise FileNotFoundError(f"no CA in {directory} (run `rig cbke ca init {directory}`)")
        return cls.from_json(json.loads(path.read_text()))
