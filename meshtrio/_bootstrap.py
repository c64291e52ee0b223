"""How to start a proc: the :class:`BootstrapCommand` value (spec 7.4).

Invariants owned here:

* ``program`` is a non-empty str; ``args`` is a tuple of str; ``arg0`` is None or a str;
  ``env`` is an immutable str-to-str mapping. None of them contains NUL, and env keys are
  non-empty and contain no ``=`` (the OS could not pass them otherwise).
* Equality and hashing ignore the order in which env entries were given.
* ``to_wire()`` / ``from_wire()`` convert to and from plain dicts of str, list and dict, and
  ``from_wire(cmd.to_wire()) == cmd``. The class is also structurable by a plain cattrs
  converter (``env`` unstructures as a dict).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from meshtrio._errors import InputError
from meshtrio._util import show

__all__ = ["BootstrapCommand", "FrozenEnv"]


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"bootstrap command {what} must be a str, got {type(value).__name__}")
    if "\0" in value:
        raise InputError(f"bootstrap command {what} {value[:40]!r} contains NUL")
    return value


class FrozenEnv(Mapping[str, str]):
    """An immutable, hashable str-to-str mapping (kept sorted by key)."""

    __slots__ = ("_items",)

    _items: tuple[tuple[str, str], ...]

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        """Copy and validate ``items`` (a mapping or pairs).

        Raises:
            InputError: a key or value that is not a str, an empty key, a key with ``=``, or
                NUL anywhere.
        """
        given: object = items
        if isinstance(given, str | bytes) or not isinstance(given, Mapping | Iterable):
            raise InputError(f"bootstrap env must be a mapping of str, got {type(given).__name__}")
        pairs = items.items() if isinstance(items, Mapping) else items
        env: dict[str, str] = {}
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise InputError(f"bootstrap env entry {show(pair)} is not a (key, value) pair")
            key = _check_text(pair[0], "env key")
            env[key] = _check_text(pair[1], f"env value of {key!r}")
            if not key or "=" in key:
                raise InputError(f"bootstrap env key {key!r} must be non-empty and without '='")
        object.__setattr__(self, "_items", tuple(sorted(env.items())))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FrozenEnv is immutable")

    def __getitem__(self, key: str) -> str:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenEnv):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenEnv({dict(self._items)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenEnv, (self._items,))


def _to_args(value: Iterable[str]) -> tuple[str, ...]:
    given: object = value
    if isinstance(given, str | bytes | Mapping | set | frozenset) or not isinstance(
        given, Iterable
    ):
        raise InputError(
            f"bootstrap command args must be a sequence of str, got {type(given).__name__}"
        )
    return tuple(_check_text(a, f"args[{i}]") for i, a in enumerate(value))


def _to_env(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> FrozenEnv:
    if isinstance(value, FrozenEnv):
        return value
    return FrozenEnv(() if value is None else value)


def _to_program(value: str | os.PathLike[str]) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    program = _check_text(value, "program")
    if not program:
        raise InputError("bootstrap command program is empty")
    return program


def _to_arg0(value: str | None) -> str | None:
    return None if value is None else _check_text(value, "arg0")


@attrs.frozen
class BootstrapCommand:
    """The command a host agent runs to start a proc.

    ``program`` is what is executed; the process sees ``argv()``, i.e.
    ``[arg0 or program, *args]``. ``env`` is added to the environment the host agent builds
    for the proc (on top of the bootstrap payload variables).

    Attributes:
        program: the executable (path or name).
        args: the arguments after argv[0].
        env: extra environment variables (immutable; order is irrelevant to equality).
        arg0: the argv[0] the process sees, when it should differ from ``program``.
    """

    program: str = attrs.field(converter=_to_program)
    args: tuple[str, ...] = attrs.field(default=(), converter=_to_args)
    env: Mapping[str, str] = attrs.field(factory=FrozenEnv, converter=_to_env)
    arg0: str | None = attrs.field(default=None, converter=_to_arg0)

    @classmethod
    def default(cls) -> BootstrapCommand:
        """This interpreter running ``-m meshtrio proc``."""
        return cls(sys.executable, ("-m", "meshtrio", "proc"))

    def argv(self) -> list[str]:
        """The argument vector the process sees: ``[arg0 or program, *args]``."""
        return [self.arg0 if self.arg0 is not None else self.program, *self.args]

    def with_env(self, **extra: str) -> BootstrapCommand:
        """A copy with ``extra`` added to (or replacing entries of) ``env``."""
        return attrs.evolve(self, env={**self.env, **extra})

    def to_wire(self) -> dict[str, Any]:
        """A plain dict: ``program``, ``args`` (list), ``env`` (dict), ``arg0`` (str or None)."""
        return {
            "program": self.program,
            "args": list(self.args),
            "env": dict(self.env),
            "arg0": self.arg0,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> BootstrapCommand:
        """Rebuild a command from :meth:`to_wire` output.

        Raises:
            InputError: not a mapping, a missing ``program``, an unknown key or a bad value.
        """
        if not isinstance(data, Mapping):
            raise InputError(
                f"bootstrap command wire form must be a dict, got {type(data).__name__}"
            )
        unknown = sorted(show(k) for k in data if k not in ("program", "args", "env", "arg0"))
        if unknown:
            raise InputError(
                f"bootstrap command wire form has unknown keys: [{', '.join(unknown)}]"
            )
        if "program" not in data:
            raise InputError("bootstrap command wire form has no 'program'")
        env = data.get("env")
        if env is not None and not isinstance(env, Mapping):
            raise InputError(f"bootstrap command env must be a dict, got {type(env).__name__}")
        return cls(
            program=data["program"],
            args=() if data.get("args") is None else data["args"],
            env=env,
            arg0=data.get("arg0"),
        )
