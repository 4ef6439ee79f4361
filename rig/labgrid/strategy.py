"""``RigStrategy``: a dongle's power states through labgrid's ``PowerProtocol``.

States ``off`` (power off, the EZSP driver deactivated: no URL to open) and ``on`` (power on, the
EZSP driver active).  :meth:`RigStrategy.power_cycle` is off then on: a USB power loss (RAM lost, NV
kept).  The rig closes its bellows connection first and afterwards waits for the port and for the NCP
to answer (``rig.power``); the strategy only switches power.  Bound in an environment as::

    drivers:
      - EzspDriver: {name: ch}
      - USBPowerDriver: {name: ch-power, bindings: {hub: ch-hub}}
      - RigStrategy: {name: ch-strategy, bindings: {power: ch-power, ezsp: ch}}
"""

from __future__ import annotations

import enum
from typing import ClassVar

import attr
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy import Strategy, StrategyError, never_retry


class Status(enum.Enum):
    unknown = 0
    off = 1
    on = 2


@target_factory.reg_driver
@attr.s(eq=False)
class RigStrategy(Strategy):
    """Power states of one EZSP dongle."""

    bindings: ClassVar[dict] = {"power": "PowerProtocol", "ezsp": "EzspDriver"}

    status = attr.ib(default=Status.unknown)

    @never_retry
    @step(args=["status"])
    def transition(self, status, *, step):
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        if status == self.status:
            step.skip("nothing to do")
            return
        if status == Status.off:
            self.target.deactivate(self.ezsp)
            self.target.activate(self.power)
            self.power.off()
        elif status == Status.on:
            self.target.activate(self.power)
            self.power.on()
            self.target.activate(self.ezsp)
        self.status = status

    @never_retry
    @step(args=["status"])
    def force(self, status):
        """Take ``status`` as the dongle's state without switching (``--lg-initial-state``)."""
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not force state {status}")
        self.target.activate(self.power)
        if status == Status.on:
            self.target.activate(self.ezsp)
        else:
            self.target.deactivate(self.ezsp)
        self.status = status

    @step()
    def power_cycle(self):
        """Off, then on: the dongle loses power as when unplugged."""
        self.transition(Status.off)
        self.transition(Status.on)
