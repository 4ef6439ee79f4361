"""APS fragmentation on the host, on every EZSP version: Silicon Labs' fragmentation plugin, both ways.

An EmberZNet NCP passes each APS block of a fragmented message up as its own
``incomingMessageHandler`` with ``APS_OPTION_FRAGMENT`` set and the block number in the low byte of
``apsFrame.groupId`` (the block count in the high byte of block 0); the *host* reassembles the
blocks and acknowledges them with ``sendReply`` — Silicon Labs' fragmentation host plugin
(fragmentation.c, fragmentation-host.c: the reply is the incoming block's APS frame with groupId
``fragmentMask << 8 | fragmentBase``, sent when a window of ``window`` blocks is complete or the last
block arrived).

bellows 1.2.1 does this inside ``EZSPProtocol.__call__`` but reads the v13 field *positions*
(sender = field 4, payload = field 7): fed a v14+ frame it takes the binding index as the sender and
the RSSI as the payload, raises, and the message is dropped before any callback sees it
(``tests/ncp/test_fragments.py`` shows it).  ``install(ezsp)`` therefore takes fragmented
``incomingMessageHandler`` frames before bellows parses them — decoded by the negotiated version's own
table and read by field name (``rig.ezsp_fields``) — acknowledges them per window as the plugin does
(``FRAGMENT_WINDOW``, the plugin's default receive window, which the host also writes to the NCP's
``CONFIG_FRAGMENT_WINDOW_SIZE``), and hands the whole message to the callbacks as one
``incomingMessageHandler`` (fields as the version declares them, the fragment option cleared).  Every
other frame goes to bellows untouched.  A message whose blocks stop arriving is dropped after
``FRAGMENT_TIMEOUT_S`` of loop time; at most ``FRAGMENT_MAX_INCOMING`` messages are in progress (a new
one beyond that pushes out the one heard from longest ago).

Sending (``blocks``, used by ``rig.roles.ezsp_role.EzspRole.send_zcl``) is the plugin's
``emAfFragmentationSendUnicast``: a message longer than one frame's APS payload is cut into blocks
of that size less the extended header (``APS_FRAGMENT_OVERHEAD``), each sent with ``sendUnicast``,
``APS_OPTION_FRAGMENT | APS_OPTION_RETRY`` and ``groupId = count << 8 | index``, every block after the
first with the APS counter the first one got; a window of ``FRAGMENT_WINDOW`` blocks goes out, and the
next once ``messageSentHandler`` reported each of them delivered (any failure ends the message).
"""

from __future__ import annotations

import asyncio
import logging

import bellows.types as t

from rig import ezsp_fields

LOGGER = logging.getLogger(__name__)

FRAGMENT_TIMEOUT_S = 10.0          # as bellows' FRAGMENT_TIMEOUT (the plugin: APS ack timeout x retries)
FRAGMENT_WINDOW = 1                # [C] the plugin's default window (EMBER_AF_PLUGIN_FRAGMENTATION_RX_WINDOW_SIZE)
APS_FRAGMENT_OVERHEAD = 2          # the APS extended header of a block (frame control, block number)
APS_ENCRYPTION_OVERHEAD = 17       # [I] APS auxiliary header with the extended nonce (13) and MIC (4)
MAX_BLOCKS = 255                   # the block count travels in one byte
FRAGMENT_MAX_INCOMING = 16         # [I] messages reassembled at once (the plugin holds a fixed few)
INCOMING = "incomingMessageHandler"


class FragmentAdapter:
    """Reassembles fragmented incoming messages for one ``bellows.ezsp.EZSP``."""

    def __init__(self, ezsp, window: int = 1) -> None:
        self.ezsp = ezsp
        self.window = window
        self._bellows_frame_received = ezsp.frame_received
        self._partial: dict[tuple[int, int], dict] = {}
        self._tasks: set[asyncio.Task] = set()
        self.acks: list[tuple[int, int]] = []          # (sender, groupId) of every acknowledgement sent

    def frame_received(self, data: bytes) -> None:
        try:
            handled = self._maybe_fragment(data)
        except Exception:
            LOGGER.debug("fragment adapter could not read a frame; passing it on", exc_info=True)
            handled = False
        if not handled:
            self._bellows_frame_received(data)

    def _maybe_fragment(self, data: bytes) -> bool:
        protocol = self.ezsp._protocol
        if protocol is None or not data:
            return False
        seq, frame_id, params = protocol._ezsp_frame_rx(data)
        name, _tx, schema = protocol.COMMANDS_BY_ID.get(frame_id, (None, None, None))
        if name != INCOMING or seq in protocol._awaiting or not isinstance(schema, dict):
            return False
        values, _rest = t.deserialize_dict(params, schema)
        version = self.ezsp.ezsp_version
        cb = ezsp_fields.canonical(version, INCOMING, list(values.values()))
        aps = cb.aps_frame
        if not aps.options & t.EmberApsOption.APS_OPTION_FRAGMENT:
            return False
        self._block(version, values, cb)
        return True

    def _mask(self, entry: dict) -> int:
        """The plugin's setFragmentMask: the window's unused bits set (the last window may be short)."""
        highest = self.window
        if entry["count"] is not None and entry["count"] < entry["base"] + self.window:
            highest = entry["count"] % self.window
        return ~((1 << highest) - 1) & 0xFF

    def _block(self, version: int, values: dict, cb) -> None:
        aps = cb.aps_frame
        sender, index, window = int(cb.nwk), aps.groupId & 0xFF, self.window
        key = (sender, int(aps.sequence))                 # the plugin: (node id, APS counter)
        now = asyncio.get_running_loop().time()            # loop time: virtual under rig.des
        for stale in [k for k, v in self._partial.items() if now - v["last"] > FRAGMENT_TIMEOUT_S]:
            self._partial.pop(stale)
        entry = self._partial.get(key)
        if entry is None:
            if index >= window:                           # not in a message's first window: ignored
                return
            while len(self._partial) >= FRAGMENT_MAX_INCOMING:     # bounded: the oldest message gives way
                oldest = min(self._partial, key=lambda k: self._partial[k]["last"])
                LOGGER.info("fragmented message from 0x%04X dropped: %d messages in progress", oldest[0],
                            len(self._partial))
                del self._partial[oldest]
            entry = self._partial[key] = {"count": None, "blocks": {}, "last": now, "base": 0}
            entry["mask"] = self._mask(entry)
        entry["last"] = now
        if entry["mask"] == 0xFF and entry["base"] + window <= index:     # the next window begins
            entry["base"] += window
            entry["mask"] = self._mask(entry)
        if not entry["base"] <= index < entry["base"] + window:
            return
        if index == 0:
            entry["count"] = (aps.groupId >> 8) & 0xFF
            if entry["count"] < window:
                entry["mask"] |= self._mask(entry)
        entry["mask"] |= 1 << (index % window)
        entry["blocks"].setdefault(index, bytes(cb.message))
        count = entry["count"]
        if (count is not None and index == count - 1) or (entry["mask"] | ((1 << (index % window)) - 1)) == 0xFF:
            self._ack(sender, aps, (entry["mask"] << 8) | entry["base"])
        if count is None or len(entry["blocks"]) < count:
            return
        del self._partial[key]
        whole = b"".join(entry["blocks"][i] for i in range(count))
        options = t.EmberApsOption(int(aps.options) & ~(t.EmberApsOption.APS_OPTION_FRAGMENT
                                                         | t.EmberApsOption.APS_OPTION_RETRY))
        whole_aps = t.EmberApsFrame(profileId=aps.profileId, clusterId=aps.clusterId,
                                    sourceEndpoint=aps.sourceEndpoint, destinationEndpoint=aps.destinationEndpoint,
                                    options=options, groupId=0, sequence=aps.sequence)
        own = dict(values)
        own[ezsp_fields.source_name(version, INCOMING, "aps_frame")] = whole_aps
        own[ezsp_fields.source_name(version, INCOMING, "message")] = t.LVBytes(whole)
        self.ezsp.handle_callback(INCOMING, list(own.values()))

    def _ack(self, sender: int, aps, group: int) -> None:
        """The plugin's reply: the incoming block's APS frame with groupId ``mask << 8 | base``."""
        reply = t.EmberApsFrame(profileId=aps.profileId, clusterId=aps.clusterId, sourceEndpoint=aps.sourceEndpoint,
                                destinationEndpoint=aps.destinationEndpoint, options=aps.options, groupId=group,
                                sequence=aps.sequence)
        self.acks.append((sender, group))
        task = asyncio.ensure_future(self._send_reply(sender, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_reply(self, sender: int, reply) -> None:
        try:
            await self.ezsp.sendReply(sender=sender, apsFrame=reply, messageContents=b"")
        except Exception as exc:  # noqa: BLE001 - the sender retries an unacknowledged block
            LOGGER.info("fragment acknowledgement to 0x%04X failed: %s", sender, exc)


def blocks(data: bytes, block_len: int) -> list[bytes]:
    """``data`` cut into blocks of ``block_len`` (the last one shorter); at most 255 of them."""
    if block_len < 1:
        raise ValueError(f"an APS block needs room for at least one byte, not {block_len}")
    pieces = [data[i:i + block_len] for i in range(0, len(data), block_len)] or [b""]
    if len(pieces) > MAX_BLOCKS:
        raise ValueError(f"{len(data)} bytes need {len(pieces)} APS blocks of {block_len}; at most {MAX_BLOCKS}")
    return pieces


def install(ezsp) -> FragmentAdapter:
    """Put the adapter in front of bellows' frame handling (idempotent)."""
    adapter = getattr(ezsp, "_rig_fragments", None)
    if adapter is None:
        adapter = FragmentAdapter(ezsp, FRAGMENT_WINDOW)
        ezsp.frame_received = adapter.frame_received
        ezsp._rig_fragments = adapter
    return adapter
