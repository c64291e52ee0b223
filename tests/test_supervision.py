"""Watching proc meshes and supervision (SV-1..SV-3, HA-8): status changes pushed to the
client, and failures nobody awaits reported where ``on_failure`` says.

Real processes where a proc must die (SIGKILL); in-process procs elsewhere. Every test is
bounded, and waits on events, never on sleeps.
"""

from __future__ import annotations

import os
import signal
from contextlib import aclosing

import pytest
import trio

import meshtrio
from meshtrio import Actor, ActorDiedError, MeshError, ProcEvent, ProcFailedError, endpoint
from meshtrio._host.agent import WATCH_BUFFER, _Watcher
from meshtrio._messages import ProcChange
from meshtrio._status import StatusKind
from meshtrio.testing import no_leaked_processes

LIMIT = 20.0
PROC_LIMIT = 60.0


class Pid(Actor):
    @endpoint
    def pid(self) -> int:
        return os.getpid()

    @endpoint
    async def nap(self) -> None:
        await trio.sleep_forever()

    @endpoint
    async def boom(self) -> None:
        raise ValueError("broadcast went wrong")


async def test_sv1_watch_sees_every_change_in_order_and_stop_raises_nothing() -> None:
    """SV-1/HA-8: the present states first, then Stopping and Stopped for each of 100
    procs, in order per proc, nothing dropped; a stop is no failure even with "raise"."""
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 100}, on_failure="raise")
            seen: dict[int, list[StatusKind]] = {}
            async with aclosing(procs.watch()) as events:
                async for event in events:
                    assert event.dropped == 0
                    seen.setdefault(event.rank, []).append(event.new.kind)
                    if len(seen) == 100 and all(len(v) == 1 for v in seen.values()):
                        break
            async with trio.open_nursery() as nursery, aclosing(procs.watch()) as events:
                nursery.start_soon(procs.stop)
                async for event in events:
                    seen[event.rank].append(event.new.kind)
                    if all(v[-1] is StatusKind.STOPPED for v in seen.values()):
                        break
            for rank, kinds in seen.items():
                assert kinds == [
                    StatusKind.RUNNING,
                    StatusKind.RUNNING,
                    StatusKind.STOPPING,
                    StatusKind.STOPPED,
                ], f"SV-1: rank {rank}: {kinds}"


def test_ha8_a_watcher_that_falls_behind_is_told_how_much_it_lost() -> None:
    """HA-8: the host keeps at most WATCH_BUFFER changes per watcher, drops the oldest and
    says how many; a watcher that keeps up loses nothing (1000 changes)."""
    watcher = _Watcher()
    changes = [ProcChange(i, None, meshtrio.Status.RUNNING, float(i)) for i in range(1000)]
    for change in changes:
        watcher.push(change)
    got: list[ProcChange] = []
    while watcher.ready.is_set():
        batch, dropped = watcher.take()
        assert dropped == 0
        got.extend(batch)
    assert got == changes
    for i in range(WATCH_BUFFER + 10):
        watcher.push(ProcChange(i, None, meshtrio.Status.RUNNING, 0.0))
    batch, dropped = watcher.take()
    assert dropped == 10
    assert batch[0].create_rank == 10


@pytest.mark.processes
async def test_sv1_watch_sees_a_sigkilled_proc_as_failed_within_a_second() -> None:
    failures: list[MeshError] = []
    handled = trio.Event()

    def handler(failure: MeshError) -> None:
        failures.append(failure)
        handled.set()

    with no_leaked_processes(), trio.fail_after(PROC_LIMIT):
        async with meshtrio.open_host_mesh_processes(2) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1}, on_failure=handler)
            pids = (await (await procs.spawn("p", Pid)).pid.call()).values()
            async with aclosing(procs.watch()) as events:
                first = [await events.__anext__(), await events.__anext__()]
                assert sorted(e.rank for e in first) == [0, 1]
                assert all(e.old is None and e.new.is_running for e in first)
                killed_at = trio.current_time()
                os.kill(pids[1], signal.SIGKILL)
                event: ProcEvent = await events.__anext__()
                took = trio.current_time() - killed_at
            assert event.rank == 1
            assert event.new.is_failure
            assert event.signal == signal.SIGKILL
            assert event.old is not None
            assert event.old.is_running
            assert took < 1.0, f"SV-1: the kill reached watch() after {took:.3f}s"
            await handled.wait()  # the handler's stream is another one: it may come second
            assert [type(f) for f in failures] == [ProcFailedError]
            assert failures[0].rank == 1
            assert failures[0].signal == signal.SIGKILL


@pytest.mark.processes
async def test_sv2_raise_a_killed_proc_ends_the_block_with_proc_failed_error() -> None:
    reached_end = False
    with (
        no_leaked_processes(),
        trio.fail_after(PROC_LIMIT),
        pytest.raises(ProcFailedError) as info,
    ):
        async with meshtrio.open_host_mesh_processes(2) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1}, on_failure="raise")
            pids = (await (await procs.spawn("p", Pid)).pid.call()).values()
            os.kill(pids[0], signal.SIGKILL)
            await trio.sleep_forever()  # the failure cancels the body
            reached_end = True
    assert not reached_end
    err = info.value
    assert err.rank == 0
    assert err.signal == signal.SIGKILL
    assert err.status.is_failure
    assert str(err.point) == "hosts=0/2,gpus=0/1"
    assert err.host


@pytest.mark.processes
async def test_sv2_a_call_waiting_on_the_dead_proc_takes_the_failure() -> None:
    """SV-2: a proc that dies under a call is that call's ActorDiedError, not the block's;
    the other ranks go on."""
    with no_leaked_processes(), trio.fail_after(PROC_LIMIT):
        async with meshtrio.open_host_mesh_processes(2) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1}, on_failure="raise")
            actors = await procs.spawn("p", Pid)
            pids = (await actors.pid.call()).values()
            async with trio.open_nursery() as nursery:
                died: list[BaseException] = []

                async def call() -> None:
                    try:
                        await actors.slice(hosts=1).nap.call_one()
                    except ActorDiedError as exc:
                        died.append(exc)

                nursery.start_soon(call)
                await trio.testing.wait_all_tasks_blocked()
                os.kill(pids[1], signal.SIGKILL)
            assert len(died) == 1
            assert await actors.slice(hosts=0).pid.call_one() == pids[0]


async def test_sv3_raise_a_failing_broadcast_ends_the_block_with_actor_failed_error() -> None:
    with trio.fail_after(LIMIT):
        with pytest.raises(meshtrio.ActorFailedError) as info:
            async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
                procs = await hosts.spawn("w", {"gpus": 1}, on_failure="raise")
                actors = await procs.spawn("p", Pid)
                await actors.boom.broadcast()
                await trio.sleep_forever()
    assert isinstance(info.value.__cause__, meshtrio.ActorError)
    assert info.value.endpoint == "boom"
    assert info.value.rank == 0


async def test_sv2_a_handler_takes_failures_and_a_raising_handler_ends_the_block() -> None:
    seen: list[MeshError] = []
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1}, on_failure=seen.append)
            actors = await procs.spawn("p", Pid)
            await actors.boom.broadcast()
            while not seen:
                await trio.testing.wait_all_tasks_blocked()
            assert isinstance(seen[0], meshtrio.ActorFailedError)

        def escalate(failure: MeshError) -> None:
            raise RuntimeError("the handler says stop")

        with pytest.raises(MeshError, match="on_failure handler raised"):
            async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
                procs = await hosts.spawn("w", {"gpus": 1}, on_failure=escalate)
                actors = await procs.spawn("p", Pid)
                await actors.boom.broadcast()
                await trio.sleep_forever()


async def test_sv2_a_bad_on_failure_is_refused() -> None:
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            with pytest.raises(meshtrio.InputError):
                await hosts.spawn("w", {"gpus": 1}, on_failure="explode")  # type: ignore[arg-type]


async def _watch_until_stopped(procs: meshtrio.ProcMesh) -> dict[int, list[StatusKind]]:
    """Every event of ``procs`` from the present states until all are Stopped (a stop runs
    alongside), per rank; asserts none was dropped."""
    seen: dict[int, list[StatusKind]] = {}
    n = len(procs)
    started = trio.Event()

    async def stop_once_watching() -> None:
        await started.wait()
        await procs.stop()

    async with trio.open_nursery() as nursery, aclosing(procs.watch()) as events:
        nursery.start_soon(stop_once_watching)
        async for event in events:
            assert event.dropped == 0, "SV-1: events were dropped"
            seen.setdefault(event.rank, []).append(event.new.kind)
            if len(seen) == n and not started.is_set():
                started.set()
            if len(seen) == n and all(v[-1] is StatusKind.STOPPED for v in seen.values()):
                break
    return seen


async def test_sv1_nothing_is_lost_across_1000_rapid_changes_in_process() -> None:
    """SV-1: 334 in-process procs stopped at once: their present states and 2 changes each
    (1002 events) arrive, in order per proc, none dropped."""
    with trio.fail_after(60):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 334})
            seen = await _watch_until_stopped(procs)
    assert sum(len(v) for v in seen.values()) == 1002
    expected = [StatusKind.RUNNING, StatusKind.STOPPING, StatusKind.STOPPED]
    assert all(v == expected for v in seen.values()), "SV-1: out of order"


@pytest.mark.processes
async def test_sv1_nothing_is_lost_across_32_real_changes() -> None:
    """SV-1 with OS procs: 11 procs on one host, present states then Stopping and Stopped each
    (33 events), in order per proc."""
    with no_leaked_processes(), trio.fail_after(PROC_LIMIT):
        async with meshtrio.open_host_mesh_processes(1) as hosts:
            procs = await hosts.spawn("w", {"gpus": 11})
            seen = await _watch_until_stopped(procs)
    assert sum(len(v) for v in seen.values()) == 33
    expected = [StatusKind.RUNNING, StatusKind.STOPPING, StatusKind.STOPPED]
    assert all(v == expected for v in seen.values()), "SV-1: out of order"
