"""The actors inside one proc: construct them, queue their calls, run their endpoints.

An :class:`ActorServer` serves the proc's actor endpoint (connections authenticated with the
proc mesh's actor token). Every connection's requests are taken in arrival order
(:class:`~meshtrio._transport.rpc.Peer` with an intake, RPC-4) and put in the mailbox of the
actor they name; one worker task per actor takes them out in order.

Invariants owned here:

* AS-1 (order): the calls one connection sends to one actor start in the order they arrived;
  a call to a non-concurrent endpoint runs while no other non-concurrent call of that actor
  runs (the next message waits for it to end; concurrent calls already started go on); a
  call to a concurrent endpoint starts and the worker moves on (at most
  ``actor_mailbox_capacity`` of them run at once).
* AS-2 (bounded, per connection): an actor holds at most ``actor_mailbox_capacity`` queued
  calls, and at most ``actor_mailbox_bytes`` of their arguments, from each connection; past
  either, that connection (and only it) stops being read until the actor takes one
  (backpressure: its sender waits). An honest client never gets there: it keeps at most as
  many calls in flight (AM-3). Not promised: fairness between connections, or a bound on
  the number of connections.
* AS-3 (cancellation and deadlines): a call runs inside its request's cancel scope, so a
  caller's CANCEL or a closed connection cancels it (the endpoint sees ``trio.Cancelled`` at
  its next checkpoint), and the scope's deadline is the caller's remaining time when it sent
  the call. A call cancelled, or past its deadline, before it started is not started. Either
  way the call is answered (``Cancelled`` or ``DeadlineExceeded``) if the caller is still
  there.
* AS-4 (the actor survives): an exception from an endpoint (an exception group too, and one
  whose ``str`` raises), an argument that does not unpickle and a result that cannot be
  pickled are each answered as a failure of that call; the actor serves the next one. Only a
  ``BaseException`` that is not an ``Exception`` nor a cancellation (``SystemExit``,
  ``KeyboardInterrupt``) ends the proc.
* AS-5 (stop answers everything): stopping an actor (StopActor, or the proc stopping) ends its
  running calls and answers each running and queued call with ``ActorStopped``; later calls
  to it are answered ``NoSuchActor``.
* AS-6 (a reply is never dropped while the link is up): an answer is sent shielded from
  cancellation; if it cannot be written within the connection's send bound the connection
  is closed, so its caller fails (ConnectionLostError) instead of waiting forever.

A :class:`~meshtrio._actor_messages.GetStacks` is answered in the intake as it arrives
(ST-1, :mod:`meshtrio._proc.stacks`): it waits for no actor.
"""

from __future__ import annotations

import logging
import math
import traceback
import weakref
from typing import Any

import attrs
import trio

from meshtrio import _config as config
from meshtrio._actor_class import (
    ActorContext,
    EndpointInfo,
    endpoints_of,
    reset_context,
    running_as,
)
from meshtrio._actor_messages import ActorReply, CallActor, GetStacks, SpawnActor, StopActor
from meshtrio._payload import Unsendable, dump_exception, dump_result, load
from meshtrio._pool import ConnectionPool, use_ambient_pool
from meshtrio._proc.stacks import stacks_reply
from meshtrio._slicing import Region
from meshtrio._transport.message_streams import MessageStream
from meshtrio._transport.rpc import Peer, Request

__all__ = ["ActorServer"]

log = logging.getLogger("meshtrio.actors")


def format_remote_traceback(exc: BaseException) -> str:
    """``exc``'s traceback as text, with the real file of code that arrived by value.

    cloudpickle names the file of code it pickled by value ``<dynamic-code>``; the function's
    globals still hold its module's ``__file__``, so the frames name that file, and show its
    lines where the file exists here (the same machine).
    """
    frames = []
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        code = frame.f_code
        filename = code.co_filename
        if filename == "<dynamic-code>":
            filename = frame.f_globals.get("__file__") or filename
        frames.append(traceback.FrameSummary(filename, lineno, code.co_name))
    text = "Traceback (most recent call last):\n" if frames else ""
    text += "".join(traceback.StackSummary.from_list(frames).format())
    chained = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if chained is not None or isinstance(exc, BaseExceptionGroup):
        return "".join(traceback.format_exception(exc))  # the full story, as Python tells it
    return text + "".join(traceback.format_exception_only(exc))


def _safe(show: Any, exc: BaseException) -> str:
    """``show(exc)``, or a plain description when that raises (a broken ``__str__``)."""
    try:
        text: str = show(exc)
    except Exception as broken:
        return f"<{type(exc).__name__}, whose text could not be shown: {type(broken).__name__}>"
    return text


def _failure(kind: str, message: str) -> ActorReply:
    return ActorReply(ok=False, kind=kind, message=message)


class _Quota:
    """What one connection has queued at one actor (AS-2): calls and argument bytes."""

    __slots__ = ("calls", "nbytes", "room")

    def __init__(self) -> None:
        self.calls = 0
        self.nbytes = 0
        self.room = trio.Event()

    def full(self, size: int, calls: int, nbytes: int) -> bool:
        """True if one more call of ``size`` bytes would go past the bounds (one is always let
        in, however large: the message size bounds it)."""
        return self.calls > 0 and (self.calls >= calls or self.nbytes + size > nbytes)

    def taken(self, size: int) -> None:
        self.calls -= 1
        self.nbytes -= size
        self.room.set()
        self.room = trio.Event()


@attrs.define(eq=False)
class _Actor:
    """One live actor: its instance, endpoints, mailbox and the scope of its worker."""

    key: str
    instance: Any
    endpoints: dict[str, EndpointInfo]
    context: ActorContext
    send: trio.MemorySendChannel[Request]
    receive: trio.MemoryReceiveChannel[Request]
    limiter: trio.CapacityLimiter
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    running: set[Request] = attrs.field(factory=set)
    quotas: weakref.WeakKeyDictionary[Peer, _Quota] = attrs.field(factory=weakref.WeakKeyDictionary)

    def took(self, request: Request) -> None:
        """The worker took ``request`` out of the mailbox: its connection has room again."""
        quota = self.quotas.get(request.peer)
        if quota is not None:
            quota.taken(len(request.body.payload))


class ActorServer:
    """The actors of one proc (see the module docstring).

    Args:
        proc_id: this proc's id (for contexts).
        cfg: the proc's config view (mailbox capacity, message size).
        nursery: where actor workers run; cancelling it stops every actor (AS-5).
        pool: the proc's outgoing connections; actor meshes that arrive in a message use it
            (the ambient pool of every actor's tasks).
    """

    def __init__(
        self, proc_id: str, cfg: config.Config, nursery: trio.Nursery, pool: ConnectionPool
    ) -> None:
        self.proc_id = proc_id
        self.pool = pool
        self.capacity = cfg.get(config.ACTOR_MAILBOX_CAPACITY)
        self.mailbox_bytes = cfg.get(config.ACTOR_MAILBOX_BYTES)
        self.max_size = cfg.get(config.MAX_MESSAGE_SIZE)
        self._nursery = nursery
        self.actors: dict[str, _Actor] = {}

    async def on_connection(self, stream: MessageStream) -> None:
        """Serve one authenticated connection until it ends."""
        await Peer(stream, intake=self.intake).run()

    async def intake(self, request: Request) -> None:
        """Take one request, in arrival order (AS-1); wait while its actor's mailbox is full
        (AS-2)."""
        body = request.body
        if isinstance(body, CallActor):
            actor = self.actors.get(body.actor)
            if actor is None:
                await request.reply(_failure("NoSuchActor", f"no actor {body.actor} here"))
                return
            if body.timeout is not None:
                timeout = body.timeout if math.isfinite(body.timeout) else math.inf
                request.scope.deadline = trio.current_time() + max(0.0, timeout)
            size = len(body.payload)
            quota = actor.quotas.get(request.peer)
            if quota is None:
                quota = actor.quotas[request.peer] = _Quota()
            while quota.full(size, self.capacity, self.mailbox_bytes):
                await quota.room.wait()  # this connection waits, no other (AS-2)
                if actor.scope.cancel_called:
                    break
            try:
                actor.send.send_nowait(request)  # the channel itself is unbounded: the quotas
                quota.calls += 1  # bound it, per connection
                quota.nbytes += size
            except (trio.ClosedResourceError, trio.BrokenResourceError):  # stopped meanwhile
                await request.reply(_failure("ActorStopped", f"actor {body.actor} was stopped"))
        elif isinstance(body, SpawnActor):
            await request.reply(self._spawn(body))
        elif isinstance(body, StopActor):
            await self.stop(body.actor)
            await request.reply(ActorReply(ok=True))
        elif isinstance(body, GetStacks):  # at once, never through a mailbox (ST-1)
            await request.reply(stacks_reply())
        else:
            await request.fail("RemoteError", f"a proc does not handle {type(body).__name__}")

    # -- spawning ----------------------------------------------------------------------------
    def _spawn(self, msg: SpawnActor) -> ActorReply:
        if msg.actor in self.actors:
            return _failure("InputError", f"actor {msg.actor} already exists on this proc")
        try:
            region = Region.parse(msg.region)
            point = region.extent.point_of_rank(msg.rank)
            cls, args, kwargs = load(msg.payload)
            endpoints = endpoints_of(cls)
        except Exception as exc:  # AS-4: a bad payload fails this spawn only
            return self._raised(
                exc, max_size=self.max_size, doing="unpickling the actor class and arguments"
            )
        ctx = ActorContext(msg.rank, point, region, msg.name, self.proc_id)
        token = running_as(ctx)
        try:
            instance = cls(*args, **kwargs)
        except Exception as exc:
            return self._raised(exc, max_size=self.max_size)
        finally:
            reset_context(token)
        send, receive = trio.open_memory_channel[Request](math.inf)  # bounded by quotas
        actor = _Actor(
            msg.actor, instance, endpoints, ctx, send, receive, trio.CapacityLimiter(self.capacity)
        )
        self.actors[msg.actor] = actor
        self._nursery.start_soon(self._work, actor, name=f"meshtrio-actor-{msg.name}")
        return ActorReply(ok=True)

    @staticmethod
    def _raised(exc: BaseException, *, max_size: int, doing: str = "") -> ActorReply:
        """The failure reply for ``exc`` (raised while ``doing`` something, if said); never
        raises, whatever the exception's ``str`` does (AS-4)."""
        text = _safe(str, exc)
        message = f"{doing} failed: {text}" if doing else text
        return ActorReply(
            ok=False,
            payload=dump_exception(exc, max_size=max_size),
            kind=type(exc).__name__,
            message=message[:4096],
            traceback=_safe(format_remote_traceback, exc)[-16384:],
        )

    # -- stopping ----------------------------------------------------------------------------
    async def stop(self, key: str) -> None:
        """Stop one actor (AS-5); a no-op for one that is not here."""
        actor = self.actors.pop(key, None)
        if actor is None:
            return
        actor.send.close()
        actor.scope.cancel()
        await self._answer_stopped(actor)

    async def _answer_stopped(self, actor: _Actor) -> None:
        """Answer every call the actor still holds (AS-5); each answer is shielded and bounded
        (AS-6)."""
        left = list(actor.running)
        actor.running.clear()
        while True:
            try:
                left.append(actor.receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        actor.receive.close()
        for quota in list(actor.quotas.values()):
            quota.room.set()  # connections waiting for room: the actor is gone, go on
        stopped = _failure("ActorStopped", f"actor {actor.context.actor} was stopped")
        for request in left:
            await request.reply(stopped)

    # -- running -------------------------------------------------------------------------------
    async def _work(self, actor: _Actor) -> None:
        """The actor's worker: its mailbox in order (AS-1), until the actor is stopped."""
        # This task's context, and so that of the tasks its endpoints start (AC-2). Set here:
        # a task's context is copied from whoever started it, here a connection's task.
        running_as(actor.context)
        use_ambient_pool(self.pool)
        try:
            with actor.scope:
                async with trio.open_nursery() as concurrent:
                    async for request in actor.receive:
                        # Held from here on, so a stop answers it whatever happens next (AS-5).
                        actor.running.add(request)
                        actor.took(request)
                        if actor.scope.cancel_called:  # stopped while it was handed to us
                            break
                        info = actor.endpoints.get(request.body.endpoint)
                        if info is not None and info.concurrent:
                            await actor.limiter.acquire_on_behalf_of(request)
                            concurrent.start_soon(self._run_concurrent, actor, request, info)
                        else:
                            await self._run(actor, request, info)
        finally:
            if self.actors.get(actor.key) is actor:  # the proc is stopping, not StopActor
                del self.actors[actor.key]
            actor.send.close()
            await self._answer_stopped(actor)

    async def _run_concurrent(self, actor: _Actor, request: Request, info: EndpointInfo) -> None:
        try:
            await self._run(actor, request, info)
        finally:
            actor.limiter.release_on_behalf_of(request)

    async def _run(self, actor: _Actor, request: Request, info: EndpointInfo | None) -> None:
        """Run one call inside its request's scope (AS-3) and answer it (AS-4, AS-6)."""
        call: CallActor = request.body
        scope = request.scope
        reply: ActorReply | None = None
        if not scope.cancel_called and scope.deadline > trio.current_time():  # AS-3
            with scope:
                try:
                    reply = await self._invoke(actor, call, info)
                except BaseException as exc:
                    reply = self._settle(exc)  # re-raises what is not this call's failure
        if reply is None or scope.cancelled_caught:
            what = f"{type(actor.instance).__name__}.{call.endpoint}"
            if scope.deadline <= trio.current_time():
                reply = _failure("DeadlineExceeded", f"{what}: the caller's deadline passed")
            else:
                reply = _failure("Cancelled", f"{what} was cancelled by its caller")
        actor.running.discard(request)
        await request.reply(reply)

    def _settle(self, exc: BaseException) -> ActorReply:
        """The reply for an exception that escaped an endpoint (AS-4): an Exception, or the
        part of a group that is not a cancellation, is the call's failure; a cancellation
        (alone, or the rest of such a group) and SystemExit or KeyboardInterrupt go on."""
        if isinstance(exc, Exception) and not isinstance(exc, BaseExceptionGroup):
            return self._raised(exc, max_size=self.max_size)
        if isinstance(exc, BaseExceptionGroup):
            cancels, rest = exc.split(trio.Cancelled)
            if rest is not None and cancels is None and isinstance(rest, Exception):
                return self._raised(rest, max_size=self.max_size)
            if cancels is not None:
                if rest is not None:
                    log.warning("an endpoint failed as it was cancelled: %s", _safe(repr, rest))
                raise cancels
        raise exc

    async def _invoke(
        self, actor: _Actor, call: CallActor, info: EndpointInfo | None
    ) -> ActorReply:
        what = f"{type(actor.instance).__name__}.{call.endpoint}"
        if info is None:
            known = ", ".join(sorted(actor.endpoints)) or "none"
            return _failure("NoSuchEndpoint", f"{what} is not an endpoint (endpoints: {known})")
        try:
            args, kwargs = load(call.payload)
        except Exception as exc:  # AS-4
            return self._raised(exc, max_size=self.max_size, doing="unpickling the arguments")
        result = getattr(actor.instance, call.endpoint)(*args, **kwargs)
        if info.is_async:
            result = await result
        try:
            return ActorReply(
                ok=True, payload=dump_result(result, max_size=self.max_size, what=what)
            )
        except Unsendable as exc:
            return _failure("PayloadError", str(exc))
