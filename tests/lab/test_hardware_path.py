"""End to end on the hardware path: emulated dongles exposed as ptys and over TCP are written into an
inventory file, and `hardware`-marked tests run with --rig=that.yaml open them through the real
serial/socket transport (rig.transport.open_ezsp → bellows → serialx), not the in-process shortcut."""

import textwrap

HARDWARE_TESTS = '''
    import pytest
    import zigpy.types as zt

    from rig.backend import InventoryBackend
    from rig.transport import open_ezsp

    pytestmark = pytest.mark.hardware


    async def read_eui64(ezsp):
        try:
            (eui,) = await ezsp.getEui64()
        finally:
            await ezsp.disconnect()
        return str(eui).replace(":", "").upper()


    @pytest.mark.parametrize("role", ["ch", "hht", "ppmid"])
    async def test_each_dongle_answers_with_its_inventory_eui64(rig_backend, role):
        assert isinstance(rig_backend, InventoryBackend)
        path = await rig_backend.dongle_path(role)
        ezsp = await open_ezsp(path, **rig_backend.serial_settings(role))     # the real transport
        assert await read_eui64(ezsp) == rig_backend.eui64s(role)[0]


    async def test_ch_power_cycle_through_ncp_reset_and_reopen(rig_backend):
        assert await rig_backend.power_cycle("ch") == "ncp-reset"
        assert await read_eui64(await rig_backend.open_ezsp("ch")) == rig_backend.eui64s("ch")[0]


    async def test_ppmid_takes_its_second_identity_after_nv3_write_and_reset(rig_backend):
        first, second = rig_backend.eui64s("ppmid")
        ezsp = await rig_backend.open_ezsp("ppmid")
        try:
            await ezsp.write_custom_eui64(zt.EUI64(bytes.fromhex(second)[::-1]))
        finally:
            await ezsp.disconnect()
        assert await read_eui64(await rig_backend.open_ezsp("ppmid")) == second
'''


def test_hardware_marked_tests_pass_over_pty_and_tcp_dongles_named_by_an_inventory(pytester, dongles, tmp_path):
    ch = dongles.start("ch", transport="pty")
    hht = dongles.start("hht", transport="tcp")
    ppmid = dongles.start("ppmid", transport="pty", eui64="00DB1234567890A1")
    ch_link = tmp_path / "ch.pty"                   # a stable symlink, as /dev/serial/by-id gives
    assert ch_link.is_symlink() and ch.url.startswith("/dev/pts/")
    pytester.makefile(".yaml", lab=textwrap.dedent(f"""\
        dongles:
          ch-dongle:
            port: {ch_link}
            role: ch
            eui64: "{ch.nv.state.effective_eui64()}"
          hht-dongle:
            port: {hht.url}
            role: hht
            eui64: "{hht.nv.state.effective_eui64()}"
          ppmid-dongle:
            port: {ppmid.url}
            role: ppmid
            eui64s: ["00DB1234567890A1", "00DB1234567890A2"]
        roles: [ch, hht, ppmid]
        """))
    pytester.makepyfile(test_bench=HARDWARE_TESTS)
    boots = ch.nv.state.boot_counter

    result = pytester.runpytest("--rig=lab.yaml", "-m", "hardware", "-rs")

    result.assert_outcomes(passed=5)
    assert hht.connections >= 1                       # TCP clients really connected
    assert ch.bytes_in > 0 and ppmid.bytes_in > 0      # and bytes crossed the ptys
    assert ch.nv.state.boot_counter > boots            # the NCP reset reached the CH dongle
    assert ppmid.nv.state.nv3_restored_eui64 == "00DB1234567890A2"
