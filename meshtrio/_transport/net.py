"""Listening and connecting: ``tcp:`` and ``unix:`` carry WebSocket, ``local:`` memory channels.

:func:`serve` binds a :class:`~meshtrio._addr.ChannelAddr` (port 0, ``unix:`` and ``local:0``
mean "pick one"), reports the bound address through ``task_status``, authenticates every
client during the opening handshake (:mod:`meshtrio._transport.handshake`) and hands each
accepted connection, as a :class:`~meshtrio._transport.streams.MessageStream`, to a callback.
:func:`connect` opens a client connection and runs a :class:`~meshtrio._transport.rpc.Peer` on it.

Invariants owned here:

* TR-1 (authenticated): no message reaches a callback from a client whose token or protocol
  version is wrong; such clients are refused with a reason and the server keeps serving.
* TR-2 (bounded, never locked out): the server bounds each opening handshake
  (``handshake_timeout``), the number of handshakes in progress
  (:data:`MAX_PENDING_HANDSHAKES`) and every message's size (``max_size``); a client bounds
  connect + handshake (``timeout``). A full server applies backpressure, never loss: it stops
  accepting (the kernel's listen backlog holds the next clients) until a handshake ends, and
  while a client waits in the backlog it makes room by evicting the oldest pending handshake
  whose client has sent nothing for :data:`IDLE_EVICT_AFTER`. So idle sockets cannot lock an
  honest client out (it waits about that long at most), and many honest clients at once are
  all served: one whose own process was too busy to send its request in time, and was
  evicted before the server read a byte, connects again (:data:`HANDSHAKE_ATTEMPTS` times
  in all, within its connect timeout). Not promised: a client that sends part of its
  request and then stalls holds its slot for up to ``handshake_timeout``.
* TR-5 (reports are bounded): refused and misbehaving clients are logged and reported at
  most :data:`REPORT_BURST` at once and :data:`REPORT_RATE` per second after that; the ones
  left out are counted and the count is added to the next report, so a flood of bad clients
  neither floods the log nor pushes a host's history out, and none goes unrecorded.
* TR-4 (hang-ups are not attacks): a client that hangs up (end of file or a reset) during its
  opening handshake is logged as such, not reported as a bad client; a reset fails a
  client's connect at once (SK-3), like a clean close.
* TR-3 (translated): trio-websocket and OS errors leave this module only as meshtrio
  :class:`~meshtrio.errors.TransportError` subclasses.
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import os
import secrets
import select
import socket as _stdsocket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import trio
import trio_websocket

from meshtrio._addr import ChannelAddr
from meshtrio._errors import (
    ConnectionLostError,
    HostUnreachableError,
    RequestTimeoutError,
    TransportError,
)
from meshtrio._transport.handshake import (
    Credentials,
    Offer,
    Principal,
    Refusal,
    check_offer,
    check_token,
    refusal_error,
)
from meshtrio._transport.rpc import Handler, Peer
from meshtrio._transport.sockets import FrameStream
from meshtrio._transport.streams import (
    SEND_TIMEOUT,
    MessageStream,
    WsMessageStream,
    memory_stream_pair,
)
from meshtrio._wire import PROTOCOL_VERSION

__all__ = ["connect", "serve"]

log = logging.getLogger("meshtrio._transport")

OnConnection = Callable[[MessageStream], Awaitable[None]]

T = TypeVar("T")


# -- in-process ("local:") registry ---------------------------------------------------------
@attrs.define
class _LocalListener:
    creds: Credentials
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
        outcome = check_offer(Offer(PROTOCOL_VERSION, token), listener.creds)
        if isinstance(outcome, Refusal):
            raise refusal_error(outcome.status, outcome.reason, address)
        size = min(max_size, listener.max_size)
        client, server = memory_stream_pair("local:client", address, size)
        server.principal = outcome
        listener.nursery.start_soon(listener.on_connection, server)
        peer = Peer(client, handler)
        task_status.started(peer)
        await peer.run()
        return

    started = False
    try:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(timeout):
                host = _tcp(addr)[0] if addr.transport == "tcp" else "localhost"
                for attempt in range(1, HANDSHAKE_ATTEMPTS + 1):
                    raw = await _open_raw(addr)
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
                    except BaseException:  # timed out, cancelled or refused: close the socket
                        await trio.aclose_forcefully(raw)
                        raise
                    if ws is not None:
                        break
                    await trio.aclose_forcefully(raw)
                    if raw.received == 0 and attempt < HANDSHAKE_ATTEMPTS:
                        continue  # TR-2: a full server evicted us before reading: try again
                    how = f" ({raw.broke})" if raw.broke else ""
                    raise ConnectionLostError(
                        f"{address}: the server hung up during the handshake{how}",
                        address=address,
                    )
            assert ws is not None  # the loop above breaks only with a websocket, else raises
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
    token: str | Credentials,
    max_size: int,
    handshake_timeout: float = 10.0,
    on_refused: Callable[[str], None] | None = None,
    task_status: trio.TaskStatus[ChannelAddr] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``addr`` until cancelled; report the bound address via ``task_status``.

    Each authenticated connection is handed to ``on_connection(stream)`` in its own task
    (``stream.principal`` says whom it authenticated as: the client token, or with
    :class:`~meshtrio._transport.handshake.Credentials` that carry a proc secret, one proc);
    when that returns the connection is closed. Refused or misbehaving clients are logged,
    reported to ``on_refused(reason)`` and dropped (TR-1); nothing they do stops the server.
    Clients that hang up during their handshake are logged only (TR-4).
    """
    creds = token if isinstance(token, Credentials) else Credentials(token)
    check_token(creds.token)
    if addr.transport == "local":
        if _local_index(addr) in _LOCAL:  # raise here: inside the nursery it would be a group
            raise TransportError(f"{addr}: address already in use", address=str(addr))
        async with trio.open_nursery() as nursery:
            index = _local_bind(
                _local_index(addr), _LocalListener(creds, nursery, on_connection, max_size)
            )
            try:
                task_status.started(ChannelAddr.local(index))
                await trio.sleep_forever()
            finally:
                _LOCAL.pop(index, None)

    listeners, bound, cleanup = await _bind(addr)
    address = str(bound)
    handshakes = _Handshakes(MAX_PENDING_HANDSHAKES)
    throttle = _Throttle(REPORT_RATE, REPORT_BURST)

    async def handle(stream: trio.SocketStream, entry: _Pending) -> None:
        outcome: _Dropped | None
        try:
            outcome = await _serve_ws(
                stream, entry, address, on_connection, creds, max_size, handshake_timeout
            )
        except Exception as exc:  # TR-1: one bad client never stops the server
            outcome = _Dropped(f"dropped: {_translate(exc, address)!r:.200}")
        finally:
            entry.done()
            await trio.aclose_forcefully(stream)
        if outcome is None:
            return
        if not outcome.bad:
            log.info("%s: client %s", address, outcome.reason)
            return
        reason = throttle.admit(outcome.reason)
        if reason is None:  # TR-5: counted, and said with the next report
            return
        log.warning("%s: client %s", address, reason)
        if on_refused is not None:
            on_refused(reason)

    try:
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(_accept_loop, listener, nursery, handle, address, handshakes)
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
    handle: Callable[[trio.SocketStream, _Pending], Awaitable[None]],
    address: str,
    handshakes: _Handshakes,
) -> None:
    """Accept connections until cancelled (then close the listener), each handled in its own
    task in ``nursery``; while ``handshakes`` is full, accept only after making room (TR-2).

    A connection counts as a pending handshake from the moment it is accepted (the count is
    exact whenever this loop decides whether to accept)."""
    async with listener:
        while True:
            if handshakes.full:
                # Backpressure: leave the next client in the kernel's backlog. Once one waits
                # there, make room by evicting an idle handshake, else wait for one to end.
                await trio.lowlevel.wait_readable(listener.socket)
                recheck = handshakes.evict_idle()
                if recheck is not None:
                    with trio.move_on_at(recheck):
                        await handshakes.wait_for_room()
                continue
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in ACCEPT_RETRY_ERRNOS:
                    raise
                log.error("%s: cannot accept a connection (%s); retrying in 0.1 s", address, exc)
                await trio.sleep(0.1)
                continue
            nursery.start_soon(handle, stream, handshakes.add(stream))


REPORT_RATE = 10.0
"""Bad-client reports per second a server makes once its burst is spent (TR-5)."""

REPORT_BURST = 20
"""Bad-client reports a server makes at once before :data:`REPORT_RATE` applies (TR-5)."""


class _Throttle:
    """A token bucket for reports: :meth:`admit` says whether to report now (TR-5)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = trio.current_time()
        self._skipped = 0

    def admit(self, reason: str) -> str | None:
        """``reason`` (with the count of reports left out before it) to report now, or None."""
        now = trio.current_time()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            self._skipped += 1
            return None
        self._tokens -= 1
        skipped, self._skipped = self._skipped, 0
        return f"{reason} (and {skipped} more not reported)" if skipped else reason


HANDSHAKE_ATTEMPTS = 3
"""Times a client opens a connection when the server hangs up before answering a byte (a
full server evicts a client whose request it has not read, TR-2; all within ``timeout``)."""

MAX_PENDING_HANDSHAKES = 256
"""Most clients a server lets sit in their opening handshake at once (TR-2): while that many
are, it accepts no more (they wait in the kernel's backlog) and evicts idle ones for them."""


@attrs.frozen
class _Dropped:
    """Why a client's connection ended before it was served; ``bad``: report it."""

    reason: str
    bad: bool = True


IDLE_EVICT_AFTER = 1.0
"""Seconds a client must have sent nothing before a full server may evict it (TR-2): an honest
client sends its request as soon as it is connected, so it is never that idle unless its own
process is starved for that long."""


class _Pending:
    """One client in its opening handshake."""

    __slots__ = ("evicted", "owner", "scope", "since", "stream", "watched")

    def __init__(self, stream: trio.SocketStream, owner: _Handshakes) -> None:
        self.stream = stream
        self.owner = owner
        self.watched: FrameStream | None = None
        """The stream the handshake reads through, once it started."""
        self.scope = trio.CancelScope()
        self.since = trio.current_time()
        self.evicted = False

    def done(self) -> None:
        """The handshake is over (idempotent)."""
        self.owner.done(self)

    def idle(self) -> bool:
        """True if the client has sent nothing at all (not even bytes still unread)."""
        if self.watched is not None and self.watched.received:
            return False
        try:
            poller = select.poll()
            poller.register(self.stream.socket.fileno(), select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False  # closed: its task is ending anyway


class _Handshakes:
    """The clients in their opening handshake, oldest first (TR-2)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending: dict[_Pending, None] = {}  # insertion order: oldest first
        self._room = trio.Event()

    @property
    def full(self) -> bool:
        """True when no further handshake may start."""
        return len(self._pending) >= self.limit

    def add(self, stream: trio.SocketStream) -> _Pending:
        """Count ``stream`` as in its handshake until :meth:`done`."""
        entry = _Pending(stream, self)
        self._pending[entry] = None
        return entry

    def done(self, entry: _Pending) -> None:
        """``entry``'s handshake ended (idempotent); wakes an accept loop waiting for room."""
        if self._pending.pop(entry, 0) is None:
            self._room.set()
            self._room = trio.Event()

    def evict_idle(self) -> float | None:
        """Evict the oldest handshake whose client sent nothing for :data:`IDLE_EVICT_AFTER`.

        Returns:
            None if one was evicted, else when to look again (the time the oldest younger
            handshake becomes old enough; ``inf`` if there is none).
        """
        now = trio.current_time()
        for entry in self._pending:
            if now - entry.since < IDLE_EVICT_AFTER:
                return entry.since + IDLE_EVICT_AFTER  # every later entry is younger still
            if entry.idle():
                entry.evicted = True
                entry.scope.cancel()
                self.done(entry)
                return None
        return math.inf

    async def wait_for_room(self) -> None:
        """Wait until a handshake ends."""
        await self._room.wait()


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
    entry: _Pending,
    address: str,
    on_connection: OnConnection,
    creds: Credentials,
    max_size: int,
    handshake_timeout: float,
) -> _Dropped | None:
    """Serve one websocket client; returns why it was dropped, or None once it was served.

    ``entry`` counts this client as pending until its opening handshake is over.
    """
    watched = entry.watched = FrameStream(stream, send_timeout=SEND_TIMEOUT)
    async with trio.open_nursery() as nursery:
        with entry.scope:
            outcome = await _handshake(watched, nursery, creds, max_size, handshake_timeout)
        entry.done()
        if entry.evicted:
            nursery.cancel_scope.cancel()
            return _Dropped("evicted: it sent nothing while the server was full of handshakes")
        if isinstance(outcome, _Dropped):
            nursery.cancel_scope.cancel()
            return outcome
        ws, principal = outcome
        await on_connection(
            WsMessageStream(ws, f"client of {address}", max_size, watched, principal)
        )
        nursery.cancel_scope.cancel()
    return None


async def _handshake(
    watched: FrameStream,
    nursery: trio.Nursery,
    creds: Credentials,
    max_size: int,
    handshake_timeout: float,
) -> tuple[trio_websocket.WebSocketConnection, Principal] | _Dropped:
    """The server's side of one opening handshake (bounded by ``handshake_timeout``)."""
    request = None
    with trio.move_on_after(handshake_timeout):
        request = await _unless_hung_up(
            watched,
            functools.partial(
                trio_websocket.wrap_server_stream, nursery, watched, max_message_size=max_size
            ),
        )
    if request is None:
        if watched.peer_closed:  # TR-4: gone (a cancelled or killed client), not an attacker
            when = "before sending" if watched.received == 0 else "during"
            return _Dropped(f"hung up {when} its opening handshake", bad=False)
        if watched.gone.is_set():
            return _Dropped("sent a bad opening handshake (not a meshtrio WebSocket client)")
        return _Dropped(f"no valid handshake within {handshake_timeout:g}s")
    outcome = check_offer(Offer.from_headers(list(request.headers)), creds)
    if isinstance(outcome, Refusal):
        with trio.move_on_after(handshake_timeout):
            await request.reject(outcome.status, body=outcome.reason.encode())
        return _Dropped(f"refused ({outcome.status}): {outcome.reason}")
    ws = None
    with trio.move_on_after(handshake_timeout):
        ws = await request.accept()
    if ws is None:
        return _Dropped(f"did not finish its opening handshake within {handshake_timeout:g}s")
    return ws, outcome
