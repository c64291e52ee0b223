"""Attach (config push) fan-out against a bare trio-websocket fan-out to as many servers.

* ``attach.inproc``: N in-process host agents on ``tcp:127.0.0.1`` (procs as tasks) against N
  in-process bare echo servers on ``tcp:127.0.0.1``; N = 1, 10, 100, 1000 (quick: up to 100).
  The two sides never share the heap (with 1000 hosts much of the time is garbage
  collection, whose cost grows with everything alive): they are measured in separate blocks,
  in the order meshtrio, bare, bare, meshtrio, so steady CPU drift cancels. At the larger N
  each block also
  measures under ``gc.freeze()`` and with the collector off (``params.gc``: ``as-is``,
  ``frozen``, ``off``), in parts alternating with as-is.
* ``attach.processes``: N host processes (``open_host_mesh_processes``) against N echo server
  processes on abstract unix sockets, N = 1, 4, 16 (quick: 1, 4); only the clients live in
  this process, so both sides are open together and their rounds alternate.

Growth ("no worse than linear"): ``attach.<kind>.growth``, one row per GC mode measured at
two sizes or more. From each size to the next, the time per host grows by some factor (1.0:
linear); the row shows meshtrio's factor at the step where it is largest relative to the
bare transport's, the baseline's factor at that step, and their ratio (target 1.2: meshtrio
adds nothing that grows faster than the transport's own cost). The baseline's own factors
are not 1.0 either: in one process every collection walks everything alive, and even with the
collector off the time per connection grows from 100 to 1000 connections (memory, the
scheduler); host processes share two cores. So the absolute factor alone would measure the
machine; all steps of both sides are in ``extra``.

The meshtrio side is ``await mesh.push_config()`` on a mesh whose connections are open (the
push during attach opened them); the baseline sends a message as long as the encoded
SetClientConfig request over open connections and waits for every echo. The value is the
mean over the rounds, the amortized cost of a push: with 1000 hosts in one process a full
collection (a third of a second) comes every other round or so, and a median of few rounds
would land on either side of it by chance (the median and minimum are in ``extra``).
``extra.gc_share`` is the share of the measured time spent in the collector. Target: ratio
<= 1.5 at every N.
"""

from __future__ import annotations

import functools
import gc
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from statistics import mean
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
from meshtrio import _wire as wire
from meshtrio import config, open_host_mesh_in_process, open_host_mesh_processes
from meshtrio._messages import SetClientConfig

__all__ = ["BENCHMARKS", "push_payload"]

TARGET = 1.5
GROWTH_TARGET = 1.2
BIG = 1000

Round = Callable[[], Awaitable[object]]
Opener = Callable[[int], AbstractAsyncContextManager[Round]]


def push_payload() -> bytes:
    """Bytes as long as the encoded SetClientConfig request push_config sends each host."""
    env = wire.Envelope(wire.EnvelopeKind.REQUEST, 1, SetClientConfig(config.propagatable()))
    return bytes(len(wire.encode(env)))


GC_MODES = ("as-is", "frozen", "off")
"""How the collector runs while sampling: as is, after ``gc.freeze()``, or disabled."""


@attrs.define
class _Side:
    """One side's samples (by GC mode) and collector clocks."""

    times: dict[str, list[float]] = attrs.field(factory=lambda: {m: [] for m in GC_MODES})
    clocks: dict[str, GcClock] = attrs.field(factory=lambda: {m: GcClock() for m in GC_MODES})

    def gc_share(self, mode: str) -> float:
        total = sum(self.times[mode])
        return self.clocks[mode].seconds / total if total else 0.0


def _budget(n: int, quick: bool) -> tuple[int, float]:
    """(max rounds, seconds) for one measurement at size n (a block, or an interleaved run)."""
    if n >= BIG:
        return (3, 3.0) if quick else (4, 4.0)
    if n >= 100:
        return (10, 0.6) if quick else (40, 1.5)
    return (300, 0.2) if quick else (1000, 0.6)  # many short rounds: a mean over enough of them


async def _sample(
    mode: str, fns: Sequence[tuple[_Side, Round]], rounds: int, budget: float
) -> None:
    """Sample the fns alternately into their sides, the collector run as ``mode`` says."""
    was_enabled = gc.isenabled()
    if mode != "as-is":
        gc.collect()
        if mode == "frozen":
            gc.freeze()
        else:
            gc.disable()
    try:
        runs = [timed_gc(fn, s.clocks[mode]) for s, fn in fns]
        samples = await alternate(runs, rounds=rounds, budget=budget, min_rounds=2)
    finally:
        if mode == "frozen":
            gc.unfreeze()
        if was_enabled:
            gc.enable()
    for (s, _), got in zip(fns, samples, strict=True):
        s.times[mode].extend(got)


async def _measure_both(
    modes: Sequence[str], fns: Sequence[tuple[_Side, Round]], n: int, quick: bool
) -> None:
    """Warm up, then sample in each of ``modes``; with more than one, in alternating parts.

    Warm-up is two rounds (one at ``BIG``). Alternating the parts keeps load changes on the
    machine from landing on one mode only.
    """
    for _, fn in fns:
        for _ in range(1 if n >= BIG else 2):
            await fn()
    rounds, budget = _budget(n, quick)
    if len(modes) == 1:
        await _sample(modes[0], fns, rounds, budget)
        return
    for _ in range(2):
        for mode in modes:
            await _sample(mode, fns, max(2, rounds // 2), budget / 2)


async def _blocks(
    n: int, modes: Sequence[str], quick: bool, mesh: Opener, base: Opener
) -> tuple[_Side, _Side]:
    """Separate blocks: meshtrio / bare / bare / meshtrio."""
    mine, bare = _Side(), _Side()
    for side, opener in [(mine, mesh), (bare, base), (bare, base), (mine, mesh)]:
        async with opener(n) as fn:
            await _measure_both(modes, [(side, fn)], n, quick)
    return mine, bare


async def _together(
    n: int, modes: Sequence[str], quick: bool, mesh: Opener, base: Opener
) -> tuple[_Side, _Side]:
    """Both open at once, rounds alternating."""
    mine, bare = _Side(), _Side()
    async with mesh(n) as fn_mine, base(n) as fn_bare:
        pairs = [(mine, fn_mine), (bare, fn_bare)]
        await _measure_both(modes, pairs, n, quick)
    return mine, bare


def _row(name: str, n: int, mode: str, mine: _Side, bare: _Side) -> Result:
    m, b = mean(mine.times[mode]), mean(bare.times[mode])
    return row(
        name,
        {"hosts": n, "gc": mode},
        m,
        "s",
        b,
        target=TARGET,
        extra={
            "per_host_ms": 1000.0 * m / n,
            "baseline_per_host_ms": 1000.0 * b / n,
            "samples": len(mine.times[mode]),
            "baseline_samples": len(bare.times[mode]),
            "median": median(mine.times[mode]),
            "baseline_median": median(bare.times[mode]),
            "min": min(mine.times[mode]),
            "baseline_min": min(bare.times[mode]),
            "gc_share": round(mine.gc_share(mode), 3),
            "baseline_gc_share": round(bare.gc_share(mode), 3),
        },
    )


def _steps(means: dict[int, float]) -> dict[str, float]:
    """Per-host time growth factor of each consecutive pair of sizes (1.0 = linear)."""
    sizes = sorted(means)
    return {f"{a}->{b}": (means[b] / b) / (means[a] / a) for a, b in itertools.pairwise(sizes)}


def _growth(name: str, mode: str, means: dict[int, tuple[float, float]]) -> Result:
    """The growth row (module docstring) for one GC mode from its means by size."""
    mine = _steps({n: m for n, (m, _) in means.items()})
    base = _steps({n: b for n, (_, b) in means.items()})
    worst = max(mine, key=lambda k: mine[k] / base[k])
    extra: dict[str, Any] = {"per_host_growth": mine, "baseline_per_host_growth": base}
    params = {"hosts": sorted(means), "gc": mode, "step": worst}
    return row(name, params, mine[worst], "x", base[worst], target=GROWTH_TARGET, extra=extra)


async def _family(
    ctx: Ctx,
    name: str,
    sizes: Sequence[int],
    mode_sizes: Sequence[int],
    how: Callable[[int, Sequence[str], bool, Opener, Opener], Awaitable[tuple[_Side, _Side]]],
    mesh: Opener,
    base: Opener,
) -> list[Result]:
    """Rows at every size (all GC modes at ``mode_sizes``), then a growth row per GC mode."""
    out: list[Result] = []
    means: dict[str, dict[int, tuple[float, float]]] = {m: {} for m in GC_MODES}
    for n in sizes:
        modes = GC_MODES if n in mode_sizes else ("as-is",)
        mine, bare = await how(n, modes, ctx.quick, mesh, base)
        for mode in modes:
            out.append(_row(name, n, mode, mine, bare))
            ctx.log(
                f"{name} N={n} gc {mode}: "
                f"{1000 * mean(mine.times[mode]):.2f} ms (gc {mine.gc_share(mode):.0%}) vs "
                f"{1000 * mean(bare.times[mode]):.2f} ms (gc {bare.gc_share(mode):.0%})"
            )
            means[mode][n] = (mean(mine.times[mode]), mean(bare.times[mode]))
    for mode in GC_MODES:
        if len(means[mode]) > 1:
            out.append(_growth(f"{name}.growth", mode, means[mode]))
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
    modes = (10, 100) if ctx.quick else (100, 1000)
    return await _family(ctx, "attach.inproc", sizes, modes, _blocks, _inproc_mesh, _inproc_echo)


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
