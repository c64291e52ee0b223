"""The main job: bring up a local mesh of host processes, spawn procs, tear it all down.

``python -m meshtrio demo [--hosts N] [--procs-per-host M]`` prints the host mesh ref, the
proc mesh region, a states table, then stops the procs and shuts the hosts down in two
phases, printing each phase's time.
"""

from __future__ import annotations

import time

from meshtrio._errors import InputError
from meshtrio._local_mesh import open_host_mesh_processes
from meshtrio._slicing import Extent

__all__ = ["run_demo"]


def _say(text: str) -> None:
    print(text, flush=True)


async def run_demo(hosts: int = 2, procs_per_host: int = 2) -> int:
    """Run the demo; returns the exit code (0)."""
    if hosts < 1 or procs_per_host < 1:
        raise InputError("--hosts and --procs-per-host must be at least 1")
    t0 = time.monotonic()
    _say(f"meshtrio demo: starting {hosts} host process(es)...")
    async with open_host_mesh_processes(Extent(hosts=hosts)) as mesh:
        t1 = time.monotonic()
        _say(f"host mesh up in {t1 - t0:.2f}s: {mesh.ref}")
        procs = await mesh.spawn("demo", {"procs": procs_per_host})
        t2 = time.monotonic()
        _say(f"spawned {len(procs)} proc(s) in {t2 - t1:.2f}s; proc mesh region: {procs.region}")
        states = await procs.states()
        _say(f"{'rank':>4}  {'point':<20} {'status':<10} {'pid':>7}  proc id")
        for point, st in states.items():
            _say(
                f"{st.create_rank:>4}  {point!s:<20} {st.status!s:<10} {st.pid or '-':>7}  "
                f"{st.proc_id}"
            )
        final = await procs.stop()
        t3 = time.monotonic()
        stopped = sum(1 for st in final.values() if st.status.is_terminated)
        _say(f"stopped {stopped}/{len(procs)} proc(s) in {t3 - t2:.2f}s")
        report = await mesh.shutdown()
        _say(f"shutdown phase 1 (drain all hosts): {report.drain_time:.3f}s")
        _say(f"shutdown phase 2 (shut hosts down): {report.shutdown_time:.3f}s")
    _say(f"all host processes exited; total {time.monotonic() - t0:.2f}s")
    return 0
