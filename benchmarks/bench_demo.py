"""Wall time of the main job, ``python -m meshtrio demo``, against a bare ``python -c pass``.

``demo.wall``: the demo as a subprocess (2 hosts x 2 procs by default: hosts up, spawn,
states, stop, two-phase shutdown, exit) against starting and ending ``python -c pass``,
alternating; the ratio is for scale only (no target). ``extra`` has the demo's own phase
lines and ``python -c "import meshtrio"`` for comparison.
"""

from __future__ import annotations

import sys
import time

import trio

from benchmarks.core import ROOT, Benchmark, Ctx, Result, alternate, child_env, median, row

__all__ = ["BENCHMARKS"]


async def _run(cmd: list[str], out: list[str] | None = None) -> float:
    start = time.perf_counter()
    done = await trio.run_process(
        cmd, env=child_env(), cwd=str(ROOT), capture_stdout=True, capture_stderr=True
    )
    elapsed = time.perf_counter() - start
    if out is not None:
        out[:] = done.stdout.decode("utf-8", "replace").splitlines()
    return elapsed


async def run(ctx: Ctx) -> list[Result]:
    """Alternate demo runs with bare interpreter starts."""
    rounds = 1 if ctx.quick else 3
    lines: list[str] = []
    demo = [sys.executable, "-m", "meshtrio", "demo"]
    bare = [sys.executable, "-c", "pass"]
    imp = [sys.executable, "-c", "import meshtrio"]
    mine, base, imports = await alternate(
        [lambda: _run(demo, lines), lambda: _run(bare), lambda: _run(imp)],
        rounds=rounds,
        budget=15.0,
    )
    ctx.log(f"demo: {median(mine):.3f} s vs python -c pass {median(base):.3f} s")
    phases = [ln for ln in lines if " in " in ln or "phase" in ln or "total" in ln]
    return [
        row(
            "demo.wall",
            {"hosts": 2, "procs_per_host": 2},
            median(mine),
            "s",
            median(base),
            extra={
                "samples": mine,
                "baseline_is": "python -c pass",
                "import_meshtrio_s": median(imports),
                "demo_lines": phases,
            },
        )
    ]


BENCHMARKS = [Benchmark("demo", run, limit=90.0, quick_limit=30.0)]
