"""One proc as its host agent sees it: its record, and the task that owns it.

Every proc is owned by one supervising task (:func:`supervise`) in the host agent's proc
nursery, inside the proc's own cancel scope. The task starts the proc, waits for readiness
(bounded by ``host_spawn_ready_timeout``), watches it exit, and maps what happened to a
:class:`~meshtrio._status.Status`. Cancelling the scope *is* the stop request: the task then
runs the handle's ladder (:meth:`~meshtrio._host.handle.ProcHandle.stop`: ask the proc, a
grace period, then SIGTERM and SIGKILL to an OS proc's process group, or cancelling a task
proc) shielded, holding a slot of the drain's :class:`trio.CapacityLimiter`, and only then ends.

Invariants owned here:

* PS-1 (no leak): when a supervising task ends, its proc has exited (or was reported
  ``unkillable`` after SIGKILL and the kill timeout).
* PS-2 (status order): a record's status only moves forward through
  NotExist, Initializing, Running, Stopping, then one terminated status.
* PS-3 (bounded stop): stopping takes at most ``grace + grace + KILL_TIMEOUT`` per proc plus
  the wait for a limiter slot (clients rely on it: PC-3, :func:`meshtrio._contract.stop_bound`).
* PS-4 (contained): whatever goes wrong while launching or watching one proc (a bug, a value
  the launcher cannot take) ends as that proc's ``Failed`` status, logged; it never escapes
  the supervising task, so it can neither take down the proc nursery nor the host agent.
  Not promised: a failure of the stop ladder itself (it only waits and sends signals).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio

from meshtrio._addr import ChannelAddr
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._contract import KILL_TIMEOUT
from meshtrio._errors import LaunchError, MeshError, TransportError
from meshtrio._host.handle import ProcHandle
from meshtrio._host.launcher import ExitInfo
from meshtrio._ids import HostMeshId, ProcId, ProcMeshId
from meshtrio._messages import AskProcToExit
from meshtrio._status import ProcState, Status
from meshtrio._transport.rpc import Peer

__all__ = ["ProcRecord", "supervise"]

log = logging.getLogger("meshtrio._host")


@attrs.define(eq=False)
class ProcRecord:
    """A host agent's record of one proc."""

    proc_id: ProcId
    proc_mesh_id: ProcMeshId
    host_mesh_id: HostMeshId
    create_rank: int
    host_rank: int
    command: BootstrapCommand | None
    bind: dict[str, str] | None
    config: dict[str, Any]
    tail_lines: int
    on_change: Callable[[ProcRecord], None]
    status: Status = Status.NOT_EXIST
    previous: Status | None = None
    """The status before the last change (for watchers)."""
    pid: int | None = None
    started_at: float | None = None
    updated_at: float = attrs.field(factory=time.time)
    exit_code: int | None = None
    signal: int | None = None
    stderr_tail: tuple[str, ...] = ()
    handle: ProcHandle | None = None
    peer: Peer | None = None
    ready: trio.Event = attrs.field(factory=trio.Event)
    done: trio.Event = attrs.field(factory=trio.Event)
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    stop_reason: str = "stopped"
    stop_timeout: float = 10.0
    limiter: trio.CapacityLimiter | None = None
    stop_step: str = ""
    expiry: float | None = None
    actor_token: str = attrs.field(default="", repr=False)  # a secret: never shown
    setup: bytes = attrs.field(default=b"", repr=False)
    region: str = ""
    address: ChannelAddr | None = None
    """Where the proc serves actors (from its ProcHello)."""
    log_rate: int = 1000
    """Lines per second forwarded to log subscribers (``proc_log_rate`` of its spawn, LG-3)."""

    def set_status(self, status: Status) -> None:
        """Move to ``status`` (PS-2: never backwards) and notify the agent."""
        if self.status.is_terminated or status.kind < self.status.kind:
            return
        self.previous = self.status
        self.status = status
        self.updated_at = time.time()
        self.on_change(self)

    def request_stop(self, reason: str, timeout: float, limiter: trio.CapacityLimiter) -> None:
        """Ask the supervising task to stop the proc (cancels its scope)."""
        if self.done.is_set():
            return
        self.stop_reason = reason
        self.stop_timeout = timeout
        self.limiter = limiter
        self.scope.cancel()

    def state(self, host: str) -> ProcState:
        """The state record users see."""
        return ProcState(
            status=self.status,
            proc_id=str(self.proc_id),
            create_rank=self.create_rank,
            host_rank=self.host_rank,
            host=host,
            pid=self.pid,
            started_at=self.started_at,
            updated_at=self.updated_at,
            exit_code=self.exit_code,
            signal=self.signal,
            stderr_tail=self.stderr_tail,
            address=None if self.address is None else str(self.address),
        )

    def record_exit(self, info: ExitInfo | None, *, deliberate: bool) -> None:
        """Map how the proc ended to its final status."""
        if info is None:
            self.set_status(Status.failed(f"proc {self.proc_id} survived SIGKILL (unkillable)"))
            return
        self.exit_code = info.code
        self.signal = info.signal
        self.stderr_tail = info.stderr_tail
        if deliberate or info.clean:
            self.set_status(Status.STOPPED)
        else:
            self.set_status(Status.failed(f"proc {self.proc_id} {info.describe()}"))


Launch = Callable[[ProcRecord, trio.Nursery], Any]
"""``await launch(rec, nursery)`` starts the proc and returns its handle (agent-provided)."""


async def _first_of(*waits: Callable[[], Any]) -> int:
    """Run the waits concurrently; return the index of the first to finish."""
    winner = -1
    async with trio.open_nursery() as nursery:
        for i, wait in enumerate(waits):

            async def run(i: int = i, wait: Callable[[], Any] = wait) -> None:
                nonlocal winner
                await wait()
                if winner < 0:
                    winner = i
                nursery.cancel_scope.cancel()

            nursery.start_soon(run)
    return winner


async def supervise(
    rec: ProcRecord,
    *,
    launch: Launch,
    spawn_limiter: trio.CapacityLimiter,
    ready_timeout: float,
    default_limiter: trio.CapacityLimiter,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Own one proc from launch to exit (PS-1). Cancel ``rec.scope`` to stop it."""
    task_status.started()
    try:
        async with trio.open_nursery() as io:
            with rec.scope:
                try:
                    await _start_and_watch(rec, io, launch, spawn_limiter, ready_timeout)
                except Exception as exc:  # PS-4: a bug here fails this proc, nothing else
                    log.exception("supervising proc %s failed", rec.proc_id)
                    rec.set_status(
                        Status.failed(f"proc {rec.proc_id}: internal error: {exc!r:.200}")
                    )
            if rec.handle is not None and not rec.handle.exited:
                with trio.CancelScope(shield=True):
                    await _stop(rec, rec.limiter or default_limiter)
            elif rec.handle is None:
                rec.set_status(Status.STOPPED if rec.scope.cancel_called else rec.status)
            io.cancel_scope.cancel()
    finally:
        if rec.handle is not None and not rec.handle.exited:
            # Cancelled from outside this proc's scope (the agent itself is going away).
            with trio.CancelScope(shield=True):
                await _stop(rec, rec.limiter or default_limiter)
        if not rec.status.is_terminated:  # cancelled before it ran, or from outside
            rec.set_status(Status.STOPPED)
        rec.done.set()


async def _start_and_watch(
    rec: ProcRecord,
    io: trio.Nursery,
    launch: Launch,
    spawn_limiter: trio.CapacityLimiter,
    ready_timeout: float,
) -> None:
    async with spawn_limiter:
        rec.set_status(Status.INITIALIZING)
        try:
            handle: ProcHandle = await launch(rec, io)
        except (LaunchError, MeshError) as exc:
            rec.set_status(Status.failed(f"proc {rec.proc_id} failed to launch: {exc}"))
            return
        except Exception as exc:  # PS-4: e.g. a payload that cannot be encoded
            log.exception("launching proc %s failed", rec.proc_id)
            rec.set_status(
                Status.failed(f"proc {rec.proc_id} failed to launch: internal error: {exc!r:.200}")
            )
            return
        rec.handle = handle
        rec.pid = handle.pid
        rec.started_at = time.time()
        winner = -1
        with trio.move_on_after(ready_timeout):
            winner = await _first_of(rec.ready.wait, handle.wait)
    if winner == 0:
        rec.set_status(Status.RUNNING)
    elif winner == 1:
        info = await handle.wait()
        rec.exit_code, rec.signal, rec.stderr_tail = info.code, info.signal, info.stderr_tail
        rec.set_status(
            Status.failed(
                f"proc {rec.proc_id} failed to configure process: exited before it was "
                f"ready: {info.describe()}"
            )
        )
        return
    else:
        rec.set_status(
            Status.failed(f"proc {rec.proc_id} did not become ready within {ready_timeout:g}s")
        )
        with trio.CancelScope(shield=True):
            await _stop(rec, trio.CapacityLimiter(1), status_fixed=True)
        return
    rec.record_exit(await handle.wait(), deliberate=False)


async def _stop(
    rec: ProcRecord, limiter: trio.CapacityLimiter, *, status_fixed: bool = False
) -> None:
    """The ladder for one proc, holding a slot of ``limiter`` (PS-3)."""
    handle = rec.handle
    assert handle is not None
    async with limiter:
        if not status_fixed:
            rec.set_status(Status.STOPPING)
        peer = rec.peer
        grace = rec.stop_timeout

        async def ask() -> None:
            if peer is None or peer.close_reason is not None:
                raise TransportError("no connection to the proc")
            await peer.call(AskProcToExit(rec.stop_reason), timeout=grace)

        # Each kind of proc has its own ladder (ProcHandle.stop), bounded as PS-3 says.
        info, rec.stop_step = await handle.stop(ask, grace=grace, kill_timeout=KILL_TIMEOUT)
    if status_fixed:
        if info is not None:
            rec.exit_code, rec.signal = info.code, info.signal
            rec.stderr_tail = info.stderr_tail
    else:
        rec.record_exit(info, deliberate=True)
