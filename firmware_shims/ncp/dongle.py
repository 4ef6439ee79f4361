"""One emulated dongle: NV + firmware (node, stack) + EZSP + ASH, reachable over TCP or a pty.

The host side opens it exactly as it opens a USB dongle, by a device path that bellows' serial layer
understands: ``tcp://127.0.0.1:PORT`` or a pty slave path (``/dev/pts/N``; a stable symlink is kept
in the state directory).  Only one host may be connected at a time (like a serial port).  A TCP client
that connects while another is still connected is held for ``HANDOVER_S``: a host that closes and
reopens at once (zigbee-herdsman restarting its controller) can be accepted before its old connection's
close has been read; if the old one goes within that time the new one takes the port with every byte it
sent, otherwise it is refused.  ``power_cycle()`` is a USB power loss: the connection drops, RAM is
lost, the firmware boots from its NV file.  Its power-on RSTACK goes to no host (none is connected
while a dongle powers up); the host's RST is then answered, as every RST is, with the software code.

TCP listens on loopback unless ``host`` names another address explicitly: an open port is a radio
anyone could drive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tty
from pathlib import Path

from rig.clock import Clock, RealClock

from .areas.cbke import CbkeTiming
from .ash import AshNcp, ResetCode
from .ezsp import DEFAULT_VERSION, STACK_VERSIONS, SUPPORTED_VERSIONS, EzspNcp
from .node import Node
from .nv import NvStore
from .radio import LoopbackRadio, Radio
from .stack import Stack

LOGGER = logging.getLogger(__name__)

#: seconds a second TCP client waits for the first one's close to be read before it is refused
HANDOVER_S = 1.0


def default_eui64(name: str) -> str:
    """A stable, locally administered EUI-64 per dongle name (so a state dir is not required)."""
    import hashlib

    digest = bytearray(hashlib.sha256(name.encode()).digest()[:8])
    digest[0] = (digest[0] | 0x02) & 0xFE      # locally administered, unicast
    return digest.hex().upper()


class EmulatedDongle:
    """An EmberZNet NCP dongle in software."""

    def __init__(self, name: str, *, eui64: str | None = None, state_dir: Path | str | None = None,
                 radio: Radio | None = None, clock: Clock | None = None,
                 ezsp_version: int = DEFAULT_VERSION, versions: tuple[int, ...] = SUPPORTED_VERSIONS,
                 stack_factory=Stack, cbke_library: bool = True, cbke_timing: CbkeTiming | None = None) -> None:
        """``cbke_library`` False builds the firmware with the CBKE stub library (every CBKE command
        answers NOT_AVAILABLE); ``cbke_timing`` how long its ECC operations take (default: a real NCP's)."""
        self.name = name
        self.clock = clock or RealClock()
        self.radio = radio or LoopbackRadio()
        self.state_dir = Path(state_dir) if state_dir else None
        nv_path = self.state_dir / f"{name}.nv.json" if self.state_dir else None
        self.nv = NvStore(nv_path, eui64 or default_eui64(name))
        self.ezsp = EzspNcp(self._send_ezsp, {}, firmware_version=ezsp_version, versions=versions)
        self.node = Node(self.nv, self.clock, self.ezsp.callback)
        self.node.cbke_library = cbke_library
        if cbke_timing is not None:
            self.node.cbke_timing = cbke_timing
        self.node.stack = stack_factory(self.node, self.radio)
        self.ezsp.handlers = self.node.handlers()
        self.node.reboot = lambda: self.ash.ncp_reset()     # resetNode: halReboot after the answer
        # the release VALUE_VERSION_INFO reports is the one of the version spoken (as `version` answers it)
        self.ezsp.on_version = lambda version: setattr(self.node, "stack_version", STACK_VERSIONS[version])
        self.ash = AshNcp(self._write, self.ezsp.frame_received, self._on_rst)
        self._transport: asyncio.Transport | None = None
        self._server: asyncio.base_events.Server | None = None
        self._waiting: list[TcpHost] = []     # TCP clients that connected while another host had the port
        self._pty: tuple[int, int] | None = None
        self.url: str | None = None
        self.connections = 0
        self.bytes_in = 0           # serial bytes from the host (for wire-time comparisons)
        self.bytes_out = 0

    # --- wiring ---------------------------------------------------------------------------------
    def _send_ezsp(self, frame: bytes) -> None:
        self.ash.send(frame)

    def _write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
        elif self._pty is not None:
            try:
                os.write(self._pty[0], data)
            except OSError as exc:
                LOGGER.debug("%s: pty write failed: %s", self.name, exc)

    def _on_rst(self) -> None:
        """The host reset us: reboot the firmware (RAM lost, NV kept)."""
        self.ezsp.reset()
        self.node.boot()
        self.node.stack_version = STACK_VERSIONS[self.ezsp.firmware_version]

    def feed(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self.ash.data_received(data)

    # --- TCP ------------------------------------------------------------------------------------
    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: TcpHost(self), host, port)
        bound = self._server.sockets[0].getsockname()
        self.url = f"tcp://{bound[0]}:{bound[1]}"
        return self.url

    def _drop_waiting(self) -> None:
        """The port goes away (power loss, stop): hosts waiting for it lose their connection too."""
        for waiting in list(self._waiting):
            waiting.drop()
            waiting.transport.abort()

    # --- pty ------------------------------------------------------------------------------------
    async def start_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._pty = (master, slave)       # we keep the slave open so a closing host is no EIO storm
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._pty_readable)
        # pty bytes move through a kernel work queue, unseen by a zero-timeout poll: a loop whose time
        # jumps over idle waits (rig.des) must give them a moment first
        getattr(loop, "hold_for_pty", lambda fd: None)(master)
        path = os.ttyname(slave)
        if self.state_dir:
            link = self.state_dir / f"{self.name}.pty"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(path)
        self.url = path
        return path

    def _pty_readable(self) -> None:
        try:
            data = os.read(self._pty[0], 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            LOGGER.debug("%s: pty read failed: %s", self.name, exc)
            return
        if data:
            self.feed(data)

    # --- power ----------------------------------------------------------------------------------
    async def power_cycle(self) -> None:
        """USB power off and on: the host connection drops, firmware reboots from NV."""
        self._drop_waiting()
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        self.ash.close()
        self.ash = AshNcp(self._write, self.ezsp.frame_received, self._on_rst)
        self.ezsp.reset()
        self.node.boot()
        if self._pty is not None:   # drain what the old host left in the pty
            try:
                while os.read(self._pty[0], 4096):
                    pass
            except OSError:
                pass
        await asyncio.sleep(0)

    def ncp_reset(self, code: int = ResetCode.WATCHDOG) -> None:
        """The NCP resets by itself while the host stays connected (watchdog, assert): RAM is lost, NV is
        kept, and an unsolicited RSTACK with ``code`` tells the host (bellows: "unexpected reset")."""
        self.ash.spontaneous_reset(code)

    def drop_link(self) -> None:
        """The host link drops (a USB-serial adapter unplugged, a ser2net/TCP connection cut) while the NCP
        keeps running: the host sees its connection lost; the next host to connect resets it with RST."""
        if self._transport is not None:
            self._transport.abort()         # connection_lost clears _transport and tells ASH the host is gone

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._drop_waiting()
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        if self._pty is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._pty[0])
            getattr(loop, "release_pty", lambda fd: None)(self._pty[0])
            os.close(self._pty[0])
            os.close(self._pty[1])
            self._pty = None
        self.ash.close()
        self.radio.close()


class TcpHost(asyncio.Protocol):
    """One TCP client of a dongle's port: ``host`` (it has the port), ``waiting`` (another host still has
    it) or ``gone`` (refused, or closed).

    A host's close is only ever about its own transport: asyncio can accept the next client while the
    previous transport is closing but its ``connection_lost`` has not run yet (the close waits for the
    write buffer), and that late ``connection_lost`` must not take the port from the new host."""

    def __init__(self, dongle: EmulatedDongle) -> None:
        self.dongle = dongle
        self.state = "gone"
        self.held = bytearray()
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        current = self.dongle._transport
        if current is None or current.is_closing():
            self._take_port()
            return
        # the old host may be gone with its close not yet read: hold this one a moment
        self.state = "waiting"
        self.dongle._waiting.append(self)
        self.timer = asyncio.get_running_loop().call_later(HANDOVER_S, self._refuse)

    def _take_port(self) -> None:
        self.state = "host"
        self.dongle._transport = self.transport
        self.dongle.connections += 1
        if self.held:
            held, self.held = bytes(self.held), bytearray()
            self.dongle.feed(held)

    def _refuse(self) -> None:
        LOGGER.warning("%s: refusing a second host connection", self.dongle.name)
        self.drop()
        self.transport.close()

    def drop(self) -> None:
        """Stop waiting for the port (refused, closed, or the port went away)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self in self.dongle._waiting:
            self.dongle._waiting.remove(self)
        self.state = "gone"

    def data_received(self, data: bytes) -> None:
        if self.state == "host":
            self.dongle.feed(data)
        elif self.state == "waiting":
            self.held += data

    def connection_lost(self, exc) -> None:
        was_host = self.state == "host"
        self.drop()
        dongle = self.dongle
        if was_host and dongle._transport is self.transport:
            dongle._transport = None
            dongle.ash.host_gone()
            if dongle._waiting:
                successor = dongle._waiting[0]
                successor.drop()
                successor._take_port()
