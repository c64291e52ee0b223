"""Small private helpers.

Caller-supplied values in checks and error messages: :func:`show` renders any value safely
and briefly; :func:`is_int` tells an int from a bool (``True`` is no rank, size or port).
:func:`fixup_module_metadata` makes the objects a public namespace re-exports say they live
there (trio's ``_util.fixup_module_metadata``).

Invariant owned here: :func:`show` never raises and returns at most ``limit`` characters, even
for values whose ``repr`` fails (an int of more than 4300 digits, a container holding one, an
object whose ``__repr__`` raises) or is enormous.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterable
from typing import TypeGuard

__all__ = ["fixup_module_metadata", "is_int", "show"]


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


def fixup_module_metadata(module_name: str, names: Iterable[str]) -> None:
    """Set ``__module__`` to ``module_name`` on the named objects of that module that were
    defined in a private meshtrio module (``meshtrio._...``), so reprs, tracebacks and pickles
    name the public namespace (``meshtrio.Extent``, ``meshtrio.errors.MeshError``).

    Called once at the end of each public namespace module with its ``__all__``. Left alone:
    objects already moved (by a more specific namespace imported first: errors say
    ``meshtrio.errors``, not ``meshtrio``), objects of other libraries, and values other than
    classes and functions (constants; instances such as config keys). Pickle finds a moved
    class again as ``module_name.name``, so each name must be the object's own ``__name__``.

    A class's string annotations (``from __future__ import annotations``) are evaluated in
    the module ``__module__`` names, which is no longer the one they were written in: they are
    resolved first, in their own module, so ``typing.get_type_hints`` and cattrs keep working.
    """
    module = sys.modules[module_name]
    for name in names:
        obj = getattr(module, name)
        if not isinstance(obj, type | types.FunctionType):
            continue  # a module, a constant or an instance (its class says where it lives)
        defined_in = getattr(obj, "__module__", None)
        if not isinstance(defined_in, str) or not defined_in.startswith("meshtrio._"):
            continue
        if getattr(obj, "__name__", name) != name:
            raise RuntimeError(f"{module_name}.{name} is exported under another name")
        if isinstance(obj, type) and "__annotations__" in vars(obj):
            hints = typing.get_type_hints(obj, include_extras=True)
            obj.__annotations__ = {key: hints[key] for key in vars(obj)["__annotations__"]}
        obj.__module__ = module_name
