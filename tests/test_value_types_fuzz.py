"""Bad arguments to the pure value layer raise a MeshError, never a stray builtin error.

Every public callable of :mod:`meshtrio.slicing`, :mod:`meshtrio.ids`, :mod:`meshtrio.addr`,
:mod:`meshtrio.status`, :mod:`meshtrio.bootstrap` and :mod:`meshtrio.host_ref` is listed in
:data:`CASES` with a strategy for a valid receiver (where it is a method) and, per argument, a
strategy that mixes valid values with arbitrary Python objects (:func:`junk`). Each call must
return or raise a :class:`meshtrio.errors.MeshError`; a TypeError, AttributeError, IndexError,
KeyError, ValueError, OverflowError... that is not also a MeshError fails the test.

Left out on purpose: the comparison operators of ids and statuses (``<`` against another type
returns NotImplemented, so Python itself raises TypeError), ``FrozenEnv[key]`` for a missing
key (the Mapping protocol requires KeyError; ``.get`` is fuzzed instead), ``FrozenEnv``
attribute assignment (AttributeError is how immutability is reported) and the ``str`` methods
a :class:`Label` inherits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from meshtrio.addr import ChannelAddr
from meshtrio.bootstrap import BootstrapCommand, FrozenEnv
from meshtrio.errors import MeshError
from meshtrio.host_ref import HostMeshRef, HostRef
from meshtrio.ids import (
    HostMeshId,
    Label,
    ProcId,
    ProcMeshId,
    base58_decode,
    base58_encode,
    proc_id,
)
from meshtrio.slicing import Extent, Point, Region, ValueMesh
from meshtrio.slicing.extent import row_major_strides
from meshtrio.slicing.grammar import (
    ParsedRegion,
    Token,
    format_region,
    is_safe_label,
    parse_region_text,
    quote_label,
    tokenize,
)
from meshtrio.slicing.region import check_slice
from meshtrio.status import ProcState, Status, StatusKind

Strategy = st.SearchStrategy[Any]

# --------------------------------------------------------------------------- valid values

EXT = Extent(x=2, y=3)
EXTENTS = [EXT, Extent.unity(), Extent(z=0), Extent(y=2, w=1)]
REGIONS = [
    EXT.region(),
    Region.parse("1+a=2/4,b=2/1"),
    Region.parse(""),
    Region.parse("x=2/3"),
    Region.parse("x=0/1,y=2/2"),
]
REGION = REGIONS[1]
POINTS = [Point(4, EXT), Point(0, Extent.unity())]
ADDRS = [
    ChannelAddr.parse("tcp:127.0.0.1:7"),
    ChannelAddr.parse("tcp:[::1]:0"),
    ChannelAddr.parse("unix:/tmp/a.sock"),
    ChannelAddr.parse("unix:@abs"),
    ChannelAddr.parse("unix:"),
    ChannelAddr.parse("local:3"),
]
HOST_IDS = [HostMeshId.singleton("hm"), HostMeshId.from_uid(5, "web"), HostMeshId.from_uid(7)]
PROC_MESH_IDS = [ProcMeshId.singleton("pm"), ProcMeshId.from_uid(9, "trainer")]
STATUSES = [Status.RUNNING, Status.failed("boom"), Status.timeout(1.5), Status.UNKNOWN]
COMMAND = BootstrapCommand("/bin/true", ("-x",), {"A": "1"}, "true")
HOST_REF = HostMeshRef(HOST_IDS[0], REGION, ADDRS[:4])
VALUE_MESH = ValueMesh(REGION, ["a", "b", "c", "d"])
STATE_FIELDS: dict[str, Any] = {
    "status": Status.RUNNING,
    "proc_id": "trainer-0",
    "create_rank": 0,
    "host_rank": 1,
    "host": "tcp:127.0.0.1:7",
    "pid": 42,
    "started_at": 1.0,
    "updated_at": 2.0,
    "exit_code": None,
    "signal": None,
    "stderr_tail": ("line",),
}
STATE = ProcState(**STATE_FIELDS)

# --------------------------------------------------------------------------- junk

_HUGE = 10**5000  # too many digits for str(): formatting it in a message raises ValueError


class _Opaque:
    """An object of a type no meshtrio API expects."""


_SPECIAL: list[object] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    3,
    2**63,
    2**64,
    -(2**64),
    10**30,
    _HUGE,
    -_HUGE,
    0.0,
    -0.0,
    0.5,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    1j,
    "",
    " ",
    "x",
    "y",
    "a",
    "host",
    "-1",
    "\x00",
    "\ud800",
    "\u2028",
    "🙂",
    "a=b",
    "x=2/1",
    "tcp:127.0.0.1:1",
    "unix:@x",
    "local:3",
    "Running",
    "Failed(x)",
    "Timeout(1s)",
    "hm:local:1@x=1/1",
    "x" * 5000,
    b"",
    b"x",
    bytearray(b"x"),
    [],
    {},
    (),
    set(),
    frozenset(),
    [_HUGE],
    (_HUGE,),
    {"x": 1},
    {"x": _HUGE},
    {"x": "y"},
    {1: 2},
    {None: None},
    [("x", 2)],
    [("x", -1)],
    [["x", 2]],
    ("x", 2),
    [1, 2],
    ["a", "b"],
    [None],
    ["\x00"],
    slice(None),
    slice(0, _HUGE),
    slice(_HUGE, None),
    slice(0, 2, 0),
    slice("a", "b"),
    slice(None, None, 1.5),
    range(0),
    range(-5, 5, 2),
    range(_HUGE),
    Ellipsis,
    NotImplemented,
    object(),
    _Opaque(),
    int,
    EXT,
    REGION,
    POINTS[0],
    VALUE_MESH,
    ADDRS[0],
    HOST_IDS[1],
    PROC_MESH_IDS[1],
    Label("lab"),
    Status.RUNNING,
    StatusKind.FAILED,
    STATE,
    COMMAND,
    FrozenEnv({"K": "v"}),
    HostRef(ADDRS[0]),
    HOST_REF,
]


def _leaves() -> Strategy:
    return st.one_of(
        st.sampled_from(_SPECIAL),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.binary(max_size=4),
        st.builds(object),
    )


def _hashable_leaves() -> Strategy:
    return st.one_of(st.integers(), st.text(max_size=4), st.none(), st.booleans())


def _containers(children: Strategy) -> Strategy:
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(_hashable_leaves(), children, max_size=3),
        st.sets(_hashable_leaves(), max_size=3),
        st.frozensets(_hashable_leaves(), max_size=3),
    )


JUNK: Strategy = st.recursive(_leaves(), _containers, max_leaves=6)
"""Arbitrary Python objects: scalars, odd text, bytes, nested containers, meshtrio values."""


def j(valid: Strategy) -> Strategy:
    """``valid`` or junk."""
    return st.one_of(valid, JUNK)


def pool(values: Sequence[Any]) -> Strategy:
    """One of ``values``."""
    return st.sampled_from(list(values))


SMALL = st.integers(-4, 8)
LABELS = st.sampled_from(["x", "y", "a", "b", "z", "hosts", ""])
TEXT = st.text(max_size=12)
SIZES = st.lists(st.integers(0, 4), max_size=3)
SELECTORS = st.one_of(
    SMALL,
    st.builds(slice, st.none() | SMALL, st.none() | SMALL, st.none() | st.integers(-1, 3)),
    st.builds(range, SMALL, SMALL, st.integers(1, 3)),
)
ADDR_TEXT = st.sampled_from([str(a) for a in ADDRS]) | TEXT
HOST_VALUES = pool(ADDRS) | pool([str(a) for a in ADDRS]) | pool([HostRef(a) for a in ADDRS])
ID_CLASSES = (HostMeshId, ProcMeshId, ProcId)

# --------------------------------------------------------------------------- the table


@attrs.frozen
class Case:
    """One public callable: ``call(*drawn)`` with one value drawn from each of ``args``.

    Attributes:
        name: how the callable is spelled.
        call: invokes it (methods take their receiver as the first drawn value).
        args: one strategy per positional value, receiver first (receivers are never junk).
    """

    name: str
    call: Callable[..., object]
    args: tuple[Strategy, ...] = ()


def _extent_cases() -> list[Case]:
    ext = pool(EXTENTS)
    return [
        Case("Extent(**sizes)", lambda kw: Extent(**kw), (st.dictionaries(TEXT, j(SMALL)),)),
        Case("Extent.from_pairs", Extent.from_pairs, (j(st.lists(st.tuples(LABELS, SMALL))),)),
        Case("Extent.unity", Extent.unity),
        Case("Extent.num_ranks", lambda e: e.num_ranks, (ext,)),
        Case("Extent.position", Extent.position, (ext, j(LABELS))),
        Case("Extent.size", Extent.size, (ext, j(LABELS))),
        Case("Extent.concat", Extent.concat, (ext, j(pool(EXTENTS)))),
        Case("Extent.point_of_rank", Extent.point_of_rank, (ext, j(SMALL))),
        Case(
            "Extent.rank_of",
            Extent.rank_of,
            (ext, j(pool(POINTS) | st.dictionaries(LABELS, j(SMALL), max_size=3))),
        ),
        Case("Extent.region", Extent.region, (ext,)),
        Case("str(Extent)", str, (ext,)),
        Case("row_major_strides", row_major_strides, (j(SIZES),)),
        Case("Point", Point, (j(SMALL), j(pool(EXTENTS)))),
        Case("Point[label]", lambda p, label: p[label], (pool(POINTS), j(LABELS))),
        Case("str(Point)", str, (pool(POINTS),)),
    ]


def _grammar_cases() -> list[Case]:
    return [
        Case("is_safe_label", is_safe_label, (j(TEXT),)),
        Case("quote_label", quote_label, (j(TEXT),)),
        Case(
            "format_region",
            format_region,
            (j(st.lists(LABELS, max_size=2)), j(SMALL), j(SIZES), j(SIZES)),
        ),
        Case("tokenize", tokenize, (j(TEXT),)),
        Case("parse_region_text", parse_region_text, (j(TEXT),)),
        Case("Token", Token, (JUNK, JUNK, JUNK, JUNK)),
        Case("ParsedRegion", ParsedRegion, (JUNK, JUNK, JUNK, JUNK)),
    ]


def _region_cases() -> list[Case]:
    reg = pool(REGIONS)
    return [
        Case("check_slice", check_slice, (j(SMALL), j(SIZES), j(SIZES))),
        Case("Region", Region, (j(st.lists(LABELS, max_size=3)), j(SMALL), j(SIZES), j(SIZES))),
        Case("Region.parse", Region.parse, (j(TEXT),)),
        Case("Region.extent", lambda r: r.extent, (reg,)),
        Case("Region.num_ranks", lambda r: r.num_ranks, (reg,)),
        Case("str(Region)", str, (reg,)),
        Case("Region.point_of_rank", Region.point_of_rank, (reg, j(SMALL))),
        Case("Region.base_ranks", Region.base_ranks, (reg,)),
        Case("Region.base_rank", Region.base_rank, (reg, j(SMALL))),
        Case("Region.dense_index", Region.dense_index, (reg, j(SMALL))),
        Case("Region.contains", Region.contains, (reg, j(SMALL))),
        Case("Region.is_subset", Region.is_subset, (reg, j(pool(REGIONS)))),
        Case("Region.remap", Region.remap, (reg, j(pool(REGIONS)))),
        Case("Region.range", Region.range, (reg, j(LABELS), j(SELECTORS))),
        Case("Region.at", Region.at, (reg, j(LABELS), j(SMALL))),
    ]


def _value_mesh_cases() -> list[Case]:
    vm = st.just(VALUE_MESH)
    return [
        Case("ValueMesh", ValueMesh, (j(pool(REGIONS)), j(st.lists(JUNK, max_size=4)))),
        Case("ValueMesh.from_single", ValueMesh.from_single, (j(pool(REGIONS)), JUNK)),
        Case("ValueMesh.values", ValueMesh.values, (vm,)),
        Case("ValueMesh.items", ValueMesh.items, (vm,)),
        Case("ValueMesh.get", ValueMesh.get, (vm, j(SMALL))),
        Case("ValueMesh.map", ValueMesh.map, (vm, j(st.just(repr)))),
        Case("len(ValueMesh)", len, (vm,)),
        Case("iter(ValueMesh)", lambda m: list(m), (vm,)),
    ]


def _id_cases() -> list[Case]:
    uid = st.integers(0, 2**64 - 1)
    label = st.sampled_from(["web", "host", "proc", "a-b", "x" * 64, "Bad", "", "w-11111111111"])
    cases = [
        Case("base58_encode", base58_encode, (j(uid), j(st.integers(0, 12)))),
        Case("base58_decode", base58_decode, (j(TEXT),)),
        Case("Label", Label, (j(label),)),
        Case("Label.strip", Label.strip, (j(TEXT),)),
        Case("proc_id", proc_id, (j(pool(PROC_MESH_IDS)), j(SMALL))),
    ]
    for cls in ID_CLASSES:
        n = cls.__name__
        ids = st.sampled_from([cls.singleton("one"), cls.from_uid(3), cls.from_uid(4, "lab")])
        cases += [
            Case(n, lambda lab, u, c=cls: c(label=lab, uid=u), (j(st.none() | label), j(uid))),
            Case(f"{n}.singleton", cls.singleton, (j(label),)),
            Case(f"{n}.instance", cls.instance, (j(st.none() | label),)),
            Case(f"{n}.from_uid", cls.from_uid, (j(uid), j(st.none() | label))),
            Case(f"{n}.parse", cls.parse, (j(TEXT | label),)),
            Case(f"{n}.is_singleton", lambda i: i.is_singleton, (ids,)),
            Case(f"str({n})", str, (ids,)),
            Case(f"{n} == other", lambda i, o: (i == o, hash(i)), (ids, JUNK)),
        ]
    return cases


def _addr_cases() -> list[Case]:
    addr = pool(ADDRS)
    return [
        Case(
            "ChannelAddr(**fields)",
            lambda t, h, p, pa, ab, ix: ChannelAddr(
                transport=t, host=h, port=p, path=pa, abstract=ab, index=ix
            ),
            (
                j(st.sampled_from(["tcp", "unix", "local"])),
                j(st.none() | st.just("127.0.0.1")),
                j(st.none() | SMALL),
                j(st.none() | TEXT),
                j(st.booleans()),
                j(st.none() | SMALL),
            ),
        ),
        Case("ChannelAddr.tcp", ChannelAddr.tcp, (j(st.just("::1") | TEXT), j(SMALL))),
        Case("ChannelAddr.unix", ChannelAddr.unix, (j(TEXT),)),
        Case("ChannelAddr.unix_abstract", ChannelAddr.unix_abstract, (j(TEXT),)),
        Case("ChannelAddr.local", ChannelAddr.local, (j(SMALL),)),
        Case("ChannelAddr.parse", ChannelAddr.parse, (j(ADDR_TEXT),)),
        Case("ChannelAddr.is_any", lambda a: a.is_any, (addr,)),
        Case("ChannelAddr.is_loopback", lambda a: a.is_loopback, (addr,)),
        Case("ChannelAddr.sockaddr", lambda a: a.sockaddr, (addr,)),
        Case("str(ChannelAddr)", str, (addr,)),
    ]


def _state_fields() -> Strategy:
    return st.fixed_dictionaries({k: j(st.just(v)) for k, v in STATE_FIELDS.items()})


def _status_cases() -> list[Case]:
    status = pool(STATUSES)
    kinds = st.sampled_from(list(StatusKind))
    return [
        Case("StatusKind", StatusKind, (j(st.integers(0, 8)),)),
        Case(
            "Status",
            Status,
            (j(kinds), j(st.none() | TEXT), j(st.none() | st.floats(-1, 100))),
        ),
        Case("Status.failed", Status.failed, (j(TEXT),)),
        Case("Status.timeout", Status.timeout, (j(st.floats(-1, 100)),)),
        Case("Status.killed", Status.killed, (j(st.integers(1, 64)), j(st.booleans()))),
        Case("Status.parse", Status.parse, (j(pool([str(s) for s in STATUSES]) | TEXT),)),
        Case(
            "Status predicates",
            lambda s: (
                s.is_terminating,
                s.is_terminated,
                s.is_failure,
                s.is_healthy,
                s.is_not_exist,
                s.is_running,
                s.is_unknown,
            ),
            (status,),
        ),
        Case("str(Status)", str, (status,)),
        Case("Status order", lambda a, b: (a < b, a <= b, a > b, a >= b), (status, status)),
        Case("ProcState(**fields)", lambda kw: ProcState(**kw), (_state_fields(),)),
        Case("str(ProcState)", str, (st.just(STATE),)),
    ]


def _bootstrap_cases() -> list[Case]:
    env = st.just(FrozenEnv({"A": "1", "B": "2"}))
    cmd = st.just(COMMAND)
    return [
        Case("FrozenEnv", FrozenEnv, (j(st.dictionaries(TEXT, TEXT, max_size=3)),)),
        Case("FrozenEnv.get", lambda e, k: e.get(k), (env, j(TEXT))),
        Case("key in FrozenEnv", lambda e, k: k in e, (env, j(TEXT))),
        Case("FrozenEnv == other", lambda e, o: (e == o, hash(e), len(e), list(e)), (env, JUNK)),
        Case(
            "BootstrapCommand",
            BootstrapCommand,
            (j(TEXT), j(st.lists(TEXT, max_size=2)), j(st.dictionaries(TEXT, TEXT)), j(TEXT)),
        ),
        Case("BootstrapCommand.default", BootstrapCommand.default),
        Case("BootstrapCommand.argv", BootstrapCommand.argv, (cmd,)),
        Case(
            "BootstrapCommand.with_env",
            lambda c, kw: c.with_env(**kw),
            (cmd, st.dictionaries(TEXT, j(TEXT), max_size=3)),
        ),
        Case("BootstrapCommand.to_wire", BootstrapCommand.to_wire, (cmd,)),
        Case(
            "BootstrapCommand.from_wire",
            BootstrapCommand.from_wire,
            (
                j(
                    st.fixed_dictionaries(
                        {"program": j(TEXT)},
                        optional={"args": JUNK, "env": JUNK, "arg0": JUNK, "junk": JUNK},
                    )
                ),
            ),
        ),
    ]


def _host_ref_cases() -> list[Case]:
    ref = st.just(HOST_REF)
    return [
        Case("HostRef", HostRef, (j(pool(ADDRS)),)),
        Case("HostRef.parse", HostRef.parse, (j(ADDR_TEXT),)),
        Case("str(HostRef)", str, (pool([HostRef(a) for a in ADDRS]),)),
        Case(
            "HostMeshRef",
            HostMeshRef,
            (
                j(pool(HOST_IDS)),
                j(pool(REGIONS)),
                j(st.lists(j(HOST_VALUES), max_size=4)),
                j(st.none() | st.just(COMMAND)),
            ),
        ),
        Case(
            "HostMeshRef.from_hosts",
            HostMeshRef.from_hosts,
            (j(pool(HOST_IDS)), j(st.lists(j(HOST_VALUES), max_size=3))),
        ),
        Case("HostMeshRef.parse", HostMeshRef.parse, (j(st.just(str(HOST_REF)) | TEXT),)),
        Case("str(HostMeshRef)", str, (ref,)),
        Case("len(HostMeshRef)", len, (ref,)),
        Case("HostMeshRef.addrs", lambda r: r.addrs, (ref,)),
        Case("HostMeshRef.sliced", HostMeshRef.sliced, (ref, j(pool(REGIONS)))),
        Case("HostMeshRef.range", HostMeshRef.range, (ref, j(LABELS), j(SELECTORS))),
        Case(
            "HostMeshRef.with_bootstrap",
            HostMeshRef.with_bootstrap,
            (ref, j(st.none() | st.just(COMMAND))),
        ),
    ]


CASES: list[Case] = [
    *_extent_cases(),
    *_grammar_cases(),
    *_region_cases(),
    *_value_mesh_cases(),
    *_id_cases(),
    *_addr_cases(),
    *_status_cases(),
    *_bootstrap_cases(),
    *_host_ref_cases(),
]


# --------------------------------------------------------------------------- tests


def test_case_names_are_unique() -> None:
    """Every callable appears once in the table, so a failure names exactly one callable."""
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@given(data=st.data())
def test_public_callable_returns_or_raises_mesh_error(case: Case, data: st.DataObject) -> None:
    """Called with valid or arbitrary arguments, the callable returns or raises a MeshError."""
    args = [data.draw(s) for s in case.args]
    note(f"{case.name}: {[_short(a) for a in args]}")
    try:
        case.call(*args)
    except MeshError:
        pass


def _short(value: object) -> str:
    if isinstance(value, int) and value.bit_length() > 1000:
        return f"<int of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."
