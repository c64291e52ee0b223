"""Tests for the region text grammar (meshtrio._slicing.grammar) and Region.parse / str."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import GRAMMAR_ALPHABET, extents, odd_labels, regions, sliced_regions

from meshtrio import Extent, Region
from meshtrio._slicing.grammar import quote_label, tokenize
from meshtrio.errors import RegionParseError, SliceError


def test_prints_offset_only_when_nonzero() -> None:
    """The offset prefix appears only for a non-zero offset."""
    assert str(Region(("x",), 0, (2,), (1,))) == "x=2/1"
    assert str(Region(("x",), 7, (2,), (1,))) == "7+x=2/1"
    assert str(Region((), 0, (), ())) == ""
    assert str(Region((), 5, (), ())) == "5+"


def test_zero_dim_region_with_offset_parses() -> None:
    """`N+` alone is a 0-dim region at base rank N (what at() on a 1-D region prints)."""
    r = Extent(hosts=4).region().at("hosts", 2)
    assert str(r) == "2+"
    assert Region.parse("2+") == r
    assert r.base_ranks() == [2]


def test_quotes_unsafe_labels_like_upstream() -> None:
    """Labels outside [A-Za-z0-9_]+ print quoted, e.g. 8+"dim/0"=4/1,"dim,1"=5/4."""
    r = Region(("dim/0", "dim,1"), 8, (4, 5), (1, 4))
    assert str(r) == '8+"dim/0"=4/1,"dim,1"=5/4'
    assert Region.parse(str(r)) == r


@pytest.mark.parametrize(
    ("label", "printed"),
    [
        ("gpu_0", "gpu_0"),
        ("0", "0"),
        ("", '""'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb\rc\td", '"a\\nb\\rc\\td"'),
        ("\x00\x1b", '"\\u{0}\\u{1b}"'),
        ("\u2028", '"\\u{2028}"'),
        ("é b", '"é b"'),
    ],
)
def test_quote_label(label: str, printed: str) -> None:
    """quote_label escapes quotes, backslashes, \\n \\r \\t and other control chars."""
    assert quote_label(label) == printed


def test_numeric_first_label_is_a_label_not_an_offset() -> None:
    """`0=2/1` parses as a dimension labelled "0" (the upstream quirk is fixed)."""
    r = Region.parse("0=2/1")
    assert r.labels == ("0",)
    assert r.offset == 0
    assert Region.parse("3+0=2/1").offset == 3
    assert Region.parse("12=2/1,3=1/1").labels == ("12", "3")


def test_spaces_around_tokens_are_tolerated() -> None:
    """Whitespace around tokens (and around a quoted label) is ignored."""
    r = Region.parse(' 2 + replica = 1 / 2 ,  "a b" = 2 / 1 ')
    assert r == Region(("replica", "a b"), 2, (1, 2), (2, 1))
    assert Region.parse("   ") == Region((), 0, (), ())


def test_escapes_are_decoded_and_unknown_ones_kept() -> None:
    """Known escapes and \\u{HEX} decode; unknown escapes are kept verbatim."""
    r = Region.parse(r'"a\"b\\c\n\u{41}\q\'\0"=1/1')
    assert r.labels == ("a\"b\\c\nA\\q'\0",)


def test_explicit_zero_offset_parses_to_canonical() -> None:
    """`0+x=2/1` parses and prints canonically without the offset."""
    assert str(Region.parse("0+x=2/1")) == "x=2/1"


@pytest.mark.parametrize(
    ("text", "position", "token"),
    [
        ("x=", 2, "end of input"),
        ("x=1/", 4, "end of input"),
        ("x=1/1,", 6, "end of input"),
        ("+x=1/1", 0, "'+'"),
        ("x y=1/1", 2, "'y'"),
        ("x=a/1", 2, "'a'"),
        ("x=1/1;", 5, "';'"),
        ("x=1/1 y=1/1", 6, "'y'"),
        ('"abc', 0, "unterminated"),
        ("x=1/1,=2/1", 6, "'='"),
        ("1+2+x=1/1", 3, "'+'"),
        ('"\\u{110000}"=1/1', 1, "code point"),
        ('"\\u{zz}"=1/1', 1, "malformed"),
        ("x=1/1/", 5, "'/'"),
        ("x-y=1/1", 1, "'-'"),
    ],
)
def test_parse_errors_name_token_and_position(text: str, position: int, token: str) -> None:
    """Every syntax error is a RegionParseError naming the token and its position."""
    with pytest.raises(RegionParseError) as info:
        Region.parse(text)
    err = info.value
    assert err.text == text
    assert err.position == position
    assert token in str(err)
    assert f"position {position}" in str(err)


def test_validity_errors_surface_as_parse_errors_with_cause() -> None:
    """A syntactically fine but invalid region is a RegionParseError caused by SliceError."""
    with pytest.raises(RegionParseError) as info:
        Region.parse("x=2/1,y=2/1")
    assert isinstance(info.value.__cause__, SliceError)
    with pytest.raises(RegionParseError):
        Region.parse("x=2/2,x=2/1")  # duplicate label


def test_non_str_and_huge_integers_are_parse_errors() -> None:
    """Non-str input and integers too long to convert raise RegionParseError."""
    with pytest.raises(RegionParseError):
        Region.parse(None)  # type: ignore[arg-type]
    with pytest.raises(RegionParseError):
        Region.parse(b"x=1/1")  # type: ignore[arg-type]
    with pytest.raises(RegionParseError, match="too long"):
        Region.parse("x=" + "9" * 5000 + "/1")


def test_tokenize_reports_raw_tokens() -> None:
    """tokenize yields kinds, decoded values and positions."""
    toks = tokenize('3+"a,b"=2/1')
    assert [(t.kind, t.value, t.position) for t in toks] == [
        ("word", "3", 0),
        ("punct", "+", 1),
        ("quoted", "a,b", 2),
        ("punct", "=", 7),
        ("word", "2", 8),
        ("punct", "/", 9),
        ("word", "1", 10),
    ]


@given(st.one_of(regions(), sliced_regions()))
def test_region_print_parse_round_trip(r: Region) -> None:
    """str() and parse() are exact inverses for every region, including sliced ones."""
    text = str(r)
    back = Region.parse(text)
    assert back == r
    assert str(back) == text


@given(extents())
def test_extent_region_round_trip(ext: Extent) -> None:
    """Extent-derived regions round-trip through text."""
    r = ext.region()
    assert Region.parse(str(r)) == r


@given(st.lists(odd_labels(), min_size=1, max_size=3, unique=True), st.integers(0, 9))
def test_odd_label_round_trip(labels: list[str], offset: int) -> None:
    """Odd labels (quotes, backslashes, commas, spaces, unicode, control chars, empty,
    numeric) survive print then parse."""
    r = Extent.from_pairs([(lab, 2) for lab in labels]).region()
    r = Region(r.labels, offset, r.sizes, r.strides)
    assert Region.parse(str(r)) == r


def _check_parse_only_raises_parse_error(text: str) -> None:
    try:
        r = Region.parse(text)
    except RegionParseError as err:
        position = err.position
    else:
        assert Region.parse(str(r)) == r
        return
    assert 0 <= position <= len(text)


@given(st.text())
def test_arbitrary_text_raises_only_region_parse_error(text: str) -> None:
    """Any text either parses (and round-trips) or raises RegionParseError."""
    _check_parse_only_raises_parse_error(text)


@given(st.text(GRAMMAR_ALPHABET, max_size=40))
def test_grammar_alphabet_text_raises_only_region_parse_error(text: str) -> None:
    """Text over the grammar's own alphabet either parses or raises RegionParseError."""
    _check_parse_only_raises_parse_error(text)


@given(regions(), st.data())
def test_mutated_region_text_raises_only_region_parse_error(r: Region, data: st.DataObject) -> None:
    """Valid region text with one character changed parses or raises RegionParseError."""
    text = str(r)
    if not text:
        return
    i = data.draw(st.integers(0, len(text) - 1))
    c = data.draw(st.sampled_from(GRAMMAR_ALPHABET))
    _check_parse_only_raises_parse_error(text[:i] + c + text[i + 1 :])
