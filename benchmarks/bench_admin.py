"""The mesh admin's ``/v1/tree`` against one ``info()`` fan-out to the same hosts.

* ``admin.tree``: 1000 in-process host agents (quick: 200) with 4 procs each. The value is
  the wall time of ``GET /v1/tree`` over HTTP (httpx, in this Trio run, from request to the
  parsed JSON: every host asked, the whole tree built, served as JSON by hypercorn and
  Starlette, and parsed); the baseline is the wall time of one :meth:`HostMesh.info` fan-out
  to the same hosts over the same connections, taken alternately in the same run. Target:
  at most 1.5x. ``extra`` has the admin's own tree time without HTTP (``model_s``), the
  body size, the proc count seen and every sample.

The stand-in for 4000 real procs: hosts run with ``in_process_procs=True``, so each proc is
a task running the same proc runtime as an OS proc (it connects to its host, says hello,
serves actors) and each host agent keeps the same record per proc (status, pid, address,
timestamps): the proc table the admin reads is the real one; only the OS process behind
each record is replaced by a task (its pid is the host's). ``gc.freeze()`` after setup, as
the other fan-out benchmarks do, so the collector's walk over thousands of long-lived
objects is not counted against either side.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from benchmarks.core import Benchmark, Ctx, Result, alternate, median, row
from meshtrio import config, open_host_mesh_in_process, serve_admin

__all__ = ["BENCHMARKS"]

PROCS_PER_HOST = 4
TARGET = 1.5


async def _tree(ctx: Ctx, hosts_n: int, rounds: int) -> Result:
    try:
        import httpx  # the 'top' extra; hypercorn and starlette: the 'admin' extra
        import hypercorn  # noqa: F401
        import starlette  # noqa: F401
    except ImportError as exc:
        ctx.log(f"admin.tree: skipped, {exc} (pip install '.[admin,top]')")
        return row(
            "admin.tree",
            {"hosts": hosts_n, "procs_per_host": PROCS_PER_HOST},
            None,
            "s",
            extra={"skipped": f"{exc}: pip install '.[admin,top]'"},
        )
    with config.configured(proc_spawn_max_idle="120s", request_timeout="60s"):
        async with open_host_mesh_in_process(hosts_n, in_process_procs=True) as hosts:
            t0 = time.perf_counter()
            await hosts.spawn("bench", {"gpus": PROCS_PER_HOST}, on_failure="log", logs=None)
            ctx.log(
                f"admin.tree: {hosts_n * PROCS_PER_HOST} procs up in {time.perf_counter() - t0:.1f} s"
            )
            async with serve_admin(hosts, host_timeout=30.0) as admin:
                headers = {"authorization": f"Bearer {admin.token}"}
                async with httpx.AsyncClient(
                    base_url=admin.url, headers=headers, timeout=60.0
                ) as client:
                    seen: dict[str, Any] = {}

                    async def tree() -> float:
                        start = time.perf_counter()
                        r = await client.get("/v1/tree")
                        body = r.json()
                        took = time.perf_counter() - start
                        r.raise_for_status()
                        seen["bytes"] = len(r.content)
                        seen["procs"] = sum(len(h["procs"]) for h in body["hosts"])
                        seen["partial"] = body["partial"]
                        return took

                    async def info() -> float:
                        start = time.perf_counter()
                        await hosts.info()
                        return time.perf_counter() - start

                    async def model() -> float:
                        start = time.perf_counter()
                        await admin.model.tree()
                        return time.perf_counter() - start

                    await tree()  # warm both paths (connections, imports, caches)
                    await info()
                    gc.collect()
                    gc.freeze()
                    try:
                        t, i, m = await alternate(
                            [tree, info, model], rounds=rounds, budget=60.0, min_rounds=3
                        )
                    finally:
                        gc.unfreeze()
    value, baseline = median(t), median(i)
    ctx.log(
        f"admin.tree: /v1/tree {value * 1000:.0f} ms vs info() {baseline * 1000:.0f} ms "
        f"(ratio {value / baseline:.2f}); tree without HTTP {median(m) * 1000:.0f} ms, "
        f"{seen['bytes'] / 1e6:.1f} MB, {seen['procs']} procs"
    )
    return row(
        "admin.tree",
        {"hosts": hosts_n, "procs_per_host": PROCS_PER_HOST},
        value,
        "s",
        baseline,
        target=TARGET,
        extra={
            "model_s": median(m),
            "bytes": seen["bytes"],
            "procs_seen": seen["procs"],
            "partial": seen["partial"],
            "tree_samples": t,
            "info_samples": i,
            "model_samples": m,
        },
    )


async def run(ctx: Ctx) -> list[Result]:
    """``/v1/tree`` vs ``info()`` over 1000 hosts x 4 procs (quick: 200 x 4)."""
    return [await _tree(ctx, 200 if ctx.quick else 1000, 5 if ctx.quick else 7)]


BENCHMARKS = [Benchmark("admin", run, limit=300.0, quick_limit=90.0)]
