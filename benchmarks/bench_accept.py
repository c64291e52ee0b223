"""Many clients at once against ONE host agent process, against as many bare handshakes.

* ``accept.clients``: N concurrent clients (N = 1000; quick: 200) against one
  ``python -m meshtrio host --listen tcp:127.0.0.1:0`` process. Each client attaches, awaits
  ``info()``, then ``stop()`` (what leaving an attach block does anyway), and leaves. The baseline is as many concurrent
  bare trio-websocket clients against one bare trio-websocket echo server process on
  ``tcp:127.0.0.1`` (``benchmarks.echo``'s connection handler): each opens a websocket,
  sends one message as long as the encoded SetClientConfig request, waits for the echo, and
  closes. The value is the median wall time of a round (first client started to last client
  done); rounds alternate meshtrio, bare, bare, meshtrio. Target: ratio <= 2.
* ``accept.failures``: attempts per successful client (N / clients that succeeded, 1.0:
  none failed) on each side, summed over the rounds; target 1.0. A failed client is
  counted, never retried; ``extra`` holds the count per round and the commonest errors. The
  time row also names the failures in its params, since a round whose clients are turned away
  at once is fast for the wrong reason.
* ``accept.agent_rss``: the agent's VmRSS (``/proc/PID/status``) after the last round and a
  2 s settle, over its VmRSS before the first round (taken after one warm-up client and the
  same settle, so lazy imports and the first config push are not counted as growth); target
  1.1. A ``gc.collect()`` in the agent cannot be triggered from outside, so "after" is after
  the settle only. ``extra`` has the fresh-process figure, each round's after-figure and the
  peak.
* ``accept.bare_server_rss``: the bare echo server's VmRSS after its last round over its
  VmRSS before the first (same settles); for scale only: how much a plain trio-websocket
  server keeps after 1000 clients leave (CPython's small-object allocator keeps arenas that
  hold one surviving object, so neither process returns to its start).
* ``accept.agent_rss_peak``: the agent's peak VmRSS during the rounds (sampled every 20 ms)
  against the bare echo server's peak; for scale only (no target).

Where the clients run: in ``WORKERS`` = 2 client subprocesses (``python -m
benchmarks.bench_accept worker``), N/2 clients each, started before the rounds and kept warm
across them; both sides use the same workers (``extra`` has each side's client and server
CPU seconds per round). Measured on 2 cores with 1000 clients (before the handshake-limit
fix): one client process spent 3-4x the agent's CPU time (2.3-2.7 s against 0.6-0.8 s for
a 4.4-5.5 s meshtrio round; bare rounds 3.0-4.3 s of which 1.4-1.5 s client CPU), so it was
the bottleneck on both sides; with two workers the rounds took 1.7-2.0 s (meshtrio) and
1.2-1.8 s (bare). More workers than cores would only compete with the agent. The client-side
``connect_timeout`` and ``mesh_attach_config_timeout`` are 30 s (the defaults, 5 s and 10 s,
would count clients queued behind 999 others as failures; the agent's own handshake timeout
stays at its default). The agent's stderr (a warning per
turned-away client) goes to /dev/null.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio_websocket

from benchmarks import echo
from benchmarks.core import ROOT, Benchmark, Ctx, Result, alternate, child_env, median, row

__all__ = ["BENCHMARKS"]

TARGET = 2.0
RSS_TARGET = 1.1
FAILURE_TARGET = 1.0
WORKERS = 2
SETTLE = 2.0
CONNECT_TIMEOUT = 30.0
ROUND_LIMIT = 120.0
"""Bound on one round inside a worker (every client has given up by then)."""


# -- measuring a process -------------------------------------------------------------------
def rss_mib(pid: int) -> float | None:
    """VmRSS of ``pid`` in MiB, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@attrs.define
class _Watched:
    """A server process under test and the peak VmRSS seen while sampling."""

    proc: trio.Process
    addr: str
    peak: float = 0.0

    def rss(self) -> float:
        value = rss_mib(self.proc.pid)
        if value is None:
            raise RuntimeError(f"server process {self.proc.pid} is gone")
        self.peak = max(self.peak, value)
        return value

    async def sample_forever(self) -> None:
        while True:
            self.rss()
            await trio.sleep(0.02)


@asynccontextmanager
async def _server(argv: list[str], env: dict[str, str]) -> AsyncIterator[_Watched]:
    """A server process that prints its address first and exits when its stdin closes (or is
    killed at the end of the block)."""
    proc = await trio.lowlevel.open_process(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=str(ROOT),
    )
    try:
        assert proc.stdout is not None
        addr = await echo._read_line(proc.stdout, 30.0)
        if not addr.startswith("tcp:"):
            raise RuntimeError(f"{argv[2:4]} did not start: printed {addr!r}")
        yield _Watched(proc, addr)
    finally:
        with trio.CancelScope(shield=True):
            if proc.stdin is not None:
                await proc.stdin.aclose()
            with trio.move_on_after(5.0):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            if proc.stdout is not None:
                await proc.stdout.aclose()


def _agent_env(token: str) -> dict[str, str]:
    """Without ``MESHTRIO_PARENT_PID``: trio forks from a worker thread, and the agent's
    parent-death signal would fire when that thread retires (after about 10 idle seconds),
    killing the agent mid-benchmark. :func:`_server` reaps it instead."""
    env = {k: v for k, v in child_env().items() if not k.startswith("MESHTRIO_")}
    env["MESHTRIO_TOKEN"] = token
    return env


# -- client workers ------------------------------------------------------------------------
class _Workers:
    """Client subprocesses; :meth:`round` has each run its share of clients at once."""

    def __init__(self, procs: list[trio.Process]) -> None:
        self._procs = procs
        self._buffers = [b""] * len(procs)

    async def _read_line(self, i: int) -> str:
        stdout = self._procs[i].stdout
        assert stdout is not None
        while b"\n" not in self._buffers[i]:
            chunk = await stdout.receive_some(65536)
            if not chunk:
                raise RuntimeError(f"client worker {self._procs[i].pid} exited")
            self._buffers[i] += chunk
        line, self._buffers[i] = self._buffers[i].split(b"\n", 1)
        return line.decode()

    async def round(self, command: dict[str, Any], n: int) -> tuple[float, list[dict[str, Any]]]:
        """(seconds from sending to the last report, each worker's report) for n clients."""
        k = len(self._procs)
        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
        reports: list[dict[str, Any]] = [{} for _ in range(k)]

        async def one(i: int) -> None:
            stdin = self._procs[i].stdin
            assert stdin is not None
            await stdin.send_all((json.dumps({**command, "n": shares[i]}) + "\n").encode())
            reports[i] = json.loads(await self._read_line(i))

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for i in range(k):
                nursery.start_soon(one, i)
        return time.perf_counter() - start, reports


@asynccontextmanager
async def _workers(k: int) -> AsyncIterator[_Workers]:
    procs: list[trio.Process] = []
    try:
        for _ in range(k):
            procs.append(
                await trio.lowlevel.open_process(
                    [sys.executable, "-m", "benchmarks.bench_accept", "worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=child_env(),
                    cwd=str(ROOT),
                )
            )
        workers = _Workers(procs)
        for i in range(k):
            if await workers._read_line(i) != "ready":
                raise RuntimeError("a client worker did not start")
        yield workers
    finally:
        with trio.CancelScope(shield=True):
            for proc in procs:
                if proc.stdin is not None:
                    await proc.stdin.aclose()
            with trio.move_on_after(10.0):
                for proc in procs:
                    await proc.wait()
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
                if proc.stdout is not None:
                    await proc.stdout.aclose()


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"[:200]


async def _meshtrio_client(addr: str, token: str) -> None:
    import meshtrio

    async with meshtrio.attach([addr], token=token) as mesh:
        await mesh.info()
        await mesh.stop()  # as leaving the block would (it leaves the host serving)


async def _bare_client(addr: str, size: int) -> None:
    host, _, port = addr.removeprefix("tcp:").rpartition(":")
    with trio.fail_after(CONNECT_TIMEOUT):
        async with trio_websocket.open_websocket(
            host, int(port), "/", use_ssl=False, max_message_size=echo.MAX_SIZE
        ) as ws:
            await ws.send_message(bytes(size))
            if len(await ws.get_message()) != size:
                raise RuntimeError("the echo server sent back something else")


async def _worker_round(command: dict[str, Any]) -> dict[str, Any]:
    from meshtrio import config

    errors: collections.Counter[str] = collections.Counter()
    ok = 0

    async def one(client: Callable[[], Awaitable[None]]) -> None:
        nonlocal ok
        try:
            await client()
            ok += 1
        except Exception as exc:
            errors[_error_text(exc)] += 1

    if command["kind"] == "meshtrio":

        async def client() -> None:
            await _meshtrio_client(command["addr"], command["token"])
    else:

        async def client() -> None:
            await _bare_client(command["addr"], command["size"])

    start = time.perf_counter()
    cpu = time.process_time()
    with (
        config.configured(
            connect_timeout=CONNECT_TIMEOUT, mesh_attach_config_timeout=CONNECT_TIMEOUT
        ),
        trio.move_on_after(ROUND_LIMIT),
    ):
        async with trio.open_nursery() as nursery:
            for _ in range(command["n"]):
                nursery.start_soon(one, client)
    failed = command["n"] - ok
    unaccounted = failed - sum(errors.values())
    if unaccounted:
        errors[f"did not finish within {ROUND_LIMIT:g} s"] += unaccounted
    return {
        "ok": ok,
        "failed": failed,
        "errors": dict(errors.most_common(5)),
        "seconds": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu,
    }


async def _worker_main() -> None:
    """Read one JSON command a line from stdin, run its clients, print one JSON report."""
    stdin = trio.lowlevel.FdStream(os.dup(0))
    print("ready", flush=True)
    buf = b""
    while True:
        chunk = await stdin.receive_some(65536)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            print(json.dumps(await _worker_round(json.loads(line))), flush=True)


async def _bare_server_main() -> None:
    """A bare trio-websocket echo server on loopback TCP until stdin closes."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, echo._handle, listeners)
        print(f"tcp:127.0.0.1:{port}", flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(0))
        while await stdin.receive_some(4096):
            pass
        nursery.cancel_scope.cancel()


# -- the benchmark -------------------------------------------------------------------------
@attrs.define
class _Side:
    times: list[float] = attrs.Factory(list)
    failed: list[int] = attrs.Factory(list)
    client_cpu: list[float] = attrs.Factory(list)
    server_cpu: list[float] = attrs.Factory(list)
    errors: collections.Counter[str] = attrs.Factory(collections.Counter)

    def add(self, seconds: float, reports: list[dict[str, Any]], server_cpu: float) -> float:
        self.times.append(seconds)
        self.client_cpu.append(sum(r["cpu_s"] for r in reports))
        self.server_cpu.append(server_cpu)
        self.failed.append(sum(r["failed"] for r in reports))
        for r in reports:
            self.errors.update(r["errors"])
        return seconds


async def run(ctx: Ctx) -> list[Result]:
    """All four rows (module docstring)."""
    from benchmarks.bench_attach import push_payload
    from meshtrio._transport.handshake import new_token

    n = 200 if ctx.quick else 1000
    rounds = 2 if ctx.quick else 4
    token = new_token()
    size = len(push_payload())
    agent_argv = [sys.executable, "-m", "meshtrio", "host", "--listen", "tcp:127.0.0.1:0"]
    bare_argv = [sys.executable, "-m", "benchmarks.bench_accept", "bare-server"]
    mine, bare = _Side(), _Side()
    after: list[float] = []
    bare_after: list[float] = []
    async with (
        _server(agent_argv, _agent_env(token)) as agent,
        _server(bare_argv, child_env()) as server,
        _workers(WORKERS) as workers,
    ):
        mesh_cmd = {"kind": "meshtrio", "addr": agent.addr, "token": token}
        bare_cmd = {"kind": "bare", "addr": server.addr, "size": size}
        await trio.sleep(SETTLE)
        fresh = agent.rss()
        _, warm = await workers.round(mesh_cmd, 1)
        await workers.round(bare_cmd, 1)
        if warm[0]["failed"]:
            raise RuntimeError(f"the warm-up client failed: {warm[0]['errors']}")
        await trio.sleep(SETTLE)
        before = agent.rss()
        bare_before = server.rss()
        agent.peak = server.peak = 0.0

        async def mesh_round() -> float:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(agent.sample_forever)
                cpu = cpu_seconds(agent.proc.pid)
                seconds = mine.add(
                    *await workers.round(mesh_cmd, n), cpu_seconds(agent.proc.pid) - cpu
                )
                nursery.cancel_scope.cancel()
            if agent.proc.returncode is not None:
                raise RuntimeError(f"the host agent exited ({agent.proc.returncode})")
            await trio.sleep(SETTLE)
            after.append(agent.rss())
            ctx.log(
                f"accept: meshtrio {seconds:.3f} s, {mine.failed[-1]}/{n} failed, CPU clients "
                f"{mine.client_cpu[-1]:.2f} s, agent {mine.server_cpu[-1]:.2f} s"
            )
            return seconds

        async def bare_round() -> float:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.sample_forever)
                cpu = cpu_seconds(server.proc.pid)
                seconds = bare.add(
                    *await workers.round(bare_cmd, n), cpu_seconds(server.proc.pid) - cpu
                )
                nursery.cancel_scope.cancel()
            await trio.sleep(SETTLE)
            bare_after.append(server.rss())
            ctx.log(
                f"accept: bare {seconds:.3f} s, {bare.failed[-1]}/{n} failed, CPU clients "
                f"{bare.client_cpu[-1]:.2f} s, server {bare.server_cpu[-1]:.2f} s"
            )
            return seconds

        await alternate([mesh_round, bare_round], rounds=rounds, budget=60.0, min_rounds=2)
        ctx.log(
            f"accept: agent RSS {fresh:.1f} MiB fresh, {before:.1f} before, "
            f"{agent.peak:.1f} peak, {after[-1]:.1f} after; bare server {bare_before:.1f} "
            f"before, {server.peak:.1f} peak, {bare_after[-1]:.1f} after"
        )
    params: dict[str, Any] = {"clients": n, "workers": WORKERS}
    attempts = n * len(mine.failed)
    bare_attempts = n * len(bare.failed)

    def per_success(total: int, failed: int) -> float | None:
        return total / (total - failed) if total > failed else None

    return [
        row(
            "accept.clients",
            {**params, "failed": f"{sum(mine.failed)}/{attempts}"},
            median(mine.times),
            "s",
            median(bare.times),
            target=TARGET,
            extra={
                "samples": mine.times,
                "baseline_samples": bare.times,
                "failed_per_round": mine.failed,
                "baseline_failed_per_round": bare.failed,
                "client_cpu_s": mine.client_cpu,
                "agent_cpu_s": mine.server_cpu,
                "baseline_client_cpu_s": bare.client_cpu,
                "baseline_server_cpu_s": bare.server_cpu,
                "per_client_ms": 1000.0 * median(mine.times) / n,
                "baseline_per_client_ms": 1000.0 * median(bare.times) / n,
            },
        ),
        row(
            "accept.failures",
            {**params, "failed": sum(mine.failed), "baseline_failed": sum(bare.failed)},
            per_success(attempts, sum(mine.failed)),
            "x",
            per_success(bare_attempts, sum(bare.failed)),
            target=FAILURE_TARGET,
            extra={
                "attempts": attempts,
                "baseline_attempts": bare_attempts,
                "failed_per_round": mine.failed,
                "baseline_failed_per_round": bare.failed,
                "errors": dict(mine.errors.most_common(5)),
                "baseline_errors": dict(bare.errors.most_common(5)),
            },
        ),
        row(
            "accept.agent_rss",
            params,
            after[-1],
            "MiB",
            before,
            target=RSS_TARGET,
            extra={
                "fresh_mib": fresh,
                "before_mib": before,
                "after_per_round_mib": after,
                "peak_mib": agent.peak,
                "settle_s": SETTLE,
                "note": "after a settle only: no gc.collect() in the agent is possible",
            },
        ),
        row(
            "accept.bare_server_rss",
            params,
            bare_after[-1],
            "MiB",
            bare_before,
            extra={"after_per_round_mib": bare_after, "peak_mib": server.peak},
        ),
        row(
            "accept.agent_rss_peak",
            params,
            agent.peak,
            "MiB",
            server.peak,
            extra={"agent_before_mib": before, "bare_server_peak_mib": server.peak},
        ),
    ]


BENCHMARKS = [Benchmark("accept.clients", run, limit=240.0, quick_limit=60.0)]


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        trio.run(_worker_main)
    elif sys.argv[1:] == ["bare-server"]:
        trio.run(_bare_server_main)
    else:
        sys.exit("usage: python -m benchmarks.bench_accept worker|bare-server")
