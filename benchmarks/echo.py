"""Bare trio-websocket echo servers and clients: the transport baseline for fan-out benchmarks.

* :func:`servers_in_process` runs n echo servers on ``tcp:127.0.0.1`` as tasks of this run.
* :func:`servers_in_subprocesses` starts n ``python -m benchmarks.echo`` processes, each on a
  fresh abstract unix socket (like host processes started by a client mesh).
* :func:`clients` opens one persistent websocket per server; :meth:`Clients.round` sends one
  message to every server at once and waits for every echo; :meth:`Clients.one` is one round
  trip over the first connection (no task started) and :meth:`Clients.pipelined` keeps a
  window of messages in flight over it.

Invariants owned here: servers and clients never outlive their ``async with`` block; an
echo subprocess also exits when its stdin closes (so it dies with a crashed parent).
This module imports only trio and trio-websocket (it is the lean subprocess's main module).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio
import trio_websocket

__all__ = ["Clients", "clients", "servers_in_process", "servers_in_subprocesses"]

MAX_SIZE = 4 << 20
"""Largest message, as meshtrio's default ``max_message_size``."""


async def _echo(stream: trio.abc.Stream) -> None:
    """Serve one websocket connection: send every message back."""
    async with trio.open_nursery() as nursery:
        request = await trio_websocket.wrap_server_stream(
            nursery, stream, max_message_size=MAX_SIZE
        )
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except trio_websocket.ConnectionClosed:
            pass
        nursery.cancel_scope.cancel()


async def _handle(stream: trio.SocketStream) -> None:
    try:
        await _echo(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # the client went away without a closing handshake
    except BaseExceptionGroup as group:  # the reader task's view of the same thing
        _, rest = group.split((trio.BrokenResourceError, trio.ClosedResourceError, OSError))
        if rest is not None:
            raise rest from None
    finally:
        await trio.aclose_forcefully(stream)


async def _unix_listener() -> tuple[trio.SocketListener, str]:
    name = f"meshtrio-bench-{secrets.token_hex(8)}"
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.bind("\0" + name)
    sock.listen(socket.SOMAXCONN)
    return trio.SocketListener(sock), f"unix:@{name}"


@asynccontextmanager
async def servers_in_process(n: int) -> AsyncIterator[list[str]]:
    """n echo servers on ``127.0.0.1`` in this run; yields their addresses (``tcp:H:P``)."""
    async with trio.open_nursery() as nursery:
        addrs: list[str] = []
        for _ in range(n):
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, _handle, listeners)
            addrs.append(f"tcp:127.0.0.1:{port}")
        yield addrs
        nursery.cancel_scope.cancel()


async def _read_line(stream: trio.abc.ReceiveStream, timeout: float) -> str:
    buf = b""
    with trio.fail_after(timeout):
        while b"\n" not in buf:
            chunk = await stream.receive_some(4096)
            if not chunk:
                break
            buf += chunk
    return buf.split(b"\n", 1)[0].decode("ascii", "replace").strip()


@asynccontextmanager
async def servers_in_subprocesses(
    n: int, *, env: dict[str, str], cwd: str
) -> AsyncIterator[list[str]]:
    """n echo server processes, started concurrently; yields their addresses (``unix:@N``)."""
    procs: list[trio.Process] = []
    addrs: list[str | None] = [None] * n

    async def start(i: int) -> None:
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "benchmarks.echo"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        procs.append(proc)
        assert proc.stdout is not None
        addrs[i] = await _read_line(proc.stdout, 30.0)

    try:
        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(start, i)
        bad = [a for a in addrs if not (a and a.startswith("unix:@"))]
        if bad:
            raise RuntimeError(f"echo server did not start: printed {bad[0]!r}")
        yield [a for a in addrs if a is not None]
    finally:
        with trio.CancelScope(shield=True):
            for proc in procs:
                if proc.stdin is not None:
                    await proc.stdin.aclose()
            with trio.move_on_after(5.0):
                for proc in procs:
                    await proc.wait()
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()


async def _connect(
    nursery: trio.Nursery, addr: str
) -> tuple[trio_websocket.WebSocketConnection, trio.SocketStream]:
    transport, _, rest = addr.partition(":")
    if transport == "tcp":
        host, _, port = rest.rpartition(":")
        raw = await trio.open_tcp_stream(host, int(port))
    else:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.connect("\0" + rest.removeprefix("@"))
        raw = trio.SocketStream(sock)
    ws = await trio_websocket.wrap_client_stream(
        nursery, raw, "localhost", "/", max_message_size=MAX_SIZE
    )
    return ws, raw


class Clients:
    """Persistent websocket connections to echo servers (see :func:`clients`)."""

    def __init__(self, conns: Sequence[trio_websocket.WebSocketConnection]) -> None:
        self._conns = list(conns)

    def __len__(self) -> int:
        return len(self._conns)

    @staticmethod
    async def _one(ws: trio_websocket.WebSocketConnection, payload: bytes) -> None:
        await ws.send_message(payload)
        reply = await ws.get_message()
        if len(reply) != len(payload):
            raise RuntimeError("echo server sent back something else")

    async def round(self, payload: bytes) -> None:
        """Send ``payload`` to every server at once; return when every echo arrived."""
        async with trio.open_nursery() as nursery:
            for ws in self._conns:
                nursery.start_soon(self._one, ws, payload)

    async def one(self, payload: bytes) -> None:
        """Send ``payload`` over the first connection and wait for its echo, in this task."""
        await self._one(self._conns[0], payload)

    async def pipelined(self, payload: bytes, count: int, window: int) -> None:
        """Send ``payload`` ``count`` times over the first connection, at most ``window``
        unanswered at once (one sending task, one receiving task); return at the last echo."""
        ws = self._conns[0]
        slots = trio.Semaphore(window)

        async def receive() -> None:
            for _ in range(count):
                reply = await ws.get_message()
                if len(reply) != len(payload):
                    raise RuntimeError("echo server sent back something else")
                slots.release()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            for _ in range(count):
                await slots.acquire()
                await ws.send_message(payload)


@asynccontextmanager
async def clients(addrs: Sequence[str]) -> AsyncIterator[Clients]:
    """One websocket per address, open for the block (at most 64 connecting at once)."""
    raws: list[trio.SocketStream] = []
    conns: list[trio_websocket.WebSocketConnection | None] = [None] * len(addrs)
    limit = trio.CapacityLimiter(64)
    try:
        async with trio.open_nursery() as nursery:

            async def connect(i: int) -> None:
                async with limit:
                    conns[i], raw = await _connect(nursery, addrs[i])
                    raws.append(raw)

            async with trio.open_nursery() as connecting:
                for i in range(len(addrs)):
                    connecting.start_soon(connect, i)
            yield Clients([c for c in conns if c is not None])
            nursery.cancel_scope.cancel()
    finally:
        for raw in raws:
            await trio.aclose_forcefully(raw)


async def _serve_until_stdin_closes() -> None:
    listener, addr = await _unix_listener()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, _handle, [listener])
        print(addr, flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(0))
        while await stdin.receive_some(4096):
            pass
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(_serve_until_stdin_closes)
