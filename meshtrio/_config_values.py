"""Parsing and display of config values: durations, ints and bools, as text or Python values.

Used by :mod:`meshtrio.config`; errors are :class:`Invalid` (a reason only), which the config
module turns into a :class:`~meshtrio.errors.ConfigError` naming the key and env var.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "MAX_INT_DIGITS",
    "Invalid",
    "display_duration",
    "parse_bool",
    "parse_duration",
    "parse_int",
]


class Invalid(Exception):
    """A value was rejected; carries the reason. Never escapes :mod:`meshtrio.config`."""


_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_PLAIN_SECONDS = re.compile(rf"\s*{_NUMBER}\s*")
_DURATION_PART = re.compile(rf"\s*{_NUMBER}\s*([^\d\s.]+)\s*")
_INT_TEXT = re.compile(r"\s*([+-]?\d+)\s*")
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})
_DURATION_HINT = "expected a duration such as 30s, 500ms, 1m, 1h 30m or plain seconds"


def parse_duration(value: object) -> float:
    if isinstance(value, bool):
        raise Invalid(_DURATION_HINT)
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise Invalid("durations must be finite") from None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise Invalid("empty duration; " + _DURATION_HINT)
        if text.startswith("-"):
            raise Invalid("negative durations are not allowed")
        plain = _PLAIN_SECONDS.fullmatch(text)
        if plain is not None:
            seconds = float(plain.group(1))
        else:
            seconds, pos = 0.0, 0
            while pos < len(text):
                part = _DURATION_PART.match(text, pos)
                if part is None:
                    raise Invalid(f"cannot read a duration at position {pos}; {_DURATION_HINT}")
                unit = _UNITS.get(part.group(2))
                if unit is None:
                    raise Invalid(f"unknown unit {part.group(2)!r}; {_DURATION_HINT}")
                seconds += float(part.group(1)) * unit
                pos = part.end()
    else:
        raise Invalid(f"{type(value).__name__} is not a duration; {_DURATION_HINT}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise Invalid("durations must be finite")
    if seconds < 0:
        raise Invalid("negative durations are not allowed")
    return seconds


def _number(x: float) -> str:
    return format(x, ".6f").rstrip("0").rstrip(".")


def display_duration(seconds: float) -> str:
    micros = round(seconds * 1_000_000)
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if rest >= 1_000_000:
        parts.append(f"{_number(rest / 1_000_000)}s")
    elif rest:
        parts.append(f"{_number(rest / 1000)}ms")
    return " ".join(parts) or "0s"


MAX_INT_DIGITS = 40
"""Digits an integer's text may have: more than any key's range needs, far fewer than Python's
int-conversion limit (which raises a bare ValueError)."""


def parse_int(value: object) -> int:
    if isinstance(value, bool):
        raise Invalid("expected an integer, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _INT_TEXT.fullmatch(value)
        if match is not None:
            digits = match.group(1)
            if len(digits.lstrip("+-")) > MAX_INT_DIGITS:
                raise Invalid(f"out of range (more than {MAX_INT_DIGITS} digits)")
            return int(digits)
    raise Invalid("expected an integer")


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Invalid("expected a bool: 1/0, true/false or yes/no")
