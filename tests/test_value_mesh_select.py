"""Tests for ValueMesh.slice and ValueMesh.item: concrete cases, errors, and properties against
a brute-force model (nested Python lists) and against Region.at/range."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import dim_labels, regions, selectors, sliced_regions

from meshtrio import Extent, Region, ValueMesh
from meshtrio.errors import (
    DimensionError,
    EmptyRangeError,
    InputError,
    MeshError,
    RankIndexError,
    SliceError,
)


def _grid() -> ValueMesh[int]:
    return ValueMesh(Extent(hosts=2, gpus=4).region(), list(range(8)))


# --------------------------------------------------------------------------- slice


def test_int_selector_removes_the_dimension() -> None:
    """An int picks one coordinate and drops the dimension."""
    vm = _grid()
    sub = vm.slice(hosts=1)
    assert sub.values() == [4, 5, 6, 7]
    assert sub.region.labels == ("gpus",)
    assert sub.region.base_ranks() == [4, 5, 6, 7]
    assert vm.slice(gpus=2).values() == [2, 6]
    assert vm.slice(gpus=2).region.labels == ("hosts",)


def test_slice_and_range_selectors_keep_the_dimension() -> None:
    """A slice or range keeps the dimension, restricted; a range of one keeps it at size 1."""
    vm = _grid()
    sub = vm.slice(gpus=slice(1, 3))
    assert sub.region.labels == ("hosts", "gpus")
    assert sub.region.sizes == (2, 2)
    assert sub.values() == [1, 2, 5, 6]
    assert vm.slice(gpus=range(1, 3)) == sub
    one = vm.slice(hosts=range(1, 2))
    assert one.region.labels == ("hosts", "gpus")
    assert one.region.sizes == (1, 4)
    assert one.values() == [4, 5, 6, 7]
    assert vm.slice(gpus=slice(None, None, 2)).values() == [0, 2, 4, 6]
    assert vm.slice(gpus=slice(-2, None)).values() == [2, 3, 6, 7]
    assert vm.slice(gpus=slice(1, 100)).values() == [1, 2, 3, 5, 6, 7]  # slices clamp


def test_negative_indices_count_from_the_end() -> None:
    """Negative ints follow Python indexing."""
    vm = _grid()
    assert vm.slice(hosts=-1) == vm.slice(hosts=1)
    assert vm.slice(gpus=-4).values() == [0, 4]
    assert vm.slice(hosts=-2, gpus=-1).values() == [3]


def test_all_dimensions_sliced_away_give_a_0_dim_mesh() -> None:
    """Ints for every dimension leave a 0-dim mesh of one value, which item() returns."""
    sub = _grid().slice(hosts=1, gpus=2)
    assert sub.region.labels == ()
    assert sub.region.num_ranks == 1
    assert sub.values() == [6]
    assert sub.item() == 6


def test_no_selectors_is_the_mesh_itself() -> None:
    """slice() with no selectors returns the mesh unchanged (the same object)."""
    vm = _grid()
    assert vm.slice() is vm


def test_chained_slices_equal_one_slice() -> None:
    """Slicing in steps gives the same mesh as one call with the selectors in that order."""
    vm = ValueMesh(Extent(a=2, b=3, c=4).region(), [f"v{i}" for i in range(24)])
    once = vm.slice(a=1, c=slice(1, 3), b=range(0, 3, 2))
    stepped = vm.slice(a=1).slice(c=slice(1, 3)).slice(b=range(0, 3, 2))
    assert once == stepped
    assert once.values() == ["v13", "v14", "v21", "v22"]
    assert vm.slice(b=-1, a=0) == vm.slice(a=0).slice(b=-1)


def test_strided_and_offset_regions() -> None:
    """Values follow the base ranks of a strided, offset region."""
    region = Region.parse("2+replica=2/4,host=2/1")
    assert region.base_ranks() == [2, 3, 6, 7]
    vm = ValueMesh(region, ["a", "b", "c", "d"])
    sub = vm.slice(replica=1)
    assert str(sub.region) == "6+host=2/1"
    assert sub.values() == ["c", "d"]
    assert vm.slice(host=0).values() == ["a", "c"]
    assert vm.slice(host=0).region.base_ranks() == [2, 6]
    kept = vm.slice(replica=range(1, 2))
    assert kept.region.sizes == (1, 2)
    assert kept.values() == ["c", "d"]
    assert vm.item(replica=-1, host=0) == "c"

    spec = ValueMesh(Region.parse("replica=2/2,host=2/1"), [10, 11, 12, 13])
    assert spec.slice(host=1).values() == [11, 13]
    assert spec.item(replica=1, host=0) == 12

    # A mesh over an already sliced region (non-contiguous, gpu-major strides).
    base = Extent(replica=4, gpu=2).region().range("replica", slice(1, 4, 2))
    vm2 = ValueMesh(base, ["r1g0", "r1g1", "r3g0", "r3g1"])
    assert vm2.slice(gpu=1).values() == ["r1g1", "r3g1"]
    assert vm2.item(replica=1, gpu=0) == "r3g0"


def test_empty_mesh_slices() -> None:
    """Slicing a mesh with a size-0 dimension along another dimension gives an empty mesh."""
    vm: ValueMesh[int] = ValueMesh(Extent(x=0, y=3).region(), [])
    sub = vm.slice(y=slice(1, None))
    assert sub.values() == []
    assert sub.region.sizes == (0, 2)
    with pytest.raises(RankIndexError):
        vm.slice(x=0)


@pytest.mark.parametrize(
    ("selectors", "error", "match"),
    [
        ({"nope": 0}, DimensionError, "'nope'"),
        ({"nope": slice(0, 1)}, DimensionError, "'nope'"),
        ({"nope": "0"}, DimensionError, "'nope'"),
        ({"hosts": 2}, RankIndexError, "'hosts' of size 2"),
        ({"gpus": -5}, RankIndexError, "'gpus' of size 4"),
        ({"gpus": slice(4, None)}, EmptyRangeError, "'gpus' of size 4"),
        ({"gpus": range(2, 1)}, EmptyRangeError, "'gpus'"),
        ({"gpus": slice(None, None, -1)}, InputError, "positive"),
        ({"gpus": range(3, 0, -1)}, InputError, "positive"),
        ({"gpus": slice("a", None)}, InputError, "ints"),
        ({"gpus": "1"}, InputError, "int, slice or range"),
        ({"gpus": 1.0}, InputError, "int, slice or range"),
        ({"gpus": True}, InputError, "int, slice or range"),
        ({"gpus": None}, InputError, "int, slice or range"),
        ({"gpus": [0, 1]}, InputError, "int, slice or range"),
        ({"hosts": 0, "gpus": 9}, RankIndexError, "'gpus' of size 4"),
    ],
)
def test_slice_errors(selectors: dict[str, Any], error: type[MeshError], match: str) -> None:
    """Unknown labels, out-of-range ints, empty or reversed slices and selectors of the wrong
    type raise the region's typed errors, all MeshErrors."""
    with pytest.raises(error, match=match) as info:
        _grid().slice(**selectors)
    assert isinstance(info.value, MeshError)
    if error is InputError:
        assert type(info.value) is InputError


def test_slice_of_a_removed_dimension_is_a_dimension_error() -> None:
    """A label an earlier int selector removed is gone from the region."""
    with pytest.raises(DimensionError, match="'hosts'"):
        _grid().slice(hosts=0).slice(hosts=0)


def test_unrepresentable_stepped_slice_is_a_slice_error() -> None:
    """Every other column of a 2x3 grid is no valid region: SliceError, as Region.range."""
    vm = ValueMesh(Extent(x=2, y=3).region(), list(range(6)))
    with pytest.raises(SliceError, match="'y'"):
        vm.slice(y=slice(None, None, 2))
    # Fixing x first makes the same selection representable.
    assert vm.slice(x=1, y=slice(None, None, 2)).values() == [3, 5]


# --------------------------------------------------------------------------- item


def test_item_picks_one_value() -> None:
    """item() with a coordinate per dimension is the value at that point."""
    vm = _grid()
    assert vm.item(hosts=1, gpus=2) == 6
    assert vm.item(gpus=2, hosts=1) == 6
    assert vm.item(hosts=0, gpus=0) == 0
    assert vm.item(hosts=-1, gpus=-1) == 7
    assert vm.item(hosts=-2, gpus=1) == 1


def test_item_without_coordinates_needs_exactly_one_value() -> None:
    """item() alone works on any mesh of one value, and names the size otherwise."""
    assert ValueMesh(Extent().region(), ["only"]).item() == "only"
    assert ValueMesh(Extent(a=1, b=1).region(), ["one"]).item() == "one"
    with pytest.raises(InputError, match=r"exactly one value.* has 8"):
        _grid().item()
    with pytest.raises(InputError, match=r"has 0"):
        ValueMesh(Extent(x=0).region(), []).item()
    with pytest.raises(InputError, match=r"has 4"):
        _grid().slice(hosts=1).item()


def test_item_needs_every_dimension() -> None:
    """A missing dimension is an InputError naming it, even for a size-1 dimension."""
    with pytest.raises(InputError, match="missing 'gpus'") as info:
        _grid().item(hosts=1)
    assert type(info.value) is InputError
    vm = ValueMesh(Extent(a=2, b=1, c=2).region(), list(range(4)))
    with pytest.raises(InputError, match="missing 'a', 'c'"):
        vm.item(b=0)
    with pytest.raises(InputError, match="missing 'b'"):
        vm.item(a=0, c=1)
    assert vm.item(a=1, b=0, c=1) == 3


@pytest.mark.parametrize(
    ("coords", "error", "match"),
    [
        ({"hosts": 1, "gpu": 2}, DimensionError, "'gpu'"),
        ({"hosts": 1, "gpus": 2, "nodes": 0}, DimensionError, "'nodes'"),
        ({"hosts": 2, "gpus": 0}, RankIndexError, "'hosts' of size 2"),
        ({"hosts": 0, "gpus": -5}, RankIndexError, "'gpus' of size 4"),
        ({"hosts": 0, "gpus": slice(0, 1)}, InputError, "must be an int"),
        ({"hosts": 0, "gpus": "1"}, InputError, "must be an int"),
        ({"hosts": False, "gpus": 1}, InputError, "must be an int"),
    ],
)
def test_item_errors(coords: dict[str, Any], error: type[MeshError], match: str) -> None:
    """Unknown labels, out-of-range and non-int coordinates raise typed MeshErrors."""
    with pytest.raises(error, match=match) as info:
        _grid().item(**coords)
    assert isinstance(info.value, MeshError)


# --------------------------------------------------------------------------- model


def _nested(sizes: tuple[int, ...], values: list[Any]) -> Any:
    """``values`` (row-major) as nested lists, one level per dimension."""

    def build(depth: int, start: int, span: int) -> Any:
        if depth == len(sizes):
            return values[start]
        inner = span // sizes[depth]
        return [build(depth + 1, start + i * inner, inner) for i in range(sizes[depth])]

    total = 1
    for n in sizes:
        total *= n
    return build(0, 0, total)


def _flatten(nested: Any, depth: int) -> list[Any]:
    if depth == 0:
        return [nested]
    return [v for item in nested for v in _flatten(item, depth - 1)]


def _map_at(nested: Any, depth: int, fn: Any) -> Any:
    if depth == 0:
        return fn(nested)
    return [_map_at(item, depth - 1, fn) for item in nested]


class _Expected(Exception):
    def __init__(self, kind: type[MeshError]) -> None:
        super().__init__(kind.__name__)
        self.kind = kind


def _model_select(
    labels: list[str], sizes: list[int], nested: Any, label: str, sel: Any
) -> tuple[list[str], list[int], Any]:
    """One selector, the plain-Python way: index ``list(range(size))`` with it."""
    if label not in labels:
        raise _Expected(DimensionError)
    k = labels.index(label)
    positions = list(range(sizes[k]))
    if isinstance(sel, bool) or not isinstance(sel, int | slice | range):
        raise _Expected(InputError)
    if isinstance(sel, int):
        try:
            i = positions[sel]
        except IndexError:
            raise _Expected(RankIndexError) from None
        return (
            labels[:k] + labels[k + 1 :],
            sizes[:k] + sizes[k + 1 :],
            _map_at(nested, k, lambda lst: lst[i]),
        )
    if isinstance(sel, range):
        sel = slice(sel.start, sel.stop, sel.step)
    if sel.step is not None and sel.step <= 0:
        raise _Expected(InputError)
    picked = positions[sel]
    if not picked:
        raise _Expected(EmptyRangeError)
    new_sizes = sizes.copy()
    new_sizes[k] = len(picked)
    return labels, new_sizes, _map_at(nested, k, lambda lst: [lst[i] for i in picked])


def _small_extents() -> st.SearchStrategy[Extent]:
    return st.lists(
        st.tuples(dim_labels(), st.integers(1, 4)),
        min_size=1,
        max_size=3,
        unique_by=lambda pair: pair[0],
    ).map(Extent.from_pairs)


_BAD_SELECTORS = st.sampled_from(["0", 1.0, None, True, [0]])


@st.composite
def _selections(draw: st.DrawFn, labels: tuple[str, ...], sizes: tuple[int, ...]) -> Any:
    """Selectors for some of the labels in random order; rarely an unknown label or a
    selector of the wrong type."""
    order = draw(st.permutations(range(len(labels))))
    chosen = order[: draw(st.integers(0, len(labels)))]
    sels: dict[str, Any] = {}
    for k in chosen:
        size = sizes[k]
        bad = draw(st.integers(0, 19)) == 0
        sels[labels[k]] = draw(
            _BAD_SELECTORS if bad else st.integers(-size - 1, size) | selectors(size)
        )
    if draw(st.integers(0, 9)) == 0:
        unknown = draw(st.sampled_from(["nope", "zz", ""]).filter(lambda s: s not in labels))
        items = list(sels.items())
        at = draw(st.integers(0, len(items)))
        items.insert(at, (unknown, draw(st.integers(0, 1) | st.just(slice(None)))))
        sels = dict(items)
    return sels


@given(st.data(), _small_extents())
def test_slice_matches_nested_list_model(data: st.DataObject, ext: Extent) -> None:
    """slice() over random extents and selectors agrees with indexing nested lists (labels,
    sizes, values and errors), and item() on the result agrees with the model at each point."""
    values = [f"v{i}" for i in range(ext.num_ranks)]
    vm = ValueMesh(ext.region(), values)
    sels = data.draw(_selections(ext.labels, ext.sizes))
    labels, sizes, nested = list(ext.labels), list(ext.sizes), _nested(ext.sizes, values)
    region = ext.region()
    try:
        for label, sel in sels.items():
            labels, sizes, nested = _model_select(labels, sizes, nested, label, sel)
            try:
                region = region.at(label, sel) if isinstance(sel, int) else region.range(label, sel)
            except SliceError:
                # Only a stepped selection that no region represents may fail (test_region
                # checks that no valid region has those ranks).
                assert isinstance(sel, slice | range)
                assert (sel.step or 1) > 1
                raise _Expected(SliceError) from None
    except _Expected as err:
        with pytest.raises(err.kind) as info:
            vm.slice(**sels)
        if err.kind is InputError:
            assert type(info.value) is InputError
        return
    sub = vm.slice(**sels)
    assert sub.region == region
    assert list(sub.region.labels) == labels
    assert list(sub.region.sizes) == sizes
    assert sub.values() == _flatten(nested, len(sizes))
    assert len(sub) == sub.region.num_ranks
    for point in sub.region.extent.points():
        expected = nested
        for c in point.coords:
            expected = expected[c]
        assert sub.item(**dict(zip(labels, point.coords, strict=True))) == expected


@given(st.data(), st.one_of(regions(3, 4), sliced_regions(3, 4)))
def test_slice_follows_region_selection(data: st.DataObject, region: Region) -> None:
    """On any region (strided, offset, empty, 0-dim), slice() is the chain of Region.at /
    Region.range, and each value stays with its base rank."""
    vm = ValueMesh(region, [f"b{b}" for b in region.base_ranks()])
    sels = data.draw(_selections(region.labels, region.sizes))
    expected: Region | type[MeshError] = region
    try:
        for label, sel in sels.items():
            assert isinstance(expected, Region)
            if isinstance(sel, bool) or not isinstance(sel, int | slice | range):
                if label not in expected.labels:
                    raise DimensionError(label)
                raise InputError(label)
            if isinstance(sel, int):
                expected = expected.at(label, sel)
            else:
                expected = expected.range(label, sel)
    except MeshError as err:
        expected = type(err)
    if not isinstance(expected, Region):
        with pytest.raises(expected) as info:
            vm.slice(**sels)
        if expected is InputError:
            assert type(info.value) is InputError
        return
    sub = vm.slice(**sels)
    assert sub.region == expected
    assert sub.values() == [f"b{b}" for b in expected.base_ranks()]


@given(st.data(), _small_extents())
def test_item_agrees_with_rank_of(data: st.DataObject, ext: Extent) -> None:
    """item() with random (possibly negative, out-of-range, missing or unknown) coordinates
    returns the value at Extent.rank_of of the normalized point, or the matching error."""
    values = [f"v{i}" for i in range(ext.num_ranks)]
    vm = ValueMesh(ext.region(), values)
    coords: dict[str, int] = {
        label: data.draw(st.integers(-size - 1, size))
        for label, size in zip(ext.labels, ext.sizes, strict=True)
    }
    drop = data.draw(st.sampled_from([None, *ext.labels]))
    if drop is not None and data.draw(st.booleans()):
        del coords[drop]
    if data.draw(st.integers(0, 9)) == 0:
        unknown = data.draw(st.sampled_from(["nope", "zz"]).filter(lambda s: s not in coords))
        items = list(coords.items())
        items.insert(data.draw(st.integers(0, len(items))), (unknown, 0))
        coords = dict(items)
    size_of = dict(zip(ext.labels, ext.sizes, strict=True))
    # Errors are reported in argument order (unknown label, out of range), then missing ones.
    expected_error: type[MeshError] | None = None
    for label, c in coords.items():
        if label not in ext.labels:
            expected_error = DimensionError
            break
        if not -size_of[label] <= c < size_of[label]:
            expected_error = RankIndexError
            break
    if expected_error is None and not coords and ext.num_ranks == 1:
        assert vm.item() == values[0]
        return
    if expected_error is None and set(coords) != set(ext.labels):
        expected_error = InputError
    if expected_error is not None:
        with pytest.raises(expected_error) as info:
            vm.item(**coords)
        if expected_error is InputError:
            assert type(info.value) is InputError
            if coords:
                assert "missing" in str(info.value)
        return
    normal = {label: c % size_of[label] for label, c in coords.items()}
    rank = ext.rank_of(normal)
    assert rank == ext.point([normal[label] for label in ext.labels]).rank
    assert vm.item(**coords) == values[rank]
    assert vm.item(**coords) == vm.get(rank)
    assert vm.slice(**coords).values() == [values[rank]]
