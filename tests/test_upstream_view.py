"""Upstream's tests of extents, points and regions, ported case for case.

They come from the test module of ``ndslice/src/view.rs`` in meta-pytorch/monarch (read at
commit 3fc0a66e3140). Each test says which upstream test it follows, keeps that test's
values, and says where meshtrio deliberately differs. What differs throughout:

* Failures are typed errors (:mod:`meshtrio.errors`) rather than ``Result::Err`` or a panic;
  a test names the error upstream returns and the one meshtrio raises.
* Selections use Python slices: upstream ``Range(b, Some(e), s)`` / ``b..e`` is
  ``slice(b, e, s)`` / ``slice(b, e)``. ``range`` is a :class:`Region` method (an extent is
  sliced through ``extent.region()``), and upstream's views (``assert_view!``'s ``(point,
  rank)`` pairs) are a region's points with their base ranks.
* Upstream's ``point.coord(i)`` and iterating a point are ``point.coords[i]`` and
  ``iter(point.coords)``; ``extent.iter()`` is ``zip(extent.labels, extent.sizes)``.
* Upstream's property tests draw extents of 0..=4 dims of size 1..=8 labelled ``d/0``,
  ``d/1``...; these draw :func:`strategies.extents` (up to 4 dims of size 0..4, odd labels).

Not ported: ``region_to_rankspace_*`` (meshtrio has no rankspace),
``coord_iter_exact_size_invariants`` (a Rust ``ExactSizeIterator`` contract; a tuple's
``len`` is exact) and the region parser properties (``test_region_parser``,
``region_parser_with_offset_roundtrips``, ``region_strided_display_*``), which
``test_region_grammar.py`` already covers for every generated and sliced region.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given
from strategies import extents

from meshtrio import Extent, Point, Region
from meshtrio._slicing.grammar import is_safe_label, quote_label
from meshtrio.errors import (
    ExtentError,
    InputError,
    MeshError,
    PointParseError,
    RankIndexError,
)


def assert_view(
    region: Region, extent: Extent, expected: Sequence[tuple[Sequence[int], int]]
) -> None:
    """Upstream's ``assert_view!``: the region's extent, and each of its points (given by
    coordinates) with its base rank, in order."""
    assert region.extent == extent
    actual = [(region.point_of_rank(i), region.base_rank(i)) for i in range(region.num_ranks)]
    assert actual == [(extent.point(coords), rank) for coords, rank in expected]


# --------------------------------------------------------------------------- labels


def test_is_safe_ident() -> None:
    """Follows upstream ``test_is_safe_ident`` (meshtrio: ``is_safe_label``)."""
    assert is_safe_label("x")
    assert is_safe_label("gpu_0")
    assert not is_safe_label("dim/0")
    assert not is_safe_label("x y")
    assert not is_safe_label("x=y")


def test_fmt_label() -> None:
    """Follows upstream ``test_fmt_label`` (meshtrio: ``quote_label``)."""
    assert quote_label("x") == "x"
    assert quote_label("dim/0") == '"dim/0"'


# --------------------------------------------------------------------------- points


def test_points_basic() -> None:
    """Follows upstream ``test_points_basic``.

    Differs: upstream's second spelling ``vec![1, 2, 3].in_(&extent)`` has no counterpart
    (``extent.point`` is the one way); ``p6.coord(i)`` is ``p6.coords[i]``, and also
    ``p6[label]``.
    """
    extent = Extent(x=4, y=5, z=6)
    p1 = extent.point([1, 2, 3])
    assert p1.coords == (1, 2, 3)

    assert extent.num_ranks == 4 * 5 * 6

    p3 = extent.point_of_rank(0)
    assert p3.coords == (0, 0, 0)
    assert p3.rank == 0

    p4 = extent.point_of_rank(1)
    assert p4.coords == (0, 0, 1)
    assert p4.rank == 1

    p5 = extent.point_of_rank(2)
    assert p5.coords == (0, 0, 2)
    assert p5.rank == 2

    p6 = extent.point_of_rank(6 * 5 + 1)
    assert p6.coords == (1, 0, 1)
    assert p6.rank == 6 * 5 + 1
    assert (p6.coords[0], p6.coords[1], p6.coords[2]) == (1, 0, 1)
    assert (p6["x"], p6["y"], p6["z"]) == (1, 0, 1)

    assert len(list(extent.points())) == 4 * 5 * 6
    for rank, point in enumerate(extent.points()):
        x, y, z = point.coords
        assert z + y * 6 + x * 6 * 5 == rank
        assert point.rank == rank


def test_points_iterates_ranks_in_row_major_order() -> None:
    """Follows upstream ``points_iterates_ranks_in_row_major_order``."""
    ext = Extent(x=2, y=3, z=4)
    it = ext.points()
    for expected_rank in range(ext.num_ranks):
        assert next(it).rank == expected_rank
    assert next(it, None) is None


def test_points_iterates_single_point_for_0d_extent() -> None:
    """Follows upstream ``points_iterates_single_point_for_0d_extent``."""
    ext = Extent()
    it = ext.points()
    p = next(it)
    assert p.rank == 0
    assert p.extent == ext
    assert next(it, None) is None


def test_point_indexing() -> None:
    """Follows upstream ``test_point_indexing``; differs: ``coord(i)`` is ``coords[i]``."""
    extent = Extent.from_pairs([("x", 4), ("y", 5), ("z", 6)])
    point = extent.point([1, 2, 3])
    assert point.coords[0] == 1
    assert point.coords[1] == 2
    assert point.coords[2] == 3


def test_point_indexing_out_of_bounds() -> None:
    """Follows upstream ``test_point_indexing_out_of_bounds`` (``coord(5)`` panics).

    Differs: ``coords`` is a plain tuple, so indexing past it is the builtin IndexError; a
    coordinate looked up by an unknown label is the typed DimensionError (a KeyError).
    """
    point = Extent(x=4, y=5).point([1, 2])
    with pytest.raises(IndexError):
        point.coords[5]
    with pytest.raises(KeyError):
        point["w"]


def test_point_into_iter() -> None:
    """Follows upstream ``test_point_into_iter``; differs: iterate ``point.coords`` (a Point
    itself is not iterable)."""
    point = Extent(x=4, y=5, z=6).point([1, 2, 3])
    assert list(point.coords) == [1, 2, 3]
    assert sum(point.coords) == 6


# --------------------------------------------------------------------------- views (regions)


def test_view_basic() -> None:
    """Follows upstream ``test_view_basic``.

    Differs: ``extent.range(...)`` is ``extent.region().range(...)``, and ``Range(0, None, 2)``
    is ``slice(0, None, 2)``; ``range("x", 1)`` keeps the dimension, as upstream.
    """
    region = Extent(x=4, y=4).region()
    assert_view(
        region.range("x", slice(0, 2)),
        Extent(x=2, y=4),
        [((0, c), c) for c in range(4)] + [((1, c), 4 + c) for c in range(4)],
    )
    assert_view(
        region.range("x", 1).range("y", slice(2, None)),
        Extent(x=1, y=2),
        [((0, 0), 6), ((0, 1), 7)],
    )
    assert_view(
        region.range("y", slice(0, None, 2)),
        Extent(x=4, y=2),
        [((x, y), 4 * x + 2 * y) for x in range(4) for y in range(2)],
    )
    assert_view(
        region.range("y", slice(0, None, 2)).range("x", slice(2, None)),
        Extent(x=2, y=2),
        [((0, 0), 8), ((0, 1), 10), ((1, 0), 12), ((1, 1), 14)],
    )

    region = Extent(x=10, y=2).region()
    assert_view(
        region.range("x", slice(0, None, 2)),
        Extent(x=5, y=2),
        [((x, y), 4 * x + y) for x in range(5) for y in range(2)],
    )
    assert_view(
        region.range("x", slice(0, None, 2)).range("x", slice(2, None)).range("y", 1),
        Extent(x=3, y=1),
        [((0, 0), 9), ((1, 0), 13), ((2, 0), 17)],
    )

    region = Extent(zone=4, host=2, gpu=8).region()
    assert_view(
        region.range("zone", 0).range("gpu", slice(0, None, 2)),
        Extent(zone=1, host=2, gpu=4),
        [((0, h, g), 8 * h + 2 * g) for h in range(2) for g in range(4)],
    )

    assert_view(
        Extent(x=3).region().range("x", slice(0, None, 2)),
        Extent(x=2),
        [((0,), 0), ((1,), 2)],
    )


def test_view_values() -> None:
    """Follows upstream ``test_view_values``; differs: a region's values are its base ranks
    (``base_ranks()``)."""
    region = Extent(x=4, y=4).region()
    assert region.base_ranks() == list(range(16))
    assert region.range("y", 1).base_ranks() == [1, 5, 9, 13]


def test_iter_subviews() -> None:
    """Follows upstream ``test_iter_subviews``.

    Differs: ``group_by`` yields regions (upstream: sub-views); it is lazy like upstream's
    iterator, so the counts take ``len(list(...))``.
    """
    extent = Extent(zone=4, host=4, gpu=8)
    assert len(list(extent.group_by("gpu"))) == 16
    assert len(list(extent.group_by("zone"))) == 1

    parts = extent.group_by("gpu")
    assert_view(next(parts), Extent(gpu=8), [((i,), i) for i in range(8)])
    assert_view(next(parts), Extent(gpu=8), [((i,), 8 + i) for i in range(8)])


def test_group_by_doc_example() -> None:
    """Follows the example in upstream's ``ViewExt::group_by`` doc comment (zone=4, host=2,
    gpu=8 grouped by ``host``: one group per zone)."""
    ext = Extent(zone=4, host=2, gpu=8)
    assert len(list(ext.group_by("host"))) == 4
    parts = ext.group_by("host")
    zone0 = next(parts)
    assert zone0.extent == Extent(host=2, gpu=8)
    assert (zone0.point_of_rank(0), zone0.base_rank(0)) == (Extent(host=2, gpu=8).point([0, 0]), 0)
    assert (zone0.point_of_rank(1), zone0.base_rank(1)) == (Extent(host=2, gpu=8).point([0, 1]), 1)
    zone1 = next(parts)
    assert zone1.extent == Extent(host=2, gpu=8)
    assert (zone1.point_of_rank(0), zone1.base_rank(0)) == (
        Extent(host=2, gpu=8).point([0, 0]),
        16,
    )


def test_region_is_subset_algebra() -> None:
    """Follows upstream ``region_is_subset_algebra``; differs: ``b..e`` is ``slice(b, e)``."""
    e = Extent(x=5, y=4).region()
    a = e.range("x", slice(1, 4))
    b = a.range("y", slice(1, 3))
    c = e.range("x", slice(0, 2))
    assert b.is_subset(a)
    assert b.is_subset(e)
    assert a.is_subset(e)
    assert not c.is_subset(a)
    assert c.is_subset(e)


def test_remap() -> None:
    """Follows upstream ``test_remap``.

    Differs: ``remap`` returns a list (or None when the target is not a subset) rather than
    an optional iterator; ``x = 2..`` is ``slice(2, None)``.
    """
    region = Extent(x=4, y=4).region()
    assert region.remap(region) == list(range(16))

    subset = region.range("x", slice(2, None))
    assert subset.num_ranks == 8
    assert region.remap(subset) == [8, 9, 10, 11, 12, 13, 14, 15]

    subset = subset.range("y", 1)
    assert subset.num_ranks == 2
    assert region.remap(subset) == [9, 13]

    ext = Extent(replica=8, gpu=4).region()
    replica1 = ext.range("replica", 1)
    assert replica1.extent == Extent(replica=1, gpu=4)
    replica1_gpu12 = replica1.range("gpu", slice(1, 3))
    assert replica1_gpu12.extent == Extent(replica=1, gpu=2)
    assert replica1.remap(replica1_gpu12) == [1, 2]


def test_relative_point() -> None:
    """Follows upstream ``test_relative_point``.

    Differs: upstream slices a ``Shape`` and writes ``relative_point`` from
    ``slice().coordinates`` and ``Extent::point``; meshtrio slices a region and
    ``relative_point`` is ``Region.point_of_base_rank``.
    """
    root = Extent(replicas=4, hosts=4, gpus=4).region()
    sliced = (
        root.range("replicas", slice(0, 4, 3))
        .range("hosts", slice(1, 4, 2))
        .range("gpus", slice(0, 4, 2))
    )
    ranks_on_root_mesh = [4, 6, 12, 14, 52, 54, 60, 62]
    assert sliced.base_ranks() == ranks_on_root_mesh
    ranks_on_sliced_mesh = [sliced.point_of_base_rank(r).rank for r in ranks_on_root_mesh]
    assert ranks_on_sliced_mesh == list(range(8))


def test_base_local_rank_conversion() -> None:
    """Follows upstream ``test_base_local_rank_conversion``.

    Differs: a point of another extent is an ExtentError (upstream
    ``RegionError::InvalidPoint``); a base rank outside the region is a RankIndexError
    (upstream ``RegionError::OutOfRangeBaseRank``); ``1..3`` is ``slice(1, 3)``.
    """

    def point(rank: int, region: Region) -> Point:
        return region.extent.point_of_rank(rank)

    extent = Extent(replicas=4, gpus=2)
    region = extent.region().range("replicas", slice(1, 3))
    with pytest.raises(ExtentError):
        region.base_rank_of_point(extent.point_of_rank(0))
    assert [region.base_rank_of_point(point(i, region)) for i in range(4)] == [2, 3, 4, 5]
    for i, base in enumerate([2, 3, 4, 5]):
        assert region.point_of_base_rank(base) == point(i, region)
    for outside in (1, 6):
        with pytest.raises(RankIndexError):
            region.point_of_base_rank(outside)

    subset = region.range("replicas", slice(1, 2)).range("gpus", slice(1, 2))
    assert subset.base_rank_of_point(point(0, subset)) == 5
    assert subset.point_of_base_rank(5) == point(0, subset)
    for outside in (4, 6):
        with pytest.raises(RankIndexError):
            subset.point_of_base_rank(outside)


# --------------------------------------------------------------------------- extents


def test_extent_basic() -> None:
    """Follows upstream ``test_extent_basic``; differs: ``extent.iter()`` is
    ``zip(labels, sizes)``."""
    extent = Extent(x=10, y=5, z=1)
    assert list(zip(extent.labels, extent.sizes, strict=True)) == [("x", 10), ("y", 5), ("z", 1)]


def test_extent_display() -> None:
    """Follows upstream ``test_extent_display``."""
    assert str(Extent.from_pairs([("x", 4), ("y", 5), ("z", 6)])) == "{x: 4, y: 5, z: 6}"
    assert str(Extent.from_pairs([("dim/0", 4), ("dim/1", 5)])) == '{"dim/0": 4, "dim/1": 5}'
    assert str(Extent.from_pairs([])) == "{}"


def test_extent_label_helpers() -> None:
    """Follows upstream ``extent_label_helpers``.

    Differs: ``size`` of an unknown label raises DimensionError (a KeyError) where upstream
    returns None; ``position`` returns None, as upstream.
    """
    e = Extent(zone=3, host=2, gpu=4)
    for i, (label, size) in enumerate(zip(e.labels, e.sizes, strict=True)):
        assert e.position(label) == i
        assert e.size(label) == size
    assert e.position("nope") is None
    with pytest.raises(KeyError):
        e.size("nope")


def test_extent_0d() -> None:
    """Follows upstream ``test_extent_0d``; differs: the coordinate iterator is
    ``iter(point.coords)``."""
    e = Extent.from_pairs([])
    assert e.num_ranks == 1
    points = list(e.points())
    assert len(points) == 1
    assert points[0].coords == ()
    assert points[0].rank == 0
    it = iter(points[0].coords)
    assert next(it, None) is None
    assert next(it, None) is None


def test_extent_unity_equiv_to_0d() -> None:
    """Follows upstream ``extent_unity_equiv_to_0d``; differs: ``is_empty()`` is
    ``not labels``."""
    e = Extent.unity()
    assert not e.labels
    assert e.num_ranks == 1
    pts = list(e.points())
    assert len(pts) == 1
    assert pts[0].rank == 0
    assert pts[0].coords == ()


def test_extent_concat() -> None:
    """Follows upstream ``test_extent_concat``; differs: an overlapping label is an
    ExtentError naming it (upstream ``ExtentError::OverlappingLabel { label }``)."""
    extent1 = Extent(x=2, y=3)
    extent2 = Extent(z=4, w=5)

    result = extent1.concat(extent2)
    assert result.labels == ("x", "y", "z", "w")
    assert result.sizes == (2, 3, 4, 5)
    assert result.num_ranks == 2 * 3 * 4 * 5

    empty = Extent()
    result = extent1.concat(empty)
    assert (result.labels, result.sizes) == (("x", "y"), (2, 3))
    result = empty.concat(extent1)
    assert (result.labels, result.sizes) == (("x", "y"), (2, 3))
    result = empty.concat(empty)
    assert (result.labels, result.sizes) == ((), ())
    assert result.num_ranks == 1

    with pytest.raises(ExtentError, match="'x'"):
        extent1.concat(extent1)

    result = extent1.concat(extent2)
    point = result.point([1, 2, 3, 4])
    assert point.coords == (1, 2, 3, 4)
    assert point.extent == result

    with pytest.raises(ExtentError, match="'y'"):
        Extent(x=2, y=3).concat(Extent(y=3, z=4))

    extent_x = Extent(x=2, y=3)
    extent_y = Extent(z=4)
    assert extent_x.concat(extent_y).labels == ("x", "y", "z")
    assert extent_y.concat(extent_x).labels == ("z", "x", "y")

    m, n, o = Extent(x=2), Extent(y=3), Extent(z=4)
    left_assoc = m.concat(n).concat(o)
    right_assoc = m.concat(n.concat(o))
    assert left_assoc == right_assoc
    assert left_assoc.labels == ("x", "y", "z")
    assert left_assoc.sizes == (2, 3, 4)
    assert left_assoc.num_ranks == 2 * 3 * 4


# --------------------------------------------------------------------------- point text


def test_point_display() -> None:
    """Follows upstream ``test_point_display``; differs: ``extent.point([])`` on a 3-dim
    extent is an InputError naming both lengths (upstream ``PointError::DimMismatch``)."""
    extent = Extent.from_pairs([("x", 4), ("y", 5), ("z", 6)])
    assert str(extent.point([1, 2, 3])) == "x=1/4,y=2/5,z=3/6"
    with pytest.raises(InputError, match=r"3 dimension\(s\) but 0 coordinate"):
        extent.point([])
    assert str(Extent.from_pairs([]).point([])) == ""


def test_point_display_with_quoted_labels() -> None:
    """Follows upstream ``test_point_display_with_quoted_labels``."""
    ext = Extent.from_pairs([("dim/0", 3), ("dim,1", 5)])
    assert str(ext) == '{"dim/0": 3, "dim,1": 5}'
    assert str(ext.point([1, 2])) == '"dim/0"=1/3,"dim,1"=2/5'


def test_point_from_str_round_trip() -> None:
    """Follows upstream ``test_point_from_str_round_trip``."""
    points = [
        Extent(x=4, y=5, z=6).point([1, 2, 3]),
        Extent(host=2, gpu=8).point([0, 7]),
        Extent().point([]),
        Extent(x=10).point([5]),
    ]
    for point in points:
        assert Point.parse(str(point)) == point


@pytest.mark.parametrize(
    ("text", "extent", "coords"),
    [
        ("x=1/4,y=2/5", Extent(x=4, y=5), [1, 2]),
        ("host=0/2,gpu=7/8", Extent(host=2, gpu=8), [0, 7]),
        ("z=3/6", Extent(z=6), [3]),
        ("", Extent(), []),
        (" x = 1 / 4 , y = 2 / 5 ", Extent(x=4, y=5), [1, 2]),
    ],
)
def test_point_from_str_basic(text: str, extent: Extent, coords: list[int]) -> None:
    """Follows upstream ``test_point_from_str_basic`` (one parameter per upstream case)."""
    assert Point.parse(text) == extent.point(coords)


def test_point_from_str_quoted() -> None:
    """Follows upstream ``test_point_from_str_quoted``."""
    point = Extent.from_pairs([("dim/0", 3), ("dim,1", 5)]).point([1, 2])
    display = str(point)
    assert display == '"dim/0"=1/3,"dim,1"=2/5'
    assert Point.parse(display) == point
    assert Point.parse('"dim/0"=1/3,"dim,1"=2/5') == point


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("x=1,y=2/5", 3),  # missing size for x
        ("x=1/4,y=2", 9),  # missing size for y
        ("x=1/4,y=/5", 8),  # missing coord for y
        ("x=/4,y=2/5", 2),  # missing coord for x
        ("x=1/4,y=2/", 10),  # missing size after /
        ("x=1/,y=2/5", 4),  # missing size after /
        ("x=1/4=5,y=2/5", 5),  # extra equals
        ("x=1/4/6,y=2/5", 5),  # extra slash
        ("x=abc/4,y=2/5", 2),  # invalid coord
        ("x=1/abc,y=2/5", 4),  # invalid size
        ("=1/4,y=2/5", 0),  # missing label
        ("x=1/4,", 6),  # trailing comma with empty part
        ("x=1/4,=2/5", 6),  # missing label after comma
        ("x=1/4,y", 7),  # incomplete dimension
        ("x", 1),  # just a label
        ("x=", 2),  # label with equals but no coord/size
        ("x=1/4,y=10/5", 8),  # coord out of bounds (y has size 5, max coord is 4)
    ],
)
def test_point_from_str_error_cases(text: str, position: int) -> None:
    """Follows upstream ``test_point_from_str_error_cases`` (one parameter per upstream case,
    with its comment).

    Differs: upstream only asserts an error; meshtrio raises PointParseError (a MeshError and
    a ValueError) and this also checks where it says the problem is.
    """
    with pytest.raises(PointParseError) as info:
        Point.parse(text)
    err = info.value
    assert isinstance(err, MeshError)
    assert isinstance(err, ValueError)
    assert err.position == position
    assert f"at position {position} of point text {text!r}" in str(err)


def test_point_from_str_coordinate_validation() -> None:
    """Follows upstream ``test_point_from_str_coordinate_validation``.

    Differs: upstream returns ``PointError::OutOfRangeIndex { size: 4, index: 5 }``; meshtrio
    raises PointParseError (parsing raises nothing else) whose message names the coordinate,
    the dimension and the size, at the coordinate's position.
    """
    with pytest.raises(PointParseError) as info:
        Point.parse("x=5/4,y=2/5")
    assert info.value.position == 2
    assert "coordinate 5 of dimension 'x' is not below its size 4" in str(info.value)


def test_point_from_str_consistency_validation() -> None:
    """Follows upstream ``test_point_from_str_consistency_validation``."""
    parsed = Point.parse("x=1/4,y=2/5,z=3/6")
    assert parsed.extent.labels == ("x", "y", "z")
    assert parsed.extent.sizes == (4, 5, 6)
    assert parsed.coords == (1, 2, 3)


# --------------------------------------------------------------------------- upstream properties


@given(extents())
def test_point_coord_and_iter_agree(extent: Extent) -> None:
    """Follows upstream ``point_coord_and_iter_agree``: iterating the coordinates, indexing
    them and looking them up by label agree."""
    for p in extent.points():
        assert list(iter(p.coords)) == list(p.coords)
        for i, label in enumerate(extent.labels):
            assert p[label] == p.coords[i]


@given(extents())
def test_points_count_matches_num_ranks(extent: Extent) -> None:
    """Follows upstream ``points_count_matches_num_ranks``."""
    assert sum(1 for _ in extent.points()) == extent.num_ranks


@given(extents())
def test_rank_of_coords_dim_mismatch(extent: Extent) -> None:
    """Follows upstream ``rank_of_coords_dim_mismatch`` (there on ``rank_of_coords``, here on
    ``point``); differs: an InputError naming both lengths (upstream ``DimMismatch``)."""
    want = len(extent.sizes)
    wrong = 1 if want == 0 else want - 1
    with pytest.raises(InputError, match=rf"{want} dimension\(s\) but {wrong} coordinate"):
        extent.point([0] * wrong)


@given(extents())
def test_rank_of_coords_out_of_range_index(extent: Extent) -> None:
    """Follows upstream ``rank_of_coords_out_of_range_index`` (axis 0 at its size); differs:
    a RankIndexError naming the dimension and size (upstream ``OutOfRangeIndex``)."""
    if not extent.labels:
        return
    coords = [0] * len(extent.sizes)
    coords[0] = extent.sizes[0]
    with pytest.raises(RankIndexError) as info:
        extent.point(coords)
    assert f"coordinate {extent.sizes[0]} out of range for dimension" in str(info.value)
    assert f"of size {extent.sizes[0]}" in str(info.value)


@given(extents())
def test_point_of_rank_out_of_range(extent: Extent) -> None:
    """Follows upstream ``point_of_rank_out_of_range``; differs: a RankIndexError naming the
    rank and the total (upstream ``OutOfRangeRank { total, rank }``)."""
    total = extent.num_ranks
    with pytest.raises(RankIndexError) as info:
        extent.point_of_rank(total)
    assert str(info.value) == f"rank {total} out of range: extent {extent} has {total} ranks"


@given(extents())
def test_point_display_parse_round_trip(extent: Extent) -> None:
    """Follows upstream ``point_display_parse_round_trip``."""
    for point in extent.points():
        assert Point.parse(str(point)) == point


@given(extents())
def test_points_iterator_equivalent_to_legacy_cartesian(extent: Extent) -> None:
    """Follows upstream ``points_iterator_equivalent_to_legacy_cartesian``; the Cartesian
    iterator is ``itertools.product`` and ``rank_of_coords`` is ``point(coords).rank``."""
    legacy = list(itertools.product(*(range(s) for s in extent.sizes)))
    assert len(legacy) == extent.num_ranks
    for p, coords in zip(extent.points(), legacy, strict=True):
        assert p.rank == extent.point(coords).rank
        assert p.coords == coords
