"""``rig cbke install``: a CBKE 283k1 token (certificate, CA public key, private key) into an NCP's
write-once MFG_CBKE_283K1_DATA over EZSP, planned before anything is written, then read back.

EZSP allows it only on firmware with the CBKE library (issue 13): ``setValue`` of
``VALUE_CERTIFICATE_283K1`` / ``VALUE_PUBLIC_KEY_283K1`` (the CA's) / ``VALUE_PRIVATE_KEY_283K1``, then
``savePreinstalledCbkeData283k1``.  The token is write-once (a second save answers
FLASH_WRITE_INHIBITED), and a certificate naming another EUI-64 than the device's also burns that EUI-64
into the write-once MFG_CUSTOM_EUI_64 token (the device uses it from its next boot).  So, like
``rig write-eui64 --burn``, nothing is written without ``burn``; an already installed token equal to
the file's is "nothing to do" (re-running provisioning is harmless) and a different one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import bellows.types as t

from rig.cbke import crypto
from rig.cbke.token import CbkeToken
from rig.zigbee.eui64 import eui_hex

CBKE_VALUES = (("VALUE_CERTIFICATE_283K1", "certificate"), ("VALUE_PUBLIC_KEY_283K1", "ca_public_key"),
               ("VALUE_PRIVATE_KEY_283K1", "private_key"))


class CbkeInstallError(Exception):
    """The NCP refused a step of the installation (the message names the step and its status)."""


@dataclass
class InstallPlan:
    port: str
    method: str                  # "nothing" (already installed), "refuse", "burn"
    reason: str
    subject: str                 # the certificate's EUI-64 (16 hex)
    device: str                  # the EUI-64 the device uses now
    burns_eui64: bool = False    # the save also burns the subject into MFG_CUSTOM_EUI_64


def _status(value) -> t.sl_Status:
    return t.sl_Status.from_ember_status(value)


def token_problem(token) -> str | None:
    """Why ``token`` cannot be installed (None: it can): suite 2 only, key pair matching the certificate."""
    if not isinstance(token, CbkeToken):
        return f"the token is for suite {token.SUITE.number}; EZSP provisions only suite 2 (sect283k1) tokens"
    try:
        d = crypto.decode_private_key(token.SUITE, token.private_key)
        ok = crypto.reconstruct_public_key(token.SUITE, token.certificate, token.ca_public_key) == \
            crypto.public_key(token.SUITE, d)
    except crypto.CbkeCryptoError as exc:
        return f"unusable key material: {exc}"
    return None if ok else "the private key does not match the certificate and CA public key"


async def installed_certificate(ezsp) -> tuple[str, bytes | None]:
    """("none" | "installed" | "no_library", certificate) as ``getCertificate283k1`` answers."""
    from bellows.exception import InvalidCommandError

    try:
        status, cert = await ezsp.getCertificate283k1()
    except InvalidCommandError:
        return "no_library", None
    status = _status(status)
    if status == t.sl_Status.NOT_AVAILABLE:
        return "no_library", None
    return ("installed", bytes(cert)) if status == t.sl_Status.OK else ("none", None)


async def plan_cbke_install(ezsp, port: str, token, *, burn: bool) -> InstallPlan:
    """What installing ``token`` would do on the connected NCP, decided before anything is written."""
    from rig.probe import mfg_custom_eui64

    (eui,) = await ezsp.getEui64()
    device = eui_hex(eui)
    problem = token_problem(token)
    subject = token.subject.hex().upper()
    plan = InstallPlan(port, "refuse", problem or "", subject, device)
    if problem:
        return plan
    state, cert = await installed_certificate(ezsp)
    if state == "no_library":
        plan.reason = ("the firmware was built without the CBKE 283k1 library (getCertificate283k1: NOT_AVAILABLE); "
                       "flash an NCP image with it")
        return plan
    if state == "installed":
        if cert == token.certificate:
            plan.method, plan.reason = "nothing", f"{port} already holds this certificate (subject {subject})"
        else:
            held = token.SUITE.certificate.decode(cert).subject.hex().upper()
            plan.reason = (f"the write-once CBKE token already holds another certificate (subject {held}); "
                           "it cannot be written again without erasing the flash")
        return plan
    if subject != device:
        custom_state, custom = await mfg_custom_eui64(ezsp)
        burnt = (custom or "").replace(":", "")
        if custom_state == "burnt" and burnt != subject:
            plan.reason = (f"the certificate names {subject}, the device is {device} and its write-once "
                           f"MFG_CUSTOM_EUI_64 is already burnt to {burnt}: saving would be refused")
            return plan
        plan.burns_eui64 = custom_state != "burnt"
    if not burn:
        plan.reason = ("MFG_CBKE_283K1_DATA is write-once" + (
            f", and the certificate names {subject}, not the device's {device}: saving also burns {subject} into "
            "MFG_CUSTOM_EUI_64" if plan.burns_eui64 else "") + ". Pass --burn to write it: that can NEVER be undone")
        return plan
    plan.method = "burn"
    plan.reason = "write-once MFG_CBKE_283K1_DATA" + (
        f" and MFG_CUSTOM_EUI_64 = {subject} (used from the next boot)" if plan.burns_eui64 else "")
    return plan


async def install_and_read_back(ezsp, token: CbkeToken, plan: InstallPlan) -> None:
    """The three ``setValue``s and ``savePreinstalledCbkeData283k1``, then the certificate (and the custom
    EUI-64 when the save burns it) read back; CbkeInstallError names the step that failed."""
    from rig.probe import mfg_custom_eui64

    for value_name, attribute in CBKE_VALUES:
        (status,) = await ezsp.setValue(valueId=getattr(t.EzspValueId, value_name), value=getattr(token, attribute))
        if _status(status) != t.sl_Status.OK:
            raise CbkeInstallError(f"setValue {value_name}: {_status(status).name}")
    (status,) = await ezsp.savePreinstalledCbkeData283k1()
    if _status(status) != t.sl_Status.OK:
        raise CbkeInstallError(f"savePreinstalledCbkeData283k1: {_status(status).name}")
    state, cert = await installed_certificate(ezsp)
    if cert != token.certificate:
        raise CbkeInstallError(f"read back: getCertificate283k1 gives {state} "
                               f"{'another certificate' if cert else 'no certificate'} after the save")
    if plan.burns_eui64:
        custom_state, custom = await mfg_custom_eui64(ezsp)
        if (custom or "").replace(":", "") != plan.subject:
            raise CbkeInstallError(f"read back: MFG_CUSTOM_EUI_64 is {custom or custom_state}, expected {plan.subject}")
