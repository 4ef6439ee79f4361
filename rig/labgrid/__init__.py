"""The rig in labgrid's terms (the ``labgrid`` extra; importing this package imports labgrid).

* :class:`EzspDriver` — an EZSP dongle bound to a ``SerialPort`` / ``NetworkSerialPort``; its
  ``url`` is what bellows opens (the driver never holds the port);
* :class:`RigStrategy` — a dongle's power states ``off`` / ``on`` through a ``PowerProtocol`` driver;
* :class:`LabgridRig` — a labgrid ``Environment``'s dongles by role, for :class:`rig.backend.LabgridBackend`.

Both classes are registered with labgrid's target factory when this package is imported: an
environment names ``imports: [rig.labgrid]`` so that labgrid's own tools (``labgrid-client``, its
pytest plugin) know them; the rig imports it before it asks labgrid for a target.
"""

from rig.labgrid.driver import EzspDriver, network_serial_url, role_of
from rig.labgrid.env import LabgridRig, RoleEntry, load_labgrid_env
from rig.labgrid.strategy import RigStrategy, Status

__all__ = ["EzspDriver", "LabgridRig", "RigStrategy", "RoleEntry", "Status", "load_labgrid_env",
           "network_serial_url", "role_of"]
