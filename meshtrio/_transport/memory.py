"""The ``local:`` transport: endpoints in this Trio run, connected by memory channels.

A ``local:N`` listener is registered in this Trio run's registry (a
:class:`trio.lowlevel.RunVar`), so two ``trio.run`` calls, in turn or in two threads, never
see each other's listeners, and ``local:0`` numbering starts at 1 in each run. A client is
authenticated against the listener's credentials as a WebSocket client would be (TR-1:
wrong tokens and versions are refused with the same errors) and gets one end of a
:func:`~meshtrio._transport.message_streams.memory_stream_pair`; the listener's callback gets the
other, in the listener's nursery. Messages are bounded by the smaller of the two sides'
``max_size``. Nothing here touches a socket.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from meshtrio._addr import ChannelAddr
from meshtrio._errors import HostUnreachableError, TransportError
from meshtrio._tls import ServerTLS
from meshtrio._transport.handshake import Credentials, Offer, Refusal, check_offer, refusal_error
from meshtrio._transport.interface import OnConnection, OnRefused
from meshtrio._transport.message_streams import MessageStream, memory_stream_pair

__all__ = ["MemoryTransport"]


@attrs.define
class _Listener:
    creds: Credentials
    nursery: trio.Nursery
    on_connection: OnConnection
    max_size: int


@attrs.define
class _Registry:
    """The ``local:`` listeners of one Trio run."""

    listeners: dict[int, _Listener] = attrs.Factory(dict)
    next_index: int = 1

    def bind(self, index: int, listener: _Listener) -> int:
        """Register ``listener`` at ``index`` (0: the next free one); returns the index."""
        if index == 0:
            while self.next_index in self.listeners:
                self.next_index += 1
            index = self.next_index
            self.next_index += 1
        elif index in self.listeners:
            raise TransportError(f"local:{index}: address already in use", address=f"local:{index}")
        self.listeners[index] = listener
        return index


_REGISTRY: trio.lowlevel.RunVar[_Registry] = trio.lowlevel.RunVar("meshtrio.local_listeners")


def _registry() -> _Registry:
    """This Trio run's registry (made on first use)."""
    try:
        return _REGISTRY.get()
    except LookupError:
        registry = _Registry()
        _REGISTRY.set(registry)
        return registry


def _index(addr: ChannelAddr) -> int:
    assert addr.index is not None
    return addr.index


class MemoryTransport:
    """The ``local:`` transport (see the module docstring); stateless, its state is per run."""

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
        """Connect to the ``local:`` listener at ``addr`` in this run (``timeout`` is unused:
        nothing here waits; so is ``tls``: nothing leaves the process)."""
        address = str(addr)
        listener = _registry().listeners.get(_index(addr))
        if listener is None:
            raise HostUnreachableError(f"{address}: no such local listener", address=address)
        outcome = check_offer(offer, listener.creds)
        if isinstance(outcome, Refusal):
            raise refusal_error(outcome.status, outcome.reason, address)
        size = min(max_size, listener.max_size)
        client, server = memory_stream_pair("local:client", address, size)
        server.principal = outcome
        listener.nursery.start_soon(listener.on_connection, server)
        yield client

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
        """Register a listener at ``addr`` (``local:0``: the next free index) until cancelled.

        Raises:
            TransportError: ``addr`` is already listened on in this run.
        """
        registry = _registry()
        if _index(addr) in registry.listeners:  # raise here: in the nursery it would be a group
            raise TransportError(f"{addr}: address already in use", address=str(addr))
        async with trio.open_nursery() as nursery:
            index = registry.bind(_index(addr), _Listener(creds, nursery, on_connection, max_size))
            try:
                task_status.started(ChannelAddr.local(index))
                await trio.sleep_forever()
            finally:
                registry.listeners.pop(index, None)

    def listening(self) -> list[ChannelAddr]:
        """The ``local:`` addresses listened on in this Trio run, in index order."""
        return [ChannelAddr.local(i) for i in sorted(_registry().listeners)]
