"""Request/reply multiplexing over one message stream, in both directions.

A :class:`Peer` wraps a :class:`~meshtrio._transport.message_streams.MessageStream`. Either side may
:meth:`Peer.call` the other: each call gets a fresh correlation id, a deadline (total, or
idle: re-armed on every streamed event; an earlier enclosing deadline, such as a fan-out's,
takes over), and its own reply channel. Incoming requests run each
in their own task (so a slow request never blocks another) under the peer's nursery, bounded by
``max_in_flight``.

Invariants owned here:

* RPC-1 (fail exactly the waiters): when the stream breaks, every call waiting on this peer
  fails with :class:`~meshtrio.errors.ConnectionLostError` (or the :class:`ProtocolError` that
  broke it); calls on other peers are untouched.
* RPC-2 (no stray errors): a handler's :class:`~meshtrio.errors.MeshError` travels back as an
  ``ERROR`` envelope and is raised from ``call`` as :class:`RemoteError`; any other handler
  exception is logged and reported the same way. Nothing a peer sends can crash the other side.
* RPC-3 (bounded waits): every ``call`` has a deadline; a late reply is dropped.
* RPC-4 (taken requests, in order): a peer made with an ``intake`` hands every request to it
  as a :class:`Request`, in the order the requests arrived, from the reading task (the intake
  may wait: reading waits with it, which is backpressure on the sender). Each taken request
  is answered at most once (:meth:`Request.reply`, :meth:`Request.fail`); its
  :attr:`Request.scope` is cancelled when the caller sends ``CANCEL`` for it or when the
  connection ends, so work run inside that scope stops with its caller.
* RPC-5 (cancel reaches the peer, bounded): a :class:`PendingCall` whose waiter is cancelled
  sends ``CANCEL`` and waits for the request's final answer at most ``ack_timeout`` seconds
  (:meth:`PendingCall.cancel_remote`). Not promised: that the peer stops its work (a peer
  with a plain ``handler`` ignores ``CANCEL``; a taken request stops only at its next
  checkpoint, and not inside a shielded scope).
"""

from __future__ import annotations

import collections
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from meshtrio._errors import (
    ConnectionLostError,
    MeshError,
    MessageBodyError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
    TransportError,
)
from meshtrio._messages import Ack
from meshtrio._transport.message_streams import MessageStream
from meshtrio._transport.translate import cancel_part
from meshtrio._wire import Envelope, EnvelopeKind, Prepared, WireError, decode, encode

_ACK = Ack()
"""The body of every CANCEL frame."""

CANCEL_SEND_BOUND = 1.0
"""Seconds a caller cancelled mid-send spends sending the CANCEL that follows."""

REPLY_BOUND = 35.0
"""Seconds an answer to a taken request may take to be written (a little more than a
stream's own send bound, after which it closes itself) before the connection is closed."""

__all__ = ["Emit", "Handler", "Intake", "Peer", "PendingCall", "ReplyThen", "Request"]

log = logging.getLogger("meshtrio.rpc")

Emit = Callable[[Any], Awaitable[None]]
"""Send one EVENT for the request being handled."""

Handler = Callable[["Peer", Any, Emit], Awaitable[Any]]
"""Handle one request: ``await handler(peer, body, emit)`` returns the reply body."""

Intake = Callable[["Request"], Awaitable[None]]
"""Take one request, in arrival order (RPC-4): ``await intake(request)``; the taker answers it
later with :meth:`Request.reply` or :meth:`Request.fail`."""


def _name(body: Any) -> str:
    return body.name if isinstance(body, Prepared) else type(body).__name__


class ReplyThen:
    """A handler result: send ``reply``, then call ``then()`` (also if sending failed).

    Used where an action must follow the acknowledgement (a proc exits after acking
    AskProcToExit; a host stops serving after acking Shutdown).
    """

    __slots__ = ("reply", "then")

    def __init__(self, reply: Any, then: Callable[[], None]) -> None:
        self.reply = reply
        self.then = then


class _Pending:
    """The replies of one call: a queue and a wake-up event (lighter than a memory channel).

    ``watcher``, if set, is called (from the reading task) with every item as it arrives.
    """

    __slots__ = ("ended", "event", "items", "watcher")

    def __init__(self, watcher: Callable[[Envelope | TransportError], None] | None = None) -> None:
        self.items: collections.deque[Envelope | TransportError] = collections.deque()
        self.event = trio.Event()
        self.watcher = watcher
        self.ended = False
        """True once the final item (REPLY, ERROR, or the connection's end) arrived."""

    def put(self, item: Envelope | TransportError) -> None:
        if self.ended:
            return  # nothing follows a final answer
        self.items.append(item)
        self.ended = not isinstance(item, Envelope) or item.kind is not EnvelopeKind.EVENT
        self.event.set()
        if self.watcher is not None:
            self.watcher(item)

    async def get(self) -> Envelope | TransportError:
        while not self.items:
            await self.event.wait()
            self.event = trio.Event()
        return self.items.popleft()


def _outcome(address: str, body: Any, item: Envelope | TransportError) -> Any:
    """The value of a call's final item (REPLY), or raise what it says (ERROR, a broken link)."""
    if isinstance(item, TransportError):
        raise type(item)(str(item), address=address)
    if item.kind is EnvelopeKind.REPLY:
        return item.body
    err = item.body
    if not isinstance(err, WireError):  # a registered message in an ERROR frame
        raise ProtocolError(f"{address}: malformed error reply to {_name(body)}", address=address)
    raise RemoteError(f"{address}: {err.message}", address=address, kind=err.kind)


class PendingCall:
    """A request that was sent and whose answer has not been collected yet (see
    :meth:`Peer.send_request`). Lets a caller have many requests in flight without a task
    each, and cancel one on the peer (RPC-5).
    """

    __slots__ = ("_pending", "body", "corr", "peer")

    def __init__(self, peer: Peer, corr: int, body: Any, pending: _Pending) -> None:
        self.peer = peer
        self.corr = corr
        self.body = body
        self._pending = pending

    @property
    def done(self) -> bool:
        """True once the final answer (or the connection's end) is here."""
        return self._pending.ended

    async def result(self, on_event: Callable[[Any], None] | None = None) -> Any:
        """Wait for the answer: the REPLY's body (EVENT bodies go to ``on_event``).

        No deadline of its own: bound it with a cancel scope. The call stays registered
        until :meth:`forget`.

        Raises:
            ConnectionLostError: the connection broke (RPC-1).
            RemoteError: the peer answered with an error.
            ProtocolError: the answer was malformed.
        """
        while True:
            item = await self._pending.get()
            if isinstance(item, Envelope) and item.kind is EnvelopeKind.EVENT:
                if on_event is not None:
                    on_event(item.body)
                continue
            return _outcome(self.peer.address, self.body, item)

    async def cancel_remote(self, ack_timeout: float) -> None:
        """Tell the peer we gave up (``CANCEL``) and wait, at most ``ack_timeout`` seconds, for
        the request's final answer (which is then dropped). Never raises a transport error;
        call it shielded from a cancelled caller (RPC-5)."""
        if self.done or self.peer.close_reason is not None:
            return
        with trio.move_on_after(ack_timeout):
            await self.send_cancel()
            await self.wait_final()

    async def send_cancel(self) -> None:
        """Send ``CANCEL`` for this call (nothing if it is answered or the link is gone)."""
        if self.done or self.peer.close_reason is not None:
            return
        try:
            await self.peer._send(Envelope(EnvelopeKind.CANCEL, self.corr, _ACK))
        except TransportError:
            pass

    async def wait_final(self) -> None:
        """Wait until the final answer (or the connection's end) is here; no deadline."""
        while not self.done:
            await self._pending.event.wait()
            self._pending.event = trio.Event()

    def settle(self, body: Any) -> None:
        """End the call here with ``body`` as its reply, as if the peer had answered (the
        peer's own answer, if it comes, is then dropped)."""
        self._pending.put(Envelope(EnvelopeKind.REPLY, self.corr, body))

    def forget(self) -> None:
        """Stop listening for this call's answer (a late one is dropped, RPC-3)."""
        self.peer._pending.pop(self.corr, None)


class Request:
    """A request handed to a peer's intake (RPC-4): its body, and how to answer it.

    Attributes:
        body: the request's message.
        scope: a cancel scope for the work the request asks for; cancelled when the caller
            sends ``CANCEL`` or the connection ends. Run the work inside it.
    """

    __slots__ = ("_peer", "answered", "body", "corr", "scope")

    def __init__(self, peer: Peer, corr: int, body: Any) -> None:
        self._peer = peer
        self.corr = corr
        self.body = body
        self.scope = trio.CancelScope()
        self.answered = False

    @property
    def peer(self) -> Peer:
        """The connection it came on."""
        return self._peer

    async def reply(self, body: Any) -> None:
        """Answer with ``body`` (a registered message); once only, later answers are dropped.

        Shielded from cancellation, and bounded: an answer that cannot be written within
        :data:`REPLY_BOUND` seconds closes the connection, so the caller fails instead of
        waiting for an answer that was dropped. A reply too large for the connection is
        answered with its ProtocolError instead; a broken connection is ignored (the caller
        is gone)."""
        if self._done():
            return
        with trio.CancelScope(shield=True):
            with trio.move_on_after(REPLY_BOUND) as bound:
                try:
                    await self._peer._send(Envelope(EnvelopeKind.REPLY, self.corr, body))
                except ProtocolError as exc:
                    await self._peer._reply_error(self.corr, type(exc).__name__, str(exc))
                except TransportError:
                    pass
            if bound.cancelled_caught:
                await self._peer.aclose()

    async def fail(self, kind: str, message: str) -> None:
        """Answer with an error (``kind``: an error class name); once only, shielded and
        bounded like :meth:`reply`."""
        if self._done():
            return
        with trio.CancelScope(shield=True):
            with trio.move_on_after(REPLY_BOUND) as bound:
                await self._peer._reply_error(self.corr, kind, message)
            if bound.cancelled_caught:
                await self._peer.aclose()

    def _done(self) -> bool:
        if self.answered:
            return True
        self.answered = True
        self._peer._taken.pop(self.corr, None)
        return False


class Peer:
    """One end of an RPC connection.

    Args:
        stream: the message stream.
        handler: handles requests from the other side, each in its own task (None: refuse
            them).
        max_in_flight: most requests from the other side handled at once by ``handler``.
        intake: instead of ``handler``, take every request in arrival order (RPC-4).
        cancellable: the request types whose handler a CANCEL from the caller cancels (a
            stream that runs until the caller stops it); others run to their end (RPC-5).
    """

    def __init__(
        self,
        stream: MessageStream,
        handler: Handler | None = None,
        *,
        max_in_flight: int = 1024,
        intake: Intake | None = None,
        cancellable: tuple[type, ...] = (),
    ) -> None:
        self.stream = stream
        self.address = stream.address
        self._handler = handler
        self._intake = intake
        self._cancellable = cancellable
        self._handling: dict[int, trio.CancelScope] = {}  # cancellable handlers running
        self._taken: dict[int, Request] = {}
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._max_in_flight = max_in_flight
        self.closed = trio.Event()
        self.close_reason: TransportError | None = None
        self._reading = trio.CancelScope()  # run()'s wait for messages
        self._accepting = True  # False once run()'s nursery is closing
        self._broken: TransportError | None = None  # why a pushed message ended the connection
        self._nursery: trio.Nursery | None = None
        self.context: dict[str, Any] = {}
        """Free-form state for the handler (e.g. which proc this connection belongs to)."""

    # -- sending ---------------------------------------------------------------------------
    async def _send(self, env: Envelope) -> None:
        # No lock: a stream's send is atomic per message (trio-websocket serialises frames
        # itself; a memory channel takes whole messages), and frames carry their own ids.
        await self.stream.send(encode(env))

    async def send_request(
        self, body: Any, *, watcher: Callable[[Envelope | TransportError], None] | None = None
    ) -> PendingCall:
        """Send a request and return at once; collect its answer with the returned
        :class:`PendingCall` (and :meth:`PendingCall.forget` it when done).

        ``watcher`` is called from the reading task with each item for the call as it arrives
        (a REPLY, ERROR or EVENT envelope, or the TransportError that ended the connection).

        Raises:
            ConnectionLostError: the connection is closed already, or broke while sending.
            ProtocolError: the request is larger than the connection allows.
        """
        if self.close_reason is not None:
            raise type(self.close_reason)(str(self.close_reason), address=self.address)
        corr = next(self._ids)
        pending = _Pending(watcher)
        self._pending[corr] = pending
        call = PendingCall(self, corr, body, pending)
        try:
            await self._send(Envelope(EnvelopeKind.REQUEST, corr, body))
        except BaseException as exc:
            call.forget()
            if cancel_part(exc) is not None:
                # Cancelled while sending: the request may be out whole (SK-1 finishes a
                # started write). CANCEL it; a peer that never got it ignores that (RPC-5).
                with trio.CancelScope(shield=True), trio.move_on_after(CANCEL_SEND_BOUND):
                    await call.send_cancel()
            raise
        return call

    async def call(
        self,
        body: Any,
        *,
        timeout: float,
        idle: bool = False,
        on_event: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send a request and wait for its reply.

        Args:
            body: a registered wire message.
            timeout: seconds to wait for the reply (``math.inf``: no deadline).
            idle: if true, ``timeout`` is an idle timeout re-armed on every event.
            on_event: called with each EVENT body as it arrives.

        Raises:
            RequestTimeoutError: no reply in time (if an enclosing cancel scope's deadline
                comes first, that scope ends the wait instead, as for any trio call).
            ConnectionLostError: the connection broke (RPC-1).
            RemoteError: the peer answered with an error.

        Cancelling the caller abandons the request; a late reply is dropped.
        """
        if self.close_reason is not None:
            raise type(self.close_reason)(str(self.close_reason), address=self.address)
        corr = next(self._ids)
        pending = _Pending()
        self._pending[corr] = pending
        try:
            await self._send(Envelope(EnvelopeKind.REQUEST, corr, body))
            deadline = trio.current_time() + timeout
            while True:
                item: Envelope | TransportError | None = None
                if deadline < trio.current_effective_deadline():
                    with trio.move_on_at(deadline):
                        item = await pending.get()
                    if item is None:
                        what = "idle " if idle else ""
                        raise RequestTimeoutError(
                            f"{self.address}: no reply to {_name(body)} within {what}timeout "
                            f"{timeout:g}s",
                            address=self.address,
                            timeout=timeout,
                        )
                else:
                    # An enclosing deadline (a fan-out's) ends the wait first: a scope of our
                    # own would never fire, and it is the costliest part of a quick call.
                    item = await pending.get()
                if isinstance(item, Envelope) and item.kind is EnvelopeKind.EVENT:
                    if on_event is not None:
                        on_event(item.body)
                    if idle:
                        deadline = trio.current_time() + timeout
                    continue
                return _outcome(self.address, body, item)
        finally:
            del self._pending[corr]

    # -- receiving -------------------------------------------------------------------------
    async def run(self) -> None:
        """Read and dispatch until the stream ends; then fail every waiting call (RPC-1).

        Returns normally when the connection ends (``close_reason`` says why); handlers still
        running for this peer are cancelled. Cancelling ``run`` closes the connection.
        """
        reason: TransportError | None = None  # None: closed locally
        graceful = True
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    with self._reading:
                        deliver_to = getattr(self.stream, "deliver_to", None)
                        handled = getattr(self.stream, "handled", None)
                        if deliver_to is not None:
                            deliver_to(self._pushed)  # one task switch less per message
                        while True:
                            await self._take(await self.stream.receive())
                            if handled is not None:
                                handled()  # the queued ones first (MS-1)
                    if self._broken is not None:  # a pushed message broke the protocol
                        raise self._broken
                except (ConnectionLostError, ProtocolError) as exc:
                    reason = exc
                except TransportError as exc:
                    reason = ConnectionLostError(str(exc), address=self.address)
                finally:
                    self._accepting = False  # pushes from now on are dropped
                    nursery.cancel_scope.cancel()
        except BaseException:
            graceful = False  # cancelled or crashed: no closing handshake
            raise
        finally:
            self._fail_all(reason or self._closed_locally())
            for request in list(self._taken.values()):
                request.scope.cancel()  # the caller is gone: its work stops (RPC-4)
            await self.stream.aclose(graceful=graceful)

    async def _take(self, data: bytes) -> None:
        """Decode one message and hand it on: a reply to its waiting call, a request to the
        intake (RPC-4) or a handler task. Raises ProtocolError for a message that breaks the
        connection."""
        try:
            env = decode(data)
        except MessageBodyError as exc:
            self._bad_body(exc)  # the framing is intact: keep the connection
            return
        if self._intake is not None and env.kind is EnvelopeKind.REQUEST:
            request = Request(self, env.corr, env.body)
            self._taken[env.corr] = request
            await self._intake(request)  # may wait: backpressure (RPC-4)
        else:
            self._dispatch(env)

    async def _pushed(self, message: Any) -> None:
        """A message pushed by the stream, in its reading task (MS-1); never raises: what
        would have ended :meth:`run` ends it through ``_broken``."""
        if not self._accepting or self._broken is not None or self.close_reason is not None:
            return
        try:
            if not isinstance(message, bytes):
                raise ProtocolError(
                    f"{self.address}: text frame where binary expected", address=self.address
                )
            await self._take(message)
        except (ConnectionLostError, ProtocolError) as exc:
            self._broken = exc
            self._reading.cancel()
        except Exception as exc:  # a bug: say so, and end this connection only
            log.exception("%s: handling a message failed", self.address)
            self._broken = ProtocolError(
                f"{self.address}: internal error handling a message: {exc!r:.200}",
                address=self.address,
            )
            self._reading.cancel()

    def _closed_locally(self) -> ConnectionLostError:
        return ConnectionLostError(
            f"{self.address}: connection closed locally", address=self.address
        )

    def _fail_all(self, reason: TransportError) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            self.closed.set()
        for pending in list(self._pending.values()):  # a watcher may forget its call
            pending.put(reason)

    async def aclose(self) -> None:
        """Close the connection; waiting calls fail with ConnectionLostError."""
        self._fail_all(self._closed_locally())
        await self.stream.aclose()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _bad_body(self, exc: MessageBodyError) -> None:
        """Answer a request whose body does not fit its type; fail a call whose reply doesn't."""
        assert self._nursery is not None
        if exc.kind == EnvelopeKind.REQUEST:
            if self._in_flight < self._max_in_flight:
                self._in_flight += 1
                self._nursery.start_soon(self._refuse_body, exc)
            return
        pending = self._pending.get(exc.corr)
        if pending is not None:
            pending.put(ProtocolError(f"{self.address}: {exc}", address=self.address))

    async def _refuse_body(self, exc: MessageBodyError) -> None:
        try:
            await self._reply_error(exc.corr, "ProtocolError", str(exc))
        finally:
            self._in_flight -= 1

    def _dispatch(self, env: Envelope) -> None:
        if env.kind is EnvelopeKind.CANCEL:
            taken = self._taken.get(env.corr)
            if taken is not None:
                taken.scope.cancel()
            handling = self._handling.get(env.corr)
            if handling is not None:
                handling.cancel()
            return  # other handlers' requests are not cancellable (RPC-5)
        if env.kind is EnvelopeKind.REQUEST:
            assert self._nursery is not None
            if self._in_flight >= 2 * self._max_in_flight:
                # Not even reading the Overloaded answers: give up on this peer.
                raise ProtocolError(
                    f"{self.address}: peer keeps sending requests without reading replies",
                    address=self.address,
                )
            self._in_flight += 1
            if self._in_flight > self._max_in_flight:
                self._nursery.start_soon(self._overloaded, env.corr)
            else:
                self._nursery.start_soon(self._handle, env)
            return
        pending = self._pending.get(env.corr)
        if pending is not None:
            pending.put(env)
        # else: a late reply for a call that gave up; dropped (RPC-3).

    async def _overloaded(self, corr: int) -> None:
        try:
            await self._reply_error(
                corr, "Overloaded", f"more than {self._max_in_flight} requests in flight"
            )
        finally:
            self._in_flight -= 1

    async def _reply_error(self, corr: int, kind: str, message: str) -> None:
        try:
            await self._send(Envelope(EnvelopeKind.ERROR, corr, WireError(kind, message)))
        except TransportError:
            pass

    async def _handle(self, env: Envelope) -> None:
        # The in-flight slot is held until the reply was written, so a peer that sends
        # requests but never reads replies runs into max_in_flight instead of piling them up.
        try:
            await self._handle_one(env)
        finally:
            self._in_flight -= 1

    async def _handle_one(self, env: Envelope) -> None:
        corr = env.corr

        async def emit(event: Any) -> None:
            await self._send(Envelope(EnvelopeKind.EVENT, corr, event))

        try:
            if self._handler is None:
                raise RemoteError("this peer does not accept requests")
            if isinstance(env.body, self._cancellable):
                scope = self._handling[corr] = trio.CancelScope()
                try:
                    with scope:
                        result = await self._handler(self, env.body, emit)
                finally:
                    del self._handling[corr]
                if scope.cancelled_caught:
                    raise RemoteError("cancelled by its caller")
            else:
                result = await self._handler(self, env.body, emit)
        except MeshError as exc:  # TransportError too: an oversized event, another peer lost
            # (if our own connection broke, sending this fails quietly)
            await self._reply_error(corr, type(exc).__name__, str(exc))
            return
        except Exception as exc:
            log.exception("handler for %s failed", type(env.body).__name__)
            await self._reply_error(corr, type(exc).__name__, f"internal error: {exc!r:.200}")
            return
        then = None
        if isinstance(result, ReplyThen):
            result, then = result.reply, result.then
        try:
            await self._send(Envelope(EnvelopeKind.REPLY, corr, result))
        except ProtocolError as exc:  # the reply is too large; the connection is still fine
            await self._reply_error(corr, type(exc).__name__, str(exc))
        except TransportError:
            pass
        finally:
            if then is not None:
                then()
