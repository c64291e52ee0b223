"""Actor calls (client -> proc, direct) against a bare trio-websocket echo of the same bytes.

The actor is :class:`Echo` (``ping(x)`` returns ``x``), spawned on procs started by
``open_host_mesh_processes``; the baseline is ``python -m benchmarks.echo`` server processes
on abstract unix sockets (:mod:`benchmarks.echo`), sent a message as long as the encoded
``CallActor`` request (:func:`request_size`) over an open websocket. Only the clients live in
this process, so both sides are open together, and their timed blocks alternate in the order
meshtrio, bare, bare, meshtrio, ... (:func:`benchmarks.core.alternate`), so CPU drift hits
both alike. Each block is a run of calls one after another; a block's figure is its time per
call and a row's value the median over the blocks (mean, minimum and every block in
``extra``, with ``gc_share``: the share of the time spent in this process's collector).

* ``actors.call_one``: ``await actors.ping.call_one(b"x")`` to one actor on one proc (one
  host process, one proc), against one echo round trip to one server (send, then receive,
  in the calling task: :meth:`benchmarks.echo.Clients.one`). Target: ratio <= 1.3.
* ``actors.pipelined``: 10,000 such calls with 100 in flight (100 tasks, each calling
  ``call_one`` in a loop until the 10,000 are done), in calls per second, against the bare
  echo pipelined over one connection (one task sending, one receiving, at most 100 messages
  unanswered: the actor mesh too has one connection per proc). The target is meshtrio at
  least half the bare rate: ratio (bare rate / meshtrio rate) <= 2. One sample is one run of
  10,000; the rate is 10,000 over the median run.
* ``actors.call16``: ``await actors.ping.call(b"x")`` to 16 actors on 16 procs (4 host
  processes x 4 procs), against one echo round to 16 server processes at once
  (:meth:`benchmarks.echo.Clients.round`). Target: ratio <= 1.5.
* ``actors.mib16``: the same with a 1 MiB argument (returned, so 1 MiB back from each actor)
  against a 1 MiB echo to the 16 servers. No target (measured for scale).

Every host, proc and echo server process is ended when its ``async with`` block ends (the
host mesh's shutdown, ``servers_in_subprocesses``'s ``finally``), also on error.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from statistics import mean
from typing import Any

import trio

from benchmarks import echo
from benchmarks.core import (
    ROOT,
    Benchmark,
    Ctx,
    GcClock,
    Result,
    alternate,
    child_env,
    median,
    row,
)
from meshtrio import Actor, ActorMesh, Extent, config, endpoint, open_host_mesh_processes
from meshtrio import _wire as wire
from meshtrio._actor_messages import CallActor
from meshtrio._payload import dump_args

__all__ = ["BENCHMARKS", "Echo", "request_size"]

CALL_ONE_TARGET = 1.3
CALL16_TARGET = 1.5
PIPELINED_TARGET = 2.0
"""Bare rate over meshtrio rate: meshtrio at least half as many calls per second."""

TRIVIAL = b"x"
MIB = 1 << 20
PIPELINED_CALLS = 10_000
PIPELINED_WINDOW = 100
HOSTS = 4
PER_HOST = 4

Call = Callable[[], Awaitable[object]]


class Echo(Actor):
    """The benchmark's actor: one endpoint that returns its argument."""

    @endpoint
    async def ping(self, x: bytes) -> bytes:
        """Return ``x``."""
        return x


def request_size(payload: bytes, name: str = "echo") -> int:
    """Bytes of the encoded request calling ``ping(payload)`` on actor mesh ``name``."""
    args = dump_args((payload,), {}, max_size=config.get(config.MAX_MESSAGE_SIZE), what="Echo.ping")
    key = f"{name}.{'0' * 12}"  # the mesh key: its label and 6 random bytes in hex
    env = wire.Envelope(wire.EnvelopeKind.REQUEST, 1 << 20, CallActor(key, "ping", args, None))
    return len(wire.encode(env))


@asynccontextmanager
async def _echo_actors(hosts: int, per_host: int) -> AsyncIterator[ActorMesh[Echo]]:
    """``Echo`` on ``hosts`` host processes x ``per_host`` procs (dimensions hosts, gpus)."""
    async with open_host_mesh_processes(Extent(hosts=hosts)) as mesh:
        procs = await mesh.spawn("bench", {"gpus": per_host})
        yield await procs.spawn("echo", Echo)


@asynccontextmanager
async def _echo_clients(n: int) -> AsyncIterator[echo.Clients]:
    """n echo server processes and one open websocket to each."""
    servers = echo.servers_in_subprocesses(n, env=child_env(), cwd=str(ROOT))
    async with servers as addrs, echo.clients(addrs) as cl:
        yield cl


def _block(fn: Call, calls: int, clock: GcClock) -> Callable[[], Awaitable[float]]:
    """A block of ``calls`` awaits of ``fn``, one after another; returns seconds per call."""

    async def run() -> float:
        with clock:
            start = time.perf_counter()
            for _ in range(calls):
                await fn()
            return (time.perf_counter() - start) / calls

    return run


async def _compare(
    mine: Call, bare: Call, *, calls: int, rounds: int, budget: float
) -> tuple[list[float], list[float], GcClock, GcClock]:
    """Warm both up, then alternate blocks (meshtrio, bare, bare, meshtrio, ...); per-call
    seconds of every block of each side, and each side's collector clock."""
    for fn in (mine, bare):
        for _ in range(max(1, min(calls, 20))):
            await fn()
    clocks = GcClock(), GcClock()
    fns = [_block(mine, calls, clocks[0]), _block(bare, calls, clocks[1])]
    m, b = await alternate(fns, rounds=rounds, budget=budget, min_rounds=4)
    return m, b, clocks[0], clocks[1]


def _time_row(
    name: str,
    params: dict[str, Any],
    mine: list[float],
    bare: list[float],
    clocks: tuple[GcClock, GcClock],
    *,
    target: float | None,
    calls: int,
    baseline_is: str,
) -> Result:
    extra: dict[str, Any] = {
        "calls_per_block": calls,
        "blocks": len(mine),
        "baseline_blocks": len(bare),
        "mean": mean(mine),
        "baseline_mean": mean(bare),
        "min": min(mine),
        "baseline_min": min(bare),
        "gc_share": round(clocks[0].seconds / (sum(mine) * calls), 3),
        "baseline_gc_share": round(clocks[1].seconds / (sum(bare) * calls), 3),
        "samples": mine,
        "baseline_samples": bare,
        "baseline_is": baseline_is,
    }
    return row(name, params, median(mine), "s", median(bare), target=target, extra=extra)


def _log(ctx: Ctx, r: Result) -> None:
    if r.value is None or r.baseline is None or r.ratio is None:
        ctx.log(f"{r.name}: no figure")
    elif r.unit == "ops/s":
        ctx.log(f"{r.name}: {r.value:.0f}/s vs {r.baseline:.0f}/s (ratio {r.ratio:.2f})")
    else:
        ctx.log(
            f"{r.name}: {1e3 * r.value:.3f} ms vs {1e3 * r.baseline:.3f} ms (ratio {r.ratio:.2f})"
        )


async def _pipelined_mine(actor: ActorMesh[Echo]) -> None:
    """PIPELINED_CALLS ``call_one`` with PIPELINED_WINDOW tasks calling in a loop."""
    left = PIPELINED_CALLS

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if await actor.ping.call_one(TRIVIAL) != TRIVIAL:
                raise RuntimeError("the actor sent back something else")

    async with trio.open_nursery() as nursery:
        for _ in range(PIPELINED_WINDOW):
            nursery.start_soon(worker)


async def _one_proc(ctx: Ctx) -> list[Result]:
    """call_one and pipelined: one host process, one proc, one echo server."""
    out: list[Result] = []
    size = request_size(TRIVIAL)
    msg = bytes(size)
    async with _echo_actors(1, 1) as actors, _echo_clients(1) as cl:
        actor = actors.slice(hosts=0, gpus=0)
        if await actor.ping.call_one(TRIVIAL) != TRIVIAL:
            raise RuntimeError("the actor sent back something else")

        async def one() -> None:
            await actor.ping.call_one(TRIVIAL)

        async def bare_one() -> None:
            await cl.one(msg)

        calls, rounds, budget = (100, 8, 4.0) if ctx.quick else (200, 24, 12.0)
        m, b, gm, gb = await _compare(one, bare_one, calls=calls, rounds=rounds, budget=budget)
        r = _time_row(
            "actors.call_one",
            {"hosts": 1, "procs": 1, "payload": len(TRIVIAL), "message": size},
            m,
            b,
            (gm, gb),
            target=CALL_ONE_TARGET,
            calls=calls,
            baseline_is=(
                f"echo round trip of {size} bytes to one server process "
                "(send, then receive, in the calling task)"
            ),
        )
        out.append(r)
        _log(ctx, r)

        async def pipe_mine() -> None:
            await _pipelined_mine(actor)

        async def pipe_bare() -> None:
            await cl.pipelined(msg, PIPELINED_CALLS, PIPELINED_WINDOW)

        rounds, budget = (2, 10.0) if ctx.quick else (8, 25.0)
        m, b, gm, gb = await _compare(pipe_mine, pipe_bare, calls=1, rounds=rounds, budget=budget)
        mine_rate, bare_rate = PIPELINED_CALLS / median(m), PIPELINED_CALLS / median(b)
        r = row(
            "actors.pipelined",
            {"hosts": 1, "procs": 1, "calls": PIPELINED_CALLS, "in_flight": PIPELINED_WINDOW},
            mine_rate,
            "ops/s",
            bare_rate,
            target=PIPELINED_TARGET,
            extra={
                "speed_vs_bare": mine_rate / bare_rate,
                "target_is": "meshtrio rate >= 0.5 x bare rate (ratio = bare/meshtrio <= 2)",
                "run_s": m,
                "baseline_run_s": b,
                "gc_share": round(gm.seconds / sum(m), 3),
                "baseline_gc_share": round(gb.seconds / sum(b), 3),
                "baseline_is": (
                    f"{PIPELINED_CALLS} echoes of {size} bytes pipelined over one connection "
                    f"to one server process, at most {PIPELINED_WINDOW} unanswered "
                    "(one sending task, one receiving task)"
                ),
                "meshtrio_is": f"{PIPELINED_WINDOW} tasks each calling call_one in a loop",
            },
        )
        out.append(r)
        _log(ctx, r)
    return out


async def _sixteen(ctx: Ctx) -> list[Result]:
    """call16 and mib16: 4 host processes x 4 procs, 16 echo servers."""
    out: list[Result] = []
    n = HOSTS * PER_HOST
    big = os.urandom(MIB)
    async with _echo_actors(HOSTS, PER_HOST) as actors, _echo_clients(n) as cl:
        values = await actors.ping.call(TRIVIAL)
        if len(values) != n or any(v != TRIVIAL for v in values.values()):
            raise RuntimeError("the actors sent back something else")
        plans: list[tuple[str, bytes, float | None, tuple[int, int, float]]] = [
            ("actors.call16", TRIVIAL, CALL16_TARGET, (40, 16, 10.0)),
            ("actors.mib16", big, None, (3, 12, 15.0)),
        ]
        for name, payload, target, (calls, rounds, budget) in plans:
            size = request_size(payload)
            msg = bytes(size)

            async def mine(payload: bytes = payload) -> None:
                await actors.ping.call(payload)

            async def bare(msg: bytes = msg) -> None:
                await cl.round(msg)

            if ctx.quick:
                rounds, budget = max(4, rounds // 3), budget / 3
            m, b, gm, gb = await _compare(mine, bare, calls=calls, rounds=rounds, budget=budget)
            r = _time_row(
                name,
                {"hosts": HOSTS, "procs": n, "payload": len(payload), "message": size},
                m,
                b,
                (gm, gb),
                target=target,
                calls=calls,
                baseline_is=f"echo of {size} bytes to {n} server processes at once",
            )
            out.append(r)
            _log(ctx, r)
    return out


async def run(ctx: Ctx) -> list[Result]:
    """The four rows (module docstring)."""
    return [*await _one_proc(ctx), *await _sixteen(ctx)]


BENCHMARKS = [
    Benchmark(
        "actors",
        run,
        limit=180.0,
        quick_limit=60.0,
        aliases=("actors.call_one", "actors.pipelined", "actors.call16", "actors.mib16"),
    )
]
