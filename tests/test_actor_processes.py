"""Actor meshes on real OS processes: 2 host processes with 1 proc each.

Every test is bounded with ``trio.fail_after`` (real clock) and wrapped in
:func:`meshtrio.testing.no_leaked_processes`. The actor classes are defined in this module,
which the procs cannot import, so they must travel by value with cloudpickle. No test
registers anything for that: the library pickles by value the code of modules from no
installed distribution, such as this one (PL-3, see
:func:`test_class_defined_in_test_module_travels_by_value`).

Invariants shown: PL-3, AM-1 (calls and references across procs), AM-5 (a SIGKILLed proc fails
its calls at once with ActorDiedError and the host's status), AM-6, AM-9 (a failing
``__init__``, a dead proc or a cancelled spawn leaves no actor behind), AS-3/AM-4
(cancellation reaches another process), AS-4, AS-5 (stop answers everything), and that
``ProcMesh.stop`` ends the actors.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import trio
from inspector import Inspector

import meshtrio
from meshtrio import (
    Actor,
    ActorDiedError,
    ActorError,
    ActorMesh,
    MeshClosedError,
    ProcMesh,
    endpoint,
    open_host_mesh_processes,
)
from meshtrio._status import StatusKind
from meshtrio.testing import alive, no_leaked_processes

pytestmark = pytest.mark.processes

LIMIT = 60
"""Seconds every test here may take at most (real clock)."""


class Boom(Exception):
    """An exception class of this module (travels by value, both ways)."""


class Worker(Actor):
    """State, pids, failures, waits and calls to other actor meshes."""

    def __init__(self, start: int = 0, bad_rank: int | None = None) -> None:
        rank = meshtrio.context().rank
        if rank == bad_rank:
            raise RuntimeError(f"rank {rank} cannot start")  # the raising line
        self.n = start
        self.log: list[Any] = []
        self.napping: list[str] = []
        self.changed = trio.Event()

    @endpoint
    def incr(self, by: int = 1) -> int:
        self.n += by
        return self.n

    @endpoint
    def value(self) -> int:
        return self.n

    @endpoint
    def where(self) -> dict[str, Any]:
        ctx = meshtrio.context()
        return {
            "rank": ctx.rank,
            "point": str(meshtrio.current_rank()),
            "size": ctx.size,
            "proc_id": ctx.proc_id,
            "pid": os.getpid(),
        }

    @endpoint
    def explode(self, message: str) -> None:
        raise Boom(message)  # the raise line

    @endpoint
    async def relay(self, other: ActorMesh[Worker], by: int) -> dict[str, Any]:
        """Call an actor mesh that arrived as an argument, from this proc."""
        values = await other.incr.call(by=by)
        last = await other.slice(hosts=1, gpus=0).value.call_one()
        return {"from": meshtrio.context().rank, "values": values.values(), "last": last}

    @endpoint
    async def sleep(self, tag: str) -> None:
        """Wait forever, alone (later calls queue behind it)."""
        await self._nap(tag)

    @endpoint(concurrent=True)
    async def nap(self, tag: str) -> None:
        """Wait forever; record that it started and that it saw Cancelled."""
        await self._nap(tag)

    async def _nap(self, tag: str) -> None:
        print(f"napping {tag} in {os.getpid()}", file=sys.stderr, flush=True)
        self.napping.append(tag)
        self.changed.set()
        self.changed = trio.Event()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            self.log.append((tag, "cancelled"))
            raise

    @endpoint(concurrent=True)
    async def wait_napping(self, n: int) -> list[str]:
        """Return once ``n`` naps started."""
        while len(self.napping) < n:
            await self.changed.wait()
        return list(self.napping)

    @endpoint
    def read_log(self) -> list[Any]:
        return list(self.log)

    @endpoint
    def ping(self) -> str:
        return "pong"


class Recorder(Actor):
    """Notes, in a file, each call that starts after its actor was stopped on its proc."""

    def __init__(self, path: str) -> None:
        self.path = path

    @endpoint
    def record(self, i: int) -> None:
        from meshtrio._proc.actors import ActorServer

        ctx = meshtrio.context()
        for obj in gc.get_objects():
            if not (isinstance(obj, ActorServer) and obj.proc_id == ctx.proc_id):
                continue
            if ctx.actor not in [a.context.actor for a in obj.actors.values()]:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(f"{ctx.actor} rank {ctx.rank} call {i}\n")

    @endpoint
    def ping(self) -> str:
        return "pong"


class Gated(Actor):
    """Its ``__init__`` on rank 1 blocks that proc until the test closes a FIFO."""

    def __init__(self, fifo: str) -> None:
        if meshtrio.context().rank == 1:
            with open(fifo, encoding="utf-8") as f:
                f.read()


def raise_line(text: str) -> int:
    """The number of the line of this file that holds ``text``."""
    with open(__file__, encoding="utf-8") as f:
        lines = [n for n, line in enumerate(f, 1) if text in line and "raise_line" not in line]
    assert len(lines) == 1, f"{text!r} on lines {lines}"
    return lines[0]


@asynccontextmanager
async def os_procs() -> AsyncIterator[ProcMesh]:
    """2 host processes, 1 proc each (region ``hosts=2, gpus=1``)."""
    async with open_host_mesh_processes(2) as hosts:
        yield await hosts.spawn("workers", {"gpus": 1})


async def test_class_defined_in_test_module_travels_by_value() -> None:
    """PL-3: an actor class defined in a test module (of no installed distribution, and
    importable here under pytest) works on OS procs, which cannot import that module: the
    library pickles it by value, with nothing registered with cloudpickle by the test."""
    registered = cloudpickle.list_registry_pickle_by_value()
    assert __name__ not in registered, f"the test registered its module: {registered}"
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with os_procs() as procs:
            try:
                workers = await procs.spawn("plain", Worker, 1)
            except ActorError as exc:
                pytest.fail(f"PL-3: the class did not travel by value: {exc!r}")
            assert (await workers.incr.call()).values() == [2, 2]
            assert (await workers.where.call()).get(1)["rank"] == 1
    registered = cloudpickle.list_registry_pickle_by_value()
    assert __name__ not in registered, f"PL-3: the module stayed registered: {registered}"


async def test_spawn_call_on_os_procs() -> None:
    """Actors run in the procs' own processes (their pids are the procs'), with their
    context; call, call_one, choose, broadcast and stream work across processes; an endpoint
    given an actor mesh calls it from its proc (AM-1)."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with os_procs() as procs:
            workers = await procs.spawn("worker", Worker, 10)
            where = (await workers.where.call()).values()
            states = list((await procs.states()).values())
            assert [w["pid"] for w in where] == [s.pid for s in states], f"{where} {states}"
            assert os.getpid() not in [w["pid"] for w in where]
            assert [w["rank"] for w in where] == [0, 1]
            assert [w["proc_id"] for w in where] == [r.proc_id for r in procs.procs]
            assert [w["point"] for w in where] == ["hosts=0/2,gpus=0/1", "hosts=1/2,gpus=0/1"]
            assert [w["size"] for w in where] == [2, 2]

            assert (await workers.incr.call(by=2)).values() == [12, 12]
            assert await workers.slice(hosts=1, gpus=0).incr.call_one() == 13
            assert sorted([await workers.value.choose() for _ in range(2)]) == [12, 13]
            await workers.incr.broadcast(by=100)
            streamed = {p.rank: v async for p, v in workers.value.stream()}
            assert streamed == {0: 112, 1: 113}, f"{streamed}"

            callers = await procs.spawn("callers", Worker)
            got = await callers.slice(hosts=0, gpus=0).relay.call_one(workers, 1)
            assert got == {"from": 0, "values": [113, 114], "last": 114}, f"AM-1: {got}"
            both = await callers.relay.call(workers, 1)
            assert sorted(v["from"] for v in both.values()) == [0, 1]
            assert (await workers.value.call()).values() == [115, 116]


async def test_as4_am9_errors_cross_processes() -> None:
    """AS-4: an endpoint's exception (a class of this module) is an ActorError with the
    remote traceback and the original exception as __cause__; the actor lives on. AM-9: an
    __init__ raising on rank 1 is an ActorError naming rank 1; rank 0's actor is stopped."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with os_procs() as procs:
            workers = await procs.spawn("worker", Worker)
            with pytest.raises(ActorError) as info:
                await workers.explode.call("kaboom")
            err = info.value
            assert err.rank == 0, f"AM-6: {err.rank}"
            assert sorted(err.failures) == [0, 1], f"AM-6: {err.failures}"
            assert err.kind == "Boom"
            assert err.endpoint == "explode"
            # By value, the code's file name is "<dynamic-code>" (cloudpickle), so the remote
            # traceback has no source text: it names the function and the raising line.
            line = raise_line("raise Boom(message)  # the raise line")
            assert f"line {line}, in explode" in err.traceback, err.traceback
            assert isinstance(err.__cause__, Boom)
            assert str(err.__cause__) == "kaboom"
            assert (await workers.incr.call()).values() == [1, 1], "AS-4: the actors live on"

            with pytest.raises(ActorError) as info:
                await procs.spawn("flaky", Worker, 0, 1)
            err = info.value
            assert err.rank == 1, f"AM-9: {err}"
            assert err.endpoint == "__init__", f"AM-9: {err}"
            assert err.kind == "RuntimeError"
            assert "rank 1 cannot start" in str(err)
            line = raise_line('raise RuntimeError(f"rank {rank} cannot start")')
            assert f"line {line}, in __init__" in err.traceback, err.traceback
            assert isinstance(err.__cause__, RuntimeError)
            inspector = await procs.spawn("inspector", Inspector)
            held = (await inspector.actors_here.call()).values()
            assert held == [["inspector", "worker"]] * 2, f"AM-9: actors left behind: {held}"


async def test_am5_sigkilled_proc_fails_its_calls_at_once() -> None:
    """AM-5: SIGKILL one proc during a long call: the call fails with ActorDiedError at once
    (the promise is about 1 s: the connection's end plus at most actor_death_report_timeout
    for the host's report), with the proc's Failed status (signal 9) and stderr tail; the
    other rank is unaffected; later calls to the dead rank fail fast."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with os_procs() as procs:
            workers = await procs.spawn("worker", Worker)
            inspector = await procs.spawn("inspector", Inspector)
            pids = [w["pid"] for w in (await workers.where.call()).values()]
            victim = workers.slice(hosts=1, gpus=0)
            caught: list[tuple[ActorDiedError, float]] = []

            async def long_call() -> None:
                try:
                    await victim.nap.call_one("long")
                except ActorDiedError as exc:
                    caught.append((exc, trio.current_time()))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(long_call)
                await victim.wait_napping.call_one(1)
                killed_at = trio.current_time()
                os.kill(pids[1], signal.SIGKILL)
            err, failed_at = caught[0]
            elapsed = failed_at - killed_at
            assert elapsed < 2.0, f"AM-5: the call failed {elapsed:.2f}s after the kill"
            assert err.rank == 1, f"AM-5: {err}"
            assert err.actor == "worker", f"AM-5: {err}"
            assert err.proc_id == procs.procs[1].proc_id, f"AM-5: {err.proc_id}"
            assert err.status is not None, f"AM-5: no status from the host: {err}"
            assert err.status.is_failure, f"AM-5: {err.status}"
            assert "signal 9" in str(err.status), f"AM-5: {err.status}"
            assert f"napping long in {pids[1]}" in err.stderr_tail, f"{err.stderr_tail}"

            assert await workers.slice(hosts=0, gpus=0).ping.call_one() == "pong"
            for _ in range(2):
                started = trio.current_time()
                with pytest.raises(ActorDiedError) as info:
                    await victim.ping.call_one()
                assert trio.current_time() - started < 1.0, "AM-5: later calls fail at once"
                assert info.value.rank == 1
                assert info.value.status == err.status
            with pytest.raises(ActorDiedError) as info:
                await workers.ping.call()
            assert info.value.rank == 1, f"AM-6: {info.value}"
            assert info.value.values == {0: "pong"}, f"AM-6: {info.value.values}"
            with pytest.raises(ActorDiedError):
                await victim.ping.broadcast()
            # A broadcast with a dead rank raises, and still reaches the live one.
            with pytest.raises(ActorDiedError):
                await workers.incr.broadcast(5)
            assert await workers.slice(hosts=0, gpus=0).value.call_one() == 5

            # AM-9: a spawn on procs one of which is dead fails naming it; rank 0's actor,
            # built meanwhile, is stopped.
            with pytest.raises(ActorDiedError) as info:
                await procs.spawn("after", Worker)
            assert info.value.rank == 1, f"AM-9: {info.value}"
            held = await inspector.slice(hosts=0, gpus=0).actors_here.call_one()
            assert held == ["inspector", "worker"], f"AM-9: {held}"
            states = list((await procs.states()).values())
            assert [s.status.kind for s in states] == [StatusKind.RUNNING, StatusKind.FAILED]
            assert not alive(pids[1])


async def test_as5_stop_actor_mesh_then_proc_mesh() -> None:
    """AS-5/AM-4: a cancelled call cancels its endpoint in the other process; ActorMesh.stop
    ends the running calls with ActorDiedError, the procs keep running and serve a new
    spawn; then ProcMesh.stop fails a call in flight with ActorDiedError, and later calls
    too. (Queued calls: ``test_actors.py``; see also
    :func:`test_as5_no_call_starts_after_its_actor_stopped`.)"""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with os_procs() as procs:
            workers = await procs.spawn("worker", Worker)
            one = workers.slice(hosts=0, gpus=0)
            with trio.move_on_after(0.5) as bound:
                await one.nap.call_one("cancelled")
            assert bound.cancelled_caught
            log = await one.read_log.call_one()
            assert log == [("cancelled", "cancelled")], f"AM-4: {log}"

            died: list[ActorDiedError] = []

            async def pending(tag: str) -> None:
                with pytest.raises(ActorDiedError) as info:
                    await one.nap.call_one(tag)
                died.append(info.value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(pending, "a")
                nursery.start_soon(pending, "b")
                await one.wait_napping.call_one(3)  # "cancelled", then a and b
                await workers.stop()
            assert [e.rank for e in died] == [0, 0], f"AS-5: {died}"
            assert all("was stopped" in str(e) for e in died), f"AS-5: {died}"
            with pytest.raises(MeshClosedError):
                await workers.ping.call()
            states = list((await procs.states()).values())
            assert [s.status.kind for s in states] == [StatusKind.RUNNING] * 2

            again = await procs.spawn("again", Worker)
            assert (await again.ping.call()).values() == ["pong", "pong"]
            victim = again.slice(hosts=1, gpus=0)
            caught: list[ActorDiedError] = []

            async def in_flight() -> None:
                with pytest.raises(ActorDiedError) as info:
                    await victim.nap.call_one("until the proc stops")
                caught.append(info.value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(in_flight)
                await victim.wait_napping.call_one(1)
                await procs.stop()
            assert caught[0].rank == 1, f"{caught[0]}"
            with pytest.raises(ActorDiedError) as info:
                await again.ping.call()
            assert sorted(info.value.failures) == [0, 1], f"{info.value.failures}"


async def test_am9_cancelled_spawn_leaves_no_actor(tmp_path: Path) -> None:
    """AM-9: cancelling a spawn while rank 1's __init__ runs leaves no actor of it on any
    proc: not on rank 0 (built before the cancel) nor on rank 1 (built after it). A cancelled
    spawn stops the actor on every rank it sent a SpawnActor to, whether or not it had read
    that rank's reply."""
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with os_procs() as procs:
            inspector = await procs.spawn("inspector", Inspector)
            scope = trio.CancelScope()

            async def spawn() -> None:
                with scope:
                    await procs.spawn("gated", Gated, str(fifo))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(spawn)
                # Opening the FIFO for writing returns once rank 1's __init__ opened it.
                writer = await trio.to_thread.run_sync(
                    functools.partial(open, fifo, "w", encoding="utf-8"), abandon_on_cancel=True
                )
                try:
                    scope.cancel()
                finally:
                    writer.close()  # rank 1's __init__ returns: its actor is built now
            assert scope.cancelled_caught, "the spawn was still waiting for rank 1"
            # On rank 1 this runs after the gated spawn (one connection, taken in order).
            held = (await inspector.actors_here.call()).values()
            assert all("inspector" in names for names in held), f"{held}"
            leftover = {rank: names for rank, names in enumerate(held) if names != ["inspector"]}
            assert not leftover, f"AM-9: a cancelled spawn left actors behind: {leftover}"


async def test_as5_no_call_starts_after_its_actor_stopped(tmp_path: Path) -> None:
    """AS-5: a call that reached the proc before the stop either ran before it or is answered
    ActorStopped; none starts once its actor is stopped. 20 rounds of "broadcast a call, then
    stop" on 2 procs; the endpoint notes (in a file) if it starts after its actor was
    removed from its proc. This includes a call the mailbox already handed to the actor's
    worker but which had not started when the stop came: it is answered ActorStopped."""
    path = tmp_path / "after_stop.txt"
    late: list[str] = []
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with os_procs() as procs:
            for i in range(20):
                recorder = await procs.spawn(f"recorder-{i}", Recorder, str(path))
                await recorder.record.broadcast(i)
                await recorder.stop()
            # A round trip to each proc after the last stop: the calls left runnable there
            # have run by then (a proc reads the next request only once it has nothing to run).
            flush = await procs.spawn("flush", Recorder, str(path))
            assert (await flush.ping.call()).values() == ["pong", "pong"]
        if path.exists():
            late = path.read_text(encoding="utf-8").splitlines()
    assert not late, f"AS-5: {len(late)} calls started after their actor stopped: {late}"
