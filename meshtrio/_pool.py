"""The client side's connections: one per host, owned by a nursery, opened on demand.

A :class:`ConnectionPool` keeps at most one :class:`~meshtrio._transport.rpc.Peer` per host
address; all requests to that host are multiplexed over it. A broken connection fails only
the requests waiting on it (RPC-1) and is replaced by the next request. :func:`fan_out` runs
one coroutine per host concurrently and gathers per-host outcomes, so one host's failure
never escapes into another host's task or the caller's nursery (HM-3).

A pool may also hold connections to procs' actor endpoints, each with its own credential
(``token=`` on :meth:`ConnectionPool.peer`). Inside a proc, :func:`ambient_pool` is the proc's
own pool, used by actor mesh references that arrived in a message (they have no owner here).
"""

from __future__ import annotations

import contextvars
import functools
import math
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs
import trio

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._errors import MeshClosedError, MeshError, RequestTimeoutError
from meshtrio._transport import endpoints as net
from meshtrio._transport.rpc import Peer

__all__ = ["ConnectionPool", "Outcome", "ambient_pool", "fan_out", "use_ambient_pool"]

T = TypeVar("T")


class ConnectionPool:
    """One connection per host address, living in ``nursery``.

    Args:
        nursery: owns the connection tasks (cancel it to close them all).
        token: the auth token to present.
        tls: the client TLS context for every connection (hosts and procs alike; None:
            plaintext).
    """

    def __init__(
        self, nursery: trio.Nursery, token: str, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self._nursery = nursery
        self.token = token
        self.tls = tls
        self._peers: dict[str, Peer] = {}
        self._locks: dict[str, trio.Lock] = {}
        self.closed = False

    async def peer(
        self, addr: ChannelAddr, *, timeout: float | None = None, token: str | None = None
    ) -> Peer:
        """The live connection to ``addr``, connecting (bounded by ``timeout``) if needed.

        Args:
            addr: the host's (or proc's) address.
            timeout: bound on connect plus handshake (default: ``connect_timeout``).
            token: the credential to present (default: the pool's token).

        Raises:
            MeshClosedError: the pool was closed.
            TransportError: the connection failed (``HostUnreachableError``,
                ``AuthRejectedError``, ``ProtocolError``, ``ConnectionLostError``).
            RequestTimeoutError: connect plus handshake took longer than ``timeout``.

        Cancelling it abandons the attempt; no half-open connection is kept.
        """
        if self.closed:
            raise MeshClosedError("the mesh's connections are closed")
        existing = self._live(addr)
        if existing is not None:
            return existing  # the hot path: no lock, no checkpoint
        key = str(addr)
        lock = self._locks.setdefault(key, trio.Lock())
        try:
            async with lock:
                existing = self._live(addr)
                if existing is not None:
                    return existing
                if timeout is None:
                    timeout = config.get(config.CONNECT_TIMEOUT)
                peer: Peer = await self._nursery.start(
                    functools.partial(
                        self._connection,
                        key,
                        addr,
                        token=self.token if token is None else token,
                        timeout=timeout,
                    )
                )
                return peer
        finally:
            if lock.statistics().tasks_waiting == 0 and self._locks.get(key) is lock:
                del self._locks[key]  # nobody else is connecting: the lock goes too

    async def _connection(
        self,
        key: str,
        addr: ChannelAddr,
        *,
        token: str,
        timeout: float,
        task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """One connection, kept in the pool for as long as it runs: its entry goes when it
        ends (proc addresses are fresh for every proc, so entries of ended connections would
        otherwise pile up in a long-lived pool)."""
        peers = self._peers
        mine: list[Peer] = []

        def started(peer: Peer | None = None) -> None:
            assert peer is not None
            mine.append(peer)
            peers[key] = peer
            task_status.started(peer)

        status: Any = _Status(started)
        try:
            await net.connect(
                addr,
                token=token,
                max_size=config.get(config.MAX_MESSAGE_SIZE),
                timeout=timeout,
                tls=self.tls,
                task_status=status,
            )
        finally:
            if mine and peers.get(key) is mine[0]:
                del peers[key]

    def _live(self, addr: ChannelAddr) -> Peer | None:
        """The open connection to ``addr``, if there is one (none once the pool is closed)."""
        existing = None if self.closed else self._peers.get(str(addr))
        return existing if existing is not None and existing.close_reason is None else None

    async def call(
        self,
        addr: ChannelAddr,
        body: Any,
        *,
        timeout: float,
        idle: bool = False,
        on_event: Callable[[Any], None] | None = None,
    ) -> Any:
        """Connect if needed (bounded by ``connect_timeout``), then make one request.

        ``timeout`` bounds the request (an idle timeout with ``idle``, re-armed by every
        event), and also the connect when it is shorter than ``connect_timeout``; callers
        that need a bound on the whole wrap this in their own deadline (see :func:`fan_out`).
        Cancelling it abandons the request: the host may still carry it out, and its late
        reply is dropped; the connection stays usable.

        Raises:
            MeshClosedError: the pool was closed.
            TransportError: connecting failed, or the connection broke while waiting.
            RequestTimeoutError: no reply (or connection) in time.
            RemoteError: the host answered with an error.
        """
        peer = self._live(addr)
        if peer is None:  # connecting: only now is the connect bound needed
            connect_timeout = min(timeout, config.get(config.CONNECT_TIMEOUT))
            peer = await self.peer(addr, timeout=connect_timeout)
        return await peer.call(body, timeout=timeout, idle=idle, on_event=on_event)

    async def aclose(self) -> None:
        """Close every connection; requests waiting on them fail with ConnectionLostError,
        and later calls raise MeshClosedError."""
        self.closed = True
        for peer in list(self._peers.values()):
            await peer.aclose()
        self._peers.clear()


class _Status:
    """A task status that calls ``fn`` with the started value (see ``trio.TaskStatus``)."""

    def __init__(self, fn: Callable[[Any], None]) -> None:
        self._fn = fn

    def started(self, value: Any = None) -> None:
        self._fn(value)


_AMBIENT: contextvars.ContextVar[ConnectionPool | None] = contextvars.ContextVar(
    "meshtrio_ambient_pool", default=None
)


def use_ambient_pool(pool: ConnectionPool) -> None:
    """Make ``pool`` the ambient pool of this task and the tasks it starts (a proc's)."""
    _AMBIENT.set(pool)


def ambient_pool() -> ConnectionPool | None:
    """The ambient pool (inside a proc: the proc's own), or None."""
    return _AMBIENT.get()


@attrs.frozen
class Outcome:
    """One host's result of a fan-out: a value, or the error it raised."""

    value: Any = None
    error: MeshError | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True if the host succeeded."""
        return self.error is None


async def fan_out(
    items: Sequence[T], fn: Callable[[T], Awaitable[Any]], *, timeout: float = math.inf
) -> list[Outcome]:
    """Run ``fn(item)`` for every item at once; gather each outcome (HM-3).

    A :class:`MeshError` becomes that item's ``Outcome.error``; nothing escapes into the other
    tasks. ``timeout`` bounds each item (its error is then a :class:`RequestTimeoutError`).
    Any other exception is a bug and propagates (grouped). Cancelling the caller cancels
    every item.
    """
    results: list[Outcome | None] = [None] * len(items)
    start = trio.current_time()

    async def one(i: int, item: T) -> None:
        try:
            value = await fn(item)
            results[i] = Outcome(value=value, elapsed=trio.current_time() - start)
        except MeshError as exc:
            results[i] = Outcome(error=exc, elapsed=trio.current_time() - start)

    # One deadline for all items (they share the timeout): cheaper than a scope per item.
    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            for i, item in enumerate(items):
                nursery.start_soon(one, i, item)
    elapsed = trio.current_time() - start
    return [
        r
        if r is not None
        else Outcome(
            error=RequestTimeoutError(f"no answer within {timeout:g}s", timeout=timeout),
            elapsed=elapsed,
        )
        for r in results
    ]
