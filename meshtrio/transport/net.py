"""Listening and connecting: ``tcp:`` and ``unix:`` carry WebSocket, ``local:`` memory channels.

:func:`serve` binds a :class:`~meshtrio.addr.ChannelAddr` (port 0, ``unix:`` and ``local:0``
mean "pick one"), reports the bound address through ``task_status``, authenticates every
client during the opening handshake (:mod:`meshtrio.transport.handshake`) and hands each
accepted connection, as a :class:`~meshtrio.transport.streams.MessageStream`, to a callback.
:func:`connect` opens a client connection and runs a :class:`~meshtrio.transport.rpc.Peer` on it.

Invariants owned here:

* TR-1 (authenticated): no message reaches a callback from a client whose token or protocol
  version is wrong; such clients are refused with a reason and the server keeps serving.
* TR-2 (bounded): the server bounds each opening handshake (``handshake_timeout``), the
  number of handshakes in progress (:data:`MAX_PENDING_HANDSHAKES`) and every message's size
  (``max_size``); a client bounds connect + handshake (``timeout``).
* TR-3 (translated): trio-websocket and OS errors leave this module only as meshtrio
  :class:`~meshtrio.errors.TransportError` subclasses.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import secrets
import socket as _stdsocket
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import attrs
import trio
import trio_websocket

from meshtrio.addr import ChannelAddr
from meshtrio.errors import (
    ConnectionLostError,
    HostUnreachableError,
    RequestTimeoutError,
    TransportError,
)
from meshtrio.transport.handshake import Offer, check_offer, check_token, refusal_error
from meshtrio.transport.rpc import Handler, Peer
from meshtrio.transport.sockets import FrameStream
from meshtrio.transport.streams import (
    SEND_TIMEOUT,
    MessageStream,
    WsMessageStream,
    memory_stream_pair,
)
from meshtrio.wire import PROTOCOL_VERSION

__all__ = ["connect", "serve"]

log = logging.getLogger("meshtrio.transport")

OnConnection = Callable[[MessageStream], Awaitable[None]]

T = TypeVar("T")


# -- in-process ("local:") registry ---------------------------------------------------------
@attrs.define
class _LocalListener:
    token: str
    nursery: trio.Nursery
    on_connection: OnConnection
    max_size: int


_LOCAL: dict[int, _LocalListener] = {}
_local_next = 1


def _local_bind(index: int, listener: _LocalListener) -> int:
    global _local_next
    if index == 0:
        while _local_next in _LOCAL:
            _local_next += 1
        index = _local_next
        _local_next += 1
    elif index in _LOCAL:
        raise TransportError(f"local:{index}: address already in use", address=f"local:{index}")
    _LOCAL[index] = listener
    return index


# -- errors ---------------------------------------------------------------------------------
def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(_leaves(sub))
        return out
    return [exc]


def _cancel_part(exc: BaseException) -> BaseException | None:
    """The cancellation in ``exc`` (itself, or the Cancelled part of a group), or None."""
    if isinstance(exc, trio.Cancelled):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(lambda e: isinstance(e, trio.Cancelled))
    return None


def _translate(exc: BaseException, address: str) -> BaseException:
    """Map an error from trio-websocket, trio or the OS to a meshtrio error (TR-3)."""
    leaves = [e for e in _leaves(exc) if not isinstance(e, trio.Cancelled)]
    if not leaves:
        return exc
    for e in leaves:
        if isinstance(e, TransportError | RequestTimeoutError):
            return e
        if isinstance(e, trio_websocket.ConnectionRejected):
            body = (e.body or b"").decode("utf-8", "replace")[:200]
            return refusal_error(e.status_code, body, address)
    first = leaves[0]
    if isinstance(first, trio_websocket.ConnectionClosed | trio_websocket.HandshakeError):
        return ConnectionLostError(
            f"{address}: connection closed during handshake", address=address
        )
    if isinstance(first, OSError):
        return HostUnreachableError(
            f"{address}: cannot connect: {first.strerror or first or type(first).__name__}",
            address=address,
        )
    if isinstance(first, trio.BrokenResourceError | trio.ClosedResourceError):
        return ConnectionLostError(f"{address}: connection broke during handshake", address=address)
    return first


# -- connecting -----------------------------------------------------------------------------
def _tcp(addr: ChannelAddr) -> tuple[str, int]:
    assert addr.host is not None
    assert addr.port is not None
    return addr.host, addr.port


def _local_index(addr: ChannelAddr) -> int:
    assert addr.index is not None
    return addr.index


async def _open_raw(addr: ChannelAddr) -> FrameStream:
    if addr.transport == "tcp":
        return FrameStream(await trio.open_tcp_stream(*_tcp(addr)), send_timeout=SEND_TIMEOUT)
    if addr.transport == "unix":
        sock = trio.socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        try:
            await sock.connect(_unix_sockaddr(addr))
        except BaseException:
            sock.close()
            raise
        return FrameStream(trio.SocketStream(sock), send_timeout=SEND_TIMEOUT)
    raise HostUnreachableError(f"{addr}: cannot connect to this address", address=str(addr))


def _unix_sockaddr(addr: ChannelAddr) -> str:
    path = addr.path or ""
    return "\0" + path if addr.abstract else path


async def connect(
    addr: ChannelAddr,
    *,
    token: str,
    handler: Handler | None = None,
    max_size: int,
    timeout: float,
    task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect to ``addr``, run a :class:`Peer` on the connection until it ends.

    Use with ``peer = await nursery.start(connect, addr, token=..., ...)``. Before the peer is
    reported, failures raise (translated, TR-3): :class:`HostUnreachableError`,
    :class:`AuthRejectedError`, :class:`ProtocolError`, :class:`ConnectionLostError`, or
    :class:`RequestTimeoutError` when connect plus handshake take longer than ``timeout``.
    After that, this task returns when the connection ends; it never raises (the peer's
    ``close_reason`` says why it ended). Cancel it to close the connection.
    """
    address = str(addr)
    check_token(token)
    if addr.transport == "local":
        listener = _LOCAL.get(_local_index(addr))
        if listener is None:
            raise HostUnreachableError(f"{address}: no such local listener", address=address)
        refusal = check_offer(Offer(PROTOCOL_VERSION, token), listener.token)
        if refusal is not None:
            raise refusal_error(refusal.status, refusal.reason, address)
        size = min(max_size, listener.max_size)
        client, server = memory_stream_pair("local:client", address, size)
        listener.nursery.start_soon(listener.on_connection, server)
        peer = Peer(client, handler)
        task_status.started(peer)
        await peer.run()
        return

    started = False
    try:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(timeout):
                raw = await _open_raw(addr)
                host = _tcp(addr)[0] if addr.transport == "tcp" else "localhost"
                try:
                    ws = await _unless_hung_up(
                        raw,
                        functools.partial(
                            trio_websocket.wrap_client_stream,
                            nursery,
                            raw,  # type: ignore[arg-type]  # any trio Stream works
                            host,
                            "/meshtrio",
                            extra_headers=Offer(PROTOCOL_VERSION, token).headers(),
                            max_message_size=max_size,
                        ),
                    )
                except BaseException:  # timed out, cancelled or refused: don't leak the socket
                    await trio.aclose_forcefully(raw)
                    raise
                if ws is None:
                    await trio.aclose_forcefully(raw)
                    raise ConnectionLostError(
                        f"{address}: the server hung up during the handshake", address=address
                    )
            peer = Peer(WsMessageStream(ws, address, max_size, raw), handler)
            task_status.started(peer)
            del task_status  # it holds trio's temporary start nursery for as long as we run
            started = True
            await peer.run()
            nursery.cancel_scope.cancel()
    except BaseException as exc:
        cancels = _cancel_part(exc)
        if cancels is exc:
            raise
        if cancels is not None:
            # Being cancelled wins over an error that happened at the same moment: never turn
            # a cancellation into a TransportError, nor let the error escape with it.
            raise cancels from None
        # fail_after fires inside the nursery, so its TooSlowError arrives wrapped in a group.
        if not started and any(isinstance(e, trio.TooSlowError) for e in _leaves(exc)):
            raise RequestTimeoutError(
                f"{address}: connect and handshake did not finish within {timeout:g}s",
                address=address,
                timeout=timeout,
            ) from None
        translated = _translate(exc, address)
        if started:
            if isinstance(translated, Exception):
                log.debug("connection to %s ended: %r", address, translated)
                return
            raise
        if translated is exc:
            raise
        raise translated from None


# -- serving --------------------------------------------------------------------------------
async def _bind(addr: ChannelAddr) -> tuple[list[trio.SocketListener], ChannelAddr, str | None]:
    """Bind listeners; returns them, the bound address, and a unix path to unlink at the end."""
    if addr.transport == "tcp":
        try:
            host, port = _tcp(addr)
            listeners = await trio.open_tcp_listeners(port, host=host)
        except OSError as exc:
            raise TransportError(
                f"{addr}: cannot listen: {exc.strerror}", address=str(addr)
            ) from None
        port = listeners[0].socket.getsockname()[1]
        return list(listeners), ChannelAddr.tcp(host, port), None
    if addr.transport == "unix":
        bound = addr
        if addr.is_any:
            bound = ChannelAddr.unix_abstract(f"meshtrio-{secrets.token_hex(12)}")
        sock = trio.socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        try:
            await sock.bind(_unix_sockaddr(bound))
            sock.listen(_stdsocket.SOMAXCONN)
        except OSError as exc:
            sock.close()
            what = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise TransportError(f"{bound}: cannot listen: {what}", address=str(bound)) from None
        cleanup = None if bound.abstract else bound.path
        return [trio.SocketListener(sock)], bound, cleanup
    raise TransportError(f"{addr}: cannot listen on this transport", address=str(addr))


async def serve(
    addr: ChannelAddr,
    on_connection: OnConnection,
    *,
    token: str,
    max_size: int,
    handshake_timeout: float = 10.0,
    on_refused: Callable[[str], None] | None = None,
    task_status: trio.TaskStatus[ChannelAddr] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``addr`` until cancelled; report the bound address via ``task_status``.

    Each authenticated connection is handed to ``on_connection(stream)`` in its own task;
    when that returns the connection is closed. Refused or broken clients are logged,
    reported to ``on_refused(reason)`` and dropped (TR-1); nothing they do stops the server.
    """
    check_token(token)
    if addr.transport == "local":
        if _local_index(addr) in _LOCAL:  # raise here: inside the nursery it would be a group
            raise TransportError(f"{addr}: address already in use", address=str(addr))
        async with trio.open_nursery() as nursery:
            index = _local_bind(
                _local_index(addr), _LocalListener(token, nursery, on_connection, max_size)
            )
            try:
                task_status.started(ChannelAddr.local(index))
                await trio.sleep_forever()
            finally:
                _LOCAL.pop(index, None)

    listeners, bound, cleanup = await _bind(addr)
    address = str(bound)

    pending = _Gauge()

    async def handle(stream: trio.SocketStream) -> None:
        reason: str | None
        try:
            if pending.value >= MAX_PENDING_HANDSHAKES:  # TR-2: idle sockets cannot pile up
                reason = f"dropped: more than {MAX_PENDING_HANDSHAKES} handshakes in progress"
            else:
                reason = await _serve_ws(
                    stream, address, on_connection, token, max_size, handshake_timeout, pending
                )
        except Exception as exc:  # TR-1: one bad client never stops the server
            reason = f"dropped: {_translate(exc, address)!r:.200}"
        finally:
            await trio.aclose_forcefully(stream)
        if reason is not None:
            log.warning("%s: client %s", address, reason)
            if on_refused is not None:
                on_refused(reason)

    try:
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(_accept_loop, listener, nursery, handle, address)
            task_status.started(bound)
            del task_status  # it holds trio's temporary start nursery for as long as we serve
    finally:
        if cleanup is not None:
            try:
                os.unlink(cleanup)
            except OSError:
                pass


ACCEPT_RETRY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
"""accept() failures that mean "out of resources for now": wait a moment and try again."""


async def _accept_loop(
    listener: trio.SocketListener,
    nursery: trio.Nursery,
    handle: Callable[[trio.SocketStream], Awaitable[None]],
    address: str,
) -> None:
    """Accept connections until cancelled (then close the listener), each handled in its own
    task in ``nursery``."""
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in ACCEPT_RETRY_ERRNOS:
                    raise
                log.error("%s: cannot accept a connection (%s); retrying in 0.1 s", address, exc)
                await trio.sleep(0.1)
                continue
            nursery.start_soon(handle, stream)


MAX_PENDING_HANDSHAKES = 256
"""Most clients a server lets sit in their opening handshake at once; more are dropped."""


class _Gauge:
    """How many clients are in their opening handshake."""

    def __init__(self) -> None:
        self.value = 0

    @contextlib.contextmanager
    def counted(self) -> Iterator[Callable[[], None]]:
        """Count one for the block; the yielded function ends the count early (once)."""
        self.value += 1
        counting = True

        def done() -> None:
            nonlocal counting
            if counting:
                counting = False
                self.value -= 1

        try:
            yield done
        finally:
            done()


async def _unless_hung_up(stream: FrameStream, fn: Callable[[], Awaitable[T]]) -> T | None:
    """``await fn()``, or None as soon as ``stream`` reaches end of file or is closed first.

    trio-websocket answers a bad handshake by closing the stream, and never wakes a
    handshake that is waiting when the peer hangs up: without this, both ends would wait for
    their handshake timeout.
    """
    result: T | None = None
    async with trio.open_nursery() as race:

        async def run() -> None:
            nonlocal result
            result = await fn()
            race.cancel_scope.cancel()

        async def watch() -> None:
            await stream.gone.wait()
            race.cancel_scope.cancel()

        race.start_soon(run)
        race.start_soon(watch)
    return result


async def _serve_ws(
    stream: trio.SocketStream,
    address: str,
    on_connection: OnConnection,
    token: str,
    max_size: int,
    handshake_timeout: float,
    pending: _Gauge,
) -> str | None:
    """Serve one websocket client; returns why it was refused, or None.

    ``pending`` counts this client while its opening handshake is in progress.
    """
    watched = FrameStream(stream, send_timeout=SEND_TIMEOUT)
    with pending.counted() as handshake_done:
        async with trio.open_nursery() as nursery:
            request = None
            with trio.move_on_after(handshake_timeout):
                request = await _unless_hung_up(
                    watched,
                    functools.partial(
                        trio_websocket.wrap_server_stream,
                        nursery,
                        watched,
                        max_message_size=max_size,
                    ),
                )
            if request is None:
                nursery.cancel_scope.cancel()
                if watched.gone.is_set():
                    return "sent a bad opening handshake (not a meshtrio WebSocket client)"
                return f"no valid handshake within {handshake_timeout:g}s"
            refusal = check_offer(Offer.from_headers(list(request.headers)), token)
            if refusal is not None:
                with trio.move_on_after(handshake_timeout):
                    await request.reject(refusal.status, body=refusal.reason.encode())
                nursery.cancel_scope.cancel()
                return f"refused ({refusal.status}): {refusal.reason}"
            ws = None
            with trio.move_on_after(handshake_timeout):
                ws = await request.accept()
            handshake_done()
            if ws is not None:
                await on_connection(WsMessageStream(ws, f"client of {address}", max_size, watched))
            nursery.cancel_scope.cancel()
        return None
