"""Watching procs and reading their logs, against bare trio doing the same OS-level work.

* ``watch.kill_to_event``: the time from SIGKILL of a proc to its ``Failed`` event arriving
  in :meth:`ProcMesh.watch <meshtrio.ProcMesh.watch>` (client clock, ``time.perf_counter``
  taken just before ``os.kill``), against the host's own exit detection approximated in
  this process: the time from SIGKILL of a bare child (``python -c`` sleeping, started with
  ``trio.lowlevel.open_process``) to ``await process.wait()`` returning (pidfd-based, like
  the host's launcher). One host process (``open_host_mesh_processes(1)``); each round
  spawns :data:`PER_ROUND` procs and as many bare sleepers, then kills them one at a time,
  alternating meshtrio and bare (meshtrio, bare, bare, meshtrio, ...). The value is the
  median over every kill, ``extra`` holds the p99s, every sample, and ``host_seen``: the
  host's own stamp of the change (``ProcEvent.at``) minus the wall clock at the kill, i.e.
  the part of the latency spent before the host sent the event. No target.
* ``watch.log_throughput``: lines per second from :data:`LOG_PROCS` procs (2 host
  processes x 4) to the client through :meth:`ProcMesh.logs <meshtrio.ProcMesh.logs>`:
  each proc prints :data:`LOG_LINES` lines of 60 characters (:func:`emit_lines`, on an
  actor endpoint call, after the subscription is up), timed from the call to the last line
  (or drop notice) counted. The baseline: :data:`LOG_PROCS` bare ``python -c`` processes
  running the same :func:`emit_lines` into a pipe, each pipe read by one bare trio task in
  this process counting newlines, timed from the trigger (a line on their stdin, once they
  are started) to the last newline. ``proc_log_rate`` is set to its maximum so the host's
  rate limit stays out of the way. Rounds alternate as above; a row's rate is the total
  lines over the median round time. Lines dropped (host or client buffers full) are counted
  in ``extra`` (``dropped``, ``dropped_share``, and ``accounted_rate``: delivered plus
  dropped lines per second); the row's rate counts delivered lines only. No target.

Every host process, proc and bare child is ended when its ``async with`` block ends (the
host mesh's shutdown, :func:`_bare_children`'s ``finally``), also on error. Procs are
spawned with ``logs=None`` and a supervision handler that only records failures, so the
kills neither end the block nor print anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any

import trio

from benchmarks.core import ROOT, Benchmark, Ctx, Result, alternate, child_env, median, row
from meshtrio import (
    Actor,
    LogLine,
    ProcEvent,
    ProcMesh,
    config,
    current_rank,
    endpoint,
    open_host_mesh_processes,
)
from meshtrio.errors import MeshError

__all__ = ["BENCHMARKS", "Printer", "emit_lines"]

PER_ROUND = 8
"""Procs (and bare sleepers) killed per round of ``watch.kill_to_event``."""

LOG_HOSTS = 2
LOG_PER_HOST = 4
LOG_PROCS = LOG_HOSTS * LOG_PER_HOST
LOG_LINES = 20_000
"""Lines each proc prints per round of ``watch.log_throughput`` (quick: half)."""

LINE_CHARS = 60
"""Characters per line, its newline included."""

READ_SIZE = 65536
"""The bare reader's read size (the host's launcher reads as much at a time)."""

BOUND = 10.0
"""Seconds any single wait (an event, a round's lines, a child's exit) may take."""

_PAD = "x" * (LINE_CHARS - len("rank 00 line 00000000 \n"))

_SLEEPER = "import sys, time; sys.stdout.write('r'); sys.stdout.flush(); time.sleep(60)"

_BARE_PRINTER = (
    "import sys; from benchmarks.bench_watch import emit_lines; "
    "sys.stderr.write('r'); sys.stderr.flush(); sys.stdin.readline(); "
    "emit_lines(int(sys.argv[1]), int(sys.argv[2]))"
)


def emit_lines(rank: int, n: int) -> None:
    """Write ``n`` numbered lines of :data:`LINE_CHARS` characters to stdout, then flush
    (what both sides of ``watch.log_throughput`` run)."""
    write = sys.stdout.write
    for i in range(n):
        write(f"rank {rank:02d} line {i:08d} {_PAD}\n")
    sys.stdout.flush()


class Printer(Actor):
    """The benchmark's actor: prints lines on request."""

    @endpoint
    async def emit(self, n: int) -> int:
        """Print ``n`` lines (:func:`emit_lines`); return ``n``."""
        emit_lines(current_rank().rank, n)
        return n


def _p99(samples: list[float]) -> float:
    """The 99th percentile (nearest rank) of a non-empty list."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, -(-99 * len(ordered) // 100) - 1))]


def _log(ctx: Ctx, r: Result) -> None:
    if r.value is None or r.baseline is None or r.ratio is None:
        ctx.log(f"{r.name}: no figure")
    elif r.unit == "ops/s":
        ctx.log(f"{r.name}: {r.value:.0f}/s vs {r.baseline:.0f}/s (ratio {r.ratio:.2f})")
    else:
        ctx.log(
            f"{r.name}: median {1e3 * r.value:.3f} ms (p99 {1e3 * r.extra['p99']:.3f}) vs "
            f"{1e3 * r.baseline:.3f} ms (p99 {1e3 * r.extra['baseline_p99']:.3f}) "
            f"(ratio {r.ratio:.2f})"
        )


@asynccontextmanager
async def _bare_children(
    argvs: list[list[str]], *, stdin: bool, ready_on: str
) -> AsyncIterator[list[trio.Process]]:
    """Start one bare child per argv (stdout a pipe, stdin too if ``stdin``), wait until
    each wrote its ready byte (on ``ready_on``: ``stdout`` or ``stderr``), yield them; on
    leaving, kill those still running and reap them (bounded), and close their pipes."""
    children: list[trio.Process] = []
    try:
        for argv in argvs:
            children.append(
                await trio.lowlevel.open_process(
                    argv,
                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE if ready_on == "stderr" else None,
                    env=child_env(),
                    cwd=str(ROOT),
                )
            )
        with trio.fail_after(BOUND):
            for child in children:
                stream = child.stderr if ready_on == "stderr" else child.stdout
                assert stream is not None
                if await stream.receive_some(1) != b"r":
                    raise RuntimeError(f"bare child {child.pid} did not start")
        yield children
    finally:
        with trio.CancelScope(shield=True):
            for child in children:
                if child.returncode is None:
                    child.kill()
            with trio.move_on_after(BOUND):
                for child in children:
                    await child.wait()
            for child in children:
                for pipe in (child.stdin, child.stdout, child.stderr):
                    if pipe is not None:
                        await pipe.aclose()


# -- watch.kill_to_event ---------------------------------------------------------------


async def _kill_round(procs: ProcMesh, host_seen: list[float]) -> tuple[list[float], list[float]]:
    """Kill every proc of ``procs`` and as many bare sleepers, alternating; the seconds of
    each kill on each side (meshtrio, bare). Appends each host stamp delay to ``host_seen``."""
    pids = {s.create_rank: s.pid for s in (await procs.states()).values()}
    if len(pids) != PER_ROUND or any(p is None for p in pids.values()):
        raise RuntimeError(f"expected {PER_ROUND} started procs, got {pids}")
    sleepers = [[sys.executable, "-c", _SLEEPER] for _ in range(PER_ROUND)]
    async with (
        _bare_children(sleepers, stdin=False, ready_on="stdout") as children,
        aclosing(procs.watch()) as events,
    ):
        present: set[int] = set()
        with trio.fail_after(BOUND):
            while len(present) < PER_ROUND:
                event = await anext(events)
                if event.old is None and event.new.is_running:
                    present.add(event.rank)
        victims = iter(sorted(pids))
        sleeping = iter(children)

        async def kill_mine() -> float:
            rank = next(victims)
            pid = pids[rank]
            assert pid is not None
            wall = time.time()
            start = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            with trio.fail_after(BOUND):
                while True:
                    event: ProcEvent = await anext(events)
                    if event.rank == rank and event.new.is_failure:
                        took = time.perf_counter() - start
                        host_seen.append(event.at - wall)
                        return took

        async def kill_bare() -> float:
            child = next(sleeping)
            start = time.perf_counter()
            os.kill(child.pid, signal.SIGKILL)
            with trio.fail_after(BOUND):
                await child.wait()
            return time.perf_counter() - start

        m, b = await alternate([kill_mine, kill_bare], rounds=PER_ROUND, budget=float("inf"))
    return m, b


async def _kill_to_event(ctx: Ctx) -> list[Result]:
    rounds = 2 if ctx.quick else 5
    mine: list[float] = []
    bare: list[float] = []
    host_seen: list[float] = []
    failures: list[MeshError] = []
    async with open_host_mesh_processes(1) as mesh:
        for i in range(rounds):
            procs = await mesh.spawn(
                f"victims{i}", {"gpus": PER_ROUND}, on_failure=failures.append, logs=None
            )
            m, b = await _kill_round(procs, host_seen)
            mine.extend(m)
            bare.extend(b)
    r = row(
        "watch.kill_to_event",
        {"hosts": 1, "procs_per_round": PER_ROUND, "rounds": rounds},
        median(mine),
        "s",
        median(bare),
        extra={
            "p99": _p99(mine),
            "baseline_p99": _p99(bare),
            "samples_n": len(mine),
            "baseline_samples_n": len(bare),
            "min": min(mine),
            "baseline_min": min(bare),
            "host_seen_median": median(host_seen),
            "host_seen_p99": _p99(host_seen),
            "failures_handled": len(failures),
            "samples": mine,
            "baseline_samples": bare,
            "host_seen": host_seen,
            "meshtrio_is": "SIGKILL of a proc -> its Failed event out of procs.watch()",
            "baseline_is": (
                "SIGKILL of a bare python child -> await trio Process.wait() returning "
                "(pidfd), in this process"
            ),
            "host_seen_is": "ProcEvent.at (host's wall clock) - time.time() at the kill",
        },
    )
    _log(ctx, r)
    ctx.log(
        f"{r.name}: host stamped the change after {1e3 * median(host_seen):.3f} ms "
        f"(p99 {1e3 * _p99(host_seen):.3f}); {len(failures)} failures handled"
    )
    return [r]


# -- watch.log_throughput --------------------------------------------------------------


async def _mesh_round(procs: ProcMesh, printers: Any, n: int) -> tuple[float, int, int]:
    """One round through ``procs.logs()``: (seconds, lines delivered, lines dropped)."""
    total = LOG_PROCS * n
    ready = trio.Event()
    counts = {"lines": 0, "dropped": 0}
    done = trio.Event()
    started = [0.0]

    async def read() -> None:
        async with aclosing(procs.logs(ready=ready)) as lines:
            line: LogLine
            async for line in lines:
                if line.dropped:
                    counts["dropped"] += line.dropped
                else:
                    counts["lines"] += 1
                if counts["lines"] + counts["dropped"] >= total:
                    break
        done.set()

    with trio.fail_after(BOUND * 3):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await ready.wait()
            started[0] = time.perf_counter()
            await printers.emit.call(n)
            await done.wait()
            took = time.perf_counter() - started[0]
    return took, counts["lines"], counts["dropped"]


async def _bare_round(n: int) -> float:
    """One round of the bare baseline: seconds from the trigger to the last newline."""
    argvs = [[sys.executable, "-c", _BARE_PRINTER, str(k), str(n)] for k in range(LOG_PROCS)]
    async with _bare_children(argvs, stdin=True, ready_on="stderr") as children:
        counted = [0]

        async def reader(child: trio.Process) -> None:
            stream = child.stdout
            assert stream is not None
            while True:
                data = await stream.receive_some(READ_SIZE)
                if not data:
                    return
                counted[0] += data.count(b"\n")

        with trio.fail_after(BOUND * 3):
            async with trio.open_nursery() as nursery:
                for child in children:
                    nursery.start_soon(reader, child)
                start = time.perf_counter()
                for child in children:
                    assert child.stdin is not None
                    await child.stdin.send_all(b"go\n")
            took = time.perf_counter() - start
        if counted[0] != LOG_PROCS * n:
            raise RuntimeError(f"bare readers counted {counted[0]} lines, not {LOG_PROCS * n}")
    return took


async def _log_throughput(ctx: Ctx) -> list[Result]:
    n = LOG_LINES // 2 if ctx.quick else LOG_LINES
    rounds = 2 if ctx.quick else 4
    total = LOG_PROCS * n
    delivered: list[int] = []
    dropped: list[int] = []
    with config.configured(proc_log_rate=1_000_000):
        async with open_host_mesh_processes(LOG_HOSTS) as mesh:
            failures: list[MeshError] = []
            procs = await mesh.spawn(
                "printers", {"gpus": LOG_PER_HOST}, on_failure=failures.append, logs=None
            )
            printers = await procs.spawn("printer", Printer)
            await printers.emit.call(1)  # warm up the actors (before any subscription)

            async def mine() -> float:
                took, lines, lost = await _mesh_round(procs, printers, n)
                delivered.append(lines)
                dropped.append(lost)
                return took

            async def bare() -> float:
                return await _bare_round(n)

            fns: list[Callable[[], Awaitable[float]]] = [mine, bare]
            m, b = await alternate(fns, rounds=rounds, budget=float("inf"))
            if failures:
                raise RuntimeError(f"a printer failed: {failures[0]}")
    mine_rate = median([lines / t for lines, t in zip(delivered, m, strict=True)])
    bare_rate = total / median(b)
    r = row(
        "watch.log_throughput",
        {
            "hosts": LOG_HOSTS,
            "procs": LOG_PROCS,
            "lines_per_proc": n,
            "line_chars": LINE_CHARS,
            "rounds": rounds,
        },
        mine_rate,
        "ops/s",
        bare_rate,
        extra={
            "speed_vs_bare": mine_rate / bare_rate,
            "accounted_rate": median(
                [(lines + lost) / t for lines, lost, t in zip(delivered, dropped, m, strict=True)]
            ),
            "dropped_share": round(sum(dropped) / (total * len(m)), 3),
            "delivered": delivered,
            "dropped": dropped,
            "run_s": m,
            "baseline_run_s": b,
            "meshtrio_is": (
                f"{LOG_PROCS} procs each printing {n} lines on an actor call, read through "
                "procs.logs(); delivered lines / (call -> last line or drop notice), median "
                "over rounds"
            ),
            "baseline_is": (
                f"{LOG_PROCS} bare python processes running the same emit_lines into a pipe, "
                "one trio reader task per pipe in this process counting newlines; "
                "lines / (trigger -> last newline), median round"
            ),
        },
    )
    _log(ctx, r)
    ctx.log(
        f"{r.name}: dropped per round {dropped} of {total}; delivered + dropped "
        f"{r.extra['accounted_rate']:.0f}/s"
    )
    return [r]


async def run(ctx: Ctx) -> list[Result]:
    """The two rows (module docstring)."""
    return [*await _kill_to_event(ctx), *await _log_throughput(ctx)]


BENCHMARKS = [
    Benchmark(
        "watch",
        run,
        limit=90.0,
        quick_limit=45.0,
        aliases=("watch.kill_to_event", "watch.log_throughput"),
    )
]
