"""PR-4: ``spawn(..., setup=fn)`` runs ``fn`` in every proc before it reports Running, with
the proc's context; a setup that raises is a ProcCreationError carrying its traceback, and
nothing is left behind.
"""

from __future__ import annotations

import os
import threading

import pytest
import trio

import meshtrio
from meshtrio import Actor, endpoint
from meshtrio.testing import no_leaked_processes

LIMIT = 20.0
"""Real-time bound of the in-process tests, in seconds."""

RAN: list[tuple[int, str]] = []
"""What the in-process setups saw (in-process procs share this module)."""

GATE: dict[str, trio.Event] = {}


def record_context() -> None:
    ctx = meshtrio.context()
    RAN.append((ctx.rank, str(ctx.point)))


async def wait_at_the_gate() -> None:
    GATE["entered"].set()
    await GATE["open"].wait()


def fail_on_rank_one() -> None:
    if meshtrio.context().rank == 1:
        raise RuntimeError("setup refused on rank 1")


class EnvReader(Actor):
    @endpoint
    def read(self) -> str | None:
        return os.environ.get("MESHTRIO_TEST_SETUP")


def export_rank() -> None:
    ctx = meshtrio.context()
    os.environ["MESHTRIO_TEST_SETUP"] = f"{ctx.rank}:{ctx.point}"


async def test_pr4_setup_runs_once_per_proc_with_its_context() -> None:
    RAN.clear()
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(2, in_process_procs=True) as hosts:
            procs = await hosts.spawn("workers", {"gpus": 2}, setup=record_context)
            assert sorted(RAN) == [(p.rank, str(p)) for p in procs.region.extent.points()]
            states = await procs.states()
            assert all(s.status.is_running for s in states.values())


async def test_pr4_setup_runs_before_the_proc_is_running() -> None:
    GATE.update(entered=trio.Event(), open=trio.Event())
    spawned: list[meshtrio.ProcMesh] = []
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:

            async def spawn() -> None:
                spawned.append(await hosts.spawn("w", {"gpus": 1}, setup=wait_at_the_gate))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(spawn)
                await GATE["entered"].wait()
                await trio.testing.wait_all_tasks_blocked()
                assert spawned == []  # the async setup holds the proc before Running
                GATE["open"].set()
            assert len(spawned) == 1


async def test_pr4_a_setup_that_raises_is_a_proc_creation_error_with_its_traceback() -> None:
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(2, in_process_procs=True) as hosts:
            with pytest.raises(meshtrio.ProcCreationError) as info:
                await hosts.spawn("w", {"gpus": 1}, setup=fail_on_rank_one)
            tail = "\n".join(info.value.state.stderr_tail)
            assert info.value.state.create_rank == 1
            assert "RuntimeError: setup refused on rank 1" in tail
            assert "in fail_on_rank_one" in tail
            # nothing of that spawn is left, and the hosts still spawn
            ok = await hosts.spawn("ok", {"gpus": 1})
            assert len(ok) == 2
            info_now = await hosts.info()
            assert sum(h.proc_count for h in info_now.values()) == 2


async def test_pr4_bad_setups_are_refused_before_anything_starts() -> None:
    lock = threading.Lock()
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            with pytest.raises(meshtrio.SpawnConfigurationError):
                await hosts.spawn("w", {"gpus": 1}, setup=42)  # type: ignore[arg-type]
            with pytest.raises(meshtrio.PayloadError, match="setup function") as info:
                await hosts.spawn("w", {"gpus": 1}, setup=lambda: lock)
            assert info.value.argument == "setup"
            assert (await hosts.info()).values()[0].proc_count == 0


@pytest.mark.processes
async def test_pr4_setup_on_os_procs_travels_by_value_and_failures_leave_nothing() -> None:
    """OS procs cannot import this test module: the setup function travels by value (PL-3);
    what it does is visible to the proc's actors; a failing setup leaves no process."""
    with no_leaked_processes(), trio.fail_after(60):
        async with meshtrio.open_host_mesh_processes(2) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1}, setup=export_rank)
            readers = await procs.spawn("r", EnvReader)
            assert (await readers.read.call()).values() == [
                "0:hosts=0/2,gpus=0/1",
                "1:hosts=1/2,gpus=0/1",
            ]
            with pytest.raises(meshtrio.ProcCreationError) as info:
                await hosts.spawn("bad", {"gpus": 1}, setup=fail_on_rank_one)
            assert "RuntimeError: setup refused on rank 1" in "\n".join(
                info.value.state.stderr_tail
            )
