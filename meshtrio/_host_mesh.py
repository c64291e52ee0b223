"""Host meshes (client side): attach and config push, info, stop, and two-phase shutdown.

A :class:`HostMesh` is a :class:`~meshtrio._host_ref.HostMeshRef` plus live connections to its
hosts (a :class:`~meshtrio._pool.ConnectionPool` owned by the ``async with`` block that made
it). Slices (:meth:`HostMesh.range`, :meth:`HostMesh.sliced`) share those connections.

Host-mesh invariants (what callers may rely on; mechanisms and timeouts may change):

* HM-1 (attach-config-complete): when :func:`attach` (or :meth:`HostMesh.push_config`)
  returns, every host acknowledged that it installed the client's propagatable config as its
  ClientOverride layer.
* HM-2 (attach-fails-closed): if any host fails, attach raises and no mesh is returned; a mesh
  is never half configured.
* HM-3 (errors-stay-in-attach): a host that cannot be reached surfaces only as the raised
  :class:`~meshtrio.errors.ConfigPushError`; no exception escapes into another task or
  nursery, and a failing attach disturbs nothing else. (There is no rollback: hosts that did
  acknowledge keep the pushed config as their ClientOverride layer.)
* HM-4 (host-scoped-error-reporting): the error lists each failing host by address with its
  cause (refused, timeout, auth, connection lost, ...). Hosts are contacted concurrently, so an
  attach fails in about one ``mesh_attach_config_timeout``, however many hosts are bad.
* HM-5 (two-phase shutdown): :meth:`HostMesh.shutdown` starts phase 2 (shut every host down)
  only after phase 1 (drain every host) ended on all hosts; per-host outcomes are returned, and
  failures are raised as one :class:`~meshtrio.errors.ShutdownError` naming each host.
* HM-6 (attach does not own): leaving an :func:`attach` block, however it is left, never shuts
  a host down: it stops the procs under the mesh's id and every host keeps serving (another
  client can attach next). Only meshes that started their hosts (``open_*``) shut them down
  on leaving, and only an explicit :meth:`HostMesh.shutdown` ends an attached host. Not
  promised: procs spawned under the same id by another client attached to the same ref are
  stopped too (the id is the mesh's identity).
* LG-7 (logs by default): :meth:`HostMesh.spawn` with ``logs="print"`` (the default) or
  ``"logging"`` passes the new procs' lines on (:meth:`ProcMesh.forward_logs`) from a task
  in the block's nursery until the procs are gone; a failure there is logged and never
  raised into the block. Leaving the block (not cancelled) waits at most
  :data:`LOG_FLUSH_BOUND` seconds for those tasks to pass the last lines on. Not promised:
  lines written before spawn returned, or after a cancelled block began to unwind.

Cancellation: cancelling a mesh operation abandons its requests on the client side (late
replies are dropped) and leaves the mesh usable. A host that already received a request
carries on with it: a config push is installed, and procs a drain or stop asked to stop go
on through their stop ladder even if the connection then closes.
"""

from __future__ import annotations

import collections
import enum
import logging
import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import trio

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._blocks import Captured, async_context_manager
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._contract import DRAIN_SLACK, stop_bound
from meshtrio._errors import (
    ActorFailedError,
    ConfigPushError,
    HostFailure,
    HostsError,
    InputError,
    MeshClosedError,
    MeshError,
    ShutdownError,
)
from meshtrio._host_ref import HostMeshRef
from meshtrio._ids import HostMeshId, Label
from meshtrio._messages import Ack, Drain, DrainReply, GetInfo, SetClientConfig, Shutdown
from meshtrio._pool import ConnectionPool, Outcome, fan_out
from meshtrio._proc_mesh import ProcMesh, spawn_proc_mesh
from meshtrio._records import DrainReport, HostInfo
from meshtrio._slicing import Extent, Region, ValueMesh
from meshtrio._supervision import OnFailure, Supervisor
from meshtrio._tls import ClientTLS, TLSConfig, client_context
from meshtrio._transport.handshake import check_token, token_from_env
from meshtrio._transport.rpc import Peer, PendingCall
from meshtrio._wire import Prepared

__all__ = [
    "HostMesh",
    "HostOutcome",
    "MeshState",
    "ShutdownReport",
    "StopReport",
    "attach",
    "tls_from_config",
]

log = logging.getLogger("meshtrio.supervision")

PROC_MESHES_KEPT = 1024
"""Proc meshes a session remembers for the admin's tree (the oldest are forgotten first)."""


class MeshState(enum.StrEnum):
    """Where a :class:`HostMesh` (and every slice of it, which shares it) is in its life.

    A ``str``: ``mesh.state == "live"`` holds, and it prints as its value.
    """

    LIVE = "live"
    """Usable; leaving the block stops its procs (attach) or shuts its hosts down (open_*)."""
    STOPPED = "stopped"
    """The whole mesh's procs were stopped; usable, and a spawn makes it live again. Leaving
    an attach block sends no second stop; an open_* mesh still shuts its hosts down."""
    SHUT_DOWN = "shut_down"
    """Its hosts were shut down and its connections closed; every operation but
    :meth:`HostMesh.shutdown` (which returns the first report) raises MeshClosedError."""


@attrs.frozen
class HostOutcome:
    """One host's part in a mesh-wide operation.

    Attributes:
        address: the host's address.
        failure: what went wrong, or None.
        report: the host's drain report (None if it failed).
        elapsed: seconds the request took.
    """

    address: str
    failure: HostFailure | None
    report: DrainReport | None
    elapsed: float

    @property
    def ok(self) -> bool:
        """True if the host succeeded."""
        return self.failure is None

    def __repr__(self) -> str:
        return f"<HostOutcome {self}>"

    def __str__(self) -> str:
        took = f"{self.elapsed * 1000:.0f} ms"
        if self.failure is not None:
            return f"{self.address}: failed after {took}: {self.failure.kind}: {self.failure.cause}"
        if self.report is None:
            return f"{self.address}: ok in {took}"
        r = self.report
        unkillable = f", {r.failed} unkillable" if r.failed else ""
        return f"{self.address}: ok in {took}, stopped {r.ok} of {r.attempted} procs{unkillable}"


def _outcome_lines(title: str, outcomes: Sequence[HostOutcome]) -> list[str]:
    return [title, *(f"  {o}" for o in outcomes)]


@attrs.frozen
class StopReport:
    """What :meth:`HostMesh.stop` did on each host.

    Attributes:
        hosts: one outcome per host of the mesh (or slice) stopped, in rank order.
        elapsed: seconds the whole stop took.
    """

    hosts: tuple[HostOutcome, ...]
    elapsed: float

    @property
    def failures(self) -> tuple[HostFailure, ...]:
        """The failing hosts."""
        return tuple(h.failure for h in self.hosts if h.failure is not None)

    def __repr__(self) -> str:
        return (
            f"<StopReport {len(self.hosts)} host(s), {len(self.failures)} failed, "
            f"{self.elapsed:.3f}s>"
        )

    def __str__(self) -> str:
        """One line per host (a table: address, outcome)."""
        head = f"stop: {len(self.hosts)} host(s) in {self.elapsed:.3f}s"
        return "\n".join(_outcome_lines(head, self.hosts))


@attrs.frozen
class ShutdownReport:
    """What :meth:`HostMesh.shutdown` did: both phases, per host, with timings (HM-5).

    Attributes:
        drain: phase 1, one outcome per host, in rank order.
        shutdown: phase 2, one outcome per host, in rank order.
        drain_time: seconds phase 1 took.
        shutdown_time: seconds phase 2 took.
        total_time: seconds the whole shutdown took.

    Hosts that acknowledged phase 2 of an earlier, cancelled shutdown are not asked again,
    so this report leaves them out.
    """

    drain: tuple[HostOutcome, ...]
    shutdown: tuple[HostOutcome, ...]
    drain_time: float
    shutdown_time: float
    total_time: float

    @property
    def failures(self) -> tuple[HostFailure, ...]:
        """Each failing host once (its first failure)."""
        seen: dict[str, HostFailure] = {}
        for h in (*self.drain, *self.shutdown):
            if h.failure is not None:
                seen.setdefault(h.address, h.failure)
        return tuple(seen.values())

    def __repr__(self) -> str:
        return (
            f"<ShutdownReport {len(self.drain)} host(s), {len(self.failures)} failed, "
            f"drain {self.drain_time:.3f}s, shutdown {self.shutdown_time:.3f}s>"
        )

    def __str__(self) -> str:
        """Both phases, one line per host."""
        return "\n".join(
            [
                *_outcome_lines(f"phase 1, drain: {self.drain_time:.3f}s", self.drain),
                *_outcome_lines(f"phase 2, shut down: {self.shutdown_time:.3f}s", self.shutdown),
                f"total {self.total_time:.3f}s, {len(self.failures)} host(s) failed",
            ]
        )


class MeshSession:
    """State shared by a mesh and its slices: connections, lifecycle, ownership."""

    def __init__(
        self,
        pool: ConnectionPool,
        root: HostMeshRef,
        *,
        owned: bool,
        nursery: trio.Nursery | None = None,
    ) -> None:
        self.pool = pool
        self.nursery = nursery
        """Where background tasks of the block run (log forwarding, LG-7)."""
        self.log_tasks = 0
        self.log_tasks_done = trio.Event()
        self.root = root
        self.owned = owned
        self.state = MeshState.LIVE
        self.shutdown_report: ShutdownReport | None = None
        self.shut_hosts: set[str] = set()
        """Hosts that acknowledged Shutdown (a repeated, e.g. once cancelled, shutdown skips
        them: they no longer serve)."""
        self._push: tuple[dict[str, Any], Prepared] | None = None
        self.supervisors: list[Supervisor] = []
        """One per proc mesh spawned through this session (SV-2)."""
        self.proc_meshes: collections.deque[ProcMesh] = collections.deque(maxlen=PROC_MESHES_KEPT)
        """The proc meshes spawned through this session, in spawn order, the last
        :data:`PROC_MESHES_KEPT` (what the admin's tree shows)."""
        self.failure: MeshError | None = None
        """The first failure supervision reported for the block (SV-2)."""
        self.body_scope: trio.CancelScope | None = None
        """The scope of the ``async with`` block's body, which a failure cancels."""

    def fail(self, failure: MeshError) -> None:
        """SV-2: end the block's body with ``failure`` (the first one wins)."""
        if self.failure is not None:
            return
        self.failure = failure
        if self.body_scope is not None:
            self.body_scope.cancel()

    def quiet(self) -> None:
        """Nothing is a failure any more: the meshes are being stopped or shut down."""
        for supervisor in self.supervisors:
            supervisor.quiet()

    def forward_logs(self, procs: ProcMesh, how: Literal["print", "logging"]) -> None:
        """Run ``procs.forward_logs(how)`` in the block's nursery until the procs are gone
        (LG-7); a failure there is logged, never raised into the block."""
        if self.nursery is None:
            return

        async def run() -> None:
            try:
                await procs.forward_logs(how)
            except Exception as exc:  # LG-7: logs are best effort; the block goes on
                log.warning("forwarding the logs of %s failed: %r", procs.id, exc)
            finally:
                self.log_tasks -= 1
                if self.log_tasks == 0:
                    self.log_tasks_done.set()

        if self.log_tasks == 0:
            self.log_tasks_done = trio.Event()
        self.log_tasks += 1
        self.nursery.start_soon(run, name=f"meshtrio-logs-{procs.id}")

    def check_live(self, mesh_id: HostMeshId, what: str) -> None:
        """Raise MeshClosedError if the mesh was shut down."""
        if self.state is MeshState.SHUT_DOWN:
            raise MeshClosedError(f"cannot {what}: host mesh {mesh_id} was shut down")

    def push_request(self, snapshot: dict[str, Any]) -> Prepared:
        """The SetClientConfig request for ``snapshot``, unstructured once and reused for as
        long as the snapshot stays the same (pushes are often repeated unchanged)."""
        if self._push is not None and self._push[0] == snapshot:
            return self._push[1]
        request = Prepared.of(SetClientConfig(snapshot))
        self._push = (snapshot, request)
        return request


@attrs.frozen
class _HostLink:
    """A mesh (slice)'s :class:`~meshtrio._proc_mesh.HostLink`: the narrow view its proc
    meshes have of it (its ref, over the session's connections)."""

    session: MeshSession
    ref: HostMeshRef

    @property
    def addrs(self) -> tuple[ChannelAddr, ...]:
        return tuple(self.ref.addrs)

    def check_live(self, what: str) -> None:
        self.session.check_live(self.ref.id, what)

    async def call(
        self,
        addr: ChannelAddr,
        body: Any,
        *,
        timeout: float,
        idle: bool = False,
        on_event: Callable[[Any], None] | None = None,
    ) -> Any:
        return await self.session.pool.call(
            addr, body, timeout=timeout, idle=idle, on_event=on_event
        )

    async def fan_out(
        self, fn: Callable[[ChannelAddr], Awaitable[Any]], *, timeout: float = math.inf
    ) -> list[Outcome]:
        return await fan_out(self.addrs, fn, timeout=timeout)

    async def peer(self, addr: ChannelAddr, token: str) -> Peer:
        return await self.session.pool.peer(addr, token=token)

    async def host_peer(self, addr: ChannelAddr) -> Peer:
        return await self.session.pool.peer(addr)

    def fail(self, failure: MeshError) -> None:
        self.session.fail(failure)

    async def send_request(
        self, addr: ChannelAddr, body: Any, watcher: Callable[[Any], None]
    ) -> PendingCall:
        peer = await self.session.pool.peer(addr)
        return await peer.send_request(body, watcher=watcher)


def _outcomes(addrs: Sequence[ChannelAddr], results: Sequence[Outcome]) -> tuple[HostOutcome, ...]:
    out = []
    for addr, res in zip(addrs, results, strict=True):
        failure = None if res.error is None else HostFailure.from_exception(str(addr), res.error)
        report = DrainReport.from_reply(res.value) if isinstance(res.value, DrainReply) else None
        out.append(HostOutcome(str(addr), failure, report, res.elapsed))
    return tuple(out)


class HostMesh:
    """A live mesh of host agents. Made by :func:`attach`, :func:`open_host_mesh_in_process`
    or :func:`open_host_mesh_processes`; valid inside their ``async with`` block.

    After :meth:`shutdown` its async methods (other than :meth:`shutdown` itself) raise
    :class:`~meshtrio.errors.MeshClosedError`. After the block was left without a shutdown
    (an attached mesh, or a cancelled block), its connections are closed, so every host fails
    with kind ``closed``.
    """

    def __init__(self, ref: HostMeshRef, session: MeshSession) -> None:
        self._ref = ref
        self._session = session

    # -- the ref --------------------------------------------------------------------------
    @property
    def ref(self) -> HostMeshRef:
        """The mesh's value form (id, region, hosts, bootstrap command)."""
        return self._ref

    @property
    def id(self) -> HostMeshId:
        """The host mesh id."""
        return self._ref.id

    @property
    def region(self) -> Region:
        """The host region."""
        return self._ref.region

    @property
    def extent(self) -> Extent:
        """The host extent."""
        return self._ref.region.extent

    @property
    def hosts(self) -> tuple[Any, ...]:
        """The hosts, in rank order."""
        return tuple(self._ref.hosts)

    @property
    def addrs(self) -> tuple[ChannelAddr, ...]:
        """The hosts' addresses, in rank order."""
        return tuple(self._ref.addrs)

    @property
    def bootstrap_command(self) -> BootstrapCommand | None:
        """The command procs spawned through this mesh run (None: each host's default)."""
        return self._ref.bootstrap_command

    @property
    def state(self) -> MeshState:
        """``live``, ``stopped`` or ``shut_down`` (a :class:`MeshState`, equal to its text)."""
        return self._session.state

    def __len__(self) -> int:
        return len(self._ref)

    def __str__(self) -> str:
        return str(self._ref)

    def __repr__(self) -> str:
        return f"<HostMesh {self._ref} {self._session.state}>"

    def range(self, label: str, sel: int | slice | range) -> HostMesh:
        """A slice along one dimension (kept), sharing this mesh's connections.

        Raises:
            The errors of :meth:`~meshtrio._slicing.Region.range` (``DimensionError``,
            ``RankIndexError``, ``EmptyRangeError``, ``InputError``, ``SliceError``).
        """
        return HostMesh(self._ref.range(label, sel), self._session)

    def sliced(self, region: Region) -> HostMesh:
        """The sub-mesh over ``region`` (a subset of this mesh's region), sharing connections.

        Raises:
            InputError: ``region`` is not a Region or not a subset of this mesh's region.
        """
        return HostMesh(self._ref.sliced(region), self._session)

    def with_bootstrap(self, cmd: BootstrapCommand | None) -> HostMesh:
        """The same mesh whose spawns run ``cmd`` by default (None: each host's default).

        Raises:
            InputError: ``cmd`` is neither None nor a BootstrapCommand.
        """
        return HostMesh(self._ref.with_bootstrap(cmd), self._session)

    def _check_live(self, what: str) -> None:
        self._session.check_live(self.id, what)

    # -- config push (HM-1..HM-4) -----------------------------------------------------------
    async def push_config(self, overrides: Mapping[str, Any] | None = None) -> None:
        """Push the client's propagatable config to every host at once (HM-1..HM-4).

        Each host installs the snapshot as its ClientOverride layer, replacing the previous
        one. Each host is bounded by ``mesh_attach_config_timeout`` (connect included), so
        this takes about one timeout however many hosts fail.

        Cancelling it abandons every host's request; hosts that already received the push
        install it, the others keep their previous ClientOverride layer.

        Args:
            overrides: values to set on top of :func:`meshtrio.config.propagatable`, by key
                name (any key, validated before anything is sent).

        Raises:
            ConfigPushError: one entry per failing host; no host error escapes otherwise (HM-3).
            ConfigError: an unknown key name or a bad value in ``overrides``; nothing was sent.
            InputError: ``overrides`` is not a mapping; nothing was sent.
            MeshClosedError: the mesh was shut down.
        """
        await self._push(overrides, what=ConfigPushError.what)

    async def _push(self, overrides: Mapping[str, Any] | None, *, what: str) -> None:
        """:meth:`push_config`, its error message starting with ``what``."""
        self._check_live("push config")
        snapshot = config.propagatable()
        if overrides is not None and not isinstance(overrides, Mapping):
            raise InputError(f"overrides must be a mapping, got {type(overrides).__name__}")
        if overrides:
            for name, value in overrides.items():
                key: config.Key[Any] = config.resolve(name)
                snapshot[name] = key.to_wire(key.coerce(value))
        timeout = config.get(config.MESH_ATTACH_CONFIG_TIMEOUT)
        pool = self._session.pool

        request = self._session.push_request(snapshot)  # unstructured once for all hosts

        async def push(addr: ChannelAddr) -> None:
            reply = await pool.call(addr, request, timeout=timeout)
            if not isinstance(reply, Ack):
                raise MeshError(f"unexpected reply {type(reply).__name__}")

        results = await fan_out(self.addrs, push, timeout=timeout)
        failures = [h.failure for h in _outcomes(self.addrs, results) if h.failure is not None]
        if failures:
            raise ConfigPushError(failures, what=what)

    # -- info ----------------------------------------------------------------------------------
    async def info(self) -> ValueMesh[HostInfo]:
        """One :class:`~meshtrio.HostInfo` per host (address, pid, protocol version,
        uptime, proc count, recent lifecycle events, effective config with sources).

        Each host is bounded by ``request_timeout`` (connect included). Cancelling it
        abandons the requests; nothing is left behind.

        Returns:
            A value mesh over this mesh's region.

        Raises:
            HostsError: some host did not answer or answered with an error (``failures``
                names each).
            MeshClosedError: the mesh was shut down.
        """
        self._check_live("get info")
        timeout = config.get(config.REQUEST_TIMEOUT)
        pool = self._session.pool
        results = await fan_out(
            self.addrs, lambda a: pool.call(a, GetInfo(), timeout=timeout), timeout=timeout
        )
        failures = [h.failure for h in _outcomes(self.addrs, results) if h.failure is not None]
        if failures:
            raise HostsError(
                failures,
                message=f"info failed on {len(failures)} host(s):"
                + "".join(f"\n  - {f}" for f in failures),
            )
        return ValueMesh(self.region, [HostInfo.from_reply(r.value) for r in results])

    # -- spawning -------------------------------------------------------------------------------
    async def spawn(
        self,
        name: str,
        per_host: Extent | Mapping[str, int],
        *,
        proc_bind: Sequence[Mapping[str, str]] | None = None,
        per_rank_bootstrap: Callable[[Any], BootstrapCommand] | None = None,
        setup: Callable[[], Any] | None = None,
        on_failure: OnFailure | Literal["raise", "log"] = "raise",
        logs: Literal["print", "logging"] | None = "print",
        preload: Sequence[str] = (),
    ) -> ProcMesh:
        """Spawn a proc mesh on these hosts (PM-1..PM-4), supervised (SV-2).

        See :func:`meshtrio._proc_mesh.spawn_proc_mesh` for the arguments, the timeouts
        (``proc_spawn_max_idle``) and what a cancel does (the procs already started are
        stopped). Spawning on a mesh that was stopped makes it live again, so leaving the
        ``async with`` block shuts it down. ``setup`` (sync or async, no arguments) runs in
        every proc before it reports Running, with :func:`meshtrio.context` giving its rank
        and point.

        Once it returns, the proc mesh is supervised (:mod:`meshtrio._supervision`): a proc
        that fails, or a broadcast to its actors that fails, is a ProcFailedError or
        ActorFailedError that goes where ``on_failure`` says: ``"raise"`` (the default)
        cancels the body of the ``async with`` block that owns the host mesh, which raises
        it once the mesh is cleaned up as usual, as a failing child task fails its nursery;
        ``"log"`` logs it at WARNING on ``meshtrio.supervision``; a callable is called with
        it, and the block goes on.

        ``logs`` (LG-7): ``"print"`` (the default) prints every line the procs write from
        when spawn returns, with a ``[rank 3 hosts=1/2,gpus=1/2] `` prefix, stdout lines to
        this process's stdout and stderr lines to its stderr; ``"logging"`` logs them on the
        ``meshtrio.procs`` logger (:meth:`ProcMesh.forward_logs`); ``None`` leaves them to
        :meth:`ProcMesh.logs`. Either runs in a task of the mesh's ``async with`` block until
        the procs are gone. Lines written before spawn returns (during startup and
        ``setup``) are not shown (a failure's stderr tail still is).

        ``preload``: modules (dotted names) every proc of this mesh has imported before it
        starts, added to the ``proc_preload`` config key: a host's fork server imports them
        once and forks procs that have them (ZY-4); a proc started cold imports them itself.
        They must not start threads (see :mod:`meshtrio._zygote`).

        Raises:
            InputError: ``logs`` is not ``"print"``, ``"logging"`` or None; ``preload`` holds
                something that is not a module name.
            MeshClosedError: the mesh was shut down.
            SpawnConfigurationError: an up-front check failed; nothing was started.
            PayloadError: ``setup`` cannot be pickled; nothing was started.
            ProcCreationError: a proc failed, or its host could not be reached.
            ProcSpawnError: the status fence's idle timeout expired.
        """
        self._check_live("spawn")
        if logs not in ("print", "logging", None):
            raise InputError(f"logs must be 'print', 'logging' or None, got {logs!r}")
        preload_text = _preload_text(preload)
        if self._session.state is MeshState.STOPPED:
            self._session.state = MeshState.LIVE  # new procs: leaving the block ends them again
        link = _HostLink(self._session, self._ref)
        with config.configured(proc_preload=preload_text):
            procs = await spawn_proc_mesh(
                self,
                link,
                name,
                per_host,
                proc_bind=proc_bind,
                per_rank_bootstrap=per_rank_bootstrap,
                setup=setup,
            )
        session = self._session
        if on_failure == "raise":
            handler: OnFailure = session.fail
        elif on_failure == "log":
            handler = _log_failure
        elif callable(on_failure):
            handler = on_failure
        else:
            raise InputError(
                f"on_failure must be 'raise', 'log' or a callable, got {on_failure!r:.100}"
            )
        report = _guarded(handler, session)
        supervisor = Supervisor(link, procs, report, busy=procs._calls_waiting_on)
        procs._supervisor = supervisor
        procs._report = report  # its actor meshes report broadcast failures there (SV-3)
        session.supervisors.append(supervisor)
        session.proc_meshes.append(procs)
        await supervisor.start()
        if logs is not None:
            self._session.forward_logs(procs, logs)
        return procs

    # -- stop and shutdown ------------------------------------------------------------------
    def _drain_bound(self) -> tuple[float, int, float]:
        """(grace, concurrency, idle bound): a host reports each proc it stopped, and one
        proc's ladder takes at most ``2*grace + KILL_TIMEOUT``; :data:`DRAIN_SLACK` more (PC-3)."""
        grace = config.get(config.MESH_TERMINATE_TIMEOUT)
        conc = config.get(config.MESH_TERMINATE_CONCURRENCY)
        return grace, conc, stop_bound(grace, slack=DRAIN_SLACK)

    async def _drain_all(
        self, host_mesh_id: HostMeshId | None, addrs: Sequence[ChannelAddr] | None = None
    ) -> tuple[tuple[HostOutcome, ...], float]:
        addrs = self.addrs if addrs is None else addrs
        grace, conc, bound = self._drain_bound()
        pool = self._session.pool
        start = trio.current_time()
        request = Drain(host_mesh_id, grace, conc)
        # Idle-bounded: re-armed by every proc the host reports stopped, so a host with many
        # slow procs is not cut off while it makes progress (upstream's barrier does the same).
        results = await fan_out(addrs, lambda a: pool.call(a, request, timeout=bound, idle=True))
        return _outcomes(addrs, results), trio.current_time() - start

    async def stop(self) -> StopReport:
        """Stop the procs spawned under this mesh's id on each of its hosts; hosts keep serving.

        Every host drains the procs spawned under this host mesh id (through any slice of it, or by
        any client attached to the same ref) with the stop ladder (``mesh_terminate_timeout`` per
        step, at most ``mesh_terminate_concurrency`` at once) and can be attached again. Each host
        is idle-bounded: it may stay quiet for at most ``stop_bound(mesh_terminate_timeout,
        slack=DRAIN_SLACK)`` seconds (:func:`~meshtrio._contract.stop_bound`; it reports every
        proc it stopped). Stopping the whole mesh (not a slice) marks it stopped, so
        leaving an :func:`attach` block sends no second stop (an ``open_*`` mesh still shuts its
        hosts down on leaving). A drain is per host address: a
        slice's stop also stops this mesh's procs on ranks outside the slice that share an address
        with a rank inside it.

        Cancelling it abandons the requests; the mesh is not marked stopped, and procs a host
        already asked to stop still go through their ladder.

        Raises:
            ShutdownError: some host could not drain (``report`` is the :class:`StopReport`).
            MeshClosedError: the mesh was shut down.
        """
        self._check_live("stop")
        self._session.quiet()  # procs we stop are no failures (SV-2)
        # A host this mesh already shut down drained everything and no longer serves.
        addrs = [a for a in self.addrs if str(a) not in self._session.shut_hosts]
        hosts, elapsed = await self._drain_all(self.id, addrs)
        report = StopReport(hosts, elapsed)
        if self._session.state is MeshState.LIVE and self._ref.region == self._session.root.region:
            self._session.state = MeshState.STOPPED  # a slice's stop leaves others' procs
        if report.failures:
            raise ShutdownError(
                report.failures,
                report=report,
                message=f"stop failed on {len(report.failures)} host(s):"
                + "".join(f"\n  - {f}" for f in report.failures),
            )
        return report

    async def shutdown(self) -> ShutdownReport:
        """Shut every host down in two phases (HM-5) and close the mesh's connections.

        Phase 1 drains every host concurrently; phase 2, once phase 1 ended everywhere, asks
        every host to shut down concurrently (phase 2 goes to every host, including those
        whose drain failed). Each phase's request is idle-bounded per host by
        ``stop_bound(mesh_terminate_timeout, slack=DRAIN_SLACK)``
        (:func:`~meshtrio._contract.stop_bound`), with the ladder's grace ``mesh_terminate_timeout``
        and ``mesh_terminate_concurrency``. Time is about that of the slowest host.

        Once a shutdown has completed, further calls return its report without contacting
        anyone and without raising, even when the first call raised.

        Cancelling it abandons the requests and leaves the mesh's state unchanged. Hosts
        that had acknowledged phase 2 are remembered and skipped by a later call (they no
        longer serve); procs a host already asked to stop still go through their ladder.

        Returns:
            The :class:`ShutdownReport`, when every host succeeded.

        Raises:
            ShutdownError: some hosts failed; ``failures`` names each, ``report`` has all.
                The mesh is shut down anyway.
            InputError: called on a slice (shut down the mesh you opened; a slice's hosts are
                shared with the rest of it).
        """
        if self._ref.region != self._session.root.region:
            raise InputError(
                f"cannot shut down a slice ({self._ref.region}) of host mesh {self.id}; "
                "shut down the whole mesh, or stop() the slice"
            )
        if self._session.state is MeshState.SHUT_DOWN:
            assert self._session.shutdown_report is not None
            return self._session.shutdown_report
        self._session.quiet()  # procs we shut down are no failures (SV-2)
        start = trio.current_time()
        addrs = [a for a in self.addrs if str(a) not in self._session.shut_hosts]
        drained, drain_time = await self._drain_all(None, addrs)
        grace, conc, bound = self._drain_bound()
        pool = self._session.pool
        p2 = trio.current_time()
        request = Shutdown(grace, conc)

        async def shut_down(addr: ChannelAddr) -> Any:
            reply = await pool.call(addr, request, timeout=bound, idle=True)
            self._session.shut_hosts.add(str(addr))  # recorded at once: survives a cancel
            return reply

        results = await fan_out(addrs, shut_down)
        shut = _outcomes(addrs, results)
        end = trio.current_time()
        report = ShutdownReport(drained, shut, drain_time, end - p2, end - start)
        self._session.state = MeshState.SHUT_DOWN
        self._session.shutdown_report = report
        await pool.aclose()
        if report.failures:
            raise ShutdownError(report.failures, report=report)
        return report


def _log_failure(failure: MeshError) -> None:
    """SV-2's ``"log"`` handler (an ActorFailedError was logged where it happened, AM-7)."""
    if not isinstance(failure, ActorFailedError):
        log.warning("%s: %s", type(failure).__name__, failure)


def _guarded(report: OnFailure, session: MeshSession) -> OnFailure:
    """``report``, whose own exception ends the block as a failure would (SV-2)."""

    def guarded(failure: MeshError) -> None:
        try:
            report(failure)
        except Exception as exc:
            if isinstance(exc, MeshError):
                session.fail(exc)
            else:
                wrapped = MeshError(f"the on_failure handler raised {exc!r:.200}")
                wrapped.__cause__ = exc
                session.fail(wrapped)

    return guarded


@asynccontextmanager
async def open_session(
    ref: HostMeshRef,
    token: str,
    *,
    owned: bool,
    push: bool = True,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[HostMesh]:
    """Connections for ``ref`` for the block; config pushed on entry; cleanup on exit.

    On exit a mesh that owns its hosts (``owned``: the ``open_*`` meshes, which started them)
    is shut down (two phases) unless it was shut down already; one that does not (``attach``)
    has its procs stopped (:meth:`HostMesh.stop`: this host mesh id's procs are drained) and
    leaves its hosts serving, unless it was stopped or shut down already (HM-6). If the block
    raised, that exception wins and cleanup failures are attached to it as notes. On
    cancellation no shutdown is tried; the procs are drained (shielded, bounded by
    :data:`CANCEL_DRAIN_BOUND`): all of them on hosts the mesh owns (whose owner then ends the
    hosts), those under this host mesh id (whoever spawned them) on attached hosts (which keep
    serving).
    """
    body = Captured()
    after_exc: MeshError | None = None
    async with trio.open_nursery() as nursery:
        pool = ConnectionPool(nursery, token, tls=tls)
        session = MeshSession(pool, ref, owned=owned, nursery=nursery)
        mesh = HostMesh(ref, session)
        yielded = False  # HM-2: a failed push returns no mesh, so there is none to shut down
        with body:
            if push:
                await mesh._push(None, what="config push failed during attach")
            yielded = True
            with trio.CancelScope() as session.body_scope:  # supervision cancels it (SV-2)
                yield mesh
        session.quiet()  # from here on, procs end because we end them
        cancelled = body.cancelled
        wants_shutdown = owned and yielded and session.state is not MeshState.SHUT_DOWN
        wants_stop = not owned and yielded and session.state is MeshState.LIVE
        if (wants_shutdown or wants_stop) and not cancelled and len(ref) > 0:
            try:
                if wants_shutdown:
                    await mesh.shutdown()
                else:
                    await mesh.stop()  # attached hosts are not ours to end: they keep serving
            except MeshError as exc:
                after_exc = exc
        if cancelled and yielded and session.state is not MeshState.SHUT_DOWN and len(ref) > 0:
            # Owned hosts are about to be ended by their owner, but a proc whose command does
            # not arm PDEATHSIG would outlive a killed host: stop them all first.
            await _drain_on_cancel(
                ref, token, None if owned else ref.id, session.shut_hosts, tls=tls
            )
        if wants_shutdown and not cancelled:
            session.state = MeshState.SHUT_DOWN
        if session.log_tasks and not cancelled:
            # LG-7: the procs are gone, so their hosts end the streams; let the last lines out.
            with trio.move_on_after(LOG_FLUSH_BOUND):
                await session.log_tasks_done.wait()
        await session.pool.aclose()
        nursery.cancel_scope.cancel()
    if body.exc is not None and after_exc is not None:
        what = "shutting the mesh down" if owned else "stopping the mesh's procs"
        body.exc.add_note(f"meshtrio: {what} also failed: {after_exc}")
    failure = session.failure
    if failure is not None:  # SV-2: what ended the body is what the block raises
        if after_exc is not None:
            failure.add_note(f"meshtrio: cleaning the mesh up also failed: {after_exc}")
        if body.exc is not None:
            raise failure from body.exc
        raise failure
    body.reraise()
    if after_exc is not None:
        raise after_exc


LOG_FLUSH_BOUND = 1.0
"""Seconds leaving a block waits for its log forwarding tasks to pass their last lines on."""

CANCEL_DRAIN_BOUND = 10.0
"""Seconds a cancelled attach block may spend draining its procs."""

CANCEL_DRAIN_GRACE = 2.0
"""The most grace per ladder step that drain gives each proc (``mesh_terminate_timeout`` if
less)."""


CANCEL_CONNECT_TIMEOUT = 2.0
"""Connect bound of that drain: a host that does not answer quickly is not waited for."""


async def _drain_on_cancel(
    ref: HostMeshRef,
    token: str,
    host_mesh_id: HostMeshId | None,
    skip: set[str],
    *,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Stop procs on every host of ``ref`` (all, or those of one host mesh) although the
    caller was cancelled: shielded, over fresh connections (the block's own died with it),
    bounded by :data:`CANCEL_DRAIN_BOUND`. Hosts in ``skip`` (already shut down) are left
    out."""
    conc = config.get(config.MESH_TERMINATE_CONCURRENCY)
    grace = min(config.get(config.MESH_TERMINATE_TIMEOUT), CANCEL_DRAIN_GRACE)
    addrs = [a for a in ref.addrs if str(a) not in skip]
    with trio.CancelScope(shield=True), trio.move_on_after(CANCEL_DRAIN_BOUND):
        async with trio.open_nursery() as nursery:
            pool = ConnectionPool(nursery, token, tls=tls)
            request = Drain(host_mesh_id, grace, conc)

            async def drain(addr: ChannelAddr) -> Any:
                peer = await pool.peer(addr, timeout=CANCEL_CONNECT_TIMEOUT)
                return await peer.call(request, timeout=CANCEL_DRAIN_BOUND)

            await fan_out(addrs, drain, timeout=CANCEL_DRAIN_BOUND)
            await pool.aclose()
            nursery.cancel_scope.cancel()


def tls_from_config() -> TLSConfig | None:
    """The client TLS settings of the config keys, or None when none is set."""
    ca, cert, key = (
        config.get(k) or None for k in (config.TLS_CA, config.TLS_CERT, config.TLS_KEY)
    )
    if ca is None and cert is None and key is None:
        return None
    return TLSConfig(ca=ca, cert=cert, key=key)


def _resolve_token(token: str | None) -> str:
    if token is not None and not token:
        # Not a silent fall-back to MESHTRIO_TOKEN: an empty token is a mistake (say, an
        # unset variable read as ""), and another credential would be used without a word.
        raise InputError("token='' is empty: pass a token, or token=None to use MESHTRIO_TOKEN")
    token = token or token_from_env()
    if not token:
        raise InputError("no auth token: pass token=... or set MESHTRIO_TOKEN")
    return check_token(token)  # a bad token fails here, not as one failure per host


@async_context_manager
async def attach(
    addresses: HostMeshRef | Sequence[ChannelAddr | str],
    *,
    name: str | None = None,
    token: str | None = None,
    tls: ClientTLS | None = None,
) -> AsyncIterator[HostMesh]:
    """Attach to running host agents (``python -m meshtrio host``) and push config (HM-1..4).

    Yields a :class:`HostMesh` once every host acknowledged the config (bounded per host by
    ``mesh_attach_config_timeout``): over ``hosts=N`` for a sequence of addresses, or, for a
    :class:`~meshtrio.HostMeshRef` (say, parsed from the text another client printed), over
    that ref's id, region and bootstrap command. A ref is the mesh's identity: a client that
    attaches to it acts on the procs spawned under its id by any other, and ``stop()`` drains
    them all.

    The hosts are not this client's: leaving the block, normally or with an exception from
    the body, stops the procs under this host mesh id (:meth:`HostMesh.stop`) and leaves every
    host serving, so another client can attach to it next (upstream's ``HostMesh::take`` shuts
    them down instead). Nothing is stopped again if the block already stopped the whole mesh
    (a later spawn re-arms the stop) or shut it down. To end the hosts, call
    ``await mesh.shutdown()`` in the block. An exception from the body wins over a failing
    stop, which is attached to it as a note.

    If the block is cancelled, no stop request is sent over the mesh's connections: the procs
    under this host mesh id (whoever spawned them) are drained over fresh connections,
    shielded, with a grace of at most :data:`CANCEL_DRAIN_GRACE` seconds, within
    :data:`CANCEL_DRAIN_BOUND` seconds; the hosts keep serving. A cancel during the config
    push returns no mesh (hosts that already received the push keep it).

    Args:
        addresses: the hosts' channel addresses (``ChannelAddr`` or text), or a
            :class:`~meshtrio.HostMeshRef`.
        name: the host mesh id's label (sanitised with ``Label.sanitize``; default ``hosts``);
            only with addresses (a ref carries its own id).
        token: the auth token (default: ``MESHTRIO_TOKEN``).
        tls: connect to the hosts, and to their procs, over TLS (``wss``): a
            :class:`~meshtrio.TLSConfig` (the CA to trust; a client certificate for hosts that
            require mutual TLS) or a client :class:`ssl.SSLContext`. Default: the
            ``tls_ca`` / ``tls_cert`` / ``tls_key`` config keys (``MESHTRIO_TLS_CA``, ...)
            when any is set, else plaintext. The token is still sent (inside TLS).

    Raises:
        ConfigPushError: some hosts failed; no mesh is returned (HM-2).
        InputError: bad addresses (``AddrParseError``) or none at all, a non-str ``name``,
            a ``name`` given with a ref, no token, an empty token (``token=""`` does not fall
            back to ``MESHTRIO_TOKEN``), or a token that cannot be sent.
        ShutdownError: on leaving the block, stopping the procs failed on some hosts (only
            when the body did not raise).
    """
    if isinstance(addresses, HostMeshRef):
        if name is not None:
            raise InputError("name= applies to a list of addresses: a HostMeshRef has its own id")
        ref = addresses
    else:
        if isinstance(addresses, Sequence) and not isinstance(addresses, str) and not addresses:
            raise InputError("attach needs at least one host address, got none")
        label = Label.sanitize("hosts" if name is None else name)
        ref = HostMeshRef.from_hosts(HostMeshId.instance(label), addresses)
    context = client_context(tls if tls is not None else tls_from_config())
    async with open_session(ref, _resolve_token(token), owned=False, tls=context) as mesh:
        yield mesh


def _preload_text(preload: Sequence[str]) -> str:
    """``spawn(preload=...)`` joined to the ``proc_preload`` already configured (each module
    once, in order); InputError for what is not a dotted module name."""
    if isinstance(preload, str):
        raise InputError(f"preload must be a sequence of module names, not a str: {preload!r:.100}")
    names = config.get(config.PROC_PRELOAD).replace(",", " ").split()
    for name in preload:
        if not (isinstance(name, str) and all(part.isidentifier() for part in name.split("."))):
            raise InputError(f"preload: not a module name: {name!r:.100}")
        if name not in names:
            names.append(name)
    return ",".join(names)
