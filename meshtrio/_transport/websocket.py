"""The WebSocket transport: ``tcp:`` and ``unix:`` addresses, one WebSocket per connection.

:class:`WebSocketTransport` runs trio-websocket over a stream socket; a :class:`_Sockets`
family (:class:`_TcpSockets`, :class:`_UnixSockets`) is all that differs between ``tcp:`` and
``unix:``: how to open, how to bind, and the ``Host`` the client names. Every client is
authenticated during the opening handshake (:mod:`meshtrio._transport.handshake`), and each
accepted connection is handed on as a :class:`~meshtrio._transport.message_streams.WsMessageStream`.

With TLS (a :class:`~meshtrio._tls.ServerTLS` on :meth:`WebSocketTransport.serve`, an
:class:`ssl.SSLContext` on :meth:`WebSocketTransport.open_stream`) the WebSocket runs over
:class:`~meshtrio._transport.tls_streams.TlsStream` on the same socket; the TLS handshake is
part of the bounded opening handshake (TR-2) and happens before any byte of the WebSocket's.

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
  evicted before the server answered a byte, connects again (:data:`HANDSHAKE_ATTEMPTS` times
  in all, within its connect timeout). Not promised: a client that sends part of its request
  and then stalls holds its slot for up to ``handshake_timeout``.
* TR-5 (reports are bounded): refused and misbehaving clients are logged and reported at
  most :data:`REPORT_BURST` at once and :data:`REPORT_RATE` per second after that; the ones
  left out are counted and the count is added to the next report, so a flood of bad clients
  neither floods the log nor pushes a host's history out, and none goes unrecorded.
* TR-6 (a partition fails requests): on a TCP connection, data sent that the peer has not
  acknowledged within ``tcp_user_timeout`` seconds ends the connection (Linux
  ``TCP_USER_TIMEOUT``), so every request waiting on a connection to a host that vanished
  from the network (link down, packets dropped) fails with ConnectionLostError within about
  that bound instead of the kernel's retransmission time (minutes); a bound beyond about 24.8
  days (the kernel's limit) is capped to it. Not promised: that an
  idle connection (nothing sent) notices a partition before its next request; nor anything
  on systems without ``TCP_USER_TIMEOUT``.
* TR-4 (hang-ups are not attacks): a client that hangs up (end of file or a reset) during its
  opening handshake is logged as such, not reported as a bad client; a reset fails a
  client's connect at once (SK-3), like a clean close.

Errors: a failure to listen raises :class:`~meshtrio.errors.TransportError` here (its cause
is the OS error); a client's connection attempt may raise trio, trio-websocket and OS errors,
which :mod:`meshtrio._transport.endpoints` translates (TR-3).
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
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

import attrs
import trio
import trio_websocket

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._errors import ConnectionLostError, TLSError, TransportError
from meshtrio._tls import ServerTLS
from meshtrio._transport.frame_stream import FrameStream
from meshtrio._transport.handshake import Credentials, Offer, Principal, Refusal, check_offer
from meshtrio._transport.interface import OnConnection, OnRefused
from meshtrio._transport.message_streams import SEND_TIMEOUT, MessageStream, WsMessageStream
from meshtrio._transport.tls_streams import (
    CLIENT_CERT_REQUIRED,
    TlsStream,
    handshake_error,
    plaintext_refusal,
    sniff_tls,
)
from meshtrio._transport.translate import cancel_part as _cancel_part
from meshtrio._transport.translate import translate as _translate

__all__ = ["TCP", "UNIX", "WebSocketTransport"]

log = logging.getLogger("meshtrio._transport")

T = TypeVar("T")


# -- socket families ------------------------------------------------------------------------
class _Sockets(Protocol):
    """How one address kind opens, binds and names its stream sockets."""

    async def open(self, addr: ChannelAddr) -> trio.SocketStream:
        """A connected socket to ``addr`` (OS errors raise as they are)."""
        ...

    async def bind(
        self, addr: ChannelAddr
    ) -> tuple[list[trio.SocketListener], ChannelAddr, str | None]:
        """Listeners on ``addr``, the bound address, and a path to unlink at the end.

        Raises:
            TransportError: ``addr`` cannot be listened on (its cause: the OS error).
        """
        ...

    def host(self, addr: ChannelAddr) -> str:
        """The host a client names in its opening handshake."""
        ...


def _tcp(addr: ChannelAddr) -> tuple[str, int]:
    assert addr.host is not None
    assert addr.port is not None
    return addr.host, addr.port


def _unix_sockaddr(addr: ChannelAddr) -> str:
    path = addr.path or ""
    return "\0" + path if addr.abstract else path


def _give_up_unacked(stream: trio.SocketStream) -> None:
    """TR-6: bound how long data sent on a TCP connection may stay unacknowledged
    (``TCP_USER_TIMEOUT``, the ``tcp_user_timeout`` key); a no-op elsewhere."""
    option = getattr(_stdsocket, "TCP_USER_TIMEOUT", None)
    if option is None or not isinstance(stream, trio.SocketStream):
        return
    if stream.socket.family not in (_stdsocket.AF_INET, _stdsocket.AF_INET6):
        return
    # The kernel's field is a signed 32-bit count of milliseconds (about 24.8 days): a longer
    # bound (the key accepts up to a year) is capped, not a TypeError out of setsockopt.
    millis = min(int(config.get(config.TCP_USER_TIMEOUT) * 1000), 2**31 - 1)
    try:
        stream.setsockopt(_stdsocket.IPPROTO_TCP, option, millis)
    except OSError:
        pass  # not every kernel has it: the OS default (minutes) applies


class _TcpSockets:
    async def open(self, addr: ChannelAddr) -> trio.SocketStream:
        stream = await trio.open_tcp_stream(*_tcp(addr))
        _give_up_unacked(stream)
        return stream

    async def bind(
        self, addr: ChannelAddr
    ) -> tuple[list[trio.SocketListener], ChannelAddr, str | None]:
        try:
            host, port = _tcp(addr)
            listeners = await trio.open_tcp_listeners(port, host=host)
        except OSError as exc:
            raise TransportError(
                f"{addr}: cannot listen: {exc.strerror}", address=str(addr)
            ) from exc
        port = listeners[0].socket.getsockname()[1]
        return list(listeners), ChannelAddr.tcp(host, port), None

    def host(self, addr: ChannelAddr) -> str:
        return _tcp(addr)[0]


class _UnixSockets:
    async def open(self, addr: ChannelAddr) -> trio.SocketStream:
        sock = trio.socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        try:
            await sock.connect(_unix_sockaddr(addr))
        except BaseException:
            sock.close()
            raise
        return trio.SocketStream(sock)

    async def bind(
        self, addr: ChannelAddr
    ) -> tuple[list[trio.SocketListener], ChannelAddr, str | None]:
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
            raise TransportError(f"{bound}: cannot listen: {what}", address=str(bound)) from exc
        cleanup = None if bound.abstract else bound.path
        return [trio.SocketListener(sock)], bound, cleanup

    def host(self, addr: ChannelAddr) -> str:
        return "localhost"


# -- the transport --------------------------------------------------------------------------
class WebSocketTransport:
    """WebSocket over the stream sockets of ``sockets`` (see the module docstring)."""

    def __init__(self, sockets: _Sockets) -> None:
        self.sockets = sockets

    @asynccontextmanager
    async def open_stream(
        self,
        addr: ChannelAddr,
        *,
        offer: Offer,
        max_size: int,
        timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> AsyncIterator[MessageStream]:
        """Connect (over TLS with ``tls``) and run the opening handshake within ``timeout``
        (``trio.TooSlowError``, wrapped in a group, when it takes longer); the connection runs
        until the block ends."""
        address = str(addr)
        async with trio.open_nursery() as nursery:
            with trio.fail_after(timeout):
                for attempt in range(1, HANDSHAKE_ATTEMPTS + 1):
                    raw = FrameStream(await self.sockets.open(addr), send_timeout=SEND_TIMEOUT)
                    stream: trio.abc.Stream = raw
                    secure: TlsStream | None = None
                    try:
                        if tls is not None:
                            secure = TlsStream(
                                raw, tls, server_side=False, server_hostname=self.sockets.host(addr)
                            )
                            try:
                                await secure.do_handshake()
                            except trio.BrokenResourceError:
                                error = handshake_error(secure.failure, address)
                                raise error from error.__cause__
                            stream = secure
                        ws = await _unless_hung_up(
                            raw,
                            functools.partial(
                                trio_websocket.wrap_client_stream,
                                nursery,
                                stream,  # type: ignore[arg-type]  # any trio Stream works
                                self.sockets.host(addr),
                                "/meshtrio",
                                extra_headers=offer.headers(),
                                max_message_size=max_size,
                            ),
                        )
                    except BaseException as exc:  # timed out, cancelled, refused: close it
                        await trio.aclose_forcefully(raw)
                        if (
                            secure is not None
                            and secure.failure is not None
                            and not isinstance(exc, TLSError)
                            and _cancel_part(exc) is None
                        ):  # TLS-5: the host's alert (say, about our certificate) says why
                            error = handshake_error(secure.failure, address, after_handshake=True)
                            raise error from error.__cause__
                        raise
                    if ws is not None:
                        break
                    await trio.aclose_forcefully(raw)
                    if secure is not None:  # TLS-5: a hang-up after TLS is about TLS
                        raise handshake_error(secure.failure, address, after_handshake=True)
                    if raw.received == 0 and attempt < HANDSHAKE_ATTEMPTS:
                        continue  # TR-2: a full server may have evicted us unread: try again
                    how = f" ({raw.broke})" if raw.broke else ""
                    raise ConnectionLostError(
                        f"{address}: the server hung up during the handshake{how}",
                        address=address,
                    )
            assert ws is not None  # the loop above breaks only with a websocket, else raises
            yield WsMessageStream(ws, address, max_size, raw)
            nursery.cancel_scope.cancel()

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
        """Listen on ``addr`` until cancelled (TR-1, TR-2, TR-4, TR-5); with ``tls``, speak
        TLS only (TLS-2, TLS-5).

        Raises:
            TransportError: ``addr`` cannot be listened on (address in use, ...).
            InputError: ``tls``'s files cannot be loaded.
        """
        server_tls = None if tls is None else _ServerSide(tls.server_context(), tls.mutual)
        listeners, bound, cleanup = await self.sockets.bind(addr)
        address = str(bound)
        handshakes = _Handshakes(MAX_PENDING_HANDSHAKES)
        throttle = _Throttle(REPORT_RATE, REPORT_BURST)

        async def handle(stream: trio.SocketStream, entry: _Pending) -> None:
            outcome: _Dropped | None
            try:
                outcome = await _serve_ws(
                    stream,
                    entry,
                    address,
                    on_connection,
                    creds,
                    max_size,
                    handshake_timeout,
                    server_tls,
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

ACCEPT_RETRY_DELAY = 0.1
"""Seconds the accept loop waits before it tries again after one of those."""


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
                _give_up_unacked(stream)
            except OSError as exc:
                if exc.errno not in ACCEPT_RETRY_ERRNOS:
                    raise
                log.error(
                    "%s: cannot accept a connection (%s); retrying in %s s",
                    address,
                    exc,
                    ACCEPT_RETRY_DELAY,
                )
                await trio.sleep(ACCEPT_RETRY_DELAY)
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


@attrs.frozen
class _ServerSide:
    """A TLS server's context, and whether clients must present a certificate (TLS-2)."""

    context: ssl.SSLContext
    mutual: bool


async def _serve_ws(
    stream: trio.SocketStream,
    entry: _Pending,
    address: str,
    on_connection: OnConnection,
    creds: Credentials,
    max_size: int,
    handshake_timeout: float,
    tls: _ServerSide | None,
) -> _Dropped | None:
    """Serve one websocket client; returns why it was dropped, or None once it was served.

    ``entry`` counts this client as pending until its opening handshake is over.
    """
    watched = entry.watched = FrameStream(stream, send_timeout=SEND_TIMEOUT)
    async with trio.open_nursery() as nursery:
        with entry.scope:
            outcome = await _handshake(watched, nursery, creds, max_size, handshake_timeout, tls)
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


async def _tls_handshake(
    watched: FrameStream, tls: _ServerSide, deadline: float
) -> TlsStream | _Dropped:
    """The server's TLS handshake, after a look at the first byte (TLS-5)."""
    sock = watched.inner.socket
    is_tls: bool | None = False
    with trio.move_on_at(deadline):
        is_tls = await _unless_hung_up(watched, functools.partial(sniff_tls, sock))
    if is_tls is None:
        return _Dropped("hung up before sending its opening handshake", bad=False)
    if not is_tls:
        if trio.current_time() >= deadline:
            return _Dropped("no valid handshake within the handshake timeout")
        with trio.move_on_at(deadline):
            try:
                await watched.send_all(plaintext_refusal())
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        return _Dropped("spoke plaintext to this TLS-only host (refused: TLS required)")
    secure = TlsStream(watched, tls.context, server_side=True)
    with trio.move_on_at(deadline):
        try:
            await secure.do_handshake()
        except trio.BrokenResourceError:
            if watched.peer_closed and secure.failure is None:
                return _Dropped("hung up during its TLS handshake", bad=False)
            why = secure.failure.reason if secure.failure is not None else "broken"
            return _Dropped(f"failed its TLS handshake ({why or secure.failure})")
        return secure
    return _Dropped("did not finish its TLS handshake within the handshake timeout")


async def _handshake(
    watched: FrameStream,
    nursery: trio.Nursery,
    creds: Credentials,
    max_size: int,
    handshake_timeout: float,
    tls: _ServerSide | None,
) -> tuple[trio_websocket.WebSocketConnection, Principal] | _Dropped:
    """The server's side of one opening handshake (bounded by ``handshake_timeout``)."""
    stream: trio.abc.Stream = watched
    secure: TlsStream | None = None
    if tls is not None:
        made = await _tls_handshake(watched, tls, trio.current_time() + handshake_timeout)
        if isinstance(made, _Dropped):
            return made
        stream = secure = made
    request = None
    with trio.move_on_after(handshake_timeout):
        request = await _unless_hung_up(
            watched,
            functools.partial(
                trio_websocket.wrap_server_stream,
                nursery,
                stream,
                max_message_size=max_size,
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
    if (
        tls is not None
        and tls.mutual
        and isinstance(outcome, Principal)
        and outcome.is_client
        and (secure is None or not secure.getpeercert())
    ):  # TLS-2: a client (not a proc connecting back) must have shown a certificate
        outcome = Refusal(
            401,
            f"{CLIENT_CERT_REQUIRED}: this host requires mutual TLS; pass "
            "tls=meshtrio.TLSConfig(ca=..., cert=..., key=...) with a certificate signed by its CA",
        )
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


TCP = WebSocketTransport(_TcpSockets())
"""The ``tcp:`` transport."""

UNIX = WebSocketTransport(_UnixSockets())
"""The ``unix:`` transport."""
