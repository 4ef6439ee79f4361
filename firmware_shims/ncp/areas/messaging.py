"""Messaging area: APS unicast/broadcast/multicast/reply and raw MAC sends, delegated to the stack.

Delivery reports (``messageSentHandler``, ``rawTransmitCompleteHandler``) and received messages
are raised by the stack (``stack.Stack``, ``zigbee.AirStack``).
"""

from __future__ import annotations

from .base import Area


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

    def cmd_sendUnicast(self, p):
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
