"""APS fragment reception on the host, on every EZSP version: the rig's one adapter over bellows.

An EmberZNet NCP passes each APS block of a fragmented message up as its own
``incomingMessageHandler`` with ``APS_OPTION_FRAGMENT`` set and the block number in the low byte of
``apsFrame.groupId`` (the block count in the high byte of block 0); the *host* reassembles the
blocks and acknowledges them with ``sendReply`` — Silicon Labs' fragmentation host plugin
(fragmentation-host.c: the reply's groupId is ``fragmentMask << 8 | fragmentBase``).

bellows 1.2.1 does this inside ``EZSPProtocol.__call__`` but reads the v13 field *positions*
(sender = field 4, payload = field 7): fed a v14+ frame it takes the binding index as the sender and
the RSSI as the payload, raises, and the message is dropped before any callback sees it
(``tests/ncp/test_fragments.py`` shows it).  ``install(ezsp)`` therefore takes fragmented
``incomingMessageHandler`` frames before bellows parses them — decoded by the negotiated version's own
table and read by field name (``rig.ezsp_fields``) — acknowledges each block with a window of one
block (the plugin's default receive window [I]), and hands the whole message to the callbacks as one
``incomingMessageHandler`` (fields as the version declares them, the fragment option cleared).  Every
other frame goes to bellows untouched.  A message whose blocks stop arriving is dropped after
``FRAGMENT_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import logging
import time

import bellows.types as t

from rig import ezsp_fields

LOGGER = logging.getLogger(__name__)

FRAGMENT_TIMEOUT_S = 10.0          # as bellows' FRAGMENT_TIMEOUT (the plugin: APS ack timeout x retries)
INCOMING = "incomingMessageHandler"


class FragmentAdapter:
    """Reassembles fragmented incoming messages for one ``bellows.ezsp.EZSP``."""

    def __init__(self, ezsp) -> None:
        self.ezsp = ezsp
        self._bellows_frame_received = ezsp.frame_received
        self._partial: dict[tuple[int, int, int, int], dict] = {}
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

    def _block(self, version: int, values: dict, cb) -> None:
        aps = cb.aps_frame
        sender, index = int(cb.nwk), aps.groupId & 0xFF
        key = (sender, int(aps.sequence), int(aps.profileId), int(aps.clusterId))
        now = time.monotonic()
        for stale in [k for k, v in self._partial.items() if now - v["last"] > FRAGMENT_TIMEOUT_S]:
            self._partial.pop(stale)
        entry = self._partial.setdefault(key, {"count": None, "blocks": {}, "last": now})
        entry["last"] = now
        if index == 0:
            entry["count"] = (aps.groupId >> 8) & 0xFF
        entry["blocks"].setdefault(index, bytes(cb.message))
        self._ack(sender, aps, index)
        count = entry["count"]
        if count is None or len(entry["blocks"]) < count:
            return
        del self._partial[key]
        whole = b"".join(entry["blocks"][i] for i in range(count))
        options = t.EmberApsOption(int(aps.options) & ~t.EmberApsOption.APS_OPTION_FRAGMENT)
        whole_aps = t.EmberApsFrame(profileId=aps.profileId, clusterId=aps.clusterId,
                                    sourceEndpoint=aps.sourceEndpoint, destinationEndpoint=aps.destinationEndpoint,
                                    options=options, groupId=0, sequence=aps.sequence)
        own = dict(values)
        own[ezsp_fields.source_name(version, INCOMING, "aps_frame")] = whole_aps
        own[ezsp_fields.source_name(version, INCOMING, "message")] = t.LVBytes(whole)
        self.ezsp.handle_callback(INCOMING, list(own.values()))

    def _ack(self, sender: int, aps, index: int) -> None:
        """The plugin's reply for a one-block window: every block in it received (mask 0xFF), base = block."""
        group = 0xFF00 | index
        reply = t.EmberApsFrame(profileId=aps.profileId, clusterId=aps.clusterId, sourceEndpoint=aps.destinationEndpoint,
                                destinationEndpoint=aps.sourceEndpoint, options=aps.options, groupId=group,
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


def install(ezsp) -> FragmentAdapter:
    """Put the adapter in front of bellows' frame handling (idempotent)."""
    adapter = getattr(ezsp, "_rig_fragments", None)
    if adapter is None:
        adapter = FragmentAdapter(ezsp)
        ezsp.frame_received = adapter.frame_received
        ezsp._rig_fragments = adapter
    return adapter
