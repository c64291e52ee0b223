"""What a transport is: a way to open a message stream to an address and to serve one.

:class:`Transport` is the small interface :mod:`meshtrio._transport.endpoints` talks to; it
picks one per address kind (``ChannelAddr.transport``) in
:func:`~meshtrio._transport.endpoints.transport_for`.
Two implementations: :class:`~meshtrio._transport.websocket.WebSocketTransport` (``tcp:`` and
``unix:``) and :class:`~meshtrio._transport.memory.MemoryTransport` (``local:``).

A transport hands out :class:`~meshtrio._transport.message_streams.MessageStream` objects and
nothing per message: once a stream is open, the RPC layer calls its ``send``/``receive`` directly.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import trio

from meshtrio._addr import ChannelAddr
from meshtrio._tls import ServerTLS
from meshtrio._transport.handshake import Credentials, Offer
from meshtrio._transport.message_streams import MessageStream

__all__ = ["OnConnection", "OnRefused", "Transport"]

OnConnection = Callable[[MessageStream], Awaitable[None]]
"""A server's callback for one authenticated connection; the connection closes when it returns."""

OnRefused = Callable[[str], None]
"""A server's callback for a refused or misbehaving client (the reason, already rate-limited)."""


class Transport(Protocol):
    """Connects to and serves addresses of one or more kinds.

    Errors: an implementation may raise its library's errors (trio, trio-websocket, OS);
    :mod:`meshtrio._transport.endpoints` translates them at its edge (TR-3). Errors it raises
    itself are meshtrio :class:`~meshtrio.errors.TransportError` subclasses.
    """

    def open_stream(
        self,
        addr: ChannelAddr,
        *,
        offer: Offer,
        max_size: int,
        timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> AbstractAsyncContextManager[MessageStream]:
        """Open a client connection to ``addr`` that presents ``offer`` (bounded by
        ``timeout``), over TLS with ``tls``; the connection and anything that runs it end
        when the block is left."""
        ...

    async def serve(
        self,
        addr: ChannelAddr,
        on_connection: OnConnection,
        *,
        creds: Credentials,
        max_size: int,
        handshake_timeout: float,
        on_refused: OnRefused | None,
        task_status: trio.TaskStatus[ChannelAddr],
        tls: ServerTLS | None = None,
    ) -> None:
        """Listen on ``addr`` until cancelled; report the bound address via ``task_status``;
        hand each authenticated connection to ``on_connection`` in its own task; with
        ``tls``, speak TLS only."""
        ...
