"""sect283k1 (SE crypto suite 2): the curve object and its sizes.

The arithmetic lives in :mod:`rig.cbke.koblitz` (shared with suite 1's sect163k1).
"""

from __future__ import annotations

from rig.cbke.curves import SECT283K1 as CURVE

FIELD_BYTES = 36
POINT_BYTES = 37
PRIVATE_KEY_BYTES = 36

__all__ = ["CURVE", "FIELD_BYTES", "POINT_BYTES", "PRIVATE_KEY_BYTES"]
