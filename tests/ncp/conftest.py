import pytest

from firmware_shims.ncp.dongle import EmulatedDongle


@pytest.fixture
async def make_dongle(tmp_path):
    """Factory for emulated dongles served over TCP (or a pty); all stopped at teardown."""
    made = []

    async def factory(name="ch", *, transport="tcp", state_dir=tmp_path, **kwargs):
        dongle = EmulatedDongle(name, state_dir=state_dir, **kwargs)
        if transport == "tcp":
            await dongle.start_tcp()
        else:
            await dongle.start_pty()
        made.append(dongle)
        return dongle

    yield factory
    for dongle in made:
        await dongle.stop()
