"""Spawning procs on one host process, and stopping them.

* ``spawn.procs``: ``await host.spawn(..., {"procs": M})`` (returns when all M are Running) on
  ``open_host_mesh_processes(1)``, against starting M bare ``python -c "import meshtrio"``
  processes at once (``trio.run_process`` in a nursery), alternating; M = 1, 4, 16 (quick: 1,
  4, 16 with one round each), after one warm-up spawn (the host's fork server is up: these
  procs are forked, see ``bench_fork`` for cold against forked). Target: ratio <= 1.3.
* ``stop.procs``: ``await procs.stop()`` of the M = 16 proc meshes spawned above (well-behaved
  procs: they exit when asked), against the grace period ``mesh_terminate_timeout``: it should
  be a small fraction (target 0.1). Stop times at the other M are in ``extra``.
"""

from __future__ import annotations

import functools
import time

from benchmarks.core import Benchmark, Ctx, Result, alternate, bare_pythons, median, row
from meshtrio import HostMesh, config, open_host_mesh_processes

__all__ = ["BENCHMARKS"]

SPAWN_TARGET = 1.3
STOP_TARGET = 0.1
STOP_M = 16


async def run(ctx: Ctx) -> list[Result]:
    """Spawn rows for every M, then the stop row for M = 16."""
    sizes = (1, 4, 16)
    rounds = 1 if ctx.quick else 3
    out: list[Result] = []
    stops: dict[int, list[float]] = {}
    counter = 0
    async with open_host_mesh_processes(1) as mesh:
        await (await mesh.spawn("warmup", {"procs": 1})).stop()  # the host's zygote is up
        for m in sizes:
            stops[m] = []

            async def spawn(m: int = m, mesh: HostMesh = mesh) -> float:
                nonlocal counter
                counter += 1
                start = time.perf_counter()
                procs = await mesh.spawn(f"bench{counter}", {"procs": m})
                elapsed = time.perf_counter() - start
                t0 = time.perf_counter()
                await procs.stop()
                stops[m].append(time.perf_counter() - t0)
                return elapsed

            mine, base = await alternate(
                [spawn, functools.partial(bare_pythons, "import meshtrio", m)],
                rounds=rounds,
                budget=8.0,
            )
            out.append(
                row(
                    "spawn.procs",
                    {"procs": m, "hosts": 1},
                    median(mine),
                    "s",
                    median(base),
                    target=SPAWN_TARGET,
                    extra={
                        "samples": mine,
                        "baseline_samples": base,
                        "baseline_is": f"{m} x python -c 'import meshtrio' at once",
                    },
                )
            )
            ctx.log(
                f"spawn M={m}: {median(mine):.3f} s vs {median(base):.3f} s; "
                f"stop {median(stops[m]):.3f} s"
            )
    grace = config.get(config.MESH_TERMINATE_TIMEOUT)
    out.append(
        row(
            "stop.procs",
            {"procs": STOP_M, "hosts": 1},
            median(stops[STOP_M]),
            "s",
            grace,
            target=STOP_TARGET,
            extra={
                "samples": stops[STOP_M],
                "baseline_is": "mesh_terminate_timeout",
                "median_stop_s_by_procs": {m: median(s) for m, s in stops.items()},
            },
        )
    )
    return out


BENCHMARKS = [Benchmark("spawn", run, limit=120.0, quick_limit=40.0, aliases=("stop",))]
