"""Proc meshes with real OS processes: allocation, failures, signals, stop ladder, shutdown.

Every test is bounded with ``trio.fail_after`` (real clock) and wrapped in
:func:`meshtrio.testing.no_leaked_processes`. Host agents are real processes (started by hand
with ``python -m meshtrio host`` or by :func:`open_host_mesh_processes`) where the host's own
life matters; where only the procs' behaviour matters the host agents run as tasks of this
process (:func:`open_host_mesh_in_process`) and only the procs are OS processes, which keeps
the file fast.

Invariants shown: PM-2, PM-3 (spawn failures stop what they started), PS-1..PS-3 (stop
ladder, bounded concurrency), PR-1 (procs die with their host and client), PR-2 (client
config), HM-1 and HM-5 (two-phase shutdown), and the keepalive reaper.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

import pytest
import trio
from hosts import hand_started_hosts, read_first_line, wait_for_event

from meshtrio import (
    BootstrapCommand,
    Extent,
    Point,
    ProcMesh,
    ProcState,
    attach,
    config,
    open_host_mesh_in_process,
    open_host_mesh_processes,
)
from meshtrio._status import StatusKind
from meshtrio._transport.handshake import new_token
from meshtrio.errors import ProcCreationError, ProcSpawnError, ShutdownError
from meshtrio.testing import alive, descendants, no_leaked_processes

pytestmark = pytest.mark.processes

PY = sys.executable

STUBBORN = BootstrapCommand(
    PY,
    (
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "from meshtrio.__main__ import main; main(['proc']); time.sleep(60)",
    ),
)
"""A proc that ignores SIGTERM and, once asked to stop, closes its connection but does not
exit: only SIGKILL ends it (so the stop ladder has to go all the way)."""

PENDING = BootstrapCommand(
    PY,
    (
        "-c",
        "import os, time; from meshtrio._host.pdeathsig import set_parent_death_signal; "
        "set_parent_death_signal(int(os.environ['MESHTRIO_PARENT_PID'])); time.sleep(60)",
    ),
)
"""A proc bootstrap that arms PDEATHSIG like a real proc but never says hello."""

DEFAULT = BootstrapCommand.default()


def statuses(states: Any) -> list[StatusKind]:
    """The status kinds of a states mesh (or a list of states), in rank order."""
    values = states if isinstance(states, list) else states.values()
    return [s.status.kind for s in values]


def cmdline(pid: int) -> str:
    """A process's command line (empty if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


async def wait_gone(pids: Iterable[int]) -> None:
    """Poll until none of ``pids`` is alive (the caller bounds it with ``fail_after``).

    Used only for processes that are not our children, which we cannot wait on.
    """
    left = list(pids)
    while left := [p for p in left if alive(p)]:  # noqa: ASYNC110 (not ours to wait on)
        await trio.sleep(0.02)


async def wait_states(procs: ProcMesh, done: Any) -> list[ProcState]:
    """Poll ``procs.states()`` until ``done(states)`` (the caller bounds it with ``fail_after``).

    A bounded poll because a proc's status lives in its host agent, which publishes no
    status-change event a client could wait on.
    """
    while True:
        states = list((await procs.states()).values())
        if done(states):
            return states
        await trio.sleep(0.02)


# -- allocation ---------------------------------------------------------------------------


async def test_pm2_pm4_extrinsic_allocation() -> None:
    """PM-2/PM-4: procs spawned on hand-started hosts run under their hosts; shutdown ends all."""
    token = new_token()
    with no_leaked_processes(), trio.fail_after(30):
        async with (
            hand_started_hosts(2, token=token) as hosts,
            attach([h.addr for h in hosts], token=token) as mesh,
        ):
            infos = list((await mesh.info()).values())
            assert [i.pid for i in infos] == [h.proc.pid for h in hosts], "host pids"
            procs = await mesh.spawn("ext", {"procs": 2})
            states = list((await procs.states()).values())
            assert statuses(states) == [StatusKind.RUNNING] * 4, "PM-2: all Running"
            pids = [s.pid for s in states]
            for state in states:
                assert state.pid is not None, f"PM-2: {state}"
                assert alive(state.pid), f"PM-2: {state}"
                host_pid = hosts[state.host_rank].proc.pid
                assert state.pid in descendants(host_pid), f"PM-4: {state} not under host"
            report = await mesh.shutdown()
            assert report.failures == (), f"HM-5: {report.failures}"
        assert [h.proc.returncode for h in hosts] == [0, 0], "HM-5: hosts exit 0 after shutdown"
        assert not [p for p in pids if p is not None and alive(p)], "PS-1: procs gone"


async def test_pm2_pm3_failing_proc_allocation() -> None:
    """Upstream test_failing_proc_allocation: a bootstrap that exits 1 is ProcCreationError
    with Failed status, the exit code and the stderr tail; nothing stays behind (PM-3)."""
    with no_leaked_processes(), trio.fail_after(30), config.configured(mesh_tail_log_lines=100):
        async with open_host_mesh_processes(2) as mesh:
            with pytest.raises(ProcCreationError) as info:
                await mesh.with_bootstrap(BootstrapCommand("/bin/false")).spawn(
                    "fail", Extent.unity()
                )
            err = info.value
            assert err.state.status.kind is StatusKind.FAILED, f"PM-2: {err.state.status}"
            assert "failed to configure process" in str(err), f"PM-2: {err}"
            assert "code 1" in str(err), f"PM-2: exit code missing: {err}"
            assert err.host_rank in (0, 1), f"PM-2: host rank {err.host_rank}"

            noisy = BootstrapCommand("sh", ("-c", "echo boom >&2; exit 1"))
            with pytest.raises(ProcCreationError) as info:
                await mesh.spawn("noisy", Extent.unity(), per_rank_bootstrap=lambda _p: noisy)
            state = info.value.state
            message = state.status.message or ""
            assert "code 1" in message, f"PM-2: no exit code: {message}"
            assert "boom" in message, f"PM-2: no stderr tail: {message}"
            # The error carries the host's full record of the proc (spec 8.3 step 4).
            assert state.exit_code == 1, f"PM-2: state without exit code: {state!r}"
            assert state.stderr_tail == ("boom",), f"PM-2: state without tail: {state!r}"
            assert state.pid is not None, f"PM-2: state without pid: {state!r}"

            for host in (await mesh.info()).values():
                assert host.proc_count == 0, f"PM-3: {host.address} kept procs"


async def test_pm2_pm3_halting_proc_allocation() -> None:
    """Upstream test_halting_proc_allocation: rank 0 never says hello; the idle fence ends
    the spawn with statuses [Timeout, Running]; the hanging process is stopped (PM-3)."""
    sleep = BootstrapCommand(shutil.which("sleep") or "/bin/sleep", ("60",))

    def command(point: Point) -> BootstrapCommand:
        return sleep if point.rank == 0 else DEFAULT

    idle = 2.0  # several times a proc's start, even on a loaded 2-core machine
    with no_leaked_processes(), trio.fail_after(30), config.configured(proc_spawn_max_idle=idle):
        async with open_host_mesh_processes(2) as mesh:
            started = trio.current_time()
            with pytest.raises(ProcSpawnError) as info:
                await mesh.spawn("halt", Extent.unity(), per_rank_bootstrap=command)
            elapsed = trio.current_time() - started
            kinds = [s.kind for s in info.value.statuses]
            assert kinds == [StatusKind.TIMEOUT, StatusKind.RUNNING], f"PM-2: {kinds}"
            assert info.value.statuses[0].duration >= idle, f"PM-2: {info.value.statuses[0]}"
            assert elapsed >= idle, f"PM-2: gave up after {elapsed:.2f}s"
            assert isinstance(info.value, TimeoutError), "PM-2: a spawn timeout is a TimeoutError"

            infos = list((await mesh.info()).values())
            assert [i.proc_count for i in infos] == [0, 0], "PM-3: the spawn's procs stopped"
            exits = [[e for e in i.events if e.kind == "proc_exit"] for i in infos]
            assert [len(e) for e in exits] == [1, 1], f"PM-3: proc exits per host {exits}"
            sleepers = [p for p in descendants() if cmdline(p).startswith(sleep.program)]
            assert sleepers == [], f"PM-3: the hanging proc survived: {sleepers}"


async def test_pm3_cancelled_spawn_stops_started_procs() -> None:
    """PM-3: cancelling a spawn while its procs start stops every proc it started."""
    sleep = BootstrapCommand(shutil.which("sleep") or "/bin/sleep", ("61",))

    def sleepers() -> list[int]:
        return [p for p in descendants() if cmdline(p) == f"{sleep.program} 61 "]

    async def spawn() -> None:
        await mesh.spawn("cancelled", {"procs": 2}, per_rank_bootstrap=lambda _p: sleep)

    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(2) as mesh:
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(spawn)
                    # Bounded poll: nothing signals that a host forked a proc.
                    while len(sleepers()) < 4:  # noqa: ASYNC110
                        await trio.sleep(0.02)
                    scope.cancel()
            assert scope.cancelled_caught, "PM-3: the spawn was cancelled"
            infos = list((await mesh.info()).values())
            assert [i.proc_count for i in infos] == [0, 0], "PM-3: no proc left on any host"
            exits = [sum(1 for e in i.events if e.kind == "proc_exit") for i in infos]
            assert exits == [2, 2], f"PM-3: proc exits per host {exits}"
            assert sleepers() == [], "PM-3: the started processes are gone"


# -- config ----------------------------------------------------------------------------------


async def test_hm1_attach_then_spawn_procs_see_client_config() -> None:
    """HM-1 end to end: attach pushes the client's config to the hosts; spawned procs take
    the client's snapshot at spawn time as their ClientOverride layer (PR-2)."""
    token = new_token()
    with no_leaked_processes(), trio.fail_after(30):
        async with hand_started_hosts(2, token=token) as hosts:
            with config.configured(mesh_tail_log_lines=77, proc_stop_max_idle=12):
                async with attach([h.addr for h in hosts], token=token) as mesh:
                    for host in (await mesh.info()).values():
                        assert host.config["mesh_tail_log_lines"] == (77, "ClientOverride"), (
                            f"HM-1: {host.address} has {host.config['mesh_tail_log_lines']}"
                        )
                    with config.configured(mesh_tail_log_lines=88):
                        procs = await mesh.spawn("cfg", {"procs": 1})
                    dumps = list((await procs.config_dump()).values())
                    assert len(dumps) == 2, "PR-2: one dump per proc"
                    assert all(dumps), "PR-2: every proc answered"
                    for dump in dumps:
                        assert dump["mesh_tail_log_lines"] == (88, "ClientOverride"), (
                            f"PR-2: the spawn's snapshot wins: {dump['mesh_tail_log_lines']}"
                        )
                        assert dump["proc_stop_max_idle"] == (12.0, "ClientOverride"), (
                            f"HM-1: {dump['proc_stop_max_idle']}"
                        )
                    for host in (await mesh.info()).values():
                        assert host.config["mesh_tail_log_lines"] == (77, "ClientOverride"), (
                            "HM-1: a spawn does not change the host's own config"
                        )


async def test_pr2_client_override_and_env_in_procs() -> None:
    """PR-2: a client setting reaches every proc as ClientOverride; the same key in the
    proc's environment wins with source Env."""
    key = "mesh_tail_log_lines"
    with no_leaked_processes(), trio.fail_after(30), config.configured(mesh_tail_log_lines=77):
        async with open_host_mesh_in_process(1) as mesh:
            plain = await mesh.spawn("plain", {"procs": 2})
            for dump in (await plain.config_dump()).values():
                assert dump[key] == (77, "ClientOverride"), f"PR-2: {dump[key]}"
            env_cmd = DEFAULT.with_env(MESHTRIO_MESH_TAIL_LOG_LINES="55")
            from_env = await mesh.with_bootstrap(env_cmd).spawn("env", {"procs": 1})
            for dump in (await from_env.config_dump()).values():
                assert dump[key] == (55, "Env"), f"PR-2: env must beat ClientOverride: {dump[key]}"
                assert dump["proc_spawn_max_idle"][1] == "ClientOverride", "PR-2: others kept"


# -- signals ----------------------------------------------------------------------------------


async def test_sigkill_proc_is_failed_others_running() -> None:
    """A proc killed by SIGKILL reads Failed with signal 9; the other ranks stay Running
    (with supervision told to log the failure: by default it would end the block, SV-2)."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.spawn("victims", {"procs": 3}, on_failure="log")
            pid = list((await procs.states()).values())[1].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            states = await wait_states(procs, lambda s: s[1].status.is_terminated)
            victim = states[1]
            assert victim.status.kind is StatusKind.FAILED, f"{victim}"
            assert victim.signal == signal.SIGKILL, f"signal {victim.signal}"
            assert "signal 9" in (victim.status.message or ""), f"{victim.status}"
            assert [s.status.kind for s in (states[0], states[2])] == [StatusKind.RUNNING] * 2
            stopped = statuses(await procs.stop())
            assert stopped == [StatusKind.STOPPED, StatusKind.FAILED, StatusKind.STOPPED], (
                f"PS-2: a failed proc stays Failed: {stopped}"
            )


async def test_pm3_pr1_sigkill_host_agent_during_spawn() -> None:
    """PM-3/PR-1: a host agent killed while its proc starts: spawn raises ProcCreationError
    naming that host's ranks, the other host's procs are stopped, its proc dies with it."""

    def command(point: Point) -> BootstrapCommand:
        return PENDING if point.rank < 2 else DEFAULT

    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_processes(2) as mesh:
            host0 = (await mesh.info()).get(0).pid
            caught: list[ProcCreationError] = []

            async def spawn() -> None:
                with pytest.raises(ProcCreationError) as info:
                    await mesh.spawn("doomed", {"procs": 2}, per_rank_bootstrap=command)
                caught.append(info.value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(spawn)
                # Bounded poll: nothing signals that the host forked its procs.
                while len(orphans := descendants(host0)) < 2:  # noqa: ASYNC110
                    await trio.sleep(0.02)
                os.kill(host0, signal.SIGKILL)

            err = caught[0]
            assert err.host_rank == 0, f"{err.host_rank}"
            assert "[0, 1]" in str(err), f"the error names host 0's ranks: {err}"
            assert str(mesh.addrs[0]) in str(err), f"the error names host 0: {err}"
            assert err.state.status.kind is StatusKind.FAILED, f"{err.state.status}"
            host1 = (await mesh.range("hosts", 1).info()).get(0)
            assert host1.proc_count == 0, "PM-3: the live host's procs were stopped"
            with pytest.raises(ShutdownError) as shut:
                await mesh.shutdown()
            failed = [f.address for f in shut.value.failures]
            assert failed == [str(mesh.addrs[0])], f"HM-5: failures {failed}"
            report = shut.value.report
            assert report is not None, "HM-5: the report is attached"
            assert report.shutdown[1].ok, "HM-5: host 1 shut down"
            await wait_gone(orphans)  # PR-1: they die with their host (not our children)


CLIENT = """
import json, trio
from meshtrio import open_host_mesh_processes

async def main():
    async with open_host_mesh_processes(2) as mesh:
        procs = await mesh.spawn("orphans", {"procs": 1})
        hosts = [i.pid for i in (await mesh.info()).values()]
        pids = [s.pid for s in (await procs.states()).values()]
        print(json.dumps({"hosts": hosts, "procs": pids}), flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


async def test_pr1_sigkill_client_ends_hosts_and_procs() -> None:
    """PR-1: when the client is SIGKILLed, its host processes and their procs die too."""
    with no_leaked_processes(), trio.fail_after(30):
        client = await trio.lowlevel.open_process([PY, "-c", CLIENT], stdout=subprocess.PIPE)
        try:
            assert client.stdout is not None
            line = await read_first_line(client.stdout)
            assert line, "PR-1: the client script exited early"
            printed = json.loads(line)
            pids = [*printed["hosts"], *printed["procs"]]
            assert len(pids) == 4, f"PR-1: {printed}"
            assert all(alive(p) for p in pids), f"PR-1: {printed}"
        finally:
            client.kill()
            await client.wait()
            if client.stdout is not None:
                await client.stdout.aclose()
        assert client.returncode == -signal.SIGKILL
        await wait_gone(pids)  # PR-1: grandchildren, so a bounded poll


# -- the stop ladder ---------------------------------------------------------------------


async def test_ps3_proc_ignoring_sigterm_is_killed_after_grace() -> None:
    """PS-3: a proc that neither exits when asked nor on SIGTERM is SIGKILLed after two
    grace periods; stop() succeeds."""
    grace = 0.5
    with (
        no_leaked_processes(),
        trio.fail_after(30),
        config.configured(mesh_terminate_timeout=grace),
    ):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.spawn(
                "stubborn", {"procs": 1}, per_rank_bootstrap=lambda _p: STUBBORN
            )
            pid = (await procs.states()).get(0).pid
            started = trio.current_time()
            stopped = list((await procs.stop()).values())
            elapsed = trio.current_time() - started
            assert stopped[0].status.kind is StatusKind.STOPPED, f"PS-1: {stopped[0]}"
            assert stopped[0].signal == signal.SIGKILL, f"PS-3: not SIGKILLed: {stopped[0]}"
            assert elapsed >= 2 * grace, f"PS-3: SIGKILL after {elapsed:.2f}s, before 2 graces"
            assert pid is not None, "PS-1: the proc had a pid"
            assert not alive(pid), "PS-1: the proc is gone"


async def test_ps3_stop_concurrency_bound() -> None:
    """PS-3: with mesh_terminate_concurrency=2, four stubborn procs stop in two rounds."""
    grace = 0.5
    with (
        no_leaked_processes(),
        trio.fail_after(30),
        config.configured(mesh_terminate_timeout=grace, mesh_terminate_concurrency=2),
    ):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.spawn(
                "stubborn", {"procs": 4}, per_rank_bootstrap=lambda _p: STUBBORN
            )
            started = trio.current_time()
            stopped = list((await procs.stop()).values())
            elapsed = trio.current_time() - started
            assert all(s.signal == signal.SIGKILL for s in stopped), f"PS-3: {stopped}"
            events = (await mesh.info()).get(0).events
            exits = sorted(e.at for e in events if e.kind == "proc_exit")
            assert len(exits) == 4, f"PS-3: {len(exits)} exits"
            ladder = 2 * grace
            slack = 0.05  # wall clock vs trio clock
            assert exits[2] - exits[0] >= ladder - slack, (
                f"PS-3: more than 2 procs stopping at once: exits at {exits}"
            )
            for a, b in ((0, 1), (2, 3)):
                assert exits[b] - exits[a] < ladder, (
                    f"PS-3: procs of one round did not stop together: exits at {exits}"
                )
            assert elapsed >= 2 * ladder, f"PS-3: 2 rounds in {elapsed:.2f}s"


# -- shutdown, stop, re-attach, keepalive --------------------------------------------------


async def test_hm5_two_phase_shutdown_procs_gone_before_hosts_stop() -> None:
    """HM-5: with procs on 3 hosts (one slow to stop), every proc exited before any host
    began to shut down."""
    grace = 0.5

    def command(point: Point) -> BootstrapCommand:
        return STUBBORN if point.rank == 2 else DEFAULT

    with (
        no_leaked_processes(),
        trio.fail_after(30),
        config.configured(mesh_terminate_timeout=grace),
    ):
        async with open_host_mesh_processes(3) as mesh:
            await mesh.spawn("two-phase", {"procs": 1}, per_rank_bootstrap=command)
            report = await mesh.shutdown()
            assert report.failures == (), f"HM-5: {report.failures}"
            assert report.drain_time >= 2 * grace, "HM-5: the slow host held phase 1"
            assert [h.report.attempted for h in report.drain if h.report] == [1, 1, 1]
            events = [e for h in report.shutdown if h.report for e in h.report.events]
            exits = [e.at for e in events if e.kind == "proc_exit"]
            shutdowns = [e.at for e in events if e.kind == "shutdown"]
            assert len(exits) == 3, f"HM-5: proc exits {events}"
            assert len(shutdowns) == 3, f"HM-5: shutdowns {events}"
            assert max(exits) <= min(shutdowns), (
                f"HM-5: a host shut down at {min(shutdowns)} before the last proc exit "
                f"at {max(exits)}"
            )


async def test_stop_then_attach_again() -> None:
    """HostMesh.stop() leaves hand-started hosts serving; attaching again and spawning works."""
    token = new_token()
    with no_leaked_processes(), trio.fail_after(30):
        async with hand_started_hosts(2, token=token) as hosts:
            addrs = [h.addr for h in hosts]
            async with attach(addrs, token=token) as mesh:
                first = await mesh.spawn("first", {"procs": 1})
                pids = [s.pid for s in (await first.states()).values()]
                await mesh.stop()
            assert [h.proc.returncode for h in hosts] == [None, None], "hosts keep serving"
            assert not [p for p in pids if p is not None and alive(p)], "HA-1: procs gone"
            async with attach(addrs, token=token) as mesh:
                second = await mesh.spawn("second", {"procs": 1})
                states = statuses(await second.states())
                assert states == [StatusKind.RUNNING] * 2, f"re-attached spawn: {states}"
        assert [h.proc.returncode for h in hosts] == [0, 0], "HM-5: hosts exit after shutdown"


async def test_keepalive_lapse_orphans_procs() -> None:
    """Keepalive: when a keepalive is not renewed the host stops those procs as orphaned."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.spawn("kept", {"procs": 2})
            await procs.states(keepalive=0.5)
            await wait_for_event(mesh, "orphaned", 2)
            states = await wait_states(procs, lambda s: all(x.status.is_terminated for x in s))
            assert [s.status.kind for s in states] == [StatusKind.STOPPED] * 2, f"{states}"
            assert [s.exit_code for s in states] == [0, 0], "orphans are stopped gracefully"
            events = (await mesh.info()).get(0).events
            orphaned = sorted(e.detail for e in events if e.kind == "orphaned")
            assert orphaned == sorted(r.proc_id for r in procs.procs), f"{orphaned}"
            assert not [s.pid for s in states if s.pid is not None and alive(s.pid)]


async def test_lm1_cancelled_block_stops_procs_that_would_outlive_their_host() -> None:
    """LM-1: cancelling a process-mesh block drains its procs before the hosts are killed, so
    even a proc that neither arms PDEATHSIG nor exits when its host goes is gone."""
    lingering = BootstrapCommand(
        sys.executable,
        ("-c", "import time\nfrom meshtrio.__main__ import main\nmain(['proc'])\ntime.sleep(60)"),
        env={"MESHTRIO_MESH_BOOTSTRAP_ENABLE_PDEATHSIG": "0"},
    )
    pids: list[int] = []
    # The cancelled block's drain uses this grace (at most 2 s) before SIGTERM.
    grace = config.configured(mesh_terminate_timeout=0.5)
    with trio.fail_after(40), no_leaked_processes(), grace:
        with trio.CancelScope() as scope:
            async with open_host_mesh_processes(1) as mesh:
                procs = await mesh.with_bootstrap(lingering).spawn("linger", {"p": 2})
                pids = [s.pid for s in (await procs.states()).values() if s.pid is not None]
                scope.cancel()
                await trio.sleep_forever()
        assert scope.cancelled_caught, "LM-1: the block was not cancelled"
        assert len(pids) == 2, f"LM-1: expected 2 proc pids, got {pids}"
        await wait_gone(pids)  # not our children (their host was): a bounded poll
