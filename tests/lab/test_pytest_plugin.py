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


def test_default_is_sim_hardware_and_sim_only_tests_run_there_and_fixtures_are_emulated(pytester):
    pytester.makepyfile(test_x="""
        import pytest
        from rig.backend import SimBackend
        from rig.clock import RealClock

        @pytest.mark.hardware
        async def test_bench_runnable_runs_on_sim_too(rig_backend):
            assert isinstance(rig_backend, SimBackend)

        @pytest.mark.sim_only("air faults")
        def test_sim_only_runs_on_sim():
            pass

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
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["rig: sim (emulated dongles in-process, discrete-event time)"])


def test_inventory_option_runs_hardware_tests_and_skips_sim_only_unmarked_dongle_tests_and_missing_roles(
        pytester, dongles):
    ch = dongles.start("ch", eui64="00124B0001A00001")
    pytester.makefile(".yaml", lab=INVENTORY.replace("tcp://127.0.0.1:1", ch.url))
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
            assert (await rig_backend.dongle_path("ch")).startswith("tcp://127.0.0.1:")
            assert rig_backend.eui64s("ch") == ("00124B0001A00001",)

        @pytest.mark.hardware("ch", "gpf")
        def test_needs_gpf():
            raise AssertionError("must not run")

        @pytest.mark.sim_only("NCP internals")
        def test_sim_only():
            raise AssertionError("must not run")

        def test_uses_the_air(air):
            raise AssertionError("must not run")

        async def test_unmarked_dongle_test(premises):
            raise AssertionError("must not run")

        def test_unmarked_plain_test_runs_on_any_rig():
            pass
    """)
    result = pytester.runpytest("--rig=lab.yaml", "-rs", "-p", "no:randomly")
    result.assert_outcomes(passed=2, skipped=4)
    result.stdout.fnmatch_lines([f"rig: inventory lab.yaml (ch={ch.url})"])
    result.stdout.fnmatch_lines([
        "*hardware test needs role(s) gpf, which lab.yaml does not provide",
        "*sim_only: needs the emulator's insides (NCP internals); not run on --rig=lab.yaml",
        "*sim_only: uses the virtual air (fixture 'air'); not run on --rig=lab.yaml",
        ("*emulation only: uses the rig's dongles but is not marked hardware (bench-runnable); "
         "not run on --rig=lab.yaml"),
    ], consecutive=False)


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
    result.stdout.fnmatch_lines(["*sim_only: needs the emulator's insides; not run on --rig=lab.yaml*"])


def test_an_emulated_firmware_version_with_an_inventory_is_refused(pytester):
    pytester.makefile(".yaml", lab=INVENTORY)
    pytester.makepyfile(test_x="def test_a(): pass\n")
    result = pytester.runpytest("--rig=lab.yaml", "--rig-ezsp-version=13")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --rig-ezsp-version=13 chooses emulated firmware; with --rig=lab.yaml*"])


@pytest.mark.parametrize(("option", "message"), [
    ("--rig=lab.toml", "--rig=lab.toml: expected 'sim', an inventory PATH.yaml or labgrid:ENV.yaml"),
    ("--rig=nowhere.yaml", "--rig=nowhere.yaml: nowhere.yaml does not exist"),
    ("--rig=bad.yaml", "--rig=bad.yaml: bad.yaml:4: dongles.ch.role: 'coordinator' is not one of *"),
    ("--rig=labgrid:bad.yaml", "--rig=labgrid:bad.yaml: bad.yaml: targets: no target has an EzspDriver *"),
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
            assert rig_target.kind in ("sim", "inventory")

        @pytest.mark.parametrize("n", range(4))
        async def test_many(artifacts_dir, clock, rig_backend, n):
            assert artifacts_dir.is_dir()
            assert (await rig_backend.dongle_path("ch")).startswith("tcp://127.0.0.1:")
    """)
    sim = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "-rs")
    sim.assert_outcomes(passed=5)                            # hardware-marked tests run on sim too
    sim.stdout.fnmatch_lines(["*2 workers*"])
    shared = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--rig=lab.yaml")
    assert shared.ret == pytest.ExitCode.USAGE_ERROR
    shared.stderr.fnmatch_lines(["*--rig=lab.yaml with pytest-xdist -n 2: one bench's dongles cannot be shared*"])
    serial = pytester.runpytest("-p", "xdist", "-n", "0", "--rig=lab.yaml", "-k", "test_hw")
    serial.assert_outcomes(passed=1, deselected=4)


BENCH_TESTS = """
    import pytest

    pytestmark = pytest.mark.hardware

    async def test_first(premises):
        raise AssertionError("must not run: the bench check comes first")

    async def test_second(rig_backend):
        raise AssertionError("must not run: the run stopped")
"""


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_a_dongle_that_does_not_answer_fails_set_up_naming_it_and_stops_the_run(pytester, dongles, kind):
    import socket

    ch = dongles.start("ch")
    with socket.socket() as silent:          # accepts TCP (the kernel completes the handshake), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1] if kind == "silent" else _closed_port()
        pytester.makefile(".yaml", lab=f"""\
dongles:
  ch-dongle: {{port: "{ch.url}", role: ch}}
  esme-stick: {{port: "tcp://127.0.0.1:{port}", role: esme}}
""")
        pytester.makepyfile(test_bench=BENCH_TESTS)
        result = pytester.runpytest("--rig=lab.yaml", "--rig-answer-timeout=2", "-m", "hardware")
    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    result.assert_outcomes(errors=1)                   # the first test's set-up; the second never starts
    why = "Connect call failed" if kind == "closed" else "the port accepted the connection but nothing answered"
    line = (f"bench lab.yaml: dongle esme-stick (role esme): NCP at tcp://127.0.0.1:{port} did not answer within "
            f"2 s (last error: *{why}*")
    result.stdout.fnmatch_lines(["*ERROR at setup of test_first*", line, f"! Interrupted: {line}"])
    assert "ch-dongle" not in result.stdout.str().split("short test summary")[-1]    # the CH answered
