"""Tests for meshtrio._slicing.extent: Extent and Point."""

from __future__ import annotations

import itertools
import math
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import extents

from meshtrio import Extent, Point, Region
from meshtrio.errors import DimensionError, ExtentError, InputError, RankIndexError


def test_keyword_order_is_dimension_order() -> None:
    """Extent(**sizes) keeps keyword order as dimension order."""
    ext = Extent(y=3, x=2)
    assert ext.labels == ("y", "x")
    assert ext.sizes == (3, 2)
    assert ext.num_ranks == 6
    assert ext.size("x") == 2


def test_from_pairs_equals_keywords_and_hashes_alike() -> None:
    """from_pairs and keywords build equal, equally hashed extents."""
    a = Extent(x=4, y=5)
    b = Extent.from_pairs([("x", 4), ("y", 5)])
    assert a == b
    assert hash(a) == hash(b)
    assert a != Extent(y=5, x=4)


def test_unity_has_one_rank_and_prints_braces() -> None:
    """The unity extent has no dims, one rank, and prints as {}."""
    u = Extent.unity()
    assert u.labels == ()
    assert u.num_ranks == 1
    assert str(u) == "{}"
    assert u.point_of_rank(0).coords == ()


def test_str_quotes_odd_labels() -> None:
    """str() prints {label: size, ...} and quotes labels that are not safe identifiers."""
    assert str(Extent(x=4, y=5)) == "{x: 4, y: 5}"
    assert str(Extent.from_pairs([("dim/0", 3), ("dim,1", 5)])) == '{"dim/0": 3, "dim,1": 5}'


@pytest.mark.parametrize(
    "pairs",
    [
        [("x", 1), ("x", 2)],
        [("x", -1)],
        [("x", 1.5)],
        [("x", True)],
        [(3, 1)],
        [("x", 1, 2)],
        ["xy"],
    ],
)
def test_from_pairs_rejects_bad_input(pairs: list[object]) -> None:
    """Duplicate labels, negative/non-int sizes and malformed pairs raise ExtentError."""
    with pytest.raises(ExtentError):
        Extent.from_pairs(pairs)  # type: ignore[arg-type]


def test_negative_keyword_size_raises() -> None:
    """A negative keyword size raises ExtentError naming the dimension."""
    with pytest.raises(ExtentError, match="'x'"):
        Extent(x=-1)


def test_zero_size_dims_are_allowed() -> None:
    """A size-0 dimension gives an extent with no ranks."""
    ext = Extent(x=3, y=0)
    assert ext.num_ranks == 0
    with pytest.raises(RankIndexError):
        ext.point_of_rank(0)


def test_concat_appends_and_rejects_overlap() -> None:
    """concat appends dims in order and names an overlapping label."""
    assert Extent(x=2).concat(Extent(y=3)) == Extent(x=2, y=3)
    assert Extent(y=3).concat(Extent(x=2)) == Extent(y=3, x=2)
    with pytest.raises(ExtentError, match="'x'"):
        Extent(x=2, y=1).concat(Extent(z=1, x=2))


def test_point_of_rank_is_row_major() -> None:
    """point_of_rank gives row-major coordinates (last dim fastest)."""
    ext = Extent(x=2, y=3, z=4)
    p = ext.point_of_rank(1 * 12 + 2 * 4 + 3)
    assert p.coords == (1, 2, 3)
    assert (p["x"], p["y"], p["z"]) == (1, 2, 3)
    assert ext.point_of_rank(1).coords == (0, 0, 1)


def test_point_of_rank_out_of_range_names_rank_and_total() -> None:
    """An out-of-range rank raises RankIndexError naming the rank and the total."""
    with pytest.raises(RankIndexError, match=r"rank 6 .*6 ranks"):
        Extent(x=2, y=3).point_of_rank(6)
    with pytest.raises(RankIndexError):
        Extent(x=2).point_of_rank(-1)


def test_rank_of_mapping_and_errors() -> None:
    """rank_of accepts a mapping and reports unknown, missing and out-of-range coordinates."""
    ext = Extent(x=2, y=3)
    assert ext.rank_of({"y": 2, "x": 1}) == 5
    with pytest.raises(DimensionError, match="'z'"):
        ext.rank_of({"x": 0, "y": 0, "z": 0})
    with pytest.raises(DimensionError, match="'y'"):
        ext.rank_of({"x": 0})
    with pytest.raises(RankIndexError, match=r"'y' of size 3"):
        ext.rank_of({"x": 0, "y": 3})
    with pytest.raises(RankIndexError):
        ext.rank_of({"x": -1, "y": 0})
    with pytest.raises(InputError):
        ext.rank_of({"x": "0", "y": 0})  # type: ignore[dict-item]


def test_rank_of_point_from_another_extent_uses_labels() -> None:
    """rank_of maps a point of a reordered extent by label."""
    p = Extent(y=3, x=2).point_of_rank(5)  # y=2, x=1
    assert Extent(x=2, y=3).rank_of(p) == 1 * 3 + 2


def test_point_str_and_unknown_label() -> None:
    """A point prints label=coord/size joined by commas; an unknown label is a DimensionError."""
    p = Extent(x=4, y=5).point_of_rank(7)
    assert str(p) == "x=1/4,y=2/5"
    assert str(Extent.unity().point_of_rank(0)) == ""
    with pytest.raises(DimensionError):
        p["z"]


def test_point_equality_and_hash() -> None:
    """Points are equal when rank and extent are equal."""
    ext = Extent(x=4)
    assert Point(2, ext) == ext.point_of_rank(2)
    assert hash(Point(2, ext)) == hash(ext.point_of_rank(2))
    assert Point(2, ext) != Point(2, Extent(y=4))


def test_region_is_row_major_with_offset_zero() -> None:
    """region() is the row-major region of the extent at offset 0."""
    r = Extent(x=2, y=3).region()
    assert r == Region(("x", "y"), 0, (2, 3), (3, 1))
    assert r.base_ranks() == list(range(6))


def test_size_of_unknown_label() -> None:
    """size() of an unknown label raises DimensionError; position() returns None."""
    assert Extent(x=1).position("y") is None
    with pytest.raises(DimensionError):
        Extent(x=1).size("y")


def test_extent_pickles() -> None:
    """An extent survives pickling with its lookups intact."""
    ext = Extent.from_pairs([("a b", 2), ("c", 3)])
    back = pickle.loads(pickle.dumps(ext))
    assert back == ext
    assert back.size("c") == 3


@given(extents())
def test_rank_point_round_trip(ext: Extent) -> None:
    """Every rank maps to a point whose coordinates map back to the same rank, row-major."""
    assert ext.num_ranks == math.prod(ext.sizes)
    all_coords = list(itertools.product(*(range(s) for s in ext.sizes)))
    assert len(all_coords) == ext.num_ranks
    for rank, coords in enumerate(all_coords):
        p = ext.point_of_rank(rank)
        assert p.coords == coords
        assert ext.rank_of(p) == rank
        assert ext.rank_of(dict(zip(ext.labels, coords, strict=True))) == rank


@given(extents(), extents())
def test_concat_is_ordered_or_rejects_overlap(a: Extent, b: Extent) -> None:
    """concat appends b's dims after a's unless a label overlaps."""
    if set(a.labels) & set(b.labels):
        with pytest.raises(ExtentError):
            a.concat(b)
    else:
        c = a.concat(b)
        assert c.labels == a.labels + b.labels
        assert c.sizes == a.sizes + b.sizes


@given(extents(), st.integers(-3, 300))
def test_point_of_rank_bounds(ext: Extent, rank: int) -> None:
    """point_of_rank succeeds exactly for 0 <= rank < num_ranks."""
    if 0 <= rank < ext.num_ranks:
        assert ext.point_of_rank(rank).rank == rank
    else:
        with pytest.raises(RankIndexError):
            ext.point_of_rank(rank)


def test_point_from_coords_errors() -> None:
    """point() names the lengths on a wrong arity, the dimension and size on an out-of-range
    coordinate, and refuses negatives (coordinates are positions, not Python indices)."""
    ext = Extent(x=2, y=3)
    assert ext.point([1, 2]) == ext.point_of_rank(5)
    assert ext.point(range(2)).coords == (0, 1)
    with pytest.raises(InputError, match=r"2 dimension\(s\) but 1 coordinate"):
        ext.point([1])
    with pytest.raises(InputError, match=r"2 dimension\(s\) but 3 coordinate"):
        ext.point((0, 0, 0))
    with pytest.raises(RankIndexError, match=r"'y' of size 3"):
        ext.point([1, 3])
    with pytest.raises(RankIndexError, match=r"'x' of size 2"):
        ext.point([-1, 0])
    with pytest.raises(InputError, match="'x' must be an int"):
        ext.point([True, 0])
    with pytest.raises(InputError, match="rank_of"):
        ext.point({"x": 1, "y": 2})  # type: ignore[arg-type]
    for bad in ("12", b"\x01\x02", iter([1, 2]), 5):
        with pytest.raises(InputError, match="sequence of coordinates"):
            ext.point(bad)  # type: ignore[arg-type]
    assert Extent.unity().point([]) == Extent.unity().point_of_rank(0)
    with pytest.raises(InputError, match="too many"):
        Extent.unity().point(range(2**70))


def test_points_are_lazy() -> None:
    """points() makes points as they are taken, so an extent of 2**128 ranks is fine."""
    big = 2**64 - 1
    it = Extent(x=big, y=big).points()
    assert [next(it).coords for _ in range(2)] == [(0, 0), (0, 1)]
    assert list(Extent(x=3, y=0).points()) == []


@given(extents())
def test_points_and_point_agree_with_ranks(ext: Extent) -> None:
    """points() yields the point of every rank in order, and point(p.coords) == p for each."""
    points = list(ext.points())
    assert points == [Point(rank, ext) for rank in range(ext.num_ranks)]
    for p in points:
        assert ext.point(p.coords) == p
        assert ext.point(list(p.coords)).rank == p.rank


@given(extents(), st.data())
def test_point_refuses_a_coordinate_at_its_size(ext: Extent, data: st.DataObject) -> None:
    """A coordinate equal to its dimension's size is a RankIndexError naming the first
    dimension whose coordinate is out of range."""
    if not ext.labels:
        return
    k = data.draw(st.integers(0, len(ext.labels) - 1))
    coords = [0] * len(ext.labels)
    coords[k] = ext.sizes[k]
    first = next(j for j, (c, n) in enumerate(zip(coords, ext.sizes, strict=True)) if c >= n)
    with pytest.raises(RankIndexError) as info:
        ext.point(coords)
    assert f"{ext.labels[first]!r} of size {ext.sizes[first]}" in str(info.value)
