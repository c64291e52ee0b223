"""Value meshes: one value per rank of a region (spec 1.5, without overlays).

Invariants owned here:

* A :class:`ValueMesh` holds exactly ``region.num_ranks`` values, addressed by dense rank.
* Points handed out by :meth:`ValueMesh.items` are over ``region.extent`` (dense coordinates).
* Arguments of the wrong type (a non-Region, non-iterable values, a non-int rank, a
  non-callable ``fn``) raise :class:`InputError`, never a builtin TypeError or AttributeError.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import attrs

from meshtrio._errors import CardinalityError, InputError, RankIndexError
from meshtrio._slicing.extent import Point
from meshtrio._slicing.region import Region
from meshtrio._util import is_int, show

__all__ = ["ValueMesh"]

T = TypeVar("T")
U = TypeVar("U")


def _holdable_ranks(region: Region) -> int:
    n = region.num_ranks
    if n >= sys.maxsize:
        raise CardinalityError(
            f"region {region} has {show(n)} ranks, too many to hold a value each"
        )
    return n


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
            CardinalityError: the number of values differs from ``region.num_ranks``, or the
                region has more ranks than a tuple can hold (``sys.maxsize``).
            InputError: ``region`` is not a Region, or ``values`` is not iterable.
        """
        if not isinstance(region, Region):
            raise InputError(f"a value mesh needs a Region, got {type(region).__name__}")
        try:
            it = iter(values)
        except TypeError:
            raise InputError(
                f"a value mesh needs an iterable of values, got {type(values).__name__}"
            ) from None
        n = _holdable_ranks(region)
        # Take at most n + 1 values, so an endless iterator fails instead of hanging.
        vals = tuple(itertools.islice(it, n + 1))
        if len(vals) != n:
            given = f"more than {show(n)}" if len(vals) > n else str(len(vals))
            raise CardinalityError(
                f"region {region} has {show(n)} ranks but {given} values were given"
            )
        self.__attrs_init__(region, vals)

    @classmethod
    def from_single(cls, region: Region, value: T) -> ValueMesh[T]:
        """A mesh holding ``value`` at every rank of ``region``.

        Raises:
            InputError: ``region`` is not a Region.
            CardinalityError: the region has more ranks than a tuple can hold.
        """
        if not isinstance(region, Region):
            raise InputError(f"a value mesh needs a Region, got {type(region).__name__}")
        return cls(region, itertools.repeat(value, _holdable_ranks(region)))

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
            InputError: ``rank`` is not an int.
        """
        if not is_int(rank):
            raise InputError(f"a value mesh rank must be an int, got {show(rank)}")
        if not 0 <= rank < len(self._values):
            raise RankIndexError(
                f"rank {show(rank)} out of range: value mesh has {len(self._values)} ranks"
            )
        return self._values[rank]

    def map(self, fn: Callable[[T], U]) -> ValueMesh[U]:
        """A mesh over the same region with ``fn`` applied to every value.

        Raises:
            InputError: ``fn`` is not callable.
        """
        if not callable(fn):
            raise InputError(f"map needs a callable, got {type(fn).__name__}")
        return ValueMesh(self.region, [fn(v) for v in self._values])

    def __repr__(self) -> str:
        return f"<ValueMesh {self.region}: {len(self)} value(s)>"

    def __str__(self) -> str:
        """A table: one ``point: value`` line per rank, in rank order."""
        return "\n".join(f"{point}: {value}" for point, value in self.items())

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[tuple[Point, T]]:
        return iter(self.items())
