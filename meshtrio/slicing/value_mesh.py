"""Value meshes: one value per rank of a region (spec 1.5, without overlays).

Invariants owned here:

* A :class:`ValueMesh` holds exactly ``region.num_ranks`` values, addressed by dense rank.
* Points handed out by :meth:`ValueMesh.items` are over ``region.extent`` (dense coordinates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import attrs

from meshtrio.errors import CardinalityError, InputError, RankIndexError
from meshtrio.slicing.extent import Point
from meshtrio.slicing.region import Region

__all__ = ["ValueMesh"]

T = TypeVar("T")
U = TypeVar("U")


@attrs.frozen(init=False)
class ValueMesh(Generic[T]):
    """A region with one value per rank, in dense rank order.

    Attributes:
        region: the ranks the values belong to.
    """

    region: Region
    _values: tuple[T, ...]

    def __init__(self, region: Region, values: Iterable[T]) -> None:
        """Pair ``region`` with ``values`` (dense rank order).

        Raises:
            CardinalityError: the number of values differs from ``region.num_ranks``.
            InputError: ``region`` is not a Region.
        """
        if not isinstance(region, Region):
            raise InputError(f"a value mesh needs a Region, got {type(region).__name__}")
        vals = tuple(values)
        if len(vals) != region.num_ranks:
            raise CardinalityError(
                f"region {region} has {region.num_ranks} ranks but {len(vals)} values were given"
            )
        self.__attrs_init__(region, vals)

    @classmethod
    def from_single(cls, region: Region, value: T) -> ValueMesh[T]:
        """A mesh holding ``value`` at every rank of ``region``."""
        return cls(region, [value] * region.num_ranks)

    def values(self) -> list[T]:
        """The values in dense rank order."""
        return list(self._values)

    def items(self) -> list[tuple[Point, T]]:
        """``(point, value)`` pairs in dense rank order; points are over ``region.extent``."""
        extent = self.region.extent
        return [(Point(i, extent), v) for i, v in enumerate(self._values)]

    def get(self, rank: int) -> T:
        """The value at dense rank ``rank``.

        Raises:
            RankIndexError: ``rank`` is outside ``0..len(self)-1``.
        """
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < len(self._values):
            raise RankIndexError(
                f"rank {rank!r} out of range: value mesh has {len(self._values)} ranks"
            )
        return self._values[rank]

    def map(self, fn: Callable[[T], U]) -> ValueMesh[U]:
        """A mesh over the same region with ``fn`` applied to every value."""
        return ValueMesh(self.region, [fn(v) for v in self._values])

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[tuple[Point, T]]:
        return iter(self.items())
