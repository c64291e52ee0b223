"""``stacks()`` on proc and actor meshes: where every proc is, for diagnosing a hang.

Invariants shown: ST-1 (a proc answers with every thread's stack and its Trio task tree,
at once, whatever its actors are doing), ST-2 (a proc whose event loop does not answer is
dumped by its host instead, and the record says so), ST-3 (the host's faulthandler dump
shows a sync endpoint blocked in ``time.sleep``; in-process procs have no such fallback),
ST-4 (a rank that gives nothing gets an error in its record; the call does not raise).

The OS-proc tests are bounded with ``trio.fail_after`` (real clock) and wrapped in
:func:`meshtrio.testing.no_leaked_processes`; nothing here sleeps to wait for a state: a
FIFO says when the sync endpoint is about to block, an endpoint says when the other waits.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import trio

import meshtrio
from meshtrio import (
    Actor,
    ActorDiedError,
    InputError,
    ProcStacks,
    ThreadStack,
    endpoint,
    open_host_mesh_processes,
)
from meshtrio._messages import DumpProcStacks
from meshtrio.errors import RemoteError
from meshtrio.testing import in_process_mesh, no_leaked_processes

LIMIT = 30
"""Seconds each OS-proc test may take at most (real clock)."""


class Stuck(Actor):
    """One endpoint that blocks its proc's event loop, one that waits on a trio.Event."""

    def __init__(self) -> None:
        self.event = trio.Event()
        self.waiting = trio.Event()

    @endpoint
    def block_in_sleep(self, fifo: str, release: str) -> None:
        """Say so through ``fifo``, then block the event loop until ``release`` exists."""
        with open(fifo, "w", encoding="utf-8") as f:
            f.write("blocked\n")
        while not os.path.exists(release):
            time.sleep(0.05)

    @endpoint(concurrent=True)
    async def await_an_event(self) -> None:
        self.waiting.set()
        await self.event.wait()

    @endpoint(concurrent=True)
    async def until_waiting(self) -> None:
        await self.waiting.wait()

    @endpoint(concurrent=True)
    def release_event(self) -> None:
        self.event.set()

    @endpoint
    def pid(self) -> int:
        return os.getpid()


def read_line(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.readline()


def park_in_a_thread(gate: threading.Event) -> None:
    gate.wait(LIMIT)


@pytest.mark.processes
async def test_st1_st2_st3_blocked_loop_and_awaiting_task_both_show_where_they_are(
    tmp_path: Path,
) -> None:
    """Rank 0 is blocked in ``time.sleep`` inside a sync endpoint: it cannot answer, so its
    host's faulthandler dump is returned and names the endpoint (ST-2, ST-3). Rank 1
    awaits a ``trio.Event``: it answers itself, and its task tree names the endpoint and
    its main thread is listed (ST-1)."""
    fifo = tmp_path / "blocked"
    os.mkfifo(fifo)
    release = tmp_path / "release"
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with open_host_mesh_processes(2) as hosts:
            procs = await hosts.spawn("stuck", {"gpus": 1})
            actors = await procs.spawn("stuck", Stuck)
            await actors.slice(hosts=1).await_an_event.broadcast()
            await actors.slice(hosts=1).until_waiting.call_one()
            await actors.slice(hosts=0).block_in_sleep.broadcast(str(fifo), str(release))
            line = await trio.to_thread.run_sync(read_line, str(fifo), abandon_on_cancel=True)
            assert line == "blocked\n"  # rank 0's event loop is now blocked

            started = trio.current_time()
            result = await procs.stacks(timeout=0.5)
            took = trio.current_time() - started
            blocked, waiting = result.values()

            assert blocked.source == "faulthandler", blocked
            assert blocked.error is None
            assert blocked.notes[0].startswith(
                "from faulthandler: the proc's event loop did not answer"
            )
            assert "block_in_sleep" in blocked.raw, blocked.raw
            assert "most recent call first" in blocked.raw
            assert blocked.threads == ()
            assert blocked.tasks == ""
            if not any("py-spy" in n for n in blocked.notes):  # py-spy is installed
                assert "py-spy dump" in blocked.raw

            assert waiting.source == "proc", waiting
            assert waiting.error is None
            assert waiting.raw == ""
            assert "await_an_event" in waiting.tasks, waiting.tasks
            assert waiting.threads[0].name == "MainThread"
            assert all(isinstance(t, ThreadStack) for t in waiting.threads)
            assert waiting.pid == await actors.slice(hosts=1).pid.call_one()
            assert str(waiting.point) == "hosts=1/2,gpus=0/1"
            assert "await_an_event" in str(waiting)
            assert took < 0.5 + 2.0  # the direct timeout, the dump's wait, some slack

            # The actor mesh's own view: a slice, over its region.
            one = await actors.slice(hosts=1).stacks()
            assert len(one) == 1
            (only,) = one.values()
            assert only.rank == 1
            assert "await_an_event" in only.tasks

            release.touch()
            await actors.slice(hosts=1).release_event.call_one()
            assert await actors.slice(hosts=0).pid.call_one() == blocked.pid


@pytest.mark.processes
async def test_st4_a_dead_proc_gets_an_error_in_its_record() -> None:
    """A rank whose proc was killed gets source ``none`` and an error saying what was
    tried; the other rank answers and the call does not raise (ST-4)."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with open_host_mesh_processes(2) as hosts:
            procs = await hosts.spawn("doomed", {"gpus": 1}, on_failure="log")  # kill below
            actors = await procs.spawn("doomed", Stuck)
            os.kill(await actors.slice(hosts=0).pid.call_one(), signal.SIGKILL)
            with pytest.raises(ActorDiedError):  # returns once its host reported the death
                await actors.slice(hosts=0).pid.call_one()
            dead, alive = (await procs.stacks(timeout=0.5)).values()
            assert dead.source == "none"
            assert dead.error is not None
            assert "could not dump it" in dead.error, dead.error
            assert dead.threads == ()
            assert dead.raw == ""
            assert "error:" in str(dead)
            assert alive.source == "proc"
            assert alive.error is None


async def test_st1_in_process_procs_answer_with_threads_and_tasks() -> None:
    """In-process procs answer directly (ST-1): a thread of this process parked in a named
    function and an actor awaiting an event both show; the host's faulthandler fallback
    does not apply to them and says so (ST-3)."""
    gate = threading.Event()
    parked = threading.Thread(
        target=park_in_a_thread, args=(gate,), name="parked-for-st1", daemon=True
    )
    parked.start()
    try:
        with trio.fail_after(LIMIT):
            async with in_process_mesh(1) as hosts:
                procs = await hosts.spawn("inproc", {"gpus": 2})
                actors = await procs.spawn("inproc", Stuck)
                await actors.await_an_event.broadcast()
                await actors.until_waiting.call()
                result = await actors.stacks()
                assert [r.rank for r in result.values()] == [0, 1]
                for record in result.values():
                    assert isinstance(record, ProcStacks)
                    assert record.source == "proc"
                    assert record.pid == os.getpid()
                    assert "await_an_event" in record.tasks
                    assert "answering this request" in record.tasks
                    (thread,) = [t for t in record.threads if t.name == "parked-for-st1"]
                    assert "park_in_a_thread" in thread.stack
                    assert thread.daemon

                with pytest.raises(RemoteError, match="in-process proc"):
                    await procs._link.call(
                        procs.procs[0].host, DumpProcStacks(procs.id, 0, 0.1), timeout=5
                    )
                with pytest.raises(InputError):
                    await procs.stacks(timeout=0)
                await actors.release_event.call()
    finally:
        gate.set()
        parked.join()


def test_records_are_public_and_frozen() -> None:
    """ProcStacks and ThreadStack are exported, and their text names what is missing."""
    assert meshtrio.ProcStacks is ProcStacks
    point = meshtrio.Extent(hosts=1).point_of_rank(0)
    record = ProcStacks(rank=0, point=point, proc_id="p", source="none", error="gone")
    assert "error: gone" in str(record)
    with pytest.raises(AttributeError):
        record.rank = 1  # type: ignore[misc]


@pytest.mark.processes
async def test_st5_the_stacks_command_shows_every_proc_and_changes_nothing() -> None:
    """ST-5: ``python -m meshtrio stacks REF`` prints every proc's threads and Trio tasks for
    a mesh another client spawned, and leaves everything as it was."""
    import sys

    from hosts import hand_started_hosts, host_env

    token = "stacks-cli-token"
    with no_leaked_processes(), trio.fail_after(60):
        async with (
            hand_started_hosts(2, token=token) as hosts,
            meshtrio.attach([h.addr for h in hosts], token=token) as mesh,
        ):
            procs = await mesh.spawn("inspected", {"gpus": 1})
            done = await trio.run_process(
                [sys.executable, "-m", "meshtrio", "stacks", str(mesh.ref)],
                env=host_env(token),
                capture_stdout=True,
                capture_stderr=True,
            )
            out = done.stdout.decode()
            assert done.returncode == 0, done.stderr.decode()
            assert f"=== proc mesh {procs.id}" in out, out
            assert out.count("source=proc") == 2 or out.count("task ") >= 2, out
            states = await procs.states()
            assert all(s.status.is_running for s in states.values()), "ST-5: it changed them"
            await mesh.shutdown()
