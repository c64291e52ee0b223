"""Host agents as real processes: shutdown ends them (LM-1, HM-5), stop keeps them, the CLI.

Hosts are started either by ``open_host_mesh_processes`` or by hand, as a user would, with
``python -m meshtrio host --listen tcp:127.0.0.1:0`` (the first stdout line is the address).
Every test is bounded by ``trio.fail_after`` (real clock) and checks that no process outlives
it (:func:`meshtrio.testing.no_leaked_processes`).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
import trio
from hosts import (
    HOST_ARGV,
    assert_drains_before_shutdowns,
    black_hole,
    cancelled_after_accept,
    hand_started_hosts,
    host_env,
)

import meshtrio
from meshtrio import (
    BootstrapCommand,
    StopReport,
    config,
    open_host_mesh_in_process,
    open_host_mesh_processes,
)
from meshtrio.errors import ConfigPushError, MeshClosedError, ShutdownError
from meshtrio.testing import alive, descendants, no_leaked_processes

pytestmark = pytest.mark.processes

TOKEN = "host-processes-test-token"


# -- shutdown of a process mesh ------------------------------------------------------------
async def test_lm1_shutdown_ends_host_processes_then_mesh_is_closed() -> None:
    """shutdown() ends every host process; a second call is a no-op; other use is refused."""
    with no_leaked_processes(), trio.fail_after(20):
        async with open_host_mesh_processes(2) as mesh:
            pids = [i.pid for i in (await mesh.info()).values()]
            assert all(alive(p) for p in pids)
            report = await mesh.shutdown()
            assert report.failures == ()
            assert await mesh.shutdown() is report
            with pytest.raises(MeshClosedError):
                await mesh.info()
            with pytest.raises(MeshClosedError):
                await mesh.spawn("late", {"procs": 1})
        assert not any(alive(p) for p in pids), "LM-1: a host process outlived the block"


async def test_hm5_process_hosts_drain_everywhere_before_any_shutdown() -> None:
    """With real host processes and procs, no host sees shutdown before all drains ended."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_processes(3) as mesh:
            await mesh.spawn("workers", {"procs": 1})
            await mesh.range("hosts", 0).spawn("extra", {"procs": 1})
            report = await mesh.shutdown()
        assert report.failures == ()
        assert [h.report.attempted for h in report.drain if h.report] == [2, 1, 1]
        assert_drains_before_shutdowns(report, hosts=3)


# -- hand-started hosts ------------------------------------------------------------------------
async def test_hm6_leaving_attach_leaves_a_hand_started_host_serving() -> None:
    """HM-6 (issue 9): leaving an attach block stops the procs it spawned and leaves a
    hand-started host serving: the host process lives on, another client attaches to it and
    finds no proc left; only an explicit shutdown() ends it."""
    with no_leaked_processes(), trio.fail_after(30):
        async with hand_started_hosts(1, token=TOKEN) as (host,):
            async with meshtrio.attach([host.addr], token=TOKEN) as mesh:
                procs = await mesh.spawn("workers", {"procs": 2})
                pids = [s.pid for s in (await procs.states()).values()]
            assert host.proc.returncode is None, "HM-6: leaving the attach block ended the host"
            assert not [p for p in pids if p is not None and alive(p)], "HM-6: procs outlived it"
            async with meshtrio.attach([host.addr], token=TOKEN) as other:
                (info,) = (await other.info()).values()
                assert (info.state, info.proc_count) == ("serving", 0)
                await other.shutdown()
            assert await host.proc.wait() == 0


async def test_stop_keeps_hand_started_hosts_for_a_new_attach_then_shutdown_ends_them() -> None:
    """After stop() the hosts keep serving and can be attached again; an explicit shutdown()
    ends them (leaving an attach block does not, issue 9)."""
    with no_leaked_processes(), trio.fail_after(30):
        async with hand_started_hosts(2, token=TOKEN) as hosts:
            addrs = [h.addr for h in hosts]
            async with meshtrio.attach(addrs, token=TOKEN) as mesh:
                await mesh.spawn("workers", {"procs": 1})
                report = await mesh.stop()
                assert [h.report.attempted for h in report.hosts if h.report] == [1, 1]
                infos = (await mesh.info()).values()
                assert [(i.state, i.proc_count) for i in infos] == [("serving", 0)] * 2
            assert all(h.proc.returncode is None for h in hosts), "stop ended a host process"
            async with meshtrio.attach(addrs, token=TOKEN) as again:
                assert [i.address for i in (await again.info()).values()] == addrs
                await again.shutdown()
            for host in hosts:
                assert await host.proc.wait() == 0, "a host did not exit cleanly on shutdown"


async def test_hm5_shutdown_reports_unreachable_host_and_ends_the_rest() -> None:
    """HM-5: a host killed before shutdown is a ShutdownError failure; the others exit with 0."""
    with no_leaked_processes(), trio.fail_after(30):
        async with hand_started_hosts(3, token=TOKEN) as hosts:
            async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh:
                hosts[1].proc.send_signal(signal.SIGKILL)
                await hosts[1].proc.wait()
                with pytest.raises(ShutdownError) as info:
                    await mesh.shutdown()
                failed = [f.address for f in info.value.failures]
                assert failed == [hosts[1].addr], f"HM-5: failures {failed}"
                assert hosts[1].addr in str(info.value), f"HM-5: host not named: {info.value}"
                assert mesh.state == "shut_down"
            assert await hosts[0].proc.wait() == 0, "HM-5: host 0 did not exit cleanly"
            assert await hosts[2].proc.wait() == 0, "HM-5: host 2 did not exit cleanly"


# -- cancellation ------------------------------------------------------------------------------
async def test_lm1_cancel_during_attach_of_process_mesh_leaves_no_process() -> None:
    """LM-1: cancelling while a process mesh pushes config to a silent host kills its hosts."""
    with no_leaked_processes(), trio.fail_after(20):
        async with black_hole() as hole:
            # A "host" that prints the black hole's address, then just waits.
            fake_host = BootstrapCommand(
                sys.executable,
                ("-c", f"import time; print({hole.addr!r}, flush=True); time.sleep(60)"),
            )
            with config.configured(mesh_attach_config_timeout=30.0):
                async with cancelled_after_accept(hole) as scope:
                    start = time.monotonic()
                    async with open_host_mesh_processes(2, command=fake_host):
                        pytest.fail("HM-2: a mesh with unanswering hosts was yielded")
            assert scope.cancelled_caught, "the attach was not cancelled"
            elapsed = time.monotonic() - start
            assert elapsed < 5.0, f"LM-1: the cancelled block took {elapsed:.2f}s to exit"


async def test_cancel_during_attach_to_hand_started_hosts_leaves_them_serving() -> None:
    """Cancelling an attach leaves no connection behind and the hosts still serving."""
    with no_leaked_processes(), trio.fail_after(20):
        async with hand_started_hosts(1, token=TOKEN) as hosts, black_hole() as hole:
            with config.configured(mesh_attach_config_timeout=30.0):
                async with (
                    cancelled_after_accept(hole) as scope,
                    meshtrio.attach([hosts[0].addr, hole.addr], token=TOKEN),
                ):
                    pytest.fail("HM-2: attach with a black-hole host yielded a mesh")
            assert scope.cancelled_caught
            async with meshtrio.attach([hosts[0].addr], token=TOKEN) as mesh:
                assert (await mesh.info()).values()[0].state == "serving"
                await mesh.shutdown()
            assert await hosts[0].proc.wait() == 0


@pytest.mark.parametrize("delay", [0.0, 0.05])
async def test_lm1_cancel_during_shutdown_of_process_mesh_leaves_no_process(delay: float) -> None:
    """LM-1: cancelling the caller during shutdown still ends every host and proc process."""
    with no_leaked_processes(), trio.fail_after(30):
        with trio.CancelScope() as scope:
            async with open_host_mesh_processes(2) as mesh:
                await mesh.spawn("workers", {"procs": 1})
                scope.deadline = trio.current_time() + delay
                await mesh.shutdown()
                await trio.sleep_forever()  # the deadline ends the block (never a state wait)
        assert scope.cancelled_caught


# -- the command line --------------------------------------------------------------------------
async def test_host_cli_without_token_exits_nonzero_with_message() -> None:
    """`meshtrio host` with no token refuses to start, saying how to pass one."""
    with no_leaked_processes(), trio.fail_after(20):
        result = await trio.run_process(
            HOST_ARGV,
            env=host_env(token=None),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert result.returncode != 0
        assert result.stdout == b"", "it printed an address without a token"
        err = result.stderr.decode()
        assert "no auth token" in err, err
        assert "--token-file" in err, err
        assert "MESHTRIO_TOKEN" in err, err


async def test_host_cli_missing_token_file_exits_nonzero(tmp_path: Path) -> None:
    """`meshtrio host --token-file` with an unreadable file refuses to start."""
    with no_leaked_processes(), trio.fail_after(20):
        result = await trio.run_process(
            [*HOST_ARGV, "--token-file", str(tmp_path / "missing")],
            env=host_env(token=None),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert result.returncode != 0
        assert "token file" in result.stderr.decode()


async def test_host_cli_token_file_is_the_token(tmp_path: Path) -> None:
    """A host started with --token-file accepts that token and refuses others."""
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    with no_leaked_processes(), trio.fail_after(20):
        args = ("--token-file", str(token_file))
        async with hand_started_hosts(1, token=None, args=args) as hosts:
            with pytest.raises(ConfigPushError) as info:
                async with meshtrio.attach([hosts[0].addr], token=TOKEN):
                    pytest.fail("HM-2: attach with a wrong token yielded a mesh")
            got = [(f.address, f.kind) for f in info.value.failures]
            assert got == [(hosts[0].addr, "auth")], f"HM-4: failures {got}"
            async with meshtrio.attach([hosts[0].addr], token="from-a-file") as mesh:
                assert (await mesh.info()).values()[0].address == hosts[0].addr
                await mesh.shutdown()
            assert await hosts[0].proc.wait() == 0


# -- the host agent's drain (HA-1, HA-2) ---------------------------------------------------
# A proc that, once asked to stop, lingers until its host's ladder sends SIGTERM.
LINGERING_PROC = BootstrapCommand(
    sys.executable,
    ("-c", "import time; from meshtrio.__main__ import main; main(['proc']); time.sleep(30)"),
)


async def test_ha1_ha2_drain_acks_after_procs_are_gone_and_host_serves_meanwhile() -> None:
    """A host answers info while a drain runs, and acks the drain only once its procs exited."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.with_bootstrap(LINGERING_PROC).spawn("slow", {"procs": 2})
            pids = [s.pid for s in (await procs.states()).values()]
            assert all(p is not None and alive(p) for p in pids)
            stopped = trio.Event()
            answered: list[str] = []
            reports: list[StopReport] = []
            with config.configured(mesh_terminate_timeout=0.5):
                async with trio.open_nursery() as nursery:

                    async def stop() -> None:
                        reports.append(await mesh.stop())
                        stopped.set()

                    nursery.start_soon(stop)
                    while not stopped.is_set():
                        info = (await mesh.info()).values()[0]
                        if not stopped.is_set():
                            answered.append(info.state)
            assert reports[0].elapsed >= 0.4, "the procs did not linger; the test shows nothing"
            assert answered, "HA-2: the host answered no info request while it drained"
            assert set(answered) == {"serving"}, f"HA-2: states during a stop: {set(answered)}"
            alive_after = [p for p in pids if p is not None and alive(p)]
            assert not alive_after, f"HA-1: drain acknowledged while procs {alive_after} lived"


async def test_lm1_cancel_while_hosts_start_leaves_no_process() -> None:
    """LM-1: cancelling while host processes have not printed their address yet kills them."""
    silent_host = BootstrapCommand(sys.executable, ("-c", "import time; time.sleep(60)"))
    before = set(descendants())

    async def open_mesh() -> None:
        async with open_host_mesh_processes(2, command=silent_host):
            pytest.fail("a mesh was yielded before its hosts printed their addresses")

    with no_leaked_processes(), trio.fail_after(20):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(open_mesh)
                # Bounded poll: nothing signals that a host process was forked.
                while len(set(descendants()) - before) < 2:  # noqa: ASYNC110
                    await trio.sleep(0.02)
                started = set(descendants()) - before
                scope.cancel()
        assert scope.cancelled_caught, "the start was not cancelled"
    assert not [p for p in started if alive(p)], f"LM-1: host processes {started} outlived it"


async def test_open_processes_rejects_a_bad_extent() -> None:
    """open_host_mesh_processes with something other than an Extent or int is an InputError."""
    with no_leaked_processes(), trio.fail_after(20):
        for bad in (2.0, "2", None):
            with pytest.raises(meshtrio.errors.InputError, match="extent"):
                async with open_host_mesh_processes(bad):  # type: ignore[arg-type]
                    pytest.fail("a mesh was yielded for a bad extent")


@pytest.mark.parametrize("problem", ["bad-token", "busy-address"])
async def test_host_cli_startup_error_is_one_line_not_a_traceback(problem: str) -> None:
    """`meshtrio host` with an unsendable token or an address in use exits 1 with one line
    naming the error (it is raised inside a nursery, so it arrives wrapped in a group)."""
    with no_leaked_processes(), trio.fail_after(20):
        busy = trio.socket.socket()
        with busy:
            await busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            token, argv, expected = (
                ("has space", HOST_ARGV, "InputError")
                if problem == "bad-token"
                else (TOKEN, [*HOST_ARGV[:-1], f"tcp:127.0.0.1:{port}"], "TransportError")
            )
            result = await trio.run_process(
                argv, env=host_env(token), capture_stdout=True, capture_stderr=True, check=False
            )
        err = result.stderr.decode()
        assert result.returncode == 1, err
        assert result.stdout == b""
        assert "Traceback" not in err, err
        assert err.startswith(f"meshtrio host: {expected}: "), err
        assert len(err.strip().splitlines()) == 1, err


def test_host_help_says_what_a_user_needs(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m meshtrio host --help` names the token variable, says the bound address is
    printed as the first line, and what a token holder may do to the host (issue 9)."""
    from meshtrio.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["host", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "MESHTRIO_TOKEN" in text
    assert "first line on stdout" in text
    assert "Whoever holds the token can spawn any command on this host" in text
