"""Scalar multiplication on the SE Koblitz curves by OpenSSL's libcrypto, through ctypes.

The ``cryptography`` package no longer exposes binary curves, and it has no ECMQV and no raw point
arithmetic in any case, but the libcrypto that CPython's ``hashlib`` links against still has both
(``EC_POINT_mul``, ``EC_POINT_add``, SEC1 ``oct2point``/``point2oct``), about twenty times faster than
:mod:`rig.cbke.koblitz`'s pure Python.  This module binds just those calls; ECQV, ECMQV and ECDSA stay in
:mod:`rig.cbke.crypto`, unchanged, and :class:`rig.cbke.koblitz.KoblitzCurve` hands its scalar
multiplications and point (de)compression here when :func:`load` finds a libcrypto that has the curve
and agrees with the pure-Python arithmetic on check values.  Should libcrypto ever refuse an operation
(:class:`LibcryptoError`), the curve does it in pure Python instead, so the answer is always the pure
code's.

``RIG_EC_BACKEND=python`` keeps everything in pure Python (the tests compare the two).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading

_VP = ctypes.c_void_p
Point = tuple[int, int] | None  # as rig.cbke.koblitz's (not imported: koblitz imports this module)

# the SEC curve names OpenSSL knows them by
_NIDS = {"sect283k1": b"sect283k1", "sect163k1": b"sect163k1"}


def _open_libcrypto() -> ctypes.CDLL | None:
    names = [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so", "libcrypto.dylib"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            _declare(lib)
        except AttributeError:  # an OpenSSL older than 1.1.1 (no *_affine_coordinates, no bn2binpad)
            continue
        return lib
    return None


def _declare(lib: ctypes.CDLL) -> None:
    sig = {
        "OBJ_sn2nid": (ctypes.c_int, [ctypes.c_char_p]),
        "EC_GROUP_new_by_curve_name": (_VP, [ctypes.c_int]),
        "EC_POINT_new": (_VP, [_VP]),
        "EC_POINT_free": (None, [_VP]),
        "EC_POINT_set_affine_coordinates": (ctypes.c_int, [_VP, _VP, _VP, _VP, _VP]),
        "EC_POINT_get_affine_coordinates": (ctypes.c_int, [_VP, _VP, _VP, _VP, _VP]),
        "EC_POINT_is_at_infinity": (ctypes.c_int, [_VP, _VP]),
        "EC_POINT_mul": (ctypes.c_int, [_VP, _VP, _VP, _VP, _VP, _VP]),
        "EC_POINT_add": (ctypes.c_int, [_VP, _VP, _VP, _VP, _VP]),
        "EC_POINT_oct2point": (ctypes.c_int, [_VP, _VP, ctypes.c_char_p, ctypes.c_size_t, _VP]),
        "EC_POINT_point2oct": (ctypes.c_size_t, [_VP, _VP, ctypes.c_int, _VP, ctypes.c_size_t, _VP]),
        "BN_CTX_new": (_VP, []),
        "BN_new": (_VP, []),
        "BN_free": (None, [_VP]),
        "BN_bin2bn": (_VP, [ctypes.c_char_p, ctypes.c_int, _VP]),
        "BN_bn2binpad": (ctypes.c_int, [_VP, _VP, ctypes.c_int]),
        "ERR_clear_error": (None, []),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


class LibcryptoError(ArithmeticError):
    """libcrypto refused an operation on points the pure-Python code accepted (should not happen)."""


def _serialised(method):
    """One operation at a time per curve: the BN_CTX and the scratch BIGNUMs are shared, and ctypes lets
    go of the GIL during each call (CBKE may run in an executor's threads)."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


class LibcryptoCurve:
    """k*P, k*P + Q and k*G on one curve, by libcrypto; points in and out as affine int tuples."""

    def __init__(self, lib: ctypes.CDLL, group: int, nbytes: int) -> None:
        self._lib = lib
        self._group = group
        self._nbytes = nbytes
        self._lock = threading.Lock()
        self._ctx = lib.BN_CTX_new()
        if not self._ctx:
            raise MemoryError("BN_CTX_new")
        # two scratch BIGNUMs for coordinates on the way out; scalars and inputs are made per call
        self._bx = lib.BN_new()
        self._by = lib.BN_new()

    # -- conversions ------------------------------------------------------------------------------

    def _bn(self, value: int) -> int:
        data = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
        bn = self._lib.BN_bin2bn(data, len(data), None)
        if not bn:
            raise MemoryError("BN_bin2bn")
        return bn

    def _point(self, P: tuple[int, int]) -> int:
        lib = self._lib
        pt = lib.EC_POINT_new(self._group)
        bx, by = self._bn(P[0]), self._bn(P[1])
        try:
            ok = lib.EC_POINT_set_affine_coordinates(self._group, pt, bx, by, self._ctx)
        finally:
            lib.BN_free(bx)
            lib.BN_free(by)
        if ok != 1:
            lib.EC_POINT_free(pt)
            lib.ERR_clear_error()
            raise LibcryptoError("libcrypto: point not on the curve")
        return pt

    def _affine(self, pt: int) -> Point:
        lib = self._lib
        if lib.EC_POINT_is_at_infinity(self._group, pt):
            return None
        if lib.EC_POINT_get_affine_coordinates(self._group, pt, self._bx, self._by, self._ctx) != 1:
            lib.ERR_clear_error()
            raise LibcryptoError("libcrypto: EC_POINT_get_affine_coordinates failed")
        n = self._nbytes
        buf = ctypes.create_string_buffer(2 * n)
        base = ctypes.addressof(buf)
        if lib.BN_bn2binpad(self._bx, base, n) != n or lib.BN_bn2binpad(self._by, base + n, n) != n:
            raise LibcryptoError("libcrypto: a coordinate wider than the field")
        raw = buf.raw
        return int.from_bytes(raw[:n], "big"), int.from_bytes(raw[n:], "big")

    # -- operations (k >= 1; the caller handles 0, negatives and infinity) -------------------------

    @_serialised
    def mul_add(self, k: int, P: tuple[int, int] | None, Q: Point, base: bool = False) -> Point:
        """k*P + Q (``base``: k*G + Q, P ignored); Q may be None."""
        lib = self._lib
        g = self._group
        bk = self._bn(k)
        pts: list[int] = []
        try:
            r = lib.EC_POINT_new(g)
            pts.append(r)
            if base:
                ok = lib.EC_POINT_mul(g, r, bk, None, None, self._ctx)
            else:
                p = self._point(P)
                pts.append(p)
                ok = lib.EC_POINT_mul(g, r, None, p, bk, self._ctx)
            if ok == 1 and Q is not None:
                q = self._point(Q)
                pts.append(q)
                ok = lib.EC_POINT_add(g, r, r, q, self._ctx)
            if ok != 1:
                lib.ERR_clear_error()
                raise LibcryptoError("libcrypto: EC_POINT_mul failed")
            return self._affine(r)
        finally:
            lib.BN_free(bk)
            for pt in pts:
                lib.EC_POINT_free(pt)

    # -- SEC1 compressed encodings (x != 0: the caller handles the 2-torsion point) -------------------

    @_serialised
    def decompress(self, data: bytes) -> tuple[int, int] | None:
        """The point 02|03 || x encodes, or None when x is not the abscissa of a curve point."""
        lib = self._lib
        pt = lib.EC_POINT_new(self._group)
        try:
            if lib.EC_POINT_oct2point(self._group, pt, data, len(data), self._ctx) != 1:
                lib.ERR_clear_error()
                return None
            return self._affine(pt)
        finally:
            lib.EC_POINT_free(pt)

    @_serialised
    def compress(self, P: tuple[int, int]) -> bytes:
        lib = self._lib
        pt = self._point(P)
        try:
            size = self._nbytes + 1
            buf = ctypes.create_string_buffer(size)
            if lib.EC_POINT_point2oct(self._group, pt, _COMPRESSED, ctypes.addressof(buf), size, self._ctx) != size:
                lib.ERR_clear_error()
                raise LibcryptoError("libcrypto: EC_POINT_point2oct failed")
            return buf.raw
        finally:
            lib.EC_POINT_free(pt)


_COMPRESSED = 2  # POINT_CONVERSION_COMPRESSED
_LIB: ctypes.CDLL | None = None
_LIB_TRIED = False


def load(name: str, nbytes: int) -> LibcryptoCurve | None:
    """libcrypto's arithmetic for curve ``name``, or None (no libcrypto, no such curve, or opted out)."""
    global _LIB, _LIB_TRIED
    if os.environ.get("RIG_EC_BACKEND", "").lower() == "python" or name not in _NIDS:
        return None
    if not _LIB_TRIED:
        _LIB_TRIED = True
        _LIB = _open_libcrypto()
    if _LIB is None:
        return None
    nid = _LIB.OBJ_sn2nid(_NIDS[name])
    group = _LIB.EC_GROUP_new_by_curve_name(nid) if nid > 0 else None
    if not group:  # an OpenSSL built without binary curves (no-ec2m)
        _LIB.ERR_clear_error()
        return None
    return LibcryptoCurve(_LIB, group, nbytes)
