"""Flat fan-out to many hosts, and the tree fan-out that would replace it (docs/scale.md).

* ``fanout.flat``: N in-process host agents on ``tcp:127.0.0.1`` (procs as tasks), attached
  by one client; ``push_config()`` (median of a few rounds), ``spawn`` of one proc per host,
  its ``stop()``, and the two-phase ``shutdown()``, for N = 16, 64, 256, 1024, 2048 (quick:
  up to 256). The value is the wall time; ``extra`` has the time per host, the objects the
  collector tracks per host once attached (client and host sides together: they share the
  process) and the collector's share of the push time. ``fanout.flat.growth``: the push's
  time per host at the largest size over that at 256 hosts (1.0: linear).
* ``fanout.tree``: the same config push to the same N hosts, relayed through a tree of
  fan-out 16 (Monarch's cast tree): the client sends to 16 relays, each relay to up to 16
  children, and so on; a relay answers once its children answered. meshtrio's hosts do not
  forward yet, so each relay is a task of this process with its own connections, doing what
  a forwarding host would: receive one push, send 16, gather 16 acknowledgements. Two
  figures:

  - ``critical_path_s`` (the value): each relay's fan-out timed *alone* (the machine to
    itself, as a relay host would have), and the slowest relay of each level summed over
    the levels: the tree's latency when every relay is its own machine;
  - ``one_machine_s``: the whole tree run at once in this one process. It is not faster
    than flat (the same CPU does more work: every level's messages): a tree buys
    parallelism across machines, not less work.

  The baseline of ``fanout.tree`` is the flat push over the same hosts in the same run
  (``ratio`` = tree / flat: below 1, the tree is faster). No target: a simulation.

Both sides include the hosts' own handling of each message (they run in this process), in
the same proportion per message, so the comparison is fair; absolute figures overstate what
a client would spend with hosts on other machines.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence
from typing import Any

import trio

from benchmarks.core import Benchmark, Ctx, GcClock, Result, row
from meshtrio import ChannelAddr, attach, config, serve_host_agent
from meshtrio._messages import Ack, SetClientConfig
from meshtrio._pool import ConnectionPool, fan_out
from meshtrio._wire import Prepared

__all__ = ["BENCHMARKS", "FANOUT", "tree_levels"]

FANOUT = 16
"""Children per relay (Monarch's cast tree)."""

TOKEN = "bench-fanout-tree-token-0123456789"
SIZES = (16, 64, 256, 1024, 2048)
QUICK_SIZES = (16, 64, 256)
PUSH_ROUNDS = 5
TIMEOUT = 120.0


def tree_levels(n: int, fanout: int = FANOUT) -> list[list[tuple[int, list[int]]]]:
    """The relays of a tree over hosts ``0..n-1``, level by level from the root.

    The client's children are hosts ``0..fanout-1``; host ``i``'s children are hosts
    ``fanout*(i+1) .. fanout*(i+1) + fanout-1`` (a heap of that arity under the client), so
    every host is reached once. Each level is a list of (relay, children) pairs; the client
    is relay ``-1``.
    """
    levels: list[list[tuple[int, list[int]]]] = [[(-1, list(range(min(fanout, n))))]]
    while True:
        nxt = []
        for _relay, children in levels[-1]:
            for child in children:
                grand = list(range(fanout * child + fanout, fanout * child + 2 * fanout))
                grand = [c for c in grand if c < n]
                if grand:
                    nxt.append((child, grand))
        if not nxt:
            return levels
        levels.append(nxt)


async def _push(pool: ConnectionPool, addrs: Sequence[ChannelAddr], request: Prepared) -> None:
    async def one(addr: ChannelAddr) -> None:
        reply = await pool.call(addr, request, timeout=TIMEOUT)
        assert isinstance(reply, Ack), reply

    results = await fan_out(addrs, one, timeout=TIMEOUT)
    failed = [r.error for r in results if r.error is not None]
    assert not failed, failed[:3]


async def _tree(
    addrs: Sequence[ChannelAddr], pools: dict[int, ConnectionPool], request: Prepared
) -> tuple[float, float, list[float]]:
    """(critical path, one-machine time, per-level slowest relay) of a tree push."""
    levels = tree_levels(len(addrs))
    slowest: list[float] = []
    for level in levels:  # each relay alone: as if it were its own machine
        times = []
        for relay, children in level:
            start = time.perf_counter()
            await _push(pools[relay], [addrs[c] for c in children], request)
            times.append(time.perf_counter() - start)
        slowest.append(max(times))
    children_of = {relay: kids for level in levels for relay, kids in level}

    async def forward(node: int) -> None:  # the whole tree at once, in this one process
        kids = children_of.get(node, [])
        await _push(pools[node], [addrs[c] for c in kids], request)
        async with trio.open_nursery() as nursery:
            for kid in kids:
                if kid in children_of:
                    nursery.start_soon(forward, kid)

    start = time.perf_counter()
    await forward(-1)
    return sum(slowest), time.perf_counter() - start, slowest


async def _one_size(ctx: Ctx, n: int) -> list[Result]:
    clock = GcClock()
    gc.collect()
    objects0 = len(gc.get_objects())
    async with trio.open_nursery() as hosts:
        addrs: list[ChannelAddr] = []
        for _ in range(n):
            addrs.append(
                await hosts.start(
                    lambda task_status: serve_host_agent(
                        "tcp:127.0.0.1:0",
                        token=TOKEN,
                        in_process_procs=True,
                        task_status=task_status,
                    )
                )
            )
        start = time.perf_counter()
        async with attach(addrs, token=TOKEN, name="bench") as mesh:
            attach_s = time.perf_counter() - start
            gc.collect()
            objects = len(gc.get_objects()) - objects0
            gc.freeze()  # what a long-lived client would do after setup (trio-notes)
            pushes = []
            with clock:
                for _ in range(PUSH_ROUNDS):
                    t0 = time.perf_counter()
                    await mesh.push_config()
                    pushes.append(time.perf_counter() - t0)
            push_s = statistics.median(pushes)
            t0 = time.perf_counter()
            procs = await mesh.spawn("bench", {"procs": 1})
            spawn_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            await procs.stop()
            stop_s = time.perf_counter() - t0

            # The tree: relays with their own connections (opened before timing, as the
            # mesh's were), pushing the same request.
            request = Prepared.of(SetClientConfig(config.propagatable()))
            levels = tree_levels(n)
            async with trio.open_nursery() as conns:
                pools = {
                    relay: ConnectionPool(conns, TOKEN) for level in levels for relay, _ in level
                }
                for level in levels:
                    for relay, children in level:
                        await _push(pools[relay], [addrs[c] for c in children], request)
                critical, one_machine, slowest = await _tree(addrs, pools, request)
                flat_again = time.perf_counter()
                await mesh.push_config()
                flat_again = time.perf_counter() - flat_again
                for pool in pools.values():
                    await pool.aclose()
                conns.cancel_scope.cancel()

            t0 = time.perf_counter()
            report = await mesh.shutdown()
            shutdown_s = time.perf_counter() - t0
            assert report.failures == (), report.failures
        gc.unfreeze()
        hosts.cancel_scope.cancel()
    flat = statistics.median([*pushes, flat_again])
    ctx.log(
        f"fanout n={n}: attach {attach_s:.3f} s, push {push_s * 1e3:.1f} ms "
        f"({push_s / n * 1e6:.0f} us/host), spawn {spawn_s:.3f} s, stop {stop_s:.3f} s, "
        f"shutdown {shutdown_s:.3f} s, {objects / n:.0f} gc objects/host; tree critical path "
        f"{critical * 1e3:.1f} ms over {len(slowest)} levels, one machine {one_machine * 1e3:.1f} ms"
    )
    params = {"hosts": n}
    extra: dict[str, Any] = {
        "attach_s": attach_s,
        "push_s": push_s,
        "push_samples_s": pushes,
        "push_per_host_us": push_s / n * 1e6,
        "spawn_s": spawn_s,
        "spawn_per_host_us": spawn_s / n * 1e6,
        "stop_s": stop_s,
        "shutdown_s": shutdown_s,
        "shutdown_per_host_us": shutdown_s / n * 1e6,
        "gc_objects_per_host": objects / n,
        "gc_share": clock.seconds / sum(pushes) if pushes else None,
    }
    return [
        row("fanout.flat.push", params, push_s, "s", extra=extra),
        row("fanout.flat.spawn", params, spawn_s, "s"),
        row("fanout.flat.shutdown", params, shutdown_s, "s"),
        row(
            "fanout.tree.push",
            {**params, "fanout": FANOUT, "levels": len(slowest)},
            critical,
            "s",
            flat,
            extra={"one_machine_s": one_machine, "slowest_relay_per_level_s": slowest},
        ),
    ]


BOUNDS = {
    "connect_timeout": "60s",
    "host_spawn_ready_timeout": "120s",
    "mesh_attach_config_timeout": "60s",
}
"""Timeouts raised for the run: with 2048 hosts and their procs in one process on 2 cores, a
proc's hello took longer than the default 5 s ``connect_timeout`` (found by this benchmark:
the flat fan-out's first casualty is a timeout sized for one client's share of one host)."""


async def run(ctx: Ctx) -> list[Result]:
    """The flat curve and the tree simulation at each size (quick: up to 256 hosts)."""
    out: list[Result] = []
    with config.configured(**BOUNDS):
        for n in QUICK_SIZES if ctx.quick else SIZES:
            out.extend(await _one_size(ctx, n))
    flats = [r for r in out if r.name == "fanout.flat.push" and r.params["hosts"] >= 256]
    if len(flats) >= 2:  # where flat stops scaling: time per host from 256 hosts to the last
        first, last = flats[0], flats[-1]
        assert first.value is not None
        assert last.value is not None
        per_first = first.value / first.params["hosts"]
        per_last = last.value / last.params["hosts"]
        out.append(
            row(
                "fanout.flat.growth",
                {"from": first.params["hosts"], "to": last.params["hosts"]},
                per_last / per_first,
                "x",
                extra={"note": "push time per host at the largest size over 256 (1.0: linear)"},
            )
        )
    return out


BENCHMARKS = [Benchmark("fanout", run, limit=600.0, quick_limit=120.0)]
