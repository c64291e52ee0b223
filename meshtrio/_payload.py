"""Actor payloads: arguments, results and exceptions as cloudpickle bytes.

cloudpickle (as Ray and Dask use it) pickles classes and functions defined in ``__main__``,
a test module or a notebook by value, so a proc that cannot import them still gets them.

Invariants owned here:

* PL-1 (checked before sending): :func:`dump_args` raises :class:`~meshtrio.errors.PayloadError`
  naming the argument when one cannot be pickled, or when the arguments pickle to more than
  the message size allows (``max_message_size`` less :data:`ENVELOPE_SLACK`), so nothing is
  sent that the connection would refuse.
* PL-3 (local code travels by value): in arguments for procs in other processes
  (``by_value``), a class or function defined in a module that a proc may not be able to
  import, that is one of no installed distribution (a script, a test module, a notebook, a
  project directory on the client's ``sys.path``), is pickled by value, as cloudpickle does for
  ``__main__``; code from the standard library and from installed distributions (meshtrio
  included) goes by reference. Procs in the client's own process (``local:``) get references,
  so they share the client's modules. Not promised: that the modules a by-value function
  imports at run time exist on the proc; results and exceptions go by reference (the
  client has the modules).
* PL-2 (results and exceptions never break the proc): :func:`dump_result` and
  :func:`dump_exception` never raise for an object that cannot be pickled; they say so in a
  :class:`Unsendable` or return empty bytes. Not promised: that a custom exception unpickles on
  the caller's side (:func:`load_exception` returns None then).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import pickle
import sys
import sysconfig
import types
from collections.abc import Mapping, Sequence
from typing import Any

import cloudpickle

from meshtrio._errors import PayloadError

__all__ = [
    "ENVELOPE_SLACK",
    "Unsendable",
    "dump_args",
    "dump_exception",
    "dump_result",
    "dump_setup",
    "load",
    "load_exception",
]

ENVELOPE_SLACK = 1024
"""Bytes of a message that are not the payload (envelope, names, numbers), kept free."""


class Unsendable(Exception):
    """A result that cannot be sent back: why, in words."""


def _size(n: int) -> str:
    return f"{n / (1 << 20):.2f} MiB" if n >= 1 << 20 else f"{n} bytes"


_PLAIN = frozenset({type(None), bool, int, float, str, bytes})


def _plain(obj: Any) -> bool:
    """True for a builtin scalar, or a tuple, list or dict (str keys) of them, or the
    ``(args, kwargs)`` pair of such: values plain pickle handles exactly as cloudpickle does,
    only faster. Checked flat, two levels at most, so the check itself stays cheap."""
    kind = type(obj)
    if kind in _PLAIN:
        return True
    if kind is tuple and len(obj) == 2 and type(obj[1]) is dict:  # (args, kwargs)
        return _flat(obj[0]) and _flat(obj[1])
    return _flat(obj)


def _flat(obj: Any) -> bool:
    kind = type(obj)
    if kind in _PLAIN:
        return True
    if (kind is tuple or kind is list) and len(obj) <= 16:
        return all(type(o) in _PLAIN for o in obj)
    if kind is dict and len(obj) <= 16:
        return all(type(k) is str and type(v) in _PLAIN for k, v in obj.items())
    return False


def _dumps(obj: Any, *, by_value: bool = False) -> bytes:
    if _plain(obj):
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    if not by_value:
        data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return data
    registered = cloudpickle.list_registry_pickle_by_value()
    local = [m for m in _local_modules() if m.__name__ not in registered]
    for module in local:  # PL-3, for this dump only
        cloudpickle.register_pickle_by_value(module)
    try:
        data = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for module in local:
            cloudpickle.unregister_pickle_by_value(module)
    return data


_local_cache: tuple[int, list[types.ModuleType]] = (-1, [])


def _local_modules() -> list[types.ModuleType]:
    """The imported modules that belong to no installed distribution and not to the standard
    library (PL-3); recomputed when the number of imported modules changes."""
    global _local_cache
    count = len(sys.modules)
    if _local_cache[0] == count:
        return _local_cache[1]
    installed = _installed_tops()
    local = []
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        path = getattr(module, "__file__", None)
        if (
            module is None
            or name == "__main__"
            or top in installed
            or top in sys.stdlib_module_names
            or top in sys.builtin_module_names
            or not isinstance(path, str)
            or path.startswith(_installed_dirs())
        ):
            continue
        local.append(module)
    _local_cache = (count, local)
    return local


@functools.cache
def _installed_tops() -> frozenset[str]:
    """Top-level import names of the installed distributions, and meshtrio (every proc runs
    it, however it was installed)."""
    return frozenset(importlib.metadata.packages_distributions()) | {"meshtrio"}


@functools.cache
def _installed_dirs() -> tuple[str, ...]:
    """The directories installed code lives in: the standard library and site-packages."""
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.join(d, "") for d in sorted(dirs))


def dump_args(
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    max_size: int,
    what: str,
    extra: Any = None,
    by_value: bool = True,
) -> bytes:
    """Pickle ``(args, kwargs)`` (with ``extra`` in front, when given) for ``what`` (PL-1),
    local code by value when ``by_value`` (PL-3).

    Raises:
        PayloadError: an argument cannot be pickled, or they are too large together; the
            message names the argument and ``what``.
    """
    obj = (args, dict(kwargs)) if extra is None else (extra, args, dict(kwargs))
    limit = max(0, max_size - ENVELOPE_SLACK)
    try:
        data = _dumps(obj, by_value=by_value)
    except Exception as exc:
        name, cause = _culprit(args, kwargs, exc)
        raise PayloadError(
            f"{what}: {name} cannot be pickled: {type(cause).__name__}: {cause}"[:500],
            argument=name if name != "the arguments" else "",
        ) from cause
    if len(data) > limit:
        name, size = _largest(args, kwargs)
        raise PayloadError(
            f"{what}: the arguments pickle to {_size(len(data))}, more than the "
            f"{_size(limit)} a message may carry (max_message_size is {_size(max_size)}); "
            f"the largest is {name} ({_size(size)})",
            argument=name,
        )
    return data


def dump_setup(fn: Any, *, max_size: int, by_value: bool) -> bytes:
    """Pickle a proc's setup function (PL-1, PL-3).

    Raises:
        PayloadError: it cannot be pickled, or is too large.
    """
    try:
        data = _dumps(fn, by_value=by_value)
    except Exception as exc:
        raise PayloadError(
            f"the setup function cannot be pickled: {type(exc).__name__}: {exc}"[:500],
            argument="setup",
        ) from exc
    limit = max(0, max_size - ENVELOPE_SLACK)
    if len(data) > limit:
        raise PayloadError(
            f"the setup function pickles to {_size(len(data))}, more than the {_size(limit)} "
            f"a message may carry (max_message_size is {_size(max_size)})",
            argument="setup",
        )
    return data


def _named(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(f"args[{i}]", a) for i, a in enumerate(args)] + [
        (f"argument {k!r}", v) for k, v in kwargs.items()
    ]


def _culprit(
    args: Sequence[Any], kwargs: Mapping[str, Any], exc: Exception
) -> tuple[str, Exception]:
    """The first argument that does not pickle on its own, with its error."""
    for name, value in _named(args, kwargs):
        try:
            _dumps(value)
        except Exception as own:
            return name, own
    return "the arguments", exc


def _largest(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, int]:
    sizes = [(name, len(_dumps(value))) for name, value in _named(args, kwargs)]
    return max(sizes, key=lambda p: p[1]) if sizes else ("", 0)


def dump_result(value: Any, *, max_size: int, what: str) -> bytes:
    """Pickle an endpoint's result (PL-2).

    Raises:
        Unsendable: it cannot be pickled, or is too large to send; the message says which.
    """
    try:
        data = _dumps(value)
    except Exception as exc:
        raise Unsendable(
            f"the result of {what} cannot be pickled: {type(exc).__name__}: {exc}"[:500]
        ) from None
    limit = max(0, max_size - ENVELOPE_SLACK)
    if len(data) > limit:
        raise Unsendable(
            f"the result of {what} pickles to {_size(len(data))}, more than the "
            f"{_size(limit)} a message may carry (max_message_size {_size(max_size)})"
        )
    return data


def dump_exception(exc: BaseException, *, max_size: int) -> bytes:
    """Pickle an exception for the caller, or b"" if it cannot be (PL-2)."""
    try:
        data = _dumps(exc)
    except Exception:
        return b""
    return data if len(data) <= max(0, max_size - 64 * 1024) else b""


def load(data: bytes) -> Any:
    """Unpickle a payload (the proc trusts its caller, and the caller its procs)."""
    return pickle.loads(data)


def load_exception(data: bytes) -> BaseException | None:
    """The exception in ``data``, or None (empty, or it does not unpickle here)."""
    if not data:
        return None
    try:
        exc = pickle.loads(data)
    except Exception:
        return None
    return exc if isinstance(exc, BaseException) else None
