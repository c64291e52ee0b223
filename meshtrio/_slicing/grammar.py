"""The region and point text grammars (spec 1.3): tokenizer, parsers and the region printer,
plus label quoting.

Grammar::

    region  := [ offset "+" ] [ pair ( "," pair )* ]     (empty text = 0-dim region)
    pair    := label "=" size "/" stride
    point   := [ place ( "," place )* ]                  (empty text = the 0-dim point)
    place   := label "=" coord "/" size                  (no offset in point text)
    label   := bare | quoted
    bare    := [A-Za-z0-9_]+
    quoted  := '"' ( char | escape )* '"'
    escape  := \\" | \\\\ | \\n | \\r | \\t | \\0 | \\' | \\u{HEX} | \\<other> (kept verbatim)

Invariants owned here:

* ``parse_region_text(format_region(l, o, s, t)) == (l, o, s, t)`` for every tuple of str
  labels and integers in ``0..2**64-1``: the printer emits only what the parser reads back.
  ``format_region`` checks those types (:class:`ExtentError` for labels, :class:`SliceError`
  for numbers); ``is_safe_label``/``quote_label`` raise :class:`ExtentError` for a non-str.
* A leading number is an offset only when a ``+`` follows it, so ``0=2/1`` has label ``"0"``
  (upstream read it as an offset and failed).
* Whitespace around tokens is ignored; outside quotes only ``[A-Za-z0-9_]``, the delimiters
  ``+ = , /`` and ``"`` may appear.
* Every parse failure is a :class:`RegionParseError` naming the token and its character
  position; nothing else escapes ``tokenize`` or ``parse_region_text``, whatever the input.
  Slice validity is not checked here (see :mod:`meshtrio._slicing.region`).
* Point text shares the tokens and label quoting of region text (so ``str(point)`` always
  reads back; see :class:`meshtrio._slicing.Point`). ``parse_point_text`` raises only
  :class:`PointParseError`, naming the token and its position, and checks everything a point
  needs: unique labels, sizes in ``0..2**64-1`` and each coordinate below its size. So what
  it returns always names exactly one point.

Not promised: bare labels beyond ``[A-Za-z0-9_]+`` (upstream reads ``dim/0=1/3`` as a label
``dim/0``; here it must be quoted, as ``str`` prints it), pairs separated by spaces instead of
commas, or a ``+`` sign before a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from meshtrio._errors import ExtentError, PointParseError, RegionParseError, SliceError
from meshtrio._util import is_int, show

__all__ = [
    "ParsedPoint",
    "ParsedRegion",
    "Token",
    "format_checked_region",
    "format_region",
    "is_safe_label",
    "parse_point_text",
    "parse_region_text",
    "quote_label",
    "tokenize",
]

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGITS = frozenset("0123456789")
_PUNCT = frozenset("+=,/")
_HEX = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "0": "\0", "'": "'"}
_PRINT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NUMBER_MAX = 2**64 - 1  # the bound of extent sizes and region numbers (extent.SIZE_MAX)


def _check_label(label: object) -> None:
    if not isinstance(label, str):
        raise ExtentError(f"a dimension label must be a str, got {type(label).__name__}")


def is_safe_label(label: str) -> bool:
    """True when ``label`` prints bare: one or more of ``[A-Za-z0-9_]``.

    Raises:
        ExtentError: ``label`` is not a str.
    """
    _check_label(label)
    return bool(label) and all(c in _SAFE for c in label)


def quote_label(label: str) -> str:
    """Render a label: bare when safe, else double-quoted with escapes.

    ``"`` and ``\\`` are backslash-escaped, newline/CR/tab print as ``\\n \\r \\t``, and every
    other non-printable character (control, format, separator, surrogate...) as ``\\u{HEX}``.

    Raises:
        ExtentError: ``label`` is not a str.
    """
    if is_safe_label(label):
        return label
    out = ['"']
    for c in label:
        esc = _PRINT_ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{{{ord(c):x}}}")
    out.append('"')
    return "".join(out)


def format_region(
    labels: Sequence[str], offset: int, sizes: Sequence[int], strides: Sequence[int]
) -> str:
    """The canonical region text: ``[offset+]label=size/stride,...`` (offset only when non-zero).

    Only the types are checked, not slice validity (see
    :func:`meshtrio._slicing.region.check_slice`).

    Raises:
        ExtentError: ``labels`` is not a sequence of str, or its length differs from ``sizes``.
        SliceError: an offset, size or stride that is not an int in ``0..2**64-1``, or
            ``sizes`` and ``strides`` of different lengths.
    """
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ExtentError(f"labels must be a sequence of str, got {type(labels).__name__}")
    for label in labels:
        _check_label(label)
    for what, values in (("sizes", sizes), ("strides", strides)):
        if not isinstance(values, Sequence):
            raise SliceError(f"{what} must be a sequence of ints, got {type(values).__name__}")
    if len(labels) != len(sizes):
        raise ExtentError(f"{len(labels)} labels but {len(sizes)} sizes")
    if len(sizes) != len(strides):
        raise SliceError(f"{len(sizes)} sizes but {len(strides)} strides")
    for v in (offset, *sizes, *strides):
        if not is_int(v) or not 0 <= v <= _NUMBER_MAX:
            raise SliceError(
                f"offsets, sizes and strides must be ints in 0..2**64-1, got {show(v)}"
            )
    return format_checked_region(labels, offset, sizes, strides)


def format_checked_region(
    labels: Sequence[str], offset: int, sizes: Sequence[int], strides: Sequence[int]
) -> str:
    """:func:`format_region` without the type checks, for parts already known to be valid."""
    body = ",".join(
        f"{quote_label(label)}={size}/{stride}"
        for label, size, stride in zip(labels, sizes, strides, strict=True)
    )
    return f"{offset}+{body}" if offset else body


class Token(NamedTuple):
    """One token of region text.

    Attributes:
        kind: ``"punct"`` (one of ``+ = , /``), ``"word"`` (a bare ``[A-Za-z0-9_]+`` run) or
            ``"quoted"`` (a quoted label; ``value`` is the decoded label).
        value: the token's text (decoded for quoted labels).
        position: the character offset where the token starts.
        raw: the token exactly as it appears in the input.
    """

    kind: str
    value: str
    position: int
    raw: str


class _Syntax(NamedTuple):
    """Which text is being read: how messages name it and the error they raise."""

    noun: str
    error: type[RegionParseError] | type[PointParseError]


_REGION = _Syntax("region text", RegionParseError)
_POINT = _Syntax("point text", PointParseError)


def _fail(
    syntax: _Syntax, text: str, position: int, message: str
) -> RegionParseError | PointParseError:
    return syntax.error(
        f"{message} at position {position} of {syntax.noun} {text!r}",
        text=text,
        position=position,
    )


def _read_quoted(syntax: _Syntax, text: str, start: int) -> tuple[str, int]:
    """Decode the quoted label opening at ``start``; return it and the index after its ``"``."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        e = text[i + 1]
        if e == "u" and i + 2 < n and text[i + 2] == "{":
            close = text.find("}", i + 3)
            digits = text[i + 3 : close] if close != -1 else ""
            if close == -1 or not 1 <= len(digits) <= 6 or any(d not in _HEX for d in digits):
                raise _fail(syntax, text, i, "malformed \\u{HEX} escape in quoted label")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise _fail(
                    syntax, text, i, f"\\u{{{digits}}} is beyond the last unicode code point"
                )
            out.append(chr(code))
            i = close + 1
            continue
        simple = _SIMPLE_ESCAPES.get(e)
        out.append(simple if simple is not None else "\\" + e)  # unknown escapes kept verbatim
        i += 2
    raise _fail(syntax, text, start, "unterminated quoted label (no closing '\"')")


def tokenize(text: str) -> list[Token]:
    """Split region text into tokens, skipping whitespace (point text has the same tokens).

    Raises:
        RegionParseError: for text that is not a str, a character that cannot start a token,
            or a bad quoted label.
    """
    return _tokenize(_REGION, text)


def _tokenize(syntax: _Syntax, text: str) -> list[Token]:
    if not isinstance(text, str):
        raise syntax.error(
            f"{syntax.noun} must be a str, got {type(text).__name__}", text="", position=0
        )
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _PUNCT:
            tokens.append(Token("punct", c, i, c))
            i += 1
        elif c == '"':
            value, end = _read_quoted(syntax, text, i)
            tokens.append(Token("quoted", value, i, text[i:end]))
            i = end
        elif c in _SAFE:
            j = i + 1
            while j < n and text[j] in _SAFE:
                j += 1
            tokens.append(Token("word", text[i:j], i, text[i:j]))
            i = j
        else:
            raise _fail(syntax, text, i, f"unexpected character {c!r}")
    return tokens


class ParsedRegion(NamedTuple):
    """The parts of region text, not yet checked for slice validity."""

    labels: tuple[str, ...]
    offset: int
    sizes: tuple[int, ...]
    strides: tuple[int, ...]


class ParsedPoint(NamedTuple):
    """The parts of point text: unique labels, sizes in ``0..2**64-1``, coordinates below them.

    Attributes:
        labels: the dimension labels, in order.
        coords: one coordinate per dimension.
        sizes: one size per dimension.
    """

    labels: tuple[str, ...]
    coords: tuple[int, ...]
    sizes: tuple[int, ...]


class _Parser:
    def __init__(self, syntax: _Syntax, text: str) -> None:
        self.syntax = syntax
        self.text = text
        self.tokens = _tokenize(syntax, text)
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def at(self, position: int, message: str) -> RegionParseError | PointParseError:
        return _fail(self.syntax, self.text, position, message)

    def fail(self, expected: str) -> RegionParseError | PointParseError:
        tok = self.peek()
        if tok is None:
            return self.at(len(self.text), f"expected {expected}, found end of input")
        return self.at(tok.position, f"expected {expected}, found {tok.raw!r}")

    def punct(self, char: str, expected: str) -> None:
        tok = self.peek()
        if tok is None or tok.kind != "punct" or tok.value != char:
            raise self.fail(expected)
        self.i += 1

    def integer(self, expected: str) -> int:
        tok = self.peek()
        if tok is None or tok.kind != "word" or any(c not in _DIGITS for c in tok.value):
            raise self.fail(expected)
        if len(tok.value) > 4000:
            raise self.at(tok.position, f"integer {tok.value[:20]}... is too long")
        self.i += 1
        return int(tok.value)

    def label(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind == "punct":
            raise self.fail("a dimension label")
        self.i += 1
        return tok.value

    def position(self) -> int:
        """Where the next token starts (the end of the text when there is none)."""
        tok = self.peek()
        return len(self.text) if tok is None else tok.position

    def region(self) -> ParsedRegion:
        offset = 0
        toks = self.tokens
        if (
            len(toks) >= 2
            and toks[0].kind == "word"
            and toks[1].raw == "+"
            and all(c in _DIGITS for c in toks[0].value)
        ):
            offset = self.integer("an offset")
            self.i += 1
        labels: list[str] = []
        sizes: list[int] = []
        strides: list[int] = []
        if self.peek() is None:
            return ParsedRegion((), offset, (), ())
        while True:
            labels.append(self.label())
            self.punct("=", f"'=' after label {labels[-1]!r}")
            sizes.append(self.integer(f"the size of dimension {labels[-1]!r}"))
            self.punct("/", f"'/' after the size of dimension {labels[-1]!r}")
            strides.append(self.integer(f"the stride of dimension {labels[-1]!r}"))
            if self.peek() is None:
                return ParsedRegion(tuple(labels), offset, tuple(sizes), tuple(strides))
            self.punct(",", "',' or end of input")

    def point(self) -> ParsedPoint:
        labels: list[str] = []
        coords: list[int] = []
        sizes: list[int] = []
        seen: set[str] = set()
        if self.peek() is None:
            return ParsedPoint((), (), ())
        while True:
            where = self.position()
            label = self.label()
            dim = show(label)
            if label in seen:
                raise self.at(where, f"duplicate dimension label {dim}")
            seen.add(label)
            self.punct("=", f"'=' after label {dim}")
            coord_at = self.position()
            coord = self.integer(f"the coordinate of dimension {dim}")
            self.punct("/", f"'/' after the coordinate of dimension {dim}")
            size_at = self.position()
            size = self.integer(f"the size of dimension {dim}")
            if size > _NUMBER_MAX:
                raise self.at(size_at, f"size {show(size)} of dimension {dim} is beyond 2**64-1")
            if coord >= size:
                raise self.at(
                    coord_at,
                    f"coordinate {show(coord)} of dimension {dim} is not below its size {size}",
                )
            labels.append(label)
            coords.append(coord)
            sizes.append(size)
            if self.peek() is None:
                return ParsedPoint(tuple(labels), tuple(coords), tuple(sizes))
            self.punct(",", "',' or end of input")


def parse_region_text(text: str) -> ParsedRegion:
    """Parse region text into labels, offset, sizes and strides (no validity check).

    Raises:
        RegionParseError: naming the bad token and its position, for any malformed input.
    """
    return _Parser(_REGION, text).region()


def parse_point_text(text: str) -> ParsedPoint:
    """Parse point text (``label=coord/size,...``; empty for the 0-dim point) into its parts.

    Raises:
        PointParseError: naming the bad token and its position, for malformed text, a
            duplicate label, a size beyond ``2**64-1`` or a coordinate not below its size.
    """
    return _Parser(_POINT, text).point()
