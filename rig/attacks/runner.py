"""Run attacks and say, for each, whether the CH held.

The verdict (``AttackResult.outcome``):

* ``breached`` when the attack saw over the air what it must not get (an answer, the HAN, a legitimate
  HHT kept from pairing — ``ctx.breach``), or, where the CH is ours, when the CH's state (device log,
  GBCS counters, key table, transient keys, joined devices) differs from before the attack in anything
  the attack's legitimate steps did not change;
* ``held`` otherwise; ``reason`` is then the CH's first refusal/drop reason that the attack expects
  (``reason_expected`` True), or the first one it gave (False), or — where the CH gave none or is not
  ours — what the air showed;
* ``error`` when the attack could not be carried out (the premises failed, not the CH);
* ``skipped`` for an attack played by the emulated air's faults on real radios, needing a dongle
  (``attacker``, ``hht2``) the inventory does not have, or needing of an external CH what it does not
  offer the rig (its clock to jump, its power cut: ``CannotPlay``), or a policy it does not implement.
"""

from __future__ import annotations

import fnmatch
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rig.atomic import scratch_dir
from rig.attacks.catalogue import SILENT, Attack
from rig.attacks.context import AttackContext, CannotPlay, describe_mpdu
from rig.inventory import InventoryError


@dataclass
class AttackResult:
    name: str
    family: str
    rule: str
    source: str
    policy: str
    outcome: str                       # held | breached | error | skipped
    reason: str | None
    expected: list[str]
    reason_expected: bool | None       # None: the CH is not ours (reasons are not reported)
    state_unchanged: bool | None       # None: the CH is not ours
    ch_reason: str | None = None       # the CH's refusal/drop reason (ours only), even for a breach
    observed: list[str] = field(default_factory=list)
    state_changes: list[str] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)       # for a breach: the attacker's frames (hex)
    real_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "held" and self.reason_expected is not False

    def to_json(self) -> dict:
        d = asdict(self)
        d["real_seconds"] = round(self.real_seconds, 2)
        return d


def breach_frames(ctx: AttackContext, limit: int = 64) -> list[dict]:
    """The attacker's MPDUs; when the breach came from a device's own steps (a removed HHT rejoining, an
    HHT through its tunnel) and no raw frame was injected, what the sniffer heard after the mark."""
    if ctx.frames:
        return [{"hex": m.hex(), "what": describe_mpdu(m)} for m in ctx.frames[:limit]]
    heard = [(when, psdu[:-2]) for when, psdu in ctx.air_log if when >= ctx.mark_time and psdu[0] & 0x07 != 0x02]
    return [{"hex": m.hex(), "what": f"heard at {when:.3f} s: {describe_mpdu(m)}"} for when, m in heard[:limit]]


def matches(reason: str, patterns: list[str] | tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(reason, p) for p in patterns)


async def run_attack(attack: Attack, premises, policy: str) -> AttackResult:
    """Run ``attack`` on a set-up premises (its CH program is started here with ``policy``)."""
    started = time.monotonic()
    result = AttackResult(attack.name, attack.family, attack.rule, attack.source_label, policy, "error", None,
                          list(attack.expect), None, None)
    if policy not in attack.policies:
        raise ValueError(f"{attack.name} does not apply to policy {policy} (only {', '.join(attack.policies)})")
    if attack.needs_air and premises.air is None:
        result.outcome, result.reason = "skipped", "needs the emulated air (its faults play the attack)"
        return result
    if premises.external is not None and policy != premises.external.policy:
        result.outcome, result.reason = "skipped", f"the CH under test implements {premises.external.policy}"
        return result
    ctx = await AttackContext.build(premises, policy)
    try:
        await ctx.take_baseline()
        ctx.mark()
        try:
            await attack.steps(ctx)
        except InventoryError as exc:       # real radios without the dongle the attack needs (attacker, hht2)
            result.outcome, result.reason = "skipped", f"the rig has no dongle for it: {exc}"
            return result
        except CannotPlay as exc:           # an external CH: its clock or power is not the rig's
            result.outcome, result.reason = "skipped", str(exc)
            result.observed = list(ctx.observed)
            return result
        except Exception as exc:  # noqa: BLE001 - an attack that cannot be carried out is an error, reported
            result.observed = [*ctx.observed, f"error: {type(exc).__name__}: {exc}"]
            result.reason = f"attack_error:{type(exc).__name__}"
            result.frames = [{"hex": m.hex(), "what": describe_mpdu(m)} for m in ctx.frames[-20:]]
            result.state_changes = traceback.format_exc().splitlines()[-6:]
            return result
        await ctx.settle(None, 1.0, max_real=3.0)
        after = await ctx.snapshot()
        if ctx.baseline is not None and after is not None:
            result.state_changes = ctx.state_diff(ctx.baseline, after)
            result.state_unchanged = not result.state_changes
        reasons = ctx.reasons()
        result.observed = list(ctx.observed)
        breached = bool(ctx.breaches) or result.state_unchanged is False
        result.outcome = "breached" if breached else "held"
        if ctx.ch is not None:
            fitting = [r for r in reasons if matches(r, attack.expect)]
            if not reasons and SILENT in attack.expect:     # dropped below the host (the NCP), as expected
                fitting = [SILENT]
            result.ch_reason = (fitting or reasons or [SILENT])[0]
            result.reason_expected = bool(fitting)
            result.reason = result.ch_reason
        else:
            result.reason = "; ".join(ctx.observed[-1:]) or "no answer over the air"
        if breached:
            result.reason = (f"breach: {ctx.breaches[0]}" if ctx.breaches
                             else f"breach: CH state changed ({'; '.join(result.state_changes[:3])})")
            result.frames = breach_frames(ctx)
        return result
    finally:
        await ctx.close()
        result.real_seconds = time.monotonic() - started


async def run_on_backend(attack: Attack, policy: str, *, rig: str = "sim", work_dir: Path | None = None,
                         label: dict | None = None) -> AttackResult:
    """One attack on a premises of its own (``rig`` as for ``--rig``)."""
    from rig.backend import backend_for
    from rig.premises import Premises

    with tempfile.TemporaryDirectory(prefix="rig-attack-", dir=work_dir or scratch_dir()) as tmp:
        backend = backend_for(rig, state_dir=Path(tmp) / "nv", **(label or {}))
        premises = Premises(backend, Path(tmp))
        try:
            await premises.setup()
            return await run_attack(attack, premises, policy)
        finally:
            await premises.close()


def plan(attacks: list[Attack], policies: list[str]) -> list[tuple[Attack, str]]:
    """(attack, policy) for every chosen policy the attack applies to."""
    return [(a, p) for a in attacks for p in policies if p in a.policies]
