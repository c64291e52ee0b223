"""Regions: labelled, possibly strided and offset hyper-rectangles of base ranks (spec 1.1-1.4).

A region maps each coordinate vector ``c`` (``0 <= c[k] < sizes[k]``) to the base rank
``offset + sum(c[k] * strides[k])``. Its *dense* ranks ``0..num_ranks-1`` enumerate those
coordinates row-major (last dimension fastest); that order need not be sorted by base rank.

Invariants owned here:

* Every :class:`Region` is a valid slice (spec 1.2): equal lengths, ints in ``0..2**64-1``
  (offset, sizes and strides; the bound keeps every region printable), unique ``str``
  labels, and sorted strides that divide each other, are unique unless a size is 1, and each
  cover the space below them. So distinct coordinates give distinct base ranks, and
  base ranks decode greedily from the largest stride down.
* ``Region.parse(str(r)) == r`` for every region ``r``; ``parse`` raises only RegionParseError.
* ``range``/``at`` follow Python indexing: ints may be negative, slices clamp, steps must be
  positive. ``range`` keeps the dimension. A dimension whose new size is 1, and every
  dimension of an empty region, keeps its stride (it cannot change the rank set), so such
  results stay valid. A stepped selection whose strides break spec 1.2 (e.g. every other
  column of a 2x3 grid) cannot be represented and raises :class:`SliceError` (upstream
  panics there).
* Points are over :attr:`Region.extent` (dense coordinates): ``point_of_base_rank`` and
  ``base_rank_of_point`` are inverse bijections between the region's base ranks and the
  points of its extent, and refuse anything else (a base rank outside the region, a point of
  another extent, even one with the same labels in another order).
* ``group_by(label)`` yields ``prod(sizes before label)`` regions, each with the labels,
  sizes and strides of ``label`` and the dimensions after it; chained in order, their base
  ranks are exactly ``base_ranks()`` (so they partition the region).
* Arguments of the wrong type raise an :class:`InputError` (or :class:`DimensionError` for a
  label that is not a str), never a builtin TypeError or AttributeError.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import attrs

from meshtrio._errors import (
    DimensionError,
    EmptyRangeError,
    ExtentError,
    InputError,
    RankIndexError,
    RegionParseError,
    SliceError,
)
from meshtrio._slicing.extent import SIZE_MAX, Extent, Point
from meshtrio._slicing.grammar import format_checked_region, parse_region_text
from meshtrio._util import is_int, show

__all__ = ["Region", "check_slice"]

T = TypeVar("T")


def check_slice(offset: int, sizes: Sequence[int], strides: Sequence[int]) -> None:
    """Check that offset/sizes/strides form a valid slice (spec 1.2, checks in spec order).

    Raises:
        SliceError: sizes or strides that are not sequences, mismatched lengths, a number that
            is not an int in ``0..2**64-1``, or a slice that is nonrectangular, has non-unique
            strides, or has a stride too small for the space below it.
    """
    for what, seq in (("sizes", sizes), ("strides", strides)):
        if not isinstance(seq, Sequence):
            raise SliceError(f"{what} must be a sequence of ints, got {type(seq).__name__}")
    if len(sizes) != len(strides):
        raise SliceError(f"invalid dims: {len(sizes)} sizes but {len(strides)} strides")
    for what, values in (("offset", (offset,)), ("size", sizes), ("stride", strides)):
        for v in values:
            if not is_int(v) or not 0 <= v <= SIZE_MAX:
                raise SliceError(f"every {what} must be an int in 0..2**64-1, got {show(v)}")
    prev_stride = 0
    prev_size = 1
    total = 1
    for stride, size in sorted(zip(strides, sizes, strict=True)):
        if prev_stride:
            if stride % prev_stride:
                raise SliceError(
                    f"nonrectangular shape: stride {stride} is not a multiple of stride "
                    f"{prev_stride} (strides {list(strides)}, sizes {list(sizes)})"
                )
            if stride == prev_stride and size != 1 and prev_size != 1:
                raise SliceError(
                    f"nonunique strides: two dimensions of sizes {prev_size} and {size} "
                    f"share stride {stride}"
                )
        if total > stride:
            raise SliceError(
                f"stride {stride} too small: it must be at least the size of the space "
                f"below it ({total}) (strides {list(strides)}, sizes {list(sizes)})"
            )
        total = stride * size
        prev_stride, prev_size = stride, size


def _iterate(values: Iterable[T], what: str, error: type[InputError]) -> Iterator[T]:
    try:
        return iter(values)
    except TypeError:
        raise error(f"{what} must be a sequence, got {type(values).__name__}") from None


@attrs.frozen(init=False)
class Region:
    """A labelled slice of a base rank space.

    Attributes:
        labels: the dimension labels, in order.
        offset: the base rank of the all-zero coordinate.
        sizes: the number of coordinates along each dimension.
        strides: the base-rank distance between neighbours along each dimension.
    """

    labels: tuple[str, ...]
    offset: int
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    _cache: dict[str, object] = attrs.field(init=False, factory=dict, eq=False, repr=False)

    def __init__(
        self, labels: Sequence[str], offset: int, sizes: Sequence[int], strides: Sequence[int]
    ) -> None:
        """Build and validate a region.

        Raises:
            ExtentError: labels that are not unique strs, or a label count that differs from
                the number of sizes.
            SliceError: offset/sizes/strides that are not a valid slice (spec 1.2).
        """
        if isinstance(labels, str):
            raise ExtentError(f"labels must be a sequence of str, not the str {show(labels)}")
        labels_t = tuple(_iterate(labels, "labels", ExtentError))
        sizes_t = tuple(_iterate(sizes, "sizes", SliceError))
        strides_t = tuple(_iterate(strides, "strides", SliceError))
        if len(labels_t) != len(sizes_t):
            raise ExtentError(
                f"label/size dimension mismatch: {len(labels_t)} labels, {len(sizes_t)} sizes"
            )
        seen: set[str] = set()
        for label in labels_t:
            if not isinstance(label, str):
                raise ExtentError(f"dimension labels must be str, got {show(label)}")
            if label in seen:
                raise ExtentError(f"duplicate dimension label {show(label)}")
            seen.add(label)
        check_slice(offset, sizes_t, strides_t)
        self.__attrs_init__(labels_t, offset, sizes_t, strides_t)

    @classmethod
    def _unchecked(
        cls, labels: tuple[str, ...], offset: int, sizes: tuple[int, ...], strides: tuple[int, ...]
    ) -> Region:
        region = cls.__new__(cls)
        region.__attrs_init__(labels, offset, sizes, strides)
        return region

    @classmethod
    def parse(cls, text: str) -> Region:
        """Parse region text (spec 1.3), e.g. ``2+replica=1/2,host=2/1``.

        Raises:
            RegionParseError: for any input that is not a valid region; a validity failure
                (position 0) chains the :class:`SliceError` or :class:`ExtentError` as cause.
        """
        parsed = parse_region_text(text)
        try:
            return cls(parsed.labels, parsed.offset, parsed.sizes, parsed.strides)
        except (SliceError, ExtentError) as exc:
            raise RegionParseError(
                f"region text {text!r} is not a valid region: {exc}", text=text, position=0
            ) from exc

    def __str__(self) -> str:
        return format_checked_region(self.labels, self.offset, self.sizes, self.strides)

    # ------------------------------------------------------------------ shape

    @property
    def extent(self) -> Extent:
        """The region's own extent: its labels with its sizes."""
        ext = self._cache.get("extent")
        if ext is None:
            ext = Extent.from_pairs(list(zip(self.labels, self.sizes, strict=True)))
            self._cache["extent"] = ext
        assert isinstance(ext, Extent)
        return ext

    @property
    def num_ranks(self) -> int:
        """The number of ranks: the product of the sizes (1 for a 0-dim region)."""
        return math.prod(self.sizes)

    def point_of_rank(self, rank: int) -> Point:
        """The point (over :attr:`extent`) of dense rank ``rank``.

        Raises:
            RankIndexError: ``rank`` is outside ``0..num_ranks-1``.
        """
        return Point(rank, self.extent)

    # ------------------------------------------------------------------ ranks

    def _base_ranks(self) -> tuple[int, ...]:
        ranks = self._cache.get("base")
        if ranks is None:
            acc = [self.offset]
            for size, stride in zip(self.sizes, self.strides, strict=True):
                steps = [i * stride for i in range(size)]
                acc = [b + s for b in acc for s in steps]
            ranks = tuple(acc)
            self._cache["base"] = ranks
        assert isinstance(ranks, tuple)
        return ranks

    def base_ranks(self) -> list[int]:
        """The base ranks in dense (row-major) order."""
        return list(self._base_ranks())

    def base_rank(self, dense: int) -> int:
        """The base rank at dense rank ``dense``.

        Raises:
            RankIndexError: ``dense`` is outside ``0..num_ranks-1``.
            InputError: ``dense`` is not an int.
        """
        if not is_int(dense):
            raise InputError(f"a dense rank must be an int, got {show(dense)}")
        total = self.num_ranks
        if not 0 <= dense < total:
            raise RankIndexError(
                f"dense rank {show(dense)} out of range: region {self} has {show(total)} ranks"
            )
        base = self.offset
        for k in range(len(self.sizes) - 1, -1, -1):
            dense, c = divmod(dense, self.sizes[k])
            base += c * self.strides[k]
        return base

    def dense_index(self, base: int) -> int | None:
        """The dense rank of base rank ``base``, or None when the region does not contain it.

        Raises:
            InputError: ``base`` is not an int.
        """
        if not is_int(base):
            raise InputError(f"a base rank must be an int, got {show(base)}")
        if base < self.offset or self.num_ranks == 0:
            return None
        rest = base - self.offset
        coords = [0] * len(self.sizes)
        for k in sorted(range(len(self.sizes)), key=lambda k: self.strides[k], reverse=True):
            if self.sizes[k] > 1:
                c, rest = divmod(rest, self.strides[k])
                if c >= self.sizes[k]:
                    return None
                coords[k] = c
        if rest:
            return None
        dense = 0
        for c, size in zip(coords, self.sizes, strict=True):
            dense = dense * size + c
        return dense

    def point_of_base_rank(self, base: int) -> Point:
        """The point (over :attr:`extent`) at base rank ``base``.

        Raises:
            RankIndexError: the region does not contain ``base``.
            InputError: ``base`` is not an int.
        """
        dense = self.dense_index(base)
        if dense is None:
            raise RankIndexError(f"base rank {show(base)} is not in region {self}")
        return Point(dense, self.extent)

    def base_rank_of_point(self, point: Point) -> int:
        """The base rank of ``point``, a point of this region's :attr:`extent`.

        Raises:
            ExtentError: ``point`` is a point of another extent (use ``extent.rank_of`` and
                :meth:`base_rank` to map one across extents by label).
            InputError: ``point`` is not a Point.
        """
        if not isinstance(point, Point):
            raise InputError(f"base_rank_of_point needs a Point, got {type(point).__name__}")
        if point.extent != self.extent:
            raise ExtentError(
                f"point {show(str(point))} is over extent {point.extent}, not over the extent "
                f"{self.extent} of region {self}"
            )
        return self.base_rank(point.rank)

    def contains(self, base: int) -> bool:
        """True when base rank ``base`` is in this region.

        Raises:
            InputError: ``base`` is not an int.
        """
        return self.dense_index(base) is not None

    def _dense_map(self) -> dict[int, int]:
        index = self._cache.get("index")
        if index is None:
            index = {b: i for i, b in enumerate(self._base_ranks())}
            self._cache["index"] = index
        assert isinstance(index, dict)
        return index

    def is_subset(self, other: Region) -> bool:
        """True when every base rank of this region is in ``other`` (labels are ignored).

        Raises:
            InputError: ``other`` is not a Region.
        """
        if not isinstance(other, Region):
            raise InputError(f"is_subset needs a Region, got {type(other).__name__}")
        if self.num_ranks > other.num_ranks:
            return False
        index = other._dense_map()
        return all(b in index for b in self._base_ranks())

    def remap(self, target: Region) -> list[int] | None:
        """For each rank of ``target`` in order, its dense rank within this region.

        Returns None when ``target`` is not a subset of this region.

        Raises:
            InputError: ``target`` is not a Region.
        """
        if not isinstance(target, Region):
            raise InputError(f"remap needs a Region, got {type(target).__name__}")
        if target.num_ranks > self.num_ranks:
            return None
        index = self._dense_map()
        out: list[int] = []
        for b in target._base_ranks():
            i = index.get(b)
            if i is None:
                return None
            out.append(i)
        return out

    def group_by(self, label: str) -> Iterator[Region]:
        """One region per coordinate of the dimensions before ``label``, in row-major order,
        each spanning ``label`` and the dimensions after it (offset: that coordinate's base
        rank). Grouping by the first dimension gives the region itself.

        Groups are made as they are taken, so a region of very many groups is fine.

        Raises:
            DimensionError: no such dimension, or ``label`` is not a str (raised by the call,
                not on the first ``next``).
            SliceError: while iterating, for a group whose offset is beyond ``2**64-1`` (only
                in regions whose base ranks pass that bound).
        """
        k = self._dim(label)
        return self._groups(k)

    def _groups(self, k: int) -> Iterator[Region]:
        outer_sizes, outer_strides = self.sizes[:k], self.strides[:k]
        labels, sizes, strides = self.labels[k:], self.sizes[k:], self.strides[k:]
        for group in range(math.prod(outer_sizes)):
            offset = self.offset
            rest = group
            for j in range(k - 1, -1, -1):
                rest, c = divmod(rest, outer_sizes[j])
                offset += c * outer_strides[j]
            # Any subset of a valid slice's dimensions is valid (the kept strides keep their
            # order, so each still divides and covers the one below it): only the offset, the
            # base rank of an outer coordinate, can break spec 1.2.
            if offset > SIZE_MAX:
                raise SliceError(
                    f"group {show(group)} of region {self} by {self.labels[k]!r} starts at base "
                    f"rank {show(offset)}, beyond 2**64-1"
                )
            yield Region._unchecked(labels, offset, sizes, strides)

    # ------------------------------------------------------------------ selection

    def _dim(self, label: str) -> int:
        if not isinstance(label, str):
            raise DimensionError(f"dimension labels are str, got {type(label).__name__}")
        for k, lab in enumerate(self.labels):
            if lab == label:
                return k
        raise DimensionError(f"no dimension {show(label)} in region {self}")

    def _index(self, k: int, index: object) -> int:
        if not is_int(index):
            raise InputError(
                f"index for dimension {self.labels[k]!r} must be an int, got {show(index)}"
            )
        assert isinstance(index, int)
        size = self.sizes[k]
        if not -size <= index < size:
            raise RankIndexError(
                f"index {show(index)} out of range for dimension {self.labels[k]!r} of size {size}"
            )
        return index + size if index < 0 else index

    def range(self, label: str, sel: int | slice | range) -> Region:
        """Select part of dimension ``label``, keeping the dimension.

        ``sel`` is an int (one coordinate; negative counts from the end), or a ``slice`` /
        ``range`` applied like slicing ``range(size)`` (clamping, positive step).

        Raises:
            DimensionError: no such dimension, or ``label`` is not a str.
            RankIndexError: an int outside the dimension (names the dimension and its size).
            EmptyRangeError: a slice that selects nothing (names the dimension and its size).
            InputError: a non-positive step or a selector of the wrong type.
            SliceError: a stepped selection that no valid region can represent.
        """
        k = self._dim(label)
        size = self.sizes[k]
        if isinstance(sel, range):
            sel = slice(sel.start, sel.stop, sel.step)
        if isinstance(sel, slice):
            try:
                step = 1 if sel.step is None else sel.step.__index__()
                if step <= 0:
                    raise InputError(
                        f"range step for dimension {label!r} must be positive, got {show(sel.step)}"
                    )
                picked = range(size)[sel]
            except (TypeError, AttributeError):
                raise InputError(
                    f"slice bounds for dimension {label!r} must be ints, got {show(sel)}"
                ) from None
            if not picked:
                raise EmptyRangeError(
                    f"selection {show(sel)} of dimension {label!r} of size {size} is empty"
                )
            # len() of a range longer than sys.maxsize raises OverflowError; count directly.
            begin, step = picked.start, picked.step
            new_size = (picked.stop - begin + step - 1) // step
        else:
            begin, new_size, step = self._index(k, sel), 1, 1
        sizes = list(self.sizes)
        strides = list(self.strides)
        offset = self.offset + begin * strides[k]
        sizes[k] = new_size
        if new_size > 1 and self.num_ranks:
            strides[k] *= step
        try:
            check_slice(offset, sizes, strides)
        except SliceError as exc:
            raise SliceError(
                f"selecting {show(sel)} of dimension {label!r} of region {self} gives a "
                f"region that cannot be represented: {exc}"
            ) from None
        return Region._unchecked(self.labels, offset, tuple(sizes), tuple(strides))

    def at(self, label: str, index: int) -> Region:
        """Fix dimension ``label`` at ``index`` (negative counts from the end), removing it.

        Raises:
            DimensionError: no such dimension, or ``label`` is not a str.
            RankIndexError: ``index`` outside the dimension (names the dimension and its size).
            InputError: ``index`` is not an int.
        """
        k = self._dim(label)
        i = self._index(k, index)
        offset = self.offset + i * self.strides[k]
        drop = slice(k, k + 1)
        labels = self.labels[:k] + self.labels[k + 1 :]
        sizes = list(self.sizes)
        strides = list(self.strides)
        del sizes[drop], strides[drop]
        return Region(labels, offset, sizes, strides)

    def select(self, **selectors: int | slice | builtins.range) -> Region:
        """Apply one selector per label, in the order given: an int fixes its dimension and
        removes it (:meth:`at`), a ``slice`` or ``range`` keeps it, restricted (:meth:`range`).
        With no selectors, the region itself. (``ValueMesh.slice`` and ``ActorMesh.slice``
        select with it.)

        Raises:
            DimensionError: a label the region (as selected so far) lacks.
            RankIndexError: an int outside its dimension.
            EmptyRangeError: a slice or range that selects nothing.
            SliceError: a stepped selection that no valid region can represent.
            InputError: a selector that is not an int, slice or range.
        """
        region = self
        for label, sel in selectors.items():
            if is_int(sel):
                region = region.at(label, sel)
            elif isinstance(sel, slice | builtins.range):  # ``range`` is the method here
                region = region.range(label, sel)
            elif label not in region.labels:
                raise DimensionError(f"no dimension {show(label)} in region {region}")
            else:
                raise InputError(
                    f"selector for dimension {label!r} must be an int, slice or range, "
                    f"got {show(sel)}"
                )
        return region
