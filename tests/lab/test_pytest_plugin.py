"""The rig pytest plugin, run through pytester: option parsing, markers, skip reasons, fixtures,
artifacts folders, and pytest-xdist."""

import pytest

INVENTORY = """\
dongles:
  ch:
    port: tcp://127.0.0.1:1
    role: ch
    eui64: "00124B0001A00001"
"""


def test_default_is_sim_hardware_tests_skip_with_the_reason_and_fixtures_are_emulated(pytester):
    pytester.makepyfile(test_x="""
        import pytest
        from rig.backend import SimBackend
        from rig.clock import RealClock

        @pytest.mark.hardware
        def test_needs_radios():
            raise AssertionError("must not run")

        @pytest.mark.slow
        def test_slow_marker_is_registered():
            pass

        async def test_sim_backend_and_virtual_clock(rig_backend, clock, rig_target):
            assert rig_target.kind == "sim" and not rig_target.hardware
            assert isinstance(rig_backend, SimBackend) and isinstance(clock, RealClock)
            assert rig_backend.clock is clock
            import asyncio

            from rig.des import DesEventLoop

            assert isinstance(asyncio.get_running_loop(), DesEventLoop)          # sim: discrete-event time
            ezsp = await rig_backend.open_ezsp("ch")
            (eui,) = await ezsp.getEui64()
            await ezsp.disconnect()
            assert str(eui).replace(":", "").upper() == rig_backend.eui64s("ch")[0]
    """)
    result = pytester.runpytest("--strict-markers", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "rig: sim (emulated dongles in-process, discrete-event time)",
        ("SKIPPED [[]1[]] test_x.py:*: hardware test: needs real dongles; run with --rig=PATH.yaml "
        "(a hardware inventory) or --rig=labgrid:ENV.yaml (now --rig=sim)"),
    ])


def test_inventory_option_runs_hardware_tests_and_skips_those_needing_a_missing_role(pytester):
    pytester.makefile(".yaml", lab=INVENTORY)
    pytester.makepyfile(test_x="""
        import pytest
        from rig.backend import InventoryBackend
        from rig.clock import RealClock

        @pytest.mark.hardware("ch")
        async def test_has_ch(rig_backend, clock):
            import asyncio

            from rig.des import DesEventLoop

            assert isinstance(rig_backend, InventoryBackend) and isinstance(clock, RealClock)
            assert not isinstance(asyncio.get_running_loop(), DesEventLoop)     # hardware: real pace
            assert await rig_backend.dongle_path("ch") == "tcp://127.0.0.1:1"
            assert rig_backend.eui64s("ch") == ("00124B0001A00001",)

        @pytest.mark.hardware("ch", "gpf")
        def test_needs_gpf():
            raise AssertionError("must not run")
    """)
    result = pytester.runpytest("--rig=lab.yaml", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["rig: inventory lab.yaml (ch=tcp://127.0.0.1:1)",
                                 "*hardware test needs role(s) gpf, which lab.yaml does not provide"])


def test_sim_only_tests_run_on_sim_and_skip_with_the_reason_on_an_inventory(pytester):
    pytester.makefile(".yaml", lab=INVENTORY)
    pytester.makepyfile(test_x="""
        import pytest

        @pytest.mark.sim_only
        def test_needs_the_emulator(rig_target):
            assert rig_target.kind == "sim"
    """)
    # labgrid's own pytest plugin (if installed) may be started once per process only: kept out of the inner run
    pytester.runpytest("-p", "no:labgrid", "--strict-markers").assert_outcomes(passed=1)
    result = pytester.runpytest("-p", "no:labgrid", "--strict-markers", "--rig=lab.yaml", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([("*sim_only test: needs the emulator's insides (virtual air faults, emulated NCP "
                                  "resets), which inventory lab.yaml does not have; run it with --rig=sim")])


@pytest.mark.parametrize(("option", "message"), [
    ("--rig=lab.toml", "--rig=lab.toml: expected 'sim', an inventory PATH.yaml or labgrid:ENV.yaml"),
    ("--rig=nowhere.yaml", "--rig=nowhere.yaml: nowhere.yaml does not exist"),
    ("--rig=bad.yaml", "--rig=bad.yaml: bad.yaml:4: dongles.ch.role: 'coordinator' is not one of *"),
    ("--rig=labgrid:bad.yaml", "--rig=labgrid:bad.yaml: bad.yaml:1: targets: expected a mapping, got nothing"),
])
def test_bad_rig_option_stops_the_run_with_a_message_naming_the_problem(pytester, option, message):
    pytester.makefile(".yaml", bad=INVENTORY.replace("role: ch", "role: coordinator"))
    pytester.makepyfile(test_x="def test_a(): pass\n")
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


ARTIFACT_TESTS = """
    import pytest

    def write(artifacts_dir, name):
        (artifacts_dir / "transcript.txt").write_text(name)
        import logging
        logging.getLogger("rig.test").debug("hello from %s", name)

    def test_passes(artifacts_dir):
        write(artifacts_dir, "passes")

    def test_fails(artifacts_dir):
        write(artifacts_dir, "fails")
        assert False, "on purpose"

    @pytest.mark.parametrize("n", [1])
    def test_param(artifacts_dir, n):
        assert artifacts_dir.name == "test_art.py__test_param[1]"
"""


def test_artifacts_folder_is_named_after_the_test_kept_on_failure_removed_on_success(pytester):
    pytester.makepyfile(test_art=ARTIFACT_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    root = pytester.path / "artifacts"
    assert sorted(p.name for p in root.iterdir()) == ["test_art.py__test_fails"]
    kept = root / "test_art.py__test_fails"
    assert (kept / "transcript.txt").read_text() == "fails"
    assert "DEBUG rig.test: hello from fails" in (kept / "rig.log").read_text()


def test_keep_artifacts_option_and_custom_folder(pytester):
    pytester.makepyfile(test_art=ARTIFACT_TESTS)
    result = pytester.runpytest("--rig-keep-artifacts", "--rig-artifacts=out")
    result.assert_outcomes(passed=2, failed=1)
    assert sorted(p.name for p in (pytester.path / "out").iterdir()) == [
        "test_art.py__test_fails", "test_art.py__test_param[1]", "test_art.py__test_passes"]


def test_sim_backend_writes_the_air_capture_into_the_artifacts_of_a_failed_test(pytester):
    pytester.makepyfile(test_air="""
        async def test_fails_after_using_a_dongle(rig_backend):
            await rig_backend.dongle_path("ch")
            assert False
    """)
    pytester.runpytest().assert_outcomes(failed=1)
    kept = pytester.path / "artifacts" / "test_air.py__test_fails_after_using_a_dongle"
    assert (kept / "air.pcap").stat().st_size >= 24          # pcap global header at least
    assert (kept / "rig.log").exists()


def test_plugin_works_under_xdist_on_sim_and_refuses_to_share_a_bench_between_workers(pytester):
    pytester.makefile(".yaml", lab=INVENTORY)
    pytester.makepyfile(test_x="""
        import pytest

        @pytest.mark.hardware
        def test_hw(rig_target):
            assert rig_target.kind == "inventory"

        @pytest.mark.parametrize("n", range(4))
        async def test_many(artifacts_dir, clock, rig_backend, n):
            assert artifacts_dir.is_dir()
            assert (await rig_backend.dongle_path("ch")).startswith("tcp://127.0.0.1:")
    """)
    sim = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "-rs")
    sim.assert_outcomes(passed=4, skipped=1)
    sim.stdout.fnmatch_lines(["*2 workers*", "*hardware test: needs real dongles*"])
    shared = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--rig=lab.yaml")
    assert shared.ret == pytest.ExitCode.USAGE_ERROR
    shared.stderr.fnmatch_lines(["*--rig=lab.yaml with pytest-xdist -n 2: one bench's dongles cannot be shared*"])
    serial = pytester.runpytest("-p", "xdist", "-n", "0", "--rig=lab.yaml", "-k", "test_hw")
    serial.assert_outcomes(passed=1, deselected=4)
