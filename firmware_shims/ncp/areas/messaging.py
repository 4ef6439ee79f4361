"""Messaging area: APS unicast/broadcast/multicast/reply and raw MAC sends, delegated to the stack.

Delivery reports (``messageSentHandler``, ``rawTransmitCompleteHandler``) and received messages
are raised by the stack (``stack.Stack``, ``zigbee.AirStack``).
"""

from __future__ import annotations

import bellows.types as t

from .base import Area

APS_OPTION_FRAGMENT = 0x8000


class MessagingArea(Area):
    """APS and raw sends; ``next_aps_seq`` numbers the APS frames the host and the stack send."""

    def next_aps_seq(self) -> int:
        self.state.aps_seq = (self.state.aps_seq + 1) & 0xFF
        return self.state.aps_seq

    def _stack_or_down(self):
        if not self.state.network_up:
            return "NETWORK_DOWN"
        if self.stack is None:
            return "NOT_AVAILABLE"
        return None

    def _send(self, p, deliver) -> dict:
        """Common to the APS sends: refuse when the network is down, number the APS frame, hand it on."""
        err = self._stack_or_down()
        if err:
            return {"status": err, "sequence": 0}
        aps = p["aps_frame"]
        aps.sequence = self.next_aps_seq()
        deliver(aps, int(p["message_tag"]), bytes(p["message"]))
        return {"status": "OK", "sequence": aps.sequence}

    def cmd_maximumPayloadLength(self, p):
        """The APS payload room of a plain unicast (what the host plugin sizes blocks from)."""
        room = 0xFF if self.stack is None else self.stack.aps_payload_room(t.EmberApsFrame(
            profileId=0, clusterId=0, sourceEndpoint=0, destinationEndpoint=0, options=t.EmberApsOption(0),
            groupId=0, sequence=0))
        return {"apsLength": min(room, 0xFF)}

    def cmd_sendUnicast(self, p):
        aps = p["aps_frame"]
        if self.stack is not None and len(bytes(p["message"])) > self.stack.aps_payload_room(aps):
            return {"status": "MESSAGE_TOO_LONG", "sequence": 0}
        options = int(aps.options)
        if options & APS_OPTION_FRAGMENT and aps.groupId & 0xFF:
            # a later block of a fragmented message: it keeps the first block's APS counter (the host
            # plugin passes back the sequence sendUnicast returned for block 0)
            err = self._stack_or_down()
            if err:
                return {"status": err, "sequence": 0}
            self.stack.send_unicast(nwk=int(p["nwk"]), aps=aps, tag=int(p["message_tag"]),
                                    message=bytes(p["message"]), message_type=int(p["message_type"]))
            return {"status": "OK", "sequence": aps.sequence}
        return self._send(p, lambda aps, tag, message: self.stack.send_unicast(
            nwk=int(p["nwk"]), aps=aps, tag=tag, message=message,
            message_type=int(p["message_type"])))

    def cmd_sendBroadcast(self, p):
        return self._send(p, lambda aps, tag, message: self.stack.send_broadcast(
            dest=int(p["destination"]), aps=aps, radius=int(p["radius"]), tag=tag, message=message))

    def cmd_sendMulticast(self, p):
        return self._send(p, lambda aps, tag, message: self.stack.send_multicast(
            aps=aps, hops=int(p["hops"]), tag=tag, message=message))

    def cmd_sendReply(self, p):
        err = self._stack_or_down()
        if err:
            return {"status": err}
        if int(p["apsFrame"].options) & APS_OPTION_FRAGMENT:
            self.stack.send_fragment_ack(nwk=int(p["sender"]), aps=p["apsFrame"])
            return {"status": "OK"}
        self.stack.send_unicast(nwk=int(p["sender"]), aps=p["apsFrame"], tag=0,
                                message=bytes(p["messageContents"]), message_type=0, reply=True)
        return {"status": "OK"}

    def cmd_sendRawMessageExtended(self, p):
        if self.stack is None:
            return {"status": "NOT_AVAILABLE"}
        message = bytes(p["message"])
        if len(message) < 3 or len(message) > 125:
            return {"status": "INVALID_PARAMETER"}
        self.stack.send_raw(message)
        return {"status": "OK"}

    cmd_sendRawMessage = cmd_sendRawMessageExtended
