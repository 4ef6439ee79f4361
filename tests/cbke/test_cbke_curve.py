"""Binary-field and Koblitz-curve arithmetic (rig.cbke.koblitz) against slow references."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.cbke.curves import SECT163K1, SECT283K1
from rig.cbke.koblitz import TnafWindow, _tau_power, _zdiv_exact, _znorm, wtnaf_digits

CURVES = [SECT283K1, SECT163K1]
ids = [c.name for c in CURVES]


def test_parameters_match_published(cbke_json):
    for curve in CURVES:
        p = cbke_json["curves"][curve.name]
        assert curve.gx == int(p["Gx"], 16) and curve.gy == int(p["Gy"], 16)
        assert curve.n == int(p["n"], 16) and curve.h == p["h"] and curve.a == int(p["a"], 16)
        assert curve.mul_reference(curve.n, curve.G) is None


@pytest.mark.parametrize("curve", CURVES, ids=ids)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_field_ops_agree_with_reference(curve, data):
    F = curve.F
    a = data.draw(st.integers(0, (1 << F.m) - 1))
    b = data.draw(st.integers(0, (1 << F.m) - 1))
    assert F.mul(a, b) == F.reference_mul(a, b) == F.mul(b, a)
    assert F.sqr(a) == F.reference_mul(a, a)
    if a:
        assert F.mul(a, F.inv(a)) == 1
    z = F.half_trace(a)
    assert (F.sqr(z) ^ z == a) == (F.trace(a) == 0)


def test_inverse_of_zero_raises():
    with pytest.raises(ZeroDivisionError):
        SECT283K1.F.inv(0)


@pytest.mark.parametrize("curve", CURVES, ids=ids)
def test_tau_adic_constants(curve):
    mu = curve.mu
    assert _znorm(mu, curve.delta) == curve.n
    # delta * (tau - 1) == tau^m - 1
    tm = _tau_power(mu, curve.m)
    assert _zdiv_exact(mu, (tm[0] - 1, tm[1]), curve.delta) == (-1, 1)
    for w in (2, 3, 4, 5, 6):
        TnafWindow.build(mu, w)  # asserts its own congruences


@pytest.mark.parametrize("curve", CURVES, ids=ids)
@pytest.mark.parametrize("w", [2, 4, 6])
def test_wtnaf_digits_evaluate_back(curve, w):
    """sum(alpha_{d_i} tau^i) == r in Z[tau] (alpha_{-u} = -alpha_u), digits odd and bounded, non-zero
    digits at least w apart."""
    rnd = random.Random(w)
    win = TnafWindow.build(curve.mu, w)
    for _ in range(20):
        r = (rnd.randrange(-(1 << 150), 1 << 150), rnd.randrange(-(1 << 150), 1 << 150))
        digits = wtnaf_digits(curve.mu, *r, win)
        acc = (0, 0)
        for d in reversed(digits):
            acc = (-2 * acc[1], acc[0] + curve.mu * acc[1])  # acc * tau
            if d:
                a0, a1 = win.alphas[abs(d)]
                sign = 1 if d > 0 else -1
                acc = (acc[0] + sign * a0, acc[1] + sign * a1)
        assert acc == r
        nz = [i for i, d in enumerate(digits) if d]
        assert all(d % 2 and abs(d) < 1 << (w - 1) for d in digits if d)
        assert all(b - a >= w for a, b in itertools.pairwise(nz))


@pytest.mark.parametrize("curve", CURVES, ids=ids)
def test_scalar_multiplication_agrees_with_double_and_add(curve):
    rnd = random.Random(283)
    n = curve.n
    P = curve.mul_reference(rnd.randrange(1, n), curve.G)
    scalars = [0, 1, 2, 3, 4, 7, 8, 15, 16, n - 1, n, n + 1, 2 * n + 5, (1 << curve.m) - 1]
    scalars += [rnd.getrandbits(curve.m) for _ in range(6)] + [rnd.getrandbits(128) for _ in range(3)]
    for k in scalars:
        ref = curve.mul_reference(k, P)
        assert curve.mul(k, P) == ref, k
        assert curve.mul_subgroup(k, P) == ref, k
        assert curve.mul_base(k) == curve.mul_reference(k, curve.G), k
        assert curve.mul_add(k, P, curve.G) == curve.add(ref, curve.G), k
    assert curve.mul(-5, P) == curve.neg(curve.mul(5, P))


def test_unreduced_multiplication_is_valid_off_the_subgroup():
    """A point with a 4-torsion component: mul() (no delta reduction) must still be right."""
    curve = SECT283K1
    t4 = (1, 0)  # order 4 on y^2 + xy = x^3 + 1
    assert curve.is_on_curve(t4)
    assert curve.mul_reference(2, t4) == (0, 1) and curve.mul_reference(4, t4) is None
    P = curve.add(curve.mul_base(123456789), t4)
    rnd = random.Random(4)
    for k in [1, 2, 3, 4, 5, rnd.getrandbits(140), rnd.getrandbits(283)]:
        assert curve.mul(k, P) == curve.mul_reference(k, P), k
    # cofactor clearing lands in the subgroup, where the reduced path is valid again
    P4 = curve.double(curve.double(P))
    k = rnd.getrandbits(283)
    assert curve.mul_subgroup(k, P4) == curve.mul_reference(k, P4)


@pytest.mark.parametrize("curve", CURVES, ids=ids)
def test_group_law_edge_cases(curve):
    P = curve.mul_base(99)
    assert curve.add(P, curve.neg(P)) is None
    assert curve.add(P, P) == curve.double(P) == curve.mul_reference(2, P)
    assert curve.add(None, P) == P == curve.add(P, None)
    assert curve.double(None) is None and curve.mul(5, None) is None
    assert curve.double((0, 1)) is None  # the 2-torsion point
    assert curve.mul_subgroup(0, P) is None and curve.mul_base(curve.n) is None


@pytest.mark.parametrize("curve", CURVES, ids=ids)
def test_point_compression_round_trip(curve):
    rnd = random.Random(7)
    for _ in range(10):
        P = curve.mul_base(rnd.randrange(1, curve.n))
        data = curve.encode_point(P)
        assert len(data) == curve.point_bytes and data[0] in (2, 3)
        assert curve.decode_point(data) == P
        assert curve.decode_point(bytes([data[0] ^ 1]) + data[1:]) == curve.neg(P)
    assert curve.decode_point(curve.encode_point((0, 1))) == (0, 1)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x02" + b"\x00" * 35, "37 bytes"),
        (b"\x04" + b"\x00" * 36, "prefix"),
        (b"\x02" + b"\xff" * 36, "not a field element"),
    ],
)
def test_decode_point_rejects(data, message):
    with pytest.raises(ValueError, match=message):
        SECT283K1.decode_point(data)


def test_decode_point_rejects_x_off_the_curve():
    F = SECT283K1.F
    x = 2
    while True:  # an x whose beta has trace 1: no y exists
        beta = x ^ F.sqr(F.inv(x))
        if F.trace(beta):
            break
        x += 1
    with pytest.raises(ValueError, match="not on the curve"):
        SECT283K1.decode_point(b"\x02" + x.to_bytes(36, "big"))
    assert not SECT283K1.is_on_curve((x, 0)) and not SECT283K1.is_on_curve((1 << 283, 0))
