"""Message streams: one bytes message in, one bytes message out, over any transport.

:class:`MessageStream` is what the RPC layer (:mod:`meshtrio._transport.rpc`) talks to. Two
implementations: :class:`WsMessageStream` (a trio-websocket connection, over TCP or a Unix
socket) and :class:`MemoryMessageStream` (trio memory channels, for ``local:`` addresses).
Errors of the underlying library are translated here: a closed or broken stream raises
:class:`~meshtrio.errors.ConnectionLostError`; a too-large message, or a connection that ended
in a WebSocket protocol error (a reserved opcode, RSV bits set, an unmasked client frame,
invalid UTF-8: close codes 1002, 1003, 1007, 1008, 1009), :class:`ProtocolError`.

Every stream a server hands out carries the :class:`~meshtrio._transport.handshake.Principal`
its peer authenticated as.

A :class:`WsMessageStream` can also *push* (:meth:`WsMessageStream.deliver_to`): each message
is handed to a consumer in trio-websocket's own reading task, instead of crossing a channel
to a task that calls :meth:`~WsMessageStream.receive`. That saves one task switch per message
in each direction, which is most of what separates an RPC from a bare echo.

Invariant owned here:

* MS-2 (write at once): a message sent while no other send is writing is framed and written
  at once, without yielding to the scheduler (trio-websocket's own send yields for its lock
  first, and again after writing: two scheduler passes per message); while another send is
  writing, it queues behind trio-websocket's lock as before. Either way a frame is never
  interleaved with another, and a cancelled sender writes nothing (``send`` is always a
  cancel point). Not promised: that ``send`` is a schedule point; code that sends in a loop
  must wait for something else (a reply, a window slot) or checkpoint itself.
* MS-1 (push keeps order): after :meth:`WsMessageStream.deliver_to`, the messages that were
  already queued are still returned by :meth:`~WsMessageStream.receive`, first; every later
  message is handed to the consumer, in order, and only once the reader said those queued
  ones were handled (:meth:`~WsMessageStream.handled`).
  The end of the stream (and why it ended) is still reported by ``receive`` alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio
import trio_websocket
import wsproto.events
from wsproto.connection import ConnectionState

from meshtrio._errors import ConnectionLostError, ProtocolError
from meshtrio._transport.frame_stream import FrameStream
from meshtrio._transport.handshake import CLIENT, Principal

_OPEN = ConnectionState.OPEN

__all__ = ["MemoryMessageStream", "MessageStream", "WsMessageStream", "memory_stream_pair"]


class MessageStream(Protocol):
    """A bidirectional stream of binary messages."""

    address: str
    principal: Principal

    async def send(self, data: bytes) -> None:
        """Send one message (ConnectionLostError if the stream is gone)."""
        ...

    async def receive(self) -> bytes:
        """Receive one message (ConnectionLostError when the stream ends)."""
        ...

    async def aclose(self, *, graceful: bool = True) -> None:
        """Close the stream; never raises. ``graceful=False`` skips any closing handshake."""
        ...


SEND_TIMEOUT = 30.0
"""Longest a message may wait to start being written, and then to be written, before the
connection is given up."""

CLOSE_HANDSHAKE_TIMEOUT = 1.0
"""Longest a graceful close waits for the websocket closing handshake."""


def _check_size(data: bytes, max_size: int, address: str) -> None:
    """ProtocolError if ``data`` is larger than the connection's message size bound."""
    if len(data) > max_size:
        raise ProtocolError(
            f"{address}: message of {len(data)} bytes exceeds max_message_size {max_size}",
            address=address,
        )


PROTOCOL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009})
"""WebSocket close codes that mean the protocol was broken (by the peer, or as the peer says)."""


def _describe_close(reason: trio_websocket.CloseReason | None) -> str:
    if reason is None:
        return "connection closed"
    if reason.code == 1009:
        return "connection closed: message too big (1009)"
    if reason.code in PROTOCOL_CLOSE_CODES:
        detail = f": {reason.reason}" if reason.reason else ""
        return f"WebSocket protocol error ({reason.code} {reason.name}){detail}"
    text = f"connection closed ({reason.code} {reason.name})"
    return f"{text}: {reason.reason}" if reason.reason else text


Consumer = Callable[[Any], Awaitable[None]]
"""Takes one pushed message (``bytes``; ``str`` for a text frame, which is the consumer's to
refuse)."""


class _Pusher:
    """Stands in for trio-websocket's message channel, into which its reading task ``send``s
    each message (MS-1): to the consumer, once the messages queued before it are taken."""

    def __init__(self, channel: Any, consumer: Consumer, backlog: int) -> None:
        self._channel = channel  # the real channel: closing it still ends receive()
        self._consumer = consumer
        self.backlog = backlog
        self.caught_up = trio.Event()
        if backlog == 0:
            self.caught_up.set()

    async def send(self, message: Any) -> None:
        if not self.caught_up.is_set():
            await self.caught_up.wait()
        await self._consumer(message)

    def took_one(self) -> None:
        """receive() returned one of the queued messages."""
        if self.backlog > 0:
            self.backlog -= 1
            if self.backlog == 0:
                self.caught_up.set()

    async def aclose(self) -> None:
        await self._channel.aclose()

    def __getattr__(self, name: str) -> Any:  # anything else trio-websocket may ask of it
        return getattr(self._channel, name)


class WsMessageStream:
    """A :class:`MessageStream` over a trio-websocket connection."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        address: str,
        max_size: int,
        raw: FrameStream,
        principal: Principal = CLIENT,
    ) -> None:
        self._ws = ws
        self._raw = raw
        self.address = address
        self.principal = principal
        self._max_size = max_size
        self._pusher: _Pusher | None = None

    def deliver_to(self, consumer: Consumer) -> None:
        """Push every message that arrives from now on to ``await consumer(message)``, in the
        connection's reading task (MS-1); the messages queued already are still returned by
        :meth:`receive`, first, and so is the stream's end. Once per stream.

        The consumer may wait (reading waits with it: backpressure); it must not raise.
        """
        ws: Any = self._ws
        stats = ws._recv_channel.statistics()
        backlog = stats.current_buffer_used + stats.tasks_waiting_send
        self._pusher = _Pusher(ws._send_channel, consumer, backlog)
        ws._send_channel = self._pusher

    async def send(self, data: bytes) -> None:
        """Send one binary message.

        A frame is written whole even if the caller is cancelled meanwhile (the byte stream
        underneath is a :class:`~meshtrio._transport.frame_stream.FrameStream`, SK-1): a frame torn
        halfway would corrupt every later frame on the connection.
        """
        _check_size(data, self._max_size, self.address)
        try:
            if not await self._send_at_once(data):
                await self._ws.send_message(data)
        except trio_websocket.ConnectionClosed as exc:
            why = self._raw.gave_up or _describe_close(exc.reason)
            raise ConnectionLostError(f"{self.address}: {why}", address=self.address) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            raise ConnectionLostError(
                f"{self.address}: connection broke ({detail})", address=self.address
            ) from None

    async def _send_at_once(self, data: bytes) -> bool:
        """MS-2: write the frame now, without yielding, when nobody else is writing; False
        when someone is (then trio-websocket's own send queues behind its lock, as usual)."""
        ws: Any = self._ws
        lock: trio.Lock = ws._stream_lock
        if lock.locked() or ws._close_reason is not None or ws._wsproto.state != _OPEN:
            return False
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled: nothing is written
        frame = ws._wsproto.send(wsproto.events.BytesMessage(data=data))
        lock.acquire_nowait()
        try:
            # The stream trio-websocket writes to: the FrameStream, or TLS over it. Whole
            # once started (SK-1, TLS-4); no yield on plaintext (SK-2).
            await ws._stream.send_all(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await ws._abort_web_socket()
            raise trio_websocket.ConnectionClosed(ws._close_reason) from None
        finally:
            lock.release()
        return True

    async def receive(self) -> bytes:
        """Receive one message; a text message is a protocol error."""
        try:
            msg = await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            if exc.reason is not None and exc.reason.code in PROTOCOL_CLOSE_CODES:
                raise ProtocolError(
                    f"{self.address}: {_describe_close(exc.reason)}", address=self.address
                ) from None
            why = self._raw.gave_up or _describe_close(exc.reason)
            raise ConnectionLostError(f"{self.address}: {why}", address=self.address) from None
        if isinstance(msg, str):
            if self._pusher is not None:
                self._pusher.took_one()  # never handled: it breaks the connection
            raise ProtocolError(
                f"{self.address}: text frame where binary expected", address=self.address
            )
        return msg

    def handled(self) -> None:
        """The message :meth:`receive` returned last was handled: after the queued ones, the
        consumer's turn comes (MS-1)."""
        if self._pusher is not None:
            self._pusher.took_one()

    async def aclose(self, *, graceful: bool = True) -> None:
        """Close the websocket (bounded; never raises).

        ``graceful`` runs the closing handshake (at most :data:`CLOSE_HANDSHAKE_TIMEOUT`
        seconds); otherwise, or if that does not finish, the underlying stream is closed at
        once.
        """
        if graceful and not self._ws.closed:
            with trio.move_on_after(CLOSE_HANDSHAKE_TIMEOUT) as cs:
                cs.shield = True
                try:
                    await self._ws.aclose()
                except Exception:  # closing a broken connection may fail any which way
                    pass
        await trio.aclose_forcefully(self._raw)


class MemoryMessageStream:
    """One end of an in-memory message stream (``local:`` transport)."""

    def __init__(
        self,
        send: trio.MemorySendChannel[bytes],
        recv: trio.MemoryReceiveChannel[bytes],
        address: str,
        max_size: int,
        principal: Principal = CLIENT,
    ) -> None:
        self._send = send
        self._recv = recv
        self.address = address
        self.principal = principal
        self._max_size = max_size

    async def send(self, data: bytes) -> None:
        """Send one message to the other end."""
        _check_size(data, self._max_size, self.address)
        try:
            await self._send.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ConnectionLostError(
                f"{self.address}: connection closed", address=self.address
            ) from None

    async def receive(self) -> bytes:
        """Receive one message from the other end."""
        try:
            return await self._recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError, trio.BrokenResourceError):
            raise ConnectionLostError(
                f"{self.address}: connection closed", address=self.address
            ) from None

    async def aclose(self, *, graceful: bool = True) -> None:
        """Close both directions (both at once: a cancelled ``aclose`` must not skip one)."""
        self._send.close()
        self._recv.close()
        await trio.lowlevel.checkpoint()


def memory_stream_pair(
    client_address: str, server_address: str, max_size: int, buffer: int = 64
) -> tuple[MemoryMessageStream, MemoryMessageStream]:
    """A connected (client end, server end) pair of in-memory message streams."""
    a_send, b_recv = trio.open_memory_channel[bytes](buffer)
    b_send, a_recv = trio.open_memory_channel[bytes](buffer)
    client = MemoryMessageStream(a_send, a_recv, server_address, max_size)
    server = MemoryMessageStream(b_send, b_recv, client_address, max_size)
    return client, server
