"""The attack catalogue: every attack a lab runs against a CH whose inter-PAN door is always open.

An :class:`Attack` names the rule it probes (``rule``, in words), where the rule comes from
(``source``: ``GBCS``, ``ZigBee/SE``, or ``rig`` with the ``rig.pairing`` constant that records the
choice), the policies it applies to, its ``steps`` (an async function of an
:class:`~rig.attacks.context.AttackContext`) and the outcome it expects: *held* — refused or ignored —
with one of the ``expect`` reasons (``fnmatch`` patterns over the CH's ``ch.refused``/``ch.dropped``
reasons; checked only where the CH is ours, since a real CH reports nothing but what it sends).

Family modules (``rig.attacks.gbcs``, ``interpan``, ``residency``, ``exhaustion``, ``window``) register
their attacks with :func:`attack`; :data:`CATALOGUE` holds them all, in registration order.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rig import pairing

# The reason a verdict carries when the CH host saw nothing (no ch.refused / ch.dropped event); an
# attack may expect it where the frame is rightly dropped below the host, by the CH's NCP.
SILENT = "silent (no ch.refused/ch.dropped event)"

FAMILIES = ("gbcs", "interpan", "residency", "exhaustion", "window")
SOURCES = ("GBCS", "ZigBee/SE", "rig")


@dataclass(frozen=True)
class Attack:
    name: str
    family: str
    rule: str
    source: str
    steps: Callable[..., Awaitable[None]]
    expect: tuple[str, ...]
    policies: tuple[str, ...] = pairing.POLICIES
    constant: str | None = None        # for source "rig": the rig.pairing constant that records the choice
    summary: str = ""
    needs_air: bool = False            # played with the emulated air's faults (skipped on real radios)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"attack {self.name}: unknown family {self.family!r}")
        if self.source not in SOURCES:
            raise ValueError(f"attack {self.name}: source must be one of {', '.join(SOURCES)}")
        if self.source == "rig" and not (self.constant and hasattr(pairing, self.constant)):
            raise ValueError(f"attack {self.name}: a rig choice names its rig.pairing constant")
        if not set(self.policies) <= set(pairing.POLICIES):
            raise ValueError(f"attack {self.name}: unknown policy in {self.policies}")

    @property
    def source_label(self) -> str:
        return f"rig (rig.pairing.{self.constant})" if self.source == "rig" else self.source

    def to_json(self) -> dict:
        return {"name": self.name, "family": self.family, "rule": self.rule, "source": self.source_label,
                "policies": list(self.policies), "expect": list(self.expect), "summary": self.summary,
                "needs_air": self.needs_air}


CATALOGUE: dict[str, Attack] = {}


def attack(name: str, *, family: str, rule: str, source: str, expect: tuple[str, ...] | str,
           policies: tuple[str, ...] = pairing.POLICIES, constant: str | None = None, needs_air: bool = False):
    """Register the decorated ``async def steps(ctx)`` as attack ``family.name``."""
    def register(steps):
        full = f"{family}.{name}"
        if full in CATALOGUE:
            raise ValueError(f"attack {full} registered twice")
        CATALOGUE[full] = Attack(full, family, rule, source, steps,
                                 (expect,) if isinstance(expect, str) else tuple(expect), tuple(policies),
                                 constant, (steps.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
                                 needs_air)
        return steps
    return register


def load() -> dict[str, Attack]:
    """Import every family module (registering its attacks) and return the catalogue."""
    for family in FAMILIES:
        importlib.import_module(f"rig.attacks.{family}")
    return CATALOGUE


def select(names: list[str] | None = None, *, everything: bool = False) -> list[Attack]:
    """Attacks by name (a family name selects the whole family); raises KeyError naming the unknown one."""
    catalogue = load()
    if everything or not names:
        return list(catalogue.values())
    out: list[Attack] = []
    for name in names:
        if name in catalogue:
            chosen = [catalogue[name]]
        elif name in FAMILIES:
            chosen = [a for a in catalogue.values() if a.family == name]
        else:
            raise KeyError(name)
        out += [a for a in chosen if a not in out]
    return out


def markdown_table() -> str:
    """The README's attack table, generated from the catalogue (a test keeps the README in step)."""
    rows = ["| attack | rule it probes | source | policies | held with |", "|---|---|---|---|---|"]
    for a in load().values():
        rule = a.rule.replace("|", "\\|")
        expect = ", ".join(f"`{e}`" for e in a.expect)
        rows.append(f"| `{a.name}` | {rule} | {a.source_label} | {', '.join(a.policies)} | {expect} |")
    return "\n".join(rows) + "\n"
