"""Proc lifecycle status (spec 5.2) and the per-proc state record.

Holds :class:`StatusKind`, :class:`Status` and :class:`ProcState`.

Invariants owned here:

* ``Status`` is totally ordered::

      NotExist < Initializing < Running < Stopping < Stopped < Failed(msg) < Timeout(d) < Unknown

  by ``(kind, message or '', duration or 0)``; status fences compare with ``>=``.
* Only ``Failed`` carries a message (a str, possibly empty) and only ``Timeout`` a duration
  (finite seconds >= 0, rounded to milliseconds so that the text form round-trips).
* ``str()`` and :meth:`Status.parse` are exact inverses: ``NotExist``, ``Running``,
  ``Failed(<msg>)``, ``Timeout(20.001s)`` (up to 3 decimals, trailing zeros trimmed).

Every constructor checks its argument types and raises :class:`InputError` (never a builtin
TypeError) for a wrong one; a :class:`ProcState` checks each field's type.

``Unknown`` (a proc the host has no record of) is neither healthy nor terminating, yet sorts
after everything, so a bare ``status >= X`` check is satisfied by it; this quirk is kept from
upstream. meshtrio's spawn fence does not rely on the order for it: it treats ``Unknown`` as
not yet running (that rule lives with the fence, not here).
"""

from __future__ import annotations

import enum
import math
import re
import sys
from collections.abc import Iterable
from typing import ClassVar

import attrs

from meshtrio._errors import InputError
from meshtrio._util import is_int, show

__all__ = ["ProcState", "Status", "StatusKind"]


class StatusKind(enum.IntEnum):
    """The kind of a :class:`Status`, in lifecycle order."""

    NOT_EXIST = 0
    INITIALIZING = 1
    RUNNING = 2
    STOPPING = 3
    STOPPED = 4
    FAILED = 5
    TIMEOUT = 6
    UNKNOWN = 7


_NAMES = {
    StatusKind.NOT_EXIST: "NotExist",
    StatusKind.INITIALIZING: "Initializing",
    StatusKind.RUNNING: "Running",
    StatusKind.STOPPING: "Stopping",
    StatusKind.STOPPED: "Stopped",
    StatusKind.FAILED: "Failed",
    StatusKind.TIMEOUT: "Timeout",
    StatusKind.UNKNOWN: "Unknown",
}
_PLAIN = {
    name: kind
    for kind, name in _NAMES.items()
    if kind not in (StatusKind.FAILED, StatusKind.TIMEOUT)
}

_I32_MAX = 2**31 - 1
_WIRE_INT_MIN = -(2**63)  # the ints msgpack can carry
_WIRE_INT_MAX = 2**64 - 1
_TIMEOUT_RE = re.compile(r"Timeout\(([0-9]+(?:\.[0-9]+)?)s\)")


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@attrs.frozen(order=False)
class Status:
    """The lifecycle status of one proc; see the module docstring for order and text form.

    Attributes:
        kind: which status.
        message: the failure message (``Failed`` only).
        duration: seconds waited before giving up (``Timeout`` only).
    """

    kind: StatusKind
    message: str | None = None
    duration: float | None = None

    NOT_EXIST: ClassVar[Status]
    INITIALIZING: ClassVar[Status]
    RUNNING: ClassVar[Status]
    STOPPING: ClassVar[Status]
    STOPPED: ClassVar[Status]
    UNKNOWN: ClassVar[Status]

    def __attrs_post_init__(self) -> None:
        given: object = self.kind
        if not is_int(given):
            raise InputError(f"a status kind must be a StatusKind, got {type(given).__name__}")
        try:
            kind = StatusKind(given)
        except ValueError:  # also the enum failing to print an int too long for str()
            raise InputError(f"unknown status kind {show(given)}") from None
        object.__setattr__(self, "kind", kind)
        if kind is StatusKind.FAILED:
            if not isinstance(self.message, str):
                raise InputError("a Failed status needs a str message")
        elif self.message is not None:
            raise InputError(f"a {_NAMES[kind]} status cannot carry a message")
        if kind is StatusKind.TIMEOUT:
            d = self.duration
            if isinstance(d, bool) or not isinstance(d, int | float):
                raise InputError(
                    f"a Timeout status needs a duration in seconds, got {type(d).__name__}"
                )
            if not 0 <= d <= sys.float_info.max:  # also NaN, inf and ints too big for a float
                raise InputError(f"a Timeout duration must be finite and >= 0, got {show(d)}")
            object.__setattr__(self, "duration", round(float(d), 3) + 0.0)
        elif self.duration is not None:
            raise InputError(f"a {_NAMES[kind]} status cannot carry a duration")

    @classmethod
    def failed(cls, message: str) -> Status:
        """``Failed(message)``.

        Raises:
            InputError: ``message`` is not a str.
        """
        return cls(StatusKind.FAILED, message=message)

    @classmethod
    def timeout(cls, seconds: float) -> Status:
        """``Timeout(seconds)``; the duration is rounded to milliseconds.

        Raises:
            InputError: ``seconds`` is not a finite number >= 0.
        """
        return cls(StatusKind.TIMEOUT, duration=seconds)

    @classmethod
    def killed(cls, signal: int, core_dumped: bool = False) -> Status:
        """The status of a proc killed by a signal: ``Failed(Killed(sig=9))`` (spec 5.2).

        Raises:
            InputError: ``signal`` is not an int in ``1..2**31-1`` or ``core_dumped`` not a bool.
        """
        if not is_int(signal) or not 0 < signal <= _I32_MAX:
            raise InputError(f"a signal number must be an int in 1..2**31-1, got {show(signal)}")
        if not isinstance(core_dumped, bool):
            raise InputError(f"core_dumped must be a bool, got {type(core_dumped).__name__}")
        return cls.failed(f"Killed(sig={signal}{', core' if core_dumped else ''})")

    @classmethod
    def parse(cls, text: str) -> Status:
        """Parse the text form produced by ``str()``.

        Raises:
            InputError: the text is not a status.
        """
        if not isinstance(text, str):
            raise InputError(f"status text must be a str, got {type(text).__name__}")
        plain = _PLAIN.get(text)
        if plain is not None:
            return cls(plain)
        if text.startswith("Failed(") and text.endswith(")"):
            return cls.failed(text[len("Failed(") : -1])
        m = _TIMEOUT_RE.fullmatch(text)
        if m is not None:
            seconds = float(m.group(1))
            if math.isfinite(seconds):
                return cls.timeout(seconds)
        raise InputError(
            f"not a status: {text[:60]!r}; expected one of {', '.join(_PLAIN)}, "
            "Failed(<message>) or Timeout(<seconds>s)"
        )

    def __str__(self) -> str:
        if self.kind is StatusKind.FAILED:
            return f"Failed({self.message})"
        if self.kind is StatusKind.TIMEOUT:
            return f"Timeout({_format_seconds(self.duration or 0.0)}s)"
        return _NAMES[self.kind]

    # ------------------------------------------------------------------ order

    def _key(self) -> tuple[int, str, float]:
        return (int(self.kind), self.message or "", self.duration or 0.0)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self._key() >= other._key()

    # ------------------------------------------------------------------ predicates

    @property
    def is_terminating(self) -> bool:
        """Stopping, Stopped, Failed or Timeout (not Unknown)."""
        return StatusKind.STOPPING <= self.kind <= StatusKind.TIMEOUT

    @property
    def is_terminated(self) -> bool:
        """Stopped, Failed or Timeout (not Stopping, not Unknown)."""
        return StatusKind.STOPPED <= self.kind <= StatusKind.TIMEOUT

    @property
    def is_failure(self) -> bool:
        """Failed or Timeout."""
        return self.kind in (StatusKind.FAILED, StatusKind.TIMEOUT)

    @property
    def is_healthy(self) -> bool:
        """Initializing or Running (not Unknown)."""
        return self.kind in (StatusKind.INITIALIZING, StatusKind.RUNNING)

    @property
    def is_not_exist(self) -> bool:
        """NotExist."""
        return self.kind is StatusKind.NOT_EXIST

    @property
    def is_running(self) -> bool:
        """Running."""
        return self.kind is StatusKind.RUNNING

    @property
    def is_unknown(self) -> bool:
        """Unknown: the host has no record of the proc."""
        return self.kind is StatusKind.UNKNOWN


Status.NOT_EXIST = Status(StatusKind.NOT_EXIST)
Status.INITIALIZING = Status(StatusKind.INITIALIZING)
Status.RUNNING = Status(StatusKind.RUNNING)
Status.STOPPING = Status(StatusKind.STOPPING)
Status.STOPPED = Status(StatusKind.STOPPED)
Status.UNKNOWN = Status(StatusKind.UNKNOWN)


def _to_lines(lines: Iterable[str]) -> tuple[str, ...]:
    given: object = lines
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise InputError(f"stderr_tail must be a sequence of str, got {type(given).__name__}")
    out = tuple(lines)
    for line in out:
        if not isinstance(line, str):
            raise InputError(f"stderr_tail lines must be str, got {type(line).__name__}")
    return out


def _check_int(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not is_int(value):
        raise InputError(f"ProcState.{name} must be an int, got {type(value).__name__}")
    if not _WIRE_INT_MIN <= value <= _WIRE_INT_MAX:
        raise InputError(f"ProcState.{name} {show(value)} does not fit in 64 bits")


def _check_time(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, float):
        return
    _check_int(name, value, optional=False)


@attrs.frozen(kw_only=True)
class ProcState:
    """What a host knows about one proc.

    Construction checks every field's type (ints must fit the wire's 64 bits; times are
    floats or such ints) and raises :class:`InputError` for a bad one.

    Attributes:
        status: its lifecycle status.
        proc_id: its id as text (see :func:`meshtrio._ids.proc_id`).
        create_rank: its rank in the proc mesh.
        host_rank: the rank of its host in the host mesh.
        host: its host's channel address, as text.
        pid: its OS process id, once started.
        started_at: when it started (unix time), once started.
        updated_at: when this record last changed (unix time).
        exit_code: its exit code, once exited normally.
        signal: the signal that killed it, if one did.
        stderr_tail: the last lines of its stderr (not shown by ``str()``).
        error: why nothing is known of it (its host could not be asked: refused, connection
            lost, ...), with status ``Unknown``; None when its host answered.
        address: the channel address the proc serves actors on (text), once it is Running.
    """

    status: Status
    proc_id: str
    create_rank: int
    host_rank: int
    host: str
    pid: int | None
    started_at: float | None
    updated_at: float
    exit_code: int | None = None
    signal: int | None = None
    stderr_tail: tuple[str, ...] = attrs.field(default=(), converter=_to_lines)
    error: str | None = None
    address: str | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("error", "address"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InputError(
                    f"ProcState.{name} must be a str or None, got {type(value).__name__}"
                )
        if not isinstance(self.status, Status):
            raise InputError(f"ProcState.status must be a Status, got {type(self.status).__name__}")
        for name in ("proc_id", "host"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InputError(f"ProcState.{name} must be a str, got {type(value).__name__}")
        _check_int("create_rank", self.create_rank, optional=False)
        _check_int("host_rank", self.host_rank, optional=False)
        _check_int("pid", self.pid, optional=True)
        _check_int("exit_code", self.exit_code, optional=True)
        _check_int("signal", self.signal, optional=True)
        _check_time("started_at", self.started_at, optional=True)
        _check_time("updated_at", self.updated_at, optional=False)

    def __str__(self) -> str:
        extra = "".join(
            f" {name}={value}"
            for name, value in (("pid", self.pid), ("exit", self.exit_code), ("sig", self.signal))
            if value is not None
        )
        why = f" ({self.error})" if self.error is not None else ""
        return (
            f"{self.proc_id} (rank {self.create_rank} on host {self.host_rank} {self.host}): "
            f"{self.status}{extra}{why}"
        )
