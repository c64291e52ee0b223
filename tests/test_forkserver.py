"""The fork server (issue 13): procs forked by each host's zygote are procs like cold ones.

Every test is bounded with ``trio.fail_after`` and wrapped in
:func:`meshtrio.testing.no_leaked_processes`. Invariants: ZY-1..6 (:mod:`meshtrio._zygote`),
FS-1..7 (:mod:`meshtrio._host.forkserver`). The rest of the proc tests run with the fork
server on (the default) and, in CI, once more with it off (``nox -s tests_cold``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import trio
from hosts import wait_for_event

from meshtrio import (
    Actor,
    BootstrapCommand,
    config,
    endpoint,
    open_host_mesh_in_process,
    open_host_mesh_processes,
)
from meshtrio._host.forkserver import ForkedChild, ForkServer
from meshtrio._status import StatusKind
from meshtrio.errors import InputError, ShutdownError
from meshtrio.testing import alive, descendants, no_leaked_processes

pytestmark = pytest.mark.processes


@pytest.fixture(autouse=True)
def _fork_server_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """These tests are about the fork server: on, even in the cold run's environment."""
    monkeypatch.delenv("MESHTRIO_HOST_FORK_SERVER", raising=False)
    config.reload_env()
    yield
    config.reload_env()  # read lazily again, once the environment is restored


ZYGOTE_MODULE = "meshtrio._zygote"


def cmdline(pid: int) -> str:
    """A process's command line (empty if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def ppid(pid: int | None) -> int:
    """A process's parent pid (0 if it is gone or None)."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return 0
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def forked(pid: int | None) -> bool:
    """True if ``pid``'s parent is a zygote (it was forked, not started cold)."""
    return ZYGOTE_MODULE in cmdline(ppid(pid))


def zygotes(host: int) -> list[int]:
    """The zygotes of a host (its children running the zygote; the procs they fork share
    their command line)."""
    return [p for p in descendants(host) if ppid(p) == host and ZYGOTE_MODULE in cmdline(p)]


async def wait_gone(pids: Iterable[int]) -> None:
    """Poll until none of ``pids`` is alive (not our children; the caller bounds it)."""
    left = list(pids)
    while left := [p for p in left if alive(p)]:  # noqa: ASYNC110 (not ours to wait on)
        await trio.sleep(0.02)


async def test_fs1_procs_are_forked_and_stop_like_cold_ones() -> None:
    """FS-1: with the fork server on, a host's procs are children of its zygote; they run,
    stop gracefully and read Stopped with exit code 0, like cold procs (which are children of
    the host when the fork server is off for a spawn)."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_processes(1) as mesh:
            host = (await mesh.info()).get(0).pid
            procs = await mesh.spawn("warm", {"procs": 3})
            pids = [s.pid for s in (await procs.states()).values()]
            assert all(p is not None and forked(p) for p in pids), f"FS-1: {pids}"
            with config.configured(host_fork_server=False):
                cold = await mesh.spawn("cold", {"procs": 1})
            cold_pid = (await cold.states()).get(0).pid
            assert ppid(cold_pid) == host, "a cold proc is the host's"
            custom = BootstrapCommand.default().with_env(MT_CUSTOM="1")
            own = await mesh.with_bootstrap(custom).spawn("custom", {"procs": 1})
            assert ppid((await own.states()).get(0).pid) == host, "a custom command is cold"
            await own.stop()
            stopped = list((await procs.stop()).values())
            assert [s.status.kind for s in stopped] == [StatusKind.STOPPED] * 3, f"{stopped}"
            assert [s.exit_code for s in stopped] == [0, 0, 0], f"FS-1: {stopped}"
            await cold.stop()


async def test_fs1_zy2_exit_code_and_stderr_reach_the_host() -> None:
    """FS-1/ZY-2: a forked child writes to the stderr its host handed over, and its exit code
    (2: no bootstrap payload) comes back through its zygote."""
    with no_leaked_processes(), trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = ForkServer()
            await nursery.start(server.run)
            await server.wait_ready()
            read_fd, write_fd = os.pipe()
            env = {k: v for k, v in os.environ.items() if not k.startswith("MESHTRIO_")}
            try:
                child = await server.fork(env, write_fd, write_fd)
            finally:
                os.close(write_fd)
            assert child is not None, "FS-2: a ready zygote forks"
            stream = trio.lowlevel.FdStream(read_fd)
            text = b""
            while chunk := await stream.receive_some(4096):
                text += chunk
            await stream.aclose()
            assert await child.wait_exit() == 2, "FS-1: the exit code of `meshtrio proc`"
            assert b"no bootstrap payload" in text, text
            child.close()
            nursery.cancel_scope.cancel()


async def test_fs2_a_zygote_that_cannot_start_means_cold_at_once() -> None:
    """FS-2: a spawn waiting for a zygote that dies while starting is answered None (start
    cold) as soon as it died, not after the start bound."""
    with no_leaked_processes(), trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = ForkServer(env={**os.environ, "PYTHONHOME": "/nonexistent"})
            await nursery.start(server.run)
            read_fd, write_fd = os.pipe()
            try:
                assert await server.fork(dict(os.environ), write_fd, write_fd) is None
            finally:
                os.close(read_fd)
                os.close(write_fd)
            assert not server.ready
            nursery.cancel_scope.cancel()


async def test_zy3_sigkill_host_kills_forked_procs() -> None:
    """ZY-3/PR-1: SIGKILL of a host agent process kills its forked procs and its zygote."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_processes(1) as mesh:
            host = (await mesh.info()).get(0).pid
            procs = await mesh.spawn("doomed", {"procs": 2}, on_failure="log")
            pids = [s.pid for s in (await procs.states()).values() if s.pid is not None]
            assert len(pids) == 2, f"{pids}"
            assert all(forked(p) for p in pids), f"{pids}"
            zygote = zygotes(host)
            assert len(zygote) == 1, f"one zygote per host: {zygote}"
            os.kill(host, signal.SIGKILL)
            await wait_gone([*pids, *zygote])
            with pytest.raises(ShutdownError):
                await mesh.shutdown()


async def test_zy3_procs_die_with_their_host_after_their_zygote_died() -> None:
    """ZY-3: the lifeline alone ties a forked proc to its host: with its zygote already gone,
    SIGKILL of the host still kills it."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_processes(1) as mesh:
            host = (await mesh.info()).get(0).pid
            procs = await mesh.spawn("doomed", {"procs": 2}, on_failure="log")
            pids = [s.pid for s in (await procs.states()).values() if s.pid is not None]
            (zygote,) = zygotes(host)
            os.kill(zygote, signal.SIGKILL)
            await wait_gone([zygote])
            assert all(alive(p) for p in pids), "FS-3: the zygote's death kills no proc"
            os.kill(host, signal.SIGKILL)
            await wait_gone(pids)
            with pytest.raises(ShutdownError):
                await mesh.shutdown()


CLIENT = """
import json, trio
from meshtrio import open_host_mesh_processes
from meshtrio.testing import descendants

async def main():
    async with open_host_mesh_processes(2) as mesh:
        procs = await mesh.spawn("orphans", {"procs": 2})
        hosts = [i.pid for i in (await mesh.info()).values()]
        pids = [s.pid for s in (await procs.states()).values()]
        print(json.dumps({"hosts": hosts, "procs": pids, "all": descendants()}), flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


async def test_zy3_sigkill_client_ends_hosts_zygotes_and_forked_procs() -> None:
    """PR-1/ZY-3: SIGKILL of a client ends its host processes, their zygotes and every proc
    they forked; nothing is left."""
    with no_leaked_processes(), trio.fail_after(30):
        client = await trio.lowlevel.open_process(
            [sys.executable, "-c", CLIENT], stdout=subprocess.PIPE
        )
        try:
            assert client.stdout is not None
            buf = b""
            while b"\n" not in buf and (chunk := await client.stdout.receive_some(65536)):
                buf += chunk
            printed = json.loads(buf.split(b"\n", 1)[0])
            assert all(forked(p) for p in printed["procs"]), f"forked: {printed}"
            everything = printed["all"]
            assert len(everything) >= 2 + 2 + 4, f"hosts, zygotes, procs: {printed}"
        finally:
            client.kill()
            await client.wait()
            if client.stdout is not None:
                await client.stdout.aclose()
        await wait_gone(everything)


async def test_fs3_sigkill_zygote_keeps_procs_and_spawns_go_on() -> None:
    """FS-3: SIGKILL of the zygote leaves running procs running (and stoppable); the host
    restarts it, and procs spawned meanwhile and after run too."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_processes(1) as mesh:
            host = (await mesh.info()).get(0).pid
            first = await mesh.spawn("first", {"procs": 2})
            pids = [s.pid for s in (await first.states()).values() if s.pid is not None]
            (zygote,) = zygotes(host)
            os.kill(zygote, signal.SIGKILL)
            await wait_gone([zygote])
            second = await mesh.spawn("second", {"procs": 1})  # cold or forked: it runs
            await wait_for_event(mesh, "fork_server", 2)  # FS-3: restarted (host's record)
            new = [z for z in zygotes(host) if z != zygote]
            assert len(new) == 1, f"FS-3: one new zygote: {new}"
            events = [e.kind for e in (await mesh.info()).get(0).events]
            assert events.count("fork_server_died") == 1, f"{events}"
            third = await mesh.spawn("third", {"procs": 1})
            third_pid = (await third.states()).get(0).pid
            assert ppid(third_pid) == new[0], "forked by the new one"
            assert all(alive(p) for p in pids), "FS-3: the zygote's death kills no proc"
            for mesh_procs in (first, second, third):
                states = (await mesh_procs.states()).values()
                assert all(s.status.is_running for s in states), f"{list(states)}"
                stopped = (await mesh_procs.stop()).values()
                assert all(s.status.kind is StatusKind.STOPPED for s in stopped), f"{stopped}"
            await wait_gone(pids)


async def test_pr2_config_and_env_reach_forked_procs_as_cold_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PR-2 for forked procs: the client's override and the host's environment (which wins)
    give a forked proc exactly the config values and sources a cold proc gets."""
    monkeypatch.setenv("MESHTRIO_MESH_TAIL_LOG_LINES", "55")
    with (
        no_leaked_processes(),
        trio.fail_after(30),
        config.configured(proc_spawn_max_idle=12, mesh_tail_log_lines=77),
    ):
        async with open_host_mesh_in_process(1) as mesh:
            warm = await mesh.spawn("warm", {"procs": 1})
            with config.configured(host_fork_server=False):
                cold = await mesh.spawn("cold", {"procs": 1})
            warm_pid = (await warm.states()).get(0).pid
            cold_pid = (await cold.states()).get(0).pid
            assert forked(warm_pid), "the first is forked"
            assert cold_pid is not None
            assert not forked(cold_pid), "the second is cold"
            warm_dump = (await warm.config_dump()).get(0)
            cold_dump = (await cold.config_dump()).get(0)
            assert warm_dump["mesh_tail_log_lines"] == (55, "Env"), warm_dump
            assert warm_dump["proc_spawn_max_idle"] == (12.0, "ClientOverride"), warm_dump
            del warm_dump["host_fork_server"], cold_dump["host_fork_server"]
            assert warm_dump == cold_dump, "PR-2: the same config, forked or cold"


def fd_links(pid: int) -> dict[int, str]:
    """What each descriptor of ``pid`` points at (``socket:[inode]``, ``pipe:[inode]``, ...)."""
    links = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            links[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return links


class Dice(Actor):
    """Says what its proc's :mod:`random` gives."""

    @endpoint
    def roll(self) -> float:
        return random.random()


async def test_zy1_zy2_descriptors_and_random_state() -> None:
    """ZY-1: the zygote holds one socket (its control socket). ZY-2: a forked proc holds none
    of the zygote's descriptors (its fd 3 is its lifeline pipe), and each proc's random state
    is its own."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.spawn("fds", {"procs": 2})
            pids = [s.pid for s in (await procs.states()).values() if s.pid is not None]
            zygote = ppid(pids[0])
            assert forked(pids[0])
            zygote_links = fd_links(zygote)
            sockets = [v for v in zygote_links.values() if v.startswith("socket:")]
            assert len(sockets) == 1, f"ZY-1: {zygote_links}"
            for pid in pids:
                links = fd_links(pid)
                assert links[3].startswith("pipe:"), f"ZY-3: the lifeline: {links}"
                shared = set(links.values()) & set(zygote_links.values()) - {"/dev/null"}
                assert not shared, f"ZY-2: proc {pid} holds the zygote's {shared}"
            dice = await procs.spawn("dice", Dice)
            rolls = (await dice.roll.call()).values()
            assert len(set(rolls)) == 2, f"ZY-2: reseeded: {rolls}"
            await procs.stop()


def open_fds() -> int:
    """How many descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


async def test_fs4_no_descriptor_leaks_in_the_host() -> None:
    """FS-1/FS-4: a host that forks and stops procs again and again holds no more descriptors
    after each round (pidfds, lifelines and pipes are closed once a proc exited)."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as mesh:
            counts = []
            for i in range(3):
                procs = await mesh.spawn(f"round{i}", {"procs": 4})
                pid = (await procs.states()).get(0).pid
                assert forked(pid), "forked"
                await procs.stop()
                counts.append(open_fds())
            assert counts[1] == counts[2], f"descriptors per round: {counts}"


PROBE = """
import os
with open(os.environ["MT_PRELOAD_LOG"], "a") as f:
    f.write(f"{os.getpid()}\\n")
"""

THREADS = """
import threading
threading.Thread(target=threading.Event().wait, daemon=True).start()
"""


async def test_zy4_preload_is_imported_once_in_the_zygote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ZY-4: a ``proc_preload`` module is imported once, in the zygote, however many procs it
    forks; a cold proc imports it itself."""
    (tmp_path / "mt_preload_probe.py").write_text(PROBE)
    log = tmp_path / "imports.log"
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("MT_PRELOAD_LOG", str(log))
    with (
        no_leaked_processes(),
        trio.fail_after(30),
        config.configured(proc_preload="mt_preload_probe"),
    ):
        async with open_host_mesh_in_process(1) as mesh:
            warm = await mesh.spawn("warm", {"procs": 3})
            warm_pids = [s.pid for s in (await warm.states()).values() if s.pid is not None]
            zygote = {ppid(p) for p in warm_pids}
            assert len(zygote) == 1, f"{warm_pids}"
            assert forked(warm_pids[0]), f"{warm_pids}"
            assert log.read_text().split() == [str(z) for z in zygote], "ZY-4: once, there"
            with config.configured(host_fork_server=False):
                cold = await mesh.spawn("cold", {"procs": 1})
            cold_pid = (await cold.states()).get(0).pid
            assert log.read_text().split()[1:] == [str(cold_pid)], "a cold proc imports it"
            await warm.stop()
            await cold.stop()


async def test_zy4_spawn_preload_is_imported_once_in_the_zygote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ZY-4 through ``spawn(..., preload=[...])``: the module is imported once, in the
    zygote, for every proc of that spawn; bad names are refused before anything starts."""
    (tmp_path / "mt_spawn_preload_probe.py").write_text(PROBE)
    log = tmp_path / "imports.log"
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("MT_PRELOAD_LOG", str(log))
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as mesh:
            for bad in ("mt_spawn_preload_probe", ["not a module"], ["a..b"], [3]):
                with pytest.raises(InputError, match="preload"):
                    await mesh.spawn("bad", {"procs": 1}, preload=bad)  # type: ignore[arg-type]
            procs = await mesh.spawn("warm", {"procs": 2}, preload=["mt_spawn_preload_probe"])
            pids = [s.pid for s in (await procs.states()).values() if s.pid is not None]
            zygote = {ppid(p) for p in pids}
            assert len(zygote) == 1, f"{pids}"
            assert log.read_text().split() == [str(z) for z in zygote], "ZY-4: once, there"
            await procs.stop()


async def test_zy1_a_threaded_zygote_refuses_and_procs_start_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ZY-1/FS-2: a preload that starts a thread makes the zygote refuse to fork; the procs
    start cold (children of the host) and run, and the host warns."""
    (tmp_path / "mt_thread_probe.py").write_text(THREADS)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with (
        no_leaked_processes(),
        trio.fail_after(30),
        config.configured(proc_preload="mt_thread_probe"),
        caplog.at_level(logging.WARNING, logger="meshtrio._host"),
    ):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.spawn("threaded", {"procs": 2})
            states = list((await procs.states()).values())
            assert all(s.status.is_running for s in states), f"{states}"
            assert all(s.pid is not None and ppid(s.pid) == os.getpid() for s in states), (
                "FS-2: started cold by the host (this process)"
            )
            assert "threads; forking it is unsafe" in caplog.text, caplog.text
            events = [e for e in (await mesh.info()).get(0).events if e.kind == "fork_refused"]
            assert len(events) == 2, f"one event per refused fork: {events}"
            await procs.stop()


async def test_fs3_a_zygote_slow_to_reap_is_still_reaped_without_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FS-3: when waiting for a killed zygote outlasts its bound, the fork server still reaps
    it later (no zombie) and never drops an unreaped ``Popen`` (a ResourceWarning, an error
    under ``-W error``)."""
    import gc
    import warnings

    from meshtrio._host import forkserver

    async def never_reaped(popen: subprocess.Popen[bytes]) -> None:
        await trio.sleep_forever()

    monkeypatch.setattr(forkserver, "_reaped", never_reaped)
    monkeypatch.setattr(forkserver, "REAP_TIMEOUT", 0.2)
    with no_leaked_processes(), trio.fail_after(30):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with trio.open_nursery() as nursery:
                server = ForkServer()
                await nursery.start(server.run)
                await server.wait_ready()
                pid = server.pid
                assert pid is not None
                nursery.cancel_scope.cancel()
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [
            str(w.message) for w in caught
        ]
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG: reaped, not a zombie)


async def test_fs2_a_zygote_that_stopped_reading_means_cold_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FS-2: a fork request to a zygote that no longer reads its control socket (stuck, say,
    importing a preload module) is answered None within the fork bound, even once the
    socket is full: sending the request is bounded too, not only waiting for the reply."""
    import socket

    from meshtrio._host import forkserver

    monkeypatch.setattr(forkserver, "FORK_TIMEOUT", 0.3)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:  # the stuck zygote's queue is full
            ours.send(b"x" * 4096)
    read_fd, write_fd = os.pipe()
    server = ForkServer()
    server._sock = trio.socket.from_stdlib_socket(ours)
    server._ready.set()
    # No zygote pid: the stuck zygote is not a process here (nothing to kill and restart).
    try:
        with trio.fail_after(10):
            assert await server.fork(dict(os.environ), write_fd, write_fd) is None
    finally:
        server._sock.close()
        theirs.close()
        os.close(read_fd)
        os.close(write_fd)


@pytest.mark.parametrize("code", [None, 0, 3, "bye"])
def test_fs1_a_forked_proc_ends_on_system_exit_as_a_cold_one(code: object) -> None:
    """FS-1: a forked proc whose code raises SystemExit exits with the status (and message)
    an interpreter gives it: ``sys.exit()`` is 0, ``sys.exit("bye")`` prints bye and is 1."""
    raise_it = f"raise SystemExit({code!r})"
    forked_child = (
        "import meshtrio._zygote as z\n"
        "def become_proc(*args):\n"
        f"    {raise_it}\n"
        "z.become_proc = become_proc\n"
        "z._child({}, [])\n"
    )
    cold = subprocess.run(
        [sys.executable, "-c", raise_it], capture_output=True, timeout=60, check=False
    )
    fork = subprocess.run(
        [sys.executable, "-c", forked_child], capture_output=True, timeout=60, check=False
    )
    assert (fork.returncode, fork.stderr) == (cold.returncode, cold.stderr)


@pytest.mark.parametrize(
    "message",
    [
        {"op": "exit", "pid": [1], "code": 0},
        {"op": "forked", "id": [1], "pid": 12345},
        {"op": "forked", "id": 999, "pid": 0},
        {"op": "forked", "id": 999, "pid": -1},
        {"op": "refused", "id": {"a": 1}},
    ],
)
async def test_fs2_a_malformed_zygote_message_is_dropped_not_a_crash(
    message: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FS-2: a control message with ids or pids of the wrong kind (unhashable, or a pid that
    names no child: 0 would make ``killpg`` signal the host's own process group) is dropped,
    its descriptors closed; it never raises into the host, and only a real pid is ever
    signalled (a fork reply matching no request kills that child: nobody waits for it)."""
    signalled: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "killpg", lambda pid, sig: signalled.append((pid, sig)))
    server = ForkServer()
    read_fd, write_fd = os.pipe()
    try:
        server._dispatch(message, [write_fd])
        with pytest.raises(OSError):
            os.fstat(write_fd)  # closed by the dispatch
    finally:
        os.close(read_fd)
    assert all(pid > 0 for pid, _ in signalled), signalled


HANGS_ON_FORK = """
import os, time
os.register_at_fork(before=lambda: time.sleep(3600))
"""


async def test_fs3_a_zygote_stuck_on_a_fork_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FS-2/FS-3: a zygote that does not answer a fork within the bound is killed and a new
    one started (that spawn goes cold), instead of staying stuck and costing every later
    spawn the whole bound."""
    from meshtrio._host import forkserver

    (tmp_path / "mt_hang_probe.py").write_text(HANGS_ON_FORK)
    monkeypatch.setattr(forkserver, "FORK_TIMEOUT", 0.5)
    started: list[str] = []
    second = trio.Event()

    def on_event(kind: str, detail: str) -> None:
        if kind == "fork_server":
            started.append(detail)
            if len(started) == 2:
                second.set()

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    with no_leaked_processes(), trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = ForkServer(preload="mt_hang_probe", env=env, on_event=on_event)
            await nursery.start(server.run)
            await server.wait_ready()
            stuck = server.pid
            read_fd, write_fd = os.pipe()
            try:
                assert await server.fork(dict(os.environ), write_fd, write_fd) is None
            finally:
                os.close(read_fd)
                os.close(write_fd)
            await second.wait()
            assert server.pid != stuck
            assert not alive(stuck or 0), "the stuck zygote is gone"
            nursery.cancel_scope.cancel()


async def test_fs5_an_exited_forked_proc_is_never_signalled_by_its_pid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FS-5: once a forked proc's leader exited (and its zygote or init may have reaped it,
    freeing its pid for anyone), neither its handle nor a late fork reply signals its pid or
    group; while it runs, its whole group is signalled."""
    from meshtrio._host.launcher import ProcessHandle

    with no_leaked_processes(), trio.fail_after(30):
        gone = subprocess.Popen([sys.executable, "-c", "pass"], process_group=0)  # noqa: ASYNC220
        pidfd = os.pidfd_open(gone.pid)
        gone.wait()  # reaped: its pid is free for reuse
        real_killpg, real_kill = os.killpg, os.kill
        by_pid: list[tuple[int, int]] = []
        monkeypatch.setattr(os, "killpg", lambda pid, sig: by_pid.append((pid, sig)))
        monkeypatch.setattr(os, "kill", lambda pid, sig: by_pid.append((pid, sig)))
        life_r, life_w = os.pipe()
        err_r, err_w = os.pipe()
        os.close(err_w)
        handle = ProcessHandle(
            ForkedChild(gone.pid, pidfd, life_w), stderr_fd=err_r, tail_lines=5, program="x"
        )
        assert handle.signal_group(signal.SIGKILL) is False
        server = ForkServer()
        server._dispatch({"op": "forked", "id": 7, "pid": gone.pid}, [os.dup(pidfd)])
        assert by_pid == [], f"FS-5: signalled a pid that may be a stranger's: {by_pid}"
        handle._popen.close()  # type: ignore[union-attr]
        handle._close_pipe(handle._pipes[0])
        os.close(life_r)
        monkeypatch.setattr(os, "killpg", real_killpg)
        monkeypatch.setattr(os, "kill", real_kill)

        # Alive: the group is signalled (a grandchild in it dies too).
        leader = subprocess.Popen(  # noqa: ASYNC220
            [
                sys.executable,
                "-c",
                "import subprocess, sys, time;"
                "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
                "print(flush=True); time.sleep(60)",
            ],
            process_group=0,
            stdout=subprocess.PIPE,
        )
        assert leader.stdout is not None
        await trio.to_thread.run_sync(leader.stdout.readline)
        family = descendants(leader.pid)
        live = ForkedChild(leader.pid, os.pidfd_open(leader.pid), os.pipe()[1])
        assert live.signal_group(signal.SIGKILL)
        leader.wait()
        leader.stdout.close()
        await wait_gone(family)
        live.close()


FAILS_ONCE = """
import errno, os
_fork, _pidfd_open = os.fork, os.pidfd_open
calls = {"fork": 0, "pidfd": 0}
def fork():
    calls["fork"] += 1
    if calls["fork"] == 1:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
    return _fork()
def pidfd_open(pid, flags=0):
    calls["pidfd"] += 1
    if calls["pidfd"] == 1:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
    return _pidfd_open(pid, flags)
os.fork, os.pidfd_open = fork, pidfd_open
"""


async def test_zy5_a_failed_fork_or_pidfd_open_is_refused_and_the_zygote_serves_on(
    tmp_path: Path,
) -> None:
    """ZY-5: a zygote whose ``os.fork`` fails (EAGAIN), then whose ``pidfd_open`` fails on the
    next child, refuses those two forks (they start cold) and stays up: the third fork is
    served by the same zygote; the child it could not watch was killed, not left running."""
    (tmp_path / "mt_fails_once.py").write_text(FAILS_ONCE)
    refused: list[str] = []

    def on_event(kind: str, detail: str) -> None:
        if kind == "fork_refused":
            refused.append(detail)

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    with no_leaked_processes(), trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = ForkServer(preload="mt_fails_once", env=env, on_event=on_event)
            await nursery.start(server.run)
            await server.wait_ready()
            zygote = server.pid
            read_fd, write_fd = os.pipe()
            try:
                assert await server.fork(dict(os.environ), write_fd, write_fd) is None
                assert await server.fork(dict(os.environ), write_fd, write_fd) is None
                assert [r.split(":")[0] for r in refused] == ["fork", "pidfd_open"], refused
                assert server.pid == zygote
                assert server.ready
                assert server.starts == 1
                assert list(descendants(zygote or 0)) == [], "ZY-5: killed and reaped"
                child = await server.fork(dict(os.environ), write_fd, write_fd)
                assert child is not None
                assert server.starts == 1
                child.signal_group(signal.SIGKILL)
                await child.wait_exit()
                child.close()
            finally:
                os.close(read_fd)
                os.close(write_fd)
            nursery.cancel_scope.cancel()


async def test_fs6_without_pidfd_open_the_fork_server_is_off_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """FS-6: on a kernel without ``pidfd_open`` no zygote is started (it would die or refuse
    on every fork); forks return None at once (cold) and one warning says why."""
    import errno

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    caplog.set_level(logging.WARNING, logger="meshtrio._host")
    with no_leaked_processes(), trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = ForkServer()
            await nursery.start(server.run)
            for _ in range(3):
                assert await server.fork(dict(os.environ), 1, 2) is None
            assert server.starts == 0
            nursery.cancel_scope.cancel()
    warnings = [r for r in caplog.records if "pidfd_open" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]


async def test_zy2_the_lifeline_is_close_on_exec() -> None:
    """ZY-2: a forked proc's lifeline (fd 3) is close-on-exec, as a cold proc's descriptors
    are: a program the proc runs does not hold it (nor keep the proc alive through it)."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as mesh:
            procs = await mesh.spawn("cloexec", {"procs": 1})
            (state,) = (await procs.states()).values()
            assert state.pid is not None
            assert forked(state.pid)
            fdinfo = Path(f"/proc/{state.pid}/fdinfo/3").read_text()  # noqa: ASYNC240
            flags = next(int(ln.split()[1], 8) for ln in fdinfo.splitlines() if "flags:" in ln)
            assert flags & os.O_CLOEXEC, f"ZY-2: fd 3 is inherited (flags {flags:o})"
            await procs.stop()


DIES_AFTER_FORK = """
import os, signal, time
import meshtrio.__main__ as entry
entry.main = lambda argv: time.sleep(60) or 0  # a proc that runs on, if it gets to run
_fork = os.fork
def fork():
    pid = _fork()
    if pid:  # the zygote dies between fork() and its reply
        with open(os.environ["MT_TWIN_PID_FILE"], "w") as f:
            f.write(str(pid))
        os.kill(os.getpid(), signal.SIGKILL)
    return pid
os.fork = fork
"""


async def test_zy6_a_zygote_dying_before_its_reply_leaves_no_unknown_proc(
    tmp_path: Path,
) -> None:
    """ZY-6: with ``mesh_bootstrap_enable_pdeathsig`` off (no lifeline kill), a zygote that
    dies between ``fork()`` and its ``forked`` reply leaves no live child: the host (which
    starts that proc cold) never acknowledged it, so it exits instead of running as an
    unknown twin with the same proc id and credential."""
    (tmp_path / "mt_dies_after_fork.py").write_text(DIES_AFTER_FORK)
    pid_file = tmp_path / "twin.pid"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MT_TWIN_PID_FILE": str(pid_file)}
    proc_env = {**os.environ, "MESHTRIO_MESH_BOOTSTRAP_ENABLE_PDEATHSIG": "0"}
    with no_leaked_processes(), trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = ForkServer(preload="mt_dies_after_fork", env=env)
            await nursery.start(server.run)
            await server.wait_ready()
            read_fd, write_fd = os.pipe()
            try:
                assert await server.fork(proc_env, write_fd, write_fd) is None
            finally:
                os.close(read_fd)
                os.close(write_fd)
            twin = int(pid_file.read_text())
            with trio.move_on_after(10):
                await wait_gone([twin])
            still = alive(twin)
            if still:
                os.kill(twin, signal.SIGKILL)
            assert not still, "ZY-6: the unacknowledged child ran on"
            nursery.cancel_scope.cancel()


def test_fs7_a_max_size_message_goes_through_and_a_larger_one_is_dropped() -> None:
    """FS-7: the bound is reachable: a message of exactly ``MAX_MESSAGE`` bytes, with its
    descriptors, crosses a control socket pair (whatever ``wmem_max`` allows by default); a
    larger one is dropped whole on receipt, its descriptors closed; end of stream is None."""
    from meshtrio._host import forkserver

    assert forkserver.MAX_MESSAGE + 32 <= 2 * 212992, "fits the default wmem_max"
    ours, theirs = forkserver.control_socketpair()
    read_fd, write_fd = os.pipe()
    try:
        body = {"op": "fork", "pad": ""}
        body["pad"] = "x" * (forkserver.MAX_MESSAGE - len(forkserver.json_bytes(body)))
        assert len(forkserver.json_bytes(body)) == forkserver.MAX_MESSAGE
        forkserver.send_message(ours, body, [read_fd, write_fd, read_fd])
        got = forkserver.recv_message(theirs)
        assert got is not None
        assert got[0] == body
        assert len(got[1]) == 3
        for fd in got[1]:
            os.close(fd)
        big = b'"' + b"y" * forkserver.MAX_MESSAGE + b'"'
        ours.sendmsg([big], [forkserver.rights([read_fd])])
        before = open_fds()
        assert forkserver.recv_message(theirs) == (None, [])
        assert open_fds() == before, "its descriptor was closed"
        ours.close()
        assert forkserver.recv_message(theirs) is None
    finally:
        ours.close()
        theirs.close()
        os.close(read_fd)
        os.close(write_fd)


async def test_fs7_a_fork_request_above_the_bound_is_not_sent_and_starts_cold(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FS-7: a fork request larger than ``MAX_MESSAGE`` (a huge environment) is never sent
    (it would fail with EMSGSIZE, or cost the zygote a buffer that size): its proc starts cold
    at once, and a warning and a ``fork_refused`` event say why."""
    import socket

    from meshtrio._host import forkserver

    monkeypatch.setattr(forkserver, "FORK_TIMEOUT", 0.5)

    events: list[tuple[str, str]] = []
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)  # room to send it anyway
    theirs.setblocking(False)
    server = ForkServer(on_event=lambda kind, detail: events.append((kind, detail)))
    server._sock = trio.socket.from_stdlib_socket(ours)
    server._ready.set()
    caplog.set_level(logging.WARNING, logger="meshtrio._host")
    env = {**os.environ, "MT_HUGE": "z" * (300 * 1024)}
    try:
        with trio.fail_after(10):
            assert await server.fork(env, 1, 2) is None
        with pytest.raises(BlockingIOError):
            theirs.recv(16)  # nothing was sent
    finally:
        server._sock.close()
        theirs.close()
    assert [kind for kind, _ in events] == ["fork_refused"]
    assert "too large" in events[0][1]
    assert any("too large" in r.getMessage() for r in caplog.records)
