"""``rig provision INVENTORY``: give every dongle of a bench what the suite needs, and write what is not
in any token beside the inventory.

For each dongle (the sniffer aside), over EZSP:

* an install code in MFG_INSTALLATION_CODE (read; a random one written once when the token is erased);
* a CBKE 283k1 token issued by the bench's test CA (``rig cbke ca``) for the EUI-64 the inventory's label
  gives it (else the one it uses now), installed with ``rig.cbke.install`` — when that EUI-64 is not
  the dongle's, the save also burns it into MFG_CUSTOM_EUI_64, and the dongle is reset and checked to
  use it.

Beside the inventory, in ``provision_dir(INVENTORY)`` (``lab.yaml`` → ``lab.provisioned/``):

* ``ca/ca.json`` the test CA; ``tokens/NAME.json`` each dongle's token, and ``tokens/NAME-b.json`` the
  PPMID's identity B certificate, which its host holds;
* ``labels.json`` what a device's label says and no dongle can tell: every EUI-64 per role, identity
  B's install code and its token file;
* ``keys/`` the GBCS test key store (GPF = the CH dongle's EUI-64, ESME, HHT = PPMID identity A,
  PPMID = identity B).

With an external CH (``external_ch:``) there is no CH dongle: certificates are issued by the CA the CH
trusts (``external_ch.pki/ca``), and ``keys/`` is that PKI's store (its DCC keys, CHF and GPF) plus the
rig's own devices' identities; the PKI itself is never written.

Every write-once token is written only with ``burn`` (as ``rig write-eui64 --burn``).  Re-running does
nothing more: install codes and certificates already on a dongle are kept (a certificate from another CA
is reported), files already written are reused.  A dongle that fails gets one line naming it; the others
are still provisioned.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bellows.types as t

from rig.atomic import write_atomic
from rig.cbke.ca import TestCa
from rig.cbke.install import CbkeInstallError, install_and_read_back, installed_certificate, plan_cbke_install
from rig.cbke.token import CbkeToken, load_token
from rig.inventory import Dongle, Inventory
from rig.zigbee.eui64 import eui_hex
from rig.zigbee.install_code import install_code_from_token, install_code_token

LABELS_FILE = "labels.json"


class ProvisionError(Exception):
    """One dongle could not be provisioned (the message names the step)."""


def provision_dir(inventory_path: str | Path) -> Path:
    """Where ``rig provision`` writes what belongs beside ``inventory_path``."""
    path = Path(inventory_path)
    return path.with_name(f"{path.stem}.provisioned")


@dataclass
class Provisioned:
    """What provisioning found or did, per dongle name: lines such as "install code written"."""

    done: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def load_labels(directory: Path) -> dict[str, dict]:
    """``labels.json`` of a provisioning directory ({} when there is none)."""
    path = directory / LABELS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _external_ca(inventory: Inventory) -> TestCa:
    """The CBKE CA the external CH trusts (``external_ch.pki/ca``): the rig's dongles need its certificates."""
    ca_dir = inventory.external_ch.pki / "ca"
    if not (ca_dir / "ca.json").is_file():
        raise ProvisionError(f"the external CH's PKI has no CBKE CA ({ca_dir}/ca.json): external_ch.pki names "
                             "the folder with ca/ and keys/ the CH trusts")
    return TestCa.load(ca_dir)


def _ca(directory: Path) -> TestCa:
    ca_dir = directory / "ca"
    if (ca_dir / "ca.json").is_file():
        return TestCa.load(ca_dir)
    ca = TestCa.create()
    ca.save(ca_dir)
    return ca


def _token(directory: Path, name: str, ca: TestCa, eui: str) -> CbkeToken:
    """The token file for ``name`` (issued now if missing, or if it names another EUI-64 or CA)."""
    path = directory / "tokens" / f"{name}.json"
    if path.is_file():
        token = load_token(path)
        if token.subject.hex().upper() == eui and token.ca_public_key == ca.public_key:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = ca.issue(bytes.fromhex(eui))
    token.save(path)
    return token


async def _install_code(ezsp, *, burn: bool) -> tuple[bytes, str]:
    (data,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
    code = install_code_from_token(bytes(data))
    if code is not None:
        return code, "install code kept"
    if not burn:
        raise ProvisionError("MFG_INSTALLATION_CODE is erased and write-once; pass --burn to write one")
    code = os.urandom(16)
    (status,) = await ezsp.setMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE,
                                       tokenData=install_code_token(code))
    if t.sl_Status.from_ember_status(status) != t.sl_Status.OK:
        raise ProvisionError(f"setMfgToken MFG_INSTALLATION_CODE: {t.sl_Status.from_ember_status(status).name}")
    (data,) = await ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
    if install_code_from_token(bytes(data)) != code:
        raise ProvisionError("read back: MFG_INSTALLATION_CODE differs from what was written")
    return code, "install code written"


async def provision_dongle(ezsp, dongle: Dongle, directory: Path, ca: TestCa, *, burn: bool) -> list[str]:
    """Install code and CBKE token for one connected dongle; the lines say what was kept or written."""
    (eui,) = await ezsp.getEui64()
    current = eui_hex(eui)
    wanted = dongle.eui64 or current
    _code, said = await _install_code(ezsp, burn=burn)
    lines = [said]
    state, cert = await installed_certificate(ezsp)
    if state == "installed":
        held = CbkeToken.SUITE.certificate.decode(cert)
        mine = directory / "tokens" / f"{dongle.name}.json"
        if not (mine.is_file() and load_token(mine).certificate == cert):
            lines.append(f"CBKE certificate kept (subject {held.subject.hex().upper()}, issuer "
                         f"{held.issuer.hex().upper()}: not issued by this bench's CA, whose partners may refuse it)")
        else:
            lines.append("CBKE certificate kept")
        return lines
    token = _token(directory, dongle.name, ca, wanted)
    plan = await plan_cbke_install(ezsp, dongle.port, token, burn=burn)
    if plan.method == "refuse":
        raise ProvisionError(f"CBKE token: {plan.reason}")
    if plan.method == "burn":
        try:
            await install_and_read_back(ezsp, token, plan)
        except CbkeInstallError as exc:
            raise ProvisionError(f"CBKE token: {exc}") from None
        lines.append(f"CBKE certificate for {plan.subject} installed")
    if plan.burns_eui64:
        await ezsp.reset()                       # the custom EUI-64 takes effect at the next boot
        await ezsp.version()
        (eui,) = await ezsp.getEui64()
        if eui_hex(eui) != wanted:
            raise ProvisionError(f"after reset the dongle uses {eui_hex(eui)}, not the certificate's {wanted}")
        lines.append(f"uses {wanted} from now on (MFG_CUSTOM_EUI_64)")
    return lines


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def write_host_side(inventory: Inventory, directory: Path, ca: TestCa, euis: dict[str, str]) -> list[str]:
    """labels.json (identity B's EUI-64, install code and token file) and the GBCS key store; ``euis``:
    the EUI-64 each role's dongle uses now."""
    from rig.gbcs import Role, create_test_store

    labels = load_labels(directory)
    lines = []
    for dongle in inventory.dongles.values():
        if dongle.role == "sniffer" or dongle.role not in euis:
            continue
        entry = {"eui64s": [euis[dongle.role], *dongle.eui64s[1:]], "install_codes": {}, "cbke_tokens": {}}
        if dongle.role == "ppmid":
            b = dongle.eui64s[1]
            old = labels.get("ppmid", {})
            code = old.get("install_codes", {}).get(b) or os.urandom(16).hex().upper()
            _token(directory, f"{dongle.name}-b", ca, b)
            entry["install_codes"] = {b: code}
            entry["cbke_tokens"] = {b: f"tokens/{dongle.name}-b.json"}
            lines.append(f"identity B {b}: install code and CBKE certificate (host-held) in {directory.name}")
        labels[dongle.role] = entry
    _write_json(directory / LABELS_FILE, labels)
    keys = directory / "keys"
    if inventory.external_ch is not None:
        if {"esme", "ppmid"} <= set(euis):
            from rig.gbcs import derive_store

            derive_store(inventory.external_ch.pki / "keys", keys,
                         [(euis["esme"], Role.ESME), (euis["ppmid"], Role.HHT),
                          (inventory.dongle_for("ppmid").eui64s[1], Role.PPMID)])
            lines.append(f"GBCS key store (the CH's PKI and the rig's devices) written to {keys}")
        return lines
    if not (keys / "roles.json").is_file():
        if not {"ch", "esme", "ppmid"} <= set(euis):
            return lines
        create_test_store(keys, hht=[euis["ppmid"]], ppmid=[inventory.dongle_for("ppmid").eui64s[1]],
                          ids={Role.GPF: euis["ch"], Role.ESME: euis["esme"]})
        lines.append(f"GBCS test key store written to {keys}")
    return lines


async def provision(inventory: Inventory, inventory_path: Path, *, burn: bool, timeout: float = 20.0,
                    say: Callable[[str], None] = print) -> Provisioned:
    """Provision every dongle of ``inventory`` (one after another), then the files beside it."""
    from rig.backend import InventoryBackend
    from rig.power import PowerError

    directory = provision_dir(inventory_path)
    directory.mkdir(parents=True, exist_ok=True)
    ca = _external_ca(inventory) if inventory.external_ch is not None else _ca(directory)
    backend = InventoryBackend(inventory)
    result = Provisioned()
    euis: dict[str, str] = {}
    for dongle in inventory.dongles.values():
        if dongle.role == "sniffer":
            continue
        where = f"dongle {dongle.name} (role {dongle.role}) at {dongle.port}"
        try:
            ezsp = await backend.open_ezsp(dongle.role, timeout=timeout)
        except PowerError as exc:
            result.failed[dongle.name] = f"{where}: {exc}"
            say(f"FAILED {result.failed[dongle.name]}")
            continue
        try:
            lines = await provision_dongle(ezsp, backend.dongle(dongle.role), directory, ca, burn=burn)
            (eui,) = await ezsp.getEui64()
            euis[dongle.role] = eui_hex(eui)
        except (ProvisionError, TimeoutError) as exc:
            result.failed[dongle.name] = f"{where}: {str(exc) or type(exc).__name__}"
            say(f"FAILED {result.failed[dongle.name]}")
            continue
        except Exception as exc:  # noqa: BLE001 - bellows' errors: reported per dongle, the rest go on
            result.failed[dongle.name] = f"{where}: {type(exc).__name__}: {exc}"
            say(f"FAILED {result.failed[dongle.name]}")
            continue
        finally:
            with contextlib.suppress(Exception):     # a dongle that went away has nothing to close
                await ezsp.disconnect()
        result.done[dongle.name] = lines
        say(f"{dongle.name} ({dongle.role}, {euis[dongle.role]}): {'; '.join(lines)}")
    for line in write_host_side(inventory, directory, ca, euis):
        say(line)
    return result
