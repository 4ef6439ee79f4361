"""Stream every frame on the air to sniffer clients over TCP (what ``rig sniff`` connects to).

Wire format, after the 10-byte greeting ``RIGSNIFF1\\n``: one record per frame,
``<d B H`` (air time in seconds, channel, PSDU length) followed by the PSDU with its FCS.
Loopback only unless told otherwise, like the dongles.
"""

from __future__ import annotations

import asyncio
import struct

GREETING = b"RIGSNIFF1\n"
RECORD = struct.Struct("<dBH")


class TapServer:
    def __init__(self, air) -> None:
        self.air = air
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self.url: str | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await asyncio.start_server(self._accept, host, port)
        bound = self._server.sockets[0].getsockname()
        self.url = f"tcp://{bound[0]}:{bound[1]}"
        self.air.add_tap(self._tap)
        return self.url

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING)
        self._clients.add(writer)
        try:
            await reader.read()          # until the client goes away
        finally:
            self._clients.discard(writer)
            writer.close()

    def _tap(self, t: float, channel: int, psdu: bytes) -> None:
        record = RECORD.pack(t, channel, len(psdu)) + psdu
        for writer in list(self._clients):
            if writer.is_closing():
                self._clients.discard(writer)
            else:
                writer.write(record)

    async def stop(self) -> None:
        self.air.remove_tap(self._tap)
        for writer in list(self._clients):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
