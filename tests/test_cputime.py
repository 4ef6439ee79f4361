"""rig.cputime: crypto entry points accumulate CPU once, however deeply they call each other."""

from __future__ import annotations

import pytest

from rig import cputime


def test_nested_entry_points_count_once(monkeypatch):
    ticks = iter(range(100))
    monkeypatch.setattr(cputime, "_clock", lambda: float(next(ticks)))

    @cputime.crypto
    def inner():
        return "inner"

    @cputime.crypto
    def outer():
        return inner() + inner()

    before = cputime.crypto_seconds()
    assert outer() == "innerinner"
    assert cputime.crypto_seconds() - before == pytest.approx(1.0)   # one pair of clock reads: the outermost call


def test_an_exception_still_counts_and_resets_the_depth(monkeypatch):
    ticks = iter(range(100))
    monkeypatch.setattr(cputime, "_clock", lambda: float(next(ticks)))

    @cputime.crypto
    def boom():
        raise ValueError("bad point")

    before = cputime.crypto_seconds()
    for _ in range(2):
        try:
            boom()
        except ValueError:
            pass
    assert cputime.crypto_seconds() - before == pytest.approx(2.0)


def test_the_cbke_gbcs_and_zigbee_entry_points_are_timed():
    from rig.cbke import crypto as cbke
    from rig.gbcs import crypto as gbcs
    from rig.zigbee import mmo, security

    before = cputime.crypto_seconds()
    key = gbcs.new_private_key()
    gbcs.verify(key.public_key(), b"m", gbcs.sign(key, b"m"))
    security.ccm_encrypt(bytes(16), bytes(13), b"a", b"p")
    mmo.mmo_hash(b"x")
    cbke.public_key(cbke.SUITE1, 12345)
    assert cputime.crypto_seconds() > before
