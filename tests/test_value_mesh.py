"""Tests for meshtrio._slicing.value_mesh.ValueMesh."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import sliced_regions

from meshtrio import Extent, Region, ValueMesh
from meshtrio.errors import CardinalityError, InputError, RankIndexError


def test_values_items_and_get() -> None:
    """values() is dense order; items() pairs points over the region extent with values."""
    region = Region.parse("4+replica=1/4,gpu=2/1")
    mesh = ValueMesh(region, ["a", "b"])
    assert mesh.values() == ["a", "b"]
    assert len(mesh) == 2
    assert mesh.get(1) == "b"
    (p0, v0), (p1, v1) = mesh.items()
    assert (p0.coords, v0) == ((0, 0), "a")
    assert (p1.coords, v1) == ((0, 1), "b")
    assert p1.extent == Extent(replica=1, gpu=2)
    assert list(mesh) == mesh.items()


def test_wrong_value_count_is_a_cardinality_error() -> None:
    """A value count that differs from the rank count raises CardinalityError."""
    with pytest.raises(CardinalityError, match="3 ranks but 2 values"):
        ValueMesh(Extent(x=3).region(), [1, 2])
    with pytest.raises(InputError):
        ValueMesh("x=3/1", [1, 2, 3])  # type: ignore[arg-type]


def test_get_out_of_range() -> None:
    """get() outside 0..len-1 raises RankIndexError."""
    mesh = ValueMesh(Extent(x=2).region(), [1, 2])
    with pytest.raises(RankIndexError):
        mesh.get(2)
    with pytest.raises(RankIndexError):
        mesh.get(-1)


def test_from_single_map_and_equality() -> None:
    """from_single fills every rank; map applies a function; equality is by value."""
    region = Extent(x=2, y=2).region()
    mesh = ValueMesh.from_single(region, 3)
    assert mesh.values() == [3, 3, 3, 3]
    assert mesh.map(lambda v: v * 2) == ValueMesh(region, [6, 6, 6, 6])
    assert mesh != ValueMesh(Extent(y=2, x=2).region(), [3, 3, 3, 3])


def test_values_returns_a_copy() -> None:
    """Mutating the list from values() does not change the mesh."""
    mesh = ValueMesh(Extent(x=2).region(), [1, 2])
    mesh.values().append(3)
    assert mesh.values() == [1, 2]


def test_zero_dim_and_empty_regions() -> None:
    """A 0-dim region holds one value; an empty region holds none."""
    assert ValueMesh.from_single(Region.parse(""), "v").items()[0][0].coords == ()
    assert len(ValueMesh(Extent(x=0).region(), [])) == 0


@given(sliced_regions())
def test_items_cover_every_dense_rank(region: Region) -> None:
    """items() has one point per dense rank, in order, over the region's extent."""
    mesh = ValueMesh(region, region.base_ranks())
    items = mesh.items()
    assert [p.rank for p, _ in items] == list(range(region.num_ranks))
    assert all(p.extent == region.extent for p, _ in items)
    assert [v for _, v in items] == region.base_ranks()


@given(st.lists(st.integers(), max_size=10))
def test_map_preserves_region_and_order(values: list[int]) -> None:
    """map keeps the region and transforms each value in place."""
    mesh = ValueMesh(Extent(n=len(values)).region(), values)
    mapped = mesh.map(str)
    assert mapped.region == mesh.region
    assert mapped.values() == [str(v) for v in values]
