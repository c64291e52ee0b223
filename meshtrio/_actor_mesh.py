"""Actor meshes (client side): spawn actors on a proc mesh and call their endpoints.

``await procs.spawn("name", Cls, *args, **kwargs)`` builds one actor per proc
(:func:`spawn_actor_mesh`) and returns an :class:`ActorMesh`; ``mesh.some_endpoint`` is an
:class:`Endpoint` with ``call`` (every actor, a :class:`~meshtrio.ValueMesh`), ``call_one``
(a mesh of one), ``choose`` (one actor, picked here), ``broadcast`` (fire and forget) and
``stream`` (replies as they arrive).

Invariants owned here:

* AM-1 (direct, owned): calls go straight to each proc's own actor endpoint (PR-3), never
  through a host agent, over connections owned by the actor mesh's owner: the ``async with``
  block of its host mesh (closed with it, which cancels the calls still running on the
  procs, RPC-4), or inside a proc, the proc (for a mesh that arrived in a message).
* AM-2 (checked before sending): arguments that cannot be pickled or are too large
  (:class:`~meshtrio.errors.PayloadError`, naming the argument), ``call_one`` on more than
  one actor and an unknown endpoint (:class:`~meshtrio.errors.InputError`) fail before
  anything is sent; so does a call on a mesh this client stopped (MeshClosedError).
* AM-3 (order and backpressure): the calls one caller (one process) sends to one actor arrive
  in the order they were sent (one connection per proc) and start in that order (AS-1). At
  most ``actor_mailbox_capacity`` calls per actor are in flight from one process; more
  wait for a reply first.
* AM-4 (cancellation and deadlines cross): a call carries the time left of the caller's
  deadline, and the endpoint runs under it (AS-3). When the caller is cancelled the call
  sends CANCEL and waits for the actor's acknowledgement at most
  ``actor_cancel_ack_timeout`` seconds, then the cancellation goes on (RPC-5).
* AM-5 (death at once): when a proc's connection ends, every call in flight to its actors
  fails at once (RPC-1) with :class:`~meshtrio.errors.ActorDiedError` naming the rank, the
  proc's status and stderr tail as its host reports them (it waits for that at most
  ``actor_death_report_timeout``); later calls to that rank fail at once with the same error.
  Not promised: the status inside a proc (a reference that arrived in a message cannot ask
  hosts), where it is None.
* AM-6 (call outcomes): ``call`` returns a ValueMesh when every actor succeeded. Otherwise it
  raises, once every actor answered, the error of the lowest failing rank
  (:class:`~meshtrio.errors.ActorError` if its code raised, ActorDiedError if it is gone) with
  ``failures`` (every failing rank's error) and ``values`` (every other rank's value).
* AM-7 (broadcast is never silent): a failure a broadcast causes is logged at WARNING with
  the rank, counted in :attr:`ActorMesh.broadcast_failures` and kept in
  :attr:`ActorMesh.recent_broadcast_errors`.
* AM-8 (choose): picks the live actor with the fewest calls in flight from this process,
  ties broken round-robin; dead and stopped actors are skipped. A call that fails is not
  retried on another actor (it may have had effects).
* AM-9 (spawn is all or nothing): spawn returns once every actor's ``__init__`` returned;
  if one raised (ActorError naming the rank, with the remote traceback) or its proc is gone,
  the actors already built are stopped and no mesh is returned. Cancelling spawn stops them
  too.
"""

from __future__ import annotations

import collections
import copy
import logging
import math
import secrets
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs
import trio

from meshtrio import _config as config
from meshtrio._actor_class import EndpointInfo, endpoints_of
from meshtrio._actor_messages import ActorReply, CallActor, SpawnActor, StopActor
from meshtrio._addr import ChannelAddr
from meshtrio._errors import (
    ActorDiedError,
    ActorError,
    ActorFailedError,
    ConnectionLostError,
    HostUnreachableError,
    InputError,
    MeshClosedError,
    MeshError,
)
from meshtrio._ids import Label, ProcMeshId
from meshtrio._messages import AwaitProcExit, ProcStates
from meshtrio._payload import dump_args, load, load_exception
from meshtrio._pool import ConnectionPool, ambient_pool
from meshtrio._slicing import Point, Region, ValueMesh
from meshtrio._stack_records import ProcStacks
from meshtrio._stacks import STACKS_DIRECT_TIMEOUT, gather_stacks
from meshtrio._status import ProcState, Status
from meshtrio._transport.rpc import Peer, PendingCall
from meshtrio._wire import Envelope, EnvelopeKind, Prepared

__all__ = ["ActorMesh", "Endpoint", "ProcTarget", "spawn_actor_mesh"]

log = logging.getLogger("meshtrio.actors")

A = TypeVar("A")

_NOT_FAILURES = frozenset({"Cancelled", "DeadlineExceeded"})
"""Broadcast outcomes that are counted (AM-7) but are no actor failure (SV-3): the caller's
own cancellation or deadline."""

DEATH_REPORT_SLACK = 1.0
"""Seconds a caller waits for a host's death report beyond the time the host itself waits."""

RECENT_BROADCAST_ERRORS = 32
"""Broadcast failures kept per actor mesh (the count keeps counting)."""


@attrs.frozen
class ProcTarget:
    """Where one actor of a mesh lives: its proc (rank = the proc's create rank)."""

    rank: int
    proc_id: str
    address: ChannelAddr | None
    host: ChannelAddr


class _Shared:
    """What an actor mesh and its slices share in one process: where its actors are, how to
    reach them, and what this process knows of them (dead, stopped, calls in flight)."""

    def __init__(
        self,
        *,
        key: str,
        name: str,
        class_name: str,
        endpoints: Mapping[str, EndpointInfo],
        region: Region,
        targets: Sequence[ProcTarget],
        proc_mesh_id: ProcMeshId,
        token: str,
        link: Any = None,
    ) -> None:
        self.key = key
        self.name = name
        self.class_name = class_name
        self.endpoints = dict(endpoints)
        self.region = region
        self.targets = {t.rank: t for t in targets}
        # Procs in this very process (local:) share our modules; others get local code by
        # value (PL-3).
        self.by_value = any(t.address is None or t.address.transport != "local" for t in targets)
        self.proc_mesh_id = proc_mesh_id
        self.token = token
        self.link = link  # a host mesh link (client side), or None (inside a proc)
        self.report: Callable[[MeshError], None] | None = None
        """Where failures nobody awaits go (SV-3): the owner's supervision; None in a proc."""
        self.deaths: dict[int, ActorDiedError] = {}
        self._resolving: dict[int, trio.Event] = {}
        self.stopped: set[int] = set()
        self.stopping: set[int] = set()
        self.surfaced: set[int] = set()
        """Ranks whose proc's death a call from this process was told of (ActorDiedError)."""
        self.in_flight: collections.Counter[int] = collections.Counter()
        self._windows: dict[int, trio.Semaphore] = {}
        self._peers: dict[int, Peer] = {}
        self.calls: dict[int, set[_Call]] = {}
        """The calls in flight from this process, per rank."""
        self.next_choice = 0
        self.broadcast_failures = 0
        self.recent_broadcast_errors: collections.deque[MeshError] = collections.deque(
            maxlen=RECENT_BROADCAST_ERRORS
        )

    def point(self, rank: int) -> Point:
        return self.region.extent.point_of_rank(rank)

    def gone(
        self,
        rank: int,
        why: str,
        *,
        status: Status | None = None,
        stderr_tail: Sequence[str] = (),
    ) -> ActorDiedError:
        """The ActorDiedError for ``rank``, saying ``why``."""
        return ActorDiedError(
            f"actor {self.name} rank {rank} ({self.point(rank)}) is gone: {why}",
            rank=rank,
            point=self.point(rank),
            actor=self.name,
            proc_id=self.targets[rank].proc_id,
            status=status,
            stderr_tail=stderr_tail,
        )

    def window(self, rank: int) -> trio.Semaphore:
        sem = self._windows.get(rank)
        if sem is None:
            sem = self._windows[rank] = trio.Semaphore(config.get(config.ACTOR_MAILBOX_CAPACITY))
        return sem

    def check(self, rank: int) -> None:
        """Raise at once for a rank this process knows cannot be called (AM-2, AM-5)."""
        if rank in self.stopped:
            raise MeshClosedError(f"actor mesh {self.name}: rank {rank} was stopped by this client")
        death = self.deaths.get(rank)
        if death is not None:
            raise _copy_death(death)

    def live_peer(self, rank: int) -> Peer | None:
        """The open connection to ``rank``'s proc, if there is one (the hot path)."""
        known = self._peers.get(rank)
        return known if known is not None and known.close_reason is None else None

    async def peer(self, rank: int) -> Peer:
        known = self.live_peer(rank)
        if known is not None:
            return known
        peer = await self._connect(rank)
        self._peers[rank] = peer
        return peer

    async def _connect(self, rank: int) -> Peer:
        target = self.targets[rank]
        if target.address is None:
            raise self.gone(rank, f"its proc {target.proc_id} serves no actors")
        if self.link is not None:
            peer: Peer = await self.link.peer(target.address, self.token)
            return peer
        pool: ConnectionPool | None = ambient_pool()
        if pool is None:
            raise MeshClosedError(
                f"actor mesh {self.name} has no connections here: a reference that arrived "
                "in a message works inside a proc; on the client, use the mesh spawn returned"
            )
        return await pool.peer(target.address, token=self.token)

    async def died(self, rank: int, cause: MeshError) -> MeshError:
        """The ActorDiedError for ``rank`` after its connection failed with ``cause``, or
        ``cause`` itself when the proc's host says the proc still runs (AM-5)."""
        known = self.deaths.get(rank)
        if known is not None:
            return _copy_death(known)
        resolving = self._resolving.get(rank)
        bound = config.get(config.ACTOR_DEATH_REPORT_TIMEOUT)
        if resolving is not None:  # another call is asking the host already
            with trio.move_on_after(bound + 1.0):
                await resolving.wait()
            known = self.deaths.get(rank)
            return cause if known is None else _copy_death(known)
        resolving = self._resolving[rank] = trio.Event()
        try:
            state = await self._exit_state(rank, bound)
            if state is not None and not state.status.is_terminating:
                return cause  # the proc runs: the connection broke for another reason
            death = self._death(rank, state, cause)
            self.surfaced.add(rank)  # a caller has this death: supervision leaves it (SV-2)
            if state is not None:
                self.deaths[rank] = death  # its host says it ended: later calls fail at once
            # else nobody could say (no host to ask here, or it did not answer): this call
            # fails, and the next one tries the proc again (it fails fast if the proc is gone)
            return death
        finally:
            resolving.set()
            del self._resolving[rank]

    async def _exit_state(self, rank: int, bound: float) -> ProcState | None:
        """How the proc ended, as its host reports it; None if the host cannot say. The host
        answers when the proc ended or after ``bound`` (with its state then, Running for a
        proc that lives on), so we wait a little longer than that."""
        if self.link is None:
            return None
        target = self.targets[rank]
        with trio.move_on_after(bound + DEATH_REPORT_SLACK):
            try:
                reply = await self.link.call(
                    target.host,
                    AwaitProcExit(self.proc_mesh_id, rank, bound),
                    timeout=bound + DEATH_REPORT_SLACK,
                )
            except MeshError:
                return None
            if isinstance(reply, ProcStates) and reply.states:
                return reply.states[0]
        return None

    def _death(self, rank: int, state: ProcState | None, cause: MeshError) -> ActorDiedError:
        target = self.targets[rank]
        if state is None:
            why = f"the connection to its proc {target.proc_id} ended ({cause})"
            if self.link is not None:
                why += "; its host did not say how the proc ended"
            return self.gone(rank, why)
        return self.gone(
            rank,
            f"its proc {target.proc_id} on host {target.host}: {state.status}",
            status=state.status,
            stderr_tail=state.stderr_tail,
        )


def _copy_death(err: ActorDiedError) -> ActorDiedError:
    """A fresh copy of a recorded death (a raised exception collects a traceback)."""
    return copy.copy(err)


class _Call:
    """One call in flight to one rank: its window slot (none for control messages) and
    in-flight count are given back, and its answer forgotten, exactly once (:meth:`finish`,
    which a watcher may call from the reading task even before :func:`_start` returned)."""

    __slots__ = ("_finished", "pending", "rank", "sem", "shared")

    def __init__(self, shared: _Shared, rank: int, sem: trio.Semaphore | None) -> None:
        self.shared = shared
        self.rank = rank
        self.sem = sem
        self.pending: PendingCall | None = None
        self._finished = False
        shared.in_flight[rank] += 1
        shared.calls.setdefault(rank, set()).add(self)

    @property
    def finished(self) -> bool:
        return self._finished

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.sem is not None:
            self.sem.release()
        self.shared.in_flight[self.rank] -= 1
        self.shared.calls[self.rank].discard(self)
        if self.pending is not None:
            self.pending.forget()


class ActorMesh(Generic[A]):
    """Actors, one per proc of a proc mesh (or a slice of them). Made by
    :meth:`ProcMesh.spawn <meshtrio.ProcMesh.spawn>`.

    ``mesh.<endpoint>`` is an :class:`Endpoint`; an unknown name is an ``AttributeError``.
    An actor mesh pickles (as a reference: pass it to another actor's endpoint, which can
    call it from its proc). See the module docstring for the invariants (AM-1..AM-9).

    Attributes:
        name: the name it was spawned with.
        region: its region (the proc mesh's, or a slice of it).
    """

    def __init__(self, shared: _Shared, region: Region) -> None:
        self._shared = shared
        self.region = region
        self._ranks = tuple(region.base_ranks())
        self._endpoints: dict[str, Endpoint[Any]] = {}

    @property
    def name(self) -> str:
        """The name it was spawned with."""
        return self._shared.name

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The names of its endpoints."""
        return tuple(sorted(self._shared.endpoints))

    @property
    def broadcast_failures(self) -> int:
        """How many broadcast calls failed, in this process, on any slice of the mesh (AM-7)."""
        return self._shared.broadcast_failures

    @property
    def recent_broadcast_errors(self) -> list[MeshError]:
        """The most recent broadcast failures (at most 32), oldest first (AM-7)."""
        return list(self._shared.recent_broadcast_errors)

    def __len__(self) -> int:
        return len(self._ranks)

    def __repr__(self) -> str:
        return f"<ActorMesh {self._shared.name} ({self._shared.class_name}) {self.region}>"

    def __getattr__(self, name: str) -> Endpoint[Any]:
        if name.startswith("__") or name in ("_shared", "_endpoints"):
            raise AttributeError(name)  # not an endpoint (and not yet set, if unpickling)
        known = self._endpoints.get(name)
        if known is not None:
            return known
        info = self._shared.endpoints.get(name)
        if info is None:
            names = ", ".join(sorted(self._shared.endpoints)) or "none"
            raise AttributeError(
                f"{self._shared.class_name} has no endpoint {name!r} (endpoints: {names})"
            )
        endpoint = self._endpoints[name] = Endpoint(self, info)
        return endpoint

    def _waiting_on(self, rank: int) -> bool:
        """Whether a call from this process waits on the actor at ``rank`` (any slice), or
        one already got the ActorDiedError of its proc (the host's report of the death and
        the supervision event come in either order)."""
        shared = self._shared
        return bool(shared.calls.get(rank)) or rank in shared.surfaced

    def endpoint(self, name: str) -> Endpoint[Any]:
        """The endpoint called ``name`` (as ``mesh.<name>``).

        Raises:
            InputError: the actor class has no such endpoint.
        """
        try:
            return self.__getattr__(name)
        except AttributeError as exc:
            raise InputError(str(exc)) from None

    def slice(self, **selectors: int | slice | range) -> ActorMesh[A]:
        """The actors at a sub-region, sharing this mesh's connections.

        Each selector is a dimension label with an ``int`` (Python indexing: the dimension
        is removed, as :meth:`Region.at <meshtrio.Region.at>`) or a ``slice``/``range`` (the
        dimension is kept, as :meth:`Region.range <meshtrio.Region.range>`), applied in the
        order given.

        Raises:
            DimensionError, RankIndexError, EmptyRangeError, SliceError: as the region's
                ``at``/``range`` raise them.
            InputError: a selector of another type.
        """
        return ActorMesh(self._shared, self.region.select(**selectors))

    def __reduce__(self) -> tuple[Any, ...]:
        s = self._shared
        targets = tuple(s.targets.values())
        state = (s.key, s.name, s.class_name, s.endpoints, s.region, targets, s.proc_mesh_id)
        return (_rebuild, (state, s.token, self.region))

    async def stacks(self, *, timeout: float = STACKS_DIRECT_TIMEOUT) -> ValueMesh[ProcStacks]:
        """Where the procs of these actors are: each thread's Python stack and the Trio task
        tree (an endpoint running or waiting shows in it), per rank, over :attr:`region`.

        As :meth:`ProcMesh.stacks <meshtrio.ProcMesh.stacks>` (ST-1..ST-4), over this mesh's
        connections. A mesh that arrived in a message (inside a proc) has no host to fall
        back on: a proc that does not answer in ``timeout`` gets an ``error``.

        Raises:
            InputError: ``timeout`` is not finite seconds > 0.
        """
        shared = self._shared
        return await gather_stacks(
            region=self.region,
            full=shared.region,
            targets=shared.targets,
            proc_mesh_id=shared.proc_mesh_id,
            connect=shared.peer,
            hosts=shared.link,
            timeout=timeout,
        )

    async def stop(self) -> None:
        """Stop these actors on their procs; the procs keep running.

        Calls in flight to them end with :class:`~meshtrio.errors.ActorDiedError`; later
        calls through this mesh (any slice of it, in this process) raise MeshClosedError.
        Each proc is bounded by ``request_timeout``; actors whose proc is gone are skipped.
        Cancelling it abandons the requests (procs that received one still stop the actor).
        """
        shared = self._shared
        ranks = [r for r in self._ranks if r not in shared.stopped and r not in shared.deaths]
        shared.stopping.update(ranks)  # what the stop does to calls is no failure (SV-3)
        try:
            with trio.move_on_after(config.get(config.REQUEST_TIMEOUT)):
                await _gather_replies(shared, ranks, StopActor(shared.key), quiet=True)
        finally:
            shared.stopped.update(ranks)
            # Calls still waiting (their proc did not answer in time) end here, now.
            stopped = ActorReply(ok=False, kind="ActorStopped", message="stopped by this client")
            for rank in ranks:
                for call in list(shared.calls.get(rank, ())):
                    if call.pending is not None and not call.pending.done:
                        call.pending.settle(stopped)


def _rebuild(state: tuple[Any, ...], token: str, region: Region) -> ActorMesh[Any]:
    key, name, class_name, endpoints, full, targets, proc_mesh_id = state
    shared = _Shared(
        key=key,
        name=name,
        class_name=class_name,
        endpoints=endpoints,
        region=full,
        targets=targets,
        proc_mesh_id=proc_mesh_id,
        token=token,
    )
    return ActorMesh(shared, region)


async def _start(
    shared: _Shared,
    rank: int,
    body: Any,
    watcher: Callable[[_Call, Any], None] | None = None,
) -> _Call:
    """Send one request to ``rank`` (AM-3: a call waits for a window slot first; a control
    message, SpawnActor or StopActor, does not); the call is in flight when this returns."""
    shared.check(rank)
    sem: trio.Semaphore | None = None
    if not isinstance(body, SpawnActor | StopActor):
        sem = shared.window(rank)
        try:
            sem.acquire_nowait()
        except trio.WouldBlock:
            await sem.acquire()
            body = _with_time_left(body)  # the wait used some of the caller's time (AM-4)
    call = _Call(shared, rank, sem)
    try:
        peer = shared.live_peer(rank) or await shared.peer(rank)
        watch = None if watcher is None else (lambda item: watcher(call, item))
        call.pending = await peer.send_request(body, watcher=watch)
    except (HostUnreachableError, ConnectionLostError) as exc:  # maybe gone: ask its host
        call.finish()
        raise await shared.died(rank, exc) from None
    except BaseException:
        call.finish()
        raise
    if call.finished:  # answered (and finished by its watcher) while we were sending
        call.pending.forget()
    return call


FAN_OUT_TASKS_FROM = 3
"""From this many ranks on, a fan-out of a small message sends from a task per rank: the
first call to a proc connects (a few round trips), and a send queued behind another on the
same connection yields, so tasks overlap those waits where a loop would pay them in turn."""

FAN_OUT_TASKS_MAX_BYTES = 64 * 1024
"""Larger messages are sent one rank after another: writing them is copying, which tasks
would only interleave (and split into more system calls)."""


async def _start_all(
    shared: _Shared,
    ranks: Sequence[int],
    body_for: Callable[[int], Any],
    calls: list[_Call],
    watcher: Callable[[_Call, Any], None] | None = None,
) -> dict[int, MeshError]:
    """Start ``body_for(rank)`` on every rank; the calls started are appended to ``calls`` in
    rank order (also when this is cancelled midway, so the caller can CANCEL them); returns
    the error of each rank that could not be started."""
    started: dict[int, _Call] = {}
    errors: dict[int, MeshError] = {}

    async def one(rank: int) -> None:
        try:
            started[rank] = await _start(shared, rank, body_for(rank), watcher)
        except MeshError as exc:
            errors[rank] = exc

    try:
        if len(ranks) < FAN_OUT_TASKS_FROM or _payload_size(body_for(ranks[0])) > (
            FAN_OUT_TASKS_MAX_BYTES
        ):
            for rank in ranks:
                await one(rank)
        else:
            async with trio.open_nursery() as nursery:
                for rank in ranks:
                    nursery.start_soon(one, rank)
    finally:
        calls.extend(started[r] for r in ranks if r in started)
    return errors


def _payload_size(body: Any) -> int:
    """The size of the pickled payload a request carries."""
    if isinstance(body, Prepared):
        payload = body.raw.get("payload", b"") if isinstance(body.raw, dict) else b""
    else:
        payload = getattr(body, "payload", b"")
    return len(payload) if isinstance(payload, bytes) else 0


async def _wait(call: _Call) -> Any:
    """The call's reply (an ActorReply), or raise; on cancellation, CANCEL it first (AM-4)."""
    assert call.pending is not None
    try:
        return await call.pending.result()
    except trio.Cancelled:
        with trio.CancelScope(shield=True):
            await call.pending.cancel_remote(config.get(config.ACTOR_CANCEL_ACK_TIMEOUT))
        raise
    except ConnectionLostError as exc:  # a ProtocolError about one reply is not a death
        raise await call.shared.died(call.rank, exc) from None
    finally:
        call.finish()


async def _cancel_all(calls: Sequence[_Call]) -> None:
    """CANCEL every call still in flight, then wait for their acknowledgements, all within
    one ``actor_cancel_ack_timeout`` (AM-4); shielded."""
    live = [c.pending for c in calls if c.pending is not None and not c.pending.done]
    if not live:
        return
    with (
        trio.CancelScope(shield=True),
        trio.move_on_after(config.get(config.ACTOR_CANCEL_ACK_TIMEOUT)),
    ):
        for pending in live:
            await pending.send_cancel()
        for pending in live:
            await pending.wait_final()


async def _gather_replies(
    shared: _Shared, ranks: Sequence[int], body: Any, *, quiet: bool = False
) -> dict[int, Any]:
    """Send ``body`` to every rank, then collect every reply: rank to ActorReply, or to the
    MeshError that rank raised. ``quiet``: errors are left out."""
    calls: list[_Call] = []
    out: dict[int, Any] = {}
    try:
        errors = await _start_all(shared, ranks, lambda _rank: body, calls)
        if not quiet:
            out.update(errors)
        for call in calls:
            try:
                out[call.rank] = await _wait_plain(call)
            except MeshError as exc:
                if not quiet:
                    out[call.rank] = exc
    except BaseException:
        await _cancel_all(calls)
        raise
    finally:
        for call in calls:
            call.finish()
    return out


async def _wait_plain(call: _Call) -> Any:
    """:func:`_wait` without the per-call CANCEL (a batch cancels all its calls at once)."""
    assert call.pending is not None
    try:
        return await call.pending.result()
    except ConnectionLostError as exc:  # a ProtocolError about one reply is not a death
        raise await call.shared.died(call.rank, exc) from None


def _with_time_left(body: Any) -> Any:
    """``body`` (a CallActor, maybe prepared) with the time left of the caller's deadline now."""
    if isinstance(body, Prepared) and body.name == "CallActor" and isinstance(body.raw, dict):
        return Prepared(body.name, {**body.raw, "timeout": _deadline_left()})
    if isinstance(body, CallActor):
        return attrs.evolve(body, timeout=_deadline_left())
    return body


def _deadline_left() -> float | None:
    deadline = trio.current_effective_deadline()
    if deadline == math.inf:
        return None
    return max(0.0, deadline - trio.current_time())


class Endpoint(Generic[A]):
    """One endpoint of an actor mesh: ``call``, ``call_one``, ``choose``, ``broadcast``,
    ``stream`` (see :class:`ActorMesh` and AM-1..AM-8)."""

    def __init__(self, mesh: ActorMesh[Any], info: EndpointInfo) -> None:
        self._mesh = mesh
        self._info = info

    @property
    def name(self) -> str:
        """The endpoint's name."""
        return self._info.name

    def __repr__(self) -> str:
        return f"<Endpoint {self._mesh._shared.class_name}.{self._info.name} of {self._mesh!r}>"

    def _request(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """The CallActor for these arguments, pickled and checked once (AM-2)."""
        shared = self._mesh._shared
        what = f"{shared.class_name}.{self._info.name}"
        payload = dump_args(
            args,
            kwargs,
            max_size=config.get(config.MAX_MESSAGE_SIZE),
            what=what,
            by_value=shared.by_value,
        )
        msg = CallActor(shared.key, self._info.name, payload, _deadline_left())
        # A call to many actors is unstructured once; one to a single actor need not be.
        return msg if len(self._mesh._ranks) == 1 else Prepared.of(msg)

    def _value(self, rank: int, reply: Any) -> Any:
        """The value an ActorReply carries, or the error it stands for."""
        shared = self._mesh._shared
        if not isinstance(reply, ActorReply):
            raise ActorError(
                f"actor {shared.name} rank {rank}: unexpected reply {type(reply).__name__}",
                rank=rank,
                point=shared.point(rank),
                actor=shared.name,
                endpoint=self._info.name,
                kind="ProtocolError",
            )
        if reply.ok:
            try:
                return load(reply.payload)
            except Exception as exc:
                raise self._error(
                    rank,
                    ActorReply(
                        ok=False,
                        kind="PayloadError",
                        message=f"the result cannot be unpickled here: {type(exc).__name__}: {exc}"[
                            :500
                        ],
                    ),
                ) from exc
        raise self._error(rank, reply)

    def _error(self, rank: int, reply: ActorReply) -> MeshError:
        shared = self._mesh._shared
        if reply.kind in ("ActorStopped", "NoSuchActor"):
            return shared.gone(rank, reply.message)
        return _remote_error(shared, rank, self._info.name, reply)

    async def _finish(self, rank: int, reply: Any) -> Any:
        """:meth:`_value`, except that an answer saying the caller's deadline passed waits for
        that deadline to cancel the caller, as it is about to (AM-4)."""
        if isinstance(reply, ActorReply) and reply.kind == "DeadlineExceeded":
            with trio.move_on_after(config.get(config.ACTOR_CANCEL_ACK_TIMEOUT)):
                await trio.sleep_forever()
        return self._value(rank, reply)

    async def call(self, *args: Any, **kwargs: Any) -> ValueMesh[Any]:
        """Call every actor of the mesh; their values, over :attr:`ActorMesh.region`.

        Raises:
            ActorError, ActorDiedError: some actor failed (AM-6: the lowest failing rank's
                error, with ``failures`` and ``values`` of every rank).
            PayloadError: the arguments cannot be sent; nothing was sent (AM-2).
            MeshClosedError: an actor of it was stopped by this client.
        """
        mesh = self._mesh
        body = self._request(args, kwargs)
        replies = await _gather_replies(mesh._shared, mesh._ranks, body)
        values: dict[int, Any] = {}
        failures: dict[int, MeshError] = {}
        for rank in mesh._ranks:
            reply = replies[rank]
            if isinstance(reply, MeshError):
                failures[rank] = reply
                continue
            try:
                values[rank] = await self._finish(rank, reply)
            except MeshError as exc:
                failures[rank] = exc
        if failures:
            first = failures[min(failures)]
            if isinstance(first, ActorError | ActorDiedError):
                first.set_outcomes(failures, values)
            raise first
        return ValueMesh(mesh.region, [values[r] for r in mesh._ranks])

    async def call_one(self, *args: Any, **kwargs: Any) -> Any:
        """Call the one actor of a mesh of one (slice it first); its value.

        Raises:
            InputError: the mesh has more than one actor; nothing was sent (AM-2).
            ActorError: the endpoint raised (the actor lives on).
            ActorDiedError: the actor or its proc is gone (AM-5).
            PayloadError: the arguments cannot be sent; nothing was sent.
        """
        mesh = self._mesh
        if len(mesh._ranks) != 1:
            raise InputError(
                f"call_one needs a mesh of exactly one actor; {mesh!r} has {len(mesh._ranks)} "
                "(slice it, or use call or choose)"
            )
        return await self._one(mesh._ranks[0], self._request(args, kwargs))

    async def _one(self, rank: int, body: Any) -> Any:
        call = await _start(self._mesh._shared, rank, body)
        reply = await _wait(call)
        if isinstance(reply, ActorReply) and reply.ok:
            return self._value(rank, reply)  # the usual case, without another coroutine
        return await self._finish(rank, reply)

    async def choose(self, *args: Any, **kwargs: Any) -> Any:
        """Call one actor, picked here: the live one with the fewest calls in flight from this
        process, ties round-robin (AM-8); its value.

        Raises:
            ActorError, ActorDiedError: as :meth:`call_one` (not retried elsewhere).
            MeshClosedError: every actor of the mesh was stopped by this client.
        """
        body = self._request(args, kwargs)
        return await self._one(self._pick(), body)

    def _pick(self) -> int:
        shared = self._mesh._shared
        ranks = self._mesh._ranks
        live = [r for r in ranks if r not in shared.stopped and r not in shared.deaths]
        if not live:
            shared.check(ranks[0])  # raises: stopped, or the recorded death
        n = len(live)
        start = shared.next_choice % n
        order = live[start:] + live[:start]
        pick = min(order, key=lambda r: shared.in_flight[r])
        shared.next_choice = live.index(pick) + 1
        return pick

    async def broadcast(self, *args: Any, **kwargs: Any) -> None:
        """Send the call to every actor; return once it is sent (AM-7 for what it causes).

        Raises:
            PayloadError: the arguments cannot be sent; nothing was sent (AM-2).
            ActorDiedError: an actor is known to be gone (the others were sent to).
            MeshClosedError: an actor of it was stopped by this client.
        """
        mesh = self._mesh
        body = self._request(args, kwargs)
        errors = await _start_all(
            mesh._shared, mesh._ranks, lambda _rank: body, [], self._on_broadcast_reply
        )
        if errors:
            raise errors[min(errors)]
        # Sending need not yield (MS-2): a loop of broadcasts must still let others run.
        await trio.lowlevel.checkpoint()

    def _on_broadcast_reply(self, call: _Call, item: Any) -> None:
        """A broadcast call's answer, in the reading task (AM-7)."""
        if isinstance(item, Envelope) and item.kind is EnvelopeKind.EVENT:
            return
        call.finish()
        error: MeshError | None = None
        if isinstance(item, Envelope):
            if item.kind is EnvelopeKind.REPLY:
                reply = item.body
                if isinstance(reply, ActorReply) and not reply.ok:
                    error = self._error(call.rank, reply)
            else:
                error = ActorError(
                    f"actor {self._mesh._shared.name} rank {call.rank}: {item.body}",
                    rank=call.rank,
                    actor=self._mesh._shared.name,
                    endpoint=self._info.name,
                    kind="RemoteError",
                )
        elif isinstance(item, MeshError):
            error = item
        if error is None:
            return
        shared = self._mesh._shared
        shared.broadcast_failures += 1
        shared.recent_broadcast_errors.append(error)
        log.warning(
            "broadcast %s.%s to rank %d failed: %s",
            shared.class_name,
            self._info.name,
            call.rank,
            error,
        )
        if (
            shared.report is not None
            and call.rank not in shared.stopped
            and call.rank not in shared.stopping
            and not (isinstance(error, ActorError) and error.kind in _NOT_FAILURES)
        ):  # SV-3
            failed = ActorFailedError(
                f"broadcast {shared.class_name}.{self._info.name} to actor {shared.name} rank "
                f"{call.rank} failed: {error}",
                rank=call.rank,
                point=shared.point(call.rank),
                actor=shared.name,
                endpoint=self._info.name,
            )
            failed.__cause__ = error
            shared.report(failed)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[tuple[Point, Any], None]:
        """Call every actor; yield ``(point, value)`` as each reply arrives (points over
        :attr:`ActorMesh.region`'s extent, as in ``call(...).items()``).

        The first failure is raised when it arrives, and the calls still in flight are
        cancelled (AM-4). To leave the loop early, iterate inside
        ``async with contextlib.aclosing(endpoint.stream(...)) as replies:`` so the calls
        still in flight are cancelled at once (otherwise that waits for the generator to be
        collected, and trio warns about it, as for any async generator).

        Raises:
            ActorError, ActorDiedError: an actor failed.
            PayloadError: the arguments cannot be sent; nothing was sent (AM-2).
        """
        mesh = self._mesh
        shared = mesh._shared
        body = self._request(args, kwargs)
        arrived: collections.deque[_Call] = collections.deque()
        wake = [trio.Event()]

        def on_item(call: _Call, item: Any) -> None:
            if isinstance(item, Envelope) and item.kind is EnvelopeKind.EVENT:
                return
            arrived.append(call)
            wake[0].set()

        calls: list[_Call] = []
        dense = {rank: i for i, rank in enumerate(mesh._ranks)}
        extent = mesh.region.extent
        try:
            errors = await _start_all(shared, mesh._ranks, lambda _rank: body, calls, on_item)
            if errors:
                raise errors[min(errors)]
            left = len(calls)
            while left:
                while not arrived:
                    await wake[0].wait()
                    wake[0] = trio.Event()
                call = arrived.popleft()
                left -= 1
                reply = await _wait_plain(call)
                call.finish()
                yield Point(dense[call.rank], extent), await self._finish(call.rank, reply)
        finally:
            await _cancel_all(calls)
            for call in calls:
                call.finish()


async def spawn_actor_mesh(
    *,
    link: Any,
    proc_mesh_id: ProcMeshId,
    region: Region,
    targets: Sequence[ProcTarget],
    token: str,
    name: str,
    actor_class: type[A],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    report: Callable[[MeshError], None] | None = None,
) -> ActorMesh[A]:
    """Build one ``actor_class`` per proc (AM-9); see :meth:`ProcMesh.spawn`."""
    if not isinstance(name, str):
        raise InputError(f"an actor mesh name must be a str, got {type(name).__name__}")
    endpoints = endpoints_of(actor_class)
    label = str(Label.sanitize(name))
    shared = _Shared(
        key=f"{label}.{secrets.token_hex(6)}",
        name=label,
        class_name=actor_class.__name__,
        endpoints=endpoints,
        region=region,
        targets=targets,
        proc_mesh_id=proc_mesh_id,
        token=token,
        link=link,
    )
    shared.report = report
    payload = dump_args(
        args,
        kwargs,
        max_size=config.get(config.MAX_MESSAGE_SIZE),
        what=f"spawning {actor_class.__name__}",
        extra=actor_class,
        by_value=shared.by_value,
    )
    ranks = region.base_ranks()
    built: list[int] = []
    failures: dict[int, MeshError] = {}
    calls: list[_Call] = []  # every rank sent a SpawnActor
    try:
        try:
            text = str(region)
            failures.update(
                await _start_all(
                    shared,
                    ranks,
                    lambda rank: SpawnActor(shared.key, label, payload, rank, text),
                    calls,
                )
            )
            for call in calls:
                try:
                    reply = await _wait_plain(call)
                except MeshError as exc:
                    failures[call.rank] = exc
                    continue
                if isinstance(reply, ActorReply) and reply.ok:
                    built.append(call.rank)
                else:
                    failures[call.rank] = _init_error(shared, call.rank, reply)
        finally:
            for call in calls:
                call.finish()
    except BaseException:
        # Cancelled (or worse) midway: any rank that was sent a SpawnActor may have built its
        # actor, its reply unread; a StopActor behind it on the same connection ends it.
        # Every rank, not only those whose send returned: a send cancelled midway may have
        # gone out whole. A StopActor for an actor a proc never built is a no-op there.
        with trio.CancelScope(shield=True):
            await _stop_built(shared, ranks, config.get(config.ACTOR_CANCEL_ACK_TIMEOUT))
        raise
    if failures:
        with trio.CancelScope(shield=True):
            await _stop_built(shared, built, config.get(config.REQUEST_TIMEOUT))
        first = failures[min(failures)]
        if isinstance(first, ActorError | ActorDiedError):
            first.set_outcomes(failures, {})
        raise first
    return ActorMesh(shared, region)


def _init_error(shared: _Shared, rank: int, reply: Any) -> MeshError:
    if not isinstance(reply, ActorReply):
        return ActorError(f"unexpected reply {type(reply).__name__}", rank=rank)
    return _remote_error(shared, rank, "__init__", reply)


def _remote_error(shared: _Shared, rank: int, endpoint: str, reply: ActorReply) -> ActorError:
    """The ActorError for a failure an actor's code reported: the remote traceback as a note
    and as ``.traceback``, the original exception as ``__cause__`` when it unpickles here."""
    where = f"actor {shared.name} rank {rank} ({shared.point(rank)})"
    err = ActorError(
        f"{where}: {shared.class_name}.{endpoint} raised {reply.kind}: {reply.message}",
        rank=rank,
        point=shared.point(rank),
        actor=shared.name,
        endpoint=endpoint,
        kind=reply.kind,
        traceback=reply.traceback,
    )
    if reply.traceback:
        err.add_note(f"remote traceback ({where}):\n{reply.traceback.rstrip()}")
    cause = load_exception(reply.payload)
    if cause is not None:
        err.__cause__ = cause
    return err


async def _stop_built(shared: _Shared, ranks: Sequence[int], bound: float) -> None:
    """Stop the actors a failed or cancelled spawn built, within ``bound`` seconds."""
    if ranks:
        with trio.move_on_after(bound):
            await _gather_replies(shared, ranks, StopActor(shared.key), quiet=True)
