"""The actors inside one proc: construct them, queue their calls, run their endpoints.

An :class:`ActorServer` serves the proc's actor endpoint (connections authenticated with the
proc mesh's actor token). Every connection's requests are taken in arrival order
(:class:`~meshtrio._transport.rpc.Peer` with an intake, RPC-4) and put in the mailbox of the
actor they name; one worker task per actor takes them out in order.

Invariants owned here:

* AS-1 (order): the calls one connection sends to one actor start in the order they arrived;
  a call to a non-concurrent endpoint runs alone (the next message waits for it to end);
  a call to a concurrent endpoint starts and the worker moves on (at most
  ``actor_mailbox_capacity`` of them run at once).
* AS-2 (bounded mailbox): an actor holds at most ``actor_mailbox_capacity`` queued calls; when
  full, the connection that brings more stops being read until there is room (backpressure,
  the sender waits). Not promised: fairness between connections.
* AS-3 (cancellation and deadlines): a call runs inside its request's cancel scope, so a
  caller's CANCEL or a closed connection cancels it (the endpoint sees ``trio.Cancelled`` at
  its next checkpoint), and the scope's deadline is the caller's remaining time when it sent
  the call. Either way the call is answered (``Cancelled`` or ``DeadlineExceeded``) if the
  caller is still there.
* AS-4 (the actor survives): an exception from an endpoint, an argument that does not
  unpickle and a result that cannot be pickled are each answered as a failure of that call;
  the actor serves the next one. Only ``BaseException`` other than ``Exception`` (say
  ``SystemExit``) ends the proc.
* AS-5 (stop answers everything): stopping an actor (StopActor, or the proc stopping) ends its
  running calls and answers each running and queued call with ``ActorStopped``; later calls
  to it are answered ``NoSuchActor``.

A :class:`~meshtrio._actor_messages.GetStacks` is answered in the intake as it arrives
(ST-1, :mod:`meshtrio._proc.stacks`): it waits for no actor.
"""

from __future__ import annotations

import logging
import math
import traceback
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

REPLY_BOUND = 1.0
"""Seconds a stopping actor spends answering one call it ends (the caller may be gone)."""


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


def _failure(kind: str, message: str) -> ActorReply:
    return ActorReply(ok=False, kind=kind, message=message)


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
            try:
                try:
                    actor.send.send_nowait(request)  # the usual case: room, no extra yield
                except trio.WouldBlock:
                    await actor.send.send(request)  # full: reading waits (AS-2)
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
        send, receive = trio.open_memory_channel[Request](self.capacity)
        actor = _Actor(
            msg.actor, instance, endpoints, ctx, send, receive, trio.CapacityLimiter(self.capacity)
        )
        self.actors[msg.actor] = actor
        self._nursery.start_soon(self._work, actor, name=f"meshtrio-actor-{msg.name}")
        return ActorReply(ok=True)

    @staticmethod
    def _raised(exc: BaseException, *, max_size: int, doing: str = "") -> ActorReply:
        """The failure reply for ``exc`` (raised while ``doing`` something, if said)."""
        message = f"{doing} failed: {exc}" if doing else str(exc)
        return ActorReply(
            ok=False,
            payload=dump_exception(exc, max_size=max_size),
            kind=type(exc).__name__,
            message=message[:4096],
            traceback=format_remote_traceback(exc)[-16384:],
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
        """Answer every call the actor still holds (AS-5), shielded and bounded."""
        left = list(actor.running)
        actor.running.clear()
        while True:
            try:
                left.append(actor.receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        actor.receive.close()
        stopped = _failure("ActorStopped", f"actor {actor.context.actor} was stopped")
        with trio.CancelScope(shield=True):
            for request in left:
                if not request.answered:
                    with trio.move_on_after(REPLY_BOUND):
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
        """Run one call inside its request's scope (AS-3) and answer it (AS-4)."""
        call: CallActor = request.body
        what = f"{type(actor.instance).__name__}.{call.endpoint}"
        reply: ActorReply | None = None
        with request.scope:
            reply = await self._invoke(actor, call, info, what)
        if request.scope.cancelled_caught:
            if request.scope.deadline <= trio.current_time():
                reply = _failure("DeadlineExceeded", f"{what}: the caller's deadline passed")
            else:
                reply = _failure("Cancelled", f"{what} was cancelled by its caller")
        actor.running.discard(request)
        assert reply is not None
        await request.reply(reply)

    async def _invoke(
        self, actor: _Actor, call: CallActor, info: EndpointInfo | None, what: str
    ) -> ActorReply:
        if info is None:
            known = ", ".join(sorted(actor.endpoints)) or "none"
            return _failure("NoSuchEndpoint", f"{what} is not an endpoint (endpoints: {known})")
        try:
            args, kwargs = load(call.payload)
        except Exception as exc:  # AS-4
            return self._raised(exc, max_size=self.max_size, doing="unpickling the arguments")
        try:
            result = getattr(actor.instance, call.endpoint)(*args, **kwargs)
            if info.is_async:
                result = await result
        except Exception as exc:  # AS-4: the actor lives on
            return self._raised(exc, max_size=self.max_size)
        try:
            return ActorReply(
                ok=True, payload=dump_result(result, max_size=self.max_size, what=what)
            )
        except Unsendable as exc:
            return _failure("PayloadError", str(exc))
