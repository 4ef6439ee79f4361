"""OpenSSL's libcrypto does the Koblitz scalar multiplications where it can; it must agree with the
pure-Python arithmetic everywhere CBKE and the attacks reach: random and edge scalars, points in and off
the order-n subgroup, the published test data, and a clean fall-back when libcrypto cannot serve."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.cbke import libcrypto
from rig.cbke.curves import SECT163K1, SECT283K1
from rig.cbke.koblitz import KoblitzCurve

CURVES = {"sect283k1": SECT283K1, "sect163k1": SECT163K1}
TORSION = (0, 1)  # the 2-torsion point of both curves (y^2 = b = 1 at x = 0)

needs_libcrypto = pytest.mark.skipif(
    SECT283K1.backend != "libcrypto",
    reason=f"this machine's libcrypto has no sect283k1 (backend {SECT283K1.backend}): nothing to compare",
)


def _pure(curve: KoblitzCurve) -> KoblitzCurve:
    """The same curve with libcrypto switched off."""
    twin = KoblitzCurve(curve.name, curve.m, curve.terms, curve.a, curve.n, curve.h, curve.gx, curve.gy)
    twin._lc = None
    return twin


PURE = {name: _pure(c) for name, c in CURVES.items()}


def _scalars(curve: KoblitzCurve):
    n, h = curve.n, curve.h
    edges = [1, 2, h, n - 1, n, n + 1, h * n - 1, h * n, h * n + 1, 2 * h * n + 3, (1 << curve.m) + 5]
    return st.one_of(st.sampled_from(edges), st.integers(1, 4 * h * n))


@needs_libcrypto
@pytest.mark.parametrize("name", CURVES)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
def test_mul_add_agrees_in_and_off_the_subgroup(name, data):
    fast, pure = CURVES[name], PURE[name]
    k = data.draw(_scalars(fast))
    j = data.draw(st.integers(1, fast.n - 1))
    P = pure.mul_base(j)
    if data.draw(st.booleans()):
        P = pure.add(P, TORSION)  # a small-order component, as a hostile partner's point may carry
    Q = data.draw(st.sampled_from([None, fast.G, TORSION, pure.neg(P)]))
    assert fast.mul_add(k, P, Q) == pure.mul_add(k, P, Q)
    assert fast.mul(k, P) == pure.mul(k, P)
    assert fast.mul(-k, P) == pure.mul(-k, P)


@needs_libcrypto
@pytest.mark.parametrize("name", CURVES)
@settings(max_examples=30, deadline=None, derandomize=True)
@given(data=st.data())
def test_base_and_subgroup_multiplication_agree(name, data):
    fast, pure = CURVES[name], PURE[name]
    k = data.draw(_scalars(fast))
    assert fast.mul_base(k) == pure.mul_base(k)
    R = pure.mul_base(data.draw(st.integers(1, fast.n - 1)))
    assert fast.mul_subgroup(k, R) == pure.mul_subgroup(k, R)


@needs_libcrypto
@pytest.mark.parametrize("name", CURVES)
def test_results_at_infinity_are_none(name):
    fast = CURVES[name]
    assert fast.mul_base(fast.n) is None
    assert fast.mul(2, TORSION) is None
    assert fast.mul_add(fast.n, fast.G, None) is None
    assert fast.mul_add(1, fast.G, fast.neg(fast.G)) is None


@needs_libcrypto
@pytest.mark.parametrize("name", CURVES)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
def test_compressed_encodings_agree(name, data):
    fast, pure = CURVES[name], PURE[name]
    P = pure.mul_base(data.draw(st.integers(1, fast.n - 1)))
    if data.draw(st.booleans()):
        P = pure.add(P, TORSION)
    assert fast.encode_point(P) == pure.encode_point(P)
    assert fast.decode_point(pure.encode_point(P)) == P
    # any x, on the curve or not, either prefix: the same point or the same refusal
    x = data.draw(st.one_of(st.integers(0, (1 << fast.m) - 1), st.integers(1 << fast.m, (1 << 8 * fast.nbytes) - 1)))
    raw = bytes([data.draw(st.sampled_from([2, 3]))]) + x.to_bytes(fast.nbytes, "big")
    outcomes = []
    for curve in (fast, pure):
        try:
            outcomes.append(curve.decode_point(raw))
        except ValueError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


def test_opting_out_keeps_pure_python():
    code = "from rig.cbke.curves import SECT283K1, SECT163K1; print(SECT283K1.backend, SECT163K1.backend)"
    env = {**os.environ, "RIG_EC_BACKEND": "python"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["python", "python"]


def test_published_vectors_hold_on_pure_python_too():
    """The known-answer tests run on the default backend in the suite; here once more without libcrypto."""
    env = {**os.environ, "RIG_EC_BACKEND": "python"}
    here = os.path.dirname(__file__)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         os.path.join(here, "test_cbke_vectors.py")],
        check=False, env=env, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(here)),
    )
    assert out.returncode == 0, out.stdout[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_no_libcrypto_means_pure_python(monkeypatch):
    monkeypatch.setattr(libcrypto, "_LIB_TRIED", True)
    monkeypatch.setattr(libcrypto, "_LIB", None)
    assert libcrypto.load("sect283k1", 36) is None
    assert _pure(SECT283K1).backend == "python"


def test_a_libcrypto_that_disagrees_is_not_used(monkeypatch):
    class Wrong:
        def mul_add(self, k, P, Q, base=False):
            return (1, 1)

    monkeypatch.setattr(libcrypto, "load", lambda name, nbytes: Wrong())
    c = SECT163K1
    assert KoblitzCurve(c.name, c.m, c.terms, c.a, c.n, c.h, c.gx, c.gy).backend == "python"


@needs_libcrypto
def test_threads_share_a_curve_safely():
    """CBKE may run in an executor: libcrypto calls from many threads give each its own right answer."""
    from concurrent.futures import ThreadPoolExecutor

    fast, pure = SECT283K1, PURE["sect283k1"]
    ks = [fast.n - 7 * i - 1 for i in range(48)]
    want = [pure.mul_base(k) for k in ks]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(fast.mul_base, ks))
    assert got == want


def test_an_operation_libcrypto_refuses_is_done_in_pure_python():
    class Refusing:
        def mul_add(self, k, P, Q, base=False):
            raise libcrypto.LibcryptoError("refused")

        def decompress(self, data):
            raise libcrypto.LibcryptoError("refused")

        def compress(self, P):
            raise libcrypto.LibcryptoError("refused")

    pure = PURE["sect163k1"]
    curve = _pure(SECT163K1)
    curve._lc = Refusing()
    P = pure.mul_base(12345)
    assert curve.mul_base(777) == pure.mul_base(777)
    assert curve.mul(777, P) == pure.mul(777, P)
    assert curve.mul_add(777, P, pure.G) == pure.mul_add(777, P, pure.G)
    assert curve.mul_subgroup(777, P) == pure.mul_subgroup(777, P)
    assert curve.encode_point(P) == pure.encode_point(P)
    assert curve.decode_point(pure.encode_point(P)) == P
