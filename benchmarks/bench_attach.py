"""Attach (config push) fan-out against a bare trio-websocket fan-out to as many servers.

* ``attach.inproc``: N in-process host agents on ``tcp:127.0.0.1`` (procs as tasks) against N
  in-process bare echo servers on ``tcp:127.0.0.1``; N = 1, 10, 100, 1000 (quick: up to 100).
  The two sides never share the heap (with 1000 hosts about half the time is garbage
  collection, whose cost grows with everything alive): they are measured in separate blocks,
  in the order meshtrio, bare, bare, meshtrio, so steady CPU drift cancels (at N = 1000, where
  setting up and tearing down take seconds, one block each). At the larger N each block also
  measures under ``gc.freeze()`` (``params.gc_freeze``), in halves alternating with as-is.
* ``attach.processes``: N host processes (``open_host_mesh_processes``) against N echo server
  processes on abstract unix sockets, N = 1, 4, 16 (quick: 1, 4); only the clients live in
  this process, so both sides are open together and their rounds alternate.
* ``attach.<kind>.growth``: how the time per host grows from one N to the next (the largest
  step's factor; 1.0 is linear; target 1.2), also over the ``gc.freeze()`` sizes; the
  baseline's own factors are in ``extra``.

The meshtrio side is ``await mesh.push_config()`` on a mesh whose connections are open (the
push during attach opened them); the baseline sends a message as long as the encoded
SetClientConfig request over open connections and waits for every echo. The value is the
median; ``extra.gc_share`` is the share of the measured time spent in the collector. Target:
ratio <= 1.5 at every N.
"""

from __future__ import annotations

import functools
import gc
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs

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
    timed_gc,
)
from meshtrio import config, wire
from meshtrio.local_mesh import open_host_mesh_in_process, open_host_mesh_processes
from meshtrio.messages import SetClientConfig

__all__ = ["BENCHMARKS", "push_payload"]

TARGET = 1.5
GROWTH_TARGET = 1.2
BIG = 1000

Round = Callable[[], Awaitable[object]]
Opener = Callable[[int], AbstractAsyncContextManager[Round]]


def push_payload() -> bytes:
    """Bytes as long as the encoded SetClientConfig request push_config sends each host."""
    env = wire.Envelope(wire.Kind.REQUEST, 1, SetClientConfig(config.propagatable()))
    return bytes(len(wire.encode(env)))


@attrs.define
class _Side:
    """One side's samples (by gc_freeze) and collector clocks."""

    times: dict[bool, list[float]] = attrs.field(factory=lambda: {False: [], True: []})
    clocks: dict[bool, GcClock] = attrs.field(factory=lambda: {False: GcClock(), True: GcClock()})

    def gc_share(self, freeze: bool) -> float:
        total = sum(self.times[freeze])
        return self.clocks[freeze].seconds / total if total else 0.0


def _budget(n: int, quick: bool) -> tuple[int, float]:
    """(max rounds, seconds) for one measurement at size n (a block, or an interleaved run)."""
    if n >= BIG:
        return (3, 3.0) if quick else (4, 4.0)
    if n >= 100:
        return (6, 0.6) if quick else (10, 1.5)
    return (10, 0.2) if quick else (20, 0.6)


async def _sample(
    freeze: bool, fns: Sequence[tuple[_Side, Round]], rounds: int, budget: float
) -> None:
    """Sample the fns alternately into their sides (under ``gc.freeze()`` if ``freeze``)."""
    if freeze:
        gc.collect()
        gc.freeze()
    try:
        runs = [timed_gc(fn, s.clocks[freeze]) for s, fn in fns]
        samples = await alternate(runs, rounds=rounds, budget=budget, min_rounds=2)
    finally:
        if freeze:
            gc.unfreeze()
    for (s, _), got in zip(fns, samples, strict=True):
        s.times[freeze].extend(got)


async def _measure_both(
    freeze: bool, fns: Sequence[tuple[_Side, Round]], n: int, quick: bool
) -> None:
    """Warm up, then sample as is; with ``freeze``, alternate as-is and frozen halves twice.

    Warm-up is two rounds (one at ``BIG``). Alternating the halves keeps load changes on the
    machine from landing on one variant only.
    """
    for _, fn in fns:
        for _ in range(1 if n >= BIG else 2):
            await fn()
    rounds, budget = _budget(n, quick)
    if not freeze:
        await _sample(False, fns, rounds, budget)
        return
    for _ in range(2):
        for fz in (False, True):
            await _sample(fz, fns, max(2, rounds // 2), budget / 2)


async def _blocks(
    n: int, freeze: bool, quick: bool, mesh: Opener, base: Opener
) -> tuple[_Side, _Side]:
    """Separate blocks: meshtrio / bare / bare / meshtrio (just meshtrio / bare at ``BIG``)."""
    mine, bare = _Side(), _Side()
    order = [(mine, mesh), (bare, base)]
    if n < BIG:  # setting up and tearing down 1000 hosts takes seconds: one block each
        order += [(bare, base), (mine, mesh)]
    for side, opener in order:
        async with opener(n) as fn:
            await _measure_both(freeze, [(side, fn)], n, quick)
    return mine, bare


async def _together(
    n: int, freeze: bool, quick: bool, mesh: Opener, base: Opener
) -> tuple[_Side, _Side]:
    """Both open at once, rounds alternating."""
    mine, bare = _Side(), _Side()
    async with mesh(n) as fn_mine, base(n) as fn_bare:
        pairs = [(mine, fn_mine), (bare, fn_bare)]
        await _measure_both(freeze, pairs, n, quick)
    return mine, bare


def _row(name: str, n: int, freeze: bool, mine: _Side, bare: _Side) -> Result:
    m, b = median(mine.times[freeze]), median(bare.times[freeze])
    return row(
        name,
        {"hosts": n, "gc_freeze": freeze},
        m,
        "s",
        b,
        target=TARGET,
        extra={
            "per_host_ms": 1000.0 * m / n,
            "baseline_per_host_ms": 1000.0 * b / n,
            "samples": len(mine.times[freeze]),
            "baseline_samples": len(bare.times[freeze]),
            "min": min(mine.times[freeze]),
            "baseline_min": min(bare.times[freeze]),
            "gc_share": round(mine.gc_share(freeze), 3),
            "baseline_gc_share": round(bare.gc_share(freeze), 3),
        },
    )


def _growth(name: str, freeze: bool, medians: dict[int, tuple[float, float]]) -> Result:
    """The largest per-host-time growth factor between consecutive sizes (1.0 = linear)."""
    sizes = sorted(medians)
    steps: dict[str, float] = {}
    base_steps: dict[str, float] = {}
    for a, b in itertools.pairwise(sizes):
        steps[f"{a}->{b}"] = (medians[b][0] / b) / (medians[a][0] / a)
        base_steps[f"{a}->{b}"] = (medians[b][1] / b) / (medians[a][1] / a)
    worst = max(steps.values()) if steps else None
    extra: dict[str, Any] = {
        "per_host_growth": steps,
        "baseline_per_host_growth": base_steps,
        "baseline_worst": max(base_steps.values()) if base_steps else None,
    }
    params = {"hosts": sizes, "gc_freeze": freeze}
    return row(name, params, worst, "x", 1.0, target=GROWTH_TARGET, extra=extra)


async def _family(
    ctx: Ctx,
    name: str,
    sizes: Sequence[int],
    freeze_sizes: Sequence[int],
    how: Callable[[int, bool, bool, Opener, Opener], Awaitable[tuple[_Side, _Side]]],
    mesh: Opener,
    base: Opener,
) -> list[Result]:
    out: list[Result] = []
    medians: dict[bool, dict[int, tuple[float, float]]] = {False: {}, True: {}}
    for n in sizes:
        freeze = n in freeze_sizes
        mine, bare = await how(n, freeze, ctx.quick, mesh, base)
        for fz in (False, True) if freeze else (False,):
            out.append(_row(name, n, fz, mine, bare))
            ctx.log(
                f"{name} N={n}{' gc.freeze' if fz else ''}: "
                f"{1000 * median(mine.times[fz]):.2f} ms (gc {mine.gc_share(fz):.0%}) vs "
                f"{1000 * median(bare.times[fz]):.2f} ms (gc {bare.gc_share(fz):.0%})"
            )
            medians[fz][n] = (median(mine.times[fz]), median(bare.times[fz]))
    for fz in (False, True):
        if len(medians[fz]) > 1:
            out.append(_growth(f"{name}.growth", fz, medians[fz]))
    return out


@asynccontextmanager
async def _inproc_mesh(n: int) -> AsyncIterator[Round]:
    async with open_host_mesh_in_process(["tcp:127.0.0.1:0"] * n, in_process_procs=True) as m:
        yield m.push_config


@asynccontextmanager
async def _process_mesh(n: int) -> AsyncIterator[Round]:
    async with open_host_mesh_processes(n) as m:
        yield m.push_config


@asynccontextmanager
async def _inproc_echo(n: int) -> AsyncIterator[Round]:
    async with echo.servers_in_process(n) as addrs, echo.clients(addrs) as cl:
        yield functools.partial(cl.round, push_payload())


@asynccontextmanager
async def _process_echo(n: int) -> AsyncIterator[Round]:
    servers = echo.servers_in_subprocesses(n, env=child_env(), cwd=str(ROOT))
    async with servers as addrs, echo.clients(addrs) as cl:
        yield functools.partial(cl.round, push_payload())


async def run_inproc(ctx: Ctx) -> list[Result]:
    """In-process hosts on tcp against in-process echo servers (separate blocks)."""
    sizes = (1, 10, 100) if ctx.quick else (1, 10, 100, 1000)
    freeze = (100,) if ctx.quick else (100, 1000)
    return await _family(ctx, "attach.inproc", sizes, freeze, _blocks, _inproc_mesh, _inproc_echo)


async def run_processes(ctx: Ctx) -> list[Result]:
    """Host processes against echo server processes (rounds alternating)."""
    sizes = (1, 4) if ctx.quick else (1, 4, 16)
    return await _family(
        ctx, "attach.processes", sizes, (), _together, _process_mesh, _process_echo
    )


BENCHMARKS = [
    Benchmark("attach.inproc", run_inproc, limit=150.0, quick_limit=25.0),
    Benchmark("attach.processes", run_processes, limit=90.0, quick_limit=30.0),
]
