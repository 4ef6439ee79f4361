"""The rig's choices where GBCS's local-pairing exchange is not public — one module a lab can align
with a real Communications Hub.  Terms as in the team notes' ``gbcs.md`` (§7 tunnelling, §8 HHT inter-PAN
pairing, §9 negatives) and ``inter-pan.md``.  Tags: [C] cited, [I] our inference, [U] open.

Inter-PAN (CH <-> HHT before the HHT is on the SM HAN)
* Reception: the CH opens it at power-on by writing Silicon Labs' 12-entry MAC filter list
  (``INTERPAN_FILTERS``, inter-pan.md §2 [C]) and closes it by writing as many all-zero entries
  (``INTERPAN_OFF``, what SL's ``interpanPluginSetMacMatchFilterEnable(false)`` does [C]).  Under the
  ``gbcs`` policy that happens ``INTERPAN_WINDOW_S`` after power-on (gbcs.md §8 [C]); under ``secmp0037``
  never.  With the filter list closed the NCP drops inter-PAN frames: the host never sees them.
* A pairing session in flight when the window closes may finish [I]: it began with the HHT's first Key
  Establishment frame inside the window and lasts at most ``INTERPAN_SESSION_MAX_S`` (CBKE + CCS01);
  the filter list closes when it ends.  Any frame of a session that begins after the deadline is refused
  (``interpan_window_closed``) and, once the list is closed, never reaches the host.
* Per-sender state is bounded [I]: at most ``INTERPAN_MAX_SESSIONS`` inter-PAN sessions (each with its
  KE responder, link key and reassembly buffer).  A new sender beyond the cap evicts by least progress,
  then age (``ch.session_evicted``): the oldest session older than ``INTERPAN_SESSION_MAX_S``, else the
  oldest that has not got past its KE Initiate (its partner never sent Ephemeral Data); a session past
  its Initiate and younger than its bound is never evicted, and when every slot holds one the new sender
  is refused (``interpan_sessions_full``).  Spoofed sources never get past Initiate (the CH's answers go to
  addresses nobody holds) while a real HHT does, so spoofed Key Establishment requests can neither grow
  the CH's state nor push out an HHT that is pairing.
* Key Establishment Initiates are answered, never queued [I]: the CH answers at most
  ``INTERPAN_KE_ANSWERING`` Initiates at once and ``INTERPAN_KE_PER_S`` a second (a token bucket on the
  CH's clock); one beyond either is dropped (``ke_rate_limited``) instead of waiting behind a flood, so a
  flood costs the CH cheap drops, not answers (a real HHT retries, below).  An Initiate for a
  sender whose key establishment is in progress is ignored (``ke_in_progress``): it neither restarts nor
  terminates the exchange.  An Initiate whose certificate subject is not the frame's source is dropped
  (``ke_certificate_not_sender``) unanswered: CBKE could never give that sender a key, and a Terminate
  would go to an address whose owner did not ask (a spoofed Initiate must not end a pairing HHT's
  exchange).  An exchange that ends before its ephemeral keys were generated leaves the NCP's CBKE
  temporary data alone (it may be another exchange's).
* The HHT retries its first Key Establishment Initiate [I]: up to ``INTERPAN_ATTEMPTS`` attempts, each
  waiting ``INTERPAN_ANSWER_TIMEOUT_S`` for the CH's answer, ``INTERPAN_RETRY_S`` between the first two
  and doubling after (an attempt whose CBKE fails is retried too), so a pairing begun during a flood
  completes once the flood stops or a slot frees.
* Plaintext allow-list: only Key Establishment (cluster 0x0800, commands 0-3, either direction) is
  accepted unsecured (SL's SE allow-list, inter-pan.md §1 [C]); everything else must be APS-secured.
* The CH's inter-PAN allow-list [I] (``INTERPAN_ALLOW_LIST``, checked before a frame opens a session):
  every frame the CH accepts is an APS unicast (``interpan_not_unicast``) on the SE profile
  (``interpan_wrong_profile``) carrying a cluster-specific (``interpan_not_cluster_specific``) ZCL
  request, client -> server (``interpan_wrong_direction``: the CH only answers over inter-PAN); per
  cluster the commands allowed and whether the frame must be plaintext (Key Establishment 0-3) or
  APS-secured with the CBKE link key (TransferData client->server); anything else ``not_allow_listed``,
  a secured frame the CH cannot decrypt ``aps_security_failed``, a plaintext one whose ZCL header does
  not decode ``interpan_malformed_zcl``.
* Every inter-PAN or HAN frame the CH host refuses or drops is an event naming the reason
  (``ch.refused`` / ``ch.dropped``), so a test sees a refusal instead of waiting out a timeout.
* The HHT's Entity ID + install code travel as a DCC-built CCS01 that registers the HHT itself
  (device type ``HHT_DEVICE_TYPE``).  [U] in GBCS: the carrying command.  Rig choice [I]: the ZSE
  tunnelling cluster's TransferData (cluster 0x0704, profile 0x0109, client->server 0x02 / server->client
  0x01, tunnel id ``INTERPAN_TUNNEL_ID``), the GBCS message in GBT blocks (inter-PAN has no APS
  fragmentation; see the SM HAN paragraph on framing), each
  inter-PAN frame APS-secured on the host (key id 0 = the CBKE link key, extended nonce so Wireshark
  decrypts it, inter-pan.md §5) because the EZSP inter-PAN path has no APS security.
  The CH answers with the CCS01 response the same way.
* The CH's device-log device type for an HHT [U]: ``DeviceType.TYPE2`` (rig.gbcs decision 1).
* What inter-PAN may carry to the CHF [I]: only ``INTERPAN_CHF_COMMANDS`` (CCS01; anything else
  ``interpan_command_not_allowed``), naming the sender itself (``ccs01_not_for_sender``) with device type
  ``HHT_DEVICE_TYPE`` (``interpan_device_type_not_hht``): over inter-PAN a device can only register
  itself, and only as an HHT.  It never replaces an entry that is not an HHT entry
  (``interpan_entry_not_hht``); renewing an HHT entry (the HHT pairs again) keeps its expiry.

SM HAN
* Joins: install-code link keys only (TC policy 0x10); the CH imports a transient key for a device
  once it is in the CHF device log and permits joining for ``PERMIT_JOIN_S``.
* A device gone from the CHF device log (an HHT after its residency or at CH power-on) loses its keys at
  the trust centre [I]: the CH erases its key-table entry (the CBKE link key it could otherwise rejoin
  with; ``ch.keys_erased``) and sends it a Mgmt_Leave.  A device the trust centre lets in that is not in
  the log is refused (``not_in_device_log``), its keys erased and it is sent off, whatever key it held.
  The link key agreed by CBKE over inter-PAN belongs to that pairing session alone [I]: the CH host keeps it
  for the session's APS security and erases it from the NCP's key table at once, so a sender whose CCS01
  was never accepted holds no key the trust centre would let it join with.  Secured frames that arrive
  while the CH is still fetching a just-agreed key from its NCP are held (at most
  ``INTERPAN_HELD_FRAMES``) and handled once the key is there.
* After joining every device runs CBKE (suite 2) with the CH (trust centre), as SE devices do.
* GBCS rides the tunnelling cluster, protocol 6 GB-HRGP, manufacturer 0xFFFF, no flow control, 1500-byte
  maximum (gbcs.md §7 [C]); APS-encrypted with the CBKE link key.  On the HAN a GBCS message travels
  whole, one per TransferData, cut below it into APS blocks as EmberZNet and Silicon Labs' fragmentation
  host plugin do (``rig.fragments``: blocks of one frame's APS payload, acknowledged per window of
  ``rig.fragments.FRAGMENT_WINDOW``), so a TransferData that is not one whole message is dropped at once
  (``Reassembler`` with ``TUNNEL_MAX_TRANSFER`` as its piece size).  Inter-PAN frames have no APS
  fragmentation (the inter-PAN APS stub has no extended header; Silicon Labs' optional inter-PAN
  fragmentation, IPMF, puts a proprietary 4-byte header before the ZCL frame [C: SL interpan.h], which
  Wireshark would read as ZCL [I]), so there a GBCS message travels as GBCS General Block Transfer:
  consecutive TransferData frames, each exactly one GBT block (a GBCS routing header naming the message,
  then a DLMS general-block-transfer APDU with block number, last-block flag and the next bytes of the
  message; ``rig.gbcs.gbt``, layout [C: wireshark packet-gbcs.c]) of at most ``SEGMENT_BYTES``, the
  TransferData room of one inter-PAN frame (``INTERPAN_TRANSFER_OVERHEAD``).  Decision [I]: GBT rather
  than the rig's former raw 48-byte segments.  Wireshark hands tunnel data whose first byte is DD/DF to
  its GBCS dissector as one whole message [C: packet-gbcs.c ``dissect_gbcs_tunnel_heur``], so a raw first
  segment was a truncated message (the two malformed frames of every scenario capture), and later ones
  plain data; a GBT block (DD 09 ...) it dissects on its own and reassembles by block number, addresses,
  originator and counter into the GBCS message it then dissects [C: ``dissect_gbcs_gbt_payload``].
  ``tests/air/test_air_tshark.py`` runs a whole scenario's capture through tshark 4.0.17: no malformed
  frame, both inter-PAN GBCS messages read.  [U] whether GBCS itself asks for GBT over inter-PAN (its
  GBT serves large messages; the HHT pairing text, gbcs.md §8, names no framing); [I] the routing
  header's security header (``00 00000000``), streaming bit and window (``rig.gbcs.gbt``).  The receiver checks every block [I]: a payload that is not one
  GBT block (``not_a_gbt_block``) or is too long or empty (``segment_size``); block 1 begins a message
  and must begin as a GBCS message does (``not_a_message_start``, as must a block beyond 1 with nothing
  in progress); each next block must carry the next number under the same routing header
  (``block_out_of_order``); a new block 1 replaces an unfinished message (``message_incomplete``); more
  bytes than the message's length field or ``TUNNEL_MAX_TRANSFER`` is ``message_too_long``; at the
  last-block flag the bytes must be one whole GBCS message (``undecodable``) whose grouping header
  agrees with the routing header (``routing_mismatch``).  Each drop costs that sender's buffer only;
  the CH reports each as an event (``ch.dropped``, ``rig.roles.ezsp_role.Reassembler``)
  and keeps buffers for at most ``REASSEMBLY_MAX_SENDERS`` senders per path (the oldest is dropped).
  A message cut short (its first blocks, then nothing) is dropped ``REASSEMBLY_TIMEOUT_S`` after the
  sender's last segment, on the CH's clock (``ch.dropped`` ``message_incomplete``) [I]; on the HAN its
  APS blocks are dropped ``rig.fragments.FRAGMENT_TIMEOUT_S`` after the last one.
* Relay [C: SL comms-hub-function]: the CH accepts a tunnel only from a joined device in its log; a GBCS
  command for another device goes down the CH's tunnel to that device, the response comes back to the
  tunnel the command came from.  The CH opens its tunnel to a device on first use [I].
* HHT residency [U, SECMP0037 seed]: an entry added by an HHT's own inter-PAN CCS01 is removed after
  ``HHT_RESIDENCY_S`` or at the next CH power-on, whichever comes first; the device is asked to leave
  (ZDO Mgmt_Leave_req).  Entries added through the tunnel (the PPMID's) stay.
* A second HHT while one is on the HAN [I] (``SECOND_HHT_ALLOWED``): allowed; each HHT's entry keeps
  its own ``HHT_RESIDENCY_S`` from its own inter-PAN CCS01 (the second's pairing neither extends nor ends
  the first's).
* An HHT entry is not re-added or extended by the HHT itself [I]: an HHT entry is made only by the HHT's
  own inter-PAN CCS01 and renewing it there keeps its expiry; through the HAN tunnel a CCS01 naming its
  sender (``ccs01_names_sender``: a device never registers itself on the HAN) or a device that has an
  HHT entry (``hht_entry_not_extendable``) is refused, so an HHT cannot make itself a permanent entry.
* PPMID <-> ESME data: ZCL Metering (0x0702) Read Attributes of CurrentSummationDelivered (0x0000)
  sent directly on the HAN; a meter answers only a partner joined by a CS03 command, others get a
  Default Response NOT_AUTHORIZED (0x7E) [I].
* The GSME behind the GPF [C: SL comms-hub-function.c, gbcs-device-log.h; gbcs.md §7], ``SLEEPY_PROTOCOL``:
  a device-log entry of a ``SLEEPY_DEVICE_TYPES`` type (the GSME) is sleepy.  It joins the SM HAN as a
  sleepy end device (``GSME_NODE_TYPE``), runs CBKE with the CH and opens its tunnel to the CHF itself
  (the CH never requests one to a GSME).  A GBCS command for it is not relayed: the CHF holds it
  (``SLEEPY_QUEUE_SIZE`` messages in all, each for at most ``SLEEPY_QUEUE_TIMEOUT_S``; RAM, gone at CH
  power-on and when the device leaves the log) until the GSME asks.  Tunnel data from a sleepy device
  starts with a header byte: ``TUNNEL_GET`` (the GSME asks), answered ``TUNNEL_GET_RESPONSE`` ‖ messages
  still held (u8) ‖ the oldest held message (or nothing); ``TUNNEL_PUT`` ‖ data: a GBCS message (its
  response, routed back to the tunnel the command came from, as any device's) or [I] a mirror update: the
  ZCL Report Attributes frame of its Metering server (SE meter mirroring; GBCS wraps GPF data in GBZ,
  which the rig does not model [U]).  The GPF answers Metering reads from that mirror, only to a
  partner it joined by CS03 (others: Default Response NOT_AUTHORIZED, as the ESME) [I].
  The GSME wakes every ``GSME_WAKE_S`` [I: real GSMEs wake on a supplier-set schedule, U]: it PUTs its
  reading, then GETs until nothing is held, executing each command and PUTting its response; a GET not
  answered within ``RESPONSE_TIMEOUT_S`` ends the wake.  The EZSP ``pollForData`` it sends after a GET
  is what a real sleepy end device needs for its parent's indirect queue; the emulated NCP's air has no
  indirect transmission (every joined receiver listens) [I].  An HHT waits ``SLEEPY_RESPONSE_TIMEOUT_S``
  for the response of a command to a sleepy device (its next wake, then the way back).
* The GPF runs in-process inside the CH shim, on the CH's radio, as in a real CH: the CH dongle's EUI-64
  is the GPF Entity ID = the Extended PAN ID (gbcs.md §8 [C]); the CHF has its own Entity ID (not a radio
  address).  GBCS for the GPF is executed by the CH host without a radio hop [I].
* Identity B of a one-dongle dual-address PPMID [I]: the NCP's CBKE certificate (write-once
  MFG_CBKE_283K1_DATA) names identity A, so B's certificate and private key are held by the PPMID's host.
  B joins with its install-code key (proof it is in the CHF device log), then runs CBKE with the CH using
  that host-side engine; the agreed link key becomes the NCP's trust-centre link key (where an NCP-side CBKE
  with the TC puts it), after which the CH's
  traffic to B is APS-encrypted as for every other device (``rig.cbke.ezsp_engine.HostKeEngine``).
* A CHF refusal is a logged reason (event ``ch.refused``), not an answer: the sender times out
  (``RESPONSE_TIMEOUT_S``); with the inter-PAN window closed nothing reaches the CH host at all and the
  HHT gives up after ``INTERPAN_ATTEMPTS`` attempts of ``INTERPAN_ANSWER_TIMEOUT_S`` [I].
* An NCP that resets by itself (unsolicited RSTACK) or a host link that drops [I]: the CH and the ESME,
  long-running programs, reconnect ``NCP_RECOVERY_DELAY_S`` later (up to ``NCP_RECOVERY_ATTEMPTS`` times,
  ``NCP_RECOVERY_RETRY_S`` apart), resume the HAN from the NCP's NV and reopen inter-PAN reception, as
  zigpy's application does after ``connection_lost``; what was in flight (inter-PAN sessions, CBKE,
  tunnels) is gone and the peer's own retries cover it.  The CH host keeps its RAM: it is no power-on,
  so HHT entries stay and the 60-minute window runs on.  An HHT or PPMID ends its pairing with the
  reason ``ncp_reset`` / ``ncp_link_lost``.
"""

from __future__ import annotations

from typing import NamedTuple

from zigpy.zcl.clusters.smartenergy import KeyEstablishment, Metering, Tunneling

from rig.gbcs import DeviceType
from rig.zigbee.frames import PROFILE_SE

POLICIES = ("gbcs", "secmp0037")

INTERPAN_WINDOW_S = 60 * 60
INTERPAN_SESSION_MAX_S = 30.0
INTERPAN_HELD_FRAMES = 8             # secured frames held per sender while its CBKE key is fetched [I]
INTERPAN_MAX_SESSIONS = 8          # inter-PAN pairing sessions the CH holds at once [I]
INTERPAN_KE_ANSWERING = 2          # KE Initiates the CH answers at once; more are dropped (ke_rate_limited) [I]
INTERPAN_KE_PER_S = 4              # KE Initiates the CH answers a second (burst as many); more dropped [I]
INTERPAN_ATTEMPTS = 5              # the HHT's KE Initiate attempts over inter-PAN (25 s with the pauses) [I]
INTERPAN_RETRY_S = 1.0             # the HHT's pause before its second attempt, doubling after [I]
HHT_RESIDENCY_S = 18 * 60 * 60
SECOND_HHT_ALLOWED = True          # a second HHT may pair while one is on the HAN; each keeps its residency [I]

#: Silicon Labs' list: {dst PAN local, broadcast} x {src PAN non-local, local} x {dst bcast, ucast short, long}
INTERPAN_FILTERS = bytes.fromhex("050015002500090019002900060016002600" "0a001a002a00")
INTERPAN_OFF = bytes(len(INTERPAN_FILTERS))

SE_PROFILE = PROFILE_SE
KE_CLUSTER = KeyEstablishment.cluster_id
TUNNEL_CLUSTER = Tunneling.cluster_id
METERING_CLUSTER = Metering.cluster_id
ENDPOINT = 1

INTERPAN_TUNNEL_ID = 0x0000
HHT_DEVICE_TYPE = DeviceType.TYPE2
#: GBCS commands the CHF executes when they arrive over inter-PAN (only for the sender itself, as an HHT)
INTERPAN_CHF_COMMANDS = frozenset({"CCS01"})
#: the TransferData room of one APS-secured inter-PAN frame [C: inter-pan.md §1, §5; IEEE 802.15.4
#: aMaxPHYPacketSize 127, FCS included; the NCP refuses a raw MPDU beyond 125]
INTERPAN_PSDU_BYTES = 127
INTERPAN_TRANSFER_OVERHEAD = (23   # MAC: FCF, seq, dst PAN + EUI-64, src PAN + EUI-64 (no PAN-ID compression)
                              + 2  # NWK stub 0x000B
                              + 5  # APS stub: frame control, cluster, profile
                              + 13  # APS aux header: security control, frame counter, sender EUI-64 (ext. nonce)
                              + 3  # ZCL header: frame control, sequence, command
                              + 2  # tunnel id
                              + 4  # APS MIC
                              + 2)  # FCS
SEGMENT_BYTES = INTERPAN_PSDU_BYTES - INTERPAN_TRANSFER_OVERHEAD   # 73: one GBT block per TransferData
REASSEMBLY_MAX_SENDERS = 16        # senders with a GBCS message in progress, per path (inter-PAN, HAN) [I]
REASSEMBLY_TIMEOUT_S = 10.0        # a message in progress is dropped this long after its sender's last segment [I]
RELAY_MAX_PENDING = 16             # relayed commands awaiting their device's response (oldest dropped) [I]

# tunnelling cluster (gbcs.md §7)
GB_HRGP = 6
TUNNEL_MANUFACTURER = 0xFFFF
TUNNEL_MAX_TRANSFER = 1500
CMD_REQUEST_TUNNEL = 0x00          # client -> server
CMD_REQUEST_TUNNEL_RESPONSE = 0x00  # server -> client
CMD_TRANSFER_DATA_C2S = 0x02
CMD_TRANSFER_DATA_S2C = 0x01

# the sleepy GSME behind the GPF (module docstring; SL comms-hub-function's tunnel-manager header values)
SLEEPY_DEVICE_TYPES = frozenset({DeviceType.GSME})     # [C: SL gbcs-device-log.h IsSleepyType]
TUNNEL_GET = 0x01                  # GSME -> CHF: give me a held message
TUNNEL_GET_RESPONSE = 0x02         # CHF -> GSME: 02 ‖ messages still held (u8) ‖ one message or nothing
TUNNEL_PUT = 0x03                  # GSME -> CHF: 03 ‖ a GBCS message or a mirror update


class SleepyStep(NamedTuple):
    name: str
    sender: str                    # "gsme" or "chf"
    body: str                      # what follows the header
    answer: int | None             # the header the CHF answers with (None: no answer)


#: GET / GET-RESPONSE / PUT as Silicon Labs' comms-hub-function serves a sleepy device [C]
SLEEPY_PROTOCOL = {
    TUNNEL_GET: SleepyStep("GET", "gsme", "nothing", TUNNEL_GET_RESPONSE),
    TUNNEL_GET_RESPONSE: SleepyStep("GET-RESPONSE", "chf", "remaining u8, then one held GBCS message or nothing", None),
    TUNNEL_PUT: SleepyStep("PUT", "gsme", "a GBCS message, or a ZCL Report Attributes mirror update [I]", None),
}
GBCS_FIRST_BYTES = frozenset({0xDD, 0xDF})   # General-Ciphering / General-Signing: a PUT carrying GBCS
SLEEPY_QUEUE_SIZE = 8              # messages the CHF holds for sleepy devices, all together [I]
SLEEPY_QUEUE_TIMEOUT_S = 24 * 60 * 60   # [C: SL DEFAULT_SLEEPY_MSG_TIMEOUT_SEC]; then dropped (0x809D event)
GSME_WAKE_S = 30 * 60              # [I] the rig GSME's wake period
GSME_NODE_TYPE = 4                 # EmberNodeType SLEEPY_END_DEVICE


class InterPanAllowed(NamedTuple):
    commands: frozenset[int]
    secured: bool                  # True: APS-secured with the CBKE link key; False: plaintext


#: what the CH accepts over inter-PAN (module docstring): every frame an APS unicast on the SE profile
#: with a cluster-specific ZCL request, client -> server; per cluster the commands and their security
INTERPAN_PROFILE = SE_PROFILE
INTERPAN_DELIVERY_MODE = 0         # APS unicast (1 indirect, 2 broadcast, 3 group)
INTERPAN_ZCL_FRAME_TYPE = 1        # cluster-specific (0 = profile-wide)
INTERPAN_DIRECTION = 0             # client -> server
INTERPAN_ALLOW_LIST = {
    KE_CLUSTER: InterPanAllowed(frozenset({0x00, 0x01, 0x02, 0x03}), secured=False),
    TUNNEL_CLUSTER: InterPanAllowed(frozenset({CMD_TRANSFER_DATA_C2S}), secured=True),
}
#: plaintext inter-PAN allow-list: (cluster, command ids) accepted without APS security
PLAINTEXT_INTERPAN = {c: a.commands for c, a in INTERPAN_ALLOW_LIST.items() if not a.secured}

# timeouts (clock seconds)
SCAN_DURATION = 0                  # 802.15.4 exponent per channel (31 ms each, 16 channels)
JOIN_TIMEOUT_S = 20.0
JOIN_ATTEMPTS = 3                  # a joiner's joinNetwork attempts (a lost beacon or key transport) [I]
SCAN_ATTEMPTS = 3                  # the HHT's active scans for the CH's beacon before ch_not_found [I]
KE_TIMEOUT_S = 60.0
NCP_RECOVERY_DELAY_S = 1.0         # the CH's/ESME's pause before reconnecting a lost NCP [I]
NCP_RECOVERY_ATTEMPTS = 5          # its reconnection attempts before it reports ch.ncp_lost_for_good [I]
NCP_RECOVERY_RETRY_S = 2.0         # between those attempts [I]
RESPONSE_TIMEOUT_S = 5.0           # a GBCS response through inter-PAN or the tunnel
SLEEPY_RESPONSE_TIMEOUT_S = GSME_WAKE_S + 2 * RESPONSE_TIMEOUT_S   # a sleepy device's response [I]
ESME_READ_ATTEMPTS = 3             # the PPMID's Read Attributes to a meter, RESPONSE_TIMEOUT_S apart [I]
INTERPAN_ANSWER_TIMEOUT_S = 2.0    # the HHT's patience for the CH's first inter-PAN answer (KE Initiate) [I]
PERMIT_JOIN_S = 254
HAN_CHANNEL = 15
