"""The main job: a local mesh of host processes, procs on it, actors doing real work, then a
clean teardown.

``python -m meshtrio demo [--hosts N] [--procs-per-host M] [--samples S]`` prints the host
mesh ref and the proc mesh region, spawns one :class:`PiSampler` actor per proc, has every
actor estimate pi by Monte Carlo (S samples each, its own random stream), prints each rank's
result and the combined estimate, then stops the actors and procs and shuts the hosts down in
two phases, printing each phase's time.
"""

from __future__ import annotations

import math
import random
import time

import trio

from meshtrio._actor_class import Actor, context, endpoint
from meshtrio._errors import InputError
from meshtrio._local_mesh import open_host_mesh_processes
from meshtrio._slicing import Extent

__all__ = ["PiSampler", "run_demo"]


def _say(text: str) -> None:
    print(text, flush=True)


class PiSampler(Actor):
    """Counts random points of the unit square that fall inside the quarter circle."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed * 1_000_003 + context().rank)  # one stream per rank

    @endpoint
    async def sample(self, n: int) -> int:
        """Draw ``n`` points (in chunks, checkpointing between them so a cancel gets
        through); the number inside the circle."""
        hits = 0
        left = n
        while left:
            chunk = min(left, 50_000)
            rand = self.rng.random
            hits += sum(1 for _ in range(chunk) if rand() ** 2 + rand() ** 2 <= 1.0)
            left -= chunk
            await trio.lowlevel.checkpoint()
        return hits


async def run_demo(hosts: int = 2, procs_per_host: int = 2, samples: int = 200_000) -> int:
    """Run the demo; returns the exit code (0)."""
    if hosts < 1 or procs_per_host < 1 or samples < 1:
        raise InputError("--hosts, --procs-per-host and --samples must be at least 1")
    t0 = time.monotonic()
    _say(f"meshtrio demo: starting {hosts} host process(es)...")
    async with open_host_mesh_processes(Extent(hosts=hosts)) as mesh:
        t1 = time.monotonic()
        _say(f"host mesh up in {t1 - t0:.2f}s: {mesh.ref}")
        procs = await mesh.spawn("demo", {"procs": procs_per_host})
        t2 = time.monotonic()
        _say(f"spawned {len(procs)} proc(s) in {t2 - t1:.2f}s; proc mesh region: {procs.region}")
        samplers = await procs.spawn("pi", PiSampler, 2026)
        hits = await samplers.sample.call(samples)
        t3 = time.monotonic()
        _say(
            f"{len(samplers)} actor(s) sampled {samples:,} points each in {t3 - t2:.2f}s "
            "(spawn included):"
        )
        _say(f"{'rank':>4}  {'point':<20} {'hits':>9}  estimate")
        for rank, (point, h) in enumerate(hits.items()):
            _say(f"{rank:>4}  {point!s:<20} {h:>9,}  {4 * h / samples:.5f}")
        total = sum(hits.values())
        estimate = 4 * total / (samples * len(samplers))
        _say(
            f"pi ~= {estimate:.5f} from {samples * len(samplers):,} samples "
            f"(error {abs(estimate - math.pi):.5f})"
        )
        await samplers.stop()
        final = await procs.stop()
        t4 = time.monotonic()
        stopped = sum(1 for st in final.values() if st.status.is_terminated)
        _say(f"stopped the actors and {stopped}/{len(procs)} proc(s) in {t4 - t3:.2f}s")
        report = await mesh.shutdown()
        _say(f"shutdown phase 1 (drain all hosts): {report.drain_time:.3f}s")
        _say(f"shutdown phase 2 (shut hosts down): {report.shutdown_time:.3f}s")
    _say(f"all host processes exited; total {time.monotonic() - t0:.2f}s")
    return 0
