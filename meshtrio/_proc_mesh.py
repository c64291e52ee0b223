"""Proc meshes: spawn with a status fence, states, config dumps, stop.

:func:`spawn_proc_mesh` (``HostMesh.spawn``) checks everything up front, sends one
:class:`~meshtrio._messages.SpawnProcs` per host (each host starts its procs concurrently and
streams status changes back), and waits on a status fence over all ranks.

Invariants owned here:

* PM-1 (up-front checks): overlapping or empty labels, a ``proc_bind`` of the wrong length,
  zero procs,
  and a per-rank callback that raises or returns something else than a
  :class:`~meshtrio._bootstrap.BootstrapCommand` are :class:`SpawnConfigurationError`; nothing
  is sent to any host.
* PM-2 (status fence): spawn returns only when every rank is Running. The fence waits with an
  idle timeout (``proc_spawn_max_idle``, re-armed on every status update); when it expires,
  :class:`ProcSpawnError` carries one status per rank, ``Timeout`` for every rank that never
  reached Running. A rank that reports a terminating status ends the wait with
  :class:`ProcCreationError` (its state and host rank); a host that cannot be reached fails
  its ranks the same way.
* PM-3 (no leak on failure): when spawn fails or is cancelled, every host is asked (shielded)
  to stop the procs of that proc mesh before the error is raised; the client waits for each
  host while it reports the procs it stopped, and gives up on a host that stays quiet for
  ``stop_bound(mesh_terminate_timeout, slack=PROC_MESH_STOP_SLACK)`` seconds
  (:func:`~meshtrio._contract.stop_bound`: one proc's ladder plus
  :data:`~meshtrio._contract.PROC_MESH_STOP_SLACK`). A host that received the request
  stops them even if the client stopped waiting; a host that cannot be reached keeps them
  until it is drained or shut down with its mesh.
* LG-6 (client logs): :meth:`ProcMesh.logs` yields each proc's lines in the order its host
  sent them (per proc: the order written on each stream, LG-1), every host's stream merged
  as batches arrive; it holds at most :data:`CLIENT_LOG_MAX_LINES` lines, and a consumer
  slower than the hosts gets drop notices (``LogLine.dropped``, in place, LG-4) for lines
  its buffer could not hold, never unbounded memory. It ends when every host's stream ended
  (the procs are gone there, LG-5, or the host could not be reached or its connection
  broke: that host's lines then stop, without an error); leaving it early (``aclose``) asks
  each host still streaming to stop (:class:`~meshtrio._messages.StopProcLogs`, bounded).
  Not promised: lines written before the call (not replayed; failure messages still carry
  the stderr tail), lines of in-process procs (they have no stdio), any order between
  procs or between one proc's stdout and stderr.
* PM-4 (rank layout): the proc region is the host extent followed by ``per_host``, row-major;
  ``create_rank = H * host_rank + slot`` with ``H = per_host.num_ranks``; proc ids derive from
  (proc mesh id, rank) by :func:`meshtrio._ids.proc_id`, so client and hosts agree.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import sys
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, Literal, Protocol, TextIO, TypeVar

import attrs
import trio

from meshtrio import _config as config
from meshtrio._actor_mesh import ActorMesh, ProcTarget, spawn_actor_mesh
from meshtrio._addr import ChannelAddr
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._contract import PROC_MESH_STOP_SLACK, check_proc_bind, stop_bound
from meshtrio._errors import (
    InputError,
    MeshError,
    ProcCreationError,
    ProcMeshStopError,
    ProcSpawnError,
    RequestTimeoutError,
    SpawnConfigurationError,
)
from meshtrio._host.logs import LineBuffer
from meshtrio._host_ref import HostMeshRef
from meshtrio._ids import Label, ProcMeshId, proc_id
from meshtrio._messages import (
    GetProcMeshConfigs,
    GetProcStates,
    ProcLogBatch,
    ProcLogLine,
    ProcMeshConfigs,
    ProcStates,
    ProcUpdate,
    SpawnProcs,
    StopProcLogs,
    StopProcMesh,
    StreamProcLogs,
)
from meshtrio._payload import dump_setup
from meshtrio._pool import Outcome
from meshtrio._records import LogLine
from meshtrio._slicing import Extent, Region, ValueMesh
from meshtrio._stack_records import ProcStacks
from meshtrio._stacks import STACKS_DIRECT_TIMEOUT, gather_stacks
from meshtrio._status import ProcState, Status
from meshtrio._supervision import ProcEvent, Supervisor, watch_events
from meshtrio._transport.handshake import new_token
from meshtrio._transport.rpc import Peer, PendingCall
from meshtrio._wire import Envelope, EnvelopeKind

__all__ = ["CLIENT_LOG_MAX_LINES", "HostLink", "ProcMesh", "ProcRef", "spawn_proc_mesh"]

CLIENT_LOG_MAX_LINES = 16384
"""The most log lines :meth:`ProcMesh.logs` holds for a slow consumer (LG-6)."""

LOG_STOP_TIMEOUT = 2.0
"""How long leaving :meth:`ProcMesh.logs` early waits for hosts to end their streams."""

log_procs = logging.getLogger("meshtrio.procs")
"""Where :meth:`ProcMesh.forward_logs` logs procs' lines (``how="logging"``)."""

A = TypeVar("A")


class HostLink(Protocol):
    """All a proc mesh knows of the host mesh (or slice) it was spawned on.

    :class:`~meshtrio.HostMesh` hands one to each proc mesh it spawns, over its own
    connections; a proc mesh never reaches into the host mesh (this module does not import
    it).
    """

    @property
    def ref(self) -> HostMeshRef:
        """The host mesh's id, region, hosts and bootstrap command."""
        ...

    @property
    def addrs(self) -> tuple[ChannelAddr, ...]:
        """The hosts' addresses, in rank order."""
        ...

    def check_live(self, what: str) -> None:
        """Raise MeshClosedError (saying it could not ``what``) if the mesh was shut down."""
        ...

    async def call(
        self,
        addr: ChannelAddr,
        body: Any,
        *,
        timeout: float,
        idle: bool = False,
        on_event: Callable[[Any], None] | None = None,
    ) -> Any:
        """One request to one host (:meth:`~meshtrio._pool.ConnectionPool.call`)."""
        ...

    async def fan_out(
        self, fn: Callable[[ChannelAddr], Awaitable[Any]], *, timeout: float = math.inf
    ) -> list[Outcome]:
        """``fn(addr)`` for every host at once (:func:`~meshtrio._pool.fan_out`)."""
        ...

    async def peer(self, addr: ChannelAddr, token: str) -> Peer:
        """The mesh's connection to a proc's actor endpoint, presenting ``token``."""
        ...

    async def host_peer(self, addr: ChannelAddr) -> Peer:
        """The mesh's connection to the host at ``addr``."""
        ...

    def fail(self, failure: MeshError) -> None:
        """Report a failure nobody awaits to the owning block (SV-2, SV-3)."""
        ...

    async def send_request(
        self, addr: ChannelAddr, body: Any, watcher: Callable[[Any], None]
    ) -> PendingCall:
        """Send one request to one host and return at once (:meth:`Peer.send_request`)."""
        ...


@attrs.frozen
class ProcRef:
    """Where one proc of a proc mesh lives.

    Attributes:
        proc_id: the proc's id (text).
        create_rank: its rank in the proc mesh.
        host_rank: the (dense) rank of its host in the host mesh it was spawned on.
        host: its host's address.
        address: where the proc serves actors (None until it is Running).
    """

    proc_id: str
    create_rank: int
    host_rank: int
    host: ChannelAddr
    address: ChannelAddr | None = None


def _as_extent(per_host: Extent | Mapping[str, int]) -> Extent:
    if isinstance(per_host, Extent):
        return per_host
    if isinstance(per_host, Mapping):
        try:
            return Extent.from_pairs(list(per_host.items()))
        except InputError as exc:
            raise SpawnConfigurationError(f"bad per_host {dict(per_host)!r}: {exc}") from exc
    raise SpawnConfigurationError(
        f"per_host must be an Extent or a mapping of label to size, not {type(per_host).__name__}"
    )


def _check_spawn(
    ref: HostMeshRef,
    per_host: Extent,
    proc_bind: Sequence[Mapping[str, str]] | None,
    per_rank_bootstrap: Callable[[Any], BootstrapCommand] | None,
) -> tuple[Extent, list[BootstrapCommand | None], list[dict[str, str]] | None]:
    """PM-1: every check before anything is sent. Returns (extent, commands, binds)."""
    if "" in per_host.labels:
        raise SpawnConfigurationError(
            f"per_host {per_host}: a dimension needs a non-empty label (e.g. {{'gpus': 2}})"
        )
    overlap = [label for label in per_host.labels if label in ref.region.labels]
    if overlap:
        raise SpawnConfigurationError(
            f"per_host labels {overlap} overlap with host labels {list(ref.region.labels)}"
        )
    extent = ref.region.extent.concat(per_host)
    if extent.num_ranks == 0:
        raise SpawnConfigurationError(
            f"spawning zero procs: {len(ref)} host(s) x per_host {per_host}"
        )
    binds: list[dict[str, str]] | None = None
    if proc_bind is not None:
        if isinstance(proc_bind, str | bytes | Mapping) or not isinstance(proc_bind, Sequence):
            raise SpawnConfigurationError(
                f"proc_bind must be a sequence of mappings, got {type(proc_bind).__name__}"
            )
        for slot, bind in enumerate(proc_bind):
            if not isinstance(bind, Mapping):
                raise SpawnConfigurationError(
                    f"proc_bind[{slot}] must be a mapping, got {type(bind).__name__}"
                )
        binds = [dict(b) for b in proc_bind]
        for bind in binds:
            check_proc_bind(bind)
        if len(binds) != per_host.num_ranks:
            raise SpawnConfigurationError(
                f"proc_bind has {len(binds)} entries but per_host {per_host} has "
                f"{per_host.num_ranks} ranks"
            )
    commands: list[BootstrapCommand | None] = []
    default = ref.bootstrap_command
    for rank in range(extent.num_ranks):
        cmd: Any = default
        if per_rank_bootstrap is not None:
            point = extent.point_of_rank(rank)
            try:
                cmd = per_rank_bootstrap(point)
            except Exception as exc:
                raise SpawnConfigurationError(
                    f"per-rank bootstrap callable raised for rank {rank} ({point}): {exc!r}"
                ) from exc
            if not isinstance(cmd, BootstrapCommand):
                raise SpawnConfigurationError(
                    f"per-rank bootstrap callable returned {type(cmd).__name__} for rank "
                    f"{rank}, not a BootstrapCommand"
                )
        commands.append(cmd)
    return extent, commands, binds


async def spawn_proc_mesh(
    host_mesh: Any,
    link: HostLink,
    name: str,
    per_host: Extent | Mapping[str, int],
    *,
    proc_bind: Sequence[Mapping[str, str]] | None = None,
    per_rank_bootstrap: Callable[[Any], BootstrapCommand] | None = None,
    setup: Callable[[], Any] | None = None,
) -> ProcMesh:
    """Spawn ``per_host`` procs on every host of ``host_mesh`` (PM-1..PM-4).

    The algorithm:

    1. Check every argument and lay the ranks out (PM-1, PM-4); a bad one raises before
       anything is sent. The config snapshot the procs install is taken here.
    2. Send one :class:`~meshtrio._messages.SpawnProcs` per host, all at once. Each host starts
       its procs concurrently (at most ``mesh_spawn_concurrency`` at once, each bounded by
       ``host_spawn_ready_timeout`` on the host) and streams status changes back, which move
       its ranks on the fence; a host that cannot be reached fails its ranks.
    3. Wait on the status fence (PM-2) until every rank is Running (return the mesh), a rank
       reports a terminating status (:class:`ProcCreationError`, with its host's record of
       it), or no status moves for ``proc_spawn_max_idle`` (:class:`ProcSpawnError`).
    4. On any failure, and on cancellation, ask every host, shielded and bounded, to stop
       this proc mesh's procs (PM-3), then raise.

    It does not retry a host or a proc, keep the ranks that did start when others failed (a
    proc mesh is all or nothing), push config to the hosts (the snapshot travels with the
    request), or wait for anything after Running.

    Args:
        host_mesh: where to spawn (any slice of a mesh works); kept as
            :attr:`ProcMesh.host_mesh`, never called.
        link: the host mesh's :class:`HostLink`: everything is sent through it.
        name: the proc mesh's label (sanitised with ``Label.sanitize``).
        per_host: the per-host extent, e.g. ``{"gpus": 4}`` (labels must not overlap the
            host mesh's).
        proc_bind: one CPU/NUMA binding per per-host slot (keys ``cpus``, ``cpunodebind``,
            ``membind``, ``physcpubind``), the same on every host.
        per_rank_bootstrap: called with each rank's :class:`~meshtrio._slicing.Point` (over
            the proc mesh's extent); returns the :class:`BootstrapCommand` for that proc.
            Without it every proc runs the host mesh's ``bootstrap_command``, or the host's
            default when that is None.
        setup: a function (sync or async, no arguments) each proc runs before it reports
            Running, with :func:`meshtrio.context` giving its rank and point (PR-4); pickled
            with cloudpickle up front. If it raises, the spawn fails with a
            :class:`ProcCreationError` whose state's ``stderr_tail`` holds its traceback.

    Returns:
        The proc mesh, once every rank is Running.

    Raises:
        SpawnConfigurationError: an up-front check failed; nothing was started (PM-1).
        PayloadError: ``setup`` cannot be pickled, or is too large; nothing was started.
        InputError: ``name`` is not a str; nothing was started.
        ProcCreationError: a proc reported a terminating status, or its host could not be
            reached or answered with an error, before the mesh was up.
        ProcSpawnError: the status fence's idle timeout expired (PM-2).
    """
    # 1. Up-front checks and the rank layout: nothing is sent before this is done.
    per = _as_extent(per_host)
    extent, commands, binds = _check_spawn(link.ref, per, proc_bind, per_rank_bootstrap)
    h = per.num_ranks
    mesh_id = ProcMeshId.instance(Label.sanitize(name))
    addrs = link.addrs
    procs = tuple(
        ProcRef(str(proc_id(mesh_id, rank)), rank, rank // h, addrs[rank // h])
        for rank in range(extent.num_ranks)
    )
    setup_payload = _setup_payload(setup, link.addrs)
    actor_token = new_token()  # this proc mesh's actor endpoints accept it, and only it
    mesh = ProcMesh(mesh_id, extent.region(), host_mesh, procs, h, link, actor_token)
    snapshot = config.propagatable()
    region_text = str(mesh.region)
    idle = config.get(config.PROC_SPAWN_MAX_IDLE)
    fence = _Fence(extent.num_ranks)

    # 2. One SpawnProcs per host; its stream and reply move the host's ranks on the fence.
    async def one_host(host_rank: int) -> None:
        msg = SpawnProcs(
            proc_mesh_id=mesh_id,
            host_mesh_id=link.ref.id,
            host_rank=host_rank,
            num_per_host=h,
            config=snapshot,
            commands=commands[host_rank * h : (host_rank + 1) * h],
            proc_bind=binds,
            actor_token=actor_token,
            setup=setup_payload,
            region=region_text,
        )
        try:
            # No deadline of its own: the fence below bounds the whole wait (PM-2).
            reply = await link.call(
                addrs[host_rank], msg, timeout=math.inf, on_event=fence.on_event
            )
        except MeshError as exc:
            ranks = range(host_rank * h, (host_rank + 1) * h)
            fence.fail(ranks, Status.failed(f"host {addrs[host_rank]} failed: {exc}"))
            return
        fence.on_reply(reply)

    started = trio.current_time()
    failure: MeshError | None = None
    try:
        async with trio.open_nursery() as nursery:
            for host_rank in range(len(addrs)):
                nursery.start_soon(one_host, host_rank)
            # 3. The status fence.
            failure = await _wait_fence(mesh, fence, idle, started)
            nursery.cancel_scope.cancel()
    finally:
        # 4. Nothing started by a spawn that failed or was cancelled is left running (PM-3).
        if failure is not None or not fence.all_running:
            with trio.CancelScope(shield=True):
                await _cleanup(mesh)
    if failure is not None:
        raise failure
    mesh.procs = tuple(
        attrs.evolve(ref, address=_reachable(fence.addresses.get(ref.create_rank), ref.host))
        for ref in mesh.procs
    )
    return mesh


def _reachable(address: ChannelAddr | None, host: ChannelAddr) -> ChannelAddr | None:
    """Where this client reaches a proc that reported ``address`` (PR-3: a wildcard proc
    address means "next to its host", which this client reached at ``host``)."""
    return None if address is None else address.reached_via(host)


def _setup_payload(setup: Callable[[], Any] | None, addrs: Sequence[ChannelAddr]) -> bytes:
    """``setup`` pickled for the procs (PM-1: checked before anything is sent); b"" for none.
    Local code goes by value unless every host is in this process (PL-3)."""
    if setup is None:
        return b""
    if not callable(setup):
        raise SpawnConfigurationError(f"setup must be callable, got {type(setup).__name__}")
    return dump_setup(
        setup,
        max_size=config.get(config.MAX_MESSAGE_SIZE),
        by_value=any(a.transport != "local" for a in addrs),
    )


class _Fence:
    """PM-2's status fence: one status per rank (and the full records hosts sent), moved by
    the hosts' status streams and replies; every move wakes the waiter."""

    def __init__(self, num_ranks: int) -> None:
        self.statuses: list[Status] = [Status.NOT_EXIST] * num_ranks
        self.states: dict[int, ProcState] = {}
        self.addresses: dict[int, ChannelAddr] = {}
        """Where each Running proc serves actors."""
        self.progress = trio.Event()
        """Set (and replaced) on every move."""

    @property
    def all_running(self) -> bool:
        return all(s.is_running for s in self.statuses)

    def _moved(self) -> None:
        self.progress.set()
        self.progress = trio.Event()

    def on_event(self, ev: Any) -> None:
        """A host's status stream."""
        if isinstance(ev, ProcUpdate) and 0 <= ev.create_rank < len(self.statuses):
            self.statuses[ev.create_rank] = ev.status
            if ev.address is not None:
                self.addresses[ev.create_rank] = ev.address
            self._moved()

    def on_reply(self, reply: Any) -> None:
        """A host's final reply (every proc Running or terminating)."""
        if isinstance(reply, ProcStates):
            self.add_records(reply)
        self._moved()

    def add_records(self, reply: ProcStates) -> None:
        for st in reply.states:
            if 0 <= st.create_rank < len(self.statuses):
                self.states[st.create_rank] = st
                self.statuses[st.create_rank] = st.status
                if st.address is not None and st.create_rank not in self.addresses:
                    self.addresses[st.create_rank] = ChannelAddr.parse(st.address)

    def fail(self, ranks: range, status: Status) -> None:
        """A host failed: its ranks not terminating already read ``status``."""
        for rank in ranks:
            if not self.statuses[rank].is_terminating:
                self.statuses[rank] = status
        self._moved()


async def _wait_fence(
    mesh: ProcMesh, fence: _Fence, idle: float, started: float
) -> MeshError | None:
    """Wait until every rank is Running (None), a rank is terminating (its
    ProcCreationError) or nothing moved for ``idle`` seconds (ProcSpawnError)."""
    link, h = mesh._link, mesh.per_host_ranks
    while True:
        if any(s.is_terminating for s in fence.statuses):
            seen = list(fence.statuses)  # the rank reported is the one fetched below
            bad = next(r for r, s in enumerate(seen) if s.is_terminating)
            if bad not in fence.states:  # ask its host for the full record (spec 8.3 step 4)
                with trio.move_on_after(idle):
                    try:
                        reply = await link.call(
                            link.addrs[bad // h], GetProcStates(mesh.id, None), timeout=idle
                        )
                    except MeshError:
                        reply = None
                    if isinstance(reply, ProcStates):
                        fence.states.update({st.create_rank: st for st in reply.states})
            return _creation_error(mesh, seen, fence.states)
        if fence.all_running:
            return None
        event = fence.progress
        with trio.move_on_after(idle) as scope:
            await event.wait()
        if scope.cancelled_caught:
            return _spawn_timeout(mesh, fence.statuses, trio.current_time() - started)


def _creation_error(
    mesh: ProcMesh, statuses: Sequence[Status], states: Mapping[int, ProcState]
) -> ProcCreationError:
    rank = next(r for r, s in enumerate(statuses) if s.is_terminating)
    ref = mesh.procs[rank]
    state = states.get(rank) or ProcState(
        status=statuses[rank],
        proc_id=ref.proc_id,
        create_rank=rank,
        host_rank=ref.host_rank,
        host=str(ref.host),
        pid=None,
        started_at=None,
        updated_at=time.time(),
    )
    h = mesh.per_host_ranks
    host_ranks = list(range(ref.host_rank * h, (ref.host_rank + 1) * h))
    return ProcCreationError(
        f"error creating proc {ref.proc_id} (rank {rank}; host rank {ref.host_rank} at "
        f"{ref.host}, whose ranks are {host_ranks}): {statuses[rank]}",
        state=state,
        host_rank=ref.host_rank,
    )


def _spawn_timeout(mesh: ProcMesh, statuses: Sequence[Status], elapsed: float) -> ProcSpawnError:
    final = [s if (s.is_running or s.is_terminating) else Status.timeout(elapsed) for s in statuses]
    runs = _runs(final)
    return ProcSpawnError(
        f"error spawning proc mesh {mesh.id}: no progress within proc_spawn_max_idle; "
        f"statuses: {runs}",
        statuses=final,
    )


def _runs(statuses: Sequence[Status]) -> str:
    """``Status=a..b;Status=c..d`` (ranks grouped into runs), for short messages."""
    out: list[str] = []
    start = 0
    for i in range(1, len(statuses) + 1):
        if i == len(statuses) or str(statuses[i]) != str(statuses[start]):
            out.append(f"{statuses[start]}={start}..{i}")
            start = i
    return ";".join(out)


async def _cleanup(mesh: ProcMesh) -> None:
    """PM-3: stop what a failed spawn started, on every reachable host.

    Idle-bounded like :meth:`ProcMesh.stop`: each host reports every proc it stopped, and
    may stay quiet at most one proc's ladder plus a slack (:func:`~meshtrio._contract.stop_bound`).
    """
    grace = config.get(config.MESH_TERMINATE_TIMEOUT)
    conc = config.get(config.MESH_TERMINATE_CONCURRENCY)
    idle = stop_bound(grace, slack=PROC_MESH_STOP_SLACK)
    link = mesh._link
    request = StopProcMesh(mesh.id, "spawn failed", grace, conc)

    async def stop(addr: ChannelAddr) -> Any:
        return await link.call(addr, request, timeout=idle, idle=True)

    await link.fan_out(stop)


class ProcMesh:
    """A mesh of procs spawned on a host mesh (see :func:`spawn_proc_mesh`).

    Its async methods raise :class:`~meshtrio.errors.MeshClosedError` once the host mesh
    was shut down. Cancelling one abandons its requests: nothing is left behind on the
    client, and what a host already received it carries out (see each method).

    Attributes:
        id: the proc mesh id.
        region: the proc region (host extent followed by the per-host extent).
        host_mesh: the host mesh (slice) it was spawned on (a :class:`~meshtrio.HostMesh`).
        procs: one :class:`ProcRef` per rank, in create-rank order.
    """

    def __init__(
        self,
        id: ProcMeshId,
        region: Region,
        host_mesh: Any,
        procs: tuple[ProcRef, ...],
        per_host_ranks: int,
        link: HostLink,
        actor_token: str = "",
    ) -> None:
        self.id = id
        self.region = region
        self.host_mesh = host_mesh  # handed back to the user; requests go through ``link``
        self.procs = procs
        self.per_host_ranks = per_host_ranks
        self._link = link
        self._actor_token = actor_token
        self._supervisor: Supervisor | None = None  # set by HostMesh.spawn (SV-2)
        self._report: Callable[[MeshError], None] | None = None  # where failures go
        self._actor_meshes: list[weakref.ref[ActorMesh[Any]]] = []

    def _calls_waiting_on(self, rank: int) -> bool:
        """Whether a call from this process waits on an actor of proc ``rank`` (SV-2)."""
        alive = []
        busy = False
        for ref in self._actor_meshes:
            mesh = ref()
            if mesh is not None:
                alive.append(ref)
                busy = busy or mesh._waiting_on(rank)
        self._actor_meshes = alive
        return busy

    def __len__(self) -> int:
        return len(self.procs)

    def __repr__(self) -> str:
        return f"<ProcMesh {self.id} {self.region}>"

    async def spawn(
        self, name: str, actor_class: type[A], /, *args: Any, **kwargs: Any
    ) -> ActorMesh[A]:
        """Spawn one ``actor_class`` per proc, constructed in each proc with ``*args`` and
        ``**kwargs``; return once every actor is constructed (AM-9).

        The arguments are pickled with cloudpickle once, checked before anything is sent
        (:class:`~meshtrio.errors.PayloadError`). Calls then go to each proc directly (AM-1);
        see :class:`~meshtrio.ActorMesh`.

        Args:
            name: the actor mesh's name (sanitised with ``Label.sanitize``).
            actor_class: a subclass of :class:`~meshtrio.Actor`.

        Raises:
            ActorError: an actor's ``__init__`` raised (the rank, the remote traceback); the
                actors already built were stopped.
            ActorDiedError: a proc is gone; the actors already built were stopped.
            PayloadError: the class or an argument cannot be pickled, or they are too large.
            InputError: ``actor_class`` is not an Actor subclass, or ``name`` not a str.
            MeshClosedError: the host mesh was shut down.
        """
        self._link.check_live(f"spawn actors on proc mesh {self.id}")
        targets = [
            ProcTarget(ref.create_rank, ref.proc_id, ref.address, ref.host) for ref in self.procs
        ]
        actors = await spawn_actor_mesh(
            link=self._link,
            proc_mesh_id=self.id,
            region=self.region,
            targets=targets,
            token=self._actor_token,
            name=name,
            actor_class=actor_class,
            args=args,
            kwargs=kwargs,
            report=self._report,
        )
        self._actor_meshes.append(weakref.ref(actors))
        return actors

    async def _per_host(
        self, body: Callable[[ChannelAddr], Any], timeout: float, *, idle: bool = False
    ) -> list[Any]:
        # After shutdown every host would read as unreachable (Timeout); say what happened.
        link = self._link
        link.check_live(f"query proc mesh {self.id}")
        results = await link.fan_out(
            lambda a: link.call(a, body(a), timeout=timeout, idle=idle),
            timeout=math.inf if idle else timeout,
        )
        return [r.value if r.ok else r.error for r in results]

    def _states_mesh(
        self, replies: list[Any], missing: Status, *, say_why: bool = False
    ) -> ValueMesh[ProcState]:
        """Merge per-host replies; a rank reads ``missing`` when its host did not answer, and
        NotExist when the host answered without a record of it. With ``say_why``, a rank
        whose host could not be asked for another reason than a timeout (refused, connection
        lost, an error reply) reads ``Unknown`` with that reason as its ``error``."""
        by_rank: dict[int, ProcState] = {}
        for reply in replies:
            if isinstance(reply, ProcStates):
                for st in reply.states:
                    by_rank[st.create_rank] = st
        now = time.time()
        values = []
        for ref in self.procs:
            state = by_rank.get(ref.create_rank)
            if state is None:
                reply = replies[ref.host_rank]
                status, error = missing, None
                if isinstance(reply, ProcStates):
                    status = Status.NOT_EXIST
                elif (
                    say_why
                    and isinstance(reply, MeshError)
                    and not isinstance(reply, RequestTimeoutError)
                ):
                    status, error = Status.UNKNOWN, f"{type(reply).__name__}: {reply}"
                state = ProcState(
                    status=status,
                    proc_id=ref.proc_id,
                    create_rank=ref.create_rank,
                    host_rank=ref.host_rank,
                    host=str(ref.host),
                    pid=None,
                    started_at=None,
                    updated_at=now,
                    error=error,
                )
            values.append(state)
        return ValueMesh(self.region, values)

    async def states(self, *, keepalive: float | bool | None = None) -> ValueMesh[ProcState]:
        """Every proc's state (status, proc id, create rank, pid, timestamps, exit details).

        Each host is bounded by ``get_proc_state_max_idle`` (a total bound, connect
        included). A rank whose host does not answer in time reads ``Timeout``; one whose
        host could not be asked (it refused the connection, the connection was lost, it
        answered with an error) reads ``Unknown``, with what happened in ``error``; a rank
        its host has no record of reads ``NotExist``. Cancelling it
        abandons the requests; a keepalive a host already received stays set.

        Args:
            keepalive: seconds, or True for ``mesh_orphan_timeout`` (None there: no
                keepalive); each host that receives it stops (reason ``orphaned``, with a
                ``process_exit_timeout`` grace) the procs of this mesh whose keepalive then
                expires without being renewed by another call. None or False: unchanged.

        Returns:
            One state per rank, over :attr:`region`.

        Raises:
            InputError: ``keepalive`` is not None or finite seconds >= 0.
            MeshClosedError: the host mesh was shut down.
        """
        if keepalive is True:
            keepalive = config.get(config.MESH_ORPHAN_TIMEOUT)
        elif keepalive is False:
            keepalive = None
        if keepalive is not None and (
            not isinstance(keepalive, int | float) or not 0 <= keepalive < math.inf
        ):
            raise InputError(f"keepalive must be None or finite seconds >= 0, got {keepalive!r}")
        timeout = config.get(config.GET_PROC_STATE_MAX_IDLE)
        replies = await self._per_host(lambda _a: GetProcStates(self.id, keepalive), timeout)
        return self._states_mesh(replies, Status.timeout(timeout), say_why=True)

    async def stop(self, reason: str = "stopped by client") -> ValueMesh[ProcState]:
        """Stop every proc (the ladder on each host); return the final states.

        Each host stops its procs of this mesh with the stop ladder (grace
        ``mesh_terminate_timeout`` per step, at most ``mesh_terminate_concurrency`` at once)
        and reports each one as it goes; the client waits for each host with an idle timeout
        of ``max(proc_stop_max_idle, stop_bound(mesh_terminate_timeout,
        slack=PROC_MESH_STOP_SLACK))`` (:func:`~meshtrio._contract.stop_bound`). Cancelling it
        abandons the requests; procs a host was already asked to stop still go through
        their ladder.

        Args:
            reason: why the procs are stopped (passed to each proc).

        Returns:
            One final state per rank, over :attr:`region`.

        Raises:
            ProcMeshStopError: some host did not answer (its ranks read ``Timeout``; the
                message names the host), or some rank is not terminated (``statuses`` has
                one per rank).
            MeshClosedError: the host mesh was shut down.
        """
        if self._supervisor is not None:
            self._supervisor.quiet()  # procs we stop are no failures (SV-2)
        grace = config.get(config.MESH_TERMINATE_TIMEOUT)
        conc = config.get(config.MESH_TERMINATE_CONCURRENCY)
        idle = config.get(config.PROC_STOP_MAX_IDLE)
        # Idle-bounded: each host reports every proc it stopped (PM-3's ladder per proc).
        timeout = max(idle, stop_bound(grace, slack=PROC_MESH_STOP_SLACK))
        replies = await self._per_host(
            lambda _a: StopProcMesh(self.id, reason, grace, conc), timeout, idle=True
        )
        if self._supervisor is not None:  # nothing left to watch: the hosts may forget us
            await self._supervisor.stop()
        result = self._states_mesh(replies, Status.timeout(timeout))
        statuses = [st.status for st in result.values()]
        unreachable = [
            f"{addr}: {reply}"
            for addr, reply in zip(self._link.addrs, replies, strict=True)
            if isinstance(reply, MeshError)
        ]
        if unreachable or not all(s.is_terminated for s in statuses):
            hosts = "".join(f"\n  - {u}" for u in unreachable)
            raise ProcMeshStopError(
                f"proc mesh {self.id} did not fully stop: {_runs(statuses)}{hosts}",
                statuses=statuses,
            )
        return result

    async def watch(self) -> AsyncGenerator[ProcEvent, None]:
        """Every status change of these procs as their hosts see them, pushed, never polled:
        first each proc's present state (``old`` None), then each change, in order per proc
        (SV-1). A consumer that falls far behind loses the oldest events, and the next event
        says how many (``dropped``); a host that cannot be reached any more ends its procs'
        events with one ``Unknown`` each, and the iterator ends once every host's has.

        Leave early with ``async with contextlib.aclosing(procs.watch()) as events:``, so the
        hosts stop streaming at once.

        Raises:
            MeshClosedError: the host mesh was shut down.
            TransportError: a host could not be reached to start watching.
        """
        self._link.check_live(f"watch proc mesh {self.id}")
        async with aclosing(watch_events(self._link, self)) as events:
            async for event in events:
                yield event

    async def stacks(self, *, timeout: float = STACKS_DIRECT_TIMEOUT) -> ValueMesh[ProcStacks]:
        """Where every proc is: each thread's Python stack and the Trio task tree, collected
        inside the proc (no ptrace), for diagnosing a hang.

        Each proc is asked directly and answers at once, whatever its actors are doing
        (ST-1). A proc whose event loop does not answer within ``timeout`` (a sync endpoint
        in ``time.sleep``, a long C call) is made to dump its threads by its host through
        Python's faulthandler (ST-2, ST-3); its record's ``source`` is ``faulthandler`` and
        its ``raw`` text holds the dump. A rank that gives nothing gets a record with an
        ``error`` (ST-4); ``str(record)`` reads well.

        Args:
            timeout: seconds each proc has to answer itself.

        Returns:
            One :class:`~meshtrio.ProcStacks` per rank, over :attr:`region`.

        Raises:
            InputError: ``timeout`` is not finite seconds > 0.
            MeshClosedError: the host mesh was shut down.
        """
        link = self._link
        link.check_live(f"get the stacks of proc mesh {self.id}")
        procs = {ref.create_rank: ref for ref in self.procs}

        async def connect(rank: int) -> Peer:
            address = procs[rank].address
            if address is None:
                raise MeshError(f"proc {procs[rank].proc_id} serves no actor endpoint")
            return await link.peer(address, self._actor_token)

        return await gather_stacks(
            region=self.region,
            full=self.region,
            targets=procs,
            proc_mesh_id=self.id,
            connect=connect,
            hosts=link,
            timeout=timeout,
        )

    async def config_dump(self) -> ValueMesh[dict[str, tuple[Any, str]]]:
        """Each proc's effective config: key to (value, source layer).

        Each host asks its procs concurrently; both the host's wait for each proc and the
        client's wait for each host are bounded by ``request_timeout``. A rank whose proc
        did not answer, or whose host did not answer in time, gets an empty mapping.
        Cancelling it abandons the requests; nothing is left behind.

        Raises:
            MeshClosedError: the host mesh was shut down.
        """
        timeout = config.get(config.REQUEST_TIMEOUT)
        # Hosts get less time per proc than we give each host, so one hung proc costs only
        # its own entry, not its whole host's answer.
        per_proc = 0.8 * timeout
        replies = await self._per_host(lambda _a: GetProcMeshConfigs(self.id, per_proc), timeout)
        merged: dict[int, dict[str, tuple[Any, str]]] = {}
        for reply in replies:
            if isinstance(reply, ProcMeshConfigs):
                merged.update({int(k): dict(v) for k, v in reply.configs.items()})
        return ValueMesh(self.region, [merged.get(ref.create_rank, {}) for ref in self.procs])

    async def logs(self, *, ready: trio.Event | None = None) -> AsyncGenerator[LogLine, None]:
        """Every proc's stdout and stderr lines from now on, as :class:`~meshtrio.LogLine`
        records, every host's stream merged (LG-6); drop notices (``dropped > 0``) say how
        many lines of a rank were lost, where (over ``proc_log_rate`` on the host, LG-3, or
        a full buffer, LG-2).

        Iterate inside ``async with contextlib.aclosing(procs.logs()) as lines:`` so that
        leaving the loop early ends the hosts' streams at once (otherwise that waits for the
        generator to be collected, and trio warns about it, as for any async generator).
        The iteration ends by itself once every proc is gone (stopped, failed, or its host
        shut down). Lines written before the call are not replayed (a failed proc's stderr
        tail is still in its state and in spawn errors); procs that run as tasks in their
        host (``in_process_procs``) have no stdio and yield nothing.

        Args:
            ready: set once every host subscribed (or its stream ended): every line a proc
                writes after that is yielded or counted in a drop notice.

        Raises:
            MeshClosedError: the host mesh was shut down.
        """
        link = self._link
        link.check_live(f"read the logs of proc mesh {self.id}")
        stream_id = secrets.token_hex(8)
        buffer = LineBuffer(CLIENT_LOG_MAX_LINES)
        calls: dict[ChannelAddr, PendingCall] = {}
        extent = self.region.extent
        left = [len(link.addrs)]
        waiting = set(link.addrs)

        def subscribed(addr: ChannelAddr) -> None:
            waiting.discard(addr)
            if not waiting and ready is not None:
                ready.set()

        def watcher(addr: ChannelAddr, item: Any) -> None:
            subscribed(addr)
            if isinstance(item, Envelope) and item.kind is EnvelopeKind.EVENT:
                if isinstance(item.body, ProcLogBatch):
                    for line in item.body.lines:
                        buffer.offer(line, line.create_rank)
                    for rank, count in item.body.dropped.items():
                        buffer.offer(None, rank, count)
                return
            left[0] -= 1  # the stream's end (a reply, an error, or a broken connection)
            buffer.poke()

        def record(line: ProcLogLine) -> LogLine:
            if not 0 <= line.create_rank < len(self.procs):
                raise MeshError(f"a host sent a log line for unknown rank {line.create_rank}")
            point = extent.point_of_rank(line.create_rank)
            return LogLine(line.create_rank, point, line.stream, line.line, line.time)

        try:
            for addr in link.addrs:
                try:
                    calls[addr] = await link.send_request(
                        addr,
                        StreamProcLogs(self.id, stream_id),
                        functools.partial(watcher, addr),
                    )
                except MeshError:
                    left[0] -= 1  # unreachable: no lines from there (LG-6)
                    subscribed(addr)
            while True:
                batch = buffer.take_batch()
                if batch is not None:
                    for line in batch.lines:
                        rec = record(line)
                        if line.dropped:
                            yield attrs.evolve(rec, stream="", line="", dropped=line.dropped)
                        yield rec
                    for rank, count in batch.dropped.items():
                        rec = record(ProcLogLine(rank, "stdout", "", time.time()))
                        yield attrs.evolve(rec, stream="", dropped=count)
                    continue
                if left[0] <= 0:
                    return
                await buffer.wait()
        finally:
            live = [call for call in calls.values() if not call.done]
            if live:
                with trio.CancelScope(shield=True), trio.move_on_after(LOG_STOP_TIMEOUT):
                    await link.fan_out(
                        lambda a: link.call(a, StopProcLogs(stream_id), timeout=LOG_STOP_TIMEOUT),
                        timeout=LOG_STOP_TIMEOUT,
                    )
                    for call in live:
                        await call.wait_final()
            for call in calls.values():
                call.forget()

    async def forward_logs(
        self,
        how: Literal["print", "logging"] = "print",
        *,
        logger: logging.Logger | None = None,
        file: TextIO | None = None,
        ready: trio.Event | None = None,
    ) -> None:
        """Pass every line of :meth:`logs` on until the procs are gone (run it in a task;
        :meth:`meshtrio.HostMesh.spawn` does, with its ``logs`` argument).

        Args:
            how: ``"print"``: each line, with a ``[rank 3 hosts=1/2,gpus=1/2] `` prefix
                (:meth:`LogLine.prefix`), to ``file``, or else stdout lines to
                ``sys.stdout`` and stderr lines and drop notices to ``sys.stderr``.
                ``"logging"``: each line to ``logger`` (default: the ``meshtrio.procs``
                logger), stdout lines at INFO and stderr lines and drop notices at WARNING,
                with ``extra={"rank": rank, "stream": stream}`` (``"dropped"`` for a notice).
            logger: the logger for ``how="logging"``.
            file: where ``how="print"`` prints.
            ready: set once every host subscribed (as for :meth:`logs`).

        Raises:
            InputError: ``how`` is neither ``"print"`` nor ``"logging"``.
            MeshClosedError: the host mesh was shut down.
        """
        if how not in ("print", "logging"):
            raise InputError(f"how must be 'print' or 'logging', got {how!r}")
        target = logger or log_procs
        async with aclosing(self.logs(ready=ready)) as lines:
            async for line in lines:
                if how == "logging":
                    level = logging.INFO if line.stream == "stdout" else logging.WARNING
                    stream = line.stream or "dropped"
                    text = line.line if not line.dropped else f"({line.dropped} line(s) dropped)"
                    target.log(
                        level,
                        "[rank %d %s] %s",
                        line.rank,
                        line.point,
                        text,
                        extra={"rank": line.rank, "stream": stream},
                    )
                else:
                    out = file or (sys.stdout if line.stream == "stdout" else sys.stderr)
                    print(str(line), file=out, flush=True)
