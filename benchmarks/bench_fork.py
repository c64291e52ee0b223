"""Starting procs through the fork server (issue 13), against bare Python starts.

* ``fork.spawn``: ``await host.spawn(..., {"procs": M})`` (returns when all M are Running) on
  ``open_host_mesh_processes(1)`` with the fork server on (the default), against M bare
  ``python -c "import trio"`` started at once; M = 1, 4, 16. Target at M = 16: ratio <= 0.3.
  The same spawn with the fork server off (cold procs) is in ``extra``.
* ``fork.workers``: 8 workers on a running host: spawn, wait until Running, stop them all
  (the full teardown of the proc mesh), against 8 bare ``python -c "import trio"`` at once.
  Target: ratio <= 0.5.
* ``fork.hosts``: one proc on each of 16 host processes (``open_host_mesh_processes(16)``),
  fork server on against off (``host_fork_server=False`` for the spawn). Target: <= 0.15.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable

from benchmarks.core import Benchmark, Ctx, Result, alternate, bare_pythons, median, row
from meshtrio import HostMesh, config, open_host_mesh_processes

__all__ = ["BENCHMARKS"]

SPAWN_TARGET = 0.3
WORKERS_TARGET = 0.5
HOSTS_TARGET = 0.15
WORKERS = 8
HOSTS = 16


def _spawner(
    mesh: HostMesh, m: int, *, warm: bool, with_stop: bool
) -> Callable[[], Awaitable[float]]:
    """A timed spawn of m procs per host (then stopped; the stop counted if ``with_stop``)."""
    counter = 0

    async def spawn() -> float:
        nonlocal counter
        counter += 1
        with config.configured(host_fork_server=warm):
            start = time.perf_counter()
            procs = await mesh.spawn(f"fork{m}{'w' if warm else 'c'}{counter}", {"procs": m})
            spawned = time.perf_counter() - start
            await procs.stop()
            return time.perf_counter() - start if with_stop else spawned

    return spawn


async def run(ctx: Ctx) -> list[Result]:
    """The spawn rows for every M, the workers row, then the hosts row."""
    rounds = 1 if ctx.quick else 3
    out: list[Result] = []
    async with open_host_mesh_processes(1) as mesh:
        await (await mesh.spawn("warmup", {"procs": 1})).stop()  # the zygote is up
        for m in (1, 4, 16):
            warm, bare, cold = await alternate(
                [
                    _spawner(mesh, m, warm=True, with_stop=False),
                    functools.partial(bare_pythons, "import trio", m),
                    _spawner(mesh, m, warm=False, with_stop=False),
                ],
                rounds=rounds,
                budget=10.0,
            )
            out.append(
                row(
                    "fork.spawn",
                    {"procs": m, "hosts": 1},
                    median(warm),
                    "s",
                    median(bare),
                    target=SPAWN_TARGET if m == 16 else None,
                    extra={
                        "samples": warm,
                        "baseline_samples": bare,
                        "cold_samples": cold,
                        "cold_over_bare": median(cold) / median(bare),
                        "baseline_is": f"{m} x python -c 'import trio' at once",
                    },
                )
            )
            ctx.log(
                f"spawn M={m}: fork {median(warm):.3f} s, cold {median(cold):.3f} s, "
                f"bare {median(bare):.3f} s"
            )
        warm, bare = await alternate(
            [
                _spawner(mesh, WORKERS, warm=True, with_stop=True),
                functools.partial(bare_pythons, "import trio", WORKERS),
            ],
            rounds=rounds,
            budget=10.0,
        )
        out.append(
            row(
                "fork.workers",
                {"procs": WORKERS, "hosts": 1},
                median(warm),
                "s",
                median(bare),
                target=WORKERS_TARGET,
                extra={
                    "samples": warm,
                    "baseline_samples": bare,
                    "baseline_is": f"{WORKERS} x python -c 'import trio' at once",
                },
            )
        )
        ctx.log(f"workers: {median(warm):.3f} s vs {median(bare):.3f} s")
    async with open_host_mesh_processes(HOSTS) as mesh:
        await (await mesh.spawn("warmup", {"procs": 1})).stop()
        warm, cold = await alternate(
            [
                _spawner(mesh, 1, warm=True, with_stop=False),
                _spawner(mesh, 1, warm=False, with_stop=False),
            ],
            rounds=rounds,
            budget=15.0,
        )
        out.append(
            row(
                "fork.hosts",
                {"procs": 1, "hosts": HOSTS},
                median(warm),
                "s",
                median(cold),
                target=HOSTS_TARGET,
                extra={
                    "samples": warm,
                    "baseline_samples": cold,
                    "baseline_is": "the same spawn with host_fork_server=False",
                },
            )
        )
        ctx.log(f"hosts: {median(warm):.3f} s vs {median(cold):.3f} s")
    return out


BENCHMARKS = [Benchmark("fork", run, limit=240.0, quick_limit=120.0)]
