"""Labels, base58 and the typed mesh ids (host mesh, proc mesh, proc).

Holds :class:`Label` (spec 2.1), the base58 codec (spec 2.2), the id classes
:class:`HostMeshId`, :class:`ProcMeshId` and :class:`ProcId` (spec 2.3) and :func:`proc_id`,
the deterministic naming of a proc from its proc mesh id and rank (spec 8.2).

Invariants owned here:

* A :class:`Label` is always valid: 1-63 chars of ``[a-z0-9_-]``, starting with a letter and
  ending with a letter or digit.
* An id is either a *singleton* (``uid is None``; the label is the identity) or an *instance*
  (a u64 ``uid`` is the identity; the label is decoration, ignored by ``==``, ``hash`` and
  ordering). Every singleton sorts before every instance; singletons by label, instances by
  uid. Ids of different classes never compare equal.
* An instance labelled with its class's default label (``host`` / ``proc``) is stored
  unlabelled (``label is None``), because the text form cannot tell the two apart.
* Text round trips for every valid value: ``str(X.parse(s)) == s`` for every ``s`` that parses
  and ``X.parse(str(x))`` equals ``x`` and prints the same.

Two deliberate fixes to the upstream text form (spec 2.3, "AMBIGUOUS / edge cases"):

a. An instance always prints its uid as exactly 11 base58 digits, left-padded with ``1`` (the
   zero digit), e.g. ``host-1111111111z``. Upstream printed small uids unpadded, so they
   re-parsed as singletons. ``parse`` accordingly treats text as an instance exactly when the
   part after the last ``-`` is 11 base58 characters, which must then decode to a u64; a
   shorter or longer suffix never makes an instance.
b. A singleton label whose last ``-``-separated segment is exactly 11 base58 characters
   (e.g. ``workers-abcdefghijk``) is rejected by ``singleton()``, since its text would re-parse
   as an instance.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import ClassVar, Self

import attrs

from meshtrio._errors import IdParseError, InputError, RankIndexError
from meshtrio._util import is_int, show

__all__ = [
    "B58_ALPHABET",
    "U64_MAX",
    "UID_B58_WIDTH",
    "HostMeshId",
    "Label",
    "ProcId",
    "ProcMeshId",
    "base58_decode",
    "base58_encode",
    "proc_id",
]

B58_ALPHABET = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
"""The Flickr base58 alphabet; ``1`` is the zero digit."""

UID_B58_WIDTH = 11
"""Number of base58 digits an instance uid always prints with (``58**11 > 2**64``)."""

U64_MAX = 2**64 - 1
"""The largest uid."""

_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
_WIDTH_MAX = 64
_LABEL_MAX = 63
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_ALNUM = _LETTERS | frozenset("0123456789")
_LABEL_CHARS = _ALNUM | frozenset("_-")


# --------------------------------------------------------------------------- base58


def base58_encode(value: int, width: int = 0) -> str:
    """Encode a u64 as big-endian Flickr base58 digits.

    Args:
        value: an integer in ``0..2**64-1``.
        width: minimum number of digits (``0..64``); shorter results are left-padded with
            ``1`` (zero).

    Returns:
        The digits; ``0`` encodes as ``"1"`` (no padding requested).

    Raises:
        InputError: ``value`` is not an int in the u64 range, or ``width`` is not an int in
            ``0..64``.
    """
    if not is_int(value):
        raise InputError(f"base58 value must be an int, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise InputError(f"base58 value {show(value)} is outside the u64 range 0..{U64_MAX}")
    if not is_int(width) or not 0 <= width <= _WIDTH_MAX:
        raise InputError(f"base58 width must be an int in 0..{_WIDTH_MAX}, got {show(width)}")
    digits: list[str] = []
    while value:
        value, rem = divmod(value, 58)
        digits.append(B58_ALPHABET[rem])
    text = "".join(reversed(digits)) or "1"
    return text.rjust(width, "1")


def base58_decode(text: str) -> int:
    """Decode Flickr base58 digits (leading ``1`` digits are zeros) into a u64.

    Raises:
        IdParseError: empty text, a character outside the alphabet (named with its position),
            or a value that does not fit in 64 bits.
    """
    if not isinstance(text, str):
        raise IdParseError(f"base58 text must be a str, got {type(text).__name__}")
    if not text:
        raise IdParseError("base58 text is empty")
    value = 0
    for pos, ch in enumerate(text):
        digit = _B58_INDEX.get(ch)
        if digit is None:
            raise IdParseError(
                f"invalid base58 character {ch!r} at position {pos} in {show(text, 80)}"
            )
        value = value * 58 + digit
        if value > U64_MAX:
            raise IdParseError(f"base58 {show(text, 80)} does not fit in a u64")
    return value


def _is_uid_shaped(segment: str) -> bool:
    """True if ``segment`` looks like a printed instance uid (11 base58 chars)."""
    return len(segment) == UID_B58_WIDTH and all(c in _B58_INDEX for c in segment)


# --------------------------------------------------------------------------- Label


class Label(str):
    """A validated name: 1-63 chars of ``[a-z0-9_-]``, a letter first, a letter/digit last.

    ``Label(text)`` validates and raises :class:`IdParseError` naming the first broken rule,
    checked in this order: empty, too long, bad first char, bad last char, bad char (with its
    position). :meth:`Label.sanitize` is the sanitiser that never fails on a str (upstream's
    ``Label::strip``, the spec's ``Label.strip``); ``.strip`` on a Label is plain ``str.strip``.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> Self:
        """Validate ``text`` and return it as a Label."""
        if isinstance(text, cls):
            return text
        if not isinstance(text, str):
            raise IdParseError(f"a label must be a str, got {type(text).__name__}")
        if not text:
            raise IdParseError("invalid label '': a label cannot be empty")
        if len(text) > _LABEL_MAX:
            raise IdParseError(
                f"invalid label {text[:20]!r}...: {len(text)} chars, at most {_LABEL_MAX} allowed"
            )
        if text[0] not in _LETTERS:
            raise IdParseError(
                f"invalid label {text!r}: must start with a lowercase letter, got {text[0]!r} "
                "at position 0"
            )
        if text[-1] not in _ALNUM:
            raise IdParseError(
                f"invalid label {text!r}: must end with a lowercase letter or digit, got "
                f"{text[-1]!r} at position {len(text) - 1}"
            )
        for pos, ch in enumerate(text):
            if ch not in _LABEL_CHARS:
                raise IdParseError(
                    f"invalid label {text!r}: character {ch!r} at position {pos} is not one "
                    "of [a-z0-9_-]"
                )
        return super().__new__(cls, text)

    def __repr__(self) -> str:
        return f"Label({str.__repr__(self)})"

    @staticmethod
    def sanitize(text: str) -> Label:
        """``text`` made into a valid Label, e.g. ``Label.sanitize("My Mesh!") == "mymesh"``.

        Never fails on a str: lowercases ASCII, drops characters outside ``[a-z0-9_-]``, trims
        to a letter first and a letter/digit last, truncates to 63, and gives ``nil`` when
        nothing is left. A non-str is an :class:`InputError`.
        """
        if not isinstance(text, str):
            raise InputError(f"Label.sanitize needs a str, got {type(text).__name__}")
        lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
        kept = "".join(c for c in lowered if c in _LABEL_CHARS)
        start = 0
        while start < len(kept) and kept[start] not in _LETTERS:
            start += 1
        kept = kept[start:].rstrip("_-")
        if len(kept) > _LABEL_MAX:
            kept = kept[:_LABEL_MAX].rstrip("_-")
        return Label(kept or "nil")


# --------------------------------------------------------------------------- mesh ids


def _to_label(value: str | None) -> Label | None:
    return None if value is None else Label(value)


def _check_uid(uid: object) -> int:
    if not is_int(uid):
        raise IdParseError(f"a uid must be an int, got {type(uid).__name__}")
    if not 0 <= uid <= U64_MAX:
        raise IdParseError(f"uid {show(uid)} is outside the u64 range 0..{U64_MAX}")
    return uid


@attrs.frozen(eq=False, order=False)
class _MeshId:
    """Shared base of the typed ids; see the module docstring for the rules."""

    DEFAULT_LABEL: ClassVar[str] = "resource"

    label: Label | None = attrs.field(default=None, converter=_to_label)
    uid: int | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        label = self.label
        if self.uid is None:
            if label is None:
                raise IdParseError(f"a singleton {type(self).__name__} needs a label")
            last = label.rsplit("-", 1)[-1]
            if "-" in label and _is_uid_shaped(last):
                raise IdParseError(
                    f"singleton label {label!r} is not allowed: its last segment {last!r} is 11 "
                    "base58 characters, so its text would parse as an instance"
                )
        else:
            _check_uid(self.uid)
            if label == self.DEFAULT_LABEL:
                label = None
        object.__setattr__(self, "label", label)

    @classmethod
    def singleton(cls, label: str) -> Self:
        """The singleton id named ``label`` (validated as a :class:`Label`).

        Raises:
            IdParseError: ``label`` is not a valid label, or is one a singleton cannot have.
        """
        return cls(label=Label(label), uid=None)

    @classmethod
    def instance(cls, label: str | None = None) -> Self:
        """A fresh instance id with a random u64 uid (from :mod:`secrets`).

        Raises:
            IdParseError: ``label`` is neither None nor a valid label.
        """
        return cls(label=label, uid=secrets.randbits(64))

    @classmethod
    def from_uid(cls, uid: int, label: str | None = None) -> Self:
        """The instance id with the given ``uid`` and optional decorative ``label``.

        Raises:
            IdParseError: ``uid`` is not an int in the u64 range, or ``label`` is neither None
                nor a valid label.
        """
        return cls(label=label, uid=_check_uid(uid))

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse the text form (``label`` or ``label-<11 base58 digits>``).

        Raises:
            IdParseError: the text is neither a valid singleton label nor a valid instance.
        """
        if not isinstance(text, str):
            raise IdParseError(f"{cls.__name__} text must be a str, got {type(text).__name__}")
        head, sep, tail = text.rpartition("-")
        if sep and _is_uid_shaped(tail):
            try:
                uid = base58_decode(tail)
                label = Label(head)
            except IdParseError as exc:
                raise IdParseError(f"invalid {cls.__name__} {show(text, 80)}: {exc}") from None
            return cls(label=None if label == cls.DEFAULT_LABEL else label, uid=uid)
        try:
            return cls.singleton(text)
        except IdParseError as exc:
            raise IdParseError(f"invalid {cls.__name__} {show(text, 80)}: {exc}") from None

    @property
    def is_singleton(self) -> bool:
        """True for a singleton (named) id, False for an instance."""
        return self.uid is None

    def __str__(self) -> str:
        if self.uid is None:
            return str(self.label)
        prefix = self.label if self.label is not None else self.DEFAULT_LABEL
        return f"{prefix}-{base58_encode(self.uid, UID_B58_WIDTH)}"

    def _key(self) -> tuple[int, str | int]:
        if self.uid is None:
            return (0, str(self.label))
        return (1, self.uid)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _MeshId)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __lt__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _MeshId)
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _MeshId)
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _MeshId)
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _MeshId)
        return self._key() >= other._key()


@attrs.frozen(eq=False, order=False)
class HostMeshId(_MeshId):
    """The id of a host mesh; unlabelled instances print as ``host-<uid>``."""

    DEFAULT_LABEL: ClassVar[str] = "host"


@attrs.frozen(eq=False, order=False)
class ProcMeshId(_MeshId):
    """The id of a proc mesh; unlabelled instances print as ``proc-<uid>``."""

    DEFAULT_LABEL: ClassVar[str] = "proc"


@attrs.frozen(eq=False, order=False)
class ProcId(_MeshId):
    """The id of one proc (see :func:`proc_id`); unlabelled instances print as ``proc-<uid>``."""

    DEFAULT_LABEL: ClassVar[str] = "proc"


def proc_id(mesh: ProcMeshId, rank: int) -> ProcId:
    """The id of the proc with create rank ``rank`` in proc mesh ``mesh`` (spec 8.2).

    The label is ``Label.sanitize(f"{mesh.label or 'unnamed'}-{rank}")``. A singleton mesh
    gives a singleton proc id with that label. An instance mesh gives an instance whose uid is
    the big-endian value of ``blake2b(f"{mesh}/{rank}", digest_size=8)``: stable across processes
    and Python versions, so the client and every host derive the same id without a round trip.

    Raises:
        InputError: ``mesh`` is not a ProcMeshId, or ``rank`` is not an int; or, for a
            singleton mesh, the label is so long that the rank does not survive truncation to
            63 chars (two ranks would share an id).
        RankIndexError: ``rank`` is negative or above ``2**64-1``.
    """
    if not isinstance(mesh, ProcMeshId):
        raise InputError(f"proc_id needs a ProcMeshId, got {type(mesh).__name__}")
    if not is_int(rank):
        raise InputError(f"proc rank must be an int, got {type(rank).__name__}")
    if rank < 0:
        raise RankIndexError(f"proc rank {show(rank)} is negative")
    if rank > U64_MAX:
        raise RankIndexError(f"proc rank {show(rank)} is beyond the u64 range 0..{U64_MAX}")
    label = Label.sanitize(f"{mesh.label or 'unnamed'}-{rank}")
    if mesh.is_singleton:
        if not label.endswith(f"-{rank}"):
            raise InputError(
                f"proc mesh label {mesh.label!r} is too long to name rank {rank} within "
                f"{_LABEL_MAX} chars"
            )
        return ProcId.singleton(label)
    digest = hashlib.blake2b(f"{mesh}/{rank}".encode(), digest_size=8).digest()
    return ProcId.from_uid(int.from_bytes(digest, "big"), label)
