"""The emulated dongle's TCP port has one host at a time, like a serial port, and a host that closes
and reopens at once is not refused because its old connection's close has not been read yet."""

import asyncio

from firmware_shims.ncp import ash
from firmware_shims.ncp import dongle as dongle_module
from firmware_shims.ncp.ash import Rst, RstAck, decode, stuff
from firmware_shims.ncp.dongle import EmulatedDongle, TcpHost

RST = bytes([ash.CANCEL]) + stuff(Rst().encode())


async def _connect(url):
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def _rstack(reader, timeout=5.0):
    """Read up to the first FLAG and decode the frame (what a host waits for after RST)."""
    raw = await asyncio.wait_for(reader.readuntil(bytes([ash.FLAG])), timeout)
    frames = [decode(f) for f in ash.FrameReader().feed(raw)]
    return frames[-1]


async def _closed_without_answer(reader, timeout=5.0) -> bool:
    """True when the dongle closed this client's connection (EOF or reset) having written nothing."""
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except ConnectionResetError:
        return True


async def _until(condition, timeout=5.0):
    """Let the loop run until ``condition()`` holds (the server has accepted a connection)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_a_client_that_connects_before_the_old_hosts_close_is_read_gets_the_port(make_dongle):
    dongle = await make_dongle("coordinator")
    old_reader, old_writer = await _connect(dongle.url)
    old_writer.write(RST)
    assert await _rstack(old_reader) == RstAck(ash.ResetCode.SOFTWARE)
    # the new host connects and sends RST while the old connection is still the dongle's host
    new_reader, new_writer = await _connect(dongle.url)
    new_writer.write(RST)
    await _until(lambda: len(dongle._waiting) == 1)
    assert dongle.connections == 1             # held, not yet the host, not refused
    old_writer.close()                          # now the old close is read
    assert await _rstack(new_reader) == RstAck(ash.ResetCode.SOFTWARE)   # the held RST was answered
    assert dongle.connections == 2
    new_writer.close()


async def test_a_second_client_while_the_first_stays_is_refused(make_dongle, monkeypatch):
    monkeypatch.setattr(dongle_module, "HANDOVER_S", 0.1)
    dongle = await make_dongle("coordinator")
    first_reader, first_writer = await _connect(dongle.url)
    second_reader, second_writer = await _connect(dongle.url)
    second_writer.write(RST)
    assert await _closed_without_answer(second_reader)
    first_writer.write(RST)
    assert await _rstack(first_reader) == RstAck(ash.ResetCode.SOFTWARE)  # the first host keeps the port
    assert dongle.connections == 1
    first_writer.close()
    second_writer.close()


async def test_a_power_cycle_drops_a_waiting_client_too(make_dongle):
    dongle = await make_dongle("coordinator")
    _, first_writer = await _connect(dongle.url)
    second_reader, second_writer = await _connect(dongle.url)
    await _until(lambda: len(dongle._waiting) == 1)
    await dongle.power_cycle()
    assert await _closed_without_answer(second_reader) and dongle._waiting == []
    first_writer.close()
    second_writer.close()


class FakeTransport:
    """What the dongle's port writes to one client, and whether that client's close has begun."""

    def __init__(self):
        self.out = bytearray()
        self.closing = False

    def write(self, data):
        self.out += data

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True

    abort = close


def _frames(transport):
    return [decode(f) for f in ash.FrameReader().feed(bytes(transport.out))]


async def test_the_old_hosts_late_close_does_not_take_the_port_from_the_new_host(tmp_path):
    """asyncio can accept the next client while the previous transport is closing (its close waits for
    the write buffer) and run the old ``connection_lost`` afterwards.  Before the fix that late call
    detached the new host: every RSTACK went nowhere and herdsman gave up after five RSTs (CI, stop 20)."""
    dongle = EmulatedDongle("coordinator", state_dir=tmp_path)
    old, old_transport = TcpHost(dongle), FakeTransport()
    old.connection_made(old_transport)
    old.data_received(RST)
    assert _frames(old_transport) == [RstAck(ash.ResetCode.SOFTWARE)]
    old_transport.close()                          # the old host's close has begun
    new, new_transport = TcpHost(dongle), FakeTransport()
    new.connection_made(new_transport)              # accepted before the old connection_lost ran
    old.connection_lost(None)                       # ... which runs now
    new.data_received(RST)
    assert _frames(new_transport) == [RstAck(ash.ResetCode.SOFTWARE)]
    assert dongle._transport is new_transport and dongle.connections == 2
