"""``rig sim up --ch-dut POLICY``: a complete Communications Hub on the air as a black box.

The rig's CH program on an emulated dongle of the served air, reached only as a real CH would be: over
the air (its HAN, its inter-PAN door), through its control line (:mod:`rig.roles.ch.wan`: the DCC's WAN
route into its device log, its power switch) — never through its insides.  An inventory whose
``external_ch:`` names it lets the rig play HHT, PPMID, meters and attacker against it exactly as
against a real CH under test; CI proves the external-CH path that way.

Its PKI (``--ch-pki DIR``) is what a lab receives with a test CH: ``DIR/ca`` the CBKE test CA (its dongle's
certificate is issued by it, and ``rig provision`` issues the rig's dongles' from it), ``DIR/keys`` the GBCS
key store it trusts (the DCC's keys, its CHF and GPF — GPF = its dongle's EUI-64).  Both are made on first
start and reused after.  Every step it takes is appended to ``DIR/../ch-dut-events.jsonl`` for the
engineer (the rig's verdicts never read it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

from rig.cbke.ca import TestCa
from rig.clock import Clock
from rig.events import EventLog
from rig.gbcs import KeyStore, Role, create_test_store
from rig.roles.ch.wan import GREETING
from rig.sim import SimLab, flash_factory

LOGGER = logging.getLogger(__name__)
DUT_NAME = "ch-dut"


def ensure_pki(pki: Path, gpf: str) -> KeyStore:
    """``pki/ca`` and ``pki/keys`` (GPF = ``gpf``), made when absent; an existing store must name ``gpf``."""
    if not (pki / "ca" / "ca.json").is_file():
        TestCa.create().save(pki / "ca")
    keys = pki / "keys"
    if not (keys / "roles.json").is_file():
        return create_test_store(keys, ids={Role.GPF: gpf})
    store = KeyStore(keys)
    if store.one(Role.GPF) != gpf.upper():
        raise ValueError(f"{keys} names GPF {store.one(Role.GPF)}, but the CH's dongle is {gpf}: use a fresh "
                         f"--ch-pki folder or the same --state-dir as before")
    return store


class ChDut:
    """The CH program on ``lab``'s dongle ``DUT_NAME``, with its control line."""

    def __init__(self, lab: SimLab, *, policy: str, pki: Path, clock: Clock, state_dir: Path) -> None:
        self.lab, self.policy, self.pki, self.clock = lab, policy, Path(pki), clock
        self.state_dir = Path(state_dir)
        self.events = EventLog(clock)
        self.ch = None
        self._server: asyncio.base_events.Server | None = None
        self._lock = asyncio.Lock()
        self._log = None

    async def start(self, host: str = "127.0.0.1") -> str:
        """Power the CH on and serve its control line; returns the line's URL."""
        from rig.power import open_when_ready
        from rig.roles.ch.shim import ChShim

        dongle = self.lab.dongles.get(DUT_NAME) or self.lab.add(DUT_NAME)
        eui = dongle.nv.state.effective_eui64()
        keys = ensure_pki(self.pki, eui)
        flash_factory(dongle, TestCa.load(self.pki / "ca"))
        url = await dongle.start_tcp("127.0.0.1")         # the CH host opens its NCP like any host does
        self._log = (self.pki.parent / "ch-dut-events.jsonl").open("a")
        self.events.listeners.append(self._write_event)

        async def connect():
            return await open_when_ready(url)

        async def disconnect(ezsp):
            from rig.transport import close_ezsp

            with contextlib.suppress(Exception):
                await close_ezsp(ezsp)
        self.ch = ChShim(connect, clock=self.clock, events=self.events, policy=self.policy, keys=keys,
                         state_dir=self.state_dir / DUT_NAME, disconnect=disconnect)
        await self.ch.power_on()
        self._server = await asyncio.start_server(self._client, host, 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"tcp://{host}:{port}"

    def _write_event(self, event) -> None:
        with contextlib.suppress(Exception):
            self._log.write(json.dumps(event.to_json(), default=str) + "\n")
            self._log.flush()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(GREETING)
            await writer.drain()
            while line := await reader.readline():
                writer.write((await self._answer(line.decode(errors="replace").strip())).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _answer(self, line: str) -> str:
        word, _, rest = line.partition(" ")
        async with self._lock:                    # one request at a time, as one CH handles its WAN
            if word == "wan":
                try:
                    command = bytes.fromhex(rest.strip())
                except ValueError:
                    return "error wan: the GBCS command is not hex"
                refusal = await self.ch.add_from_wan(command)
                return "ok" if refusal is None else f"refused {refusal.reason}"
            if word == "power-cycle":
                await self.lab.dongles[DUT_NAME].power_cycle()      # the dongle loses power with the CH
                await self.ch.power_off()
                await self.ch.power_on()
                return "ok"
        return f"error unknown request {word!r} (wan HEX | power-cycle)"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.ch is not None:
            with contextlib.suppress(Exception):
                await self.ch.power_off()
        if self._log is not None:
            self._log.close()
