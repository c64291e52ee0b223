"""The runner: ``python -m benchmarks [--quick] [--only NAME ...] [--list]``.

Runs each selected benchmark in its own ``trio.run``, bounded by its wall-time limit, prints
a table and writes ``benchmarks/results/<timestamp>.json`` and ``latest.json``. Exits 0 even
when targets are missed (these are measurements); exits 1 if a benchmark crashed or timed
out, 2 on a bad ``--only`` name.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from typing import Any

import trio

from benchmarks import (
    bench_accept,
    bench_actors,
    bench_admin,
    bench_attach,
    bench_demo,
    bench_fanout_tree,
    bench_fork,
    bench_shutdown,
    bench_spawn,
    bench_tls,
    bench_unreachable,
    bench_values,
    bench_watch,
)
from benchmarks.core import ROOT, Benchmark, Ctx, Result
from benchmarks.report import format_table, write_results
from meshtrio.testing import descendants

ALL: list[Benchmark] = [
    *bench_values.BENCHMARKS,
    *bench_attach.BENCHMARKS,
    *bench_unreachable.BENCHMARKS,
    *bench_accept.BENCHMARKS,
    *bench_shutdown.BENCHMARKS,
    *bench_spawn.BENCHMARKS,
    *bench_fork.BENCHMARKS,
    *bench_demo.BENCHMARKS,
    *bench_actors.BENCHMARKS,
    *bench_watch.BENCHMARKS,
    *bench_tls.BENCHMARKS,
    *bench_fanout_tree.BENCHMARKS,
    *bench_admin.BENCHMARKS,
]


def _select(only: list[str] | None) -> list[Benchmark]:
    if not only:
        return list(ALL)
    known = {b.name for b in ALL} | {b.family for b in ALL} | {a for b in ALL for a in b.aliases}
    bad = [n for n in only if n not in known]
    if bad:
        raise SystemExit(f"unknown benchmark(s) {bad}; choose from {sorted(known)}")
    return [b for b in ALL if {b.name, b.family, *b.aliases} & set(only)]


def _raise_fd_limit() -> None:
    """1000 in-process hosts plus as many echo servers need a few thousand descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _git_rev() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def _run_one(bench: Benchmark, ctx: Ctx) -> list[Result]:
    limit = bench.quick_limit if ctx.quick else bench.limit

    async def main() -> list[Result]:
        with trio.fail_after(limit):
            return await bench.run(ctx)

    try:
        return trio.run(main)
    except trio.TooSlowError:
        raise RuntimeError(f"did not finish within its {limit:g} s limit") from None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds (< 60 s)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="benchmarks or families to run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for b in ALL:
            print(f"{b.name:<20} limit {b.limit:g} s (quick {b.quick_limit:g} s)")
        return 0
    try:
        selected = _select(args.only)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    _raise_fd_limit()
    ctx = Ctx(quick=args.quick)
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    results: list[Result] = []
    errors: list[dict[str, str]] = []
    durations: dict[str, float] = {}
    for bench in selected:
        print(f"== {bench.name}", file=sys.stderr, flush=True)
        b0 = time.perf_counter()
        try:
            results.extend(_run_one(bench, ctx))
        except Exception as exc:  # a crash is reported, the other benchmarks still run
            errors.append(
                {
                    "benchmark": bench.name,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            )
            traceback.print_exc()
        durations[bench.name] = round(time.perf_counter() - b0, 3)
    total = time.perf_counter() - t0
    leaked = descendants()
    payload: dict[str, Any] = {
        "started": started.isoformat(),
        "duration_s": round(total, 3),
        "quick": args.quick,
        "only": args.only,
        "machine": {
            "python": sys.version.split()[0],
            "trio": trio.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "git": _git_rev(),
            "gc_threshold": list(gc.get_threshold()),
        },
        "notes": {
            "ratio": "meshtrio cost / baseline cost (above 1: meshtrio slower)",
            "gc": "params.gc: the collector as is, after gc.freeze() (frozen), or disabled (off)",
        },
        "benchmark_durations_s": durations,
        "results": [r.to_json() for r in results],
        "errors": errors,
        "leaked_processes": leaked,
    }
    path = write_results(
        ROOT / "benchmarks" / "results", started.strftime("%Y%m%dT%H%M%SZ"), payload
    )
    print(format_table(results, errors))
    if leaked:
        print(f"WARNING: child processes still alive after the benchmarks: {leaked}")
    print(f"\n{len(selected)} benchmark(s) in {total:.1f} s; results in {path}", flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
