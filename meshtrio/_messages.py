"""The messages clients, host agents and procs exchange (all registered wire messages).

Client to host agent: :class:`SetClientConfig`, :class:`GetInfo`, :class:`Drain`,
:class:`Shutdown`, :class:`SpawnProcs` (streams :class:`ProcUpdate` events),
:class:`GetProcStates` (reply :class:`ProcStates`), :class:`StopProcMesh`,
:class:`GetProcMeshConfigs` (reply :class:`ProcMeshConfigs`).
:class:`AwaitProcExit` (reply :class:`ProcStates`), :class:`WatchProcs` (streams
:class:`ProcEvents`).
:class:`StreamProcLogs` (streams :class:`ProcLogBatch` events, reply :class:`Ack` once the
proc mesh's procs on that host are all gone), :class:`StopProcLogs`.
:class:`DumpProcStacks` (reply :class:`ProcStackDump`), :class:`ListProcs` (reply
:class:`ProcList`), :class:`ListProcStates` (reply :class:`HostProcStates`).
Proc to host agent: :class:`ProcHello`, :class:`GetProcSetup` (reply :class:`ProcSetup`).
Host agent to proc: :class:`AskProcToExit`,
:class:`GetProcConfig` (reply :class:`ProcConfig`).
"""

from __future__ import annotations

from typing import Any

import attrs

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._ids import HostMeshId, ProcId, ProcMeshId
from meshtrio._status import ProcState, Status
from meshtrio._wire import converter, message

__all__ = [
    "Ack",
    "AskProcToExit",
    "AwaitProcExit",
    "ConfigEntries",
    "Drain",
    "DrainReply",
    "DumpProcStacks",
    "GetInfo",
    "GetProcConfig",
    "GetProcMeshConfigs",
    "GetProcSetup",
    "GetProcStates",
    "HostInfoReply",
    "HostProcStates",
    "LifecycleEvent",
    "ListProcStates",
    "ListProcs",
    "ProcChange",
    "ProcConfig",
    "ProcEvents",
    "ProcHello",
    "ProcList",
    "ProcListing",
    "ProcLogBatch",
    "ProcLogLine",
    "ProcMeshConfigs",
    "ProcRow",
    "ProcSetup",
    "ProcStackDump",
    "ProcStates",
    "ProcUpdate",
    "SetClientConfig",
    "Shutdown",
    "SpawnProcs",
    "StopProcLogs",
    "StopProcMesh",
    "StreamProcLogs",
    "WatchProcs",
]

ConfigEntries = dict[str, tuple[Any, str]]
"""Effective config: key name to (value, source layer name)."""


MAX_TOKEN_CHARS = 256
MAX_LOG_LINE_CHARS = 4096
"""The longest line a :class:`ProcLogLine` carries (the launcher cuts lines to this)."""

MAX_LOG_BATCH = 256
"""The most lines (and the most ranks with drop counts) in one :class:`ProcLogBatch`."""

MAX_STREAM_ID_CHARS = 64
"""The longest id a client may give a log stream."""

LOG_STREAMS = ("stdout", "stderr")
"""The output streams a :class:`ProcLogLine` may come from."""
"""The longest actor token a host accepts in a SpawnProcs."""


def _actor_token(_obj: object, _attr: object, value: str) -> None:
    """attrs validator: an actor token is empty or sendable text of bounded length."""
    if value and (len(value) > MAX_TOKEN_CHARS or not all("\x21" <= c <= "\x7e" for c in value)):
        raise ValueError("actor_token must be printable ASCII of at most 256 characters")


def _snapshot(_obj: object, _attr: object, value: object) -> None:
    """attrs validator: a config snapshot from a peer has a bounded shape (CF-2), so a value
    nested 500 deep is refused at decode, before anything uses it."""
    config.check_snapshot(value)


@message
@attrs.frozen
class Ack:
    """An empty acknowledgement."""


@message
@attrs.frozen
class SetClientConfig:
    """Replace the host's ClientOverride config layer wholesale (idempotent)."""

    config: dict[str, Any] = attrs.field(validator=_snapshot)


@message
@attrs.frozen
class GetInfo:
    """Ask a host agent for its :class:`HostInfo`."""


@message
@attrs.frozen
class LifecycleEvent:
    """Something that happened on a host, with its wall-clock time (``time.time()``)."""

    at: float
    kind: str
    detail: str = ""


def _structure_event(raw: Any, _cls: type) -> LifecycleEvent:
    """A :class:`LifecycleEvent` from its wire dict, checked by hand: hosts send a few hundred
    in every info, and the generic path costs several times as much."""
    if not isinstance(raw, dict):
        raise TypeError("a LifecycleEvent is a map")
    at, kind, detail = raw.get("at"), raw.get("kind"), raw.get("detail", "")
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise TypeError("LifecycleEvent.at must be a number")
    if not isinstance(kind, str) or not isinstance(detail, str):
        raise TypeError("LifecycleEvent.kind and .detail must be text")
    return LifecycleEvent(float(at), kind, detail)


converter.register_structure_hook(LifecycleEvent, _structure_event)


@message
@attrs.frozen
class HostInfoReply:
    """A host agent's answer to :class:`GetInfo` (the wire form of :class:`meshtrio.HostInfo`,
    the public record a client builds from it; the fields are the same)."""

    address: str
    pid: int
    protocol_version: int
    uptime: float
    proc_count: int
    state: str
    events: list[LifecycleEvent]
    config: ConfigEntries


@message
@attrs.frozen
class Drain:
    """Stop procs: all of them (``host_mesh_id`` None) or those spawned through one host mesh.

    Each proc goes through the ladder (ask, ``timeout``, SIGTERM, ``timeout``, SIGKILL) with at
    most ``concurrency`` procs stopping at once. The host keeps serving.
    """

    host_mesh_id: HostMeshId | None
    timeout: float
    concurrency: int


@message
@attrs.frozen
class DrainReply:
    """How a drain went on one host: the wire form of :class:`meshtrio.DrainReport`, the
    public record a client builds from it (the fields are the same)."""

    attempted: int
    ok: int
    failed: int
    started_at: float
    finished_at: float
    events: list[LifecycleEvent] = attrs.field(factory=list)


@message
@attrs.frozen
class Shutdown:
    """Drain everything, acknowledge, then stop serving (the host process then exits)."""

    timeout: float
    concurrency: int


@message
@attrs.frozen
class SpawnProcs:
    """Start this host's procs of one proc mesh.

    ``commands`` has one entry per slot (``None``: the host's default command), already
    resolved by the client (per-rank callback, then the mesh's bootstrap command).
    """

    proc_mesh_id: ProcMeshId
    host_mesh_id: HostMeshId
    host_rank: int
    num_per_host: int
    config: dict[str, Any] = attrs.field(validator=_snapshot)
    commands: list[BootstrapCommand | None]
    proc_bind: list[dict[str, str]] | None = None
    actor_token: str = attrs.field(default="", validator=_actor_token, repr=False)
    """The credential the procs accept on their actor endpoint (made by the client for this
    proc mesh; empty: the procs serve no actors)."""
    setup: bytes = attrs.field(default=b"", repr=False)
    """A pickled function each proc runs before it says hello (empty: none); hosts never
    unpickle it, they hand it to their procs (:class:`GetProcSetup`)."""
    region: str = ""
    """The proc mesh's region (text), for the procs' context during setup."""


@message
@attrs.frozen
class ProcUpdate:
    """A streamed status change of one proc during spawn."""

    create_rank: int
    status: Status
    address: ChannelAddr | None = None
    """Where the proc serves actors (sent with Running)."""


@message
@attrs.frozen
class ProcStates:
    """The states of a host's procs of one proc mesh."""

    states: list[ProcState]


@message
@attrs.frozen
class GetProcStates:
    """Ask for the states of one proc mesh's procs on a host; optionally extend keepalive."""

    proc_mesh_id: ProcMeshId
    keepalive: float | None = None


@message
@attrs.frozen
class WatchProcs:
    """Stream every status change of one proc mesh's procs on this host, its present states
    first, as :class:`ProcEvents` events, until the caller cancels (CANCEL) or leaves."""

    proc_mesh_id: ProcMeshId


@message
@attrs.frozen
class ProcChange:
    """One proc's status change (``old`` None: its state when the watch began)."""

    create_rank: int
    old: Status | None
    new: Status
    at: float
    exit_code: int | None = None
    signal: int | None = None
    stderr_tail: list[str] = attrs.field(factory=list)


@message
@attrs.frozen
class ProcEvents:
    """Status changes, in order; ``dropped`` changes before these were lost because the
    watcher fell behind (the host never waits for a watcher)."""

    changes: list[ProcChange]
    dropped: int = 0


@message
@attrs.frozen
class AwaitProcExit:
    """Answer (with the proc's state, :class:`ProcStates`) once one proc of a proc mesh has
    ended, or after ``timeout`` seconds: a client whose connection to the proc broke asks
    how it ended."""

    proc_mesh_id: ProcMeshId
    create_rank: int
    timeout: float


@message
@attrs.frozen
class DumpProcStacks:
    """Make one proc of a proc mesh dump its threads' stacks (SIGUSR1 to Python's
    faulthandler, which the proc registered at start) and answer with the stderr lines that
    appeared within ``wait`` seconds (reply :class:`ProcStackDump`): for a proc whose event
    loop does not answer (ST-3)."""

    proc_mesh_id: ProcMeshId
    create_rank: int
    wait: float


@message
@attrs.frozen
class ProcStackDump:
    """What a host got from one proc for :class:`DumpProcStacks`: the proc's pid, the stderr
    lines the dump wrote, ``py-spy dump`` output (empty when py-spy is not installed or
    failed) and notes saying what was not done and why."""

    pid: int | None
    lines: list[str]
    py_spy: str
    notes: list[str]


@message
@attrs.frozen
class ListProcs:
    """Ask a host for every proc it runs (reply :class:`ProcList`): what a client that holds
    the client token but did not spawn them needs to reach them (``meshtrio stacks``)."""


@message
@attrs.frozen
class ProcListing:
    """One running proc, as :class:`ListProcs` lists it."""

    proc_mesh_id: ProcMeshId
    create_rank: int
    proc_id: ProcId
    address: ChannelAddr | None
    region: str
    actor_token: str = attrs.field(repr=False)  # a secret: never shown


@message
@attrs.frozen
class ProcList:
    """The procs a host runs."""

    procs: list[ProcListing]


@message
@attrs.frozen
class ListProcStates:
    """Ask a host for the state of every proc it has a record of, running or ended, of any
    client (reply :class:`HostProcStates`): the mesh admin's view of a host in one request."""


@message
@attrs.frozen
class ProcRow:
    """One proc as :class:`ListProcStates` lists it: text and numbers to show (its status as
    text, the last lines of its stderr), lighter than a :class:`ProcState` to build, send and
    read for thousands of procs."""

    proc_id: str
    create_rank: int
    status: str
    pid: int | None
    address: str | None
    exit_code: int | None
    signal: int | None
    stderr_tail: list[str]


@message
@attrs.frozen
class HostProcStates:
    """Every proc record of a host, grouped by proc mesh (its id as text, so the ids are
    printed once per mesh, not once per proc)."""

    meshes: dict[str, list[ProcRow]]


@message
@attrs.frozen
class StopProcMesh:
    """Stop one proc mesh's procs on a host (the ladder, ``timeout`` per step)."""

    proc_mesh_id: ProcMeshId
    reason: str
    timeout: float
    concurrency: int


@message
@attrs.frozen
class GetProcMeshConfigs:
    """Ask each proc of a proc mesh on this host for its effective config (reply
    :class:`ProcMeshConfigs`)."""

    proc_mesh_id: ProcMeshId
    timeout: float


@message
@attrs.frozen
class ProcMeshConfigs:
    """Per create rank, a proc's effective config (empty when the proc did not answer)."""

    configs: dict[int, ConfigEntries]


@message
@attrs.frozen
class ProcHello:
    """A proc tells its host agent it is up (its readiness signal)."""

    proc_id: ProcId
    pid: int
    address: ChannelAddr | None = None
    """Where the proc serves actors (None: it serves none)."""


@message
@attrs.frozen
class GetProcSetup:
    """A proc asks its host for its setup function (reply :class:`ProcSetup`)."""


@message
@attrs.frozen
class ProcSetup:
    """A proc's setup function (pickled; empty: none) and its proc mesh's region (text)."""

    setup: bytes
    region: str


@message
@attrs.frozen
class AskProcToExit:
    """The host asks a proc to exit cleanly."""

    reason: str


@message
@attrs.frozen
class GetProcConfig:
    """The host asks a proc for its effective config (reply :class:`ProcConfig`)."""


@message
@attrs.frozen
class ProcConfig:
    """A proc's effective config, key to (value, source layer)."""

    config: ConfigEntries


def _log_stream(_obj: object, _attr: object, value: str) -> None:
    if value not in LOG_STREAMS:
        raise ValueError(f"stream must be one of {LOG_STREAMS}")


def _log_text(_obj: object, _attr: object, value: str) -> None:
    if len(value) > MAX_LOG_LINE_CHARS:
        raise ValueError(f"a log line has at most {MAX_LOG_LINE_CHARS} characters")


def _stream_id(_obj: object, _attr: object, value: str) -> None:
    if not 0 < len(value) <= MAX_STREAM_ID_CHARS:
        raise ValueError(f"a stream id has 1 to {MAX_STREAM_ID_CHARS} characters")


def _batch(_obj: object, _attr: object, value: list[Any]) -> None:
    if len(value) > MAX_LOG_BATCH:
        raise ValueError(f"a log batch has at most {MAX_LOG_BATCH} lines")


def _drops(_obj: object, _attr: object, value: dict[int, int]) -> None:
    if len(value) > MAX_LOG_BATCH or any(n < 1 for n in value.values()):
        raise ValueError(f"at most {MAX_LOG_BATCH} drop counts, each at least 1")


@message
@attrs.frozen
class StreamProcLogs:
    """Subscribe to the stdout and stderr lines of one proc mesh's procs on a host, from now
    on (nothing earlier is replayed). Answered with :class:`ProcLogBatch` events; the reply
    (:class:`Ack`) comes once every proc of the mesh on the host is gone (or at once when the
    host has none), or after a :class:`StopProcLogs` for ``stream_id``."""

    proc_mesh_id: ProcMeshId
    stream_id: str = attrs.field(validator=_stream_id)
    """Chosen by the client (random), for :class:`StopProcLogs`."""


@message
@attrs.frozen
class StopProcLogs:
    """End the log stream ``stream_id`` (its request is answered; a no-op if unknown)."""

    stream_id: str = attrs.field(validator=_stream_id)


def _count(_obj: object, _attr: object, value: int) -> None:
    if value < 0:
        raise ValueError("a drop count is at least 0")


@message
@attrs.frozen
class ProcLogLine:
    """One line a proc wrote (``time``: when its host read it, ``time.time()``);
    ``dropped``: how many lines of this rank were dropped just before it."""

    create_rank: int
    stream: str = attrs.field(validator=_log_stream)
    line: str = attrs.field(validator=_log_text)
    time: float
    dropped: int = attrs.field(default=0, validator=_count)


@message
@attrs.frozen
class ProcLogBatch:
    """Lines of a log stream, in order per proc. A line's own ``dropped`` counts the lines of
    its rank dropped (over the rate limit or the subscriber's buffer) just before it; the
    batch's ``dropped`` counts, per create rank, lines dropped after every line sent so far
    (sent when nothing else is waiting)."""

    lines: list[ProcLogLine] = attrs.field(validator=_batch)
    dropped: dict[int, int] = attrs.field(factory=dict, validator=_drops)
