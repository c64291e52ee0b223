"""The messages clients, host agents and procs exchange (all registered wire messages).

Client to host agent: :class:`SetClientConfig`, :class:`GetInfo`, :class:`Drain`,
:class:`Shutdown`, :class:`SpawnProcs` (streams :class:`ProcUpdate` events),
:class:`GetProcStates` (reply :class:`ProcStates`), :class:`StopProcMesh`,
:class:`GetProcMeshConfigs` (reply :class:`ProcMeshConfigs`).
:class:`AwaitProcExit` (reply :class:`ProcStates`).
:class:`DumpProcStacks` (reply :class:`ProcStackDump`).
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
    "LifecycleEvent",
    "ProcConfig",
    "ProcHello",
    "ProcMeshConfigs",
    "ProcSetup",
    "ProcStackDump",
    "ProcStates",
    "ProcUpdate",
    "SetClientConfig",
    "Shutdown",
    "SpawnProcs",
    "StopProcMesh",
]

ConfigEntries = dict[str, tuple[Any, str]]
"""Effective config: key name to (value, source layer name)."""


MAX_TOKEN_CHARS = 256
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
    actor_token: str = attrs.field(default="", validator=_actor_token)
    """The credential the procs accept on their actor endpoint (made by the client for this
    proc mesh; empty: the procs serve no actors)."""
    setup: bytes = b""
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
