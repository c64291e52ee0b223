"""The errors meshtrio raises, by meaning.

Every error that bad input or a failing host can cause is a :class:`MeshError`, and also
subclasses the nearest builtin so that plain ``except ValueError`` (or ``IndexError``,
``KeyError``, ``TimeoutError``, ``ConnectionError``, ``RuntimeError``) still catches it::

    MeshError
    ├── InputError (ValueError)               bad text or arguments
    │   ├── RegionParseError                  region text (position and token in the message)
    │   ├── PointParseError                   point text (position and token in the message)
    │   ├── HostMeshRefParseError             host mesh ref text
    │   ├── IdParseError                      labels, host/proc mesh ids
    │   ├── AddrParseError                    channel addresses
    │   ├── SliceError                        offset/sizes/strides that are not a valid slice
    │   ├── ExtentError                       duplicate or overlapping labels, bad sizes,
    │   │                                     a point of another extent
    │   ├── EmptyRangeError                   a selection that selects nothing
    │   ├── CardinalityError                  host count differs from region rank count
    │   ├── ConfigError                       a bad config key or value (names the env var)
    │   └── SpawnConfigurationError           a spawn rejected before anything started
    ├── DimensionError (KeyError)             an unknown dimension label
    ├── RankIndexError (IndexError)           an index or rank out of range (names dim, size)
    ├── TransportError (ConnectionError)      talking to a host or proc failed
    │   ├── HostUnreachableError              refused, no such socket, DNS, ...
    │   ├── AuthRejectedError                 the host refused our token
    │   ├── ProtocolError                     version mismatch, undecodable or oversized frame
    │   │   └── MessageBodyError              a message body that does not fit its type
    │   └── ConnectionLostError               the connection broke while a request waited
    ├── RequestTimeoutError (TimeoutError)    no reply within the request's deadline
    ├── RemoteError                           the peer handled the request and reported an error
    ├── HostsError                            a mesh-wide request failed on some hosts (.failures)
    │   ├── ConfigPushError                   attach/push_config failed (HM-2, HM-4)
    │   └── ShutdownError                     stop, drain or shutdown failed
    ├── ProcCreationError                     a spawned proc reported a terminating status
    ├── ProcSpawnError (TimeoutError)         the spawn status fence timed out
    ├── ProcMeshStopError                     a proc mesh did not fully stop
    ├── LaunchError (OSError)                 an OS process could not be started
    └── MeshClosedError (RuntimeError)        use of a mesh after shutdown

Errors are short: they name what was wrong and where, never dump payloads. They pickle, so
they survive crossing a process boundary. ``trio.Cancelled`` is never wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

__all__ = [
    "AddrParseError",
    "AuthRejectedError",
    "CardinalityError",
    "ConfigError",
    "ConfigPushError",
    "ConnectionLostError",
    "DimensionError",
    "EmptyRangeError",
    "ExtentError",
    "HostFailure",
    "HostMeshRefParseError",
    "HostUnreachableError",
    "HostsError",
    "IdParseError",
    "InputError",
    "LaunchError",
    "MeshClosedError",
    "MeshError",
    "MessageBodyError",
    "PointParseError",
    "ProcCreationError",
    "ProcMeshStopError",
    "ProcSpawnError",
    "ProtocolError",
    "RankIndexError",
    "RegionParseError",
    "RemoteError",
    "RequestTimeoutError",
    "ShutdownError",
    "SliceError",
    "SpawnConfigurationError",
    "TransportError",
]


def _rebuild(cls: type[MeshError], message: str, fields: dict[str, Any]) -> MeshError:
    err = cls.__new__(cls)
    MeshError.__init__(err, message)
    err.__dict__.update(fields)
    return err


class MeshError(Exception):
    """Base class of every error meshtrio raises on purpose.

    ``str(err)`` is the message. Structured details live in attributes that each subclass
    documents; they survive pickling.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        """The human-readable message (the same as ``str(err)``)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        # KeyError would otherwise print repr(message) with quotes.
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {k: v for k, v in self.__dict__.items() if not k.startswith("__")}
        return (_rebuild, (type(self), self.message, fields))


class InputError(MeshError, ValueError):
    """Bad text or arguments: nothing was done."""


class RegionParseError(InputError):
    """Region text that does not parse.

    Attributes:
        text: the input.
        position: the character offset where the problem was found.
    """

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class PointParseError(InputError):
    """Point text (``label=coord/size,...``) that does not parse or names no point.

    Attributes:
        text: the input.
        position: the character offset where the problem was found.
    """

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class HostMeshRefParseError(InputError):
    """Host mesh ref text (``id:host,host@region``) that does not parse."""


class IdParseError(InputError):
    """An invalid label or host/proc mesh id."""


class AddrParseError(InputError):
    """An invalid channel address."""


class SliceError(InputError):
    """Offset, sizes and strides that do not describe a valid slice."""


class ExtentError(InputError):
    """An extent with duplicate or overlapping labels, or sizes of the wrong shape; or a point
    of another extent where a point of this one is needed."""


class EmptyRangeError(InputError):
    """A selection (``range``) that would select nothing."""


class CardinalityError(InputError):
    """The number of hosts differs from the number of ranks of the region."""


class ConfigError(InputError):
    """An unknown config key, or a value that does not parse (names the env var and value)."""


class SpawnConfigurationError(InputError):
    """A spawn rejected by the up-front checks; nothing was started."""


class DimensionError(MeshError, KeyError):
    """A dimension label that the region or extent does not have."""


class RankIndexError(MeshError, IndexError):
    """An index or rank outside its dimension or mesh; the message names the dimension and size."""


class TransportError(MeshError, ConnectionError):
    """Talking to a host or proc failed.

    Attributes:
        address: the peer's channel address, as text.
    """

    def __init__(self, message: str, *, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class HostUnreachableError(TransportError):
    """The peer could not be reached (connection refused, no such socket or name)."""


class AuthRejectedError(TransportError):
    """The peer refused our credentials."""


class ProtocolError(TransportError):
    """The peer spoke a different protocol version or sent a frame we cannot accept."""


class MessageBodyError(ProtocolError):
    """A well-framed message whose body does not fit its type; the connection stays usable.

    Attributes:
        corr: the correlation id of the envelope.
        kind: the envelope kind (0 request, 1 reply, 2 event, 3 error).
    """

    def __init__(self, message: str, *, corr: int = 0, kind: int = 0, address: str = "") -> None:
        super().__init__(message, address=address)
        self.corr = corr
        self.kind = kind


class ConnectionLostError(TransportError):
    """The connection broke while a request was waiting for its reply."""


class RequestTimeoutError(MeshError, TimeoutError):
    """No reply arrived within the request's deadline.

    Attributes:
        address: the peer's channel address, as text.
        timeout: the deadline in seconds.
    """

    def __init__(self, message: str, *, address: str = "", timeout: float = 0.0) -> None:
        super().__init__(message)
        self.address = address
        self.timeout = timeout


class RemoteError(MeshError):
    """The peer handled the request and answered with an error.

    Attributes:
        address: the peer's channel address.
        kind: the name of the error class on the peer.
    """

    def __init__(self, message: str, *, address: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.address = address
        self.kind = kind


@attrs.frozen
class HostFailure:
    """What went wrong on one host during a mesh-wide operation (HM-4).

    Attributes:
        address: the host's channel address, as text.
        kind: one of ``refused``, ``timeout``, ``auth``, ``protocol``, ``connection_lost``,
            ``remote``, ``closed``. The set may grow; it is for display and triage.
        cause: a short description.
    """

    address: str
    kind: str
    cause: str

    def __str__(self) -> str:
        return f"{self.address}: {self.kind}: {self.cause}"

    @classmethod
    def from_exception(cls, address: str, exc: BaseException) -> HostFailure:
        """Classify ``exc`` (raised while talking to the host at ``address``)."""
        kind = "remote"
        if isinstance(exc, AuthRejectedError):
            kind = "auth"
        elif isinstance(exc, HostUnreachableError):
            kind = "refused"
        elif isinstance(exc, ProtocolError):
            kind = "protocol"
        elif isinstance(exc, ConnectionLostError):
            kind = "connection_lost"
        elif isinstance(exc, RequestTimeoutError | TimeoutError):
            kind = "timeout"
        elif isinstance(exc, MeshClosedError):
            kind = "closed"
        return cls(address=address, kind=kind, cause=str(exc) or type(exc).__name__)


def _host_lines(failures: Sequence[HostFailure]) -> str:
    return "".join(f"\n  - {f}" for f in failures)


class HostsError(MeshError):
    """A mesh-wide request failed on some hosts; the message lists every one (HM-4).

    Attributes:
        failures: one :class:`HostFailure` per failing host, in host rank order.
        report: the full per-host report where there is one, else None.
    """

    what = "request failed"
    """What failed, as the message's first words (a class default; a raiser may say more)."""

    def __init__(
        self,
        failures: Sequence[HostFailure],
        message: str | None = None,
        report: Any = None,
        *,
        what: str | None = None,
    ) -> None:
        self.failures = tuple(failures)
        self.report = report
        if message is None:
            head = what or self.what
            message = f"{head} on {len(self.failures)} host(s):" + _host_lines(self.failures)
        super().__init__(message)


class ConfigPushError(HostsError):
    """Config push failed on at least one host: from :func:`attach` (no mesh was returned,
    HM-2; the message says "during attach") or from ``HostMesh.push_config``."""

    what = "config push failed"


class ShutdownError(HostsError):
    """Stop, drain or shutdown failed on some hosts; the others completed.

    ``report`` is the ``ShutdownReport`` or ``StopReport`` with every host's outcome.
    """

    what = "shutdown failed"


class ProcCreationError(MeshError):
    """A spawned proc reported a terminating status before the mesh was up.

    Attributes:
        state: the failing proc's state record (status, proc id, create rank, ...).
        host_rank: the rank of the host it ran on.
    """

    def __init__(self, message: str, *, state: Any, host_rank: int) -> None:
        super().__init__(message)
        self.state = state
        self.host_rank = host_rank


class ProcSpawnError(MeshError, TimeoutError):
    """The spawn status fence timed out before every proc reported.

    Attributes:
        statuses: one ``Status`` per rank of the proc mesh, ``Timeout`` where nothing was
            heard (or the proc never reached Running).
    """

    def __init__(self, message: str, *, statuses: Sequence[Any]) -> None:
        super().__init__(message)
        self.statuses = tuple(statuses)


class ProcMeshStopError(MeshError):
    """Some procs of a proc mesh did not reach a terminated status.

    Attributes:
        statuses: one ``Status`` per rank.
    """

    def __init__(self, message: str, *, statuses: Sequence[Any]) -> None:
        super().__init__(message)
        self.statuses = tuple(statuses)


class LaunchError(MeshError, OSError):
    """An OS process (a proc or a host agent) could not be started.

    Attributes:
        program: the program that was to be run.
        reason: the operating system's message (``no such file``, ``permission denied``, ...).
    """

    def __init__(self, message: str, *, program: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.program = program
        self.reason = reason


class MeshClosedError(MeshError, RuntimeError):
    """The mesh (or connection) was already shut down or closed."""
