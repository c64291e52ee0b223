"""Hypothesis strategies for the slicing values and host mesh refs.

Import with ``from strategies import ...`` (tests/ is on sys.path). Regions come with varied
stride orders, gaps, offsets, size-0 and size-1 dims; labels include odd ones (quotes,
backslashes, delimiters, spaces, unicode, control characters, empty and numeric labels).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st
from id_strategies import channel_addrs, host_mesh_ids

from meshtrio import ChannelAddr, Extent, HostMeshId, HostMeshRef, Region

__all__ = [
    "GRAMMAR_ALPHABET",
    "apply_op",
    "dim_labels",
    "extents",
    "host_mesh_refs",
    "odd_labels",
    "ops",
    "region_parts",
    "regions",
    "selectors",
    "sliced_regions",
]

GRAMMAR_ALPHABET = '+=,/"\\ 0123456789abcdefghijklmnopqrstuvwxyz@:'
"""Characters of region and host mesh ref text, for fuzzing the parsers."""

_ODD = [
    "",
    "0",
    "12",
    " x",
    "a b",
    "a,b",
    "x=1/1",
    '"',
    'say "hi"',
    "\\",
    "back\\slash\\",
    "\\u{41}",
    "\\q",
    "new\nline",
    "tab\t",
    "\r",
    "\x00",
    "\x1b[0m",
    "\x7f",
    "\u2028",
    "\ufeff",
    "é",
    "日本",
    "@",
    "a@b",
    "+",
    "/",
    "🙂",
    "\ud800",
]


@cache
def odd_labels() -> st.SearchStrategy[str]:
    """Labels that must be quoted (plus empty and numeric ones), and arbitrary text."""
    return st.sampled_from(_ODD) | st.text(max_size=8)


@cache
def dim_labels() -> st.SearchStrategy[str]:
    """Any dimension label: mostly safe identifiers, often odd ones."""
    safe = st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True)
    return st.one_of(safe, st.sampled_from(["x", "y", "host", "gpu", "replica"]), odd_labels())


@cache
def extents(
    max_dims: int = 4, max_size: int = 4, labels: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[Extent]:
    """Extents of up to ``max_dims`` uniquely labelled dims of size ``0..max_size``."""
    labs = dim_labels() if labels is None else labels
    return st.lists(
        st.tuples(labs, st.integers(0, max_size)),
        max_size=max_dims,
        unique_by=lambda pair: pair[0],
    ).map(Extent.from_pairs)


@st.composite
def region_parts(
    draw: st.DrawFn, max_dims: int = 4, max_size: int = 4, max_offset: int = 40
) -> tuple[tuple[str, ...], int, tuple[int, ...], tuple[int, ...]]:
    """Valid ``(labels, offset, sizes, strides)``: strides in a random dimension order, with
    random gaps between them (so not always row-major)."""
    ext = draw(extents(max_dims, max_size))
    n = len(ext.sizes)
    order = draw(st.permutations(range(n)))
    stride = draw(st.integers(1, 3))
    strides = [0] * n
    for k in order:
        strides[k] = stride
        size = ext.sizes[k]
        span = size if size > 1 else (2 if size == 0 else 1)
        stride *= span * draw(st.integers(1, 3))
    offset = draw(st.integers(0, max_offset) | st.sampled_from([0, 10**12]))
    return ext.labels, offset, ext.sizes, tuple(strides)


@cache
def regions(max_dims: int = 4, max_size: int = 4) -> st.SearchStrategy[Region]:
    """Valid regions, including offsets, extent-derived and 0-dim ones."""
    built = region_parts(max_dims, max_size).map(lambda p: Region(*p))
    derived = extents(max_dims, max_size).map(Extent.region)
    return built | derived


@cache
def selectors(size: int) -> st.SearchStrategy[Any]:
    """Selectors for ``range``/``at`` on a dimension of ``size``: ints (negative and out of
    range included), slices (open bounds, clamping, steps incl. non-positive) and ranges."""
    ints = st.integers(-size - 2, size + 2)
    bound = st.none() | ints
    steps = st.none() | st.integers(1, 3) | st.integers(-2, 0)
    slices = st.builds(slice, bound, bound, steps)
    ranges = st.builds(range, ints, ints, st.integers(1, 3) | st.just(-1))
    stepped = st.builds(slice, st.none() | st.integers(0, 1), st.none(), st.integers(2, 3))
    return ints | slices | ranges | stepped


_KINDS = st.sampled_from(["range", "range", "at"])
_TENTHS = st.integers(0, 9)


@st.composite
def ops(draw: st.DrawFn, region: Region) -> tuple[str, str, Any]:
    """One ``("range" | "at", label, selector)`` for ``region``; the label is sometimes
    unknown."""
    kind = draw(_KINDS)
    known = draw(_TENTHS) > 0
    if region.labels and known:
        k = draw(st.integers(0, len(region.labels) - 1))
        label, size = region.labels[k], region.sizes[k]
    else:
        label, size = draw(_unknown_labels(region.labels)), 2
    sel = draw(st.integers(-size - 1, size) if kind == "at" else selectors(size))
    return kind, label, sel


@cache
def _unknown_labels(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(["nope", "zz", '"x"', ""]).filter(lambda s: s not in known)


def apply_op(region: Region, op: tuple[str, str, Any]) -> Region:
    """Apply one op from :func:`ops` to ``region``."""
    kind, label, sel = op
    return region.range(label, sel) if kind == "range" else region.at(label, sel)


@cache
@st.composite
def sliced_regions(draw: st.DrawFn, max_dims: int = 4, max_size: int = 4) -> Region:
    """Regions reached by a random chain of successful ``range``/``at`` calls."""
    region = draw(regions(max_dims, max_size))
    for _ in range(draw(st.integers(0, 4))):
        try:
            region = apply_op(region, draw(ops(region)))
        except (LookupError, ValueError):
            continue
    return region


def _printable_host(text: str) -> bool:
    return "," not in text and text == text.strip()


@cache
def _ids() -> st.SearchStrategy[HostMeshId]:
    return host_mesh_ids()


@cache
def _addr_pools() -> st.SearchStrategy[list[ChannelAddr]]:
    addrs = channel_addrs().filter(lambda a: _printable_host(str(a)))
    return st.lists(addrs, min_size=1, max_size=4)


@cache
def _any_regions(max_dims: int, max_size: int) -> st.SearchStrategy[Region]:
    return st.one_of(regions(max_dims, max_size), sliced_regions(max_dims, max_size))


@cache
@st.composite
def host_mesh_refs(draw: st.DrawFn, max_dims: int = 3, max_size: int = 3) -> HostMeshRef:
    """Host mesh refs over small (possibly sliced) regions whose text form round-trips."""
    region = draw(_any_regions(max_dims, max_size))
    mesh_id = draw(_ids())
    pool = draw(_addr_pools())
    n = region.num_ranks
    hosts = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return HostMeshRef(mesh_id, region, hosts)
