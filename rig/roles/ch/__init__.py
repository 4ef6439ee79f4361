"""Communications Hub shim: the CHF behaviour a rig CH runs on the host above its coordinator dongle.

``core`` (no radio: CHF device log, inter-PAN policy, HHT expiry, GBCS checks) and ``shim`` (the same
core driven by EZSP: HAN, inter-PAN, CBKE, tunnelling).
"""

from .core import ChCore, Refusal
from .devicelog import DeviceLog, DeviceLogEntry

__all__ = ["ChCore", "DeviceLog", "DeviceLogEntry", "Refusal"]
