"""Bad arguments to the pure value layer raise a MeshError, never a stray builtin error.

Every public callable of :mod:`meshtrio._slicing`, :mod:`meshtrio._ids`, :mod:`meshtrio._addr`,
:mod:`meshtrio._status`, :mod:`meshtrio._bootstrap` and :mod:`meshtrio._host_ref` is listed in
:data:`CASES`: how to call it, a valid receiver (for a method) and, per argument, a valid
example plus a strategy mixing valid values with arbitrary Python objects (:data:`JUNK`).
Two tests use the table: a sweep that puts every value of :data:`SPECIAL` into each argument
in turn (the others valid), and a Hypothesis test that draws all arguments at once. Each call
must return or raise a :class:`meshtrio.errors.MeshError`; a TypeError, AttributeError,
IndexError, KeyError, ValueError, OverflowError... that is not also a MeshError fails.

Out of scope: inputs that only exhaust time or memory, such as ``range(10**5000)`` as a
sequence of sizes (every element is valid; there are just too many).

Left out on purpose: the comparison operators of ids and statuses (``<`` against another type
returns NotImplemented, so Python itself raises TypeError), ``FrozenEnv[key]`` for a missing
key (the Mapping protocol requires KeyError; ``.get`` is fuzzed instead), ``FrozenEnv``
attribute assignment (AttributeError is how immutability is reported), ``StatusKind(value)``
(a stdlib enum lookup, whose ValueError :class:`Status` turns into an InputError) and the
``str`` methods a :class:`Label` inherits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from meshtrio import (
    BootstrapCommand,
    ChannelAddr,
    Extent,
    HostMeshId,
    HostMeshRef,
    HostRef,
    Label,
    Point,
    ProcId,
    ProcMeshId,
    ProcState,
    Region,
    Status,
    ValueMesh,
)
from meshtrio._bootstrap import FrozenEnv
from meshtrio._ids import base58_decode, base58_encode, proc_id
from meshtrio._slicing.extent import row_major_strides
from meshtrio._slicing.grammar import (
    ParsedPoint,
    ParsedRegion,
    Token,
    format_region,
    is_safe_label,
    parse_point_text,
    parse_region_text,
    quote_label,
    tokenize,
)
from meshtrio._slicing.region import check_slice
from meshtrio._status import StatusKind
from meshtrio.errors import MeshError

Strategy = st.SearchStrategy[Any]

# --------------------------------------------------------------------------- valid values

EXT = Extent(x=2, y=3)
BIG = 2**64 - 1  # the largest size, offset and stride
BIG_EXTENT = Extent(x=BIG, y=BIG)
EXTENTS = [EXT, Extent.unity(), Extent(z=0), Extent(y=2, w=1), BIG_EXTENT]
REGIONS = [
    EXT.region(),
    Region.parse("1+a=2/4,b=2/1"),
    Region.parse(""),
    Region.parse("x=2/3"),
    Region.parse("x=0/1,y=2/2"),
]
REGION = REGIONS[1]
BIG_REGIONS = [Region(["x"], 0, [BIG], [1]), Region(["x", "y"], BIG, [BIG, 2], [2, 1])]
"""Too many ranks to enumerate: never a receiver of base_ranks or remap, nor is_subset's other."""
ANY_REGIONS = [*REGIONS, *BIG_REGIONS]
POINTS = [Point(4, EXT), Point(0, Extent.unity()), Point(2**100, BIG_EXTENT)]
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
INT_MESH = ValueMesh(REGION, [1, 2, 3, 4])  # int, the one class in SPECIAL, maps it cleanly
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


@attrs.frozen(repr=False)
class Late:
    """A value built only when the call is made (Hypothesis cannot print an int of 5000 digits).

    Attributes:
        name: what Hypothesis prints.
        make: builds the value.
    """

    name: str
    make: Callable[[], object] = attrs.field(repr=False)

    def __repr__(self) -> str:
        return self.name


def materialize(value: object) -> object:
    """``value`` with every :class:`Late` inside lists, tuples and dict values built."""
    if isinstance(value, Late):
        return value.make()
    if type(value) is list:
        return [materialize(v) for v in value]
    if type(value) is tuple:
        return tuple(materialize(v) for v in value)
    if type(value) is dict:
        return {k: materialize(v) for k, v in value.items()}
    return value


class _Opaque:
    """An object of a type no meshtrio API expects."""


SPECIAL: list[object] = [  # awkward values, each tried in every argument by the sweep
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
    Late("HUGE", lambda: _HUGE),
    Late("-HUGE", lambda: -_HUGE),
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
    Late("'x' * 5000", lambda: "x" * 5000),
    b"",
    b"x",
    bytearray(b"x"),
    [],
    {},
    (),
    set(),
    frozenset(),
    [Late("HUGE", lambda: _HUGE)],
    (Late("HUGE", lambda: _HUGE),),
    {"x": 1},
    {"x": Late("HUGE", lambda: _HUGE)},
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
    Late("slice(0, HUGE)", lambda: slice(0, _HUGE)),
    Late("slice(HUGE, None)", lambda: slice(_HUGE, None)),
    slice(0, 2, 0),
    slice("a", "b"),
    slice(None, None, 1.5),
    range(0),
    range(-5, 5, 2),
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
        st.sampled_from(SPECIAL),
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


@attrs.frozen
class Arg:
    """One argument of a :class:`Case`.

    Attributes:
        strategy: what the Hypothesis test draws (valid values, often mixed with junk).
        example: a valid value, used while the sweep puts junk into another argument.
        sweep: whether the sweep puts each :data:`SPECIAL` value here (not for receivers).
    """

    strategy: Strategy = attrs.field(repr=False)
    example: object = attrs.field(repr=False)
    sweep: bool = True


def j(example: object, valid: Strategy | None = None) -> Arg:
    """An argument: ``example`` (or a value of ``valid``) or junk."""
    good = st.just(example) if valid is None else st.one_of(st.just(example), valid)
    return Arg(st.one_of(good, JUNK), example)


def recv(values: Sequence[Any]) -> Arg:
    """A receiver: one of ``values``, never junk."""
    return Arg(st.sampled_from(list(values)), values[0], sweep=False)


def kw(strategy: Strategy, example: object) -> Arg:
    """An argument the sweep leaves alone (e.g. a dict passed as ``**kwargs``)."""
    return Arg(strategy, example, sweep=False)


SMALL = st.integers(-4, 8)
LABELS = st.sampled_from(["x", "y", "a", "b", "z", "hosts", ""])
TEXT = st.text(max_size=12)
SIZES = st.lists(st.integers(0, 4), max_size=3)
SELECTORS = st.one_of(
    SMALL,
    st.builds(slice, st.none() | SMALL, st.none() | SMALL, st.none() | st.integers(-1, 3)),
    st.builds(range, SMALL, SMALL, st.integers(1, 3)),
)
ADDR_TEXTS = [str(a) for a in ADDRS]
HOST_REFS = [HostRef(a) for a in ADDRS]
HOST_VALUES = st.sampled_from([*ADDRS, *ADDR_TEXTS, *HOST_REFS])
ID_LABELS = st.sampled_from(["web", "host", "proc", "a-b", "x" * 64, "Bad", "", "w-11111111111"])
UIDS = st.integers(0, 2**64 - 1)

# --------------------------------------------------------------------------- the table


@attrs.frozen
class Case:
    """One public callable and how to call it.

    Attributes:
        name: how the callable is spelled (the test id).
        call: invokes it with one value per argument (a method's receiver first).
        args: the arguments, receiver first.
    """

    name: str
    call: Callable[..., object] = attrs.field(repr=False)
    args: tuple[Arg, ...] = attrs.field(default=(), repr=False)


def case(name: str, call: Callable[..., object], *args: Arg) -> Case:
    """A table row."""
    return Case(name, call, args)


def _extent_cases() -> list[Case]:
    ext = recv(EXTENTS)
    points = recv(POINTS)
    return [
        case("Extent(x=, y=)", lambda x, y: Extent(x=x, y=y), j(2, SMALL), j(3, SMALL)),
        case(
            "Extent(**sizes)",
            lambda d: Extent(**d),
            kw(st.dictionaries(TEXT, j(1, SMALL).strategy, max_size=3), {"x": 1}),
        ),
        case(
            "Extent.from_pairs",
            Extent.from_pairs,
            j([("x", 2)], st.lists(st.tuples(LABELS, SMALL))),
        ),
        case("Extent.unity", Extent.unity),
        case("Extent.num_ranks", lambda e: e.num_ranks, ext),
        case("Extent.position", Extent.position, ext, j("x", LABELS)),
        case("Extent.size", Extent.size, ext, j("x", LABELS)),
        case("Extent.concat", Extent.concat, ext, j(Extent(q=2), st.sampled_from(EXTENTS))),
        case("Extent.point_of_rank", Extent.point_of_rank, ext, j(0, SMALL)),
        case("Extent.point", Extent.point, ext, j([1, 2], st.lists(SMALL, max_size=3))),
        case("Extent.points", lambda e: list(itertools.islice(e.points(), 5)), ext),
        case(
            "Extent.rank_of",
            Extent.rank_of,
            ext,
            j(
                {"x": 1, "y": 2},
                st.sampled_from(POINTS) | st.dictionaries(LABELS, j(1, SMALL).strategy),
            ),
        ),
        case("Extent.region", Extent.region, ext),
        case(
            "Extent.group_by",
            lambda e, label: list(itertools.islice(e.group_by(label), 3)),
            ext,
            j("y", LABELS),
        ),
        case("str(Extent)", str, ext),
        case("row_major_strides", row_major_strides, j([2, 3], SIZES)),
        case("Point", Point, j(1, SMALL), j(EXT, st.sampled_from(EXTENTS))),
        case("Point[label]", lambda p, label: p[label], points, j("x", LABELS)),
        case("str(Point)", str, points),
        case(
            "Point.parse",
            Point.parse,
            j("x=1/2,y=2/3", st.sampled_from([str(p) for p in POINTS]) | TEXT),
        ),
    ]


def _grammar_cases() -> list[Case]:
    return [
        case("is_safe_label", is_safe_label, j("x", TEXT)),
        case("quote_label", quote_label, j("a b", TEXT)),
        case(
            "format_region",
            format_region,
            j(["x"], st.lists(LABELS, max_size=2)),
            j(0, SMALL),
            j([2], SIZES),
            j([1], SIZES),
        ),
        case("tokenize", tokenize, j("x=2/1", TEXT)),
        case("parse_region_text", parse_region_text, j("1+x=2/1", TEXT)),
        case("parse_point_text", parse_point_text, j("x=1/2", TEXT)),
        case("Token", Token, j("word"), j("x"), j(0), j("x")),
        case("ParsedRegion", ParsedRegion, j(("x",)), j(0), j((2,)), j((1,))),
        case("ParsedPoint", ParsedPoint, j(("x",)), j((1,)), j((2,))),
    ]


def _region_cases() -> list[Case]:
    small = recv([REGION, *REGIONS])
    reg = recv([REGION, *REGIONS, *BIG_REGIONS])
    return [
        case("check_slice", check_slice, j(0, SMALL), j([2, 3], SIZES), j([3, 1], SIZES)),
        case(
            "Region",
            Region,
            j(["x", "y"], st.lists(LABELS, max_size=3)),
            j(0, SMALL),
            j([2, 3], SIZES),
            j([3, 1], SIZES),
        ),
        case("Region.parse", Region.parse, j("1+a=2/4,b=2/1", TEXT)),
        case("Region.extent", lambda r: r.extent, reg),
        case("Region.num_ranks", lambda r: r.num_ranks, reg),
        case("str(Region)", str, reg),
        case("Region.point_of_rank", Region.point_of_rank, reg, j(0, SMALL)),
        case("Region.base_ranks", Region.base_ranks, small),
        case("Region.base_rank", Region.base_rank, reg, j(0, SMALL)),
        case("Region.dense_index", Region.dense_index, reg, j(5, SMALL)),
        case("Region.contains", Region.contains, reg, j(5, SMALL)),
        case("Region.point_of_base_rank", Region.point_of_base_rank, reg, j(5, SMALL)),
        case(
            "Region.base_rank_of_point",
            Region.base_rank_of_point,
            reg,
            j(
                REGION.point_of_rank(1),
                st.sampled_from([*POINTS, *(r.point_of_rank(0) for r in REGIONS if r.num_ranks)]),
            ),
        ),
        case("Region.is_subset", Region.is_subset, reg, j(REGION, st.sampled_from(REGIONS))),
        case("Region.remap", Region.remap, small, j(REGION, st.sampled_from(REGIONS))),
        case("Region.range", Region.range, reg, j("a", LABELS), j(slice(0, 1), SELECTORS)),
        case("Region.at", Region.at, reg, j("a", LABELS), j(-1, SMALL)),
        case(
            "Region.group_by",
            lambda r, label: list(itertools.islice(r.group_by(label), 3)),
            reg,
            j("b", LABELS),
        ),
    ]


def _value_mesh_cases() -> list[Case]:
    vm = recv([VALUE_MESH])
    return [
        case(
            "ValueMesh",
            ValueMesh,
            j(REGION, st.sampled_from(ANY_REGIONS)),
            j([1, 2, 3, 4], st.lists(JUNK, max_size=4)),
        ),
        case(
            "ValueMesh.from_single",
            ValueMesh.from_single,
            j(REGION, st.sampled_from(ANY_REGIONS)),
            j(0),
        ),
        case("ValueMesh.values", ValueMesh.values, vm),
        case("ValueMesh.items", ValueMesh.items, vm),
        case("ValueMesh.get", ValueMesh.get, vm, j(0, SMALL)),
        case("ValueMesh.map", ValueMesh.map, recv([INT_MESH]), j(repr)),
        case("len(ValueMesh)", len, vm),
        case("iter(ValueMesh)", list, vm),
    ]


def _id_cases() -> list[Case]:
    cases = [
        case("base58_encode", base58_encode, j(5, UIDS), j(11, st.integers(0, 12))),
        case("base58_decode", base58_decode, j("ZH2a", TEXT)),
        case("Label", Label, j("web", ID_LABELS)),
        case("Label.sanitize", Label.sanitize, j("My Mesh!", TEXT)),
        case("proc_id", proc_id, j(PROC_MESH_IDS[1], st.sampled_from(PROC_MESH_IDS)), j(3, SMALL)),
    ]
    for cls in (HostMeshId, ProcMeshId, ProcId):
        n = cls.__name__
        ids = recv([cls.singleton("one"), cls.from_uid(3), cls.from_uid(4, "lab")])
        label = j("web", st.none() | ID_LABELS)
        cases += [
            case(n, lambda lab, u, c=cls: c(label=lab, uid=u), label, j(5, UIDS)),
            case(f"{n}.singleton", cls.singleton, j("web", ID_LABELS)),
            case(f"{n}.instance", cls.instance, label),
            case(f"{n}.from_uid", cls.from_uid, j(5, UIDS), label),
            case(f"{n}.parse", cls.parse, j("web-1111111111z", TEXT | ID_LABELS)),
            case(f"{n}.is_singleton", lambda i: i.is_singleton, ids),
            case(f"str({n})", str, ids),
            case(f"{n} == other", lambda i, o: (i == o, hash(i)), ids, j(HOST_IDS[0])),
        ]
    return cases


def _addr_cases() -> list[Case]:
    addr = recv(ADDRS)
    return [
        case(
            "ChannelAddr(**fields)",
            lambda t, h, p, pa, ab, ix: ChannelAddr(
                transport=t, host=h, port=p, path=pa, abstract=ab, index=ix
            ),
            j("tcp", st.sampled_from(["tcp", "unix", "local"])),
            j("127.0.0.1", st.none()),
            j(1, st.none() | SMALL),
            j(None, TEXT),
            j(False, st.booleans()),
            j(None, SMALL),
        ),
        case("ChannelAddr.tcp", ChannelAddr.tcp, j("::1", TEXT), j(1, SMALL)),
        case("ChannelAddr.unix", ChannelAddr.unix, j("/tmp/s", TEXT)),
        case("ChannelAddr.unix_abstract", ChannelAddr.unix_abstract, j("name", TEXT)),
        case("ChannelAddr.local", ChannelAddr.local, j(3, SMALL)),
        case(
            "ChannelAddr.parse",
            ChannelAddr.parse,
            j("tcp:[::1]:5", st.sampled_from(ADDR_TEXTS) | TEXT),
        ),
        case("ChannelAddr.is_any", lambda a: a.is_any, addr),
        case("ChannelAddr.is_loopback", lambda a: a.is_loopback, addr),
        case("ChannelAddr.sockaddr", lambda a: a.sockaddr, addr),
        case("str(ChannelAddr)", str, addr),
    ]


def _status_cases() -> list[Case]:
    status = recv(STATUSES)
    state_args = [j(v) for v in STATE_FIELDS.values()]
    return [
        case(
            "Status",
            Status,
            j(StatusKind.RUNNING, st.sampled_from(list(StatusKind))),
            j(None, TEXT),
            j(None, st.floats(-1, 100)),
        ),
        case("Status.failed", Status.failed, j("boom", TEXT)),
        case("Status.timeout", Status.timeout, j(1.5, st.floats(-1, 100))),
        case("Status.killed", Status.killed, j(9, st.integers(-1, 64)), j(False, st.booleans())),
        case(
            "Status.parse",
            Status.parse,
            j("Timeout(2s)", st.sampled_from([str(s) for s in STATUSES]) | TEXT),
        ),
        case(
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
            status,
        ),
        case("str(Status)", str, status),
        case("Status order", lambda a, b: (a < b, a <= b, a > b, a >= b), status, status),
        case(
            "ProcState(**fields)",
            lambda *values: ProcState(**dict(zip(STATE_FIELDS, values, strict=True))),
            *state_args,
        ),
        case("str(ProcState)", str, recv([STATE])),
    ]


def _bootstrap_cases() -> list[Case]:
    env = recv([FrozenEnv({"A": "1", "B": "2"})])
    cmd = recv([COMMAND])
    return [
        case("FrozenEnv", FrozenEnv, j({"A": "1"}, st.dictionaries(TEXT, TEXT, max_size=3))),
        case("FrozenEnv.get", lambda e, k: e.get(k), env, j("A", TEXT)),
        case("key in FrozenEnv", lambda e, k: k in e, env, j("A", TEXT)),
        case(
            "FrozenEnv == other",
            lambda e, o: (e == o, hash(e), len(e), list(e)),
            env,
            j({"A": "1"}),
        ),
        case(
            "BootstrapCommand",
            BootstrapCommand,
            j("/bin/true", TEXT),
            j(("-x",), st.lists(TEXT, max_size=2)),
            j({"A": "1"}, st.dictionaries(TEXT, TEXT)),
            j(None, TEXT),
        ),
        case("BootstrapCommand.default", BootstrapCommand.default),
        case("BootstrapCommand.argv", BootstrapCommand.argv, cmd),
        case("BootstrapCommand.with_env", lambda c, v: c.with_env(K=v), cmd, j("v", TEXT)),
        case(
            "BootstrapCommand.with_env(**extra)",
            lambda c, d: c.with_env(**d),
            cmd,
            kw(st.dictionaries(TEXT, j("v", TEXT).strategy, max_size=3), {"K": "v"}),
        ),
        case("BootstrapCommand.to_wire", BootstrapCommand.to_wire, cmd),
        case(
            "BootstrapCommand.from_wire",
            BootstrapCommand.from_wire,
            j(
                COMMAND.to_wire(),
                st.fixed_dictionaries(
                    {"program": j("p", TEXT).strategy},
                    optional={"args": JUNK, "env": JUNK, "arg0": JUNK, "junk": JUNK},
                ),
            ),
        ),
        case(
            "BootstrapCommand.from_wire(field)",
            lambda field, value: BootstrapCommand.from_wire({**COMMAND.to_wire(), field: value}),
            kw(st.sampled_from(["program", "args", "env", "arg0"]), "program"),
            j("x"),
        ),
    ]


def _host_ref_cases() -> list[Case]:
    ref = recv([HOST_REF])
    hosts = st.lists(st.one_of(HOST_VALUES, JUNK), max_size=4)
    return [
        case("HostRef", HostRef, j(ADDRS[0], st.sampled_from(ADDRS))),
        case("HostRef.parse", HostRef.parse, j("local:1", st.sampled_from(ADDR_TEXTS) | TEXT)),
        case("str(HostRef)", str, recv(HOST_REFS)),
        case(
            "HostMeshRef",
            HostMeshRef,
            j(HOST_IDS[0], st.sampled_from(HOST_IDS)),
            j(REGION, st.sampled_from(ANY_REGIONS)),
            j(ADDRS[:4], hosts),
            j(None, st.just(COMMAND)),
        ),
        case(
            "HostMeshRef.from_hosts",
            HostMeshRef.from_hosts,
            j(HOST_IDS[0], st.sampled_from(HOST_IDS)),
            j(ADDR_TEXTS[:2], hosts),
        ),
        case("HostMeshRef.parse", HostMeshRef.parse, j(str(HOST_REF), TEXT)),
        case("str(HostMeshRef)", str, ref),
        case("len(HostMeshRef)", len, ref),
        case("HostMeshRef.addrs", lambda r: r.addrs, ref),
        case(
            "HostMeshRef.sliced",
            HostMeshRef.sliced,
            ref,
            j(REGION.at("a", 0), st.sampled_from(ANY_REGIONS)),
        ),
        case("HostMeshRef.range", HostMeshRef.range, ref, j("b", LABELS), j(1, SELECTORS)),
        case("HostMeshRef.with_bootstrap", HostMeshRef.with_bootstrap, ref, j(COMMAND, st.none())),
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
IDS = [c.name for c in CASES]

# --------------------------------------------------------------------------- tests


def _call(case: Case, args: Sequence[object]) -> None:
    try:
        case.call(*[materialize(a) for a in args])
    except MeshError:
        pass


def _assert_result_or_mesh_error(case: Case, args: Sequence[object], where: str) -> None:
    """Fail, naming ``where``, if calling ``case`` with ``args`` raises anything but a
    MeshError."""
    try:
        _call(case, args)
    except Exception as exc:
        raise AssertionError(f"{case.name}: {where} raised {type(exc).__name__}: {exc}") from exc


def test_table_is_consistent() -> None:
    """Names are unique and every case succeeds on its valid examples."""
    assert len(set(IDS)) == len(IDS)
    for c in CASES:
        c.call(*[a.example for a in c.args])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_each_special_value_in_each_argument(case: Case) -> None:
    """Every special value in any one argument (the others valid) gives a result or a MeshError."""
    valid = [a.example for a in case.args]
    for k, arg in enumerate(case.args):
        if not arg.sweep:
            continue
        for value in SPECIAL:
            args = [*valid[:k], value, *valid[k + 1 :]]
            _assert_result_or_mesh_error(case, args, f"argument #{k} = {value!r}")


# Each case runs as its own test, so a fraction of the profile's examples per case keeps the
# whole file quick while every callable still gets dozens of random calls.
_EXAMPLES = max(10, settings().max_examples // 4)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_random_arguments(case: Case, data: st.DataObject) -> None:
    """Arguments drawn from valid values and arbitrary objects give a result or a MeshError."""
    args = [data.draw(a.strategy) for a in case.args]
    note(f"calling {case.name}")
    _assert_result_or_mesh_error(case, args, "a drawn argument list")
