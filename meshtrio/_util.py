"""Caller-supplied values in checks and error messages: :func:`show` renders any value safely
and briefly; :func:`is_int` tells an int from a bool (``True`` is no rank, size or port).

Invariant owned here: :func:`show` never raises and returns at most ``limit`` characters, even
for values whose ``repr`` fails (an int of more than 4300 digits, a container holding one, an
object whose ``__repr__`` raises) or is enormous.
"""

from __future__ import annotations

from typing import TypeGuard

__all__ = ["is_int", "show"]

_INT_BITS_SHOWN = 128


def show(value: object, limit: int = 60) -> str:
    """A short ``repr`` of ``value`` for an error message (truncated with ``...``)."""
    if isinstance(value, int) and value.bit_length() > _INT_BITS_SHOWN:
        sign = "-" if value < 0 else ""
        return f"<{sign}int of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except Exception:  # any failing __repr__ (e.g. a list holding a huge int): keep the message
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value: object) -> TypeGuard[int]:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)
