"""The error classes meshtrio raises; :mod:`meshtrio.errors` is their public namespace.

The tree, and what each error means, is drawn in :mod:`meshtrio.errors`' docstring. Each class
here says when it is raised and what it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import attrs

__all__ = [
    "ActorDiedError",
    "ActorError",
    "ActorFailedError",
    "AddrParseError",
    "AdminBusyError",
    "AdminNodeNotFoundError",
    "AdminRefError",
    "AuthRejectedError",
    "BadAnnouncementError",
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
    "NoActorContextError",
    "PayloadError",
    "PointParseError",
    "ProcCreationError",
    "ProcFailedError",
    "ProcMeshStopError",
    "ProcSpawnError",
    "ProtocolError",
    "RankIndexError",
    "RegionParseError",
    "RemoteError",
    "RendezvousTimeoutError",
    "RequestTimeoutError",
    "ShutdownError",
    "SliceError",
    "SpawnConfigurationError",
    "TLSError",
    "TLSHandshakeError",
    "TLSRequiredError",
    "TLSVerifyError",
    "TransportError",
]


def _rebuild(cls: type[MeshError], message: str, fields: dict[str, Any]) -> MeshError:
    err = cls.__new__(cls)
    MeshError.__init__(err, message)
    err.__dict__.update(fields)
    return err


class MeshError(Exception):
    """Base class of every error meshtrio raises on purpose.

    ``except MeshError`` catches everything in the tree of :mod:`meshtrio.errors`; each error
    also subclasses the nearest builtin, so ``except ValueError`` etc. keep working. It is not
    raised for bugs in meshtrio (those are plain ``AssertionError``/``TypeError``...) and never
    wraps ``trio.Cancelled``.

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

    _not_pickled: tuple[str, ...] = ()
    """Attributes left out when pickling (they may refer back to the error itself)."""

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {
            k: v
            for k, v in self.__dict__.items()
            if not k.startswith("__") and k not in self._not_pickled
        }
        return (_rebuild, (type(self), self.message, fields))


class InputError(MeshError, ValueError):
    """Bad text or arguments, found before anything was done: fix the call and try again.

    Raised by the check that refused the input, before it was used. Not a failure of a host
    or proc (those are :class:`TransportError`, :class:`RemoteError`, :class:`HostsError` and
    the proc errors), and not raised for an unknown dimension (:class:`DimensionError`) or an
    index out of range (:class:`RankIndexError`), which subclass ``KeyError`` and
    ``IndexError`` instead.
    """


class RegionParseError(InputError):
    """Region text (``label=size/stride,...+offset``) that does not parse
    (``Region.parse``).

    Not :class:`PointParseError` (point text), nor :class:`SliceError` (a region's numbers
    that parse but do not describe a valid slice).

    Attributes:
        text: the input.
        position: the character offset where the problem was found.
    """

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class PointParseError(InputError):
    """Point text (``label=index/size,...``) that does not parse or names no point.

    Not :class:`RegionParseError`: in a region ``a/b`` is size/stride, in a point it is
    index/size.

    Attributes:
        text: the input.
        position: the character offset where the problem was found.
    """

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class HostMeshRefParseError(InputError):
    """Host mesh ref text (``id:host,host@region``) that does not parse
    (``HostMeshRef.parse``).

    A bad id, address or region inside it is reported as this error, naming the part. Not
    raised when the text parses but the host count differs from the region's rank count
    (:class:`CardinalityError`).
    """


class IdParseError(InputError):
    """An invalid label or host/proc mesh id (``Label``, ``HostMeshId.parse``,
    ``ProcMeshId.parse``). Names given to ``attach`` or ``spawn`` are sanitised instead.

    Not :class:`DimensionError`: that is a valid label the region does not have.
    """


class AddrParseError(InputError):
    """Channel address text that is not a valid ``tcp:``, ``unix:`` or ``local:`` address
    (``ChannelAddr.parse``).

    Only the text is checked: an address that parses but where nothing listens is a
    :class:`HostUnreachableError` when connecting.
    """


class SliceError(InputError):
    """Offset, sizes and strides that do not describe a valid slice (not ints in 0..2**64-1,
    as many sizes as strides, rectangular, unique strides), or a selection whose result could
    not be represented as one.

    Not :class:`RegionParseError` (text that does not parse) nor :class:`ExtentError` (labels).
    """


class ExtentError(InputError):
    """An extent with duplicate or overlapping labels, or sizes of the wrong shape; or a point
    of another extent where a point of this one is needed.

    Not :class:`DimensionError` (one unknown label looked up) nor :class:`RankIndexError` (a
    coordinate out of range in the right extent).
    """


class EmptyRangeError(InputError):
    """A selection (``range``) that would select nothing, such as an empty slice.

    Not :class:`RankIndexError`: an index outside the dimension is an ``IndexError``, an empty
    but in-range selection is this ``ValueError``.
    """


class CardinalityError(InputError):
    """A count that differs from the region's number of ranks: hosts given for a host mesh
    ref, values given for a ``ValueMesh`` (or a region too large to hold a value per rank).

    Not :class:`ExtentError`: the shape itself is fine, the number of things given is not.
    """


class ConfigError(InputError):
    """An unknown config key, or a value that does not parse or is out of range (CF-1), or a
    config snapshot of the wrong shape (CF-2); the message names the key, and the env var and
    value where it came from the environment.

    Raised where the value enters (``configured``, the environment, a pushed snapshot), never
    later by the code that reads it. Not :class:`ConfigPushError`: that is a push that failed
    on hosts; a host that refuses a pushed value shows up there as one host's failure.
    """


class SpawnConfigurationError(InputError):
    """A spawn rejected by the up-front checks (PM-1: a bad ``per_host``, labels that overlap
    the host labels, a bad ``proc_bind``; or, starting an OS process, argument or environment
    text that cannot be passed); nothing was started.

    Not :class:`LaunchError` (the arguments were fine but the OS could not start the program),
    nor :class:`ProcCreationError` or :class:`ProcSpawnError` (procs were started and failed
    or did not report). Raised on a host while starting a proc, it reaches the client as that
    proc's Failed status, so as a :class:`ProcCreationError`.
    """


class PayloadError(InputError):
    """Arguments for an actor (its constructor's or an endpoint's) that cannot be sent: one
    cannot be pickled, or together they pickle to more than ``max_message_size`` allows.
    Raised in the caller before anything is sent; the message names the argument.

    Not :class:`ActorError`: a result that cannot be pickled is found on the proc, and reaches
    the caller as an :class:`ActorError` (``kind`` ``PayloadError``).

    Attributes:
        argument: the argument's name (``args[0]``, ``by``), or ``""`` when it is all of them
            together.
    """

    def __init__(self, message: str, *, argument: str = "") -> None:
        super().__init__(message)
        self.argument = argument


class DimensionError(MeshError, KeyError):
    """A dimension label that the region or extent does not have (in ``range``, ``at``, ...).

    A ``KeyError``, not an :class:`InputError`: the label is well formed (a malformed one is an
    :class:`IdParseError`), only absent here. ``str(err)`` is the message, without quotes.
    """


class RankIndexError(MeshError, IndexError):
    """An index or rank outside its dimension or mesh; the message names the dimension and
    its size.

    An ``IndexError``, so Python's indexing rules apply as usual (negative indices count from
    the end). Not :class:`EmptyRangeError` (in range but selecting nothing) nor
    :class:`DimensionError` (no such dimension).
    """


class TransportError(MeshError, ConnectionError):
    """Talking to a host or proc failed at the transport: the request may or may not have
    been handled.

    Catch this for "the peer is not there or the link is broken". Not :class:`RemoteError`
    (the peer received the request and answered with an error), nor
    :class:`RequestTimeoutError` (the link worked, the answer did not come in time), nor
    :class:`MeshClosedError` (this client's own mesh or connections were already closed).
    The lower library's exception (trio-websocket, ``OSError``) never escapes; it is
    translated into one of the subclasses.

    Attributes:
        address: the peer's channel address, as text.
    """

    def __init__(self, message: str, *, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class HostUnreachableError(TransportError):
    """The peer could not be reached: connection refused, no such socket, name or ``local:``
    listener. Nothing was sent.

    Not :class:`ConnectionLostError` (a connection existed, or was being set up, and broke),
    nor :class:`RequestTimeoutError` (connecting took longer than ``connect_timeout``), nor
    :class:`AddrParseError` (the address text itself is invalid).
    """


class AuthRejectedError(TransportError):
    """The peer refused our credentials: a wrong or missing token in the handshake.

    Not :class:`HostUnreachableError`: the host is there and answered; retrying with the same
    token fails again. A proc whose credential does not allow a request sees that as a
    :class:`RemoteError` (``kind`` ``AuthRejectedError``), since the host answered it.
    """


class ProtocolError(TransportError):
    """The peer spoke a different protocol version, refused the handshake for another reason,
    or sent a frame we cannot accept (undecodable or larger than ``max_message_size``); the
    connection is closed.

    Not :class:`ConnectionLostError` (the link broke, whatever was on it) nor
    :class:`RemoteError` (a well-formed error answer).
    """


class MessageBodyError(ProtocolError):
    """A well-framed message whose body does not fit its type; the connection stays usable.

    Unlike the other :class:`ProtocolError` cases only one request fails (a bad request body
    is answered with an error; a bad reply body fails the call waiting for it); the
    connection and other requests on it go on.

    Attributes:
        corr: the correlation id of the envelope.
        kind: the envelope kind (0 request, 1 reply, 2 event, 3 error).
    """

    def __init__(self, message: str, *, corr: int = 0, kind: int = 0, address: str = "") -> None:
        super().__init__(message, address=address)
        self.corr = corr
        self.kind = kind


class ConnectionLostError(TransportError):
    """The connection broke (or closed during the handshake) while a request was being sent
    or waited for its reply. Each request waiting on that connection gets this error (RPC-1).

    The request may have been handled before the break: do not assume it was not. Not
    :class:`HostUnreachableError` (there was never a connection), nor
    :class:`RequestTimeoutError` (the connection stayed up, the reply was late).
    """


class TLSError(TransportError):
    """The TLS layer of a connection failed: the host and this client do not agree on TLS,
    or a certificate was not accepted. Nothing was sent; retrying with the same settings
    fails again. The message says what to fix; ``__cause__`` is the ``ssl`` error, if any.

    Not :class:`AuthRejectedError` (TLS worked, the token was wrong).
    """


class TLSVerifyError(TLSError):
    """The host's certificate was not trusted: signed by a CA this client was not given
    (``tls=meshtrio.TLSConfig(ca=...)``), expired or not yet valid, or not issued for the address
    connected to. ``reason`` is what the verifier said (e.g. ``certificate has expired``)."""

    def __init__(self, message: str, *, address: str = "", reason: str = "") -> None:
        super().__init__(message, address=address)
        self.reason = reason


class TLSRequiredError(TLSError):
    """The host speaks TLS only (it was started with ``--tls-cert``) and this client connected
    in plaintext: attach with ``tls=meshtrio.TLSConfig(ca=...)``."""


class TLSHandshakeError(TLSError):
    """The TLS handshake failed for another reason: a TLS client and a plaintext host, a
    client certificate the host wants but did not get or did not accept (mutual TLS), no
    common protocol version or cipher."""


class RequestTimeoutError(MeshError, TimeoutError):
    """No reply arrived within the request's deadline, or connecting (connect plus handshake)
    took longer than ``connect_timeout``.

    A ``TimeoutError`` raised by meshtrio's own deadlines (``request_timeout``,
    ``connect_timeout``, a method's ``timeout``); a cancel scope of the caller's that ends
    first cancels the call instead (``trio.fail_after`` raises its ``trio.TooSlowError``).
    Not :class:`ConnectionLostError` (the connection broke), nor :class:`ProcSpawnError` (the
    spawn status fence: per proc, not per request).

    Attributes:
        address: the peer's channel address, as text.
        timeout: the deadline in seconds.
    """

    def __init__(self, message: str, *, address: str = "", timeout: float = 0.0) -> None:
        super().__init__(message)
        self.address = address
        self.timeout = timeout


class RendezvousTimeoutError(MeshError, TimeoutError):
    """Fewer hosts than expected announced themselves within the timeout
    (:func:`meshtrio.hosts_from_dir`, RV-4). The message says how many were found and where.

    Not :class:`RequestTimeoutError` (a request to a host that did not answer).

    Attributes:
        directory: the rendezvous directory, as text.
        expected: how many hosts were waited for.
        found: the addresses of those that announced themselves, as text, in RV-3 order.
    """

    def __init__(
        self, message: str, *, directory: str = "", expected: int = 0, found: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.directory = directory
        self.expected = expected
        self.found = tuple(found)


class BadAnnouncementError(MeshError, ValueError):
    """A rendezvous directory holds something that is not a valid host announcement: a file
    that does not parse or is too large, two hosts claiming one rank, or more hosts than
    expected (stale files of an earlier job). Raised at once, not waited out.

    Attributes:
        path: the offending file, or the directory when no single file is at fault.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class AdminRefError(InputError):
    """A mesh admin node reference that does not parse (``/v1/{ref}``, ``/v1/config/{proc}``,
    ``/v1/stacks/{proc}``); the admin answers it with HTTP 400 ``bad_request``.

    The grammar is in :mod:`meshtrio._admin_refs`. Also raised when a route that needs a proc
    is given another kind of reference. Not :class:`AdminNodeNotFoundError` (a reference that
    parses but names nothing).
    """


class AdminNodeNotFoundError(MeshError, KeyError):
    """A well-formed mesh admin node reference that names nothing the admin's hosts or this
    client know; the admin answers it with HTTP 404 ``not_found``.

    The message says when some hosts did not answer (the node may be on one of them). Not
    :class:`AdminRefError` (the reference does not parse).
    """


class AdminBusyError(MeshError, RuntimeError):
    """Every mesh admin lookup slot is taken (AD-1: ``max_concurrent``); the admin answers
    HTTP 503 ``service_unavailable`` with ``Retry-After`` at once, never queueing the request.

    Not a failure of any host: the same request succeeds once a lookup in flight ends.
    """


class RemoteError(MeshError):
    """The peer received the request and answered with an error: it was handled there and
    refused or failed.

    The peer's error is not re-raised here as its own class: ``kind`` names it and the message
    carries its text. Not a local error (this process checked nothing wrong with the request)
    and not a :class:`TransportError` (the link worked); retrying the same request usually
    fails the same way.

    Attributes:
        address: the peer's channel address.
        kind: the name of the error class on the peer.
    """

    def __init__(self, message: str, *, address: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.address = address
        self.kind = kind


class _CallOutcomes:
    """The ``failures``/``values`` pair an actor call's error carries (see ActorError)."""

    _not_pickled: tuple[str, ...] = ("_failures", "_values")
    rank: int
    _failures: dict[int, MeshError] | None = None
    _values: dict[int, Any] | None = None

    @property
    def failures(self) -> dict[int, MeshError]:
        """Every failing rank's error, by rank (from ``call``); else just this one's."""
        if self._failures is None:
            return {self.rank: cast(MeshError, self)}
        return self._failures

    @property
    def values(self) -> dict[int, Any]:
        """From ``call``: the values of the ranks that succeeded, by rank; else empty."""
        return {} if self._values is None else self._values

    def set_outcomes(self, failures: dict[int, MeshError], values: dict[int, Any]) -> None:
        """Record a ``call``'s per-rank outcomes (not pickled with the error)."""
        self._failures = failures
        self._values = values


class ActorError(_CallOutcomes, RemoteError):
    """An actor's code raised: an endpoint (the actor lives on and serves the next call) or
    its ``__init__`` (no actor mesh was made).

    The remote exception is not re-raised as its own class: ``kind`` names it, the message
    and :attr:`traceback` carry its text, and it is the ``__cause__`` when it unpickles here.
    Not :class:`ActorDiedError` (the actor or its proc is gone), nor a
    :class:`TransportError` (the call did not get through).

    Attributes:
        rank: the actor's rank in its actor mesh.
        point: the actor's point in its actor mesh (a :class:`~meshtrio.Point`).
        actor: the actor mesh's name.
        endpoint: the endpoint called (``__init__`` for the constructor).
        traceback: the remote traceback, as text.
        failures: every failing rank's error when raised by ``call`` (this one included),
            by rank; else just this one.
        values: when raised by ``call``, the values of the ranks that succeeded, by rank.
    """

    def __init__(
        self,
        message: str,
        *,
        rank: int = 0,
        point: Any = None,
        actor: str = "",
        endpoint: str = "",
        kind: str = "",
        traceback: str = "",
        address: str = "",
    ) -> None:
        super().__init__(message, address=address, kind=kind)
        self.rank = rank
        self.point = point
        self.actor = actor
        self.endpoint = endpoint
        self.traceback = traceback


class ActorDiedError(_CallOutcomes, MeshError):
    """The actor is gone: its proc died, was stopped or cannot be reached, or the actor was
    stopped on its proc. Calls in flight to it fail with this as soon as the connection to its
    proc ends (never by a timeout), and later calls fail at once.

    Not :class:`ActorError` (the actor's code raised and the actor lives on), nor
    :class:`MeshClosedError` (this client stopped the actor mesh itself, then called it).

    Attributes:
        rank: the actor's rank in its actor mesh.
        point: its point in the actor mesh (a :class:`~meshtrio.Point`).
        actor: the actor mesh's name.
        proc_id: its proc's id.
        status: its proc's status as its host reported it (a :class:`~meshtrio.Status`), or
            None when the host could not say in time.
        stderr_tail: the last lines its proc wrote to stderr (as its host kept them).
        failures: as :attr:`ActorError.failures`.
        values: as :attr:`ActorError.values`.
    """

    def __init__(
        self,
        message: str,
        *,
        rank: int = 0,
        point: Any = None,
        actor: str = "",
        proc_id: str = "",
        status: Any = None,
        stderr_tail: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.point = point
        self.actor = actor
        self.proc_id = proc_id
        self.status = status
        self.stderr_tail = tuple(stderr_tail)


class ProcFailedError(MeshError):
    """A proc failed after its mesh was up (it crashed, was killed, exited badly), no call
    was waiting on it, and the spawn's ``on_failure`` is ``"raise"`` (the default): raised
    out of the ``async with`` block that owns the mesh, whose body was cancelled
    (supervision, SV-2). A lost host is not one (it is logged; its stop or shutdown names
    it).

    Not :class:`ProcCreationError` (a proc that failed before its mesh was up). An expected
    stop (``stop()``, shutdown, keepalive reaping) is never one.

    Attributes:
        rank: the proc's rank in its proc mesh.
        point: its point (a :class:`~meshtrio.Point`).
        proc_mesh: its proc mesh's id, as text.
        host: its host's address.
        status: its status (a :class:`~meshtrio.Status`, a failure).
        exit_code: its exit code, if it exited.
        signal: the signal that killed it, if one did.
        stderr_tail: the last lines it wrote to stderr.
    """

    def __init__(
        self,
        message: str,
        *,
        rank: int = 0,
        point: Any = None,
        proc_mesh: str = "",
        host: str = "",
        status: Any = None,
        exit_code: int | None = None,
        signal: int | None = None,
        stderr_tail: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.point = point
        self.proc_mesh = proc_mesh
        self.host = host
        self.status = status
        self.exit_code = exit_code
        self.signal = signal
        self.stderr_tail = tuple(stderr_tail)


class ActorFailedError(MeshError):
    """An actor's failure that no caller was waiting for (a ``broadcast`` that raised, or an
    actor that died under it), with the spawn's ``on_failure`` ``"raise"`` (the default):
    raised out of the ``async with`` block that owns the mesh (supervision, SV-3). The
    actor's own error (:class:`ActorError` or :class:`ActorDiedError`) is the ``__cause__``.

    Attributes:
        rank: the actor's rank.
        point: its point.
        actor: the actor mesh's name.
        endpoint: the endpoint that failed.
    """

    def __init__(
        self, message: str, *, rank: int = 0, point: Any = None, actor: str = "", endpoint: str = ""
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.point = point
        self.actor = actor
        self.endpoint = endpoint


class NoActorContextError(MeshError, LookupError):
    """:func:`meshtrio.context` or :func:`meshtrio.current_rank` was called outside an
    actor's code (a ``LookupError``, like an unset context variable)."""


@attrs.frozen
class HostFailure:
    """What went wrong on one host during a mesh-wide operation (HM-4).

    A record, not an exception: :class:`HostsError` and its subclasses hold one per failing
    host in ``.failures``, classified from the error that host raised.

    Attributes:
        address: the host's channel address, as text.
        kind: one of ``refused``, ``timeout``, ``auth``, ``tls``, ``protocol``,
            ``connection_lost``, ``remote``, ``closed``. The set may grow; it is for display
            and triage.
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
        if isinstance(exc, TLSError):
            kind = "tls"
        elif isinstance(exc, AuthRejectedError):
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

    Raised after every host was tried, never at the first failure: the hosts not listed
    succeeded. Not a :class:`TransportError` or :class:`RemoteError` itself: those are the
    per-host causes, kept as text in each :class:`HostFailure`.

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
    HM-2; the message says "during attach") or from ``HostMesh.push_config``.

    Not :class:`ConfigError`: the config given was valid here (bad keys or values are refused
    locally before anything is sent); the hosts listed could not be reached or refused it.
    """

    what = "config push failed"


class ShutdownError(HostsError):
    """Stop, drain or shutdown failed on some hosts; the others completed.

    ``report`` is the ``ShutdownReport`` or ``StopReport`` with every host's outcome. Not
    :class:`ProcMeshStopError` (stopping one proc mesh, judged by its procs' statuses).
    """

    what = "shutdown failed"


class ProcCreationError(MeshError):
    """A spawned proc reported a terminating status (Stopping, Stopped, Failed) before the
    mesh was up, a proc that could not be launched on its host included; the message names the
    proc, its host and its status.

    Not :class:`ProcSpawnError` (procs that did not report in time), nor
    :class:`SpawnConfigurationError` (refused by the client before anything started).

    Attributes:
        state: the failing proc's state record (status, proc id, create rank, ...).
        host_rank: the rank of the host it ran on.
    """

    def __init__(self, message: str, *, state: Any, host_rank: int) -> None:
        super().__init__(message)
        self.state = state
        self.host_rank = host_rank


class ProcSpawnError(MeshError, TimeoutError):
    """The spawn status fence timed out before every proc reported Running.

    A ``TimeoutError`` about procs, with one status per rank; not
    :class:`RequestTimeoutError` (one request to one peer had no reply), nor
    :class:`ProcCreationError` (a proc reported that it failed).

    Attributes:
        statuses: one ``Status`` per rank of the proc mesh, ``Timeout`` where nothing was
            heard (or the proc never reached Running).
    """

    def __init__(self, message: str, *, statuses: Sequence[Any]) -> None:
        super().__init__(message)
        self.statuses = tuple(statuses)


class ProcMeshStopError(MeshError):
    """Some procs of a proc mesh did not reach a terminated status after ``ProcMesh.stop``, or
    some of its hosts could not be asked (the message lists them).

    Not :class:`ShutdownError` (hosts failing to stop or shut down as a whole).

    Attributes:
        statuses: one ``Status`` per rank.
    """

    def __init__(self, message: str, *, statuses: Sequence[Any]) -> None:
        super().__init__(message)
        self.statuses = tuple(statuses)


class LaunchError(MeshError, OSError):
    """An OS process (a proc or a host agent) could not be started: the operating system
    refused (no such file, permission denied, ...).

    An ``OSError``. Clients see it from :func:`~meshtrio.open_host_mesh_processes` (a host
    agent's program); a proc that cannot be started is reported as its Failed status, so as a
    :class:`ProcCreationError`. Not :class:`SpawnConfigurationError` (arguments refused
    before trying).

    Attributes:
        program: the program that was to be run.
        reason: the operating system's message (``no such file``, ``permission denied``, ...).
    """

    def __init__(self, message: str, *, program: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.program = program
        self.reason = reason


class MeshClosedError(MeshError, RuntimeError):
    """Use of a mesh (or of its connections) after it was shut down or closed, by this client.

    A ``RuntimeError``: a mistake in the calling code's order, like trio's
    ``ClosedResourceError``. Not :class:`ConnectionLostError` or :class:`HostUnreachableError`
    (something outside broke the link, like ``BrokenResourceError``). A mesh that was only
    stopped (``stop()``) is still usable.
    """
