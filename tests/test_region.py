"""Tests for meshtrio._slicing.region: validity, rank mapping, slicing (against a brute-force
model), remap and subset."""

from __future__ import annotations

import itertools
import math
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import apply_op, extents, ops, region_parts, regions, sliced_regions

from meshtrio import Extent, Region
from meshtrio.errors import (
    DimensionError,
    EmptyRangeError,
    ExtentError,
    InputError,
    RankIndexError,
    SliceError,
)

# --------------------------------------------------------------------------- the model


def _model_of(
    labels: tuple[str, ...], offset: int, sizes: tuple[int, ...], strides: tuple[int, ...]
) -> tuple[list[str], list[int], Any]:
    """Nested Python lists of base ranks, built from the slice formula."""

    def build(depth: int, base: int) -> Any:
        if depth == len(sizes):
            return base
        return [build(depth + 1, base + i * strides[depth]) for i in range(sizes[depth])]

    return list(labels), list(sizes), build(0, offset)


def _flatten(nested: Any, depth: int) -> list[int]:
    if depth == 0:
        return [nested]
    return [b for item in nested for b in _flatten(item, depth - 1)]


def _map_at(nested: Any, depth: int, fn: Any) -> Any:
    if depth == 0:
        return fn(nested)
    return [_map_at(item, depth - 1, fn) for item in nested]


class ModelError(Exception):
    """What the model expects our region to raise."""

    def __init__(self, kind: type[Exception]) -> None:
        super().__init__(kind.__name__)
        self.kind = kind


def _model_apply(model: tuple[list[str], list[int], Any], op: tuple[str, str, Any]) -> Any:
    """Apply a range/at op the ordinary Python way: positions of the dim are list(range(size))
    indexed with the selector (ints may be negative; slices clamp)."""
    labels, sizes, nested = model
    kind, label, sel = op
    if label not in labels:
        raise ModelError(DimensionError)
    k = labels.index(label)
    positions = list(range(sizes[k]))
    if isinstance(sel, range):
        sel = slice(sel.start, sel.stop, sel.step)
    if isinstance(sel, slice):
        if sel.step is not None and sel.step <= 0:
            raise ModelError(InputError)
        picked = positions[sel]
        if not picked:
            raise ModelError(EmptyRangeError)
    else:
        try:
            picked = [positions[sel]]
        except IndexError:
            raise ModelError(RankIndexError) from None
    if kind == "at":
        (i,) = picked
        return (
            labels[:k] + labels[k + 1 :],
            sizes[:k] + sizes[k + 1 :],
            _map_at(nested, k, lambda lst: lst[i]),
        )
    new_sizes = sizes.copy()
    new_sizes[k] = len(picked)
    return labels, new_sizes, _map_at(nested, k, lambda lst: [lst[i] for i in picked])


def _unit_strides(model: tuple[list[str], list[int], Any], before: Region, op: Any) -> list[int]:
    """Strides implied by the model's data (size-1 dims keep the stride they had before)."""
    labels, sizes, nested = model
    offset = _flatten(nested, len(sizes))[0]
    strides = []
    for k, size in enumerate(sizes):
        if size > 1:
            coord = [0] * len(sizes)
            coord[k] = 1
            item = nested
            for c in coord:
                item = item[c]
            strides.append(item - offset)
        else:
            strides.append(before.strides[before.labels.index(labels[k])])
    return strides


# --------------------------------------------------------------------------- validity


def test_spec_examples_base_ranks() -> None:
    """The region examples of spec 1.3 have the documented base ranks."""
    r = Region.parse("replica=2/2,host=2/1")
    assert (r.labels, r.offset, r.sizes, r.strides) == (("replica", "host"), 0, (2, 2), (2, 1))
    assert r.base_ranks() == [0, 1, 2, 3]
    s = Region.parse("2+replica=1/2,host=2/1")
    assert (s.offset, s.sizes, s.strides) == (2, (1, 2), (2, 1))
    assert s.base_ranks() == [2, 3]
    assert r.range("replica", 1) == s
    assert Region.parse("hosts=3/1").base_ranks() == [0, 1, 2]
    assert Region.parse("hosts=0/1").num_ranks == 0
    assert Region.parse("").num_ranks == 1
    assert Region.parse("").base_ranks() == [0]


@pytest.mark.parametrize(
    ("sizes", "strides", "match"),
    [
        ((2, 2), (1,), "invalid dims"),
        ((2, 2), (2, 3), "nonrectangular"),
        ((2, 2), (1, 1), "nonunique"),
        ((3, 2), (1, 2), "too small"),
    ],
)
def test_slice_validity_errors(sizes: Any, strides: Any, match: str) -> None:
    """Each slice validity error of spec 1.2 is reported as a SliceError."""
    labels = ("a", "b")
    with pytest.raises(SliceError, match=match):
        Region(labels, 0, sizes, strides)


def test_size_one_dims_may_share_strides() -> None:
    """A size-1 dimension may reuse another dimension's stride (spec 1.2)."""
    assert Region(("a", "b"), 0, (1, 4), (1, 1)).base_ranks() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((("a",), -1, (2,), (1,)), SliceError),
        ((("a",), 0, (-2,), (1,)), SliceError),
        ((("a",), 0, (2,), (-1,)), SliceError),
        ((("a",), 0, (2,), (0,)), SliceError),
        ((("a",), 0.5, (2,), (1,)), SliceError),
        ((("a", "b"), 0, (2,), (1,)), ExtentError),
        ((("a", "a"), 0, (2, 2), (2, 1)), ExtentError),
        (((1,), 0, (2,), (1,)), ExtentError),
        (("ab", 0, (2, 2), (2, 1)), ExtentError),
        ((("a",), 0, 2, (1,)), SliceError),
    ],
)
def test_constructor_rejects_bad_parts(args: Any, error: type[Exception]) -> None:
    """Negative or non-int numbers, mismatched lengths and bad labels are rejected."""
    with pytest.raises(error):
        Region(*args)


@given(region_parts())
def test_strategy_parts_are_valid_and_formula_holds(parts: Any) -> None:
    """Generated parts build a region whose base ranks follow the slice formula row-major."""
    labels, offset, sizes, strides = parts
    r = Region(labels, offset, sizes, strides)
    expected = [
        offset + sum(c * s for c, s in zip(coords, strides, strict=True))
        for coords in itertools.product(*(range(n) for n in sizes))
    ]
    assert r.base_ranks() == expected
    assert r.num_ranks == len(expected)
    assert r.extent == Extent.from_pairs(list(zip(labels, sizes, strict=True)))
    assert len(set(expected)) == len(expected)


# --------------------------------------------------------------------------- rank mapping


@given(regions(), st.integers(-2, 400))
def test_dense_and_base_ranks_agree(r: Region, probe: int) -> None:
    """base_rank, dense_index, contains and point_of_rank agree with base_ranks()."""
    bases = r.base_ranks()
    for i, b in enumerate(bases):
        assert r.base_rank(i) == b
        assert r.dense_index(b) == i
        assert r.contains(b)
        assert r.point_of_rank(i).rank == i
    value = r.offset + probe
    if value in bases:
        assert r.dense_index(value) == bases.index(value)
    else:
        assert r.dense_index(value) is None
        assert not r.contains(value)
    with pytest.raises(RankIndexError):
        r.base_rank(len(bases))
    with pytest.raises(RankIndexError):
        r.point_of_rank(len(bases))


@given(st.one_of(regions(), sliced_regions()), st.integers(-2, 400))
def test_points_and_base_ranks_are_inverse(r: Region, probe: int) -> None:
    """point_of_base_rank and base_rank_of_point map each base rank to the point of its dense
    rank and back; a base rank outside the region is a RankIndexError."""
    bases = r.base_ranks()
    for i, b in enumerate(bases):
        p = r.point_of_base_rank(b)
        assert p == r.point_of_rank(i)
        assert r.base_rank_of_point(p) == b
    value = r.offset + probe
    if value not in bases:
        with pytest.raises(RankIndexError, match=f"base rank {value} is not in region"):
            r.point_of_base_rank(value)


def test_base_rank_of_point_refuses_other_extents() -> None:
    """A point of another extent is an ExtentError, even with the same labels reordered or the
    base extent the region was sliced from; a non-Point is an InputError."""
    base = Extent(replicas=4, gpus=2)
    r = base.region().range("replicas", slice(1, 3))
    assert r.base_rank_of_point(r.extent.point([1, 1])) == 5
    for other in (base.point_of_rank(0), Extent(gpus=2, replicas=2).point_of_rank(0)):
        with pytest.raises(ExtentError, match=r"not over the extent \{replicas: 2, gpus: 2\}"):
            r.base_rank_of_point(other)
    with pytest.raises(InputError, match="needs a Point"):
        r.base_rank_of_point({"replicas": 0, "gpus": 0})  # type: ignore[arg-type]
    with pytest.raises(InputError):
        r.point_of_base_rank("2")  # type: ignore[arg-type]


def test_point_of_rank_uses_region_extent() -> None:
    """point_of_rank gives dense coordinates over the region's own extent."""
    r = Region.parse("4+replica=1/4,gpu=2/1")
    p = r.point_of_rank(1)
    assert p.extent == Extent(replica=1, gpu=2)
    assert p.coords == (0, 1)


# --------------------------------------------------------------------------- slicing


@given(st.data(), regions())
def test_slicing_matches_python_model(data: st.DataObject, region: Region) -> None:
    """Chains of range/at agree with slicing nested Python lists, errors included."""
    model = _model_of(region.labels, region.offset, region.sizes, region.strides)
    for _ in range(data.draw(st.integers(1, 5))):
        op = data.draw(ops(region))
        try:
            expected = _model_apply(model, op)
        except ModelError as err:
            with pytest.raises(err.kind) as info:
                apply_op(region, op)
            if err.kind is InputError:
                assert type(info.value) is InputError
            continue
        try:
            new = apply_op(region, op)
        except SliceError:
            # Only a stepped selection that no valid region represents may fail.
            assert op[0] == "range"
            labels, sizes, _ = expected
            assert 0 not in sizes
            offset = _flatten(expected[2], len(sizes))[0]
            with pytest.raises(SliceError):
                Region(labels, offset, sizes, _unit_strides(expected, region, op))
            return
        labels, sizes, nested = expected
        assert list(new.labels) == labels
        assert list(new.sizes) == sizes
        assert new.base_ranks() == _flatten(nested, len(sizes))
        assert Region.parse(str(new)) == new
        region, model = new, expected


def test_range_keeps_dimension_and_at_removes_it() -> None:
    """range(label, i) keeps a size-1 dimension; at(label, i) removes it."""
    r = Extent(x=4, y=4).region()
    kept = r.range("x", 1)
    assert kept.labels == ("x", "y")
    assert kept.sizes == (1, 4)
    assert kept.base_ranks() == [4, 5, 6, 7]
    dropped = r.at("x", 1)
    assert dropped.labels == ("y",)
    assert dropped.base_ranks() == [4, 5, 6, 7]
    assert r.at("x", -1).base_ranks() == [12, 13, 14, 15]
    assert r.range("y", slice(0, None, 2)).base_ranks() == [0, 2, 4, 6, 8, 10, 12, 14]


def test_range_errors_name_dimension_and_size() -> None:
    """Out-of-range ints, empty slices, bad steps and unknown labels raise typed errors."""
    r = Extent(host=3).region()
    with pytest.raises(RankIndexError, match=r"'host' of size 3"):
        r.range("host", 3)
    with pytest.raises(RankIndexError, match=r"'host' of size 3"):
        r.at("host", -4)
    with pytest.raises(EmptyRangeError, match=r"'host' of size 3"):
        r.range("host", slice(3, None))
    with pytest.raises(EmptyRangeError):
        r.range("host", range(2, 1))
    with pytest.raises(InputError, match="positive"):
        r.range("host", slice(None, None, -1))
    with pytest.raises(InputError):
        r.range("host", "1")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        r.range("host", slice("a", None))
    with pytest.raises(DimensionError, match="'gpu'"):
        r.range("gpu", 0)
    with pytest.raises(DimensionError):
        r.at("gpu", 0)


def test_unrepresentable_stepped_selection_is_a_slice_error() -> None:
    """Every other column of a 2x3 grid is not a valid region: SliceError, not a crash."""
    r = Extent(x=2, y=3).region()
    with pytest.raises(SliceError, match="'y'"):
        r.range("y", slice(None, None, 2))
    # A size-1 result keeps its stride, so it stays valid.
    assert r.range("y", slice(1, None, 5)).base_ranks() == [1, 4]


def test_range_on_empty_region_keeps_strides() -> None:
    """Slicing an empty region keeps strides (nothing to represent) and stays parseable."""
    r = Extent(x=0, y=3).region()
    s = r.range("y", slice(None, None, 2))
    assert s.sizes == (0, 2)
    assert s.strides == r.strides
    assert Region.parse(str(s)) == s


def test_region_pickles_and_hashes() -> None:
    """Regions pickle and hash by value."""
    r = Region.parse('3+"a b"=2/4,c=3/1')
    r.base_ranks()  # fill caches; they must not affect equality
    back = pickle.loads(pickle.dumps(r))
    assert back == r
    assert hash(back) == hash(Region.parse('3+"a b"=2/4,c=3/1'))


# --------------------------------------------------------------------------- remap / subset


def test_remap_spec_example() -> None:
    """remap of spec 1.4: replica 1 of replica=8,gpu=4, then gpu 1..3, yields [1, 2]."""
    base = Extent(replica=8, gpu=4).region().range("replica", 1)
    assert str(base) == "4+replica=1/4,gpu=4/1"
    target = base.range("gpu", slice(1, 3))
    assert str(target) == "5+replica=1/4,gpu=2/1"
    assert base.remap(target) == [1, 2]
    assert target.is_subset(base)
    assert not base.is_subset(target)


@given(st.data(), regions())
def test_remap_and_subset_agree_with_lists(data: st.DataObject, base: Region) -> None:
    """remap and is_subset agree with list/set operations on base ranks."""
    target = data.draw(st.one_of(sliced_regions(), st.just(base)))
    for _ in range(data.draw(st.integers(0, 3))):
        try:
            target = apply_op(target, data.draw(ops(target)))
        except (LookupError, ValueError):
            pass
    bases = base.base_ranks()
    targets = target.base_ranks()
    subset = set(targets) <= set(bases)
    assert target.is_subset(base) == subset
    if subset:
        assert base.remap(target) == [bases.index(b) for b in targets]
    else:
        assert base.remap(target) is None


@given(sliced_regions())
def test_sliced_region_is_subset_of_itself(r: Region) -> None:
    """Every region is a subset of itself and remaps to 0..n-1."""
    assert r.is_subset(r)
    assert r.remap(r) == list(range(r.num_ranks))


# --------------------------------------------------------------------------- group_by


@given(st.one_of(regions(), sliced_regions()), st.data())
def test_group_by_partitions_base_ranks(r: Region, data: st.DataObject) -> None:
    """group_by(label) gives prod(sizes before label) valid regions over label and after,
    whose base ranks, chained in order, are exactly the region's (so they partition it)."""
    if not r.labels:
        return
    k = data.draw(st.integers(0, len(r.labels) - 1))
    groups = list(r.group_by(r.labels[k]))
    assert len(groups) == math.prod(r.sizes[:k])
    for g in groups:
        assert (g.labels, g.sizes, g.strides) == (r.labels[k:], r.sizes[k:], r.strides[k:])
        assert Region(g.labels, g.offset, g.sizes, g.strides) == g
        assert g.is_subset(r)
    assert [b for g in groups for b in g.base_ranks()] == r.base_ranks()
    assert list(r.group_by(r.labels[0])) == [r]


@given(extents())
def test_extent_group_by_is_group_by_of_its_region(ext: Extent) -> None:
    """Extent.group_by is group_by of the extent's row-major region."""
    for label in ext.labels:
        assert list(ext.group_by(label)) == list(ext.region().group_by(label))


def test_group_by_errors_are_raised_by_the_call() -> None:
    """An unknown or non-str label is a DimensionError from the call itself (not from the first
    next()), naming the extent or the region."""
    ext = Extent(zone=2, gpu=2)
    with pytest.raises(DimensionError, match=r"'host' in extent \{zone: 2, gpu: 2\}"):
        ext.group_by("host")
    with pytest.raises(DimensionError, match=r"'host' in region zone=2/2,gpu=2/1"):
        ext.region().group_by("host")
    with pytest.raises(DimensionError):
        ext.region().group_by(0)  # type: ignore[arg-type]
    with pytest.raises(DimensionError):
        Region.parse("").group_by("x")


def test_group_by_is_lazy_and_bounds_offsets() -> None:
    """Groups are made as they are taken; one starting beyond 2**64-1 is a SliceError then."""
    big = 2**64 - 1
    groups = Extent(x=big, y=big).group_by("y")
    assert [str(next(groups)) for _ in range(2)] == [f"y={big}/1", f"{big}+y={big}/1"]
    with pytest.raises(SliceError, match=r"beyond 2\*\*64-1"):
        next(groups)
    assert list(Extent(x=0, y=3).group_by("y")) == []
    assert [g.num_ranks for g in Extent(x=2, y=0).group_by("y")] == [0, 0]
