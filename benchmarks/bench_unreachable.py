"""Attach with one unreachable host among 4: it must fail in about one attach timeout.

Three in-process host agents on ``tcp:127.0.0.1`` and one black-hole listener (a socket that
listens and never accepts, so connects complete and the handshake is never answered), with
``mesh_attach_config_timeout`` = 1 s.

* ``attach.unreachable``: the time until ``attach(...)`` raises, over the timeout (target 1.1).
  ``extra`` says whether the error named the black hole, and how many of the three healthy
  hosts were shut down by the failed attach (a failed attach should disturb nothing).
* ``attach.unreachable_push``: ``push_config()`` alone on a mesh over the same four addresses (no
  attach cleanup), over the timeout (target 1.1): where the time goes if the first row misses.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from benchmarks.core import Benchmark, Ctx, Result, median, row
from meshtrio import HostMeshId, HostMeshRef, attach, config, serve_host_agent
from meshtrio._host_mesh import open_session
from meshtrio._transport.handshake import new_token
from meshtrio.errors import ConfigPushError

__all__ = ["BENCHMARKS"]

TIMEOUT = 1.0
TARGET = 1.1
HEALTHY = 3


@asynccontextmanager
async def _hosts(token: str) -> AsyncIterator[tuple[list[str], list[int]]]:
    """Three healthy hosts plus a black hole; yields (addresses, [hosts that ended])."""
    ended: list[int] = []

    async def host(i: int, task_status: trio.TaskStatus[object]) -> None:
        await serve_host_agent(
            "tcp:127.0.0.1:0", token=token, in_process_procs=True, task_status=task_status
        )
        ended.append(i)

    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        async with trio.open_nursery() as nursery:
            addrs = [str(await nursery.start(functools.partial(host, i))) for i in range(HEALTHY)]
            addrs.append(f"tcp:127.0.0.1:{hole.getsockname()[1]}")
            yield addrs, ended
            nursery.cancel_scope.cancel()
    finally:
        hole.close()


async def _attach_once(limit: float) -> tuple[float, bool, int, str]:
    """(seconds until attach raised, error named the hole, healthy hosts ended, error text)."""
    token = new_token()
    async with _hosts(token) as (addrs, ended):
        start = time.perf_counter()
        named = False
        text = "attach did not fail"
        with trio.move_on_after(limit):
            try:
                async with attach(addrs, token=token):
                    pass
            except ConfigPushError as exc:
                text = str(exc)
                named = addrs[-1] in text and not any(a in text for a in addrs[:-1])
        elapsed = time.perf_counter() - start
        return elapsed, named, len(ended), text


async def _push_once(limit: float) -> float:
    """Seconds until push_config raised on a mesh over the same four addresses."""
    token = new_token()
    async with _hosts(token) as (addrs, _ended):
        ref = HostMeshRef.from_hosts(HostMeshId.instance("bench"), addrs)
        with trio.CancelScope() as scope:  # cancelled: skip the session's graceful shutdown
            async with open_session(ref, token, owned=False, push=False) as mesh:
                start = time.perf_counter()
                with trio.move_on_after(limit):
                    try:
                        await mesh.push_config()
                    except ConfigPushError:
                        pass
                elapsed = time.perf_counter() - start
                scope.cancel()
        return elapsed


async def run(ctx: Ctx) -> list[Result]:
    """Both rows; a few rounds while they stay fast (one when attach is slow)."""
    rounds = 1 if ctx.quick else 3
    limit = 30.0
    attach_times: list[float] = []
    push_times: list[float] = []
    named_all = True
    ended_max = 0
    text = ""
    started = time.perf_counter()
    with config.configured(mesh_attach_config_timeout=TIMEOUT):
        for i in range(rounds):
            if i and time.perf_counter() - started > 4 * TIMEOUT * i:
                break  # slow: one round says enough
            elapsed, named, ended, text = await _attach_once(limit)
            attach_times.append(elapsed)
            named_all = named_all and named
            ended_max = max(ended_max, ended)
            push_times.append(await _push_once(limit))
    ctx.log(
        f"attach.unreachable: attach {median(attach_times):.3f} s, push {median(push_times):.3f} s"
    )
    return [
        row(
            "attach.unreachable",
            {"hosts": HEALTHY + 1, "unreachable": 1, "timeout_s": TIMEOUT},
            median(attach_times),
            "s",
            TIMEOUT,
            target=TARGET,
            extra={
                "samples": attach_times,
                "error_names_only_the_black_hole": named_all,
                "healthy_hosts_shut_down": ended_max,
                "error": text[:500],
            },
        ),
        row(
            "attach.unreachable_push",
            {"hosts": HEALTHY + 1, "unreachable": 1, "timeout_s": TIMEOUT},
            median(push_times),
            "s",
            TIMEOUT,
            target=TARGET,
            extra={"samples": push_times},
        ),
    ]


BENCHMARKS = [Benchmark("attach.unreachable", run, limit=120.0, quick_limit=40.0)]
