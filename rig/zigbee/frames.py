"""Byte-exact layer tables for what a ZigBee radio puts on the air: IEEE 802.15.4 MAC, ZigBee NWK, APS.

Each layer is a ``rig.zigbee.codec.Frame`` whose ``FIELDS`` tuple is its wire format (the engine
generates decoder, encoder and constructor from it).  Layers are decoded one at a time and hand
their remainder on as ``payload`` bytes::

    mac = MacFrame.decode(psdu)              # checks the FCS
    nwk = NwkFrame.decode(mac.payload)       # NWK header (+ aux header when secured)
    aps = ApsFrame.decode(plaintext)         # after rig.zigbee.security.unsecure_nwk

Conventions: all multi-byte fields are little-endian on the air; addresses are ``int`` (a short
address ``0x1234``, an EUI-64 ``0x00DB1234567890A3`` -- most significant byte first when printed,
least significant first on the air); keys and hashes are ``bytes``.  A field that the frame's own
flags leave out is ``None``; ``NwkFrame(aux=...)`` sets ``security=1``.  Bad bytes raise
``FrameError``.

The MAC FCS is CRC-16/KERMIT (the ITU-T CRC as 802.15.4 defines it).  ``crccheck.crc.Crc16Kermit``
computes it bit by bit in pure Python (~70 us for a 100-byte frame), so ``fcs()`` computes the same
value with ``binascii.crc_hqx`` over bit-reversed bytes (~0.5 us); the test suite checks the two
agree for arbitrary data.
"""

from __future__ import annotations

import binascii
from typing import ClassVar

from zigpy.profiles import zha

from rig.zigbee.codec import (
    U8,
    U16,
    U24,
    U32,
    U64,
    Addr,
    Array,
    Bits,
    Bytes,
    Check,
    Frame,
    FrameError,
    Rest,
    Sub,
    Switch,
)

# ---------------------------------------------------------------------------------------------
# The FCS

_BITREV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def fcs(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/KERMIT of ``data`` (the 802.15.4 FCS; sent least significant byte first)."""
    crc = binascii.crc_hqx(bytes(data).translate(_BITREV), 0)
    return _BITREV[crc >> 8] | (_BITREV[crc & 0xFF] << 8)


MAX_PSDU = 127
"""aMaxPHYPacketSize: the longest PSDU (MAC header .. FCS) an 802.15.4 2.4 GHz radio carries."""

# ---------------------------------------------------------------------------------------------
# IEEE 802.15.4 MAC

FT_BEACON, FT_DATA, FT_ACK, FT_COMMAND = 0, 1, 2, 3
ADDR_NONE, ADDR_SHORT, ADDR_LONG = 0, 2, 3
BROADCAST = 0xFFFF
"""Broadcast short address and broadcast PAN id."""

MAC_ASSOC_REQ, MAC_ASSOC_RSP, MAC_DISASSOC, MAC_DATA_REQ = 1, 2, 3, 4
MAC_PAN_CONFLICT, MAC_ORPHAN, MAC_BEACON_REQ, MAC_COORD_REALIGN, MAC_GTS_REQ = 5, 6, 7, 8, 9

# Capability information (association request, NWK rejoin request, ZDO device announce)
CAP_ALT_PAN_COORD = 0x01
CAP_FFD = 0x02
CAP_MAINS_POWERED = 0x04
CAP_RX_ON_WHEN_IDLE = 0x08
CAP_SECURITY = 0x40
CAP_ALLOCATE_ADDRESS = 0x80

ASSOC_SUCCESS, ASSOC_PAN_FULL, ASSOC_ACCESS_DENIED = 0x00, 0x01, 0x02


class MacFrame(Frame):
    """An 802.15.4 (2003/2006) frame: MAC header + payload; ``encode``/``decode`` add/check the FCS."""

    FIELDS = (
        Bits(2, ("frame_type", 0, 3, FT_DATA), ("security", 3, 1), ("frame_pending", 4, 1),
             ("ack_request", 5, 1), ("pan_id_compression", 6, 1), ("fcf_reserved", 7, 3),
             ("dst_mode", 10, 2, ADDR_SHORT), ("frame_version", 12, 2), ("src_mode", 14, 2, ADDR_SHORT),
             name="frame_control"),
        U8("seq"),
        Check("frame_version < 2", "frame_version", "802.15.4-2015 frame versions are not supported"),
        Check("not security", "security", "MAC-layer security is not used by ZigBee and not supported"),
        U16("dst_pan", when="dst_mode"),
        Addr("dst_addr", "dst_mode"),
        U16("src_pan", when="src_mode and not pan_id_compression"),
        Addr("src_addr", "src_mode"),
        Rest("payload"),
    )

    @classmethod
    def decode(cls, psdu: bytes | bytearray | memoryview, check_fcs: bool = True) -> MacFrame:
        """Decode a PSDU whose last two bytes are the FCS (``check_fcs=False``: accept any 2 bytes)."""
        n = len(psdu)
        if n < 5:
            raise FrameError("MacFrame", "psdu", 0, f"{n} byte(s); the shortest frame (an ack) has 5")
        if n > MAX_PSDU:
            raise FrameError("MacFrame", "psdu", MAX_PSDU, f"{n} bytes exceeds aMaxPHYPacketSize {MAX_PSDU}")
        if check_fcs:
            want = fcs(psdu[:-2])
            got = psdu[-2] | (psdu[-1] << 8)
            if got != want:
                raise FrameError("MacFrame", "fcs", n - 2, f"FCS {got:#06x} does not match computed {want:#06x}")
        obj, _ = cls._decode_from(psdu, 0, n - 2)
        return obj

    @classmethod
    def decode_mpdu(cls, mpdu: bytes | bytearray | memoryview) -> MacFrame:
        """Decode a frame without FCS (linktype 230 captures)."""
        return Frame.decode.__func__(cls, mpdu)

    def encode_mpdu(self) -> bytes:
        """Header + payload without FCS (what ``sendRawMessage`` hands the NCP)."""
        return self._encode_fields()

    def encode(self) -> bytes:
        body = self._encode_fields()
        if len(body) + 2 > MAX_PSDU:
            raise FrameError("MacFrame", "payload", None,
                             f"PSDU of {len(body) + 2} bytes exceeds aMaxPHYPacketSize {MAX_PSDU}")
        return body + fcs(body).to_bytes(2, "little")

    @property
    def is_broadcast(self) -> bool:
        return self.dst_mode == ADDR_SHORT and self.dst_addr == BROADCAST

    @property
    def src_pan_effective(self) -> int | None:
        """The source PAN id, taken from the destination PAN when PAN-ID compression is on."""
        return self.dst_pan if self.pan_id_compression else self.src_pan


class MacCommand(Frame):
    """Payload of a MAC command frame: command id and its fields."""

    FIELDS = (
        U8("command_id"),
        Switch("command_id", {
            MAC_ASSOC_REQ: [U8("capability")],
            MAC_ASSOC_RSP: [U16("short_addr"), U8("status")],
            MAC_DISASSOC: [U8("reason")],
            MAC_COORD_REALIGN: [U16("realign_pan_id"), U16("realign_coord_short"), U8("realign_channel"),
                                U16("realign_short_addr")],
            MAC_GTS_REQ: [U8("gts_characteristics")],
        }),
        Rest("payload"),
    )


class MacBeacon(Frame):
    """Payload of a MAC beacon frame: superframe spec, GTS and pending-address fields, beacon payload."""

    FIELDS = (
        Bits(2, ("beacon_order", 0, 4, 15), ("superframe_order", 4, 4, 15), ("final_cap_slot", 8, 4, 15),
             ("battery_life_ext", 12, 1), ("sf_reserved", 13, 1), ("pan_coordinator", 14, 1),
             ("association_permit", 15, 1), name="superframe_spec"),
        Bits(1, ("gts_count", 0, 3), ("gts_reserved", 3, 4), ("gts_permit", 7, 1), name="gts_spec"),
        U8("gts_directions", when="gts_count"),
        Bytes("gts_list", "3 * gts_count", when="gts_count"),
        Bits(1, ("pending_short_count", 0, 3), ("pend_reserved1", 3, 1), ("pending_long_count", 4, 3),
             ("pend_reserved2", 7, 1), name="pending_spec"),
        Array("pending_short", "H", count="pending_short_count"),
        Array("pending_long", "Q", count="pending_long_count"),
        Rest("payload"),
    )
    AUTO: ClassVar[dict[str, str]] = {
        "gts_count": "len(gts_list) // 3 if gts_list else 0",
        "pending_short_count": "len(pending_short or ())",
        "pending_long_count": "len(pending_long or ())",
    }

    @property
    def protocol_id(self) -> int | None:
        """The first byte of the beacon payload (``ZIGBEE_PROTOCOL_ID`` for a ZigBee beacon), None if empty."""
        return self.payload[0] if self.payload else None


ZIGBEE_PROTOCOL_ID = 0
"""Protocol id of the ZigBee beacon payload (the first byte of a MAC beacon's payload)."""


class ZigbeeBeacon(Frame):
    """The ZigBee beacon payload (NWK layer), 15 bytes."""

    FIELDS = (
        U8("protocol_id"),
        Bits(2, ("stack_profile", 0, 4, 2), ("protocol_version", 4, 4, 2), ("bcn_reserved", 8, 2),
             ("router_capacity", 10, 1), ("device_depth", 11, 4), ("end_device_capacity", 15, 1),
             name="nwk_info"),
        U64("extended_pan_id"),
        U24("tx_offset", default=0xFFFFFF),
        U8("update_id"),
    )


# ---------------------------------------------------------------------------------------------
# ZigBee NWK

NWK_DATA, NWK_COMMAND, NWK_INTERPAN = 0, 1, 3
NWK_BROADCAST_ALL, NWK_BROADCAST_RX_ON, NWK_BROADCAST_ROUTERS = 0xFFFF, 0xFFFD, 0xFFFC

KEY_ID_DATA, KEY_ID_NWK, KEY_ID_KEY_TRANSPORT, KEY_ID_KEY_LOAD = 0, 1, 2, 3


class AuxHeader(Frame):
    """ZigBee auxiliary security header (NWK and APS). The level is 0 on the air (patched to 5 for CCM*)."""

    FIELDS = (
        Bits(1, ("level", 0, 3), ("key_id", 3, 2, KEY_ID_NWK), ("ext_nonce", 5, 1), ("sc_reserved", 6, 2),
             name="security_control"),
        U32("frame_counter"),
        U64("source", when="ext_nonce"),
        U8("key_seq", when="key_id == 1"),
    )
    AUTO: ClassVar[dict[str, str]] = {"ext_nonce": "int(source is not None)"}

    @property
    def size(self) -> int:
        """Encoded length in bytes."""
        return 5 + (8 if self.ext_nonce else 0) + (1 if self.key_id == 1 else 0)


class NwkFrame(Frame):
    """ZigBee NWK frame: header, auxiliary header when secured, payload (ciphertext + MIC if secured).

    ``frame_type == 3`` is the inter-PAN stub: only the frame control (``0x000B``), no other field.
    """

    FIELDS = (
        Bits(2, ("frame_type", 0, 2), ("protocol_version", 2, 4, 2), ("discover_route", 6, 2),
             ("multicast", 8, 1), ("security", 9, 1), ("source_route", 10, 1), ("dst_ieee_present", 11, 1),
             ("src_ieee_present", 12, 1), ("end_device_initiator", 13, 1), ("fc_reserved", 14, 2),
             name="frame_control"),
        Switch("frame_type", {NWK_INTERPAN: []}, default=[
            U16("dst"), U16("src"), U8("radius"), U8("seq"),
            U64("dst_ieee", when="dst_ieee_present"),
            U64("src_ieee", when="src_ieee_present"),
            U8("multicast_control", when="multicast"),
            U8("relay_count", when="source_route"),
            U8("relay_index", when="source_route"),
            Array("relays", "H", count="relay_count", when="source_route"),
            Sub("aux", AuxHeader, when="security"),
        ]),
        Rest("payload"),
    )
    AUTO: ClassVar[dict[str, str]] = {
        "security": "int(aux is not None)",
        "dst_ieee_present": "int(dst_ieee is not None)",
        "src_ieee_present": "int(src_ieee is not None)",
        "multicast": "int(multicast_control is not None)",
        "source_route": "int(relays is not None)",
        "relay_count": "len(relays) if relays is not None else None",
    }


NWK_CMD_ROUTE_REQUEST, NWK_CMD_ROUTE_REPLY, NWK_CMD_NETWORK_STATUS, NWK_CMD_LEAVE = 1, 2, 3, 4
NWK_CMD_ROUTE_RECORD, NWK_CMD_REJOIN_REQUEST, NWK_CMD_REJOIN_RESPONSE, NWK_CMD_LINK_STATUS = 5, 6, 7, 8
NWK_CMD_ED_TIMEOUT_REQUEST, NWK_CMD_ED_TIMEOUT_RESPONSE = 11, 12
LEAVE_REJOIN, LEAVE_REQUEST, LEAVE_REMOVE_CHILDREN = 0x20, 0x40, 0x80


class LinkStatusEntry(Frame):
    FIELDS = (
        U16("address"),
        Bits(1, ("incoming_cost", 0, 3), ("ls_reserved1", 3, 1), ("outgoing_cost", 4, 3), ("ls_reserved2", 7, 1),
             name="link_costs"),
    )


class NwkCommand(Frame):
    """Payload of a NWK command frame (after NWK decryption)."""

    FIELDS = (
        U8("command_id"),
        Switch("command_id", {
            NWK_CMD_ROUTE_REQUEST: [U8("options"), U8("route_request_id"), U16("dst_addr"), U8("path_cost"),
                                    U64("dst_ieee", when="options & 0x20")],
            NWK_CMD_ROUTE_REPLY: [U8("options"), U8("route_request_id"), U16("originator"), U16("responder"),
                                  U8("path_cost"), U64("originator_ieee", when="options & 0x10"),
                                  U64("responder_ieee", when="options & 0x20")],
            NWK_CMD_NETWORK_STATUS: [U8("status"), U16("dst_addr")],
            NWK_CMD_LEAVE: [U8("options")],
            NWK_CMD_ROUTE_RECORD: [U8("relay_count"), Array("relays", "H", count="relay_count")],
            NWK_CMD_REJOIN_REQUEST: [U8("capability")],
            NWK_CMD_REJOIN_RESPONSE: [U16("short_addr"), U8("status")],
            NWK_CMD_LINK_STATUS: [
                Bits(1, ("entry_count", 0, 5), ("first_frame", 5, 1), ("last_frame", 6, 1), ("ls_reserved", 7, 1),
                     name="link_status_options"),
                Array("entries", LinkStatusEntry, count="entry_count")],
            NWK_CMD_ED_TIMEOUT_REQUEST: [U8("requested_timeout"), U8("ed_config")],
            NWK_CMD_ED_TIMEOUT_RESPONSE: [U8("status"), U8("parent_info")],
        }),
        Rest("payload"),
    )
    AUTO: ClassVar[dict[str, str]] = {
        "relay_count": "len(relays) if relays is not None else None",
        "entry_count": "len(entries) if entries is not None else None",
    }


# ---------------------------------------------------------------------------------------------
# ZigBee APS

APS_DATA, APS_COMMAND, APS_ACK, APS_INTERPAN = 0, 1, 2, 3
DELIVERY_UNICAST, DELIVERY_INDIRECT, DELIVERY_BROADCAST, DELIVERY_GROUP = 0, 1, 2, 3
FRAG_NONE, FRAG_FIRST, FRAG_MORE = 0, 1, 2

_HAS_ENDPOINTS = "frame_type == 0 or (frame_type == 2 and not ack_format)"


class ApsFrame(Frame):
    """ZigBee APS frame (data, command, ack, and the inter-PAN stub ``frame_type == 3``)."""

    FIELDS = (
        Bits(1, ("frame_type", 0, 2), ("delivery_mode", 2, 2), ("ack_format", 4, 1), ("security", 5, 1),
             ("ack_request", 6, 1), ("extended_header", 7, 1), name="frame_control"),
        U8("dst_endpoint", when="(frame_type == 0 and delivery_mode in (0, 2)) or (frame_type == 2 and not ack_format)"),
        U16("group", when="frame_type in (0, 3) and delivery_mode == 3"),
        U16("cluster", when="frame_type == 3 or " + _HAS_ENDPOINTS),
        U16("profile", when="frame_type == 3 or " + _HAS_ENDPOINTS),
        U8("src_endpoint", when=_HAS_ENDPOINTS),
        U8("counter", when="frame_type != 3"),
        Bits(1, ("fragmentation", 0, 2), ("ext_reserved", 2, 6), when="extended_header and frame_type in (0, 2)",
             name="ext_frame_control"),
        U8("block_number", when="extended_header and frame_type in (0, 2) and fragmentation"),
        U8("ack_bitfield", when="extended_header and frame_type == 2 and fragmentation"),
        Sub("aux", AuxHeader, when="security"),
        Rest("payload"),
    )
    AUTO: ClassVar[dict[str, str]] = {
        "security": "int(aux is not None)",
        "extended_header": "int(fragmentation is not None)",
    }


APS_CMD_TRANSPORT_KEY, APS_CMD_UPDATE_DEVICE, APS_CMD_REMOVE_DEVICE = 5, 6, 7
APS_CMD_REQUEST_KEY, APS_CMD_SWITCH_KEY, APS_CMD_TUNNEL = 8, 9, 14
APS_CMD_VERIFY_KEY, APS_CMD_CONFIRM_KEY = 15, 16

KEY_TC_MASTER, KEY_NWK, KEY_APP_MASTER, KEY_APP_LINK, KEY_TC_LINK, KEY_NWK_HIGH_SECURITY = 0, 1, 2, 3, 4, 5

UPDATE_SECURED_REJOIN, UPDATE_UNSECURED_JOIN, UPDATE_DEVICE_LEFT, UPDATE_UNSECURED_REJOIN = 0, 1, 2, 3


class ApsCommand(Frame):
    """Payload of an APS command frame (after APS decryption)."""

    FIELDS = (
        U8("command_id"),
        Switch("command_id", {
            APS_CMD_TRANSPORT_KEY: [
                U8("key_type"), Bytes("key", 16),
                Switch("key_type", {
                    (KEY_NWK, KEY_NWK_HIGH_SECURITY): [U8("key_seq"), U64("dst_ieee"), U64("src_ieee")],
                    (KEY_TC_MASTER, KEY_TC_LINK): [U64("dst_ieee"), U64("src_ieee")],
                    (KEY_APP_MASTER, KEY_APP_LINK): [U64("partner_ieee"), U8("initiator")],
                })],
            APS_CMD_UPDATE_DEVICE: [U64("device_ieee"), U16("device_short"), U8("status")],
            APS_CMD_REMOVE_DEVICE: [U64("target_ieee")],
            APS_CMD_REQUEST_KEY: [U8("key_type"), U64("partner_ieee", when="key_type == 2")],
            APS_CMD_SWITCH_KEY: [U8("key_seq")],
            APS_CMD_TUNNEL: [U64("dst_ieee")],
            APS_CMD_VERIFY_KEY: [U8("key_type"), U64("src_ieee"), Bytes("key_hash", 16)],
            APS_CMD_CONFIRM_KEY: [U8("status"), U8("key_type"), U64("dst_ieee")],
        }),
        Rest("payload"),
    )


# ---------------------------------------------------------------------------------------------
# Builders for the frames the join and inter-PAN need

PROFILE_ZDO, PROFILE_SE = 0x0000, 0x0109   # ZDO and Smart Energy (zigpy names neither)
PROFILE_HA = zha.PROFILE_ID


def mac_ack(seq: int, frame_pending: bool = False) -> MacFrame:
    """Immediate acknowledgement (5-byte PSDU)."""
    return MacFrame(frame_type=FT_ACK, frame_pending=int(frame_pending), dst_mode=ADDR_NONE,
                    src_mode=ADDR_NONE, seq=seq)


def mac_data(seq: int, pan_id: int, dst: int, src: int, payload: bytes, *, ack_request: bool | None = None,
             dst_long: bool = False, src_long: bool = False, frame_pending: bool = False) -> MacFrame:
    """Intra-PAN data frame (PAN-ID compression); acks requested for unicasts unless told otherwise."""
    if ack_request is None:
        ack_request = dst_long or dst != BROADCAST
    return MacFrame(frame_type=FT_DATA, ack_request=int(ack_request), pan_id_compression=1,
                    frame_pending=int(frame_pending), seq=seq, dst_mode=ADDR_LONG if dst_long else ADDR_SHORT,
                    dst_pan=pan_id, dst_addr=dst, src_mode=ADDR_LONG if src_long else ADDR_SHORT,
                    src_addr=src, payload=payload)


def beacon_request(seq: int) -> MacFrame:
    return MacFrame(frame_type=FT_COMMAND, seq=seq, dst_mode=ADDR_SHORT, dst_pan=BROADCAST, dst_addr=BROADCAST,
                    src_mode=ADDR_NONE, payload=MacCommand(command_id=MAC_BEACON_REQ).encode())


def beacon(seq: int, pan_id: int, src_short: int, extended_pan_id: int, *, permit_joining: bool,
           pan_coordinator: bool = True, router_capacity: bool = True, end_device_capacity: bool = True,
           device_depth: int = 0, update_id: int = 0, tx_offset: int = 0xFFFFFF) -> MacFrame:
    """A ZigBee PRO beacon (answer to a beacon request)."""
    zb = ZigbeeBeacon(protocol_id=0, stack_profile=2, protocol_version=2, router_capacity=int(router_capacity),
                      device_depth=device_depth, end_device_capacity=int(end_device_capacity),
                      extended_pan_id=extended_pan_id, tx_offset=tx_offset, update_id=update_id)
    sf = MacBeacon(beacon_order=15, superframe_order=15, final_cap_slot=15,
                   pan_coordinator=int(pan_coordinator), association_permit=int(permit_joining),
                   payload=zb.encode())
    return MacFrame(frame_type=FT_BEACON, seq=seq, dst_mode=ADDR_NONE, src_mode=ADDR_SHORT, src_pan=pan_id,
                    src_addr=src_short, payload=sf.encode())


def association_request(seq: int, pan_id: int, coord_short: int, src_ieee: int, capability: int) -> MacFrame:
    return MacFrame(frame_type=FT_COMMAND, ack_request=1, seq=seq, dst_mode=ADDR_SHORT, dst_pan=pan_id,
                    dst_addr=coord_short, src_mode=ADDR_LONG, src_pan=BROADCAST, src_addr=src_ieee,
                    payload=MacCommand(command_id=MAC_ASSOC_REQ, capability=capability).encode())


def association_response(seq: int, pan_id: int, dst_ieee: int, src_ieee: int, short_addr: int,
                         status: int = ASSOC_SUCCESS) -> MacFrame:
    return MacFrame(frame_type=FT_COMMAND, ack_request=1, pan_id_compression=1, seq=seq, dst_mode=ADDR_LONG,
                    dst_pan=pan_id, dst_addr=dst_ieee, src_mode=ADDR_LONG, src_addr=src_ieee,
                    payload=MacCommand(command_id=MAC_ASSOC_RSP, short_addr=short_addr, status=status).encode())


def data_request(seq: int, pan_id: int, dst_short: int, src: int, *, src_long: bool = False) -> MacFrame:
    """Data poll from a (joining or sleepy) child to its parent."""
    return MacFrame(frame_type=FT_COMMAND, ack_request=1, pan_id_compression=1, seq=seq, dst_mode=ADDR_SHORT,
                    dst_pan=pan_id, dst_addr=dst_short, src_mode=ADDR_LONG if src_long else ADDR_SHORT,
                    src_addr=src, payload=MacCommand(command_id=MAC_DATA_REQ).encode())


INTERPAN_NWK_FC = 0x000B
"""The NWK frame control of every inter-PAN frame (frame type 3, protocol version 2)."""


def interpan(seq: int, *, dst_pan: int, dst: int, src_pan: int, src_ieee: int, cluster: int,
             profile: int = PROFILE_SE, payload: bytes = b"", delivery: str = "unicast",
             group: int | None = None, aux: AuxHeader | None = None, ack_request: bool | None = None) -> MacFrame:
    """Inter-PAN frame (inter-pan.md §1): MAC with long source, NWK stub ``0x000B``, APS stub.

    ``delivery`` is ``"unicast"`` (``dst`` an EUI-64, ack requested), ``"broadcast"`` (``dst``
    0xFFFF) or ``"group"`` (``dst`` 0xFFFF, ``group`` set).  ``payload`` is the ZCL frame, or the
    ciphertext + MIC when ``aux`` is given (see ``rig.zigbee.security.secure_interpan``).
    """
    mode = {"unicast": DELIVERY_UNICAST, "broadcast": DELIVERY_BROADCAST, "group": DELIVERY_GROUP}[delivery]
    aps = ApsFrame(frame_type=APS_INTERPAN, delivery_mode=mode, group=group if mode == DELIVERY_GROUP else None,
                   cluster=cluster, profile=profile, aux=aux, payload=payload)
    return interpan_mac(seq, dst_pan=dst_pan, dst=dst, src_pan=src_pan, src_ieee=src_ieee,
                        nwk_payload=aps.encode(), unicast=mode == DELIVERY_UNICAST, ack_request=ack_request)


def interpan_mac(seq: int, *, dst_pan: int, dst: int, src_pan: int, src_ieee: int, nwk_payload: bytes,
                 unicast: bool, ack_request: bool | None = None) -> MacFrame:
    """MAC + NWK stub around an already encoded APS stub frame."""
    if ack_request is None:
        ack_request = unicast
    return MacFrame(frame_type=FT_DATA, ack_request=int(ack_request), pan_id_compression=0, seq=seq,
                    dst_mode=ADDR_LONG if unicast else ADDR_SHORT, dst_pan=dst_pan, dst_addr=dst,
                    src_mode=ADDR_LONG, src_pan=src_pan, src_addr=src_ieee,
                    payload=INTERPAN_NWK_FC.to_bytes(2, "little") + nwk_payload)


# ---------------------------------------------------------------------------------------------
# Which layer follows; whole-frame dissection (printer, tests)

FOLLOWS: dict[type[Frame], tuple[str, dict[int, type[Frame]]]] = {
    MacFrame: ("frame_type", {FT_BEACON: MacBeacon, FT_DATA: NwkFrame, FT_COMMAND: MacCommand}),
    MacBeacon: ("protocol_id", {ZIGBEE_PROTOCOL_ID: ZigbeeBeacon}),
    NwkFrame: ("frame_type", {NWK_DATA: ApsFrame, NWK_COMMAND: NwkCommand, NWK_INTERPAN: ApsFrame}),
    ApsFrame: ("frame_type", {APS_COMMAND: ApsCommand}),
}
"""Which layer a frame's ``payload`` holds: per layer, the field that says so and the layer each value
means.  The payload of a secured NWK or APS frame is that layer once decrypted.  An inter-PAN frame is
a NWK frame of type ``NWK_INTERPAN`` (the stub) followed by an ``ApsFrame`` of type ``APS_INTERPAN``.
Values not listed (MAC acks, APS data and acks, whose payload is ZDO/ZCL) have nothing here after them."""


def follows(frame: Frame) -> type[Frame] | None:
    """The layer ``frame.payload`` holds according to ``FOLLOWS``, or None."""
    entry = FOLLOWS.get(type(frame))
    if entry is None:
        return None
    field, table = entry
    return table.get(getattr(frame, field))


class Dissection:
    """The layers of one PSDU, as far as they decode without keys; ``error`` says where it stopped."""

    __slots__ = (
        "aps",
        "aps_command",
        "error",
        "mac",
        "mac_beacon",
        "mac_command",
        "nwk",
        "nwk_command",
        "zigbee_beacon",
    )

    def __init__(self) -> None:
        for n in self.__slots__:
            setattr(self, n, None)

    def __repr__(self) -> str:
        return "Dissection(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__
                                         if getattr(self, n) is not None) + ")"


_SLOT = {MacBeacon: "mac_beacon", MacCommand: "mac_command", ZigbeeBeacon: "zigbee_beacon", NwkFrame: "nwk",
         NwkCommand: "nwk_command", ApsFrame: "aps", ApsCommand: "aps_command"}


def dissect(psdu: bytes, check_fcs: bool = True, nwk_plaintext: bytes | None = None) -> Dissection:
    """Decode every layer reachable without keys (or with ``nwk_plaintext`` for a secured NWK frame)."""
    d = Dissection()
    try:
        d.mac = frame = MacFrame.decode(psdu, check_fcs)
        while (layer := follows(frame)) is not None:
            payload = frame.payload
            if type(frame) is NwkFrame and frame.security:
                payload = nwk_plaintext
            elif type(frame) is ApsFrame and frame.security:
                payload = None                   # needs a link key
            if payload is None or (layer is NwkFrame and not payload):
                break                            # (a MAC data frame without payload carries no NWK frame)
            frame = layer.decode(payload)
            setattr(d, _SLOT[layer], frame)
    except FrameError as e:
        d.error = e
    return d


# the layer tables and their helpers; of the engine only FrameError, which every decoder here raises
__all__ = [n for n in dir() if not n.startswith("_") and n not in {
    "annotations", "binascii", "ClassVar", "U8", "U16", "U24", "U32", "U64", "Addr", "Array", "Bits", "Bytes",
    "Check", "Frame", "Rest", "Sub", "Switch"}]
