"""Render arbitrary caller-supplied values inside error messages, safely and briefly.

Invariant owned here: :func:`show` never raises and returns at most ``limit`` characters, even
for values whose ``repr`` fails (an int of more than 4300 digits, a container holding one, an
object whose ``__repr__`` raises) or is enormous.
"""

from __future__ import annotations

__all__ = ["show"]

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
