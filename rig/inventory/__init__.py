"""Hardware inventory: which dongle plays which role, how to reach it, how to power-cycle it.

A lab describes its radios in one YAML file (``examples/lab.yaml``)::

    dongles:
      ch-dongle:
        port: /dev/serial/by-id/usb-Silicon_Labs_CP2102N_..._0001-if00-port0
        baudrate: 115200            # default
        flow_control: hardware      # none | software | hardware (default none)
        role: ch                    # ch | esme | ppmid | hht | gpf | sniffer | hht2 | attacker
        eui64: "00124B0001ABCDEF"   # optional (quoted: all-digit EUI-64s would read as numbers)
        power:
          uhubctl: {hub: "1-1.4", port: 2}     # or  labgrid: {resource: ch-power}
      ppmid-dongle:
        port: socket://bench-pi.lab:3003
        role: ppmid
        eui64s: ["00124B0001AB0001", "00124B0001AB0002"]   # a ppmid has two: identity A (HHT), B (PPMID)
    roles: [ch, hht, ppmid]         # optional: roles this bench must provide
    sniffer: {dongle: sniff-dongle, channel: 15}       # optional
    external_ch:                    # optional: the CH is a device under test (then no dongle plays ch)
      gpf: "0052494700000002"       # its GPF Entity ID = the HAN's Extended PAN ID (found by a scan)
      policy: secmp0037             # the inter-PAN policy it claims: gbcs | secmp0037
      pki: ch-pki                   # the test PKI it trusts: ch-pki/ca (CBKE CA), ch-pki/keys (GBCS keys)
      wan: tcp://127.0.0.1:4000     # optional: the DCC's route to its device log
      power: {command: "relay-cli cycle 3"}   # optional: uhubctl / labgrid / command
    labgrid: {env: labgrid-env.yaml, target: zigbee-bench}   # needed only for labgrid power

Every mistake raises one :class:`InventoryError` whose message is ``FILE:LINE: FIELD: problem``
(the line is the YAML line of the offending key or value).  A labgrid environment
(``rig.labgrid.load_labgrid_env``) is turned into the same :class:`Inventory`, so everything above this package
sees one shape whichever way the lab is described; labgrid itself reads the environment (``rig.labgrid``,
the ``labgrid`` extra), this package never imports it.

Modules: ``model`` (the dataclasses), ``limits`` (allowed values), ``loader`` (YAML with line
numbers), ``checks`` (value checks), ``parse`` (the inventory file), ``errors`` (:class:`InventoryError`).  Import from ``rig.inventory`` itself.
"""

from rig.inventory.checks import check_port, normalise_eui64
from rig.inventory.errors import InventoryError, require_labgrid
from rig.inventory.limits import DEFAULT_BAUDRATE, FLOW_CONTROLS, ROLES, URL_SCHEMES
from rig.inventory.loader import Located, LocatedList, load_yaml
from rig.inventory.model import (
    CommandPower,
    Dongle,
    ExternalCh,
    Inventory,
    LabgridPower,
    LabgridRef,
    Power,
    SerialSettings,
    Sniffer,
    UhubctlPower,
)
from rig.inventory.parse import load_inventory, parse_inventory

__all__ = [
    "DEFAULT_BAUDRATE", "FLOW_CONTROLS", "ROLES", "URL_SCHEMES",
    "CommandPower", "Dongle", "ExternalCh", "Inventory", "InventoryError", "LabgridPower", "LabgridRef", "Located", "LocatedList", "Power",
    "SerialSettings", "Sniffer", "UhubctlPower",
    "check_port", "load_inventory", "load_yaml", "normalise_eui64", "parse_inventory", "require_labgrid",
]
