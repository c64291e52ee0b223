"""Helpers shared by the host, proc and transport tests (a plain module, not a test file).

Tests import it as ``from hosts import ...`` (``tests/`` is on ``sys.path``; it has no
``__init__.py``). It holds one version of each helper those files used to repeat:

* hosts: :func:`hand_started_hosts` (``python -m meshtrio host`` processes started as a user
  would) and :func:`tcp_hosts` (host agents as tasks of this Trio run on loopback TCP, each
  killable on its own);
* peers that misbehave or are missing: :func:`black_hole`, :func:`closed_port`, and raw
  clients (:func:`open_raw`, :func:`read_until_eof`, :func:`rejected_handshake`);
* waiting and counting: :func:`read_first_line`, :func:`task_count`, :func:`event_times`,
  :func:`wait_for_event`, :func:`cancelled_after_accept`, :func:`assert_drains_before_shutdowns`.

Invariants owned here: every task a helper starts ends when its block ends, and every process
:func:`hand_started_hosts` starts is reaped when its block ends (killed if still running, in a
shielded ``finally``), however the block is left.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

from meshtrio import ChannelAddr, HostMesh, ShutdownReport, config, serve_host_agent
from meshtrio._messages import LifecycleEvent
from meshtrio._transport import endpoints as net
from meshtrio._transport.rpc import Peer

HOST_ARGV = [sys.executable, "-m", "meshtrio", "host", "--listen", "tcp:127.0.0.1:0"]
"""The command line of a hand-started host (it prints its bound address first)."""


# -- reading and counting ------------------------------------------------------------------------
async def read_first_line(stream: trio.abc.ReceiveStream) -> str:
    """The first line a process wrote to ``stream`` (empty if it closed first)."""
    buf = b""
    while b"\n" not in buf:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0].decode() if b"\n" in buf else ""


def task_count() -> int:
    """How many tasks this Trio run has right now."""
    root = trio.lowlevel.current_root_task()
    assert root is not None
    todo = [root]
    n = 0
    while todo:
        task = todo.pop()
        n += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return n


def event_times(events: Sequence[LifecycleEvent], kind: str) -> list[float]:
    """The times of the events of one kind."""
    return [e.at for e in events if e.kind == kind]


async def wait_for_event(mesh: HostMesh, kind: str, count: int) -> None:
    """Poll host info until ``count`` lifecycle events of ``kind`` were recorded in total.

    Host agents publish no event stream, so this is a bounded poll (the caller holds a
    ``fail_after``); it waits on the host's own record of the transition, not on a guess.
    """
    while True:
        infos = (await mesh.info()).values()
        if sum(1 for i in infos for e in i.events if e.kind == kind) >= count:
            return
        await trio.sleep(0.02)


def assert_drains_before_shutdowns(report: ShutdownReport, hosts: int) -> None:
    """HM-5: each of ``hosts`` hosts reported a drain end and a shutdown, and no host saw its
    shutdown before the last drain ended."""
    drain_ends = [event_times(h.report.events, "drain_end")[-1] for h in report.drain if h.report]
    shutdowns = [event_times(h.report.events, "shutdown")[-1] for h in report.shutdown if h.report]
    assert len(drain_ends) == len(shutdowns) == hosts, (
        f"HM-5: {len(drain_ends)} drain ends and {len(shutdowns)} shutdowns for {hosts} hosts"
    )
    assert max(drain_ends) <= min(shutdowns), (
        f"HM-5: a host saw shutdown at {min(shutdowns)} before the last drain ended at "
        f"{max(drain_ends)}"
    )


# -- hosts started by hand -----------------------------------------------------------------------
def host_env(token: str | None) -> dict[str, str]:
    """The environment of a hand-started host: this one without ``MESHTRIO_*`` variables, plus
    the token (unless None) and this process as the parent it dies with (a safety net)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHTRIO_")}
    env["MESHTRIO_PARENT_PID"] = str(os.getpid())
    if token is not None:
        env["MESHTRIO_TOKEN"] = token
    return env


@attrs.define
class HandHost:
    """A host agent process started by hand, and the address it printed."""

    proc: trio.Process
    addr: str


@asynccontextmanager
async def hand_started_hosts(
    n: int,
    *,
    token: str | None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    exit_wait: float = 10.0,
) -> AsyncIterator[list[HandHost]]:
    """Start ``n`` ``python -m meshtrio host`` processes concurrently, as a user would.

    Args:
        n: how many hosts.
        token: their ``MESHTRIO_TOKEN`` (None: none, e.g. with ``--token-file`` in ``args``).
        args: extra command line arguments.
        env: extra environment variables (on top of :func:`host_env`).
        exit_wait: on a clean exit of the block, how long to wait for the hosts to exit by
            themselves (a host that was shut down exits 0) before killing them.

    Yields the hosts in start (rank) order. When the block ends cleanly, hosts still serving
    are shut down (leaving an ``attach`` block leaves them serving) and given ``exit_wait`` to
    exit; then hosts still running are killed (at once if the block raised), every process is
    reaped and its pipe closed.
    """
    full_env = {**host_env(token), **(env or {})}
    hosts: list[HandHost | None] = [None] * n
    procs: list[trio.Process] = []
    clean = False
    try:

        async def start(i: int) -> None:
            proc = await trio.lowlevel.open_process(
                [*HOST_ARGV, *args], env=full_env, stdout=subprocess.PIPE
            )
            procs.append(proc)
            assert proc.stdout is not None
            hosts[i] = HandHost(proc, await read_first_line(proc.stdout))

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(start, i)
        started = [h for h in hosts if h is not None and h.addr]
        assert len(started) == n, "a host did not print its address"
        yield started
        clean = True
    finally:
        with trio.CancelScope(shield=True):
            if clean:
                if token is not None:  # hosts still serving (attach leaves them so): end them
                    await _shut_down_serving(
                        [h for h in hosts if h is not None and h.proc.returncode is None], token
                    )
                with trio.move_on_after(exit_wait):
                    for proc in procs:
                        await proc.wait()
            for proc in procs:
                await reap(proc)


async def reap(proc: trio.Process) -> None:
    """Kill ``proc`` if it still runs, wait for it, and close the pipes the test opened."""
    if proc.returncode is None:
        proc.kill()
    await proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            await pipe.aclose()


async def _shut_down_serving(hosts: Sequence[HandHost], token: str) -> None:
    """Shut each of ``hosts`` down (two phases), one mesh per host, concurrently; a host that
    is already going away (it refuses the attach) is left to exit by itself."""
    import meshtrio  # here: this module is imported by tests of the layers below meshes too

    async def one(host: HandHost) -> None:
        try:
            with trio.move_on_after(10):
                async with meshtrio.attach([host.addr], token=token) as mesh:
                    await mesh.shutdown()
        except meshtrio.MeshError:
            pass

    async with trio.open_nursery() as nursery:
        for host in hosts:
            nursery.start_soon(one, host)


# -- hosts as tasks --------------------------------------------------------------------------------
@attrs.define
class Host:
    """One host agent task started by :func:`tcp_hosts`."""

    addr: str = ""
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    ended: trio.Event = attrs.Factory(trio.Event)
    shut_down: bool = False  # serve_host_agent returned by itself (a Shutdown request)

    @property
    def channel(self) -> ChannelAddr:
        """The address as a :class:`ChannelAddr`."""
        return ChannelAddr.parse(self.addr)

    async def kill(self) -> None:
        """End the host abruptly (its listener closes; clients find it unreachable)."""
        self.scope.cancel()
        await self.ended.wait()


async def _run_host(
    host: Host,
    token: str,
    in_process_procs: bool,
    client_override: Mapping[str, Any] | None,
    task_status: trio.TaskStatus[object],
) -> None:
    cfg = None if client_override is None else config.Config(client_override=dict(client_override))
    try:
        with host.scope:
            await serve_host_agent(
                "tcp:127.0.0.1:0",
                token=token,
                cfg=cfg,
                in_process_procs=in_process_procs,
                task_status=task_status,
            )
        host.shut_down = not host.scope.cancelled_caught
    finally:
        host.ended.set()


@asynccontextmanager
async def tcp_hosts(
    n: int,
    *,
    token: str,
    in_process_procs: bool = True,
    client_override: Mapping[str, Any] | None = None,
) -> AsyncIterator[list[Host]]:
    """``n`` host agents as tasks on loopback TCP; the ones still running end with the block.

    Args:
        n: how many hosts.
        token: the token they require.
        in_process_procs: run their procs as tasks (no OS process at all).
        client_override: each host's initial ClientOverride config layer (its own copy).
    """
    async with trio.open_nursery() as nursery:
        hosts = [Host() for _ in range(n)]
        for host in hosts:
            run = functools.partial(_run_host, host, token, in_process_procs, client_override)
            host.addr = str(await nursery.start(run))
        yield hosts
        nursery.cancel_scope.cancel()


async def connect(
    nursery: trio.Nursery,
    addr: ChannelAddr | str,
    *,
    token: str,
    max_size: int = 1 << 20,
    timeout: float = 5.0,
) -> Peer:
    """Connect a client :class:`Peer` to ``addr`` (it runs in ``nursery``)."""
    if isinstance(addr, str):
        addr = ChannelAddr.parse(addr)
    peer: Peer = await nursery.start(
        functools.partial(net.connect, addr, token=token, max_size=max_size, timeout=timeout)
    )
    return peer


# -- peers that misbehave or are missing -----------------------------------------------------------
@attrs.define
class BlackHole:
    """A TCP listener that accepts connections and never answers."""

    addr: str = ""
    accepted: trio.Event = attrs.Factory(trio.Event)
    holding: int = 0  # handler tasks currently holding a connection


@asynccontextmanager
async def black_hole() -> AsyncIterator[BlackHole]:
    """Run a :class:`BlackHole` for the block."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    hole = BlackHole(f"tcp:127.0.0.1:{listeners[0].socket.getsockname()[1]}")

    async def hold(_stream: trio.SocketStream) -> None:
        hole.holding += 1
        hole.accepted.set()
        try:
            await trio.sleep_forever()
        finally:
            hole.holding -= 1

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, hold, listeners)
        yield hole
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def cancelled_after_accept(
    hole: BlackHole, delay: float = 0.05
) -> AsyncIterator[trio.CancelScope]:
    """A cancel scope around the block that expires ``delay`` seconds after ``hole`` first
    accepted a connection; the block's cancellation ends here (check ``cancelled_caught``)."""
    async with trio.open_nursery() as nursery:
        with trio.CancelScope() as scope:

            async def cancel_soon_after_accept() -> None:
                await hole.accepted.wait()
                scope.deadline = trio.current_time() + delay

            nursery.start_soon(cancel_soon_after_accept)
            yield scope


def closed_port() -> str:
    """The address of a loopback TCP port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp:127.0.0.1:{port}"


async def open_raw(addr: ChannelAddr) -> trio.SocketStream:
    """A plain socket stream to a tcp or unix address (no handshake)."""
    if addr.transport == "tcp":
        assert addr.host is not None
        assert addr.port is not None
        return await trio.open_tcp_stream(addr.host, addr.port)
    assert addr.path is not None
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.connect("\0" + addr.path if addr.abstract else addr.path)
    return trio.SocketStream(sock)


async def read_until_eof(stream: trio.abc.ReceiveStream) -> bytes:
    """Everything the peer sends until it closes (or resets) the connection."""
    out = b""
    while True:
        try:
            data = await stream.receive_some()
        except trio.BrokenResourceError:
            return out
        if not data:
            return out
        out += data


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


async def rejected_handshake(
    addr: ChannelAddr, headers: list[tuple[bytes, bytes]]
) -> trio_websocket.ConnectionRejected:
    """Open a WebSocket to ``addr`` with exactly ``headers``; return the server's rejection
    (the test fails if it accepted)."""
    stream = await open_raw(addr)
    try:
        async with trio.open_nursery() as nursery:
            await trio_websocket.wrap_client_stream(
                nursery, stream, "localhost", "/meshtrio", extra_headers=headers
            )
            nursery.cancel_scope.cancel()
    except BaseException as exc:  # trio-websocket raises it from its reader task too
        rejected = [e for e in leaves(exc) if isinstance(e, trio_websocket.ConnectionRejected)]
        if not rejected:
            raise
        return rejected[0]
    finally:
        await trio.aclose_forcefully(stream)
    pytest.fail("the handshake was accepted")


class SchedulerSteps(trio.abc.Instrument):
    """Counts the times one task is stepped (resumed by the scheduler): install it with
    ``trio.lowlevel.add_instrument`` around an await to tell whether that await yielded."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.count = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.count += 1
