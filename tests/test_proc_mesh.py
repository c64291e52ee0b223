"""Proc meshes on in-process hosts with procs as tasks (fast; no OS process at all).

Covers the happy path (spawn, states, config_dump, stop), PM-2 (spawn returns only with every
rank Running), PM-4 (rank layout, proc ids, spawning on a slice) and the keepalive reaper.
The same behaviours with real processes are in ``test_proc_processes.py``.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hosts import tcp_hosts, wait_for_event

import meshtrio
from meshtrio import Extent, ProcMesh, ProcMeshId, ProcRef, config
from meshtrio._ids import proc_id
from meshtrio._status import StatusKind
from meshtrio.errors import InputError, MeshClosedError, ProcMeshStopError, ShutdownError
from meshtrio.testing import in_process_mesh

TOKEN = "proc-mesh-test-token"


def kinds(values: object) -> list[str]:
    """The status kind names of a states mesh, in rank order."""
    return [s.status.kind.name for s in values.values()]  # type: ignore[attr-defined]


async def test_spawn_states_config_dump_stop() -> None:
    """Happy path: spawn 2x2, all Running, each proc's config from the client, stop all."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            procs = await mesh.spawn("trainer", {"gpus": 2})
            assert len(procs) == 4, "PM-4: 2 hosts x 2 procs"
            states = await procs.states()
            assert kinds(states) == ["RUNNING"] * 4, f"PM-2: states {kinds(states)}"
            assert [s.create_rank for s in states.values()] == [0, 1, 2, 3], "PM-4: ranks"
            assert all(s.pid is not None and s.started_at for s in states.values()), (
                "PM-2: running procs have a pid and a start time"
            )

            dumps = list((await procs.config_dump()).values())
            assert len(dumps) == 4, "PR-2: one dump per proc"
            assert all(dumps), "PR-2: every proc answered config_dump"
            for dump in dumps:
                value, source = dump["proc_spawn_max_idle"]
                assert source == "ClientOverride", f"PR-2: source {source}"
                assert value == config.get(config.PROC_SPAWN_MAX_IDLE), f"PR-2: value {value}"

            stopped = await procs.stop()
            assert kinds(stopped) == ["STOPPED"] * 4, f"PS-1: after stop {kinds(stopped)}"
            assert all(s.exit_code == 0 for s in stopped.values()), "PS-1: graceful exits"
            assert kinds(await procs.states()) == ["STOPPED"] * 4, "PS-2: Stopped is final"
            for info in (await mesh.info()).values():
                assert info.proc_count == 0, f"PS-1: {info.address} still owns procs"


async def test_stop_is_idempotent_and_hosts_keep_serving() -> None:
    """A stopped proc mesh stops again without error; its hosts spawn new procs afterwards."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            first = await mesh.spawn("a", {"gpus": 1})
            await first.stop()
            again = await first.stop(reason="again")
            assert kinds(again) == ["STOPPED"] * 2, f"PS-2: second stop {kinds(again)}"
            second = await mesh.spawn("b", {"gpus": 1})
            assert kinds(await second.states()) == ["RUNNING"] * 2, "HA-2: hosts still serve"


async def test_proc_meshes_are_independent() -> None:
    """Stopping one proc mesh leaves another on the same hosts Running."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            a = await mesh.spawn("a", {"gpus": 2})
            b = await mesh.spawn("b", {"gpus": 1})
            assert a.id != b.id, "PM-4: every spawn gets a fresh proc mesh id"
            await a.stop()
            assert kinds(await b.states()) == ["RUNNING"] * 2, "PS-1: b untouched by a.stop()"
            assert kinds(await a.states()) == ["STOPPED"] * 4, "PS-1: a stopped"
            counts = [i.proc_count for i in (await mesh.info()).values()]
            assert counts == [1, 1], f"PS-1: live procs per host {counts}"


async def test_pm4_region_ranks_and_proc_ids() -> None:
    """PM-4: region = host extent + per_host; create_rank = H*host_rank + slot; ids derive."""
    with trio.fail_after(10):
        async with in_process_mesh(3) as mesh:
            procs = await mesh.spawn("grid", Extent(nodes=2, gpus=2))
            assert procs.region.labels == ("hosts", "nodes", "gpus"), f"PM-4: {procs.region}"
            assert procs.region.sizes == (3, 2, 2), f"PM-4: {procs.region}"
            assert procs.region.offset == 0, "PM-4: the proc region is dense from 0"
            h = 4
            for ref in procs.procs:
                slot = ref.create_rank % h
                assert ref.create_rank == h * ref.host_rank + slot, f"PM-4: {ref}"
                assert ref.host == mesh.addrs[ref.host_rank], f"PM-4: {ref}"
                assert ref.proc_id == str(proc_id(procs.id, ref.create_rank)), f"PM-4: {ref}"
            states = list((await procs.states()).values())
            assert [s.proc_id for s in states] == [r.proc_id for r in procs.procs], (
                "PM-4: hosts derive the same proc ids as the client"
            )
            assert [s.host_rank for s in states] == [r // h for r in range(12)], "PM-4: hosts"
            assert [s.host for s in states] == [str(r.host) for r in procs.procs], "PM-4: addrs"
            assert all(s.proc_id.startswith(f"grid-{s.create_rank}-") for s in states), (
                "PM-4: proc labels are <mesh label>-<create rank>"
            )


async def test_pm4_spawn_on_slice_uses_only_those_hosts() -> None:
    """PM-4: spawning on a range of hosts uses exactly those hosts, with dense host ranks."""
    with trio.fail_after(10):
        async with in_process_mesh(4) as mesh:
            part = mesh.range("hosts", range(1, 4, 2))
            procs = await part.spawn("part", {"gpus": 2})
            assert procs.region.sizes == (2, 2), f"PM-4: sliced spawn {procs.region}"
            assert procs.region.offset == 0, f"PM-4: sliced spawn {procs.region}"
            assert [r.host_rank for r in procs.procs] == [0, 0, 1, 1], "PM-4: dense host ranks"
            assert [r.host for r in procs.procs] == [mesh.addrs[i] for i in (1, 1, 3, 3)], (
                "PM-4: procs live on hosts 1 and 3"
            )
            assert kinds(await procs.states()) == ["RUNNING"] * 4, "PM-2: all Running"
            infos = list((await mesh.info()).values())
            assert [i.proc_count for i in infos] == [0, 2, 0, 2], "PM-4: only the slice spawned"
            spawned = [any(e.kind == "spawn" for e in i.events) for i in infos]
            assert spawned == [False, True, False, True], f"PM-4: spawn events {spawned}"


async def test_keepalive_expiry_orphans_procs(autojump_clock: trio.testing.MockClock) -> None:
    """Keepalive: procs whose keepalive lapses are stopped as orphaned; others keep running."""
    with trio.fail_after(10):  # virtual seconds: no real process or socket here
        async with in_process_mesh(2) as mesh:
            kept = await mesh.spawn("kept", {"gpus": 1})
            other = await mesh.spawn("other", {"gpus": 1})
            await kept.states(keepalive=0.2)
            await wait_for_event(mesh, "orphaned", 2)
            # Bounded poll (costs no real time on the autojump clock): the hosts publish no
            # status-change event to wait on.
            while kinds(await kept.states()) != ["STOPPED"] * 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
            events = [e for i in (await mesh.info()).values() for e in i.events]
            orphaned = sorted(e.detail for e in events if e.kind == "orphaned")
            assert orphaned == sorted(r.proc_id for r in kept.procs), f"keepalive: {orphaned}"
            assert kinds(await other.states()) == ["RUNNING"] * 2, (
                "keepalive: procs that never got a keepalive are never reaped"
            )


async def test_keepalive_renewal_keeps_procs(autojump_clock: trio.testing.MockClock) -> None:
    """Keepalive: renewing before expiry moves the deadline, so only the last one counts."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            procs = await mesh.spawn("kept", {"gpus": 1})
            start = trio.current_time()
            await procs.states(keepalive=0.3)
            await procs.states(keepalive=5.0)
            # The first keepalive's deadline passes; the renewed one has not.
            await trio.sleep_until(start + 0.6)
            assert kinds(await procs.states()) == ["RUNNING"], "keepalive: renewal was honoured"
            infos = (await mesh.info()).values()
            assert not any(e.kind == "orphaned" for i in infos for e in i.events), (
                "keepalive: nothing orphaned while renewed"
            )
            # The renewed deadline is honoured in turn.
            await wait_for_event(mesh, "orphaned", 1)
            assert trio.current_time() >= start + 5.0, "keepalive: reaped before the deadline"


async def test_keepalive_after_everything_was_reaped_is_still_honoured(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Keepalive: the host's reaper runs only while some proc has a keepalive; once it has
    reaped everything it stops, and a later keepalive (on a new proc mesh) starts it again."""
    with trio.fail_after(20):
        async with in_process_mesh(1) as mesh:
            first = await mesh.spawn("first", {"gpus": 1})
            await first.states(keepalive=0.2)
            await wait_for_event(mesh, "orphaned", 1)
            second = await mesh.spawn("second", {"gpus": 1})
            start = trio.current_time()
            await second.states(keepalive=0.5)
            await wait_for_event(mesh, "orphaned", 2)
            assert trio.current_time() >= start + 0.5, "keepalive: reaped before the deadline"
            events = [e for i in (await mesh.info()).values() for e in i.events]
            orphaned = [e.detail for e in events if e.kind == "orphaned"]
            assert orphaned == [first.procs[0].proc_id, second.procs[0].proc_id], orphaned


async def test_proc_mesh_shape() -> None:
    """A ProcMesh has one ProcRef per rank, its id's label is the (sanitised) name."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            procs = await mesh.spawn("my mesh!", {"gpus": 2})
            assert isinstance(procs, ProcMesh)
            assert len(procs) == 2
            assert len(procs.procs) == 2
            assert procs.id.label is not None
            assert " " not in procs.id.label, f"PM-4: label sanitised: {procs.id}"
            assert procs.host_mesh is mesh
            assert str(procs.id) in repr(procs)


async def test_spawn_after_shutdown_is_closed_error() -> None:
    """A mesh that was shut down refuses to spawn with MeshClosedError."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            await mesh.shutdown()
            with pytest.raises(MeshClosedError):
                await mesh.spawn("late", {"gpus": 1})


async def test_ha1_host_drain_ends_proc_states() -> None:
    """After HostMesh.stop() drained the hosts, the procs are gone from every host."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            procs = await mesh.spawn("w", {"gpus": 2})
            report = await mesh.stop()
            assert [h.report.attempted for h in report.hosts if h.report] == [2, 2], (
                f"HA-1: drain attempted {report}"
            )
            assert all(h.report is not None and h.report.ok == 2 for h in report.hosts), (
                "HA-1: every proc stopped"
            )
            states = await procs.states()
            assert all(s.status.kind is not StatusKind.RUNNING for s in states.values()), (
                f"HA-1: no proc still running: {kinds(states)}"
            )


async def test_ha1_drained_procs_keep_their_stopped_records() -> None:
    """After HostMesh.stop() drained the hosts, every proc of the mesh still reads Stopped."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            procs = await mesh.spawn("w", {"gpus": 2})
            await mesh.stop()
            states = await procs.states()
            assert kinds(states) == ["STOPPED"] * 4, f"HA-1: records after a drain {kinds(states)}"
            assert [s.proc_id for s in states.values()] == [r.proc_id for r in procs.procs]
            assert all(s.pid is not None for s in states.values()), "the hosts' own records"


async def test_rank_unknown_to_an_answering_host_reads_not_exist() -> None:
    """A rank whose host answers but has no record of it reads NotExist, not Timeout."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            real = await mesh.spawn("real", {"gpus": 1})
            ghost_id = ProcMeshId.instance("ghost")  # never spawned: no host has its ids
            refs = [
                ProcRef(str(proc_id(ghost_id, r.create_rank)), r.create_rank, r.host_rank, r.host)
                for r in real.procs
            ]
            ghost = ProcMesh(
                ghost_id, real.region, mesh, tuple(refs), real.per_host_ranks, real._link
            )
            states = await ghost.states()
            assert kinds(states) == ["NOT_EXIST"] * 2, f"unknown ranks read {kinds(states)}"
            assert [s.host for s in states.values()] == [str(a) for a in mesh.addrs]
            assert all(s.pid is None for s in states.values())
            assert kinds(await real.states()) == ["RUNNING"] * 2, "the real mesh is untouched"


async def test_stop_with_an_unreachable_host_raises_naming_it() -> None:
    """ProcMesh.stop() with a dead host raises ProcMeshStopError: Timeout for that host's
    ranks, Stopped for the others, and the message names the dead host's address."""
    with trio.fail_after(10):
        async with (
            tcp_hosts(2, token=TOKEN) as hosts,
            meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh,
        ):
            procs = await mesh.spawn("w", {"gpus": 2})
            await hosts[1].kill()
            with pytest.raises(ProcMeshStopError) as info:
                await procs.stop()
            got = [s.kind for s in info.value.statuses]
            assert got == [StatusKind.STOPPED] * 2 + [StatusKind.TIMEOUT] * 2, f"{got}"
            message = str(info.value)
            assert hosts[1].addr in message, f"the dead host is not named: {message}"
            assert hosts[0].addr not in message, f"a live host is named: {message}"
            live = await mesh.range("hosts", 0).info()
            assert [i.proc_count for i in live.values()] == [0], "host 0's procs stopped"
            with pytest.raises(ShutdownError):  # the whole mesh is stopped, so the block
                await mesh.stop()  # exit leaves the dead host alone


async def test_states_rejects_bad_keepalive_and_hosts_keep_serving() -> None:
    """states() rejects a keepalive that is not finite seconds >= 0; the procs keep running."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            procs = await mesh.spawn("w", {"procs": 1})
            for keepalive in (float("nan"), float("inf"), -1.0, "10", b"1"):
                with pytest.raises(InputError, match="keepalive"):
                    await procs.states(keepalive=keepalive)  # type: ignore[arg-type]
            assert kinds(await procs.states(keepalive=30.0)) == ["RUNNING"]


async def test_proc_mesh_use_after_host_shutdown_is_closed_error() -> None:
    """states/stop/config_dump after the host mesh shut down raise MeshClosedError, not Timeout."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            procs = await mesh.spawn("w", {"gpus": 1})
            await mesh.shutdown()
            for use in (procs.states, procs.stop, procs.config_dump):
                with pytest.raises(MeshClosedError):
                    await use()


async def test_keepalive_true_uses_mesh_orphan_timeout() -> None:
    """Keepalive: states(keepalive=True) asks for mesh_orphan_timeout; unrenewed procs are
    then stopped as orphaned, and with the key disabled (none) nothing is armed."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            with config.configured(mesh_orphan_timeout="none"):
                spared = await mesh.spawn("spared", {"gpus": 1})
                await spared.states(keepalive=True)
            with config.configured(mesh_orphan_timeout="200ms"):
                kept = await mesh.spawn("kept", {"gpus": 1})
                await kept.states(keepalive=True)
            await wait_for_event(mesh, "orphaned", 1)
            events = [e for i in (await mesh.info()).values() for e in i.events]
            orphaned = [e.detail for e in events if e.kind == "orphaned"]
            assert orphaned == [kept.procs[0].proc_id], f"keepalive: {orphaned}"
            assert kinds(await spared.states()) == ["RUNNING"], "keepalive: none arms nothing"
