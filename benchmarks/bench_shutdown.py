"""Two-phase shutdown of 16 host processes against the slowest single host's own time.

* ``shutdown.hosts``: 16 host processes without procs (quick: 8).
* ``shutdown.hosts_procs``: 16 host processes with one proc each (full run only), so phase 1
  (drain) has procs to stop.

The value is the wall time of ``await mesh.shutdown()``; the baseline is the slowest host's
own time from the :class:`~meshtrio.ShutdownReport` (its drain plus its shutdown request
elapsed); the ratio says what the two-phase barrier and the fan-out add (reported, no
target). ``extra`` has both phase times and the time until the host processes were reaped
(``exit_s``, after ``shutdown()`` returned, until the ``async with`` block was left).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.core import Benchmark, Ctx, Result, row
from meshtrio import ShutdownReport, open_host_mesh_processes

__all__ = ["BENCHMARKS"]


def _slowest(report: ShutdownReport) -> tuple[float, str]:
    """The largest per-host drain + shutdown elapsed time, and that host's address."""
    drain = {h.address: h.elapsed for h in report.drain}
    per_host = {h.address: drain.get(h.address, 0.0) + h.elapsed for h in report.shutdown}
    address = max(per_host, key=per_host.__getitem__)
    return per_host[address], address


async def _one(ctx: Ctx, name: str, hosts: int, procs_per_host: int) -> Result:
    start = time.perf_counter()
    async with open_host_mesh_processes(hosts) as mesh:
        up = time.perf_counter() - start
        if procs_per_host:
            await mesh.spawn("bench", {"procs": procs_per_host})
        t0 = time.perf_counter()
        report = await mesh.shutdown()
        t1 = time.perf_counter()
    exit_s = time.perf_counter() - t1
    slowest, address = _slowest(report)
    extra: dict[str, Any] = {
        "phase1_drain_s": report.drain_time,
        "phase2_shutdown_s": report.shutdown_time,
        "report_total_s": report.total_time,
        "slowest_host": address,
        "slowest_drain_s": max(h.elapsed for h in report.drain),
        "slowest_shutdown_s": max(h.elapsed for h in report.shutdown),
        "exit_s": exit_s,
        "hosts_up_s": up,
        "failures": [str(f) for f in report.failures],
    }
    ctx.log(
        f"{name}: {t1 - t0:.3f} s (phase 1 {report.drain_time:.3f} s, phase 2 "
        f"{report.shutdown_time:.3f} s), slowest host {slowest:.3f} s, exit {exit_s:.3f} s"
    )
    return row(
        name, {"hosts": hosts, "procs_per_host": procs_per_host}, t1 - t0, "s", slowest, extra=extra
    )


async def run(ctx: Ctx) -> list[Result]:
    """Shut down 16 host processes (8 in quick), and in a full run 16 with a proc each."""
    out = [await _one(ctx, "shutdown.hosts", 8 if ctx.quick else 16, 0)]
    if not ctx.quick:
        out.append(await _one(ctx, "shutdown.hosts_procs", 16, 1))
    return out


BENCHMARKS = [Benchmark("shutdown", run, limit=90.0, quick_limit=30.0)]
