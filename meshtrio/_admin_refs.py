"""The mesh admin's node references: the text a client puts in ``/v1/{ref}`` (spec 9.2).

One grammar, :data:`KINDS` and :func:`parse_ref`::

    root | mesh:<host mesh id> | host:<channel addr> | proc:<proc id>
         | actors:<actor mesh key> | actor:<actor mesh key>/<rank>

Promised: :func:`parse_ref` accepts exactly these forms and answers ``(kind, value)``; any
other text (an unknown kind, an empty value, a ``host:`` that is not a channel address, an
``actor:`` without an ASCII decimal ``/<rank>``, more than 1024 characters) raises
:class:`~meshtrio.errors.AdminRefError` (HTTP 400), whose message quotes at most 100
characters of the input.

Not promised: that a reference that parses names anything (that is the model's lookup,
:class:`~meshtrio.errors.AdminNodeNotFoundError`, HTTP 404); mesh, proc and actor mesh ids
are not checked against their own grammars here, only for being non-empty.
"""

from __future__ import annotations

from meshtrio._addr import ChannelAddr
from meshtrio._errors import AdminRefError, InputError

__all__ = ["KINDS", "MAX_REF_LENGTH", "parse_ref"]

KINDS = ("mesh", "host", "proc", "actors", "actor")
"""The kinds of node a reference names, besides ``root``."""

MAX_REF_LENGTH = 1024
"""The longest reference text that parses."""


def parse_ref(text: str) -> tuple[str, str]:
    """``(kind, value)`` of a node reference; ``("root", "")`` for ``root``.

    Raises:
        AdminRefError: not one of the forms in this module's docstring.
    """
    if text == "root":
        return "root", ""
    kind, sep, value = text.partition(":")
    if not sep or kind not in KINDS or not value or len(text) > MAX_REF_LENGTH:
        raise AdminRefError(
            f"malformed node reference {text[:100]!r}: expected root, "
            + ", ".join(f"{k}:<...>" for k in KINDS)
        )
    if kind == "host":
        try:
            ChannelAddr.parse(value)
        except InputError as exc:
            raise AdminRefError(f"malformed host reference {text[:100]!r}: {exc}") from exc
    if kind == "actor":
        key, slash, rank = value.rpartition("/")
        if not slash or not key or not (rank.isascii() and rank.isdigit()):
            raise AdminRefError(
                f"malformed actor reference {text[:100]!r}: expected actor:<key>/<rank>"
            )
    return kind, value
