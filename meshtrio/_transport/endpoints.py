"""Listening and connecting on any address: the transport for each kind, and the error edge.

:func:`serve` binds a :class:`~meshtrio._addr.ChannelAddr` (port 0, ``unix:`` and ``local:0``
mean "pick one"), reports the bound address through ``task_status``, authenticates every
client during the opening handshake (:mod:`meshtrio._transport.handshake`) and hands each
accepted connection, as a :class:`~meshtrio._transport.message_streams.MessageStream`, to a
callback.
:func:`connect` opens a client connection and runs a :class:`~meshtrio._transport.rpc.Peer` on it.

Both pick the :class:`~meshtrio._transport.interface.Transport` for the address in one place,
:func:`transport_for`: ``tcp:`` and ``unix:`` carry WebSocket
(:mod:`meshtrio._transport.websocket`, which owns TR-1, TR-2, TR-4 and TR-5), ``local:``
memory channels (:mod:`meshtrio._transport.memory`).

Invariant owned here:

* TR-3 (translated): trio-websocket and OS errors leave this module only as meshtrio
  :class:`~meshtrio.errors.TransportError` subclasses (through
  :func:`~meshtrio._transport.translate.translate`, the one place that maps them), with the
  library's error kept as the ``__cause__``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

import trio

from meshtrio._addr import ChannelAddr
from meshtrio._errors import HostUnreachableError, RequestTimeoutError, TransportError
from meshtrio._tls import ServerTLS
from meshtrio._transport.handshake import Credentials, Offer, check_token
from meshtrio._transport.interface import OnConnection, Transport
from meshtrio._transport.memory import MemoryTransport
from meshtrio._transport.rpc import Handler, Peer
from meshtrio._transport.translate import cancel_part, leaves, translate
from meshtrio._transport.websocket import TCP, UNIX
from meshtrio._wire import PROTOCOL_VERSION

__all__ = ["MEMORY", "connect", "serve", "transport_for"]

log = logging.getLogger("meshtrio._transport")

MEMORY = MemoryTransport()
"""The ``local:`` transport."""

_TRANSPORTS: dict[str, Transport] = {"tcp": TCP, "unix": UNIX, "local": MEMORY}


def transport_for(kind: str) -> Transport | None:
    """The transport for addresses of ``kind`` (``ChannelAddr.transport``), or None."""
    return _TRANSPORTS.get(kind)


async def connect(
    addr: ChannelAddr,
    *,
    token: str,
    handler: Handler | None = None,
    max_size: int,
    timeout: float,
    tls: ssl.SSLContext | None = None,
    task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect to ``addr`` (over TLS with ``tls``), run a :class:`Peer` on the connection
    until it ends.

    Use with ``peer = await nursery.start(connect, addr, token=..., ...)``. Before the peer is
    reported, failures raise (translated, TR-3): :class:`HostUnreachableError`,
    :class:`AuthRejectedError`, :class:`ProtocolError`, :class:`ConnectionLostError`, a
    :class:`TLSError` (TLS-5), or
    :class:`RequestTimeoutError` when connect plus handshake take longer than ``timeout``.
    After that, this task returns when the connection ends; it never raises (the peer's
    ``close_reason`` says why it ended). Cancel it to close the connection.
    """
    address = str(addr)
    check_token(token)
    transport = transport_for(addr.transport)
    if transport is None:
        raise HostUnreachableError(f"{addr}: cannot connect to this address", address=address)
    started = False
    try:
        async with transport.open_stream(
            addr,
            offer=Offer(PROTOCOL_VERSION, token),
            max_size=max_size,
            timeout=timeout,
            tls=tls,
        ) as stream:
            peer = Peer(stream, handler)
            task_status.started(peer)
            del task_status  # it holds trio's temporary start nursery for as long as we run
            started = True
            await peer.run()
    except BaseException as exc:
        cancels = cancel_part(exc)
        if cancels is exc:
            raise
        if cancels is not None:
            # Being cancelled wins over an error that happened at the same moment: never turn
            # a cancellation into a TransportError, nor let the error escape with it.
            raise cancels from None
        # fail_after fires inside the nursery, so its TooSlowError arrives wrapped in a group.
        slow = [e for e in leaves(exc) if isinstance(e, trio.TooSlowError)]
        if not started and slow:
            raise RequestTimeoutError(
                f"{address}: connect and handshake did not finish within {timeout:g}s",
                address=address,
                timeout=timeout,
            ) from slow[0]
        translated = translate(exc, address)
        if started:
            if isinstance(translated, Exception):
                log.debug("connection to %s ended: %r", address, translated)
                return
            raise
        if translated is exc:
            raise
        # A new error carries its library cause; a meshtrio error found in a group keeps its own.
        raise translated from translated.__cause__


async def serve(
    addr: ChannelAddr,
    on_connection: OnConnection,
    *,
    token: str | Credentials,
    max_size: int,
    handshake_timeout: float = 10.0,
    on_refused: Callable[[str], None] | None = None,
    tls: ServerTLS | None = None,
    task_status: trio.TaskStatus[ChannelAddr] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``addr`` until cancelled; report the bound address via ``task_status``.
    With ``tls``, speak TLS only (``tcp:`` and ``unix:``; ``local:`` never leaves the process).

    Each authenticated connection is handed to ``on_connection(stream)`` in its own task
    (``stream.principal`` says whom it authenticated as: the client token, or with
    :class:`~meshtrio._transport.handshake.Credentials` that carry a proc secret, one proc);
    when that returns the connection is closed. Refused or misbehaving clients are logged,
    reported to ``on_refused(reason)`` and dropped (TR-1); nothing they do stops the server.
    Clients that hang up during their handshake are logged only (TR-4).

    Raises:
        TransportError: ``addr`` cannot be listened on (address in use, ...).
    """
    creds = token if isinstance(token, Credentials) else Credentials(token)
    check_token(creds.token)
    transport = transport_for(addr.transport)
    if transport is None:
        raise TransportError(f"{addr}: cannot listen on this transport", address=str(addr))
    # Hand task_status over without keeping it here: it holds trio's temporary start nursery
    # for as long as we serve.
    status = [task_status]
    del task_status
    await transport.serve(
        addr,
        on_connection,
        creds=creds,
        max_size=max_size,
        handshake_timeout=handshake_timeout,
        on_refused=on_refused,
        task_status=status.pop(),
        tls=tls,
    )
