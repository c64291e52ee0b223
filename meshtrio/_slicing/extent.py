"""Extents (labelled sizes) and points (a rank inside an extent), spec 1.1.

Invariants owned here:

* An :class:`Extent` has unique ``str`` labels and ``int`` sizes in ``0..2**64-1`` (zero
  allowed; the bound keeps every extent printable); ``num_ranks`` is the product of the sizes
  (1 for the unity extent, which has no dims).
* Ranks are row-major: the last dimension varies fastest.
* A :class:`Point` always lies inside its extent (``0 <= rank < extent.num_ranks``).
* ``Point.parse(str(p)) == p`` for every point ``p``; ``parse`` raises only
  :class:`PointParseError`. ``extent.point(p.coords) == p`` for every point ``p`` of
  ``extent``, and ``extent.points()`` yields exactly the points of ranks
  ``0..num_ranks-1``, in that order.
* Coordinates are positions, not Python indices: ``point`` and ``rank_of`` refuse a negative
  coordinate (``Region.range``/``at`` are where negative indices count from the end).
* Lookups by label (``size``, ``position``, ``point[label]``) raise :class:`DimensionError`
  for a label that is not a str or not a dimension; arguments of the wrong type raise an
  :class:`InputError`, never a builtin TypeError or AttributeError.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from meshtrio._errors import DimensionError, ExtentError, InputError, RankIndexError
from meshtrio._slicing.grammar import parse_point_text, quote_label
from meshtrio._util import is_int, show

if TYPE_CHECKING:
    from meshtrio._slicing.region import Region

__all__ = ["SIZE_MAX", "Extent", "Point", "row_major_strides"]

SIZE_MAX = 2**64 - 1
"""The largest dimension size (and, for regions, offset and stride)."""


def row_major_strides(sizes: Sequence[int]) -> tuple[int, ...]:
    """Row-major strides for ``sizes`` (last dim stride 1).

    A size-0 dimension counts as size 2 when computing the strides outside it, so the strides
    stay distinct and pass slice validation (the region is empty whatever they are).

    Raises:
        ExtentError: ``sizes`` is not a sequence of ints >= 0.
    """
    if not isinstance(sizes, Sequence):
        raise ExtentError(f"sizes must be a sequence of ints, got {type(sizes).__name__}")
    for size in sizes:
        if not is_int(size) or size < 0:
            raise ExtentError(f"sizes must be ints >= 0, got {show(size)}")
    return _row_major_strides(sizes)


def _row_major_strides(sizes: Sequence[int]) -> tuple[int, ...]:
    strides = [1] * len(sizes)
    acc = 1
    for k in range(len(sizes) - 1, -1, -1):
        strides[k] = acc
        acc *= sizes[k] if sizes[k] else 2
    return tuple(strides)


@attrs.frozen(init=False)
class Extent:
    """Ordered, labelled dimension sizes: the shape of a rank space.

    ``Extent(x=2, y=3)`` (keyword order is dimension order) or
    ``Extent.from_pairs([("x", 2), ("y", 3)])`` for labels that are not identifiers.

    Attributes:
        labels: the dimension labels, in order.
        sizes: the dimension sizes, in the same order.
    """

    labels: tuple[str, ...]
    sizes: tuple[int, ...]
    _index: dict[str, int] = attrs.field(init=False, eq=False, repr=False)

    def __init__(self, **sizes: int) -> None:
        """Build an extent from keyword sizes (keyword order is dimension order).

        Raises:
            ExtentError: a size that is not an int in ``0..2**64-1``.
        """
        labels, values = _check_pairs(sizes.items())
        self.__attrs_init__(labels, values)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, int]]) -> Extent:
        """Build an extent from ``(label, size)`` pairs; labels may be any string.

        Raises:
            ExtentError: a duplicate or non-str label, a bad size, or a malformed pair.
        """
        labels, values = _check_pairs(pairs)
        ext = cls.__new__(cls)
        ext.__attrs_init__(labels, values)
        return ext

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_index", {label: k for k, label in enumerate(self.labels)})

    @classmethod
    def unity(cls) -> Extent:
        """The extent with no dimensions (exactly one rank)."""
        return cls()

    @property
    def num_ranks(self) -> int:
        """The number of ranks: the product of the sizes."""
        return math.prod(self.sizes)

    def position(self, label: str) -> int | None:
        """The index of dimension ``label``, or None if there is no such dimension.

        Raises:
            DimensionError: ``label`` is not a str.
        """
        if not isinstance(label, str):
            raise DimensionError(f"dimension labels are str, got {type(label).__name__}")
        return self._index.get(label)

    def size(self, label: str) -> int:
        """The size of dimension ``label``.

        Raises:
            DimensionError: no such dimension, or ``label`` is not a str.
        """
        pos = self.position(label)
        if pos is None:
            raise DimensionError(f"no dimension {show(label)} in extent {self}")
        return self.sizes[pos]

    def concat(self, other: Extent) -> Extent:
        """This extent's dims followed by ``other``'s.

        Raises:
            ExtentError: ``other`` is not an Extent, or one of its labels is already in this
                extent.
        """
        if not isinstance(other, Extent):
            raise ExtentError(f"concat needs an Extent, got {type(other).__name__}")
        for label in other.labels:
            if label in self._index:
                raise ExtentError(
                    f"cannot concat {self} and {other}: overlapping label {show(label)}"
                )
        return Extent.from_pairs(
            list(zip(self.labels, self.sizes, strict=True))
            + list(zip(other.labels, other.sizes, strict=True))
        )

    def point_of_rank(self, rank: int) -> Point:
        """The point at row-major ``rank``.

        Raises:
            RankIndexError: ``rank`` is outside ``0..num_ranks-1``.
        """
        return Point(rank, self)

    def point(self, coords: Sequence[int]) -> Point:
        """The point with coordinates ``coords`` (one per dimension, in dimension order).

        Raises:
            InputError: ``coords`` is not a sequence of ints, or has the wrong length (names
                both lengths).
            RankIndexError: a coordinate outside its dimension (names the dim and size).
        """
        if isinstance(coords, str | bytes | bytearray) or not isinstance(coords, Sequence):
            raise InputError(
                f"point needs a sequence of coordinates, got {type(coords).__name__} "
                f"(for a {{label: coord}} mapping use rank_of)"
            )
        try:
            count = len(coords)
        except OverflowError:
            count = -1
        if count != len(self.sizes):
            given = "too many" if count < 0 else str(count)
            raise InputError(
                f"extent {self} has {len(self.sizes)} dimension(s) but {given} coordinate(s) "
                f"were given"
            )
        rank = 0
        for label, size, c in zip(self.labels, self.sizes, coords, strict=True):
            rank = rank * size + _checked_coord(label, size, c)
        return Point._unchecked(rank, self)

    def points(self) -> Iterator[Point]:
        """Every point of this extent in row-major (rank) order, made as they are taken.

        The 0-dim extent has exactly one point; an extent with a size-0 dimension has none.
        """
        for rank in range(self.num_ranks):
            yield Point._unchecked(rank, self)

    def rank_of(self, point: Point | Mapping[str, int]) -> int:
        """The row-major rank of a point, given as a :class:`Point` or ``{label: coord}``.

        Raises:
            DimensionError: a label this extent lacks, or a missing label.
            RankIndexError: a coordinate outside its dimension (names the dim and size).
            InputError: ``point`` is neither a Point nor a mapping, or a coordinate that is not
                an int.
        """
        if isinstance(point, Point):
            if point.extent == self:
                return point.rank
            coords: Mapping[str, int] = dict(zip(point.extent.labels, point.coords, strict=True))
        elif isinstance(point, Mapping):
            coords = point
        else:
            raise InputError(
                f"rank_of needs a Point or a {{label: coord}} mapping, got {type(point).__name__}"
            )
        for label in coords:
            if not isinstance(label, str) or label not in self._index:
                raise DimensionError(f"no dimension {show(label)} in extent {self}")
        rank = 0
        for label, size in zip(self.labels, self.sizes, strict=True):
            if label not in coords:
                raise DimensionError(f"missing coordinate for dimension {label!r} of {self}")
            rank = rank * size + _checked_coord(label, size, coords[label])
        return rank

    def region(self) -> Region:
        """This extent as a region: row-major strides, offset 0."""
        from meshtrio._slicing.region import Region

        return Region(self.labels, 0, self.sizes, _row_major_strides(self.sizes))

    def group_by(self, label: str) -> Iterator[Region]:
        """One region per coordinate of the dimensions before ``label``, each spanning
        ``label`` and the dimensions after it: :meth:`Region.group_by` of :meth:`region`.

        Raises:
            DimensionError: no such dimension, or ``label`` is not a str (raised by the call,
                not on the first ``next``).
            SliceError: while iterating, for a group whose first base rank is beyond
                ``2**64-1`` (only in extents of more ranks than that).
        """
        self.size(label)
        return self.region().group_by(label)

    def __str__(self) -> str:
        inner = ", ".join(
            f"{quote_label(label)}: {size}"
            for label, size in zip(self.labels, self.sizes, strict=True)
        )
        return "{" + inner + "}"


def _checked_coord(label: str, size: int, c: object) -> int:
    if not is_int(c):
        raise InputError(f"coordinate of dimension {label!r} must be an int, got {show(c)}")
    if not 0 <= c < size:
        raise RankIndexError(
            f"coordinate {show(c)} out of range for dimension {label!r} of size {size}"
        )
    return c


def _check_pairs(
    pairs: Iterable[tuple[str, int]],
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    labels: list[str] = []
    sizes: list[int] = []
    index: dict[str, int] = {}
    if isinstance(pairs, str | bytes | Mapping):
        raise ExtentError(
            f"extent pairs must be an iterable of (label, size) pairs, got "
            f"{type(pairs).__name__} (for a mapping use Extent(**m) or m.items())"
        )
    try:
        items = iter(pairs)
    except TypeError:
        raise ExtentError(f"extent pairs must be iterable, got {type(pairs).__name__}") from None
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ExtentError(f"extent entries must be (label, size) pairs, got {show(item)}")
        label, size = item
        if not isinstance(label, str):
            raise ExtentError(f"dimension labels must be str, got {show(label)}")
        if label in index:
            raise ExtentError(f"duplicate dimension label {show(label)}")
        if not is_int(size) or not 0 <= size <= SIZE_MAX:
            raise ExtentError(
                f"size of dimension {show(label)} must be an int in 0..2**64-1, got {show(size)}"
            )
        index[label] = len(labels)
        labels.append(label)
        sizes.append(size)
    return tuple(labels), tuple(sizes)


@attrs.frozen(init=False)
class Point:
    """One rank of an extent, with its row-major coordinates.

    Attributes:
        rank: the row-major rank within ``extent``.
        extent: the extent the point lies in.
        coords: one coordinate per dimension of ``extent``.
    """

    rank: int
    extent: Extent
    coords: tuple[int, ...] = attrs.field(init=False, eq=False)

    def __init__(self, rank: int, extent: Extent) -> None:
        """Build the point at ``rank`` of ``extent``.

        Raises:
            RankIndexError: ``rank`` is outside ``0..extent.num_ranks-1`` (names rank and total).
            InputError: ``rank`` is not an int or ``extent`` is not an Extent.
        """
        if not isinstance(extent, Extent):
            raise InputError(f"a point needs an Extent, got {type(extent).__name__}")
        if not is_int(rank):
            raise InputError(f"a point's rank must be an int, got {show(rank)}")
        total = extent.num_ranks
        if not 0 <= rank < total:
            raise RankIndexError(
                f"rank {show(rank)} out of range: extent {extent} has {show(total)} ranks"
            )
        self.__attrs_init__(rank, extent)

    @classmethod
    def _unchecked(cls, rank: int, extent: Extent) -> Point:
        point = cls.__new__(cls)
        point.__attrs_init__(rank, extent)
        return point

    @classmethod
    def parse(cls, text: str) -> Point:
        """Parse point text, the form ``str(point)`` prints: ``x=1/4,y=2/5`` (label, then
        coordinate ``/`` size, per dimension); the empty text is the 0-dim point.

        Spaces around tokens are ignored; labels outside ``[A-Za-z0-9_]+`` are double-quoted,
        with the escapes of region text.

        Raises:
            PointParseError: for text that is not a point, naming the token and its position:
                a missing label, coordinate or size, an extra ``=`` or ``/``, a number that is
                not a non-negative integer, a trailing comma, a duplicate label, a size beyond
                ``2**64-1`` or a coordinate not below its size.
        """
        parsed = parse_point_text(text)
        extent = Extent.from_pairs(zip(parsed.labels, parsed.sizes, strict=True))
        rank = 0
        for c, size in zip(parsed.coords, parsed.sizes, strict=True):
            rank = rank * size + c
        return cls._unchecked(rank, extent)

    def __attrs_post_init__(self) -> None:
        coords = [0] * len(self.extent.sizes)
        rest = self.rank
        for k in range(len(coords) - 1, -1, -1):
            rest, coords[k] = divmod(rest, self.extent.sizes[k])
        object.__setattr__(self, "coords", tuple(coords))

    def __getitem__(self, label: str) -> int:
        """The coordinate along dimension ``label``.

        Raises:
            DimensionError: no such dimension, or ``label`` is not a str.
        """
        pos = self.extent.position(label)
        if pos is None:
            raise DimensionError(f"no dimension {show(label)} in point {self}")
        return self.coords[pos]

    def __str__(self) -> str:
        return ",".join(
            f"{quote_label(label)}={c}/{size}"
            for label, c, size in zip(
                self.extent.labels, self.coords, self.extent.sizes, strict=True
            )
        )
