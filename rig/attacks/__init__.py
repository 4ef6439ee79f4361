"""The attack catalogue (``rig attack list|run``): attacks over the air on a CH whose inter-PAN
pairing is always open (SECMP0037), each with the rule it probes and the outcome it expects."""

from .catalogue import CATALOGUE, Attack, attack, load, select

__all__ = ["CATALOGUE", "Attack", "attack", "load", "select"]
