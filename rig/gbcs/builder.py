"""Make valid GBCS messages from a key store: commands as the DCC (ACB) and a supplier make them,
and the responses and alerts a device sends back.

How a command is put together (RTDS 4.5.0 practice, team notes ``gbcs.md`` §1-3):

* critical (``critical=True``): the supplier is the originator and signs the pre-command (CV4 → CV6),
  then the DCC wraps it in the MAC'd form;
* ACB-built (CCS01, CCS02, non-critical CS03A2/CS03C/CS04AC): the ACB is the originator, the DCC user
  is the Supplementary Remote Party (ID + the user's counter); signed by the ACB where the use case
  needs a signature;
* CS03B / CS04B: the supplier is the originator, unsigned.

The MAC of every command uses the ACB's key-agreement key with the recipient's.  Counters start at
the current Unix time in milliseconds (as live DCC counters do) unless ``counter_start`` is given,
and go up by one per originator.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from . import crypto
from .keystore import KeyStore
from .message import Cra, Message, entity_id
from .usecases import (
    GENERIC_NON_CRITICAL_ALERT,
    ROLE_DEVICE_TYPE,
    DeviceType,
    JoinMethodRole,
    Role,
    UseCase,
    encode_payload,
    invoke_id,
    use_case,
)

GBZ_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_METHOD_ROLE = {"CS03A1": JoinMethodRole.A_INITIATOR, "CS03A2": JoinMethodRole.A_RESPONDER,
                       "CS03B": JoinMethodRole.B, "CS03C": JoinMethodRole.C}
DEFAULT_RESULTS = {"CCS01": {"register_result": 0, "join_timeout_result": 0, "joining_enabled_result": 0},
                   "CCS02": {"unregister_result": 0}}


def gbz_timestamp(when: datetime | None = None) -> int:
    """Seconds since 2000-01-01 00:00 UTC."""
    return int(((when or datetime.now(UTC)) - GBZ_EPOCH).total_seconds())


class Builder:
    def __init__(self, keys: KeyStore, *, counter_start: int | None = None) -> None:
        self.keys = keys
        self.counter_start = counter_start
        self._next: dict[str, int] = {}

    def next_counter(self, originator: str) -> int:
        originator = entity_id(originator)
        start = self.counter_start if self.counter_start is not None else time.time_ns() // 1_000_000
        counter = self._next.get(originator, start)
        self._next[originator] = counter + 1
        return counter

    # --- the three steps of a command: pre-command, signature, DCC wrapping -----------------------

    def precommand(self, uc: UseCase, originator: str, recipient: str, payload: dict[str, Any], *,
                   counter: int | None = None, user: str | None = None, user_counter: int | None = None) -> Message:
        """The unsigned General-Signing form (as DUIS returns it for CV4), without signature field."""
        counter = self.next_counter(originator) if counter is None else counter
        if "invoke_id" in uc.command.names:
            payload = {"invoke_id": invoke_id(counter), **payload}
        return Message(Cra.COMMAND, counter, originator, recipient, uc.code,
                       encode_payload(uc.code, Cra.COMMAND, payload),
                       supplementary_remote_party_id=user,
                       supplementary_remote_party_counter=None if user is None else (
                           self.next_counter(user) if user_counter is None else user_counter),
                       signature=None)

    def sign(self, message: Message, signer: str | None = None) -> Message:
        """Add the signature of ``signer`` (default: the originator) over the pre-command."""
        key = self.keys.private_key(signer or message.originator, "ds")
        return replace(message, signature=crypto.sign(key, message.signed_data()))

    def wrap(self, message: Message) -> Message:
        """What the DCC does last: the MAC'd General-Ciphering form, ACB KA key × recipient KA key."""
        message = replace(message, signature=message.signature or b"", mac=bytes(12))
        acb = self.keys.one(Role.ACB)
        mac = crypto.compute_mac(message, self.keys.private_key(acb, "ka"),
                                 self.keys.public_key(message.recipient, "ka"))
        return replace(message, mac=mac)

    def command(self, name: str | int, recipient: str, payload: dict[str, Any], *, critical: bool | None = None,
                counter: int | None = None, user: str | None = None, user_counter: int | None = None) -> Message:
        """A deliverable command (DD + MAC).  ``critical`` defaults to "the supplier signs" for use cases
        that need a signature and a supplier may send; ``user`` defaults to the store's supplier."""
        uc = use_case(name)
        user = entity_id(user) if user else self.keys.one(Role.SUPPLIER)
        if critical is None:
            critical = uc.signature_required and Role.SUPPLIER in uc.originators
        if critical and not uc.signature_required:
            raise ValueError(f"{uc.name} is never a critical (supplier-signed) command")
        acb_built = Role.SUPPLIER not in uc.originators or (uc.signature_required and not critical)
        if acb_built and Role.ACB not in uc.originators:
            raise ValueError(f"{uc.name} is always a critical command")
        if acb_built:
            pre = self.precommand(uc, self.keys.one(Role.ACB), recipient, payload, counter=counter, user=user,
                                  user_counter=user_counter)
        else:
            pre = self.precommand(uc, user, recipient, payload, counter=counter)
        return self.wrap(self.sign(pre) if uc.signature_required else pre)

    # --- the pairing use cases ---------------------------------------------------------------------

    def ccs01(self, chf: str, device_id: str, device_type: DeviceType | Role, install_code: bytes, *,
              join_timeout: int = 90, **kw: Any) -> Message:
        """Add ``device_id`` to the CHF device log; ``device_type`` may be a role (``Role.HHT`` → Type 2)."""
        if isinstance(device_type, Role):
            device_type = ROLE_DEVICE_TYPE[device_type]
        payload = {"device_id": entity_id(device_id), "device_type": device_type, "install_code": install_code,
                   "trailing_enum": 0, "join_timeout": join_timeout, "joining_enabled": True}
        return self.command("CCS01", chf, payload, **kw)

    def ccs02(self, chf: str, device_id: str, **kw: Any) -> Message:
        return self.command("CCS02", chf, {"device_id": entity_id(device_id)}, **kw)

    def join(self, name: str, target: str, partner_id: str, partner_type: DeviceType, *,
             method_role: JoinMethodRole | None = None, ka_certificate: bytes = b"", **kw: Any) -> Message:
        payload = {"method_role": DEFAULT_METHOD_ROLE[name.upper()] if method_role is None else method_role,
                   "partner_id": entity_id(partner_id), "partner_type": partner_type,
                   "ka_certificate": ka_certificate}
        return self.command(name, target, payload, **kw)

    def unjoin(self, name: str, target: str, partner_id: str, **kw: Any) -> Message:
        return self.command(name, target, {"partner_id": entity_id(partner_id)}, **kw)

    # --- what devices send back ------------------------------------------------------------------

    def response(self, command: Message, **payload: Any) -> Message:
        """The recipient device's response: same counter and other-information, CRA 2, to the originator.
        Payload fields default to success (DLMS results 0, join/unjoin result 0)."""
        uc = use_case(command.message_code)
        values = {**DEFAULT_RESULTS.get(uc.name, {"result": 0}), **payload}
        if "invoke_id" in uc.response.names:
            values.setdefault("invoke_id", invoke_id(command.counter))
        message = replace(command, cra=Cra.RESPONSE, originator=command.recipient, recipient=command.originator,
                          content=encode_payload(uc.code, Cra.RESPONSE, values), signature=b"", mac=None)
        return self._from_device(message, signed=uc.response_signed)

    def alert(self, device: str, recipient: str, alert_code: int, *, when: datetime | None = None,
              counter: int | None = None, alert_data: bytes = b"") -> Message:
        """A GBZ alert (CRA 3, Generic Non Critical Alert) from ``device``, MAC'd for ``recipient``."""
        device = entity_id(device)
        content = encode_payload(GENERIC_NON_CRITICAL_ALERT, Cra.ALERT, {
            "components": 0, "alert_code": alert_code, "timestamp": gbz_timestamp(when), "alert_data": alert_data})
        message = Message(Cra.ALERT, self.next_counter(device) if counter is None else counter, device,
                          recipient, GENERIC_NON_CRITICAL_ALERT, content)
        return self._from_device(message, signed=False)

    def _from_device(self, message: Message, *, signed: bool) -> Message:
        if signed:  # bare General-Signing, signed by the device, no MAC
            return self.sign(message)
        message = replace(message, mac=bytes(12))
        mac = crypto.compute_mac(message, self.keys.private_key(message.originator, "ka"),
                                 self.keys.public_key(message.recipient, "ka"))
        return replace(message, mac=mac)
