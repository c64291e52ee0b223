"""Tests for point text: Point.parse / str(Point) and the point grammar
(meshtrio._slicing.grammar.parse_point_text).

The cases upstream's own tests check are ported in test_upstream_view.py; these cover what
meshtrio adds or does differently (positions in errors, labels that print quoted, duplicate
labels, numbers beyond the size bound) and the properties.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import GRAMMAR_ALPHABET, extents, odd_labels

from meshtrio import Extent, Point
from meshtrio._slicing.grammar import parse_point_text
from meshtrio.errors import InputError, MeshError, PointParseError, RegionParseError


def test_point_parse_error_is_a_value_error_not_a_region_error() -> None:
    """PointParseError is a MeshError and a ValueError (through InputError), not a
    RegionParseError."""
    assert issubclass(PointParseError, MeshError)
    assert issubclass(PointParseError, InputError)
    assert issubclass(PointParseError, ValueError)
    assert not issubclass(PointParseError, RegionParseError)


@pytest.mark.parametrize(
    ("text", "position", "token"),
    [
        ("x=1/2,x=0/2", 6, "duplicate dimension label 'x'"),
        ("x=0/" + "9" * 25, 4, "beyond 2**64-1"),
        ("x=0/18446744073709551616", 4, "beyond 2**64-1"),
        ("x=" + "9" * 5000 + "/1", 2, "too long"),
        ("x=-1/4", 2, "'-'"),
        ("x=+1/4", 2, "'+'"),
        ("3+x=1/4", 1, "'+'"),
        ("dim/0=1/3", 3, "'/'"),
        ("x=1/4 y=2/5", 6, "'y'"),
        ("x=1/4;", 5, "';'"),
        ('"abc=1/4', 0, "unterminated"),
        ('"\\u{110000}"=0/1', 1, "code point"),
        ("x=0/0", 2, "not below its size 0"),
        ("x=1/4,y=5/5", 8, "coordinate 5 of dimension 'y' is not below its size 5"),
    ],
)
def test_errors_name_token_and_position(text: str, position: int, token: str) -> None:
    """Every rejection is a PointParseError with the text, the position and the token."""
    with pytest.raises(PointParseError) as info:
        Point.parse(text)
    err = info.value
    assert err.text == text
    assert err.position == position
    assert token in str(err)
    assert f"position {position} of point text" in str(err)


@pytest.mark.parametrize("value", [None, b"x=1/2", 3, ["x=1/2"]])
def test_non_str_is_a_point_parse_error(value: object) -> None:
    """Text that is not a str is refused with a PointParseError at position 0."""
    with pytest.raises(PointParseError, match="must be a str") as info:
        Point.parse(value)  # type: ignore[arg-type]
    assert info.value.position == 0


def test_largest_size_parses() -> None:
    """A size of 2**64-1 (the extent bound) parses, with its last coordinate."""
    big = 2**64 - 1
    p = Point.parse(f"x={big - 1}/{big}")
    assert p.extent == Extent(x=big)
    assert p.coords == (big - 1,)


def test_odd_labels_print_quoted_and_read_back() -> None:
    """Labels outside [A-Za-z0-9_]+ print quoted with escapes (the empty label as "") and
    parse back."""
    ext = Extent.from_pairs([("", 2), ('say "hi"', 3), ("new\nline", 2), ("0", 1)])
    p = ext.point_of_rank(7)
    text = str(p)
    assert text == '""=1/2,"say \\"hi\\""=0/3,"new\\nline"=1/2,0=0/1'
    assert Point.parse(text) == p


def test_parse_point_text_parts() -> None:
    """parse_point_text returns labels, coordinates and sizes; the empty text has none."""
    assert parse_point_text(' host = 0 / 2 , "a b" = 7 / 8 ') == (("host", "a b"), (0, 7), (2, 8))
    assert parse_point_text("") == ((), (), ())
    assert parse_point_text(" \t\n") == ((), (), ())


@given(extents())
def test_every_point_round_trips(ext: Extent) -> None:
    """Point.parse(str(p)) == p, and str of the parsed point is the same text, for every point
    of every generated extent (odd labels included)."""
    for rank in range(ext.num_ranks):
        p = Point(rank, ext)
        text = str(p)
        back = Point.parse(text)
        assert back == p
        assert back.coords == p.coords
        assert str(back) == text


@given(st.lists(odd_labels(), min_size=1, max_size=3, unique=True), st.data())
def test_odd_label_points_round_trip(labels: list[str], data: st.DataObject) -> None:
    """Points over odd labels (quotes, backslashes, delimiters, unicode, control characters,
    empty and numeric labels) survive print then parse."""
    ext = Extent.from_pairs([(lab, 3) for lab in labels])
    p = Point(data.draw(st.integers(0, ext.num_ranks - 1)), ext)
    assert Point.parse(str(p)) == p


def _check_parse_only_raises_point_parse_error(text: str) -> None:
    try:
        p = Point.parse(text)
    except PointParseError as err:
        where = (err.text, err.position)
    else:
        assert Point.parse(str(p)) == p
        return
    assert where[0] == text
    assert 0 <= where[1] <= len(text)


@given(st.text())
def test_arbitrary_text_raises_only_point_parse_error(text: str) -> None:
    """Any text either parses (and round-trips) or raises PointParseError."""
    _check_parse_only_raises_point_parse_error(text)


@given(st.text(GRAMMAR_ALPHABET, max_size=40))
def test_grammar_alphabet_text_raises_only_point_parse_error(text: str) -> None:
    """Text over the grammar's own alphabet either parses or raises PointParseError."""
    _check_parse_only_raises_point_parse_error(text)


@given(extents(), st.data())
def test_mutated_point_text_raises_only_point_parse_error(ext: Extent, data: st.DataObject) -> None:
    """Valid point text with one character changed parses or raises PointParseError."""
    if not ext.num_ranks:
        return
    text = str(Point(data.draw(st.integers(0, ext.num_ranks - 1)), ext))
    if not text:
        return
    i = data.draw(st.integers(0, len(text) - 1))
    c = data.draw(st.sampled_from(GRAMMAR_ALPHABET))
    _check_parse_only_raises_point_parse_error(text[:i] + c + text[i + 1 :])
