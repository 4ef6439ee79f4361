"""Which received MAC frames an EmberZNet NCP hands to its host instead of its own stack.

Two paths:

* the **MAC filter-match list** (``setValue(VALUE_MAC_FILTER_LIST)``): u16 entries, first match wins,
  ``0x8000`` ends the list; a match raises ``macFilterMatchMessageHandler``;
* the older **SE inter-PAN passthrough flag** (``VALUE_MAC_PASSTHROUGH_FLAGS`` bit 0x01): frames whose
  NWK frame control is exactly the inter-PAN stub ``0x000B`` raise ``macPassthroughMessageHandler``.

Entry bits (Silabs ``mac-types.h``): destination PAN local 0x0001 / broadcast 0x0002; source PAN
non-local 0x0004 / local 0x0008; destination address broadcast-short 0 / unicast-short 0x0010 /
unicast-long 0x0020; source long 0 / short 0x0080 / none 0x0100.
Choice [I]: an entry whose destination-PAN field is 0 ("none") matches nothing — this is what makes
SL's "write all-zero entries" switch reception off.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import zigpy.types as zt

from rig.zigbee.frames import INTERPAN_NWK_FC

FILTER_END = 0x8000


@dataclass(frozen=True)
class MacSummary:
    """The addressing facts the filter list looks at."""

    frame_type: int
    dst_pan: int | None
    dst_mode: int                 # 0 none, 2 short, 3 long
    dst_short: int | None
    src_pan: int | None
    src_mode: int
    src_eui: zt.EUI64 | None
    inter_pan: bool               # NWK frame control is the inter-PAN stub


def classify(frame: bytes) -> MacSummary | None:
    """Summarise a MAC frame (without FCS); None if it is not a well-formed data frame."""
    if len(frame) < 3:
        return None
    fcf = frame[0] | frame[1] << 8
    frame_type, dst_mode, src_mode = fcf & 7, (fcf >> 10) & 3, (fcf >> 14) & 3
    compress = bool(fcf & 0x40)
    if frame_type != 1 or dst_mode == 1 or src_mode == 1:
        return None
    pos = 3
    dst_pan = dst_short = src_pan = None
    src_eui = None
    try:
        if dst_mode:
            dst_pan = struct.unpack_from("<H", frame, pos)[0]
            pos += 2
            if dst_mode == 2:
                dst_short = struct.unpack_from("<H", frame, pos)[0]
                pos += 2
            else:
                pos += 8
        if src_mode:
            if compress:
                src_pan = dst_pan
            else:
                src_pan = struct.unpack_from("<H", frame, pos)[0]
                pos += 2
            if src_mode == 3:
                src_eui = zt.EUI64(frame[pos:pos + 8])
                if len(frame) < pos + 8:
                    return None
                pos += 8
            else:
                pos += 2
        nwk_fc = struct.unpack_from("<H", frame, pos)[0] if len(frame) >= pos + 2 else None
    except struct.error:
        return None
    return MacSummary(frame_type, dst_pan, dst_mode, dst_short, src_pan, src_mode, src_eui,
                      nwk_fc == INTERPAN_NWK_FC)


def entry_matches(entry: int, m: MacSummary, local_pan: int | None) -> bool:
    dst_pan_rule = entry & 0x0003
    if dst_pan_rule == 0 or m.dst_pan is None:
        return False
    is_local_dst = local_pan is not None and m.dst_pan == local_pan
    if dst_pan_rule == 0x0001 and not is_local_dst:
        return False
    if dst_pan_rule == 0x0002 and m.dst_pan != 0xFFFF:
        return False
    src_pan_rule = entry & 0x000C
    if src_pan_rule:
        is_local_src = local_pan is not None and m.src_pan == local_pan
        if src_pan_rule == 0x0004 and is_local_src:
            return False
        if src_pan_rule == 0x0008 and not is_local_src:
            return False
    dst_rule = entry & 0x0030
    if dst_rule == 0x0000 and not (m.dst_mode == 2 and m.dst_short == 0xFFFF):
        return False
    if dst_rule == 0x0010 and not (m.dst_mode == 2 and m.dst_short != 0xFFFF):
        return False
    if dst_rule == 0x0020 and m.dst_mode != 3:
        return False
    src_rule = entry & 0x0180
    wanted_src = {0x0000: 3, 0x0080: 2, 0x0100: 0}.get(src_rule)
    return wanted_src == m.src_mode


def match_filter(filters: list[int], m: MacSummary, local_pan: int | None) -> int | None:
    """Index of the first entry that matches, or None."""
    for index, entry in enumerate(filters):
        if entry & FILTER_END:
            break
        if entry_matches(entry, m, local_pan):
            return index
    return None
