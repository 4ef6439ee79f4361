"""`rig probe` and `rig write-eui64` through typer's CliRunner against emulated dongles on tcp://."""

import json

from typer.testing import CliRunner

from rig.cli import app
from rig.probe import list_serial_ports

NEW = "00:DB:12:34:56:78:90:B2"
OTHER = "00:DB:12:34:56:AB:90:B3"     # ":AB:" must print as text, not as an emoji


def run(*args, input=None):
    return CliRunner().invoke(app, list(args), input=input)


def test_probe_reads_versions_eui64_tokens_and_certificate_of_a_tcp_dongle(dongles):
    dongle = dongles.start("probe-me")
    result = run("probe", "--no-serial", "--json", dongle.url)
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["ok"] and report["path"] == dongle.url
    assert report["ezsp_version"] == 14
    assert report["stack_version"].startswith("8.0.2.0")
    assert report["eui64"].replace(":", "") == dongle.nv.state.effective_eui64()
    assert report["custom_eui64_state"] == "unset" and report["custom_eui64"] is None
    assert report["nv3_rewrite"] is True
    assert report["cbke_certificate"] == "none"         # the emulated NCP has no certificate installed


def test_probe_table_shows_each_column_and_an_unreachable_url(dongles):
    dongle = dongles.start("table", ezsp_version=13)
    result = CliRunner().invoke(app, ["probe", "--no-serial", "--timeout", "3", dongle.url, "tcp://127.0.0.1:9"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output       # one reachable dongle is enough
    assert "EZSP dongles" in result.output and "NV3 rewrite" in result.output and "CBKE cert" in result.output
    row = next(line for line in result.output.splitlines() if dongle.url in line)
    assert " 13 " in row and "7.4.4.0" in row and "unset" in row
    dead = next(line for line in result.output.splitlines() if "tcp://127.0.0.1:9 " in line)
    assert "cannot open EZSP dongle" in dead


def test_probe_with_nothing_to_probe_says_so():
    result = run("probe", "--no-serial")
    assert result.exit_code == 1 and "no USB serial ports found" in result.output


def test_serial_listing_comes_from_pyserial_and_lists_only_usb_ports():
    assert all(port.usb for port in list_serial_ports())


def fake_usb_listing(monkeypatch, tmp_path, device):
    """pyserial's comports() as on a host with one CP2102N dongle (plus its by-id link) and a UART."""
    from serial.tools import list_ports, list_ports_common

    by_id = tmp_path / "by-id"
    by_id.mkdir()
    link = by_id / "usb-Silicon_Labs_CP2102N_USB_to_UART_Bridge_Controller_b2c3d4e5-if00-port0"
    link.symlink_to(device)
    usb = list_ports_common.ListPortInfo(device, skip_link_detection=True)
    usb.vid, usb.pid, usb.serial_number, usb.manufacturer = 0x10C4, 0xEA60, "b2c3d4e5", "Silicon Labs"
    entries = [usb, list_ports_common.ListPortInfo(str(link), skip_link_detection=True),
               list_ports_common.ListPortInfo("/dev/ttyS0", skip_link_detection=True)]
    monkeypatch.setattr(list_ports, "comports", lambda include_links=False: entries if include_links else entries[::2])
    monkeypatch.setattr("rig.probe.BY_ID_DIR", f"{by_id}/")
    return str(link)


def test_serial_ports_get_their_by_id_link_and_usb_ids(monkeypatch, tmp_path):
    device = tmp_path / "ttyUSB0"
    device.touch()
    link = fake_usb_listing(monkeypatch, tmp_path, str(device))
    (port,) = list_serial_ports()
    assert port.device == str(device) and port.by_id == link and port.path == link
    assert port.vid_pid == "10c4:ea60" and port.serial_number == "b2c3d4e5"
    assert [p.device for p in list_serial_ports(usb_only=False)] == ["/dev/ttyS0", str(device)]


def test_probe_finds_a_usb_listed_dongle_by_its_by_id_path(dongles, monkeypatch, tmp_path):
    dongle = dongles.start("usb-ch", transport="pty")
    link = fake_usb_listing(monkeypatch, tmp_path, dongle.url)
    result = run("probe", "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["path"] == link and report["ok"]
    assert report["usb"]["vid"] == 0x10C4 and report["usb"]["serial_number"] == "b2c3d4e5"
    assert report["eui64"].replace(":", "") == dongle.nv.state.effective_eui64()


def test_probe_refuses_a_bad_url():
    result = run("probe", "--no-serial", "http://x:1")
    assert result.exit_code == 2 and "URL scheme 'http'" in result.output


def test_write_eui64_uses_nv3_after_confirmation_and_reads_it_back(dongles):
    dongle = dongles.start("nv3")
    declined = run("write-eui64", dongle.url, NEW, input="n\n")
    assert declined.exit_code == 1 and "nothing written" in declined.output
    assert dongle.nv.state.nv3_restored_eui64 == "FFFFFFFFFFFFFFFF"
    result = run("write-eui64", dongle.url, NEW, input="y\n")
    assert result.exit_code == 0, result.output
    assert "rewritable NV3" in result.output
    assert "after reset the dongle uses 00:DB:12:34:56:78:90:B2" in result.output
    assert dongle.nv.state.nv3_restored_eui64 == "00DB1234567890B2"
    assert dongle.nv.state.mfg_custom_eui64 == "FFFFFFFFFFFFFFFF"      # the write-once token untouched
    again = run("write-eui64", dongle.url, OTHER, "--yes")              # NV3 is rewritable
    assert again.exit_code == 0 and "uses 00:DB:12:34:56:AB:90:B3" in again.output
    same = run("write-eui64", dongle.url, OTHER, "--yes")
    assert same.exit_code == 0 and "already uses" in same.output


def test_write_eui64_burns_the_mfg_token_only_with_burn_when_there_is_no_nv3(dongles):
    dongle = dongles.start("old-firmware")
    # firmware without NV3 tokens: getTokenData is not implemented (answered with invalidCommand)
    del dongle.ezsp.handlers["getTokenData"]
    refused = run("write-eui64", dongle.url, NEW, "--yes")
    assert refused.exit_code == 1
    assert "refused" in refused.output and "--burn" in refused.output and "NEVER be undone" in refused.output
    assert dongle.nv.state.mfg_custom_eui64 == "FFFFFFFFFFFFFFFF"
    burnt = run("write-eui64", dongle.url, NEW, "--burn", input="y\n")
    assert burnt.exit_code == 0, burnt.output
    assert "can never be undone" in burnt.output
    assert "after reset the dongle uses 00:DB:12:34:56:78:90:B2" in burnt.output
    assert dongle.nv.state.mfg_custom_eui64 == "00DB1234567890B2"
    second = run("write-eui64", dongle.url, OTHER, "--burn", "--yes")
    assert second.exit_code == 1 and "already burnt to 00:DB:12:34:56:78:90:B2" in second.output


def test_write_eui64_rejects_a_malformed_address_before_opening_anything():
    result = run("write-eui64", "tcp://127.0.0.1:9", "00:11:22")
    assert result.exit_code == 2 and "not an EUI-64" in result.output


def test_write_eui64_names_the_port_it_cannot_open():
    result = run("write-eui64", "tcp://127.0.0.1:9", NEW, "--yes", "--timeout", "1")
    assert result.exit_code == 2 and "NCP at tcp://127.0.0.1:9 did not answer within 1 s" in result.output
