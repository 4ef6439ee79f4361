"""What every host role does with its EZSP dongle: the one layer between roles and ``bellows``.

``EzspRole`` wraps a connected ``bellows.ezsp.EZSP`` (``rig.transport.open_ezsp``) and offers what the
CH shim, the meters, the HHT and the PPMID share:

* callbacks routed by frame name (``on``), and awaited (``wait_for_callback``);
* inter-PAN: reception through the MAC filter list (``open_interpan``/``close_interpan``), raw frames out
  (``send_interpan``: the whole MAC frame built here, APS-secured on the host when a link key is
  given), frames in as ``InterPanFrame`` (decrypted when the sender's link key is known);
* the HAN: ``form``/``resume``/``join``/``leave``, ZCL unicasts that wait for ``messageSentHandler``;
* keys: the CBKE link key the NCP stored for a partner (``link_key_for``);
* GBCS over inter-PAN in GBT blocks, one per TransferData (``segments`` / ``Reassembler``,
  ``Reassemblers`` per sender, see ``rig.pairing`` and ``rig.gbcs.gbt``); on the HAN one TransferData per GBCS message (``han_transfers``), APS-fragmented by
  ``send_zcl`` as Silicon Labs' fragmentation plugin does (``rig.fragments``);
* Key Establishment sessions bound to a transport (``ke_initiator`` / ``KeRouter``);
* the host link going (``lost``, ``on_lost``): the NCP reset by itself (an unsolicited RSTACK) or the
  port/TCP link dropped.  Every wait in progress then ends at once with ``RoleError('ncp_reset')`` or
  ``RoleError('ncp_link_lost')`` rather than its timeout, and the role's owner decides: the CH and the
  ESME reconnect and resume, an HHT or a PPMID ends its pairing with that reason.

Nothing here knows whether the dongle is emulated.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import bellows.types as t
import zigpy.types as zt

from rig import ezsp_fields, fragments, pairing
from rig.cbke.ezsp_engine import EzspKeEngine
from rig.cbke.ke_cluster import KeInitiator, KeResponder
from rig.clock import Clock
from rig.events import EventLog
from rig.gbcs import DecodeError, Message, gbt
from rig.gbcs.message import declared_length, starts_message
from rig.zigbee.eui64 import eui_bytes, eui_hex, eui_int, eui_obj
from rig.zigbee.frames import APS_INTERPAN, ApsFrame, FrameError, MacFrame, interpan
from rig.zigbee.install_code import install_code_from_token
from rig.zigbee.security import SecurityError, secure_interpan, unsecure_interpan
from rig.zigbee.zcl import ZclHeader

BROADCAST_PAN = 0xFFFF
CANONICAL = ezsp_fields.CANONICAL_VERSION
Sec = t.EmberInitialSecurityBitmask

#: A joiner's initial security (EmberInitialSecurityBitmask, documented bits only): its install-code
#: derived key is a preconfigured link key, and the network key must arrive encrypted with it.
JOIN_SECURITY = Sec.HAVE_PRECONFIGURED_KEY | Sec.REQUIRE_ENCRYPTED_KEY
MIN_EZSP_VERSION = 13
KEY_TABLE_SIZE = 12
#: The inter-PAN filter list and its end marker (Silicon Labs' interpan host plugin: filter count + 1).
MAC_FILTER_TABLE_SIZE = len(pairing.INTERPAN_FILTERS) // 2 + 1
#: How long ``resume_network`` waits for NETWORK_UP after ``networkInit`` (bellows: NETWORK_OPS_TIMEOUT).
NETWORK_UP_TIMEOUT_S = 10.0


class RoleError(Exception):
    """A role step failed; ``reason`` is a short machine-readable cause."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class DongleUnfit(RoleError):
    """A dongle whose firmware cannot do the role (``check_dongle``); the detail says what to change."""


class NcpCommandError(RoleError):
    """The NCP refused a configuration or security command the role cannot go on without
    (``reason`` ``ncp_refused``; the detail names the command, its argument and the status)."""

    def __init__(self, command: str, status, what: str = "") -> None:
        name = getattr(status, "name", str(status))
        super().__init__("ncp_refused", f"{command}{f' ({what})' if what else ''}: {name}")
        self.command = command
        self.status = status


@dataclass(frozen=True)
class InterPanFrame:
    src: str                    # sender EUI-64 (hex, big-endian)
    src_pan: int
    dst_pan: int
    cluster: int
    profile: int
    delivery_mode: int          # APS delivery mode: 0 unicast, 2 broadcast, 3 group
    secured: bool
    zcl: ZclHeader | None       # None when secured and not decryptable, or not a ZCL frame
    raw_aps: bytes


def segments(data: bytes, routing: gbt.Routing | None = None) -> list[bytes]:
    """The TransferData payloads of one GBCS message over inter-PAN: GBT blocks of at most
    ``SEGMENT_BYTES`` (``rig.gbcs.gbt``; ``routing`` defaults to the message's own grouping header).
    The one framing the HHT, the CH and the attack context all send."""
    return gbt.blocks(data, routing, pairing.SEGMENT_BYTES)


def han_transfers(data: bytes) -> list[bytes]:
    """The TransferData payloads of one GBCS message on the HAN: the whole message in one (gbcs.md §7:
    up to ``TUNNEL_MAX_TRANSFER``), cut into APS blocks below it by ``EzspRole.send_zcl``."""
    if not data:
        raise ValueError("cannot send an empty GBCS message")
    return [data]


def se_zcl(cb) -> ZclHeader | None:
    """The ZCL frame of an incoming HAN message (an ``incomingMessageHandler`` callback) of the SE
    profile, or None: another profile, or ZCL too malformed to decode (dropped, as from the air)."""
    if cb.aps_frame.profileId != pairing.SE_PROFILE:
        return None
    try:
        return ZclHeader.decode(bytes(cb.message))
    except Exception:  # noqa: BLE001 - malformed ZCL from the air is dropped
        return None


def tunnel_granted(zcl: ZclHeader) -> int | None:
    """The tunnel id a Tunneling RequestTunnelResponse grants (status SUCCESS), else None."""
    if zcl.command_id != pairing.CMD_REQUEST_TUNNEL_RESPONSE or len(zcl.payload) < 3:
        return None
    tunnel_id, status = struct.unpack_from("<HB", zcl.payload)
    return tunnel_id if status == 0 else None


def describe_gbcs(data: bytes) -> dict:
    """The fields of a GBCS message an event shows (use case, CRA, originator, recipient, counter, hex)."""
    from rig.gbcs import USE_CASES

    try:
        m = Message.from_bytes(data)
    except (DecodeError, ValueError) as exc:
        return {"use_case": "undecodable", "error": str(exc), "bytes": len(data), "hex": data.hex()}
    uc = USE_CASES.get(m.message_code)
    return {"use_case": uc.name if uc else f"0x{m.message_code:04X}", "cra": m.cra.name.lower(),
            "originator": m.originator, "recipient": m.recipient, "counter": m.counter, "bytes": len(data),
            "hex": data.hex()}


Drop = Callable[[str, int, str], None]
"""``on_drop(reason, dropped_bytes, detail)``: what a ``Reassembler`` discarded and why."""


class Reassembler:
    """Collects one sender's TransferData payloads until they form one whole GBCS message (``rig.pairing``).

    Over inter-PAN (the default) every payload is one GBT block (``rig.gbcs.gbt``) of at most
    ``SEGMENT_BYTES``: block 1 begins the message, each next block continues it under the same routing
    header, the last-block flag ends it.  With ``segment_bytes`` (the HAN: ``TUNNEL_MAX_TRANSFER``)
    payloads are plain pieces of at most that many bytes, the first starting as a GBCS message does
    (``rig.gbcs.message.starts_message``) — on the HAN one whole message per TransferData.  A payload
    that does not fit is dropped with what was buffered, and reported to ``on_drop`` with its reason, so
    one forged or replayed payload costs at most the message in progress and the sender's next message
    goes through:

    * ``segment_size``: an empty payload, one longer than the framing allows, or a block without data;
    * ``not_a_gbt_block``: over inter-PAN, a payload that is not exactly one GBT block;
    * ``not_a_message_start``: nothing is buffered and the payload does not start a message (a block
      numbered beyond 1, or data that does not begin as a GBCS message does);
    * ``block_out_of_order``: a block that is not the next one of the message in progress (its number, or
      its routing header, differs);
    * ``message_incomplete``: a new message starts before the buffered one is whole (the new one is kept);
    * ``message_too_long``: more bytes than the message's length field says, or than
      ``TUNNEL_MAX_TRANSFER`` (the buffer's bound);
    * ``undecodable``: the message's last block (last piece: shorter than ``segment_bytes``, or the
      length field reached) arrived and the bytes are no GBCS message;
    * ``routing_mismatch``: the blocks' routing header names another message than the one they carried.
    """

    #: bytes of a first block after which the whole GBCS header must be there (``starts_message``)
    HEADER_BYTES = 40

    def __init__(self, on_drop: Drop | None = None, *, segment_bytes: int | None = None,
                 max_bytes: int = pairing.TUNNEL_MAX_TRANSFER) -> None:
        self.buffer = b""
        self.on_drop = on_drop
        self.blocks = segment_bytes is None
        self.segment_bytes = pairing.SEGMENT_BYTES if segment_bytes is None else segment_bytes
        self.max_bytes = max_bytes
        self._routing: gbt.Routing | None = None
        self._next = 0

    def _drop(self, reason: str, data: bytes, detail: str) -> None:
        self.buffer, self._routing, self._next = b"", None, 0
        if self.on_drop is not None:
            self.on_drop(reason, len(data), detail)

    def feed(self, chunk: bytes) -> bytes | None:
        chunk = bytes(chunk)
        if not chunk or len(chunk) > self.segment_bytes:
            self._drop("segment_size", self.buffer + chunk,
                       f"a {len(chunk)}-byte segment (segments are 1..{self.segment_bytes} bytes)")
            return None
        return self._feed_block(chunk) if self.blocks else self._feed_piece(chunk)

    def _too_long(self) -> bool:
        declared = declared_length(self.buffer)
        limit = min(self.max_bytes, declared) if declared is not None else self.max_bytes
        if len(self.buffer) > limit:
            self._drop("message_too_long", self.buffer, f"{len(self.buffer)} bytes > {limit}")
            return True
        return False

    def _feed_block(self, chunk: bytes) -> bytes | None:
        try:
            block = gbt.Block.from_bytes(chunk)
        except (DecodeError, ValueError) as exc:
            self._drop("not_a_gbt_block", self.buffer + chunk, f"tunnel data that is no GBT block ({exc})")
            return None
        if not block.data:
            self._drop("segment_size", self.buffer, f"GBT block {block.number} carries no data")
            return None
        if block.number == 1:
            if self.buffer:
                self._drop("message_incomplete", self.buffer, f"{len(self.buffer)} bytes, then a new message began")
            if not _begins_message(block.data):
                self._drop("not_a_message_start", chunk, "GBT block 1 does not begin a GBCS message")
                return None
            self.buffer, self._routing, self._next = block.data, block.routing, 2
        elif not self.buffer:
            self._drop("not_a_message_start", chunk, f"GBT block {block.number}, no message in progress")
            return None
        elif block.number != self._next or block.routing != self._routing:
            what = (f"block {block.number} where block {self._next} was due" if block.number != self._next
                    else f"block {block.number} under another routing header")
            self._drop("block_out_of_order", self.buffer + chunk, what)
            return None
        else:
            self.buffer += block.data
            self._next += 1
        if len(self.buffer) >= self.HEADER_BYTES and not starts_message(self.buffer):
            self._drop("not_a_message_start", self.buffer, "the first blocks do not begin a GBCS message")
            return None
        if self._too_long() or not block.last:
            return None
        try:
            message = Message.from_bytes(self.buffer)
        except (DecodeError, ValueError) as exc:
            self._drop("undecodable", self.buffer, str(exc))
            return None
        if gbt.Routing.of(message) != self._routing:
            self._drop("routing_mismatch", self.buffer, f"routing header {self._routing} for a message that says "
                       f"{gbt.Routing.of(message)}")
            return None
        whole, self.buffer, self._routing, self._next = self.buffer, b"", None, 0
        return whole

    def _feed_piece(self, chunk: bytes) -> bytes | None:
        if starts_message(chunk):
            if self.buffer:
                self._drop("message_incomplete", self.buffer, f"{len(self.buffer)} bytes, then a new message began")
            self.buffer = chunk
        elif not self.buffer:
            self._drop("not_a_message_start", chunk, "a segment that does not begin a GBCS message, none in progress")
            return None
        else:
            self.buffer += chunk
        if self._too_long():
            return None
        try:
            Message.from_bytes(self.buffer)
        except (DecodeError, ValueError) as exc:
            if len(chunk) < self.segment_bytes or len(self.buffer) == declared_length(self.buffer):
                self._drop("undecodable", self.buffer, str(exc))
            return None
        whole, self.buffer = self.buffer, b""
        return whole


def _begins_message(data: bytes) -> bool:
    """Whether a first block's data begins as a GBCS message does, as far as it goes (``starts_message``
    needs the whole header, which may span blocks): General-Ciphering (DD and six empty elements) or
    General-Signing (DF 09)."""
    if data[:1] == b"\xdd":
        return bytes.fromhex("DD000000000000").startswith(data[:7])
    return data[:1] == b"\xdf" and data[1:2] in (b"", b"\x09")


class Reassemblers:
    """One ``Reassembler`` per sender, for at most ``cap`` senders with a message in progress: feeding a
    new sender beyond the cap drops the buffer of the sender fed longest ago (``reassembly_evicted``).
    ``on_drop(sender, reason, dropped_bytes, detail)`` hears every drop."""

    def __init__(self, cap: int, on_drop: Callable[[object, str, int, str], None] | None = None, *,
                 segment_bytes: int | None = None) -> None:
        self.cap = cap
        self.on_drop = on_drop
        self.segment_bytes = segment_bytes
        self._by_sender: OrderedDict[object, Reassembler] = OrderedDict()

    def _dropped(self, sender, reason: str, n: int, detail: str) -> None:
        if self.on_drop is not None:
            self.on_drop(sender, reason, n, detail)

    def feed(self, sender, chunk: bytes) -> bytes | None:
        rx = self._by_sender.pop(sender, None)
        if rx is None:
            while len(self._by_sender) >= self.cap:
                old, evicted = self._by_sender.popitem(last=False)
                self._dropped(old, "reassembly_evicted", len(evicted.buffer),
                              f"more than {self.cap} senders with a message in progress")
            rx = Reassembler(lambda reason, n, detail, sender=sender: self._dropped(sender, reason, n, detail),
                             segment_bytes=self.segment_bytes)
        whole = rx.feed(chunk)
        if rx.buffer:
            self._by_sender[sender] = rx            # newest last; idle senders hold no state
        return whole

    def discard(self, sender) -> None:
        self._by_sender.pop(sender, None)

    def __len__(self) -> int:
        return len(self._by_sender)

    def __contains__(self, sender) -> bool:
        return sender in self._by_sender


def link_lost_error(exc: BaseException) -> RoleError:
    """The named reason for a host link that went (``rig.transport.LinkWatch``)."""
    from bellows.ash import NcpFailure

    if isinstance(exc, NcpFailure):
        code = getattr(exc.code, "name", str(exc.code))
        return RoleError("ncp_reset", f"the NCP reset by itself ({code}): its RAM state is gone")
    return RoleError("ncp_link_lost", f"the host link to the dongle dropped ({exc})")


def link_lost(ezsp) -> RoleError | None:
    """Why ``ezsp``'s link went (None: it is up, or it was not opened by ``rig.transport.open_ezsp``)."""
    from rig.transport import link_watch

    watch = link_watch(ezsp)
    return None if watch is None or watch.lost is None else link_lost_error(watch.lost)


class EzspRole:
    """One role on one dongle."""

    def __init__(self, name: str, ezsp, clock: Clock, events: EventLog) -> None:
        self.name = name
        self.ezsp = ezsp
        self.clock = clock
        self.events = events
        self.eui64: str = ""
        self.pan_id = BROADCAST_PAN
        self._handlers: dict[str, list[Callable]] = {}
        self._tags = itertools.count(1)
        self._zcl_seq = itertools.count(1)
        self._sent: dict[int, asyncio.Future] = {}
        self._raw_lock = asyncio.Lock()
        self._raw_done: asyncio.Future | None = None
        self._aps_fc = 0
        self._ke_engine: EzspKeEngine | None = None
        self._ke_session: KeInitiator | None = None
        self._incoming: asyncio.Queue = asyncio.Queue()
        self._resolver: asyncio.Future | None = None
        self._senders: dict[int, zt.EUI64] = {}
        self.lost: RoleError | None = None
        self.on_lost: list[Callable[[RoleError], None]] = []
        self._waiters: set[asyncio.Future] = set()
        from rig.transport import link_watch

        self._watch = link_watch(ezsp)
        if self._watch is not None:
            self._watch.listeners.append(self._link_lost)
        self._max_payload: int | None = None
        self.fragment_window = fragments.FRAGMENT_WINDOW
        self._cb_id = ezsp.add_callback(self._on_callback)
        self.on_fields("messageSentHandler", self._on_message_sent)
        self.on_fields("rawTransmitCompleteHandler", self._on_raw_complete)
        self.on("stackStatusHandler", self._on_stack_status)

    # --- the host link ----------------------------------------------------------------------------
    def _link_lost(self, exc: BaseException) -> None:
        if self.lost is not None:
            return
        self.lost = link_lost_error(exc)
        self.emit(f"{self.name.split('/')[0].lower()}.ncp_lost", self.lost.reason, detail=self.lost.detail)
        pending = [*self._sent.values(), *self._waiters]
        if self._raw_done is not None:
            pending.append(self._raw_done)
        self._sent.clear()
        for fut in pending:
            if not fut.done():
                fut.set_exception(self.lost)
                fut.exception()          # marked retrieved: a wait nobody is in any more is no error
        for fn in list(self.on_lost):
            fn(self.lost)

    def _check_link(self) -> None:
        if self.lost is not None:
            raise self.lost

    def _future(self) -> asyncio.Future:
        """A future that the link's loss fails with ``self.lost`` (so no wait outlives the dongle)."""
        self._check_link()
        fut = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        fut.add_done_callback(self._waiters.discard)
        return fut

    # --- callbacks ------------------------------------------------------------------------------
    def on(self, frame_name: str, fn: Callable) -> None:
        """Call ``fn(*fields)`` for every ``frame_name`` callback, its fields in canonical form
        (``rig.ezsp_fields``: bellows' v14 names and order, whatever version the dongle speaks)."""
        self._handlers.setdefault(frame_name, []).append(fn)

    def _on_stack_status(self, status, *_rest) -> None:
        """Off the network (a leave we asked for, or one the trust centre sent): inter-PAN frames from now on
        carry the broadcast PAN again, so that answers reach a radio that is on no PAN."""
        if t.sl_Status.from_ember_status(status) == t.sl_Status.NETWORK_DOWN:
            self.pan_id = BROADCAST_PAN

    def on_fields(self, frame_name: str, fn: Callable) -> None:
        """Call ``fn(cb)`` with the canonical named tuple (``cb.aps_frame``, ``cb.nwk``, ``cb.message`` …)."""
        self.on(frame_name, lambda *values: fn(ezsp_fields.canonical(CANONICAL, frame_name, values)))

    def _on_callback(self, name: str, args: list) -> None:
        cb = ezsp_fields.canonical(self.ezsp.ezsp_version, name, args)
        if name == "incomingMessageHandler" and getattr(cb, "eui64", False) is None:
            self._incoming.put_nowait(cb)           # v13 names only the sender's NWK address
            if self._resolver is None or self._resolver.done():
                self._resolver = asyncio.ensure_future(self._resolve_senders())
            return
        self._dispatch(name, cb)

    def _dispatch(self, name: str, cb) -> None:
        for fn in list(self._handlers.get(name, ())):
            fn(*cb)

    async def _resolve_senders(self) -> None:
        """Incoming messages of a version without the sender's EUI-64, in order, once the NCP has named
        it (``lookupEui64ByNodeId``, cached per NWK address; unknown: all-FF)."""
        while not self._incoming.empty():
            cb = self._incoming.get_nowait()
            nwk = int(cb.nwk)
            eui = self._senders.get(nwk)
            if eui is None:
                try:
                    answer = ezsp_fields.response(self.ezsp, "lookupEui64ByNodeId",
                                                  await self.ezsp.lookupEui64ByNodeId(nodeId=nwk))
                except Exception:  # noqa: BLE001 - a link gone mid-lookup: the frame is dropped below
                    answer = {"status": t.EmberStatus.ERR_FATAL}
                if t.sl_Status.from_ember_status(answer["status"]) == t.sl_Status.OK:
                    eui = self._senders[nwk] = answer["eui64"]
                else:
                    eui = zt.EUI64(b"\xff" * 8)
            self._dispatch("incomingMessageHandler", cb._replace(eui64=eui))

    async def wait_for_callback(self, name: str, predicate: Callable[..., bool], timeout: float, what: str):
        fut = self._future()

        def check(*args):
            if not fut.done() and predicate(*args):
                fut.set_result(args)

        self.on(name, check)
        try:
            return await self.clock.wait_for(fut, timeout, what)
        finally:
            self._handlers[name].remove(check)

    def emit(self, name: str, result: str = "ok", **detail) -> None:
        self.events.emit(self.name, name, result, **detail)

    def detach(self) -> None:
        self.ezsp.remove_callback(self._cb_id)
        if self._watch is not None and self._link_lost in self._watch.listeners:
            self._watch.listeners.remove(self._link_lost)

    async def checked(self, command: str, what: str = "", **kwargs) -> list:
        """One EZSP command whose first field is its status; anything but OK raises ``NcpCommandError``."""
        result = await getattr(self.ezsp, command)(**kwargs)
        status = result[0]
        if t.sl_Status.from_ember_status(status) != t.sl_Status.OK:
            raise NcpCommandError(command, status, what)
        return result

    # --- identity and keys ----------------------------------------------------------------------
    async def read_eui64(self) -> str:
        (eui,) = await self.ezsp.getEui64()
        self.eui64 = eui_hex(eui)
        return self.eui64

    async def check_dongle(self, *, cbke: bool = True) -> None:
        """What the rig checks at start-up before a dongle plays a role; ``DongleUnfit`` names the problem.

        * EZSP ``MIN_EZSP_VERSION`` or newer (EmberZNet 7.4+: the security-manager key commands);
        * with ``cbke``: the firmware has the CBKE 283k1 library and a certificate in its token
          (``getCertificate283k1``: NOT_AVAILABLE or invalidCommand = no library; another status = no
          certificate).
        The MAC filter table size and every configuration value are checked by ``prepare``."""
        from bellows.exception import InvalidCommandError

        version = self.ezsp.ezsp_version
        if version < MIN_EZSP_VERSION:
            raise DongleUnfit("ezsp_version", f"the firmware speaks EZSP v{version}; the rig needs v{MIN_EZSP_VERSION} "
                                              "(EmberZNet 7.4) or newer: flash a newer NCP image")
        if not cbke:
            return
        try:
            status, _cert = await self.ezsp.getCertificate283k1()
        except InvalidCommandError:
            status = t.sl_Status.NOT_AVAILABLE
        status = t.sl_Status.from_ember_status(status)
        if status == t.sl_Status.NOT_AVAILABLE:
            raise DongleUnfit("no_cbke_library", "the firmware was built without the CBKE 283k1 library "
                                                 "(getCertificate283k1: NOT_AVAILABLE): flash an NCP image with it")
        if status != t.sl_Status.OK:
            raise DongleUnfit("no_cbke_certificate", f"no CBKE 283k1 certificate in the dongle's token "
                                                     f"(getCertificate283k1: {status.name}): provision it first")

    async def read_install_code(self) -> bytes | None:
        """The install code (without CRC) in the MFG_INSTALLATION_CODE token; None when none is set."""
        (token,) = await self.ezsp.getMfgToken(tokenId=t.EzspMfgTokenId.MFG_INSTALLATION_CODE)
        return install_code_from_token(bytes(token))

    async def link_key_for(self, partner: str) -> bytes | None:
        """The APS link key the NCP holds with ``partner``: the trust-centre link key when ``partner`` is
        the trust centre of the network we are on (where a CBKE with the TC leaves it), else its key-table
        entry; None when there is none."""
        status, state = await self.ezsp.getCurrentSecurityState()
        if (t.sl_Status.from_ember_status(status) == t.sl_Status.OK and self.eui64
                and eui_hex(state.trustCenterLongAddress) == partner.upper() != self.eui64):
            context = t.SecurityManagerContextV13(
                core_key_type=t.SecurityManagerKeyType.TC_LINK, key_index=0,
                derived_type=t.SecurityManagerDerivedKeyTypeV13.NONE, eui64=eui_obj(partner), multi_network_index=0,
                flags=t.SecurityManagerContextFlags.NONE, psa_key_alg_permission=0)
            exported = ezsp_fields.response(self.ezsp, "exportKey", await self.ezsp.exportKey(context=context))
            ok = t.sl_Status.from_ember_status(exported["status"]) == t.sl_Status.OK
            return bytes(exported["key"]) if ok else None
        (index,) = await self.ezsp.findKeyTableEntry(address=eui_obj(partner), linkKey=True)
        if index == 0xFF:
            return None
        entry = ezsp_fields.response(self.ezsp, "exportLinkKeyByIndex", await self.ezsp.exportLinkKeyByIndex(index=index))
        if t.sl_Status.from_ember_status(entry["status"]) != t.sl_Status.OK:
            return None
        return bytes(entry["plaintext_key"])

    async def forget_link_key(self, partner: str) -> bool:
        """Erase ``partner``'s key-table entry (its CBKE link key); True when there was one."""
        (index,) = await self.ezsp.findKeyTableEntry(address=eui_obj(partner), linkKey=True)
        if index == 0xFF:
            return False
        (status,) = await self.ezsp.eraseKeyTableEntry(index=index)
        return t.sl_Status.from_ember_status(status) == t.sl_Status.OK

    async def prepare(self, endpoint_clusters: tuple[list[int], list[int]], device_id: int) -> None:
        """RAM configuration an NCP loses at every reset: key table size, MAC filter table size, the SE endpoint.

        Configuration values can be set only after a reset and before the stack first reports
        NETWORK_UP, so this runs before ``resume_network``/``form_network``/``join``.  The MAC filter
        table is sized for the inter-PAN filter list plus its end marker, as Silicon Labs' interpan host
        plugin does (the NCP's default holds 2).  An NCP whose stack has been up since its last reset
        (a role that ran before on the same connection) refuses configuration, so it is reset once and
        configured again; any other refusal raises ``NcpCommandError``."""
        try:
            await self._configure()
        except NcpCommandError:
            await self.reset_ncp()
            await self._configure()
        ins, outs = endpoint_clusters
        await self.checked("addEndpoint", f"endpoint {pairing.ENDPOINT}", endpoint=pairing.ENDPOINT,
                           profileId=pairing.SE_PROFILE, deviceId=device_id, deviceVersion=1,
                           inputClusterCount=len(ins), outputClusterCount=len(outs), inputClusterList=ins,
                           outputClusterList=outs)

    async def _configure(self) -> None:
        for config_id, value in ((t.EzspConfigId.CONFIG_KEY_TABLE_SIZE, KEY_TABLE_SIZE),
                                 (t.EzspConfigId.CONFIG_MAC_FILTER_TABLE_SIZE, MAC_FILTER_TABLE_SIZE),
                                 (t.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE, self.fragment_window)):
            await self.checked("setConfigurationValue", f"{config_id.name}={value}", configId=config_id, value=value)
        adapter = getattr(self.ezsp, "_rig_fragments", None)
        if adapter is not None:               # the receive window is the one the NCP was told (the plugin's)
            adapter.window = self.fragment_window

    async def factory_reset(self) -> None:
        """Forget the stack's non-volatile state — network, key table — keeping the manufacturing tokens and
        the outgoing frame counters (``tokenFactoryReset``, EZSP v13+), then reset the NCP: a bench's
        dongle starts a premises as clean as a new emulated one."""
        await self.ezsp.tokenFactoryReset(excludeOutgoingFC=True, excludeBootCounter=True)
        await self.reset_ncp()

    async def reset_ncp(self) -> None:
        """Reset the NCP (RAM and configuration cleared, NV kept) and negotiate EZSP again."""
        await self.ezsp.reset()
        await self.ezsp.version()

    # --- inter-PAN ------------------------------------------------------------------------------
    async def open_interpan(self) -> None:
        """Write Silicon Labs' inter-PAN MAC filter list (``NcpCommandError`` if the NCP refuses it)."""
        await self.checked("setValue", "VALUE_MAC_FILTER_LIST on", valueId=t.EzspValueId.VALUE_MAC_FILTER_LIST,
                           value=pairing.INTERPAN_FILTERS)

    async def close_interpan(self) -> None:
        await self.checked("setValue", "VALUE_MAC_FILTER_LIST off", valueId=t.EzspValueId.VALUE_MAC_FILTER_LIST,
                           value=pairing.INTERPAN_OFF)

    def _on_raw_complete(self, cb) -> None:
        if self._raw_done is not None and not self._raw_done.done():
            self._raw_done.set_result(cb.status)

    async def send_interpan(self, dst: str, dst_pan: int, cluster: int, zcl: bytes, *,
                            link_key: bytes | None = None) -> bool:
        """One inter-PAN unicast to ``dst``; APS-secured with ``link_key`` when given."""
        async with self._raw_lock:
            seq = next(self._zcl_seq) & 0xFF
            if link_key is None:
                frame = interpan(seq, dst_pan=dst_pan, dst=eui_int(dst), src_pan=self.pan_id,
                                 src_ieee=eui_int(self.eui64), cluster=cluster, profile=pairing.SE_PROFILE, payload=zcl)
            else:
                self._aps_fc += 1
                stub = ApsFrame(frame_type=APS_INTERPAN, delivery_mode=0, cluster=cluster, profile=pairing.SE_PROFILE)
                aps = secure_interpan(stub, link_key, zcl, sender=eui_int(self.eui64), frame_counter=self._aps_fc)
                frame = interpan(seq, dst_pan=dst_pan, dst=eui_int(dst), src_pan=self.pan_id,
                                 src_ieee=eui_int(self.eui64), cluster=cluster, profile=pairing.SE_PROFILE)
                frame = frame.replace(payload=frame.payload[:2] + aps)
            self._raw_done = self._future()
            (status,) = await self.ezsp.sendRawMessageExtended(message=frame.encode_mpdu(), priority=0, useCca=True)
            if status != t.sl_Status.OK:
                return False
            status = await self.clock.wait_for(self._raw_done, pairing.RESPONSE_TIMEOUT_S, "rawTransmitCompleteHandler")
            return t.sl_Status.from_ember_status(status) == t.sl_Status.OK

    @staticmethod
    def parse_interpan(contents: bytes, key_for: Callable[[str], bytes | None]) -> InterPanFrame | None:
        try:
            mac = MacFrame.decode_mpdu(bytes(contents))
            aps_bytes = bytes(mac.payload[2:])
            aps = ApsFrame.decode(aps_bytes)
        except FrameError:
            return None
        if aps.frame_type != APS_INTERPAN or mac.src_mode != 3:
            return None
        src = eui_hex(mac.src_addr)
        zcl_bytes = aps.payload
        if aps.security:
            key = key_for(src)
            if key is None:
                zcl_bytes = None
            else:
                try:
                    _frame, zcl_bytes = unsecure_interpan(aps_bytes, key, sender=mac.src_addr)
                except (SecurityError, FrameError):
                    zcl_bytes = None
        try:
            zcl = ZclHeader.decode(zcl_bytes) if zcl_bytes is not None else None
        except FrameError:
            zcl = None
        return InterPanFrame(src=src, src_pan=mac.src_pan if mac.src_pan is not None else BROADCAST_PAN,
                             dst_pan=mac.dst_pan, cluster=aps.cluster, profile=aps.profile,
                             delivery_mode=aps.delivery_mode, secured=bool(aps.security), zcl=zcl, raw_aps=aps_bytes)

    # --- ZCL ------------------------------------------------------------------------------------
    def zcl(self, command_id: int, payload: bytes, *, direction: int, cluster_specific: bool = True) -> bytes:
        return ZclHeader(frame_type=1 if cluster_specific else 0, direction=direction, disable_default_response=1,
                         seq=next(self._zcl_seq) & 0xFF, command_id=command_id, payload=payload).encode()

    def _on_message_sent(self, cb) -> None:
        fut = self._sent.pop(int(cb.message_tag), None)
        if fut is not None and not fut.done():
            fut.set_result(cb.status)

    def _next_tag(self) -> int:
        """A message tag for ``messageSentHandler`` (one byte up to v13, so 1..255 on every version)."""
        return next(self._tags) % 255 + 1

    async def aps_payload_room(self, *, encrypt: bool, fragment: bool = False) -> int:
        """The APS payload one frame carries: the NCP's ``maximumPayloadLength`` less the APS security
        (``encrypt``) and extended header (``fragment``) overheads, as the plugin's
        ``emberAfMaximumApsPayloadLength`` computes it."""
        if self._max_payload is None:
            (self._max_payload,) = await self.ezsp.maximumPayloadLength()
        room = int(self._max_payload)
        if encrypt:
            room -= fragments.APS_ENCRYPTION_OVERHEAD
        if fragment:
            room -= fragments.APS_FRAGMENT_OVERHEAD
        return room

    async def send_zcl(self, nwk: int, cluster: int, zcl: bytes, *, encrypt: bool = False) -> bool:
        """APS unicast (APS ack, optionally APS-encrypted with the partner's link key); True once delivered.
        A frame longer than one APS payload goes in APS blocks (``rig.fragments``: the host plugin's way)."""
        options = 0x0040 | (0x0020 if encrypt else 0)
        if len(zcl) > await self.aps_payload_room(encrypt=encrypt):
            return await self._send_blocks(nwk, cluster, zcl, options | int(t.EmberApsOption.APS_OPTION_FRAGMENT))
        aps = t.EmberApsFrame(profileId=pairing.SE_PROFILE, clusterId=cluster, sourceEndpoint=pairing.ENDPOINT,
                              destinationEndpoint=pairing.ENDPOINT, options=t.EmberApsOption(options), groupId=0,
                              sequence=0)
        sent = await self._send_unicast(nwk, aps, zcl)
        return sent is not None and await self._delivered(sent[0])

    async def _send_unicast(self, nwk: int, aps, data: bytes) -> tuple[asyncio.Future, int] | None:
        """``sendUnicast``; the future its ``messageSentHandler`` completes and the APS counter, or None."""
        tag = self._next_tag()
        fut = self._sent[tag] = self._future()
        status, seq = await self.ezsp.send_unicast(nwk=nwk, aps_frame=aps, message_tag=tag, data=data)
        if t.sl_Status.from_ember_status(status) != t.sl_Status.OK:
            self._sent.pop(tag, None)
            return None
        return fut, int(seq)

    async def _delivered(self, fut: asyncio.Future) -> bool:
        try:
            status = await self.clock.wait_for(fut, pairing.RESPONSE_TIMEOUT_S, "messageSentHandler")
        except TimeoutError:
            return False
        return t.sl_Status.from_ember_status(status) == t.sl_Status.OK

    async def _send_blocks(self, nwk: int, cluster: int, data: bytes, options: int) -> bool:
        """One message in APS blocks, a window at a time (``rig.fragments``); True once every block was
        delivered, False at the first that was not (the rest are not sent)."""
        room = await self.aps_payload_room(encrypt=bool(options & 0x0020), fragment=True)
        pieces = fragments.blocks(data, room)
        window = max(1, self.fragment_window)
        sequence = 0
        for base in range(0, len(pieces), window):
            waiting = []
            for index in range(base, min(base + window, len(pieces))):
                aps = t.EmberApsFrame(profileId=pairing.SE_PROFILE, clusterId=cluster, sourceEndpoint=pairing.ENDPOINT,
                                      destinationEndpoint=pairing.ENDPOINT, options=t.EmberApsOption(options),
                                      groupId=(len(pieces) << 8) | index, sequence=sequence)
                sent = await self._send_unicast(nwk, aps, pieces[index])
                if sent is None:
                    return False
                if index == 0:
                    sequence = sent[1]
                waiting.append(sent[0])
            for fut in waiting:
                if not await self._delivered(fut):
                    return False
        return True

    # --- network --------------------------------------------------------------------------------
    def next_seq(self) -> int:
        """The next ZCL/ZDO transaction sequence number of this role."""
        return next(self._zcl_seq) & 0xFF

    async def set_trust_center_policy(self, decision: t.EzspDecisionBitmask) -> None:
        """The trust-centre policy bitmask (``EzspDecisionBitmask``); a booted NCP has ALLOW_JOINS |
        ALLOW_UNSECURED_REJOINS, i.e. it admits any joiner with the well-known key until told otherwise."""
        await self.checked("setPolicy", "trust-centre policy", policyId=t.EzspPolicyId.TRUST_CENTER_POLICY,
                           decisionId=decision)

    async def resume_network(self) -> bool:
        """``networkInit`` from NV, then NETWORK_UP; True when the NCP had a network and brought it up.

        The NCP answers ``networkInit`` before the stack is up and reports NETWORK_UP later in a
        ``stackStatusHandler`` (bellows' own application waits for it the same way); nothing that needs
        the network (permit joining, transient keys, sends) may go out before it.  A network that does
        not come up within ``NETWORK_UP_TIMEOUT_S`` raises ``RoleError('network_not_up')``."""
        up = asyncio.ensure_future(self.wait_for_callback(
            "stackStatusHandler", lambda *a: self._network_status(*a) in (t.sl_Status.NETWORK_UP,
                                                                          t.sl_Status.NETWORK_DOWN),
            NETWORK_UP_TIMEOUT_S, "NETWORK_UP after networkInit"))
        await asyncio.sleep(0)                   # the listener is registered before the command goes out
        (status,) = await self.ezsp.networkInit(networkInitBitmask=t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS)
        if t.sl_Status.from_ember_status(status) != t.sl_Status.OK:
            up.cancel()
            return False
        try:
            args = await up
        except TimeoutError:
            raise RoleError("network_not_up", f"networkInit answered OK, no NETWORK_UP within "
                                              f"{NETWORK_UP_TIMEOUT_S:g} s") from None
        if self._network_status(*args) != t.sl_Status.NETWORK_UP:
            raise RoleError("network_not_up", "networkInit was followed by NETWORK_DOWN")
        return True

    async def form_network(self, *, extended_pan_id: str, pan_id: int, channel: int, network_key: bytes,
                           security_bitmask: t.EmberInitialSecurityBitmask) -> None:
        """Form as coordinator and trust centre (bellows waits for NETWORK_UP)."""
        await self.checked("setInitialSecurityState", state=t.EmberInitialSecurityState(
            bitmask=t.EmberInitialSecurityBitmask(security_bitmask),
            preconfiguredKey=t.KeyData(b"ZigBeeAlliance09"), networkKey=t.KeyData(network_key),
            networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=zt.EUI64(bytes(8))))
        await self.ezsp.formNetwork(parameters=t.EmberNetworkParameters(
            extendedPanId=eui_obj(extended_pan_id, zt.ExtendedPanId), panId=pan_id, radioTxPower=8,
            radioChannel=channel, joinMethod=0, nwkManagerId=0, nwkUpdateId=0,
            channels=t.Channels.from_channel_list([channel])))

    async def network_pan_id(self) -> int:
        _status, _type, params = await self.ezsp.getNetworkParameters()
        return int(params.panId)

    async def admit(self, eui64: str, link_key: bytes, duration: int) -> None:
        """Trust centre: let ``eui64`` join with ``link_key`` (a transient key) and open joining."""
        await self.ezsp.importTransientKey(eui64=eui_obj(eui64), plaintext_key=t.KeyData(link_key),
                                           flags=t.SecurityManagerContextFlags.NONE)
        await self.ezsp.permitJoining(duration=duration)

    async def send_zdo(self, nwk: int, cluster: int, payload: bytes) -> bool:
        """A ZDO unicast (endpoint 0, profile 0); True when the NCP accepted it for sending."""
        aps = t.EmberApsFrame(profileId=0, clusterId=cluster, sourceEndpoint=0, destinationEndpoint=0,
                              options=t.EmberApsOption(0), groupId=0, sequence=0)
        status, _ = await self.ezsp.send_unicast(nwk=nwk, aps_frame=aps, message_tag=self._next_tag(), data=payload)
        return t.sl_Status.from_ember_status(status) == t.sl_Status.OK

    async def active_scan(self, duration: int) -> list:
        """Beacons heard on every channel: ``[(network, lqi, rssi), ...]`` as bellows returns them."""
        return await self.ezsp.startScan(scanType=t.EzspNetworkScanType.ACTIVE_SCAN,
                                         channelMask=t.Channels.ALL_CHANNELS, duration=duration)

    async def set_channel(self, channel: int, *, listen: bool = True) -> None:
        """Tune the radio to ``channel``; with ``listen`` keep the receiver on while off the network
        (``zllSetRadioIdleMode(RX_ON)``): an unjoined NCP's receiver is off when idle, so an HHT or
        PPMID talking inter-PAN before it joins would never hear the CH's answers."""
        await self.checked("setRadioChannel", f"channel {channel}", channel=channel)
        if listen:
            await self.ezsp.zllSetRadioIdleMode(mode=t.EmberRadioPowerMode.RADIO_POWER_MODE_RX_ON)

    async def switch_eui64(self, eui64: str) -> None:
        """Write the custom EUI-64 (NV3 token) and reset the NCP so that it takes effect."""
        await self.ezsp.write_custom_eui64(eui_obj(eui64))
        await self.reset_ncp()

    async def disconnect(self) -> None:
        from rig.transport import close_ezsp

        await close_ezsp(self.ezsp)

    def _network_status(self, *args) -> t.sl_Status:
        return t.sl_Status.from_ember_status(args[0])

    async def join(self, channel: int, pan_id: int, extended_pan_id, install_code_key: bytes, *,
                   trust_center: str | None = None, attempts: int = pairing.JOIN_ATTEMPTS,
                   node_type: int = t.EmberNodeType.ROUTER) -> str:
        """``join_once`` up to ``attempts`` times (a lost beacon, association or key transport is the air's
        doing, and a real joiner tries again); the last status."""
        for attempt in range(1, attempts + 1):
            status = await self.join_once(channel, pan_id, extended_pan_id, install_code_key,
                                          trust_center=trust_center, node_type=node_type)
            if status == "ok" or attempt == attempts:
                return status
            self.emit("role.join_retry", status, attempt=attempt)
        return status

    async def join_once(self, channel: int, pan_id: int, extended_pan_id, install_code_key: bytes, *,
                        trust_center: str | None = None, node_type: int = t.EmberNodeType.ROUTER) -> str:
        """Join as a router (or ``node_type``: the GSME is a sleepy end device) with the install-code link
        key; returns 'ok' or the failure status name.

        The initial security state names only documented bits (``JOIN_SECURITY``): the key is a
        preconfigured (install-code) key and the network key must come encrypted with it.  With
        ``trust_center`` (EUI-64 hex) the NCP is told to accept that trust centre only
        (HAVE_TRUST_CENTER_EUI64); without it the trust centre is learnt while joining, as EmberZNet
        does by default — never the bit with an all-zero EUI-64, which no trust centre has."""
        bitmask = JOIN_SECURITY
        tc = zt.EUI64(bytes(8))
        if trust_center is not None:
            bitmask |= Sec.HAVE_TRUST_CENTER_EUI64
            tc = eui_obj(trust_center)
        await self.checked("setInitialSecurityState", state=t.EmberInitialSecurityState(
            bitmask=bitmask, preconfiguredKey=t.KeyData(install_code_key), networkKey=t.KeyData(bytes(16)),
            networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=tc))
        waiter = asyncio.ensure_future(self.wait_for_callback(
            "stackStatusHandler", lambda *a: self._network_status(*a) != t.sl_Status.ZIGBEE_NETWORK_OPENED,
            pairing.JOIN_TIMEOUT_S, "stackStatusHandler after joinNetwork"))
        (status,) = await self.ezsp.joinNetwork(nodeType=t.EmberNodeType(node_type), parameters=t.EmberNetworkParameters(
            extendedPanId=extended_pan_id, panId=pan_id, radioTxPower=8, radioChannel=channel, joinMethod=0,
            nwkManagerId=0, nwkUpdateId=0, channels=t.Channels.ALL_CHANNELS))
        if t.sl_Status.from_ember_status(status) != t.sl_Status.OK:
            waiter.cancel()
            return f"joinNetwork:{t.sl_Status.from_ember_status(status).name}"
        try:
            args = await waiter
        except TimeoutError:
            return "join_timeout"
        result = self._network_status(*args)
        if result != t.sl_Status.NETWORK_UP:
            return result.name
        self.pan_id = pan_id
        return "ok"

    async def leave(self) -> None:
        await self.ezsp.leaveNetwork()          # bellows waits for NETWORK_DOWN
        self.pan_id = BROADCAST_PAN

    async def node_id(self) -> int:
        (nwk,) = await self.ezsp.getNodeId()
        return int(nwk)

    # --- key establishment ------------------------------------------------------------------------
    def ke_engine(self) -> EzspKeEngine:
        if self._ke_engine is None:
            self._ke_engine = EzspKeEngine(self.ezsp)
        return self._ke_engine

    def use_host_credentials(self, token) -> None:
        """Run CBKE with a certificate the host holds (an identity the NCP's token does not name)."""
        from rig.cbke.ezsp_engine import HostKeEngine

        self._ke_engine = HostKeEngine(self.ezsp, token)

    async def run_ke_initiator(self, send, partner: str, label: str):
        """CBKE as initiator; ``send(command_id, payload)`` carries the KE payload; returns the KeResult."""
        initiator = KeInitiator(self.ke_engine().session(), send, self.clock, partner_eui64=eui_bytes(partner, "big"))
        self._ke_session = initiator
        try:
            result = await self.clock.wait_for(initiator.run(), pairing.KE_TIMEOUT_S, f"CBKE {label}")
        finally:
            self._ke_session = None
        return result

    def feed_ke(self, zcl: ZclHeader) -> None:
        session = self._ke_session
        if session is not None:
            asyncio.ensure_future(session.handle(zcl.command_id, zcl.payload))

    def ke_responder(self, send) -> KeResponder:
        """A responder session with its own handle on the NCP's CBKE library: concurrent sessions (the
        CH's inter-PAN and HAN responders) take turns for its one set of temporary data (``EzspKeEngine``)."""
        return KeResponder(self.ke_engine().session(), send, self.clock)
