"""Value meshes: one value per rank of a region (spec 1.5, without overlays).

Invariants owned here:

* A :class:`ValueMesh` holds exactly ``region.num_ranks`` values, addressed by dense rank.
* Points handed out by :meth:`ValueMesh.items` are over ``region.extent`` (dense coordinates).
* ``slice(**selectors)`` applies its selectors to ``region`` in the order given, with the
  rules of :meth:`Region.at` (an int removes the dimension) and :meth:`Region.range` (a
  ``slice``/``range`` keeps it, restricted); the result's region is exactly that sub-region
  and its value at each rank is this mesh's value at the same base rank. With no selectors
  it is ``self``. It does not promise every stepped selection is representable: one whose
  result breaks spec 1.2 raises :class:`SliceError`, as ``Region.range`` does.
* ``item(**coords)`` is ``slice(**coords)`` with an int for *every* dimension, then its one
  value; a missing dimension is an :class:`InputError`, never a silent pick of coordinate 0
  (even for a size-1 dimension). ``item()`` without coordinates works only on a mesh of
  exactly one value (whatever its dimensions).
* Arguments of the wrong type (a non-Region, non-iterable values, a non-int rank, a
  non-callable ``fn``, a selector that is not an int, slice or range, a coordinate that is
  not an int) raise :class:`InputError`, never a builtin TypeError or AttributeError.
"""

from __future__ import annotations

import builtins
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

    # In this class body ``slice`` names this method, hence ``builtins.slice`` below.
    def slice(self, **selectors: int | builtins.slice | range) -> ValueMesh[T]:
        """The mesh over the part of :attr:`region` picked by ``selectors``, one per label.

        Each selector is applied to the region in the order given: an int (negative counts
        from the end) fixes its dimension and removes it (:meth:`Region.at`); a ``slice`` or
        ``range`` keeps the dimension, restricted like slicing ``range(size)``
        (:meth:`Region.range`). The result holds this mesh's values at the ranks of that
        sub-region, in its dense order. With no selectors the mesh itself is returned.

        Raises:
            DimensionError: a label the region (as sliced by the selectors before it) lacks,
                e.g. one an earlier int selector removed.
            RankIndexError: an int outside its dimension (names the dimension and its size).
            EmptyRangeError: a slice or range that selects nothing.
            SliceError: a stepped selection that no valid region can represent.
            InputError: a selector that is not an int, slice or range, a non-positive step,
                or slice bounds that are not ints.
        """
        if not selectors:
            return self
        region = self.region.select(**selectors)
        dense = self.region.remap(region)
        # at/range only ever narrow the region, so every selected rank is one of ours.
        assert dense is not None, (self.region, region)
        values = self._values
        return ValueMesh(region, [values[i] for i in dense])

    def item(self, **coords: int) -> T:
        """The value at the point with coordinates ``coords``, one int per dimension of
        :attr:`region` (negative counts from the end).

        ``item()`` without coordinates returns the only value of a mesh that has exactly one
        (such as a 0-dim one, after every dimension was sliced away).

        Raises:
            DimensionError: a label the region lacks.
            RankIndexError: a coordinate outside its dimension (names the dimension and its
                size).
            InputError: a coordinate that is not an int, a dimension without a coordinate
                (names the missing labels), or no coordinates for a mesh that does not hold
                exactly one value (names its size).
        """
        if not coords:
            if len(self._values) != 1:
                raise InputError(
                    f"item() without coordinates needs a mesh of exactly one value, but this "
                    f"mesh over region {self.region} has {show(len(self._values))}; give a "
                    f"coordinate for each of its dimensions {list(self.region.labels)}"
                )
            return self._values[0]
        for label, c in coords.items():
            if not is_int(c):
                raise InputError(
                    f"coordinate for dimension {label!r} must be an int, got {show(c)}"
                )
        # Unknown labels and out-of-range coordinates are reported by slice, first.
        sub = self.slice(**coords)
        missing = [label for label in self.region.labels if label not in coords]
        if missing:
            raise InputError(
                f"item() needs a coordinate for every dimension of region {self.region}; "
                f"missing {', '.join(repr(label) for label in missing)}"
            )
        assert len(sub._values) == 1, sub
        return sub._values[0]

    def __repr__(self) -> str:
        return f"<ValueMesh {self.region}: {len(self)} value(s)>"

    def __str__(self) -> str:
        """A table: one ``point: value`` line per rank, in rank order."""
        return "\n".join(f"{point}: {value}" for point, value in self.items())

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[tuple[Point, T]]:
        return iter(self.items())
