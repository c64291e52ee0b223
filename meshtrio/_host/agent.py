"""The host agent: serves one host and owns its procs.

:func:`serve_host_agent` runs a :class:`HostAgent` as a task. Its nurseries are its lifecycle:

* the **service nursery** holds the server, one task per connection and one per request
  (every request in its own task, so nothing blocks anything else), and, while any proc has
  a keepalive, the orphan reaper;
* inside it, the **proc nursery** holds one supervising task per proc
  (:mod:`meshtrio._host.procs`).

*Drain* stops procs (all, or those spawned through one host mesh) by cancelling their scopes,
which runs the stop ladder with at most ``concurrency`` procs stopping at once, while the
service side keeps serving. *Shutdown* drains everything, acknowledges, then cancels the
service nursery; :func:`serve_host_agent` returns.

Invariants owned here:

* HA-1 (drain before ack): a Drain or Shutdown is acknowledged only after every selected proc's
  supervising task ended, i.e. its process is gone (PS-1).
* HA-2 (service stays up while draining): draining never touches the service nursery; the host
  answers Info and other requests throughout, and a selective drain leaves it serving spawns.
* HA-3 (shutdown acks first): a Shutdown's reply is sent before the service side is cancelled.
* HA-4 (client config): SetClientConfig replaces the agent's ClientOverride layer wholesale,
  and is acknowledged only after it is installed. Keys this version does not know are
  ignored (CF-2) and named in a ``config_ignored`` event; they are not passed on to procs.
* HA-5 (total): no request, however well- or ill-formed, can end the agent. A request that
  fails gets an error reply (RPC-2); a proc that cannot be launched or watched ends
  ``Failed`` (PS-4); either way the agent logs it and keeps serving.
* HA-6 (a drain outlives its client): a Drain or Shutdown, once started, runs to its end
  (bounded by its timeout, PS-3) in the service nursery even if the requesting client
  disconnects or is cancelled; the host's state then returns to ``serving`` (or, for a
  Shutdown, the host stops serving). The host's state never depends on a client staying
  connected.
* HA-8 (watching never blocks the host): a WatchProcs stream gets the present states of one
  proc mesh's procs, then every change, in order; each watcher has a bounded queue, and one
  that falls behind loses the oldest changes and is told how many. The stream ends when
  its caller sends CANCEL or goes away. Not promised: changes of procs pruned from the
  host's records.
* HO-1 (orphaned hosts exit): a host agent with a ``host_orphan_timeout`` of T (``python -m
  meshtrio host --announce`` sets 60 s by default) that has had no client connection open
  for T seconds, counted from its start or from the moment its last client connection
  closed, shuts itself down as a Shutdown would (every proc drained, reason ``orphaned``)
  and :func:`serve_host_agent` returns. A client that is SIGKILLed or crashes has its
  connections closed by its kernel, so its hosts are gone T seconds later; a host nobody
  ever attaches to is gone T seconds after it started.
* HO-2 (a connected client owns the host): while any connection that presented the client
  token is open, however idle, the host does not exit by HO-1. Proc connections never
  count. Not promised: noticing a client whose machine vanished without closing its TCP
  connections (power loss, a partition) sooner than the kernel gives up on the connection:
  there is no heartbeat on the wire yet.
* HA-7 (least privilege): a connection that presented a proc credential (AU-1) is served by
  the proc handler, which accepts only that proc's own ProcHello and GetProcSetup (its own
  setup function); it cannot spawn, stop, drain, shut down, read config or speak for
  another proc. Procs never see the client token
  (it is removed from their environment).
"""

from __future__ import annotations

import collections
import enum
import functools
import ipaddress
import logging
import math
import os
import secrets
import time
from typing import Any, Literal

import trio

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._contract import (
    BOOTSTRAP_ENV,
    PARENT_PID_ENV,
    PROC_TOKEN_ENV,
    TOKEN_ENV,
    ProcBootstrap,
)
from meshtrio._errors import AuthRejectedError, InputError, MeshError, ProtocolError, RemoteError
from meshtrio._host import launcher
from meshtrio._host.forkserver import ForkServer, parse_preload
from meshtrio._host.handle import ProcHandle
from meshtrio._host.inprocess import launch_in_process
from meshtrio._host.logs import LogHub
from meshtrio._host.procs import ProcRecord, supervise
from meshtrio._host.stacks import dump_proc_stacks
from meshtrio._ids import HostMeshId, ProcMeshId, proc_id
from meshtrio._messages import (
    Ack,
    AwaitProcExit,
    Drain,
    DrainReply,
    DumpProcStacks,
    GetInfo,
    GetProcConfig,
    GetProcMeshConfigs,
    GetProcSetup,
    GetProcStates,
    HostInfoReply,
    HostProcStates,
    LifecycleEvent,
    ListProcs,
    ListProcStates,
    ProcChange,
    ProcConfig,
    ProcEvents,
    ProcHello,
    ProcList,
    ProcListing,
    ProcMeshConfigs,
    ProcRow,
    ProcSetup,
    ProcStates,
    ProcUpdate,
    SetClientConfig,
    Shutdown,
    SpawnProcs,
    StopProcLogs,
    StopProcMesh,
    StreamProcLogs,
    WatchProcs,
)
from meshtrio._status import Status
from meshtrio._tls import ServerTLS
from meshtrio._transport import endpoints as net
from meshtrio._transport.handshake import Credentials, check_token, proc_credential
from meshtrio._transport.message_streams import MessageStream
from meshtrio._transport.rpc import Emit, Peer, ReplyThen
from meshtrio._wire import PROTOCOL_VERSION

__all__ = ["INSECURE_BIND_WARNING", "HostAgent", "HostState", "is_loopback", "serve_host_agent"]

log = logging.getLogger("meshtrio._host")

MAX_EVENTS = 256
"""Lifecycle events kept per host."""

MAX_FINISHED_RECORDS = 4096
"""Records of finished procs kept (for ``states()`` after ``stop()``); older ones are pruned."""

ADMIN_TAIL_LINES = 5
"""Lines of a proc's stderr tail ListProcStates sends (the admin shows a few)."""

INSECURE_BIND_WARNING = (
    "listening on {addr}, which other machines can reach, in plaintext: whoever can read "
    "this traffic can steal the token, and whoever holds the token can run any command on "
    "this host"
)
"""What a host agent says when it listens beyond loopback without TLS."""

MAX_EVENT_DETAIL = 1024
"""Characters of an event's detail kept (a failed proc's status carries its stderr tail)."""


class HostState(enum.StrEnum):
    """Where a host agent is in its life. Sent as its text (``HostInfoReply.state``, a ``str``)."""

    SERVING = "serving"
    """Answering every request; spawns are accepted."""
    DRAINING = "draining"
    """A full drain (all procs) is under way; requests are answered, spawns refused. Back to
    serving when the last full drain ends (HA-2, HA-6)."""
    SHUTTING_DOWN = "shutting_down"
    """A Shutdown is under way: drain everything, acknowledge, stop serving; never left."""


def _seconds(what: str, value: float) -> float:
    """``value`` if it is a usable duration from the wire, else InputError.

    NaN, infinite or negative timeouts would crash trio's deadlines or make a shielded stop
    ladder wait forever (PS-3), so a peer's request carrying one is refused.
    """
    if not math.isfinite(value) or not 0 <= value <= config.DURATION_MAX:
        raise InputError(
            f"{what} must be a finite number of seconds from 0 to {config.DURATION_MAX:.0f}, "
            f"got {value!r}"
        )
    return value


def is_loopback(addr: ChannelAddr) -> bool:
    """True unless ``addr`` is a TCP address other hosts could reach (unix and local are
    loopback by nature; ``localhost`` counts as loopback)."""
    if addr.transport != "tcp" or addr.host is None:
        return True
    if addr.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(addr.host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


class HostAgent:
    """The state and request handlers of one host agent (see the module docstring).

    Args:
        token: the auth token clients and procs must present.
        cfg: the agent's config view (its ClientOverride layer is what clients push).
        in_process_procs: run procs as tasks in this process instead of OS processes.
    """

    def __init__(self, *, token: str, cfg: config.Config, in_process_procs: bool = False) -> None:
        self.token = token
        self._proc_secret = secrets.token_bytes(32)  # makes proc credentials (AU-1); never sent
        self.credentials = Credentials(token, proc_secret=self._proc_secret)
        self.cfg = cfg
        self.in_process_procs = in_process_procs
        self.tls: ServerTLS | None = None
        """The host's TLS settings; its procs get them too (as paths, in their bootstrap)."""
        self.address = ChannelAddr.local(0)
        self.started = time.time()
        self.state = HostState.SERVING
        self.procs: dict[str, ProcRecord] = {}
        self.events: collections.deque[LifecycleEvent] = collections.deque(maxlen=MAX_EVENTS)
        self._changed = trio.Event()
        self._keepalive_changed = trio.Event()
        self.stop_serving = trio.Event()
        self.proc_nursery: trio.Nursery | None = None
        self.service_nursery: trio.Nursery | None = None
        self._reaping = False
        self._full_drains = 0
        self._stop_limiter = trio.CapacityLimiter(cfg.get(config.MESH_TERMINATE_CONCURRENCY))
        self._watchers: dict[ProcMeshId, set[_Watcher]] = {}
        self.logs = LogHub()
        self.clients = 0  # open connections holding the client token (HO-2)
        self._clients_changed = trio.Event()
        self.fork_server: ForkServer | None = None
        """This host's zygote (issue 13), unless ``host_fork_server`` is off or procs are tasks."""

    # -- bookkeeping ---------------------------------------------------------------------
    def event(self, kind: str, detail: str = "") -> None:
        """Record a lifecycle event."""
        self.events.append(LifecycleEvent(time.time(), kind, detail[:MAX_EVENT_DETAIL]))
        log.debug("%s: %s %s", self.address, kind, detail)

    def _on_change(self, rec: ProcRecord) -> None:
        if rec.status.is_terminated:
            self.event("proc_exit", f"{rec.proc_id} {rec.status}")
        elif rec.status.is_running:
            self.event("proc_running", str(rec.proc_id))
        for watcher in self._watchers.get(rec.proc_mesh_id, ()):
            watcher.push(_change(rec, rec.previous))
        self._changed.set()
        self._changed = trio.Event()

    # -- connections -----------------------------------------------------------------------
    async def on_connection(self, stream: MessageStream) -> None:
        """Serve one authenticated connection: a client, or one of our procs (HA-7)."""
        proc_id = stream.principal.proc_id
        if proc_id is None:
            peer = Peer(stream, self.handle, cancellable=(WatchProcs,))
            self._count_client(+1)
        else:
            peer = Peer(stream, functools.partial(self.handle_proc, proc_id))
        try:
            await peer.run()
        finally:
            if proc_id is None:
                self._count_client(-1)
        if isinstance(peer.close_reason, ProtocolError):
            who = "client" if proc_id is None else f"proc {proc_id}"
            log.warning("%s: %s broke the protocol: %s", self.address, who, peer.close_reason)
            self.event("bad_client", f"{who}: {peer.close_reason}")

    async def handle_proc(self, proc_id: str, peer: Peer, msg: Any, emit: Emit) -> Any:
        """Requests from a connection that presented ``proc_id``'s credential (HA-7)."""
        if isinstance(msg, ProcHello):
            if str(msg.proc_id) != proc_id:
                self.event("bad_proc", f"{proc_id} said hello as {msg.proc_id}"[:200])
                raise AuthRejectedError(f"proc {proc_id} cannot say hello for another proc")
            rec = self.procs.get(proc_id)
            if rec is None or rec.done.is_set():
                raise MeshError(f"unknown proc {msg.proc_id}")
            rec.peer = peer
            rec.pid = msg.pid
            rec.address = msg.address
            rec.ready.set()
            return Ack()
        if isinstance(msg, GetProcSetup):  # its own setup, nobody else's (HA-7)
            rec = self.procs.get(proc_id)
            if rec is None or rec.done.is_set():
                raise MeshError(f"unknown proc {proc_id}")
            return ProcSetup(rec.setup, rec.region)
        raise AuthRejectedError(f"a proc's credential does not allow {type(msg).__name__}")

    async def handle(self, peer: Peer, msg: Any, emit: Emit) -> Any:
        """Dispatch one request from a client (the holder of the client token)."""
        match msg:
            case SetClientConfig():
                if self.cfg.set_client_override(msg.config):  # unchanged: nothing to record
                    self.event("config_set", f"{len(msg.config)} keys")
                    self._note_ignored(msg.config)
                return Ack()
            case GetInfo():
                return self.info()
            case SpawnProcs():
                return await self.spawn(msg, emit)
            case GetProcStates():
                if msg.keepalive is not None:
                    _seconds("GetProcStates.keepalive", msg.keepalive)
                return self.proc_states(msg.proc_mesh_id, msg.keepalive)
            case StopProcMesh():
                timeout = _seconds("StopProcMesh.timeout", msg.timeout)
                recs = [r for r in self.procs.values() if r.proc_mesh_id == msg.proc_mesh_id]
                await self._stop_records(recs, msg.reason, timeout, msg.concurrency, emit)
                return ProcStates([r.state(str(self.address)) for r in recs])
            case WatchProcs():
                return await self.watch(msg.proc_mesh_id, emit)
            case AwaitProcExit():
                timeout = _seconds("AwaitProcExit.timeout", msg.timeout)
                return await self.await_exit(msg.proc_mesh_id, msg.create_rank, timeout)
            case ListProcs():
                return ProcList(
                    [
                        ProcListing(
                            r.proc_mesh_id,
                            r.create_rank,
                            r.proc_id,
                            r.address,
                            r.region,
                            r.actor_token,
                        )
                        for r in self.procs.values()
                        if r.status.is_running
                    ]
                )
            case ListProcStates():
                return self.all_proc_states()
            case DumpProcStacks():
                wait = _seconds("DumpProcStacks.wait", msg.wait)
                rec = self.procs.get(str(proc_id(msg.proc_mesh_id, msg.create_rank)))
                if rec is None or rec.proc_mesh_id != msg.proc_mesh_id:
                    raise MeshError(
                        f"no proc of rank {msg.create_rank} of proc mesh {msg.proc_mesh_id} "
                        "on this host"
                    )
                return await dump_proc_stacks(rec, wait)  # ST-3
            case GetProcMeshConfigs():
                timeout = _seconds("GetProcMeshConfigs.timeout", msg.timeout)
                return await self.config_dump(msg.proc_mesh_id, timeout)
            case Drain():
                timeout = _seconds("Drain.timeout", msg.timeout)
                return await self._detached(
                    self.drain(msg.host_mesh_id, timeout, msg.concurrency, emit)
                )
            case Shutdown():
                timeout = _seconds("Shutdown.timeout", msg.timeout)
                return await self._detached(self.shutdown(timeout, msg.concurrency, emit))
            case StreamProcLogs():
                recs = [r for r in self.procs.values() if r.proc_mesh_id == msg.proc_mesh_id]
                await self.logs.serve(
                    msg.proc_mesh_id,
                    msg.stream_id,
                    lambda: all(r.done.is_set() for r in recs),
                    emit,
                )
                return Ack()
            case StopProcLogs():
                self.logs.stop(msg.stream_id)
                return Ack()
            case ProcHello():
                raise AuthRejectedError("ProcHello comes from a proc, with its own credential")
        raise RemoteError(f"a host agent does not handle {type(msg).__name__}")

    def _note_ignored(self, snapshot: dict[str, Any]) -> None:
        ignored = config.split_known(snapshot)[1]
        if ignored:
            self.event("config_ignored", "unknown keys: " + ", ".join(ignored))

    async def _detached(self, work: Any) -> Any:
        """Run ``work`` (a coroutine) in the service nursery and wait for its result (HA-6).

        If the waiting request is cancelled (its client went away), the work still runs to
        its end; its events then go nowhere and its reply is dropped, but the action that
        follows a reply (:class:`ReplyThen`: a Shutdown's stop of the service side) is taken.
        """
        assert self.service_nursery is not None
        done = trio.Event()
        result: list[Any] = []
        error: list[BaseException] = []
        abandoned = False

        def follow_up() -> None:
            if result and isinstance(result[0], ReplyThen):
                result[0].then()

        async def run() -> None:
            try:
                result.append(await work)
            except Exception as exc:  # HA-5: reported to the requester, if it still waits
                log.warning("%s: %r", self.address, exc)
                error.append(exc)
            finally:
                done.set()
            if abandoned:
                follow_up()

        self.service_nursery.start_soon(run)
        try:
            await done.wait()
        except BaseException:
            abandoned = True
            if done.is_set():  # finished just as the requester went away
                follow_up()
            raise
        if error:
            raise error[0]
        return result[0]

    # -- info ------------------------------------------------------------------------------
    def info(self) -> HostInfoReply:
        """This host's :class:`HostInfoReply`."""
        return HostInfoReply(
            address=str(self.address),
            pid=os.getpid(),
            protocol_version=PROTOCOL_VERSION,
            uptime=time.time() - self.started,
            proc_count=sum(1 for r in self.procs.values() if not r.done.is_set()),
            state=self.state.value,  # the wire carries the text
            events=list(self.events),
            config=self.cfg.dump(),
        )

    # -- spawning --------------------------------------------------------------------------
    async def _launch(self, rec: ProcRecord, nursery: trio.Nursery) -> ProcHandle:
        boot = ProcBootstrap(
            proc_id=rec.proc_id,
            host_addr=self.address,
            create_rank=rec.create_rank,
            proc_mesh_id=rec.proc_mesh_id,
            config=rec.config,
            actor_token=rec.actor_token,
            has_setup=bool(rec.setup),
            tls=self.tls,
        )
        credential = proc_credential(self._proc_secret, str(rec.proc_id))
        if self.in_process_procs and rec.command is None:
            return launch_in_process(boot, token=credential, nursery=nursery)
        env = {
            BOOTSTRAP_ENV: boot.to_env(),
            PROC_TOKEN_ENV: credential,
            PARENT_PID_ENV: str(os.getpid()),
        }
        view = config.Config(client_override=rec.config)  # the spawn's values (env wins)
        fork = self.fork_server if view.get(config.HOST_FORK_SERVER) else None
        return await launcher.launch(
            rec.command or BootstrapCommand.default(),
            nursery=nursery,
            extra_env=env,
            drop_env=(TOKEN_ENV,),  # HA-7: the client token never reaches a proc
            tail_lines=rec.tail_lines,
            proc_bind=rec.bind,
            on_line=self.logs.sink(
                rec.proc_mesh_id, str(rec.proc_id), rec.create_rank, rec.log_rate
            ),
            fork_server=fork,
            preload=parse_preload(view.get(config.PROC_PRELOAD)),
        )

    async def spawn(self, msg: SpawnProcs, emit: Emit) -> ProcStates:
        """Start this host's procs of one proc mesh; stream status changes; reply when every
        proc is Running or terminating."""
        if self.state is not HostState.SERVING or self.proc_nursery is None:
            raise MeshError(f"host {self.address} is {self.state}; not spawning")
        if msg.num_per_host < 1 or len(msg.commands) != msg.num_per_host:
            raise MeshError("malformed SpawnProcs: commands must have one entry per slot")
        if msg.proc_bind is not None and len(msg.proc_bind) != msg.num_per_host:
            raise MeshError("malformed SpawnProcs: proc_bind must have one entry per slot")
        snapshot = config.split_known(msg.config)[0]  # HA-4: procs get only keys we know
        view = config.Config(client_override=snapshot)
        spawn_limiter = trio.CapacityLimiter(view.get(config.MESH_SPAWN_CONCURRENCY))
        ready_timeout = view.get(config.HOST_SPAWN_READY_TIMEOUT)
        tail_lines = view.get(config.MESH_TAIL_LOG_LINES)
        log_rate = view.get(config.PROC_LOG_RATE)
        self.event("spawn", f"{msg.proc_mesh_id} x{msg.num_per_host}")
        self._note_ignored(msg.config)
        self._prune()
        recs: list[ProcRecord] = []
        for slot in range(msg.num_per_host):
            rank = msg.host_rank * msg.num_per_host + slot
            pid = proc_id(msg.proc_mesh_id, rank)
            pid_text = str(pid)
            existing = self.procs.get(pid_text)
            if existing is not None:  # a repeated request: report the existing proc
                recs.append(existing)
                continue
            rec = ProcRecord(
                proc_id=pid,
                proc_mesh_id=msg.proc_mesh_id,
                host_mesh_id=msg.host_mesh_id,
                create_rank=rank,
                host_rank=msg.host_rank,
                command=msg.commands[slot],
                bind=None if msg.proc_bind is None else dict(msg.proc_bind[slot]),
                config=snapshot,  # shared, read-only: the same snapshot for every slot
                tail_lines=tail_lines,
                on_change=self._on_change,
                stop_timeout=self.cfg.get(config.MESH_TERMINATE_TIMEOUT),
                actor_token=msg.actor_token,
                setup=msg.setup,
                region=msg.region,
                log_rate=log_rate,
            )
            self.procs[pid_text] = rec
            recs.append(rec)
            # start_soon, not start: the loop never checkpoints, so a concurrent drain sees
            # all of this spawn's records or none of them (and stops them before they run).
            self.proc_nursery.start_soon(
                functools.partial(
                    self._supervise,
                    rec,
                    launch=self._launch,
                    spawn_limiter=spawn_limiter,
                    ready_timeout=ready_timeout,
                    default_limiter=self._stop_limiter,
                )
            )
        sent: dict[int, Any] = {}
        while True:
            changed = self._changed
            for rec in recs:
                if sent.get(rec.create_rank) != rec.status:
                    sent[rec.create_rank] = rec.status
                    address = rec.address if rec.status.is_running else None
                    await emit(ProcUpdate(rec.create_rank, rec.status, address))
            if all(r.status.is_running or r.status.is_terminating for r in recs):
                break
            await changed.wait()
        return ProcStates([r.state(str(self.address)) for r in recs])

    async def _supervise(self, rec: ProcRecord, **kwargs: Any) -> None:
        """:func:`supervise`, then tell the proc's log subscribers it is gone (LG-5)."""
        try:
            await supervise(rec, **kwargs)
        finally:
            self.logs.forget(str(rec.proc_id))
            self.logs.proc_gone(rec.proc_mesh_id)

    def _prune(self) -> None:
        finished = [k for k, r in self.procs.items() if r.done.is_set()]
        for key in finished[: max(0, len(finished) - MAX_FINISHED_RECORDS)]:
            del self.procs[key]

    def proc_states(self, proc_mesh_id: ProcMeshId, keepalive: float | None) -> ProcStates:
        """States of one proc mesh's procs here; ``keepalive`` extends their expiry."""
        recs = [r for r in self.procs.values() if r.proc_mesh_id == proc_mesh_id]
        if keepalive is not None:
            expiry = trio.current_time() + keepalive
            for r in recs:
                r.expiry = expiry
            self._keepalive_changed.set()
            self._keepalive_changed = trio.Event()
            if recs and not self._reaping and self.service_nursery is not None:
                self._reaping = True
                self.service_nursery.start_soon(self.reap_orphans)
        return ProcStates([r.state(str(self.address)) for r in recs])

    def all_proc_states(self) -> HostProcStates:
        """Every proc record here, running or ended, grouped by proc mesh (ListProcStates)."""
        by_mesh: dict[ProcMeshId, list[ProcRow]] = {}
        for r in self.procs.values():
            row = ProcRow(
                str(r.proc_id),
                r.create_rank,
                str(r.status),
                r.pid,
                None if r.address is None else str(r.address),
                r.exit_code,
                r.signal,
                list(r.stderr_tail[-ADMIN_TAIL_LINES:]),
            )
            by_mesh.setdefault(r.proc_mesh_id, []).append(row)
        return HostProcStates({str(k): v for k, v in by_mesh.items()})

    async def watch(self, proc_mesh_id: ProcMeshId, emit: Emit) -> Any:
        """HA-8: stream the status changes of one proc mesh's procs here, its present states
        first, in order, until the caller cancels. Changes are queued per watcher, at most
        :data:`WATCH_BUFFER` of them: a watcher that falls behind loses the oldest, and is told
        how many (``ProcEvents.dropped``); the host never waits for it."""
        watcher = _Watcher()
        for rec in self.procs.values():
            if rec.proc_mesh_id == proc_mesh_id:
                watcher.push(_change(rec, None))
        self._watchers.setdefault(proc_mesh_id, set()).add(watcher)
        try:
            while True:
                await watcher.ready.wait()
                changes, dropped = watcher.take()
                await emit(ProcEvents(changes, dropped))
        finally:
            watchers = self._watchers.get(proc_mesh_id)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._watchers[proc_mesh_id]

    async def await_exit(
        self, proc_mesh_id: ProcMeshId, create_rank: int, timeout: float
    ) -> ProcStates:
        """One proc's state once it is terminated, or after ``timeout`` (empty if unknown)."""
        rec = self.procs.get(str(proc_id(proc_mesh_id, create_rank)))
        if rec is None or rec.proc_mesh_id != proc_mesh_id:
            return ProcStates([])
        with trio.move_on_after(timeout):
            while not rec.status.is_terminated:
                await self._changed.wait()
        return ProcStates([rec.state(str(self.address))])

    async def config_dump(self, proc_mesh_id: ProcMeshId, timeout: float) -> ProcMeshConfigs:
        """Ask each live proc of a proc mesh for its effective config, concurrently."""
        out: dict[int, Any] = {}
        recs = [r for r in self.procs.values() if r.proc_mesh_id == proc_mesh_id]

        async def one(rec: ProcRecord) -> None:
            if rec.peer is None:
                return
            try:
                reply = await rec.peer.call(GetProcConfig(), timeout=timeout)
            except MeshError:
                return
            if isinstance(reply, ProcConfig):
                out[rec.create_rank] = reply.config

        async with trio.open_nursery() as nursery:
            for rec in recs:
                nursery.start_soon(one, rec)
        return ProcMeshConfigs(out)

    # -- stopping ----------------------------------------------------------------------------
    async def _stop_records(
        self,
        recs: list[ProcRecord],
        reason: str,
        timeout: float,
        concurrency: int,
        emit: Emit | None = None,
    ) -> tuple[int, int]:
        """Stop ``recs`` through the ladder; wait until all are gone (HA-1).

        Each proc that is gone is reported through ``emit`` (a :class:`ProcUpdate`), so the
        caller can wait with an idle timeout however many procs there are.

        Returns:
            (ok, failed) counts.
        """
        limiter = trio.CapacityLimiter(max(1, min(256, concurrency)))
        for rec in recs:
            rec.request_stop(reason, timeout, limiter)
        for rec in recs:
            await rec.done.wait()
            if emit is not None:
                await emit(ProcUpdate(rec.create_rank, rec.status))
        failed = sum(1 for r in recs if r.stop_step == "unkillable")
        return len(recs) - failed, failed

    async def drain(
        self,
        host_mesh_id: HostMeshId | None,
        timeout: float,
        concurrency: int,
        emit: Emit | None = None,
    ) -> DrainReply:
        """Stop all procs, or those of one host mesh; the service side stays up (HA-2).

        A drain of one host mesh that finds none of its procs here is a no-op and records no
        events (every attach ends with one; they would push the host's history out).
        """
        started = time.time()
        full = host_mesh_id is None
        recs = [
            r
            for r in self.procs.values()
            if (full or r.host_mesh_id == host_mesh_id) and not r.done.is_set()
        ]
        if not full and not recs:
            return DrainReply(0, 0, 0, started, started, [])
        if full:
            self._full_drains += 1
            if self.state is HostState.SERVING:
                self.state = HostState.DRAINING
        self.event("drain_begin", "all" if full else f"host mesh {host_mesh_id}")
        try:
            ok, failed = await self._stop_records(
                recs, "drain", timeout, concurrency, _best_effort(emit)
            )
        finally:
            if full:
                self._full_drains -= 1
                if self._full_drains == 0 and self.state is HostState.DRAINING:
                    self.state = HostState.SERVING
        self.event("drain_end", f"attempted={len(recs)} ok={ok} failed={failed}")
        return DrainReply(len(recs), ok, failed, started, time.time(), list(self.events))

    async def shutdown(
        self, timeout: float, concurrency: int, emit: Emit | None = None
    ) -> ReplyThen:
        """Drain everything, then acknowledge, then stop serving (HA-3)."""
        self.state = HostState.SHUTTING_DOWN
        report = await self.drain(None, timeout, concurrency, emit)
        self.state = HostState.SHUTTING_DOWN
        self.event("shutdown", "acknowledging, then closing the service side")
        report = DrainReply(
            report.attempted,
            report.ok,
            report.failed,
            report.started_at,
            time.time(),
            list(self.events),
        )
        return ReplyThen(report, self.stop_serving.set)

    def _count_client(self, delta: int) -> None:
        self.clients += delta
        self._clients_changed.set()
        self._clients_changed = trio.Event()

    async def exit_when_orphaned(self, timeout: float) -> None:
        """HO-1: shut this host down once no client connection has been open for
        ``timeout`` seconds (HO-2: an open one, however idle, keeps it)."""
        while True:
            while self.clients > 0:
                await self._clients_changed.wait()
            with trio.move_on_after(timeout):
                while self.clients == 0:
                    await self._clients_changed.wait()
                continue
            break
        if self.state is HostState.SHUTTING_DOWN:
            return  # a client's Shutdown is already ending this host
        message = f"no client for {timeout:g} s: draining and exiting (host_orphan_timeout)"
        log.warning("%s: %s", self.address, message)
        self.event("orphaned_host", message)
        self.state = HostState.SHUTTING_DOWN
        await self.drain(
            None,
            self.cfg.get(config.MESH_TERMINATE_TIMEOUT),
            self.cfg.get(config.MESH_TERMINATE_CONCURRENCY),
        )
        self.state = HostState.SHUTTING_DOWN
        self.stop_serving.set()

    async def reap_orphans(self) -> None:
        """Stop procs whose keepalive expired (reason ``orphaned``).

        Runs (in the service nursery) from the first keepalive until no proc has one left; a
        later keepalive starts it again.
        """
        try:
            await self._reap_until_no_keepalive()
        finally:
            self._reaping = False

    async def _reap_until_no_keepalive(self) -> None:
        while True:
            expiries = [r.expiry for r in self.procs.values() if r.expiry is not None]
            if not expiries:
                return
            changed = self._keepalive_changed
            with trio.move_on_at(min(expiries)):
                await changed.wait()
                continue
            now = trio.current_time()
            expired = [
                r
                for r in self.procs.values()
                if r.expiry is not None and r.expiry <= now and not r.done.is_set()
            ]
            for rec in expired:
                rec.expiry = None
                self.event("orphaned", str(rec.proc_id))
                rec.request_stop(
                    "orphaned", self.cfg.get(config.PROCESS_EXIT_TIMEOUT), self._stop_limiter
                )
            for rec in self.procs.values():
                if rec.expiry is not None and rec.expiry <= now:
                    rec.expiry = None


WATCH_BUFFER = 4096
"""Status changes queued per watcher at most (HA-8)."""

WATCH_BATCH = 256
"""Status changes sent per event at most."""


def _change(rec: ProcRecord, old: Status | None) -> ProcChange:
    terminated = rec.status.is_terminated
    return ProcChange(
        create_rank=rec.create_rank,
        old=old,
        new=rec.status,
        at=time.time(),
        exit_code=rec.exit_code if terminated else None,
        signal=rec.signal if terminated else None,
        stderr_tail=list(rec.stderr_tail) if rec.status.is_failure else [],
    )


class _Watcher:
    """One watcher's queue of changes (HA-8): bounded, never waited for."""

    def __init__(self) -> None:
        self.changes: collections.deque[ProcChange] = collections.deque()
        self.dropped = 0
        self.ready = trio.Event()

    def push(self, change: ProcChange) -> None:
        if len(self.changes) >= WATCH_BUFFER:
            self.changes.popleft()
            self.dropped += 1
        self.changes.append(change)
        self.ready.set()

    def take(self) -> tuple[list[ProcChange], int]:
        n = min(len(self.changes), WATCH_BATCH)
        batch = [self.changes.popleft() for _ in range(n)]
        dropped, self.dropped = self.dropped, 0
        if not self.changes:
            self.ready = trio.Event()
        return batch, dropped


def _best_effort(emit: Emit | None) -> Emit | None:
    """``emit`` that never raises: a drain reports progress to its client while it can, and
    goes on when the client is gone (HA-6)."""
    if emit is None:
        return None
    send = emit
    gone = False

    async def best_effort(event: Any) -> None:
        nonlocal gone
        if gone:
            return
        try:
            await send(event)
        except MeshError:
            gone = True

    return best_effort


async def serve_host_agent(
    addr: ChannelAddr | str,
    *,
    token: str,
    cfg: config.Config | None = None,
    in_process_procs: bool = False,
    tls: ServerTLS | None = None,
    orphan_timeout: float | Literal["config"] | None = "config",
    task_status: trio.TaskStatus[ChannelAddr] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a host agent until it is shut down (then return) or cancelled.

    Start it with ``bound = await nursery.start(serve_host_agent, "tcp:127.0.0.1:0",
    token=...)``; the bound address is reported back. A Shutdown request drains every proc,
    is acknowledged, and then this returns (HA-3).

    Cancelling it stops every proc it still owns through the stop ladder, shielded (each
    proc: the ``mesh_terminate_timeout`` in force when it was spawned per step, plus a
    :data:`~meshtrio._contract.KILL_TIMEOUT` kill wait; at most
    ``mesh_terminate_concurrency`` at once; see :mod:`meshtrio._host.procs`), then closes the
    server and every connection (requests still waiting on it fail with
    ``ConnectionLostError``); nothing is left running.

    Timeouts come from ``cfg`` (``connect_timeout`` bounds each client's opening handshake,
    ``max_message_size`` each message) and, for spawns, from the client's pushed config
    (``host_spawn_ready_timeout``, ``mesh_spawn_concurrency``).

    Args:
        addr: where to listen (``tcp:127.0.0.1:0``, ``unix:``, ``local:0``, ...).
        token: the token every client and proc must present.
        cfg: the agent's config view (default: a fresh :class:`~meshtrio.config.Config`).
        in_process_procs: run procs that have no explicit bootstrap command as tasks in this
            process; procs with one are still OS processes (and need an address they can
            reach, not ``local:``).
        tls: serve ``wss`` only, with this certificate (and, with a CA, mutual TLS); its
            procs serve their actor endpoints with the same files (None: plaintext).
        orphan_timeout: exit after this many seconds without a client connection (HO-1);
            None: never; ``"config"`` (the default): ``cfg``'s ``host_orphan_timeout``
            (whose default is None).

    Raises:
        AddrParseError: ``addr`` is text that does not parse.
        InputError: ``token`` cannot be sent, or ``tls``'s files cannot be loaded (checked
            before anything starts).
        TransportError: ``addr`` cannot be listened on (address in use, ...).
    """
    if isinstance(addr, str):
        addr = ChannelAddr.parse(addr)
    check_token(token)  # here: inside the nursery below it would arrive in an ExceptionGroup
    cfg = cfg or config.Config()
    if tls is not None:
        tls.server_context()  # InputError here, not in an ExceptionGroup from the nursery
    orphan: float | None
    if orphan_timeout == "config":
        orphan = cfg.get(config.HOST_ORPHAN_TIMEOUT)
    elif orphan_timeout is None:
        orphan = None
    else:
        orphan = _seconds("orphan_timeout", orphan_timeout)
    agent = HostAgent(token=token, cfg=cfg, in_process_procs=in_process_procs)
    agent.tls = tls
    insecure = tls is None and not is_loopback(addr)
    try:
        async with trio.open_nursery() as service:
            agent.service_nursery = service
            agent.address = await service.start(
                functools.partial(
                    net.serve,
                    addr,
                    agent.on_connection,
                    token=agent.credentials,
                    max_size=cfg.get(config.MAX_MESSAGE_SIZE),
                    handshake_timeout=cfg.get(config.CONNECT_TIMEOUT),
                    on_refused=lambda reason: agent.event("bad_client", reason),
                    tls=tls,
                )
            )
            agent.event("started", str(agent.address))
            if not in_process_procs and cfg.get(config.HOST_FORK_SERVER):
                agent.fork_server = ForkServer(
                    preload=cfg.get(config.PROC_PRELOAD), on_event=agent.event
                )
                await service.start(agent.fork_server.run)
            if insecure:
                agent.event("insecure_bind", INSECURE_BIND_WARNING.format(addr=agent.address))
                log.warning(INSECURE_BIND_WARNING.format(addr=agent.address))
            if orphan is not None:
                service.start_soon(agent.exit_when_orphaned, orphan)
            async with trio.open_nursery() as procs:
                agent.proc_nursery = procs
                task_status.started(agent.address)
                del task_status  # it holds trio's temporary start nursery while we serve
                await agent.stop_serving.wait()
                procs.cancel_scope.cancel()
            service.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # A bind failure (address in use, ...) surfaces from the service nursery as a group of
        # one TransportError: hand the caller the error itself.
        leaves = group.exceptions
        if len(leaves) == 1 and isinstance(leaves[0], MeshError):
            raise leaves[0] from None
        raise
