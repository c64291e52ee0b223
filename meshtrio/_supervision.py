"""Watching proc meshes, and supervision: a failure nobody handles is never silent.

Every host streams the status changes of a proc mesh's procs to whoever watches them
(``WatchProcs``, HA-8). :meth:`ProcMesh.watch <meshtrio.ProcMesh.watch>` turns those streams
into :class:`ProcEvent` records; the :class:`Supervisor` that :meth:`HostMesh.spawn
<meshtrio.HostMesh.spawn>` starts for every proc mesh watches the same streams for failures.

Invariants owned here:

* SV-1 (watch): ``watch()`` yields the present state of every proc (``old`` None), then every
  change, in order per proc, as its host saw it; nothing is lost while the consumer keeps up.
  Each host keeps at most 4096 changes per watcher, and the client at most
  :data:`WATCH_BUFFER` undelivered events: past either, the oldest go, and the next event
  says how many (``dropped``). Neither ever waits for the consumer. A host that cannot be
  reached any more ends its procs' events with one ``Unknown`` each.
* SV-2 (proc failures are raised): once ``spawn`` returned, a proc that its host reports
  failed (``Failed``: a crash, a kill, a bad exit), while its mesh is neither being stopped
  nor shut down, and while no call from this process is waiting on an actor of that proc,
  or was told of its death already (those calls fail with
  :class:`~meshtrio.errors.ActorDiedError`: the failure is theirs to surface), is a
  :class:`~meshtrio.errors.ProcFailedError` naming the rank, point, host, status and stderr
  tail. It goes where the spawn's ``on_failure`` says: ``"raise"`` (the
  default): it cancels the body of the ``async with`` block that owns the mesh, which, once
  the mesh is cleaned up as usual, raises it (the first one; later ones are left out);
  ``"log"``: a WARNING on ``meshtrio.supervision``; a callable: it is called with it (in
  meshtrio's reading task: keep it short) and the block goes on. A handler that
  raises ends the block with that exception as ``"raise"`` does. An expected end (``stop()``,
  ``shutdown()``, leaving the block, keepalive reaping: ``Stopped``) is never a failure.
* SV-3 (actor failures nobody awaits are raised): a ``broadcast`` that fails on an actor is
  an :class:`~meshtrio.errors.ActorFailedError` (its cause: the actor's error), handled as
  SV-2 says, with the handler of the proc mesh the actors run on.

Not promised: supervision of meshes reached through a reference inside a proc (no owner
block there), or of procs another client spawned; a lost host is logged, not raised (what
became of its procs nobody can tell; the stop or shutdown that ends the mesh names the
host in its ShutdownError, and calls to its actors fail with ActorDiedError).
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, Protocol

import attrs
import trio

from meshtrio._addr import ChannelAddr
from meshtrio._errors import MeshError, ProcFailedError, TransportError
from meshtrio._ids import ProcMeshId
from meshtrio._messages import ProcChange, ProcEvents, WatchProcs
from meshtrio._slicing import Point, Region
from meshtrio._status import Status
from meshtrio._transport.rpc import Peer, PendingCall
from meshtrio._wire import Envelope, EnvelopeKind

__all__ = ["OnFailure", "ProcEvent", "Supervisor", "watch_events"]

log = logging.getLogger("meshtrio.supervision")

WATCH_BUFFER = 8192
"""Events a client keeps for a ``watch()`` consumer that falls behind (SV-1)."""

CANCEL_BOUND = 1.0
"""Seconds spent telling hosts to stop a watch stream (best effort)."""

OnFailure = Callable[[MeshError], None]
"""A supervision handler: called with each ProcFailedError or ActorFailedError (SV-2)."""


@attrs.frozen
class ProcEvent:
    """One status change of one proc, as its host saw it (SV-1).

    Attributes:
        rank: the proc's rank in its proc mesh.
        point: its point in the proc mesh's region.
        host: its host's address (text).
        old: its status before (None: the state it had when the watch began).
        new: its status now.
        at: when its host saw the change (wall clock, ``time.time()``).
        exit_code: its exit code, once it exited.
        signal: the signal that killed it, if one did.
        stderr_tail: the last lines of its stderr, when it failed.
        dropped: how many events before this one were lost because the consumer fell behind.
    """

    rank: int
    point: Point
    host: str
    old: Status | None
    new: Status
    at: float
    exit_code: int | None = None
    signal: int | None = None
    stderr_tail: tuple[str, ...] = ()
    dropped: int = 0

    @property
    def status(self) -> Status:
        """The status now (``new``)."""
        return self.new

    @property
    def time(self) -> float:
        """When its host saw the change (``at``)."""
        return self.at


class WatchLink(Protocol):
    """What watching needs of a host mesh: its connection to each host."""

    async def host_peer(self, addr: ChannelAddr) -> Peer:
        """The mesh's connection to the host at ``addr``."""
        ...


class _Target(Protocol):
    """What watching needs of a proc mesh (a ProcMesh)."""

    id: ProcMeshId
    region: Region

    @property
    def procs(self) -> Sequence[Any]:
        """One ref per rank: ``create_rank``, ``host_rank``, ``host``."""
        ...


async def _open(
    link: WatchLink,
    mesh: _Target,
    deliver: Callable[[ProcEvent], None],
) -> list[PendingCall]:
    """Open one WatchProcs stream per host of ``mesh``; each event goes to ``deliver`` (in the
    connection's reading task). A host whose stream ends delivers ``Unknown`` for its ranks."""
    by_host: dict[str, list[Any]] = {}
    for ref in mesh.procs:
        by_host.setdefault(str(ref.host), []).append(ref)
    extent = mesh.region.extent
    calls: list[PendingCall] = []
    try:
        for host, refs in by_host.items():
            ranks = {ref.create_rank for ref in refs}

            def on_item(item: Any, host: str = host, ranks: set[int] = ranks) -> None:
                if isinstance(item, Envelope) and item.kind is EnvelopeKind.EVENT:
                    events = item.body
                    if isinstance(events, ProcEvents):
                        dropped = events.dropped
                        for change in events.changes:
                            if change.create_rank in ranks:
                                deliver(_event(change, extent, host, dropped))
                                dropped = 0
                    return
                if isinstance(item, TransportError | Envelope):  # the stream ended
                    for rank in sorted(ranks):
                        deliver(_lost(rank, extent, host, item))

            peer = await link.host_peer(refs[0].host)
            calls.append(await peer.send_request(WatchProcs(mesh.id), watcher=on_item))
    except BaseException:
        await _close(calls)
        raise
    return calls


async def _close(calls: Sequence[PendingCall]) -> None:
    """Stop the streams (CANCEL each, best effort and bounded), shielded."""
    with trio.CancelScope(shield=True), trio.move_on_after(CANCEL_BOUND):
        for call in calls:
            call.forget()
            await call.send_cancel()


def _event(change: ProcChange, extent: Any, host: str, dropped: int) -> ProcEvent:
    return ProcEvent(
        rank=change.create_rank,
        point=extent.point_of_rank(change.create_rank),
        host=host,
        old=change.old,
        new=change.new,
        at=change.at,
        exit_code=change.exit_code,
        signal=change.signal,
        stderr_tail=tuple(change.stderr_tail),
        dropped=dropped,
    )


def _lost(rank: int, extent: Any, host: str, why: Any) -> ProcEvent:
    reason = why if isinstance(why, TransportError) else "its host ended the watch"
    return ProcEvent(
        rank=rank,
        point=extent.point_of_rank(rank),
        host=host,
        old=None,
        new=Status.UNKNOWN,
        at=time.time(),
        stderr_tail=(f"lost contact with host {host}: {reason}",),
    )


async def watch_events(link: WatchLink, mesh: _Target) -> AsyncGenerator[ProcEvent, None]:
    """SV-1: the events of ``mesh``'s procs, as :meth:`ProcMesh.watch` yields them."""
    queue: collections.deque[ProcEvent] = collections.deque()
    state = {"dropped": 0}
    wake = [trio.Event()]

    def deliver(event: ProcEvent) -> None:
        if len(queue) >= WATCH_BUFFER:
            queue.popleft()
            state["dropped"] += 1
        queue.append(event)
        wake[0].set()

    calls = await _open(link, mesh, deliver)
    try:
        while True:
            while not queue:
                if all(c.done for c in calls):
                    return
                await wake[0].wait()
                wake[0] = trio.Event()
            event = queue.popleft()
            if state["dropped"]:
                event = attrs.evolve(event, dropped=event.dropped + state["dropped"])
                state["dropped"] = 0
            yield event
    finally:
        await _close(calls)


class Supervisor:
    """SV-2: watches one proc mesh for failures while it runs, and reports each to
    ``report`` (the owner's handler, or the owning block's supervision).

    Args:
        link: the host mesh's connections.
        mesh: the proc mesh.
        report: called with each failure, in the connection's reading task.
        busy: whether calls (to actors on that proc) are waiting on a rank: its failure is
            then theirs to surface (as ActorDiedError), not the block's.
    """

    def __init__(
        self,
        link: WatchLink,
        mesh: _Target,
        report: OnFailure,
        busy: Callable[[int], bool] = lambda _rank: False,
    ) -> None:
        self._link = link
        self._mesh = mesh
        self._report = report
        self._busy = busy
        self._calls: list[PendingCall] = []
        self.active = False

    async def start(self) -> None:
        """Open the watch streams; failures are reported from now on."""
        self.active = True
        self._calls = await _open(self._link, self._mesh, self._on_event)

    def quiet(self) -> None:
        """From now on nothing is a failure (the mesh is being stopped or shut down)."""
        self.active = False

    async def stop(self) -> None:
        """Stop watching (quiet first)."""
        self.quiet()
        calls, self._calls = self._calls, []
        await _close(calls)

    def _on_event(self, event: ProcEvent) -> None:
        if not self.active:
            return
        new = event.new
        if new.kind is Status.UNKNOWN.kind:
            # A lost host: what became of its procs nobody can say yet; the stop or shutdown
            # that ends the mesh reports the host (ShutdownError), and calls to its actors
            # fail (ActorDiedError). Said here, not raised.
            log.warning(
                "proc mesh %s: lost contact with host %s (rank %d)",
                self._mesh.id,
                event.host,
                event.rank,
            )
            return
        if not new.is_failure:
            return
        if self._busy(event.rank):
            return  # calls are waiting on it: they fail with ActorDiedError, theirs to handle
        why = str(new)
        self._report(
            ProcFailedError(
                f"proc rank {event.rank} ({event.point}) of proc mesh {self._mesh.id} on host "
                f"{event.host} failed: {why}",
                rank=event.rank,
                point=event.point,
                proc_mesh=str(self._mesh.id),
                host=event.host,
                status=new,
                exit_code=event.exit_code,
                signal=event.signal,
                stderr_tail=event.stderr_tail,
            )
        )
