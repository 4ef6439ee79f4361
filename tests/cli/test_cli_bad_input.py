"""The ``rig`` commands' bad paths: a non-zero exit, exactly one ``error:`` line on stderr naming what was
wrong, and never a traceback (``rig sim up``, opening a dongle that stays silent or is busy, ``rig
install-code``); help texts shown literally.  ``rig scenario``'s are in tests/scenarios."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
import typer
from cli_checks import assert_one_line_error, invoke
from rich._emoji_codes import EMOJI

from rig import des
from rig.cli import app
from rig.transport import TransportError, open_ezsp

EMOJI_CHARS = {e for e in EMOJI.values() if not e.isascii()}


# --- rig sim up -------------------------------------------------------------------------------------

def test_sim_up_names_a_bad_transport():
    assert_one_line_error(invoke("sim", "up", "--transport", "udp"), "--transport", "'udp'", "tcp, pty")


def test_sim_up_names_a_state_dir_that_is_a_file(tmp_path):
    a_file = tmp_path / "nv"
    a_file.write_text("not a folder")
    assert_one_line_error(invoke("sim", "up", "--state-dir", a_file), "--state-dir", str(a_file), "not a folder")
    assert_one_line_error(invoke("sim", "up", "--state-dir", a_file / "sub"), "--state-dir", "cannot create")


def test_sim_up_names_a_state_dir_with_a_corrupt_nv_file(tmp_path):
    (tmp_path / "ch.nv.json").write_text("garbage")
    result = invoke("sim", "up", "--dongles", "ch", "--state-dir", tmp_path)
    assert_one_line_error(result, "dongle 'ch'", "ch.nv.json", "not JSON")


def test_sim_up_names_a_bad_host_and_a_pcap_it_cannot_write(tmp_path):
    assert_one_line_error(invoke("sim", "up", "--host", "localhost:1"), "--host", "not an IP address")
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert_one_line_error(invoke("sim", "up", "--state-dir", tmp_path / "nv", "--pcap", a_file / "run.pcap"),
                          "--pcap", "cannot create its folder")


# --- opening a dongle ---------------------------------------------------------------------------------

def test_a_tcp_port_that_accepts_and_stays_silent_is_named_as_such():
    async def main():
        held = []
        server = await asyncio.start_server(lambda reader, writer: held.append(writer), "127.0.0.1", 0)
        url = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            with pytest.raises(TransportError) as err:
                await open_ezsp(url, timeout=30)     # discrete-event time: the 30 s cost nothing
        finally:
            for writer in held:
                writer.close()
            server.close()
        return url, str(err.value)

    url, message = des.run(main())
    assert url in message and "the port accepted the connection but nothing answered in " in message, message


@pytest.fixture
def served_dongle(tmp_path):
    """An emulated dongle on TCP, served from its own loop in a thread (typer's CliRunner is synchronous)."""
    from firmware_shims.ncp.dongle import EmulatedDongle

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    dongle = EmulatedDongle("ch", state_dir=tmp_path)
    call(dongle.start_tcp())
    yield dongle
    call(dongle.stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_a_second_host_on_a_busy_emulated_dongle_is_told_it_is_busy(served_dongle):
    dongle = served_dongle
    host, port = dongle.url.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port))):          # the first host holds the dongle
        async def second():
            with pytest.raises(TransportError) as err:
                await open_ezsp(dongle.url, timeout=30)
            return str(err.value)

        message = des.run(second())
        result = invoke("probe", "--no-serial", dongle.url, columns=200)
    assert "closed the connection before answering" in message and "another host" in message
    line = assert_one_line_error(result, dongle.url, "another host", exit_code=1)
    assert "AttributeError" not in line


# --- rig install-code, help texts ---------------------------------------------------------------------

@pytest.mark.parametrize(("code", "words"), [
    ("83FED3407A939723A5C639B26916D505C3BG", ("'G' at character 36 is not a hex digit",)),
    ("83FE-D340-7A93-9723-A5C6-39B2-6916-D505-C3Bx", ("'x' at character 44",)),
    ("83FED3407A939723A5C639B26916D505C3B", ("odd number of hex digits (35)",)),
])
def test_install_code_names_non_hex_input(code, words):
    assert_one_line_error(invoke("install-code", code), repr(code), *words)


def _commands(command, path=()):
    yield list(path)
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_help_texts_show_eui64s_literally_and_no_emoji():
    helps = {" ".join(path): invoke(*path, "--help", columns=200) for path in _commands(typer.main.get_command(app))}
    assert len(helps) > 20
    for path, result in helps.items():
        assert result.exit_code == 0, path
        assert not {e for e in EMOJI_CHARS if e in result.output}, path
    assert "00:12:4B:00:01:AB:CD:EF" in helps["write-eui64"].output


def test_a_sniffer_url_that_accepts_and_stays_silent_is_named_as_such():
    from rig.sniff import SniffError, sniff

    async def main():
        held = []
        server = await asyncio.start_server(lambda reader, writer: held.append(writer), "127.0.0.1", 0)
        url = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            with pytest.raises(SniffError) as err:
                await sniff(url, sink=lambda *frame: None)      # discrete-event time: its 10 s cost nothing
        finally:
            for writer in held:
                writer.close()
            server.close()
        return url, str(err.value)

    url, message = des.run(main())
    assert message == (f"{url} accepted the connection but sent no sniffer greeting in 10 s "
                       "(is it the 'sniffer' URL rig sim up printed?)")


def test_sim_up_names_a_bad_ch_dut_request(tmp_path):
    assert_one_line_error(invoke("sim", "up", "--ch-dut", "open", "--state-dir", tmp_path), "--ch-dut", "'open'",
                          "gbcs or secmp0037")
    assert_one_line_error(invoke("sim", "up", "--ch-pki", tmp_path / "pki", "--state-dir", tmp_path), "--ch-pki",
                          "--ch-dut POLICY")
    assert_one_line_error(invoke("sim", "up", "--ch-dut", "gbcs", "--dongles", "esme,ch-dut", "--state-dir", tmp_path),
                          "'ch-dut'", "name yours otherwise")
    a_file = tmp_path / "pki-file"
    a_file.write_text("")
    assert_one_line_error(invoke("sim", "up", "--ch-dut", "gbcs", "--ch-pki", a_file, "--state-dir", tmp_path),
                          "--ch-pki", "not a folder")


def test_power_cycling_a_ch_dut_that_is_not_there_is_one_line():
    assert_one_line_error(invoke("sim", "power-cycle", "tcp://127.0.0.1:1"), "cannot reach the CH's control line",
                          "tcp://127.0.0.1:1")
    assert_one_line_error(invoke("sim", "power-cycle", "http://h:1"), "tcp://127.0.0.1:PORT")
