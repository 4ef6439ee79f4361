"""Koblitz curves over GF(2^m): field arithmetic and point operations for CBKE.

Binary curves are not in the ``cryptography`` package any more, and the one maintained PyPI library
with sect283k1 (``lightecc``) is affine and bit-serial (~1 s per scalar multiplication here), so
this is a compact pure-Python implementation, fast enough for one full CBKE side in well under
100 ms on CPython 3.11:

* field elements are Python ints (polynomial basis); multiplication is a 4-bit comb over the
  bytes of one operand, squaring spreads hex digits with ``str.translate``, inversion is the
  binary extended Euclid;
* points are affine ``(x, y)`` tuples, ``None`` is the point at infinity; scalar multiplication
  works in López–Dahab projective coordinates (x = X/Z, y = Y/Z^2) with mixed additions;
* scalars are written in width-w tau-adic NAF (Solinas), so the Frobenius map tau(x, y) =
  (x^2, y^2) -- three squarings -- replaces point doubling.  For points in the order-n subgroup
  the scalar is first reduced modulo delta = (tau^m - 1)/(tau - 1) (norm n), which keeps the
  expansion at ~m digits; for any other point (a partner's, before cofactor clearing) the integer
  scalar is expanded unreduced, which is valid on the whole curve.

``mul_reference`` is a plain affine double-and-add kept for tests.

Where the machine's libcrypto (OpenSSL, the one CPython's ``hashlib`` links) has the curve,
:mod:`rig.cbke.libcrypto` does the four scalar multiplications (``mul``, ``mul_add``,
``mul_subgroup``, ``mul_base``) and the compressed encodings about twenty times faster; the field, the
group law's affine steps and the tau-adic machinery stay here, as the fall-back and the tests'
reference. ``KoblitzCurve.backend`` says which one runs (``RIG_EC_BACKEND=python`` keeps this module's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rig.cbke import libcrypto

Point = tuple[int, int] | None
"""Affine point ``(x, y)``; ``None`` is the point at infinity."""


def _spread(nibble: int) -> int:
    return sum(1 << (2 * i) for i in range(4) if nibble >> i & 1)


# byte b -> the spread of its high / low nibble (one byte each): the two bytes of b squared
_SPREAD_HI = bytes(_spread(b >> 4) for b in range(256))
_SPREAD_LO = bytes(_spread(b & 15) for b in range(256))


class BinaryField:
    """GF(2^m) with reduction polynomial x^m + sum(x^t for t in ``terms``) (``0`` in ``terms``)."""

    def __init__(self, m: int, terms: Iterable[int]) -> None:
        terms = tuple(sorted(set(terms), reverse=True))
        if 0 not in terms or terms[0] >= m:
            raise ValueError("reduction polynomial must have a constant term and degree m")
        self.m = m
        self.terms = terms
        self.poly = (1 << m) | sum(1 << t for t in terms)
        self.nbytes = (m + 7) // 8
        mask = (1 << m) - 1
        nbytes = self.nbytes
        poly = self.poly

        if len(terms) == 4 and 2 * terms[0] < m:
            t1, t2, t3, _ = terms

            def reduce(c: int) -> int:
                # valid for c < 2^(2m): the second fold leaves fewer than 2*t1 < m bits
                hi = c >> m
                if hi:
                    c = (c & mask) ^ hi ^ (hi << t3) ^ (hi << t2) ^ (hi << t1)
                    hi = c >> m
                    if hi:
                        c = (c & mask) ^ hi ^ (hi << t3) ^ (hi << t2) ^ (hi << t1)
                return c

        else:  # pragma: no cover - only pentanomials are used by the SE suites

            def reduce(c: int) -> int:
                while True:
                    hi = c >> m
                    if not hi:
                        return c
                    c &= mask
                    for t in terms:
                        c ^= hi << t

        def mul(a: int, b: int) -> int:
            a2 = a << 1
            a4 = a << 2
            a8 = a << 3
            a3 = a2 ^ a
            a5 = a4 ^ a
            a6 = a4 ^ a2
            a7 = a6 ^ a
            t = (
                0,
                a,
                a2,
                a3,
                a4,
                a5,
                a6,
                a7,
                a8,
                a8 ^ a,
                a8 ^ a2,
                a8 ^ a3,
                a8 ^ a4,
                a8 ^ a5,
                a8 ^ a6,
                a8 ^ a7,
            )
            r = 0
            for byte in b.to_bytes(nbytes, "big"):
                r = (r << 8) ^ (t[byte >> 4] << 4) ^ t[byte & 15]
            return reduce(r)

        def sqr(a: int) -> int:
            # squaring spreads the bits (bit i -> bit 2i): each byte becomes its high and low nibble
            # spread, interleaved — two bytes.translate and two slice stores, all in C
            raw = a.to_bytes(nbytes, "big")
            out = bytearray(2 * nbytes)
            out[0::2] = raw.translate(_SPREAD_HI)
            out[1::2] = raw.translate(_SPREAD_LO)
            return reduce(int.from_bytes(out, "big"))

        def inv(a: int) -> int:
            if a == 0:
                raise ZeroDivisionError("inverse of 0 in GF(2^m)")
            u, v, g1, g2 = a, poly, 1, 0
            while u != 1:
                j = u.bit_length() - v.bit_length()
                if j < 0:
                    u, v, g1, g2 = v, u, g2, g1
                    j = -j
                u ^= v << j
                g1 ^= g2 << j
            return reduce(g1)

        self.reduce = reduce
        self.mul = mul
        self.sqr = sqr
        self.inv = inv

    def half_trace(self, c: int) -> int:
        """sum(c^(4^i), i = 0..(m-1)/2); solves z^2 + z = c when Tr(c) = 0 (m odd)."""
        sqr = self.sqr
        h = c
        for _ in range((self.m - 1) // 2):
            h = sqr(sqr(h)) ^ c
        return h

    def trace(self, c: int) -> int:
        sqr = self.sqr
        t = c
        for _ in range(self.m - 1):
            c = sqr(c)
            t ^= c
        return t

    def reference_mul(self, a: int, b: int) -> int:
        """Shift-and-xor product (tests compare the comb against it)."""
        r = 0
        while b:
            if b & 1:
                r ^= a
            b >>= 1
            a <<= 1
        return self.reduce(r)


# ----------------------------------------------------------------------------------------------
# The ring Z[tau], tau^2 = mu*tau - 2: elements are (r0, r1) meaning r0 + r1*tau.


def _zmul(mu: int, a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    a0, a1 = a
    b0, b1 = b
    return a0 * b0 - 2 * a1 * b1, a0 * b1 + a1 * b0 + mu * a1 * b1


def _znorm(mu: int, a: tuple[int, int]) -> int:
    a0, a1 = a
    return a0 * a0 + mu * a0 * a1 + 2 * a1 * a1


def _zconj(mu: int, a: tuple[int, int]) -> tuple[int, int]:
    return a[0] + mu * a[1], -a[1]


def _round_div(a: int, n: int) -> int:
    """round(a / n) for n > 0 (halves up)."""
    return (2 * a + n) // (2 * n)


def _zdiv_exact(mu: int, a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    num = _zmul(mu, a, _zconj(mu, b))
    nb = _znorm(mu, b)
    if num[0] % nb or num[1] % nb:
        raise ArithmeticError("division in Z[tau] is not exact")
    return num[0] // nb, num[1] // nb


def _tau_power(mu: int, k: int) -> tuple[int, int]:
    r = (1, 0)
    for _ in range(k):
        r = _zmul(mu, r, (0, 1))
    return r


def _mods_tau_w(mu: int, u: int, w: int) -> tuple[int, int]:
    """The representative of ``u`` modulo tau^w with the smallest norm (Solinas' alpha_u)."""
    tw = _tau_power(mu, w)
    c0, c1 = _zmul(mu, (u, 0), _zconj(mu, tw))
    nw = _znorm(mu, tw)
    k0, k1 = _round_div(c0, nw), _round_div(c1, nw)
    best = None
    for d0 in (-1, 0, 1):
        for d1 in (-1, 0, 1):
            q = _zmul(mu, (k0 + d0, k1 + d1), tw)
            cand = (u - q[0], -q[1])
            key = (_znorm(mu, cand), abs(cand[1]), cand)
            if best is None or key < best[0]:
                best = (key, cand)
    return best[1]


@dataclass(frozen=True)
class TnafWindow:
    """Constants of the width-w tau-adic NAF for one curve."""

    w: int
    tw: int  # tau = tw (mod tau^w), as an integer mod 2^w
    alphas: dict[int, tuple[int, int]]  # odd u in 1..2^(w-1)-1 -> alpha_u = u mods tau^w

    @classmethod
    def build(cls, mu: int, w: int) -> TnafWindow:
        u_prev, u_cur = 0, 1  # Lucas sequence U_0, U_1
        for _ in range(w - 1):
            u_prev, u_cur = u_cur, mu * u_cur - 2 * u_prev
        two_w = 1 << w
        tw = (2 * u_prev * pow(u_cur, -1, two_w)) % two_w
        alphas = {u: _mods_tau_w(mu, u, w) for u in range(1, 1 << (w - 1), 2)}
        # sanity: tau - tw and alpha_u - u are divisible by tau^w
        _zdiv_exact(mu, (-tw, 1), _tau_power(mu, w))
        for u, a in alphas.items():
            _zdiv_exact(mu, (a[0] - u, a[1]), _tau_power(mu, w))
        return cls(w, tw, alphas)


def wtnaf_digits(mu: int, r0: int, r1: int, window: TnafWindow) -> list[int]:
    """Width-w TNAF of r0 + r1*tau, least significant digit first (digits odd, |d| < 2^(w-1), or 0)."""
    two_w = 1 << window.w
    half = two_w >> 1
    mask = two_w - 1
    tw = window.tw
    alphas = window.alphas
    digits: list[int] = []
    append = digits.append
    while r0 or r1:
        if r0 & 1:
            u = ((r0 & mask) + (r1 & mask) * tw) & mask
            if u >= half:
                u -= two_w
            if u > 0:
                b, g = alphas[u]
                r0 -= b
                r1 -= g
            else:
                b, g = alphas[-u]
                r0 += b
                r1 += g
            append(u)
        else:
            append(0)
        t = r0 >> 1
        r0 = r1 + t if mu == 1 else r1 - t
        r1 = -t
    return digits


# ----------------------------------------------------------------------------------------------


@dataclass(eq=False)
class KoblitzCurve:
    """y^2 + xy = x^3 + a*x^2 + 1 over GF(2^m), a in {0, 1}, with a base point G of prime order n."""

    name: str
    m: int
    terms: Sequence[int]
    a: int
    n: int
    h: int
    gx: int
    gy: int
    window: int = 4  # tau-NAF width for arbitrary points
    base_window: int = 6  # width for the fixed base point G
    F: BinaryField = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.a not in (0, 1):
            raise ValueError("a Koblitz curve has a in {0, 1}")
        self.F = BinaryField(self.m, self.terms)
        self.b = 1
        self.mu = 1 if self.a == 1 else -1
        self.nbytes = self.F.nbytes
        self.point_bytes = self.nbytes + 1
        self.G: Point = (self.gx, self.gy)
        if not self.is_on_curve(self.G):
            raise ValueError(f"{self.name}: G is not on the curve")
        mu = self.mu
        tm = _tau_power(mu, self.m)
        self.delta = _zdiv_exact(mu, (tm[0] - 1, tm[1]), (-1, 1))
        if _znorm(mu, self.delta) != self.n:
            raise ValueError(f"{self.name}: N(delta) != n")
        self._delta_conj = _zconj(mu, self.delta)
        self._win = TnafWindow.build(mu, self.window)
        self._base_win = TnafWindow.build(mu, self.base_window)
        self._plain_win = TnafWindow.build(mu, 2)
        self._base_table: dict[int, Point] | None = None
        self._build_ops()
        self._lc = libcrypto.load(self.name, self.nbytes)
        if self._lc is not None and not self._libcrypto_agrees():
            self._lc = None

    @property
    def backend(self) -> str:
        """Who does the scalar multiplications and encodings: ``libcrypto`` (OpenSSL) or ``python`` (this module)."""
        return "python" if self._lc is None else "libcrypto"

    def _libcrypto_agrees(self) -> bool:
        """k*G, and k*P + Q for a P off the subgroup, as the pure code gives them (a short k: cheap).

        The thorough comparison over random and edge scalars is tests/cbke/test_libcrypto.py's.
        """
        lc, k = self._lc, 0x9E3779B97F4A7C15F39CC0605CEDC834
        P = self._py_mul_add(3, self.G, (0, 1))  # 3G + the 2-torsion point: not in the order-n subgroup
        try:
            R = self._py_mul_add(k, P, self.G)
            if lc.mul_add(k, None, None, base=True) != self._py_mul_add(k, self.G, None) \
                    or lc.mul_add(k, P, self.G) != R:
                return False
            # the compressed encodings: both y-bits
            for Q in (R, self.neg(R)):
                data = lc.compress(Q)
                if data != self._py_encode(Q) or lc.decompress(data) != Q:
                    return False
            return True
        except libcrypto.LibcryptoError:
            return False

    # -- projective (López–Dahab) kernels -------------------------------------------------------

    def _build_ops(self) -> None:
        F = self.F
        mul, sqr = F.mul, F.sqr
        a = self.a

        def ld_double(X1: int, Y1: int, Z1: int) -> tuple[int, int, int]:
            if Z1 == 0 or X1 == 0:  # infinity, or the 2-torsion point (0, 1)
                return 1, 0, 0
            S = sqr(Z1)
            T = sqr(X1)
            Z3 = mul(T, S)
            S2 = sqr(S)  # b * Z1^4 with b = 1
            X3 = sqr(T) ^ S2
            inner = sqr(Y1) ^ S2
            if a:
                inner ^= Z3
            Y3 = mul(S2, Z3) ^ mul(X3, inner)
            return X3, Y3, Z3

        def ld_madd(X1: int, Y1: int, Z1: int, x2: int, y2: int) -> tuple[int, int, int]:
            """(X1:Y1:Z1) + (x2, y2) with (x2, y2) affine and finite."""
            if Z1 == 0:
                return x2, y2, 1
            T2 = sqr(Z1)
            B = X1 ^ mul(Z1, x2)
            A = Y1 ^ mul(T2, y2)
            if B == 0:
                if A == 0:
                    return ld_double(x2, y2, 1)
                return 1, 0, 0
            C = mul(Z1, B)
            Z3 = sqr(C)
            E = mul(C, A)
            if a:
                C ^= T2
            X3 = mul(sqr(B), C) ^ sqr(A) ^ E
            Fv = mul(x2, Z3) ^ X3
            Y3 = mul(E ^ Z3, Fv) ^ mul(sqr(Z3), x2 ^ y2)
            return X3, Y3, Z3

        def run(digits: list[int], table: dict[int, tuple[int, int] | None]) -> tuple[int, int, int]:
            """Horner evaluation of sum(d_i tau^i) * P given table[d] = d*P (affine)."""
            X, Y, Z = 1, 0, 0
            for i in range(len(digits) - 1, -1, -1):
                if Z:
                    X = sqr(X)
                    Y = sqr(Y)
                    Z = sqr(Z)
                d = digits[i]
                if d:
                    pt = table[d]
                    if pt is not None:
                        X, Y, Z = ld_madd(X, Y, Z, pt[0], pt[1])
            return X, Y, Z

        self._ld_double = ld_double
        self._ld_madd = ld_madd
        self._run = run

    def _to_affine(self, X: int, Y: int, Z: int) -> Point:
        if Z == 0:
            return None
        F = self.F
        zi = F.inv(Z)
        return F.mul(X, zi), F.mul(Y, F.sqr(zi))

    def _batch_to_affine(self, pts: list[tuple[int, int, int]]) -> list[Point]:
        """Montgomery's trick: one inversion for the whole list."""
        F = self.F
        mul = F.mul
        out: list[Point] = [None] * len(pts)
        idx = [i for i, p in enumerate(pts) if p[2]]
        if not idx:
            return out
        prefix = []
        acc = 1
        for i in idx:
            acc = mul(acc, pts[i][2])
            prefix.append(acc)
        inv = F.inv(acc)
        for k in range(len(idx) - 1, -1, -1):
            i = idx[k]
            X, Y, Z = pts[i]
            zi = mul(inv, prefix[k - 1]) if k else inv
            inv = mul(inv, Z)
            zi2 = F.sqr(zi)
            out[i] = (mul(X, zi), mul(Y, zi2))
        return out

    def _table(self, P: tuple[int, int], window: TnafWindow) -> dict[int, tuple[int, int] | None]:
        """{±u: alpha_u * P} for the odd u of the window (P affine, finite)."""
        base = {1: P, -1: (P[0], P[0] ^ P[1])}
        us = [u for u in window.alphas if u != 1]
        proj = [self._run(wtnaf_digits(self.mu, *window.alphas[u], self._plain_win), base) for u in us]
        table: dict[int, tuple[int, int] | None] = dict(base)
        for u, pt in zip(us, self._batch_to_affine(proj)):
            table[u] = pt
            table[-u] = None if pt is None else (pt[0], pt[0] ^ pt[1])
        return table

    def _base_point_table(self) -> dict[int, tuple[int, int] | None]:
        if self._base_table is None:
            self._base_table = self._table(self.G, self._base_win)
        return self._base_table

    def _reduce_scalar(self, k: int) -> tuple[int, int]:
        """k partmod delta: an element of Z[tau] congruent to k modulo delta, of norm <= n."""
        mu = self.mu
        c0, c1 = self._delta_conj
        q = (_round_div(k * c0, self.n), _round_div(k * c1, self.n))
        qd = _zmul(mu, q, self.delta)
        return k - qd[0], -qd[1]

    # -- public point operations ------------------------------------------------------------------

    def is_on_curve(self, P: Point) -> bool:
        if P is None:
            return True
        x, y = P
        if x < 0 or y < 0 or x >> self.m or y >> self.m:
            return False
        mul, sqr = self.F.mul, self.F.sqr
        x2 = sqr(x)
        lhs = sqr(y) ^ mul(x, y)
        rhs = mul(x2, x) ^ (x2 if self.a else 0) ^ self.b
        return lhs == rhs

    def neg(self, P: Point) -> Point:
        return None if P is None else (P[0], P[0] ^ P[1])

    def add(self, P: Point, Q: Point) -> Point:
        if P is None:
            return Q
        if Q is None:
            return P
        return self._to_affine(*self._ld_madd(P[0], P[1], 1, Q[0], Q[1]))

    def double(self, P: Point) -> Point:
        if P is None:
            return None
        return self._to_affine(*self._ld_double(P[0], P[1], 1))

    def mul(self, k: int, P: Point) -> Point:
        """k*P for any point on the curve (the scalar is not reduced: valid off the subgroup too)."""
        if P is None or k == 0:
            return None
        if k < 0:
            return self.mul(-k, self.neg(P))
        if self._lc is not None:
            with contextlib.suppress(libcrypto.LibcryptoError):
                return self._lc.mul_add(k, P, None)
        digits = wtnaf_digits(self.mu, k, 0, self._win)
        return self._to_affine(*self._run(digits, self._table(P, self._win)))

    def mul_add(self, k: int, P: Point, Q: Point) -> Point:
        """k*P + Q (any points)."""
        if P is None or k == 0:
            return Q
        if k < 0:
            return self.mul_add(-k, self.neg(P), Q)
        if self._lc is not None:
            with contextlib.suppress(libcrypto.LibcryptoError):
                return self._lc.mul_add(k, P, Q)
        return self._py_mul_add(k, P, Q)

    def _py_mul_add(self, k: int, P: tuple[int, int], Q: Point) -> Point:
        X, Y, Z = self._run(wtnaf_digits(self.mu, k, 0, self._win), self._table(P, self._win))
        if Q is not None:
            X, Y, Z = self._ld_madd(X, Y, Z, Q[0], Q[1])
        return self._to_affine(X, Y, Z)

    def mul_subgroup(self, k: int, P: Point) -> Point:
        """k*P for P in the order-n subgroup: k is reduced mod n and mod delta first.

        Wrong (not merely slow) for a point with a small-order component: clear the cofactor first.
        """
        if P is None:
            return None
        k %= self.n
        if k == 0:
            return None
        if self._lc is not None:
            with contextlib.suppress(libcrypto.LibcryptoError):
                return self._lc.mul_add(k, P, None)
        digits = wtnaf_digits(self.mu, *self._reduce_scalar(k), self._win)
        return self._to_affine(*self._run(digits, self._table(P, self._win)))

    def mul_base(self, k: int) -> Point:
        """k*G (pure Python: with a cached wide-window table)."""
        k %= self.n
        if k == 0:
            return None
        if self._lc is not None:
            with contextlib.suppress(libcrypto.LibcryptoError):
                return self._lc.mul_add(k, None, None, base=True)
        return self._py_mul_base(k)

    def _py_mul_base(self, k: int) -> Point:
        digits = wtnaf_digits(self.mu, *self._reduce_scalar(k), self._base_win)  # k in [1, n): mul_base's
        return self._to_affine(*self._run(digits, self._base_point_table()))

    def mul_reference(self, k: int, P: Point) -> Point:
        """Affine double-and-add (slow; for tests)."""
        if k < 0:
            return self.mul_reference(-k, self.neg(P))
        R: Point = None
        for bit in bin(k)[2:] if k else "":
            R = self._affine_double(R)
            if bit == "1":
                R = self._affine_add(R, P)
        return R

    def _affine_double(self, P: Point) -> Point:
        if P is None or P[0] == 0:
            return None
        F = self.F
        x, y = P
        lam = x ^ F.mul(y, F.inv(x))
        x3 = F.sqr(lam) ^ lam ^ self.a
        y3 = F.sqr(x) ^ F.mul(lam ^ 1, x3)
        return x3, y3

    def _affine_add(self, P: Point, Q: Point) -> Point:
        if P is None:
            return Q
        if Q is None:
            return P
        F = self.F
        (x1, y1), (x2, y2) = P, Q
        if x1 == x2:
            return self._affine_double(P) if y1 == y2 else None
        lam = F.mul(y1 ^ y2, F.inv(x1 ^ x2))
        x3 = F.sqr(lam) ^ lam ^ x1 ^ x2 ^ self.a
        y3 = F.mul(lam, x1 ^ x3) ^ x3 ^ y1
        return x3, y3

    # -- encodings ----------------------------------------------------------------------------------

    def _py_encode(self, P: tuple[int, int]) -> bytes:
        x, y = P
        ybit = self.F.mul(y, self.F.inv(x)) & 1 if x else 0
        return bytes([2 | ybit]) + x.to_bytes(self.nbytes, "big")

    def encode_point(self, P: Point) -> bytes:
        """SEC1 compressed form: (02 | 03) || x, ybit = lsb(y / x) (0 for x = 0)."""
        if P is None:
            raise ValueError("the point at infinity has no compressed encoding")
        x = P[0]
        if x and self._lc is not None:
            with contextlib.suppress(libcrypto.LibcryptoError):  # refused (off the curve): the pure code's
                return self._lc.compress(P)
        return self._py_encode(P)

    def decode_point(self, data: bytes) -> tuple[int, int]:
        """Decompress a SEC1 compressed point; ValueError if it is not one of this curve."""
        data = bytes(data)
        if len(data) != self.point_bytes:
            raise ValueError(
                f"{self.name} compressed point must be {self.point_bytes} bytes, got {len(data)}"
            )
        if data[0] not in (2, 3):
            raise ValueError(f"bad compressed-point prefix 0x{data[0]:02X}")
        ybit = data[0] & 1
        x = int.from_bytes(data[1:], "big")
        if x >> self.m:
            raise ValueError("x coordinate is not a field element")
        if x == 0:
            return 0, 1  # (0, sqrt(b)), b = 1
        try:
            P = self._lc.decompress(data) if self._lc is not None else self._py_decompress(x, ybit)
        except libcrypto.LibcryptoError:
            P = self._py_decompress(x, ybit)
        if P is None:
            raise ValueError("x coordinate is not on the curve")
        return P

    def _py_decompress(self, x: int, ybit: int) -> tuple[int, int] | None:
        F = self.F
        beta = x ^ self.a ^ F.sqr(F.inv(x))
        z = F.half_trace(beta)
        if F.sqr(z) ^ z != beta:
            return None
        if (z & 1) != ybit:
            z ^= 1
        return x, F.mul(x, z)
