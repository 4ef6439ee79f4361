"""The EZSP command handlers of the emulated NCP, one module per area of the EmberZNet API.

Each module holds one mixin class; ``firmware_shims.ncp.node.Node`` is their composition and the
dispatcher entry point (``Node.handlers()``).  Every handler is ``cmd_<ezspCommandName>(p) -> dict``
and works on the node's NV tokens (``self.nv``), RAM (``self.state``, an ``NcpState``) and radio-side
stack (``self.stack``):

* ``configuration`` — configuration values, values, policies, endpoints, counters, stubs;
* ``tokens`` — EUI-64, manufacturing tokens (custom EUI-64, install code), NV3 restored EUI-64;
* ``keys`` — key table, transient keys, initial/current security state, key export;
* ``network`` — form/join/leave, network parameters, permit joining, channel, scans, child,
  address, multicast and extended-timeout tables, green power stubs;
* ``messaging`` — APS unicast/broadcast/multicast/reply and raw MAC sends;
* ``cbke`` — the CBKE (suite 2, sect283k1) library and its write-once token;
* ``routing`` — binding table (NV), neighbours, routes, source routes, child data;
* ``utilities`` — extended values, library status, timers, random, AES/MMO, EZSP app tokens, resetNode;
* ``phy`` — radio interfaces, duty cycle, scheduler priorities, v18+ calibration values;
* ``security`` — key look-ups by EUI/context, network-key updates, TC requests, no 163k1 library;
* ``netmgmt`` — rejoin, PAN/channel management, stored beacons, polling, v13 address-table setters;
* ``zll`` — ZLL settings (no ZLL library) and empty Green Power tables;
* ``mfglib`` — the manufacturing library: the radio without the stack (sniffer, test packets).

Together they answer every command of each emulated version's table
(``tests/ncp/test_every_command_answered.py``); ``invalidCommand`` is only for unknown frame ids.
"""
