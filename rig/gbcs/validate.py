"""What a device (CHF, GPF, ESME, GSME, PPMID shim) checks before it executes a GBCS command.

``validate(data, device, counters, now)`` returns ``Accepted`` or ``Rejected(reason)``; ``Reason`` is
closed.  Checks run in this order and stop at the first failure:

1. size (``too_long`` above ``MAX_MESSAGE_LENGTH``, the 1500-byte tunnel limit [I]);
2. structure: envelope and payload decode (``malformed``), message code known, sent as a command
   and executed by this device's role (``unsupported_message_code``);
3. recipient is this device (``wrong_recipient``);
4. MAC, ACB key-agreement key × device key (``bad_mac``; a command without one is ``bad_mac`` too);
5. signature of the originator where the use case needs one (``bad_signature``; an originator whose
   signing key the device does not hold is ``unauthorised``);
6. counter strictly greater than the last one accepted from that originator (``counter_not_newer``);
7. authority: the originator's role may send this message code (``unauthorised``).

Only an accepted command moves the counter (``CounterStore``: one highest counter per originator,
written atomically to JSON, disk first and then memory, so a failed write changes neither).  A device
that checks more after ``validate`` (the CHF: which channel may carry which command) calls it with
``commit=False`` and moves the counter itself (``CounterStore.accept``) once it has accepted the command.  Rejections carry the GBZ alert code the device raises [I]
(``ALERT_FOR_REASON``; ``Builder.alert`` makes the alert).
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rig.atomic import read_atomic, write_atomic

from . import crypto
from .fields import DecodeError
from .keystore import KeyStore, KeyStoreError
from .message import Cra, Message, entity_id
from .usecases import USE_CASES, Role, UseCase, decode_payload

MAX_MESSAGE_LENGTH = 1500


class Reason(enum.StrEnum):
    BAD_MAC = "bad_mac"
    BAD_SIGNATURE = "bad_signature"
    COUNTER_NOT_NEWER = "counter_not_newer"
    WRONG_RECIPIENT = "wrong_recipient"
    UNAUTHORISED = "unauthorised"  # unknown originator, or its role may not send this message code
    MALFORMED = "malformed"  # includes truncated
    TOO_LONG = "too_long"
    UNSUPPORTED_MESSAGE_CODE = "unsupported_message_code"


ALERT_FOR_REASON = {
    Reason.BAD_MAC: 0x8F1E,
    Reason.BAD_SIGNATURE: 0x8F1E,
    Reason.MALFORMED: 0x8F1E,
    Reason.TOO_LONG: 0x8F1E,
    Reason.UNSUPPORTED_MESSAGE_CODE: 0x8F1E,
    Reason.COUNTER_NOT_NEWER: 0x8F53,
    Reason.WRONG_RECIPIENT: 0x8F3E,
    Reason.UNAUTHORISED: 0x8F30,
}


@dataclass(frozen=True)
class Accepted:
    message: Message
    use_case: UseCase
    payload: dict[str, Any]
    ok = True


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    detail: str
    message: Message | None = None
    ok = False

    @property
    def alert_code(self) -> int:
        return ALERT_FOR_REASON[self.reason]


@dataclass(frozen=True)
class Device:
    """A device's identity: its Entity ID, its role, and the key store with its private keys and the
    public keys and roles of the parties it trusts (ACB, supplier, network operator)."""

    entity_id: str
    role: Role
    keys: KeyStore

    @classmethod
    def from_store(cls, keys: KeyStore, entity: str) -> Device:
        role = keys.role(entity)
        if role is None:
            raise KeyStoreError(f"{entity_id(entity)} has no role in {keys.path}")
        return cls(entity_id(entity), role, keys)


class CounterStore:
    """Highest accepted originator counter per originator; ``save`` is temp file + fsync + rename."""

    def __init__(self, counters: dict[str, int] | None = None, path: str | os.PathLike | None = None) -> None:
        self.counters = {entity_id(k): int(v) for k, v in (counters or {}).items()}
        self.path = Path(path) if path is not None else None

    @classmethod
    def load(cls, path: str | os.PathLike) -> CounterStore:
        """Counters from ``path`` (empty if the file does not exist yet); ``accept`` saves back there."""
        path = Path(path)
        text = read_atomic(path)
        raw = json.loads(text) if text is not None else {}
        return cls(raw.get("counters", {}), path)

    def save(self, path: str | os.PathLike | None = None) -> None:
        self._write(self.counters, path)

    def _write(self, counters: dict[str, int], path: str | os.PathLike | None = None) -> None:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("CounterStore has no path to save to")
        body = {"counters": dict(sorted(counters.items()))}
        write_atomic(target, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())

    def to_json(self) -> dict[str, Any]:
        return {"counters": dict(sorted(self.counters.items()))}

    def last(self, originator: str) -> int | None:
        return self.counters.get(entity_id(originator))

    def is_newer(self, originator: str, counter: int) -> bool:
        last = self.last(originator)
        return last is None or counter > last

    def accept(self, originator: str, counter: int) -> None:
        """Record ``counter`` as the highest from ``originator``: on disk first, then in memory (an
        ``OSError`` from the write leaves both unchanged)."""
        if not self.is_newer(originator, counter):
            raise ValueError(f"counter {counter} from {originator} is not newer than {self.last(originator)}")
        self._set(originator, counter)

    def restore(self, originator: str, counter: int | None) -> None:
        """Put back the counter ``last(originator)`` returned before an ``accept`` whose command was then
        not executed (``None``: no counter); disk first, then memory, as ``accept``."""
        self._set(originator, counter)

    def _set(self, originator: str, counter: int | None) -> None:
        key = entity_id(originator)
        updated = {k: v for k, v in self.counters.items() if k != key}
        if counter is not None:
            updated[key] = counter
        if self.path is not None:
            self._write(updated)
        self.counters = updated


def validate(data: bytes, device: Device, counters: CounterStore, now: datetime | None = None, *,
             max_length: int = MAX_MESSAGE_LENGTH, commit: bool = True) -> Accepted | Rejected:
    """Check a command as ``device`` would; on acceptance record its counter in ``counters`` (only with
    ``commit``; otherwise the caller does, once it has checked the rest).

    ``now`` is accepted for symmetry with the device shims (future-dated commands are not in the
    pairing use cases, so the date-time field is decoded but not acted on).
    """
    if len(data) > max_length:
        return Rejected(Reason.TOO_LONG, f"{len(data)} bytes > {max_length}")
    try:
        message = Message.from_bytes(data)
    except (DecodeError, ValueError) as e:
        return Rejected(Reason.MALFORMED, str(e))
    uc = USE_CASES.get(message.message_code)

    def reject(reason: Reason, detail: str) -> Rejected:
        return Rejected(reason, detail, message)

    if uc is None or uc.command is None:
        return reject(Reason.UNSUPPORTED_MESSAGE_CODE, f"message code 0x{message.message_code:04X} is not a "
                      "command the rig's devices execute")
    if message.cra != Cra.COMMAND:
        return reject(Reason.UNSUPPORTED_MESSAGE_CODE, f"{uc.name} arrived as a {message.cra.name.lower()}; "
                      "a device executes commands only")
    if device.role not in uc.targets:
        return reject(Reason.UNSUPPORTED_MESSAGE_CODE, f"a {device.role.value} does not execute {uc.label}")
    try:
        payload = decode_payload(message)
    except DecodeError as e:
        return reject(Reason.MALFORMED, str(e))
    if message.recipient != device.entity_id:
        return reject(Reason.WRONG_RECIPIENT, f"addressed to {message.recipient}, this is {device.entity_id}")
    if message.mac is None:
        return reject(Reason.BAD_MAC, f"a command must be MAC-protected (DD); this is a {message.form}")
    acb = device.keys.one(Role.ACB)
    if not crypto.verify_mac(message, device.keys.private_key(device.entity_id, "ka"),
                             device.keys.public_key(acb, "ka")):
        return reject(Reason.BAD_MAC, f"MAC does not verify with the ACB {acb} key-agreement key")
    if uc.signature_required or message.signed:
        if not message.signed:
            return reject(Reason.BAD_SIGNATURE, f"{uc.name} must be signed by its originator; it is not")
        if device.keys.role(message.originator) is None or not device.keys.has(message.originator, "ds"):
            return reject(Reason.UNAUTHORISED, f"unknown originator {message.originator}: no signing key")
        if not crypto.verify_message_signature(message, device.keys.public_key(message.originator, "ds")):
            return reject(Reason.BAD_SIGNATURE, f"signature does not verify with {message.originator}'s key")
    if not counters.is_newer(message.originator, message.counter):
        return reject(Reason.COUNTER_NOT_NEWER, f"counter {message.counter} <= last accepted "
                      f"{counters.last(message.originator)} from {message.originator}")
    role = device.keys.role(message.originator)
    if role is None:
        return reject(Reason.UNAUTHORISED, f"unknown originator {message.originator}")
    if role not in uc.originators:
        return reject(Reason.UNAUTHORISED, f"a {role.value} may not send {uc.label}")
    if commit:
        counters.accept(message.originator, message.counter)
    return Accepted(message, uc, payload)


@dataclass(frozen=True)
class KeyCheck:
    """``mac_valid`` / ``signature_valid``: True/False, or None when the store lacks the keys."""

    mac_valid: bool | None
    signature_valid: bool | None
    notes: tuple[str, ...] = ()


def mac_key_pairs(message: Message, keys: KeyStore) -> list[tuple[str, str]]:
    """The (entity, entity) pairs whose ECDH key may have made a message's MAC, most specific first.

    A command's MAC is the ACB's key agreement with the recipient device's, so where ``roles.json``
    names an ACB that pair comes first; then the originator's with the recipient's (a response's or an
    alert's pair, and a command's when the store names no ACB: the originator is then taken to hold
    the MAC key, as Smart DCC's gbcs-parser does with the two keys it is given)."""
    pairs: list[tuple[str, str]] = []
    if message.cra == Cra.COMMAND:
        pairs += [(message.recipient, acb) for acb in keys.ids(Role.ACB)]
    pairs.append((message.recipient, message.originator))
    return list(dict.fromkeys(pairs))


def check_with_store(message: Message, keys: KeyStore) -> KeyCheck:
    """Verify MAC and signature from whatever keys the store holds (either side of each ECDH pair):
    the MAC with the first pair of ``mac_key_pairs`` for which the store holds one side's private
    key and the other side's public key or certificate."""
    notes: list[str] = []
    mac_valid = signature_valid = None
    if message.mac is not None:
        pairs = mac_key_pairs(message, keys)
        usable = [(mine, theirs) for a, b in pairs for mine, theirs in ((a, b), (b, a))
                  if keys.has(mine, "ka", private=True) and keys.has(theirs, "ka")]
        if usable:
            mine, theirs = usable[0]
            mac_valid = crypto.verify_mac(message, keys.private_key(mine, "ka"), keys.public_key(theirs, "ka"))
        else:
            tried = "; ".join(f"{a} x {b}" for a, b in pairs)
            notes.append(f"no key-agreement pair in the store for the MAC ({tried}: one side's private key "
                         f"and the other's public key needed): MAC not checked")
    if message.signed:
        if keys.has(message.originator, "ds"):
            signature_valid = crypto.verify_message_signature(message, keys.public_key(message.originator, "ds"))
        else:
            notes.append(f"no signing key for {message.originator}: signature not checked")
    return KeyCheck(mac_valid, signature_valid, tuple(notes))
