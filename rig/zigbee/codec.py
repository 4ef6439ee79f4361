"""The codec engine behind ``rig.zigbee.frames`` and ``rig.zigbee.zcl``: field kinds, a code generator, ``Frame``.

A layer is a ``Frame`` subclass whose ``FIELDS`` tuple describes its wire format once; from that one
description the class gets a generated decoder (``Layer.decode(buf)``), encoder (``obj.encode()``)
and a keyword-only constructor.  The generated code is straight-line ``struct`` calls (adjacent
fixed-size fields share one ``Struct``), because this is the emulator's hot path: every frame of
every emulated dongle goes through it (see ``bench/air.py`` for the measured cost).

Field kinds: ``UInt`` (``U8`` .. ``U64``, little-endian), ``Bits`` (named bit fields of a 1/2-byte
integer), ``Addr`` (802.15.4 address sized by an addressing-mode field), ``Bytes`` (fixed or computed
length), ``Array``, ``Sub`` (a nested layer), ``Rest`` (the remainder), ``Switch`` (field lists
chosen by a value) and ``Check`` (a rule).  ``when=`` makes a field optional on an expression over
earlier field names; a field that is absent is ``None``.  Flag bits that only say "this optional
field is present" are filled in by the constructor when left out (``AUTO``), and ``encode`` refuses
a value whose presence flag is clear.

Bad bytes raise ``FrameError`` (a ``ValueError``) naming the layer, field and offset; the generated
decoders raise nothing else for any input (fuzzed in ``tests/zigbee``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, ClassVar

# ---------------------------------------------------------------------------------------------
# Errors


class FrameError(ValueError):
    """Bytes that are not a valid frame of the layer being decoded (or values that cannot be encoded)."""

    def __init__(self, layer: str, field: str, offset: int | None, reason: str) -> None:
        self.layer = layer
        self.field = field
        self.offset = offset
        self.reason = reason
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{layer}.{field}{where}: {reason}")



# ---------------------------------------------------------------------------------------------
# Field descriptions


class _Field:
    """One named value on the wire; ``when`` is a Python expression over earlier field names."""

    fixed: int = 0  # size in bytes when it can share a Struct with its neighbours, else 0

    def __init__(self, name: str, when: str | None = None, default: Any = None) -> None:
        self.name = name
        self.when = when
        self.default = default

    def names(self) -> list[str]:
        return [self.name]


class UInt(_Field):
    """Unsigned little-endian integer of 1, 2, 3, 4 or 8 bytes."""

    _CODES: ClassVar[dict[int, str]] = {1: "B", 2: "H", 3: "HB", 4: "I", 8: "Q"}

    def __init__(self, name: str, size: int, when: str | None = None, default: Any = None) -> None:
        super().__init__(name, when, default)
        self.size = size
        self.code = self._CODES[size]
        self.fixed = size


def U8(name: str, when: str | None = None, default: Any = None) -> UInt:
    return UInt(name, 1, when, default)


def U16(name: str, when: str | None = None, default: Any = None) -> UInt:
    return UInt(name, 2, when, default)


def U24(name: str, when: str | None = None, default: Any = None) -> UInt:
    return UInt(name, 3, when, default)


def U32(name: str, when: str | None = None, default: Any = None) -> UInt:
    return UInt(name, 4, when, default)


def U64(name: str, when: str | None = None, default: Any = None) -> UInt:
    return UInt(name, 8, when, default)


class Bits(_Field):
    """A 1/2-byte little-endian integer split into named bit fields ``(name, lsb, width[, default])``."""

    def __init__(self, size: int, *parts: tuple, when: str | None = None, name: str | None = None) -> None:
        super().__init__(name or "+".join(p[0] for p in parts), when)
        self.size = size
        self.code = UInt._CODES[size]
        self.fixed = size
        self.parts = [(p[0], p[1], p[2], p[3] if len(p) > 3 else 0) for p in parts]
        used = 0
        for part, lsb, width, _ in self.parts:
            mask = ((1 << width) - 1) << lsb
            if used & mask or lsb + width > size * 8:
                raise ValueError(f"bit field {part} overlaps or overflows")
            used |= mask

    def names(self) -> list[str]:
        return [p[0] for p in self.parts]


class Addr(_Field):
    """802.15.4 address whose size follows an addressing-mode field: 0 none, 2 short, 3 EUI-64."""

    def __init__(self, name: str, mode: str) -> None:
        super().__init__(name)
        self.mode = mode


class Bytes(_Field):
    """Raw bytes of a fixed length or of a length given by an expression."""

    def __init__(self, name: str, length: int | str, when: str | None = None) -> None:
        super().__init__(name, when)
        self.length = length


class Array(_Field):
    """``count`` items, each a struct code (``"H"``, ``"Q"``) or a ``Frame`` subclass."""

    def __init__(self, name: str, item: str | type, count: str, when: str | None = None) -> None:
        super().__init__(name, when)
        self.item = item
        self.count = count


class Sub(_Field):
    """A nested layer (e.g. the auxiliary security header)."""

    def __init__(self, name: str, layer: type, when: str | None = None) -> None:
        super().__init__(name, when)
        self.layer = layer


class Rest(_Field):
    """Everything up to the end of the buffer."""

    def __init__(self, name: str = "payload") -> None:
        super().__init__(name, None, b"")


class Switch:
    """Field lists chosen by the value of ``selector`` (an expression); keys may be tuples of values."""

    def __init__(self, selector: str, cases: dict, default: list | None = None) -> None:
        self.selector = selector
        self.cases = cases
        self.default = default or []
        self.when = None


class Check:
    """Decode/encode-time rule: ``expr`` must hold, else FrameError on ``field``."""

    def __init__(self, expr: str, field: str, reason: str) -> None:
        self.expr = expr
        self.field = field
        self.reason = reason
        self.when = None


# ---------------------------------------------------------------------------------------------
# Code generation


def _short(layer: str, spec: tuple, off: int, end: int) -> None:
    """Raise the FrameError for a run of fixed fields that does not fit in ``buf[off:end]``."""
    for name, size in spec:
        if off + size > end:
            raise FrameError(layer, name, off, f"needs {size} byte(s), {max(0, end - off)} left")
        off += size
    raise FrameError(layer, spec[0][0], off, "truncated")  # pragma: no cover - unreachable


def _bits_range(layer: str, spec: tuple, values: tuple) -> None:
    for (name, width), value in zip(spec, values, strict=True):
        if value >> width:
            raise FrameError(layer, name, None, f"value {value!r} does not fit in {width} bit(s)")


def _iter_fields(fields: Iterable) -> Iterable:
    for f in fields:
        if isinstance(f, Switch):
            for case in f.cases.values():
                yield from _iter_fields(case)
            yield from _iter_fields(f.default)
        else:
            yield f


def _case_test(key: Any) -> str:
    if isinstance(key, tuple):
        return f"_s in {key!r}"
    return f"_s == {key!r}"


class _Gen:
    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.layer = cls.__name__
        self.ns: dict[str, Any] = {
            "FrameError": FrameError,
            "_short": _short,
            "_bits_range": _bits_range,
            "_unpack_from": struct.unpack_from,
            "_pack": struct.pack,
            "_struct_error": struct.error,
            "_new": object.__new__,
            "LAYER": self.layer,
        }
        self.nconst = 0
        self.nrun = 0
        self.defaults: dict[str, Any] = {}
        self.field_run: dict[str, str] = {}

    def const(self, value: Any, prefix: str = "_c") -> str:
        self.nconst += 1
        name = f"{prefix}{self.nconst}"
        self.ns[name] = value
        return name

    # -- grouping adjacent fixed-size fields with the same condition into one Struct

    @staticmethod
    def runs(fields: Iterable) -> list:
        out: list = []
        for f in fields:
            if isinstance(f, (UInt, Bits)):
                if out and isinstance(out[-1], list) and out[-1][0].when == f.when:
                    out[-1].append(f)
                    continue
                out.append([f])
            else:
                out.append(f)
        return out

    @staticmethod
    def switch(item: Switch, ind: str, lines: list[str], emit) -> None:
        """An if/elif chain over the selector's cases; ``emit`` generates each branch (decode or encode)."""
        lines.append(f"{ind}_s = {item.selector}")
        kw = "if"
        for key, case in item.cases.items():
            lines.append(f"{ind}{kw} {_case_test(key)}:")
            lines.append(f"{ind}    pass")
            emit(case, ind + "    ", lines)
            kw = "elif"
        if item.default:
            lines.append(f"{ind}else:")
            lines.append(f"{ind}    pass")
            emit(item.default, ind + "    ", lines)

    # -- decode

    def decode(self, fields: list, ind: str, lines: list[str]) -> None:
        for item in self.runs(fields):
            if isinstance(item, list):
                self.decode_run(item, ind, lines)
            elif isinstance(item, Switch):
                self.switch(item, ind, lines, self.decode)
            elif isinstance(item, Check):
                off = self.field_run.get(item.field, "off")
                lines.append(f"{ind}if not ({item.expr}):")
                lines.append(f"{ind}    raise FrameError(LAYER, {item.field!r}, {off}, {item.reason!r})")
            else:
                inner = ind
                if item.when:
                    lines.append(f"{ind}if {item.when}:")
                    inner = ind + "    "
                self.decode_one(item, inner, lines)

    def decode_run(self, run: list, ind: str, lines: list[str]) -> None:
        if run[0].when:
            lines.append(f"{ind}if {run[0].when}:")
            ind += "    "
        size = sum(f.fixed for f in run)
        st = self.const(struct.Struct("<" + "".join(f.code for f in run)), "_S")
        spec = self.const(tuple((n, f.fixed) for f in run for n in [f.name]))
        self.nrun += 1
        ovar = f"_o{self.nrun}"
        targets, post = [], []
        for f in run:
            for n in f.names():
                self.field_run[n] = ovar
            if isinstance(f, Bits):
                tmp = f"_b{self.nrun}_{len(targets)}"
                targets.append(tmp)
                for name, lsb, width, _ in f.parts:
                    expr = f"{tmp} >> {lsb}" if lsb else tmp
                    if lsb + width < f.size * 8:
                        expr = f"({expr}) & {(1 << width) - 1:#x}"
                    post.append(f"{name} = {expr}")
            elif f.size == 3:
                lo, hi = f"_lo{self.nrun}", f"_hi{self.nrun}"
                targets += [lo, hi]
                post.append(f"{f.name} = {lo} | ({hi} << 16)")
            else:
                targets.append(f.name)
        lines.append(f"{ind}{ovar} = off")
        lines.append(f"{ind}if off + {size} > end:")
        lines.append(f"{ind}    _short(LAYER, {spec}, off, end)")
        lines.append(f"{ind}{', '.join(targets)}, = {st}.unpack_from(buf, off)")
        lines.append(f"{ind}off += {size}")
        lines.extend(f"{ind}{p}" for p in post)

    def decode_one(self, f: _Field, ind: str, lines: list[str]) -> None:
        n = f.name
        a = lines.append
        if isinstance(f, Addr):
            a(f"{ind}if {f.mode} == 2:")
            a(f"{ind}    if off + 2 > end:")
            a(f"{ind}        _short(LAYER, (({n!r}, 2),), off, end)")
            a(f"{ind}    {n}, = _H.unpack_from(buf, off)")
            a(f"{ind}    off += 2")
            a(f"{ind}elif {f.mode} == 3:")
            a(f"{ind}    if off + 8 > end:")
            a(f"{ind}        _short(LAYER, (({n!r}, 8),), off, end)")
            a(f"{ind}    {n}, = _Q.unpack_from(buf, off)")
            a(f"{ind}    off += 8")
            a(f"{ind}elif {f.mode}:")
            a(f"{ind}    raise FrameError(LAYER, {f.mode!r}, {self.field_run.get(f.mode, 'off')}, "
              "'reserved addressing mode 1')")
        elif isinstance(f, Bytes):
            a(f"{ind}_n = {f.length}")
            a(f"{ind}if off + _n > end:")
            a(f"{ind}    _short(LAYER, (({n!r}, _n),), off, end)")
            a(f"{ind}{n} = bytes(buf[off:off + _n])")
            a(f"{ind}off += _n")
        elif isinstance(f, Array):
            a(f"{ind}_n = {f.count}")
            if isinstance(f.item, str):
                isz = struct.calcsize("<" + f.item)
                a(f"{ind}if off + _n * {isz} > end:")
                a(f"{ind}    raise FrameError(LAYER, {n!r}, off, "
                  f"f'{{_n}} item(s) of {isz} byte(s) need {{_n * {isz}}}, {{end - off}} left')")
                a(f"{ind}{n} = list(_unpack_from('<%d{f.item}' % _n, buf, off))")
                a(f"{ind}off += _n * {isz}")
            else:
                item = self.const(f.item, "_L")
                a(f"{ind}{n} = []")
                a(f"{ind}for _ in range(_n):")
                a(f"{ind}    _it, off = {item}._decode_from(buf, off, end)")
                a(f"{ind}    {n}.append(_it)")
        elif isinstance(f, Sub):
            sub = self.const(f.layer, "_L")
            a(f"{ind}{n}, off = {sub}._decode_from(buf, off, end)")
        elif isinstance(f, Rest):
            a(f"{ind}{n} = bytes(buf[off:end])")
            a(f"{ind}off = end")
        else:  # pragma: no cover - all kinds handled above
            raise TypeError(f)

    # -- encode

    def encode(self, fields: list, ind: str, lines: list[str]) -> None:
        for item in self.runs(fields):
            if isinstance(item, list):
                self.encode_run(item, ind, lines)
            elif isinstance(item, Switch):
                self.switch(item, ind, lines, self.encode)
            elif isinstance(item, Check):
                lines.append(f"{ind}if not ({item.expr}):")
                lines.append(f"{ind}    raise FrameError(LAYER, {item.field!r}, None, {item.reason!r})")
            else:
                inner = ind
                if item.when:
                    lines.append(f"{ind}if {item.when}:")
                    inner = ind + "    "
                self.encode_one(item, inner, lines)
                if item.when and not isinstance(item, Rest):
                    self.absent_check([item.name], item.when, ind, lines)

    def absent_check(self, names: list[str], when: str, ind: str, lines: list[str]) -> None:
        lines.append(f"{ind}elif {' or '.join(f'{n} is not None' for n in names)}:")
        lines.append(f"{ind}    _absent(LAYER, {tuple(names)!r}, ({', '.join(names)},), {when!r})")

    def encode_run(self, run: list, ind: str, lines: list[str]) -> None:
        inner = ind
        if run[0].when:
            lines.append(f"{ind}if {run[0].when}:")
            inner = ind + "    "
        st = self.const(struct.Struct("<" + "".join(f.code for f in run)), "_S")
        names = [n for f in run for n in f.names()]
        lines.append(f"{inner}_f = {', '.join(f.name for f in run)!r}")
        args = []
        for f in run:
            if isinstance(f, Bits):
                # bits of an optional bit field (constructor default None): None means the declared default
                for p in f.parts:
                    if self.defaults.get(p[0]) is None:
                        lines.append(f"{inner}if {p[0]} is None:")
                        lines.append(f"{inner}    {p[0]} = {p[3]}")
        for f in run:
            if isinstance(f, Bits):
                spec = self.const(tuple((p[0], p[2]) for p in f.parts))
                vals = [p[0] for p in f.parts]
                test = " or ".join(f"{p[0]} >> {p[2]}" for p in f.parts)
                lines.append(f"{inner}if {test}:")
                lines.append(f"{inner}    _bits_range(LAYER, {spec}, ({', '.join(vals)},))")
                args.append("(" + " | ".join(f"({p[0]} << {p[1]})" if p[1] else p[0] for p in f.parts) + ")")
            elif f.size == 3:
                args += [f"{f.name} & 0xffff", f"{f.name} >> 16"]
            else:
                args.append(f.name)
        lines.append(f"{inner}_out.append({st}.pack({', '.join(args)}))")
        if run[0].when:
            self.absent_check(names, run[0].when, ind, lines)

    def encode_one(self, f: _Field, ind: str, lines: list[str]) -> None:
        n = f.name
        a = lines.append
        a(f"{ind}_f = {n!r}")
        if isinstance(f, Addr):
            a(f"{ind}if {f.mode} == 2:")
            a(f"{ind}    _out.append(_H.pack({n}))")
            a(f"{ind}elif {f.mode} == 3:")
            a(f"{ind}    _out.append(_Q.pack({n}))")
            a(f"{ind}elif {f.mode}:")
            a(f"{ind}    raise FrameError(LAYER, {f.mode!r}, None, 'reserved addressing mode 1')")
            a(f"{ind}elif {n} is not None:")
            a(f"{ind}    raise FrameError(LAYER, {n!r}, None, 'address given but its addressing mode is 0')")
        elif isinstance(f, Bytes):
            a(f"{ind}if len({n}) != {f.length}:")
            a(f"{ind}    raise FrameError(LAYER, {n!r}, None, f'needs {{{f.length}}} byte(s), got {{len({n})}}')")
            a(f"{ind}_out.append({n})")
        elif isinstance(f, Array):
            a(f"{ind}if {n} is None:")
            a(f"{ind}    {n} = ()")
            a(f"{ind}if len({n}) != {f.count}:")
            a(f"{ind}    raise FrameError(LAYER, {n!r}, None, "
              f"f'{{len({n})}} item(s) where {f.count} says {{{f.count}}}')")
            if isinstance(f.item, str):
                a(f"{ind}_out.append(_pack('<%d{f.item}' % len({n}), *{n}))")
            else:
                a(f"{ind}for _it in {n}:")
                a(f"{ind}    _out.append(_it.encode())")
        elif isinstance(f, Sub):
            a(f"{ind}if {n} is None:")
            a(f"{ind}    raise FrameError(LAYER, {n!r}, None, 'required by the flags but missing')")
            a(f"{ind}_out.append({n}.encode())")
        elif isinstance(f, Rest):
            a(f"{ind}if {n}:")
            a(f"{ind}    _out.append({n})")
        else:  # pragma: no cover
            raise TypeError(f)

    def build(self) -> None:
        cls = self.cls
        fields = list(cls.FIELDS)
        self.ns["_H"] = struct.Struct("<H")
        self.ns["_Q"] = struct.Struct("<Q")
        self.ns["_absent"] = _absent
        self.ns["_tnew"] = tuple.__new__
        names: list[str] = []
        defaults: dict[str, Any] = {}
        top_level = set()
        for f in cls.FIELDS:
            if not isinstance(f, (Switch, Check)):
                top_level.update(f.names())
        for f in _iter_fields(fields):
            if isinstance(f, Check):
                continue
            if isinstance(f, Bits):
                for name, _lsb, _w, dflt in f.parts:
                    if name not in names:
                        names.append(name)
                        defaults[name] = dflt if (f.when is None and name in top_level) else None
            elif f.name not in names:
                names.append(f.name)
                if isinstance(f, Rest):
                    defaults[f.name] = b""
                elif isinstance(f, Array) and f.when is None and f.name in top_level:
                    defaults[f.name] = "list"
                elif f.when is None and f.name in top_level and isinstance(f, UInt):
                    defaults[f.name] = f.default if f.default is not None else 0
                else:
                    defaults[f.name] = f.default
        auto = getattr(cls, "AUTO", {})
        for name in auto:
            defaults[name] = None
        self.defaults = defaults
        cls._names = tuple(names)
        cls._defaults = {n: (None if d == "list" else d) for n, d in defaults.items()}
        tup = "(" + ", ".join(names) + ",)"

        # decode
        lines = ["def _decode_from(cls, buf, off, end):"]
        lines.append("    " + " = ".join(names) + " = None")
        self.decode(fields, "    ", lines)
        lines.append(f"    return _tnew(cls, {tup}), off")

        # encode
        lines.append("def encode(self):")
        lines.append("    _f = None")
        lines.append("    _out = []")
        lines.append(f"    {', '.join(names)}, = self")
        lines.append("    try:")
        self.encode(fields, "        ", lines)
        lines.append("    except (_struct_error, TypeError) as e:")
        lines.append("        raise FrameError(LAYER, _f or '?', None, f'cannot encode: {e}') from None")
        lines.append("    return b''.join(_out)")

        # constructor
        params = []
        for n in names:
            d = defaults[n]
            params.append(f"{n}=None" if d == "list" else f"{n}={self.const(d)}")
        lines.append(f"def __new__(cls, *, {', '.join(params)}):")
        for n in names:
            if defaults[n] == "list":
                lines.append(f"    if {n} is None:")
                lines.append(f"        {n} = []")
        for n, expr in auto.items():
            lines.append(f"    if {n} is None:")
            lines.append(f"        {n} = {expr}")
        for f in _iter_fields(fields):
            # an optional bit field that is partly given: the rest of its bits take their defaults
            if isinstance(f, Bits) and all(defaults[p[0]] is None for p in f.parts):
                lines.append(f"    if {' or '.join(f'{p[0]} is not None' for p in f.parts)}:")
                for p in f.parts:
                    lines.append(f"        if {p[0]} is None:")
                    lines.append(f"            {p[0]} = {p[3]}")
        lines.append(f"    return _tnew(cls, {tup})")

        src = "\n".join(lines) + "\n"
        exec(compile(src, f"<{self.layer} codec>", "exec"), self.ns)  # noqa: S102 - generated from FIELDS
        cls._decode_from = classmethod(self.ns["_decode_from"])
        cls._encode_fields = self.ns["encode"]
        if "encode" not in cls.__dict__:
            cls.encode = self.ns["encode"]
        new = self.ns["__new__"]
        new.__doc__ = f"{cls.__name__}({', '.join(names)}) -- keyword arguments only."
        cls.__new__ = new
        for i, n in enumerate(names):
            setattr(cls, n, property(itemgetter(i), doc=f"{n} (field {i})"))
        cls._source = src


def _absent(layer: str, names: tuple, values: tuple, when: str) -> None:
    for name, value in zip(names, values, strict=True):
        if value is not None:
            raise FrameError(layer, name, None, f"value {value!r} given but absent unless {when}")


def _rebuild(cls: type, values: tuple) -> Frame:
    return tuple.__new__(cls, values)


class Frame(tuple):
    """Base of every layer: an immutable record (a tuple) whose subclasses declare ``FIELDS``.

    Optional class attributes: ``AUTO`` maps a presence flag to the expression the constructor uses
    when the flag is not given.  Change fields with ``frame.replace(name=value)``.
    """

    __slots__ = ()
    FIELDS: ClassVar[tuple] = ()
    _names: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "FIELDS" in cls.__dict__:
            _Gen(cls).build()

    @classmethod
    def _decode_from(cls, buf: Any, off: int, end: int) -> tuple[Frame, int]:  # pragma: no cover
        raise NotImplementedError

    def encode(self) -> bytes:  # pragma: no cover - replaced per subclass
        raise NotImplementedError

    def _encode_fields(self) -> bytes:  # pragma: no cover - replaced per subclass
        raise NotImplementedError

    @classmethod
    def decode(cls, buf: bytes | bytearray | memoryview) -> Any:
        """Decode a whole buffer; trailing bytes the layer does not describe are a FrameError."""
        end = len(buf)
        obj, off = cls._decode_from(buf, 0, end)
        if off != end:
            raise FrameError(cls.__name__, "<end>", off, f"{end - off} trailing byte(s)")
        return obj

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed (presence flags are not recomputed)."""
        out = tuple.__new__(type(self), map(changes.pop, self._names, self))
        if changes:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(changes)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The fields that are present (not None)."""
        return {n: v for n, v in zip(self._names, self, strict=True) if v is not None}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = tuple.__hash__

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), tuple(self)))

    def __repr__(self) -> str:
        parts = []
        for n, v in zip(self._names, self, strict=True):
            if v is None:
                continue
            if isinstance(v, int) and not isinstance(v, bool) and v > 9:
                parts.append(f"{n}={v:#x}")
            else:
                parts.append(f"{n}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


__all__ = [
    "U8",
    "U16",
    "U24",
    "U32",
    "U64",
    "Addr",
    "Array",
    "Bits",
    "Bytes",
    "Check",
    "Frame",
    "FrameError",
    "Rest",
    "Sub",
    "Switch",
    "UInt",
]
