"""Attach (config push) fan-out against a bare trio-websocket fan-out to as many servers.

* ``attach.inproc``: N in-process host agents on ``tcp:127.0.0.1`` (procs as tasks) against N
  in-process bare echo servers on ``tcp:127.0.0.1``; N = 1, 10, 100, 1000 (quick: up to 100).
  At the larger N it is measured a second time with ``gc.freeze()`` after setup on both sides
  (``params.gc_freeze``), to show what freezing the setup's objects would buy.
* ``attach.processes``: N host processes (``open_host_mesh_processes``) against N echo server
  processes on abstract unix sockets; N = 1, 4, 16 (quick: 1, 4).
* ``attach.<kind>.growth``: how the time per host grows from one N to the next (the largest
  step's factor; 1.0 is linear, target 1.2); the baseline's own factor is in ``extra``.

The meshtrio side is ``await mesh.push_config()`` on a mesh whose connections are open (the
push during attach opened them); the baseline sends a message of the same size as the
encoded SetClientConfig request over open connections and waits for every echo. Samples
alternate between the two; the value is the median. Target: ratio <= 1.5 at every N.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from benchmarks import echo
from benchmarks.core import ROOT, Benchmark, Ctx, Result, alternate, child_env, median, row, timed
from meshtrio import config, wire
from meshtrio.host_mesh import HostMesh
from meshtrio.local_mesh import open_host_mesh_in_process, open_host_mesh_processes
from meshtrio.messages import SetClientConfig

__all__ = ["BENCHMARKS"]

TARGET = 1.5
GROWTH_TARGET = 1.2


def push_payload() -> bytes:
    """Bytes as long as the encoded SetClientConfig request push_config sends each host."""
    env = wire.Envelope(wire.Kind.REQUEST, 1, SetClientConfig(config.propagatable()))
    return bytes(len(wire.encode(env)))


def _rounds(n: int, quick: bool) -> tuple[int, float]:
    """(max rounds, time budget in seconds) for one side-by-side measurement at size n."""
    if n >= 1000:
        return (5, 8.0) if quick else (9, 12.0)
    if n >= 100:
        return (9, 1.5) if quick else (15, 4.0)
    return (15, 0.5) if quick else (31, 1.5)


async def _measure(
    mesh: HostMesh, clients: echo.Clients, payload: bytes, n: int, quick: bool
) -> tuple[list[float], list[float]]:
    await mesh.push_config()  # warm both sides once
    await clients.round(payload)
    rounds, budget = _rounds(n, quick)
    mine, base = await alternate(
        [timed(mesh.push_config), timed(lambda: clients.round(payload))],
        rounds=rounds,
        budget=budget,
        min_rounds=3,
    )
    return mine, base


def _row(
    name: str, n: int, freeze: bool, mine: list[float], base: list[float]
) -> Result:
    m, b = median(mine), median(base)
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
            "samples": len(mine),
            "min": min(mine),
            "baseline_min": min(base),
        },
    )


def _growth(name: str, medians: dict[int, tuple[float, float]]) -> Result:
    """The largest per-host-time growth factor between consecutive sizes (1.0 = linear)."""
    sizes = sorted(medians)
    steps: dict[str, float] = {}
    base_steps: dict[str, float] = {}
    for a, b in zip(sizes, sizes[1:], strict=False):
        steps[f"{a}->{b}"] = (medians[b][0] / b) / (medians[a][0] / a)
        base_steps[f"{a}->{b}"] = (medians[b][1] / b) / (medians[a][1] / a)
    worst = max(steps.values()) if steps else None
    return row(
        name,
        {"hosts": sizes},
        worst,
        "x",
        1.0,
        target=GROWTH_TARGET,
        extra={
            "per_host_growth": steps,
            "baseline_per_host_growth": base_steps,
            "baseline_worst": max(base_steps.values()) if base_steps else None,
        },
    )


async def _family(
    ctx: Ctx,
    name: str,
    sizes: Sequence[int],
    freeze_sizes: Sequence[int],
    open_mesh: Callable[[int], AbstractAsyncContextManager[HostMesh]],
    open_servers: Callable[[int], AbstractAsyncContextManager[list[str]]],
) -> list[Result]:
    payload = push_payload()
    out: list[Result] = []
    medians: dict[int, tuple[float, float]] = {}
    for n in sizes:
        async with open_mesh(n) as mesh, open_servers(n) as addrs, echo.clients(addrs) as cl:
            mine, base = await _measure(mesh, cl, payload, n, ctx.quick)
            out.append(_row(name, n, False, mine, base))
            medians[n] = (median(mine), median(base))
            ctx.log(f"{name} N={n}: {1000 * medians[n][0]:.2f} ms vs {1000 * medians[n][1]:.2f} ms")
            if n in freeze_sizes:
                gc.collect()
                gc.freeze()
                try:
                    mine, base = await _measure(mesh, cl, payload, n, ctx.quick)
                finally:
                    gc.unfreeze()
                out.append(_row(name, n, True, mine, base))
                ctx.log(f"{name} N={n} gc.freeze: {1000 * median(mine):.2f} ms vs "
                        f"{1000 * median(base):.2f} ms")
    out.append(_growth(f"{name}.growth", medians))
    return out


@asynccontextmanager
async def _inproc_mesh(n: int) -> AsyncIterator[HostMesh]:
    async with open_host_mesh_in_process(["tcp:127.0.0.1:0"] * n, in_process_procs=True) as m:
        yield m


@asynccontextmanager
async def _process_mesh(n: int) -> AsyncIterator[HostMesh]:
    async with open_host_mesh_processes(n) as m:
        yield m


def _subprocess_servers(n: int) -> AbstractAsyncContextManager[list[str]]:
    return echo.servers_in_subprocesses(n, env=child_env(), cwd=str(ROOT))


async def run_inproc(ctx: Ctx) -> list[Result]:
    """In-process hosts on tcp against in-process echo servers."""
    sizes = (1, 10, 100) if ctx.quick else (1, 10, 100, 1000)
    freeze = (100,) if ctx.quick else (100, 1000)
    return await _family(ctx, "attach.inproc", sizes, freeze, _inproc_mesh,
                         echo.servers_in_process)


async def run_processes(ctx: Ctx) -> list[Result]:
    """Host processes against echo server processes."""
    sizes = (1, 4) if ctx.quick else (1, 4, 16)
    return await _family(ctx, "attach.processes", sizes, (), _process_mesh, _subprocess_servers)


def gc_note() -> dict[str, Any]:
    """How the collector is set (for the results file)."""
    return {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()}


BENCHMARKS = [
    Benchmark("attach.inproc", run_inproc, limit=120.0, quick_limit=25.0),
    Benchmark("attach.processes", run_processes, limit=90.0, quick_limit=30.0),
]
