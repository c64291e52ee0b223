"""TR-2 under load: bounded handshakes that never lock out honest clients.

One hand-started host agent process (``python -m meshtrio host --listen tcp:127.0.0.1:0``)
per test, on loopback only, and many clients in this process: 1000 honest ones at once, or
300 raw TCP sockets that connect and never send a byte (held open, or reconnected as soon as
the host drops them) while an honest client attaches. An honest client attaches, awaits
``info()``, then ``stop()``, and leaves (which leaves the host serving). Every wait is
bounded with ``trio.fail_after`` (real clock) and every test checks that no process outlives
it (:func:`meshtrio.testing.no_leaked_processes`). The whole file takes
about 30 s on 2 cores (each test is bounded well under a minute).

The host agents run with ``MESHTRIO_MESH_BOOTSTRAP_ENABLE_PDEATHSIG=false``: trio starts a
process from a worker thread, and the parent-death signal fires when that thread retires
(after about 10 idle seconds), which would kill a host that lives longer than that.
"""

from __future__ import annotations

import collections
import resource
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
from hosts import hand_started_hosts, read_until_eof, wait_for_event

import meshtrio
from meshtrio import config
from meshtrio.testing import no_leaked_processes

pytestmark = [pytest.mark.load, pytest.mark.processes]

TOKEN = "load-handshakes-test-token"
AGENT_ENV = {"MESHTRIO_MESH_BOOTSTRAP_ENABLE_PDEATHSIG": "false"}
CLIENTS = 1000
IDLE = 300
"""More idle sockets than the host's 256 handshakes in progress."""
HONEST_BOUND = 2.0
"""Seconds an honest attach + info() + stop() may take next to the idle sockets; well inside
the host's handshake timeout (``connect_timeout``, 5 s by default), so an honest client must
not have to wait for idle ones to time out."""
HANDSHAKE_TIMEOUT = 5.0
"""The host agent's handshake timeout (its default ``connect_timeout``)."""
FDS = 4096


@pytest.fixture
def many_fds() -> Iterator[None]:
    """Raise this process's soft RLIMIT_NOFILE to FDS for the test (the host agent started
    during it inherits the limit), then put it back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FDS:
        pytest.skip(f"needs {FDS} file descriptors; the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < FDS:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FDS, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.removeprefix("tcp:").rpartition(":")
    return host, int(port)


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1].strip() if lines else ''}"[:200]


async def honest_client(addr: str, bound: float) -> tuple[float, str | None]:
    """Attach, ``info()``, ``stop()``, leave, within ``bound`` seconds; (seconds, error)."""
    start = time.monotonic()
    try:
        with trio.fail_after(bound):
            async with meshtrio.attach([addr], token=TOKEN) as mesh:
                await mesh.info()
                await mesh.stop()
    except Exception as exc:
        return time.monotonic() - start, _describe(exc)
    return time.monotonic() - start, None


@asynccontextmanager
async def idle_sockets(addr: str, n: int) -> AsyncIterator[list[trio.SocketStream]]:
    """``n`` TCP connections to ``addr`` that send nothing, open for the block."""
    streams: list[trio.SocketStream] = []
    try:
        async with trio.open_nursery() as nursery:

            async def open_one() -> None:
                streams.append(await trio.open_tcp_stream(*_host_port(addr)))

            for _ in range(n):
                nursery.start_soon(open_one)
        yield streams
    finally:
        for stream in streams:
            await trio.aclose_forcefully(stream)


@attrs.define
class Attacker:
    """Counts of a reconnecting idle attacker."""

    connects: int = 0
    all_connected: trio.Event = attrs.field(factory=trio.Event, repr=False)  # n were connected
    dropped: int = 0  # the host closed or reset one of its sockets
    refused: int = 0  # a connect failed


async def reconnecting_attacker(addr: str, n: int, stats: Attacker) -> None:
    """Keep ``n`` idle connections to ``addr``; reconnect each as soon as it is dropped."""

    async def one() -> None:
        while True:
            try:
                stream = await trio.open_tcp_stream(*_host_port(addr))
            except OSError:
                stats.refused += 1
                await trio.sleep(0.01)
                continue
            stats.connects += 1
            if stats.connects >= n:
                stats.all_connected.set()
            try:
                await read_until_eof(stream)
            finally:
                await trio.aclose_forcefully(stream)
            stats.dropped += 1

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one)


async def test_tr2_1000_concurrent_honest_clients_all_attach(many_fds: None) -> None:
    """TR-2: 1000 honest clients attach to one host agent process at once and each gets its
    info(); none fails (all done within 45 s). The client's ``connect_timeout`` and
    ``mesh_attach_config_timeout`` are 30 s: with the defaults (5 s, 10 s) a client queued
    behind 999 others on a loaded 2-core machine would time out, which is slowness, not the
    lock-out this test is about."""
    with no_leaked_processes(), trio.fail_after(55):
        async with hand_started_hosts(1, token=TOKEN, env=AGENT_ENV) as hosts:
            addr = hosts[0].addr
            failures: collections.Counter[str] = collections.Counter()

            async def client() -> None:
                try:
                    async with meshtrio.attach([addr], token=TOKEN) as mesh:
                        await mesh.info()
                        await mesh.stop()
                except Exception as exc:
                    failures[_describe(exc)] += 1

            slow_ok = config.configured(connect_timeout="30s", mesh_attach_config_timeout="30s")
            with slow_ok, trio.fail_after(45):
                async with trio.open_nursery() as nursery:
                    for _ in range(CLIENTS):
                        nursery.start_soon(client)
            assert not failures, (
                f"TR-2: {sum(failures.values())} of {CLIENTS} honest clients failed: "
                f"{failures.most_common(3)}"
            )
            async with meshtrio.attach([addr], token=TOKEN) as mesh:  # the host is still serving
                assert [i.state for i in (await mesh.info()).values()] == ["serving"]


async def test_tr2_idle_sockets_do_not_lock_out_an_honest_attach(many_fds: None) -> None:
    """TR-2: with 300 TCP sockets connected that send nothing (held open throughout), an
    honest attach + info() + stop() succeeds within HONEST_BOUND (2 s, less than the host's
    5 s handshake timeout); the host then records the idle clients it evicted or timed out
    (at least one ``bad_client`` event within the handshake timeout plus 5 s)."""
    with no_leaked_processes(), trio.fail_after(40):
        async with (
            hand_started_hosts(1, token=TOKEN, env=AGENT_ENV) as hosts,
            idle_sockets(hosts[0].addr, IDLE) as held,
        ):
            assert len(held) == IDLE  # all connected: the host holds 256, the backlog 44
            elapsed, error = await honest_client(hosts[0].addr, HONEST_BOUND)
            assert error is None, (
                f"TR-2: {IDLE} idle sockets locked out an honest attach "
                f"(failed after {elapsed:.2f} s): {error}"
            )
            async with meshtrio.attach([hosts[0].addr], token=TOKEN) as mesh:
                with trio.fail_after(HANDSHAKE_TIMEOUT + 5):
                    await wait_for_event(mesh, "bad_client", 1)


async def test_tr2_reconnecting_idle_attacker_does_not_lock_out(many_fds: None) -> None:
    """TR-2: an attacker holds 300 idle sockets and reconnects each the moment the host drops
    it, for a WINDOW of 6 s (longer than the host's 5 s handshake timeout); the honest
    attaches made one after another in that window (each bounded by 3 s, 0.5 s apart) all
    succeed."""
    window, bound = 6.0, 3.0
    with no_leaked_processes(), trio.fail_after(40):
        async with hand_started_hosts(1, token=TOKEN, env=AGENT_ENV) as hosts:
            addr = hosts[0].addr
            stats = Attacker()
            results: list[tuple[float, str | None]] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reconnecting_attacker, addr, IDLE, stats)
                with trio.fail_after(10):
                    await stats.all_connected.wait()
                end = trio.current_time() + window
                while trio.current_time() < end:
                    results.append(await honest_client(addr, bound))
                    await trio.sleep(0.5)
                nursery.cancel_scope.cancel()
            failed = [(round(t, 2), e) for t, e in results if e is not None]
            assert not failed, (
                f"TR-2: {len(failed)} of {len(results)} honest attaches failed next to a "
                f"reconnecting idle attacker ({stats}): {failed[:3]}"
            )
            assert len(results) >= 3, f"only {len(results)} honest attaches in {window} s"
            assert stats.dropped > 0, f"the attacker was never dropped ({stats})"
            async with meshtrio.attach([addr], token=TOKEN) as mesh:  # the host is still serving
                assert [i.state for i in (await mesh.info()).values()] == ["serving"]
