"""Tests for meshtrio._ids: labels, base58, mesh ids and proc ids."""

from __future__ import annotations

import hashlib
import pickle
import re

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from id_strategies import (
    host_mesh_ids,
    id_like_texts,
    label_texts,
    labels,
    proc_ids,
    proc_mesh_ids,
    singleton_labels,
    uids,
)

from meshtrio import HostMeshId, Label, ProcId, ProcMeshId
from meshtrio._ids import U64_MAX, base58_decode, base58_encode, proc_id
from meshtrio.errors import IdParseError, InputError, RankIndexError

CONVERTER = cattrs.Converter()

ID_CLASSES = [HostMeshId, ProcMeshId, ProcId]
BIG = 0xD5D54D7201103869  # spec 2.2 example, base58 "BLs6T7ZaDRB"
_VALID_LABEL = re.compile(r"[a-z]([a-z0-9_-]{0,61}[a-z0-9])?")


# --------------------------------------------------------------------------- Label


@given(label_texts())
def test_label_accepts_valid_text(text: str) -> None:
    """Every text matching the label grammar is a Label equal to the text."""
    label = Label(text)
    assert label == text
    assert isinstance(label, str)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("a" * 64, "at most 63"),
        ("1abc", "start with a lowercase letter, got '1' at position 0"),
        ("_a", "start with a lowercase letter"),
        ("Abc", "start with a lowercase letter"),
        ("abc-", "end with a lowercase letter or digit, got '-' at position 3"),
        ("abC", "end with a lowercase letter or digit"),
        ("aBc", "character 'B' at position 1"),
        ("a.b", "character '.' at position 1"),
        ("a b", "character ' ' at position 1"),
        ("1bc-", "start"),  # start is checked before end
    ],
)
def test_label_rejects_invalid_text_naming_the_rule(text: str, fragment: str) -> None:
    """Invalid labels raise IdParseError naming the first broken rule and the char/position."""
    with pytest.raises(IdParseError, match=re.escape(fragment)):
        Label(text)


def test_label_rejects_non_str() -> None:
    """A non-str label is an IdParseError, not a TypeError."""
    with pytest.raises(IdParseError, match="must be a str"):
        Label(5)  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_label_on_any_text_is_valid_or_idparseerror(text: str) -> None:
    """Label(text) either succeeds on grammar-conforming text or raises IdParseError."""
    try:
        label = Label(text)
    except IdParseError:
        assert not _VALID_LABEL.fullmatch(text)
    else:
        assert _VALID_LABEL.fullmatch(label)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My Mesh!", "mymesh"),
        ("123abc", "abc"),
        ("---", "nil"),
        ("anon-0", "anon-0"),
        ("", "nil"),
        ("Trainer_Mesh-7", "trainer_mesh-7"),
        ("x" * 62 + "-y", "x" * 62),
        ("ÄBC", "bc"),
        ("İx", "x"),
    ],
)
def test_label_sanitize_examples(text: str, expected: str) -> None:
    """Label.sanitize sanitises as in spec 2.1 (ASCII lowercasing only, truncation to 63)."""
    result = Label.sanitize(text)
    assert result == expected
    assert isinstance(result, Label)


@given(st.text(max_size=100))
def test_label_sanitize_never_fails_and_is_idempotent(text: str) -> None:
    """Label.sanitize takes any text, gives a valid Label, and is a fixed point on its output."""
    label = Label.sanitize(text)
    assert _VALID_LABEL.fullmatch(label)
    assert Label.sanitize(label) == label


@given(labels())
def test_label_sanitize_keeps_valid_labels(label: Label) -> None:
    """Label.sanitize leaves a valid label unchanged."""
    assert Label.sanitize(label) == label


def test_label_instance_strip_is_str_strip() -> None:
    """On a Label instance, .strip is plain str.strip (the sanitiser lives on the class)."""
    assert Label("abca").strip("a") == "bc"
    assert Label("abc").strip() == "abc"


def test_label_pickles() -> None:
    """A Label survives pickling as a Label."""
    label = pickle.loads(pickle.dumps(Label("x-1")))
    assert label == "x-1"
    assert type(label) is Label


# --------------------------------------------------------------------------- base58


@pytest.mark.parametrize(
    ("value", "text"),
    [(BIG, "BLs6T7ZaDRB"), (0xABCDEF, "ZH2a"), (U64_MAX, "JPwcyDCgEup"), (0, "1"), (57, "Z")],
)
def test_base58_examples(value: int, text: str) -> None:
    """base58 encodes the spec 2.2 examples and decodes them back."""
    assert base58_encode(value) == text
    assert base58_decode(text) == value


@given(uids())
def test_base58_round_trips_padded(value: int) -> None:
    """Padded to 11 digits, every u64 encodes to exactly 11 chars and decodes back."""
    text = base58_encode(value, 11)
    assert len(text) == 11
    assert base58_decode(text) == value
    assert base58_decode(base58_encode(value)) == value


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("a0b", "'0' at position 1"),
        ("Il", "'I' at position 0"),
        ("abl", "'l' at position 2"),
        ("JPwcyDCgEuq", "does not fit in a u64"),
        ("z" * 20, "does not fit"),
    ],
)
def test_base58_decode_errors(text: str, fragment: str) -> None:
    """Bad base58 text raises IdParseError naming the char/position or the overflow."""
    with pytest.raises(IdParseError, match=re.escape(fragment)):
        base58_decode(text)


@pytest.mark.parametrize("value", [-1, 2**64, True, 1.0])
def test_base58_encode_rejects_non_u64(value: object) -> None:
    """Encoding something that is not a u64 int raises InputError."""
    with pytest.raises(InputError):
        base58_encode(value)  # type: ignore[arg-type]


@given(st.text(max_size=30))
def test_base58_decode_any_text_only_raises_idparseerror(text: str) -> None:
    """Decoding arbitrary text yields a u64 or raises IdParseError."""
    try:
        value = base58_decode(text)
    except IdParseError:
        return
    assert 0 <= value <= U64_MAX


# --------------------------------------------------------------------------- id parse/display


@pytest.mark.parametrize(
    ("cls", "text", "label", "uid"),
    [
        (ProcMeshId, "local", "local", None),
        (ProcMeshId, "env-vars", "env-vars", None),
        (ProcMeshId, "a-abcdefgh", "a-abcdefgh", None),  # 8-char suffix: singleton (fix a)
        (ProcMeshId, "a-abcdefghijkm", "a-abcdefghijkm", None),  # 12 chars: singleton
        (ProcMeshId, "my-service-BLs6T7ZaDRB", "my-service", BIG),
        (ProcMeshId, "proc-BLs6T7ZaDRB", None, BIG),
        (HostMeshId, "proc-BLs6T7ZaDRB", "proc", BIG),
        (HostMeshId, "host-BLs6T7ZaDRB", None, BIG),
        (HostMeshId, "host-11111111111", None, 0),
        (HostMeshId, "w-1111111111Z", "w", 57),
        (ProcId, "anon-5-JPwcyDCgEup", "anon-5", U64_MAX),
    ],
)
def test_id_parse_examples(
    cls: type[HostMeshId | ProcMeshId | ProcId], text: str, label: str | None, uid: int | None
) -> None:
    """Spec 2.3 examples parse (with the 11-digit rule) and print back unchanged."""
    parsed = cls.parse(text)
    assert parsed.label == label
    assert parsed.uid == uid
    assert parsed.is_singleton is (uid is None)
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "<BLs6T7ZaDRB>",
        "",
        "-BLs6T7ZaDRB",
        "Bad-BLs6T7ZaDRB",
        "a-ZZZZZZZZZZZ",  # 11 base58 chars that overflow a u64
        "my_mesh-",
        "Host",
    ],
)
@pytest.mark.parametrize("cls", ID_CLASSES)
def test_id_parse_rejects_bad_text(cls: type[HostMeshId], text: str) -> None:
    """Malformed id text raises IdParseError naming the class and the text."""
    with pytest.raises(IdParseError, match=cls.__name__):
        cls.parse(text)


def test_small_uid_prints_padded_and_round_trips() -> None:
    """Fix (a): an instance with a small uid prints 11 digits and re-parses as that instance."""
    x = HostMeshId.from_uid(1, "workers")
    assert str(x) == "workers-11111111112"
    back = HostMeshId.parse(str(x))
    assert not back.is_singleton
    assert back.uid == 1
    assert back.label == "workers"


def test_singleton_with_uid_shaped_tail_is_rejected() -> None:
    """Fix (b): a singleton label ending in an 11-char base58 segment is refused, with a reason."""
    with pytest.raises(IdParseError, match="11 base58"):
        HostMeshId.singleton("workers-abcdefghijk")
    parsed = HostMeshId.parse("workers-abcdefghijk")
    assert parsed.label == "workers"
    assert parsed.uid == base58_decode("abcdefghijk")


def test_singleton_without_dash_may_look_like_uid() -> None:
    """A dash-less singleton made of 11 base58 chars is allowed; it cannot parse as an instance."""
    x = ProcMeshId.singleton("abcdefghijk")
    assert ProcMeshId.parse(str(x)) == x
    assert ProcMeshId.parse(str(x)).is_singleton


@given(st.one_of(host_mesh_ids(), proc_mesh_ids(), proc_ids()))
def test_id_text_round_trip(x: HostMeshId | ProcMeshId | ProcId) -> None:
    """parse(str(x)) equals x, has the same label and uid, and prints the same."""
    back = type(x).parse(str(x))
    assert back == x
    assert (back.label, back.uid) == (x.label, x.uid)
    assert str(back) == str(x)


@pytest.mark.parametrize("cls", ID_CLASSES)
@given(text=id_like_texts())
def test_id_parse_any_text_is_exact_or_idparseerror(cls: type[HostMeshId], text: str) -> None:
    """Any text either raises IdParseError or parses to an id that prints as that exact text."""
    try:
        parsed = cls.parse(text)
    except IdParseError:
        return
    assert str(parsed) == text


def test_id_parse_rejects_non_str() -> None:
    """Parsing a non-str is an IdParseError."""
    with pytest.raises(IdParseError):
        HostMeshId.parse(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- id semantics


def test_default_label_instance_is_stored_unlabelled() -> None:
    """An instance labelled with the class default label is the same as an unlabelled one."""
    x = HostMeshId.from_uid(7, "host")
    assert x.label is None
    assert str(x) == str(HostMeshId.from_uid(7))
    assert ProcMeshId.from_uid(7, "host").label == "host"


@given(uids(), labels(), labels())
def test_instances_compare_by_uid_only(uid: int, a: Label, b: Label) -> None:
    """Two instances with the same uid are equal and hash equal whatever their labels."""
    x, y = ProcMeshId.from_uid(uid, a), ProcMeshId.from_uid(uid, b)
    assert x == y
    assert hash(x) == hash(y)
    assert not x < y
    assert x <= y


@given(singleton_labels(), uids())
def test_singletons_sort_before_instances(label: Label, uid: int) -> None:
    """Every singleton is less than every instance."""
    s, i = HostMeshId.singleton(label), HostMeshId.from_uid(uid, label)
    assert s < i
    assert i > s
    assert s != i


@given(st.lists(host_mesh_ids(), min_size=2, max_size=6))
def test_ordering_is_by_kind_then_label_or_uid(ids: list[HostMeshId]) -> None:
    """Sorting orders singletons by label, then instances by uid."""
    keys = [(0, str(x.label)) if x.is_singleton else (1, x.uid) for x in sorted(ids)]
    assert keys == sorted(keys)


@given(singleton_labels())
def test_ids_of_different_classes_differ(label: Label) -> None:
    """A HostMeshId never equals a ProcMeshId, and they cannot be ordered against each other."""
    h, p = HostMeshId.singleton(label), ProcMeshId.singleton(label)
    assert h != p
    with pytest.raises(TypeError):
        _ = h < p


def test_instance_is_random_u64() -> None:
    """instance() draws a fresh u64 each time and keeps the label."""
    xs = {HostMeshId.instance("w") for _ in range(20)}
    assert len(xs) == 20
    assert all(0 <= x.uid <= U64_MAX and x.label == "w" for x in xs if x.uid is not None)
    assert HostMeshId.instance().label is None


@pytest.mark.parametrize(
    "build",
    [
        lambda: HostMeshId.from_uid(-1),
        lambda: HostMeshId.from_uid(2**64),
        lambda: HostMeshId.from_uid(True),
        lambda: HostMeshId.instance("Bad"),
        lambda: HostMeshId.singleton(""),
        lambda: HostMeshId(label=None, uid=None),
    ],
)
def test_id_constructors_validate(build: object) -> None:
    """Bad uids and labels raise IdParseError from every constructor."""
    with pytest.raises(IdParseError):
        build()  # type: ignore[operator]


@given(proc_ids())
def test_ids_pickle_and_cattrs_round_trip(x: ProcId) -> None:
    """Ids survive pickling and a plain cattrs converter with label and uid intact."""
    for back in (
        pickle.loads(pickle.dumps(x)),
        CONVERTER.structure(CONVERTER.unstructure(x), ProcId),
    ):
        assert back == x
        assert (back.label, back.uid) == (x.label, x.uid)


# --------------------------------------------------------------------------- proc_id


def test_proc_id_pinned_value() -> None:
    """proc_id of a known mesh and rank is pinned, so a change of algorithm is noticed."""
    mesh = ProcMeshId.from_uid(BIG, "trainer")
    pid = proc_id(mesh, 0)
    assert str(pid) == "trainer-0-z4LnW7ohEmL"
    digest = hashlib.blake2b(b"trainer-BLs6T7ZaDRB/0", digest_size=8).digest()
    assert pid.uid == int.from_bytes(digest, "big")


@given(proc_mesh_ids().filter(lambda m: len(m.label or "") < 50), st.integers(0, 10**6))
def test_proc_id_is_deterministic(mesh: ProcMeshId, rank: int) -> None:
    """The same mesh and rank always give the same id, including after a text round trip."""
    a = proc_id(mesh, rank)
    b = proc_id(ProcMeshId.parse(str(mesh)), rank)
    assert a == b
    assert str(a) == str(b)


@given(proc_mesh_ids().filter(lambda m: len(m.label or "") < 40), st.integers(0, 10**4))
def test_proc_id_differs_by_rank(mesh: ProcMeshId, rank: int) -> None:
    """Different ranks of one mesh get different ids, labelled '<mesh label>-<rank>'."""
    a, b = proc_id(mesh, rank), proc_id(mesh, rank + 1)
    assert a != b
    assert a.label == f"{mesh.label or 'unnamed'}-{rank}"
    assert a.is_singleton is mesh.is_singleton


def test_proc_id_differs_by_mesh() -> None:
    """Two instance meshes with different uids name their rank-0 procs differently."""
    assert proc_id(ProcMeshId.from_uid(1), 0) != proc_id(ProcMeshId.from_uid(2), 0)


def test_proc_id_examples() -> None:
    """A singleton mesh gives a singleton proc id; an unlabelled one uses 'unnamed'."""
    assert proc_id(ProcMeshId.singleton("test"), 3) == ProcId.singleton("test-3")
    assert str(proc_id(ProcMeshId.from_uid(5), 5)).startswith("unnamed-5-")


def test_proc_id_rejects_bad_rank_and_mesh() -> None:
    """A negative rank is a RankIndexError; a non-int rank or non-ProcMeshId an InputError."""
    mesh = ProcMeshId.singleton("m")
    with pytest.raises(RankIndexError, match="negative"):
        proc_id(mesh, -1)
    with pytest.raises(InputError):
        proc_id(mesh, 1.0)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        proc_id(HostMeshId.singleton("m"), 0)  # type: ignore[arg-type]


def test_proc_id_long_singleton_label_is_refused() -> None:
    """A singleton mesh label too long to keep the rank is refused (ranks would collide)."""
    with pytest.raises(InputError, match="too long"):
        proc_id(ProcMeshId.singleton("a" * 62), 1)
    assert proc_id(ProcMeshId.from_uid(1, "a" * 62), 1).label == "a" * 62
