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
from meshtrio._transport.message_streams import MessageStream
from meshtrio._wire import Envelope, EnvelopeKind, Prepared, WireError, decode, encode

__all__ = ["Emit", "Handler", "Peer", "ReplyThen"]

log = logging.getLogger("meshtrio.rpc")

Emit = Callable[[Any], Awaitable[None]]
"""Send one EVENT for the request being handled."""

Handler = Callable[["Peer", Any, Emit], Awaitable[Any]]
"""Handle one request: ``await handler(peer, body, emit)`` returns the reply body."""


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
    """The replies of one call: a queue and a wake-up event (lighter than a memory channel)."""

    __slots__ = ("event", "items")

    def __init__(self) -> None:
        self.items: collections.deque[Envelope | TransportError] = collections.deque()
        self.event = trio.Event()

    def put(self, item: Envelope | TransportError) -> None:
        self.items.append(item)
        self.event.set()

    async def get(self) -> Envelope | TransportError:
        while not self.items:
            await self.event.wait()
            self.event = trio.Event()
        return self.items.popleft()


class Peer:
    """One end of an RPC connection.

    Args:
        stream: the message stream.
        handler: handles requests from the other side (None: refuse them).
        max_in_flight: most requests from the other side handled at once.
    """

    def __init__(
        self, stream: MessageStream, handler: Handler | None = None, *, max_in_flight: int = 1024
    ) -> None:
        self.stream = stream
        self.address = stream.address
        self._handler = handler
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._max_in_flight = max_in_flight
        self.closed = trio.Event()
        self.close_reason: TransportError | None = None
        self._nursery: trio.Nursery | None = None
        self.context: dict[str, Any] = {}
        """Free-form state for the handler (e.g. which proc this connection belongs to)."""

    # -- sending ---------------------------------------------------------------------------
    async def _send(self, env: Envelope) -> None:
        # No lock: a stream's send is atomic per message (trio-websocket serialises frames
        # itself; a memory channel takes whole messages), and frames carry their own ids.
        await self.stream.send(encode(env))

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
                if isinstance(item, TransportError):
                    raise type(item)(str(item), address=self.address)
                if item.kind is EnvelopeKind.EVENT:
                    if on_event is not None:
                        on_event(item.body)
                    if idle:
                        deadline = trio.current_time() + timeout
                    continue
                if item.kind is EnvelopeKind.REPLY:
                    return item.body
                err = item.body
                if not isinstance(err, WireError):  # a registered message in an ERROR frame
                    raise ProtocolError(
                        f"{self.address}: malformed error reply to {_name(body)}",
                        address=self.address,
                    )
                raise RemoteError(
                    f"{self.address}: {err.message}", address=self.address, kind=err.kind
                )
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
                    while True:
                        data = await self.stream.receive()
                        try:
                            env = decode(data)
                        except MessageBodyError as exc:
                            self._bad_body(exc)  # the framing is intact: keep the connection
                            continue
                        self._dispatch(env)
                except (ConnectionLostError, ProtocolError) as exc:
                    reason = exc
                except TransportError as exc:
                    reason = ConnectionLostError(str(exc), address=self.address)
                finally:
                    nursery.cancel_scope.cancel()
        except BaseException:
            graceful = False  # cancelled or crashed: no closing handshake
            raise
        finally:
            self._fail_all(reason or self._closed_locally())
            await self.stream.aclose(graceful=graceful)

    def _closed_locally(self) -> ConnectionLostError:
        return ConnectionLostError(
            f"{self.address}: connection closed locally", address=self.address
        )

    def _fail_all(self, reason: TransportError) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            self.closed.set()
        for pending in self._pending.values():
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
