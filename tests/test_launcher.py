"""Tests for meshtrio._host.launcher and meshtrio._host.pdeathsig, most with real OS processes
(marked ``processes``; the others check pure helpers and the stop ladder against a fake).

Every test is bounded with ``trio.fail_after`` in real time and, through the ``procs``
fixture, checks at the end that no process it started (leader or group member) is alive.
This machine's pid 1 does not reap orphans, so zombies count as dead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hosts import closed_port

from meshtrio import BootstrapCommand
from meshtrio._addr import ChannelAddr
from meshtrio._contract import ProcBootstrap
from meshtrio._host import launcher
from meshtrio._host.launcher import (
    MAX_LINE_CHARS,
    ExitInfo,
    ProcessHandle,
    apply_proc_bind,
    launch,
    stop_ladder,
)
from meshtrio._ids import ProcId, ProcMeshId
from meshtrio.errors import LaunchError, SpawnConfigurationError

PY = sys.executable


def sh(script: str, **kw: Any) -> BootstrapCommand:
    return BootstrapCommand(program="sh", args=("-c", script), **kw)


def py(code: str, *args: str) -> BootstrapCommand:
    return BootstrapCommand(program=PY, args=("-c", code, *args))


# -- process inspection ----------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, pgrp) of a process from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def live_group_members(pgid: int) -> list[int]:
    """Pids of non-zombie processes in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[1] == pgid and st[0] not in ("Z", "X"):
                members.append(int(entry))
    return members


async def wait_dead(pids: list[int], timeout: float = 2.0) -> None:
    """Wait (bounded) until each pid has exited, using pidfds rather than sleeps."""
    with trio.fail_after(timeout):
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            try:
                await trio.lowlevel.wait_readable(fd)
            finally:
                trio.lowlevel.notify_closing(fd)
                os.close(fd)


class Procs:
    """Launches processes for a test and remembers them for the leak check."""

    def __init__(self) -> None:
        self.handles: list[ProcessHandle] = []

    async def launch(
        self, command: BootstrapCommand, nursery: trio.Nursery, **kw: Any
    ) -> ProcessHandle:
        handle = await launch(command, nursery=nursery, **kw)
        self.handles.append(handle)
        return handle


@pytest.fixture
async def procs() -> AsyncIterator[Procs]:
    """Yield a launcher; afterwards assert every leader was reaped and every group is dead."""
    p = Procs()
    yield p
    leaks: list[str] = []
    for h in p.handles:
        # SIGKILLed members may take a moment to die; a live one would time out here.
        with contextlib.suppress(trio.TooSlowError):
            await wait_dead(live_group_members(h.pgid), timeout=1.0)
        members = live_group_members(h.pgid)
        if members:
            leaks.append(f"group {h.pgid}: live members {members}")
        if not h.exited:
            leaks.append(f"pid {h.pid} was never reaped")
        else:
            with pytest.raises(ProcessLookupError):
                os.kill(h.pid, 0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(h.pgid, signal.SIGKILL)
    assert not leaks, leaks


@pytest.fixture
async def fifo(tmp_path: Path) -> AsyncIterator[tuple[str, trio.lowlevel.FdStream]]:
    """A FIFO path and a read stream on it (opened read-write so it never reports EOF)."""
    path = tmp_path / "ready.fifo"
    os.mkfifo(path)
    stream = trio.lowlevel.FdStream(os.open(path, os.O_RDWR | os.O_NONBLOCK))
    yield str(path), stream
    stream.close()


async def read_line(stream: trio.lowlevel.FdStream) -> str:
    buf = b""
    while not buf.endswith(b"\n"):
        buf += await stream.receive_some(1)
    return buf.decode().strip()


# -- exit information and stderr ------------------------------------------------------


@pytest.mark.processes
async def test_exit_code_and_stderr_tail(procs: Procs) -> None:
    """The exit code is reported and tail_lines keeps only the last stderr lines."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            one = await procs.launch(sh("echo a >&2; echo b >&2; exit 3"), nursery, tail_lines=1)
            both = await procs.launch(sh("echo a >&2; echo b >&2; exit 3"), nursery)
            info = await one.wait()
            assert (await both.wait()).stderr_tail == ("a", "b")
    assert info == ExitInfo(code=3, signal=None, stderr_tail=("b",))
    assert not info.clean
    assert one.exited
    assert one.exit_info is info
    assert one.stderr_tail() == ("b",)
    assert info.describe() == "exited with code 3; stderr tail:\nb"


@pytest.mark.processes
async def test_signal_death_is_reported(procs: Procs) -> None:
    """A process killed through signal_group reports the signal, not a code."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh("exec sleep 60"), nursery)
            assert not h.exited
            assert h.exit_info is None
            assert h.signal_group(signal.SIGKILL)
            info = await h.wait()
    assert (info.code, info.signal) == (None, signal.SIGKILL)
    assert info.describe() == "killed by signal 9 (SIGKILL)"
    assert not h.signal_group(signal.SIGTERM)


@pytest.mark.processes
async def test_tail_lines_zero_still_drains_stderr(procs: Procs) -> None:
    """With tail_lines=0 a child writing far more than a pipe buffer still runs to its end."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(
                sh("head -c 2000000 /dev/zero | tr '\\0' 'x' >&2; exit 0"), nursery, tail_lines=0
            )
            info = await h.wait()
    assert info == ExitInfo(code=0, signal=None, stderr_tail=())
    assert info.clean


@pytest.mark.processes
async def test_long_lines_are_capped_and_bad_bytes_replaced(procs: Procs) -> None:
    """Lines are cut to MAX_LINE_CHARS, undecodable bytes replaced, a last partial line kept."""
    code = (
        "import sys; w = sys.stderr.buffer.write; "
        "w(b'y' * 20000 + b'\\n'); w(b'bad \\xff\\xfe\\n'); w(b'no newline')"
    )
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(py(code), nursery)
            info = await h.wait()
    assert info.code == 0
    assert info.stderr_tail == ("y" * MAX_LINE_CHARS, "bad \ufffd\ufffd", "no newline")


@pytest.mark.processes
async def test_many_waiters_get_the_same_exit_info(procs: Procs) -> None:
    """Every concurrent waiter receives the very same ExitInfo object."""
    results: list[ExitInfo] = []

    async def waiter(h: ProcessHandle) -> None:
        results.append(await h.wait())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh("exec sleep 60"), nursery)
            for _ in range(10):
                nursery.start_soon(waiter, h)
            await trio.testing.wait_all_tasks_blocked()
            h.signal_group(signal.SIGTERM)
    assert len(results) == 10
    assert all(r is results[0] for r in results)
    assert results[0].signal == signal.SIGTERM
    assert await h.wait() is results[0]


@pytest.mark.processes
async def test_exit_detected_without_pidfd(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where pidfd_open is unavailable the exit is still found by polling."""

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError("pidfd_open not supported")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh("echo polled >&2; exit 4"), nursery)
            info = await h.wait()
    assert (info.code, info.stderr_tail) == (4, ("polled",))


@pytest.mark.processes
async def test_stderr_held_by_grandchild_does_not_block_exit(procs: Procs) -> None:
    """When a grandchild keeps stderr open, the exit is still reported after a bounded drain."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh("echo before >&2; sleep 60 & exit 5"), nursery)
            with trio.fail_after(launcher.STDERR_DRAIN_TIMEOUT + 1.5):
                info = await h.wait()
            assert (info.code, info.stderr_tail) == (5, ("before",))
            assert live_group_members(h.pgid), "the grandchild should still be there"
            assert await stop_ladder(h, request_stop=None, grace=0.1, term_timeout=1) == (
                info,
                "exited",
            )


@pytest.mark.processes
async def test_environment_and_arg0_reach_the_child(procs: Procs) -> None:
    """The child sees os.environ, then command.env, then extra_env (later wins), and arg0."""
    env_cmd = sh('echo "$MT_A $MT_B ${PATH:+has-path}" >&2', env={"MT_A": "cmd", "MT_B": "cmd"})
    arg0_cmd = BootstrapCommand(
        program=PY,
        args=("-c", "import sys; print(sys.orig_argv[0], file=sys.stderr)"),
        arg0="custom-name",
    )
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            env_h = await procs.launch(env_cmd, nursery, extra_env={"MT_B": "extra"})
            arg0_h = await procs.launch(arg0_cmd, nursery)
            assert (await env_h.wait()).stderr_tail == ("cmd extra has-path",)
            assert (await arg0_h.wait()).stderr_tail == ("custom-name",)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.processes
async def test_missing_program_raises_launch_error(procs: Procs, tmp_path: Path) -> None:
    """A missing or non-executable program raises LaunchError and leaks no descriptors."""
    not_exec = tmp_path / "not-executable"
    not_exec.write_text("#!/bin/sh\n")
    before = _open_fds()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with pytest.raises(LaunchError) as missing:
                await procs.launch(BootstrapCommand(program="/no/such/meshtrio-prog"), nursery)
            with pytest.raises(LaunchError) as denied:
                await procs.launch(BootstrapCommand(program=str(not_exec)), nursery)
    assert missing.value.program == "/no/such/meshtrio-prog"
    assert isinstance(missing.value, OSError)
    assert "/no/such/meshtrio-prog" in str(missing.value)
    assert "No such file" in missing.value.reason
    assert "ermission" in denied.value.reason
    assert _open_fds() == before


@pytest.mark.processes
async def test_bad_arguments_raise_spawn_configuration_error(procs: Procs) -> None:
    """A negative tail_lines or text with a NUL byte is rejected before anything starts."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with pytest.raises(SpawnConfigurationError, match="tail_lines"):
                await procs.launch(sh("exit 0"), nursery, tail_lines=-1)
            with pytest.raises(SpawnConfigurationError, match="sh"):
                await procs.launch(sh("exit 0"), nursery, extra_env={"X": "a\0b"})


# -- the stop ladder ------------------------------------------------------------------

# The ready line is written inside `with`: a bare open().write() closes the file in a
# finalizer, where the SystemExit raised by the SIGUSR1 handler would be swallowed.
_ON_USR1_EXIT = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(0))\n"
    "with open(sys.argv[1], 'w') as f:\n    f.write('ready\\n')\n"
    "time.sleep(60)\n"
)

_IGNORE_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "with open(sys.argv[1], 'w') as f:\n    f.write('ready\\n')\n"
    "time.sleep(60)\n"
)


@pytest.mark.processes
async def test_ladder_graceful(procs: Procs, fifo: tuple[str, trio.lowlevel.FdStream]) -> None:
    """A process that exits when asked stops at the graceful step with its own exit code."""
    path, ready = fifo
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(py(_ON_USR1_EXIT, path), nursery)
            assert await read_line(ready) == "ready"

            async def request_stop() -> None:
                os.kill(h.pid, signal.SIGUSR1)

            info, step = await stop_ladder(h, request_stop=request_stop, grace=3, term_timeout=1)
    assert step == "graceful"
    assert info is not None
    assert info.clean


async def _raises() -> None:
    raise RuntimeError("cannot reach the proc")


async def _hangs() -> None:
    await trio.sleep_forever()


@pytest.mark.processes
@pytest.mark.parametrize("request_stop", [None, _raises, _hangs], ids=["none", "raises", "hangs"])
async def test_ladder_sigterm(procs: Procs, request_stop: Any) -> None:
    """A process deaf to the request stops at SIGTERM; a failing or hanging request is bounded."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh("exec sleep 60"), nursery)
            start = trio.current_time()
            info, step = await stop_ladder(h, request_stop=request_stop, grace=0.3, term_timeout=2)
            elapsed = trio.current_time() - start
    assert step == "sigterm"
    assert info is not None
    assert info.signal == signal.SIGTERM
    assert elapsed < 1.5
    if request_stop is _hangs:
        assert elapsed >= 0.3


@pytest.mark.processes
async def test_ladder_sigkill(procs: Procs, fifo: tuple[str, trio.lowlevel.FdStream]) -> None:
    """A process that ignores SIGTERM is SIGKILLed after grace and term_timeout."""
    path, ready = fifo
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(py(_IGNORE_TERM, path), nursery)
            assert await read_line(ready) == "ready"
            info, step = await stop_ladder(h, request_stop=_hangs, grace=0.2, term_timeout=0.3)
    assert step == "sigkill"
    assert info is not None
    assert info.signal == signal.SIGKILL


@pytest.mark.processes
async def test_ladder_kills_grandchildren(
    procs: Procs, fifo: tuple[str, trio.lowlevel.FdStream]
) -> None:
    """A grandchild that ignores SIGTERM is SIGKILLed with the group after the leader exits."""
    path, ready = fifo
    script = f"(trap '' TERM; echo ready > '{path}'; exec sleep 60) & sleep 60"
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh(script), nursery)
            assert await read_line(ready) == "ready"
            members = live_group_members(h.pgid)
            assert len(members) >= 2
            info, step = await stop_ladder(h, request_stop=None, grace=0.1, term_timeout=2)
            assert step == "sigterm"
            assert info is not None
            assert info.signal == signal.SIGTERM
            await wait_dead(members, timeout=1.0)
    assert live_group_members(h.pgid) == []


@pytest.mark.processes
async def test_ladder_on_exited_process(procs: Procs) -> None:
    """A process that already exited is reported as such without any signal step."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh("exit 2"), nursery)
            info = await h.wait()
            assert await stop_ladder(h, request_stop=_raises, grace=1, term_timeout=1) == (
                info,
                "exited",
            )


@pytest.mark.processes
async def test_ladder_completes_under_outer_cancellation(procs: Procs) -> None:
    """Shielded inside a cancelled nursery (watcher task cancelled too), the ladder finishes."""
    results: list[tuple[ExitInfo | None, str]] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(sh("echo bye >&2; exec sleep 60"), nursery)
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                results.append(await stop_ladder(h, request_stop=_hangs, grace=0.2, term_timeout=2))
            await trio.lowlevel.checkpoint()  # the outer cancellation is still delivered
            results.clear()
    assert len(results) == 1
    info, step = results[0]
    assert step == "sigterm"
    assert info is not None
    assert info.signal == signal.SIGTERM
    assert info.stderr_tail == ("bye",)


async def test_ladder_unkillable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process whose exit is never observed is reported as unkillable after every timeout."""

    class Stuck:
        pid = pgid = 0
        exited = False
        exit_info = None

        async def wait(self) -> ExitInfo:
            await trio.sleep_forever()
            raise AssertionError

        def signal_group(self, sig: int) -> bool:
            sent.append(sig)
            return True

    sent: list[int] = []
    with trio.fail_after(3):
        stuck: Any = Stuck()
        result = await stop_ladder(
            stuck, request_stop=None, grace=0.05, term_timeout=0.05, kill_timeout=0.05
        )
    assert result == (None, "unkillable")
    assert sent == [signal.SIGTERM, signal.SIGKILL]


# -- proc_bind ----------------------------------------------------------------------

BASE = BootstrapCommand(program="/bin/worker", args=("-m", "x"), env={"K": "V"}, arg0="w0")


@pytest.fixture
def bind_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Control platform, NUMA sysfs and installed tools seen by apply_proc_bind."""
    state: dict[str, Any] = {"linux": True, "numa": True, "tools": {"numactl", "taskset"}}
    monkeypatch.setattr(launcher, "_is_linux", lambda: state["linux"])
    monkeypatch.setattr(launcher, "_numa_sysfs_present", lambda: state["numa"])
    monkeypatch.setattr(shutil, "which", lambda t: f"/usr/bin/{t}" if t in state["tools"] else None)
    return state


@pytest.mark.parametrize(
    ("bind", "numa", "expected"),
    [
        (
            {"cpus": "0-1", "physcpubind": "2-3", "membind": "1", "cpunodebind": "0"},
            True,
            ("/usr/bin/numactl", "--cpunodebind=0", "--membind=1", "--physcpubind=2-3"),
        ),
        ({"membind": "0"}, True, ("/usr/bin/numactl", "--membind=0")),
        ({"cpus": "3"}, True, ("/usr/bin/taskset", "-c", "3")),
        ({"cpunodebind": "0", "cpus": "1"}, False, ("/usr/bin/taskset", "-c", "1")),
    ],
)
def test_proc_bind_wraps_command(
    bind_env: dict[str, Any], bind: dict[str, str], numa: bool, expected: tuple[str, ...]
) -> None:
    """numactl gets only the set flags in canonical order; else taskset -c; arg0 is dropped."""
    bind_env["numa"] = numa
    cmd, warning = apply_proc_bind(BASE, bind)
    assert warning is None
    assert (cmd.program, *cmd.args) == (*expected, "/bin/worker", "-m", "x")
    assert cmd.arg0 is None
    assert dict(cmd.env) == {"K": "V"}


@pytest.mark.parametrize("bind", [None, {}])
def test_proc_bind_absent_leaves_command(bind_env: dict[str, Any], bind: Any) -> None:
    """No binding returns the command unchanged and no warning."""
    assert apply_proc_bind(BASE, bind) == (BASE, None)


@pytest.mark.parametrize(
    ("change", "bind", "needle"),
    [
        ({"tools": set()}, {"membind": "0"}, "numactl is not installed"),
        ({"tools": {"numactl"}}, {"cpus": "0"}, "taskset is not installed"),
        ({"linux": False}, {"cpus": "0"}, "Linux"),
        ({"numa": False}, {"membind": "0"}, "no NUMA"),
    ],
)
def test_proc_bind_not_applicable_warns(
    bind_env: dict[str, Any], change: dict[str, Any], bind: dict[str, str], needle: str
) -> None:
    """A binding that cannot be applied leaves the command unchanged and says why."""
    bind_env.update(change)
    cmd, warning = apply_proc_bind(BASE, bind)
    assert cmd == BASE
    assert warning is not None
    assert needle in warning
    if "Linux" not in needle:
        assert "NOT applied" in warning


@pytest.mark.parametrize(
    ("bind", "match"),
    [
        ({"cpus": "0", "gpus": "1", "numa": "x"}, "'gpus', 'numa'"),
        ({"cpus": ""}, "cpus"),
        ({"membind": 3}, "membind"),
    ],
)
def test_proc_bind_rejects_bad_input(bind_env: dict[str, Any], bind: Any, match: str) -> None:
    """Unknown keys and empty or non-text values raise SpawnConfigurationError naming them."""
    with pytest.raises(SpawnConfigurationError, match=match):
        apply_proc_bind(BASE, bind)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("taskset") is None,
    reason="needs Linux taskset",
)
@pytest.mark.processes
async def test_launch_applies_taskset(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cpus binding really restricts the launched process to those CPUs."""
    monkeypatch.setattr(launcher, "_numa_sysfs_present", lambda: False)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(
                sh("grep Cpus_allowed_list /proc/self/status >&2"), nursery, proc_bind={"cpus": "0"}
            )
            info = await h.wait()
    assert info.code == 0
    assert info.stderr_tail == ("Cpus_allowed_list:\t0",)


# -- ExitInfo -------------------------------------------------------------------------


def test_exit_info_describe() -> None:
    """describe names the code or signal and appends the tail only when there is one."""
    assert ExitInfo(0, None).describe() == "exited with code 0"
    assert ExitInfo(0, None).clean
    assert ExitInfo(None, 15, ("x", "y")).describe() == (
        "killed by signal 15 (SIGTERM); stderr tail:\nx\ny"
    )
    assert not ExitInfo(None, 15).clean
    assert ExitInfo(None, 200).describe() == "killed by signal 200 (unknown signal)"


# -- pdeathsig ------------------------------------------------------------------------

_PDEATH_CHILD = (
    "import os, sys, time\n"
    "from meshtrio._host.pdeathsig import set_parent_death_signal\n"
    "assert set_parent_death_signal(os.getppid())\n"
    "with open(sys.argv[1], 'w') as f:\n    f.write(f'{os.getpid()}\\n')\n"
    "time.sleep(60)\n"
)


@pytest.mark.processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
async def test_pdeathsig_kills_child_when_parent_dies(
    procs: Procs, fifo: tuple[str, trio.lowlevel.FdStream]
) -> None:
    """A grandchild that armed the death signal dies when its parent is SIGKILLed alone."""
    path, ready = fifo
    cmd = BootstrapCommand(
        program="sh", args=("-c", '"$0" -c "$1" "$2" & wait', PY, _PDEATH_CHILD, path)
    )
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(cmd, nursery)
            grandchild = int(await read_line(ready))
            pidfd = os.pidfd_open(grandchild)
            try:
                os.kill(h.pid, signal.SIGKILL)  # the parent only, not the group
                assert (await h.wait()).signal == signal.SIGKILL
                await trio.lowlevel.wait_readable(pidfd)
            finally:
                os.close(pidfd)


@pytest.mark.processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
async def test_pdeathsig_exits_when_parent_already_gone(procs: Procs) -> None:
    """If the parent pid no longer matches after arming, the process exits at once with 0."""
    code = (
        "import os, sys\n"
        "from meshtrio._host.pdeathsig import set_parent_death_signal\n"
        "set_parent_death_signal(os.getppid() + 1)\n"
        "sys.exit(7)\n"
    )
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(py(code), nursery)
            info = await h.wait()
    assert info.clean, info.describe()


@pytest.mark.processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
async def test_proc_started_through_a_forking_wrapper_is_not_killed_by_the_parent_check(
    procs: Procs,
) -> None:
    """`meshtrio proc` run as a child of a wrapper (MESHTRIO_PARENT_PID names the wrapper's
    live parent) goes on to reach its host instead of exiting 0 at once: here the host is
    gone, so it fails with HostUnreachableError (exit 1)."""
    boot = ProcBootstrap(
        proc_id=ProcId.singleton("p"),
        host_addr=ChannelAddr.parse(closed_port()),
        create_rank=0,
        proc_mesh_id=ProcMeshId.singleton("m"),
        config={},
    )
    script = '"$0" -m meshtrio proc; status=$?; exit $status'  # sh forks python, no exec
    wrapper = BootstrapCommand(program="sh", args=("-c", script, PY))
    env = {
        "MESHTRIO_BOOTSTRAP": boot.to_env(),
        "MESHTRIO_PROC_TOKEN": "wrapper-test-token",
        "MESHTRIO_PARENT_PID": str(os.getpid()),
    }
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            h = await procs.launch(wrapper, nursery, extra_env=env)
            info = await h.wait()
    assert info.code == 1, info.describe()
    assert any("HostUnreachableError" in line for line in info.stderr_tail), info.describe()


def test_stderr_tail_and_its_description_are_size_capped() -> None:
    """A tail of long lines is cut to the newest TAIL_MAX_CHARS characters, and describe()
    quotes at most DESCRIBE_TAIL_CHARS of it, so state replies and messages stay small."""
    from meshtrio._host import launcher

    lines = [f"{i:05d}" + "x" * 3000 for i in range(100)]
    kept = launcher._capped(lines)
    assert kept[-1] == lines[-1]
    assert sum(len(line) + 1 for line in kept) <= launcher.TAIL_MAX_CHARS
    assert len(kept) < len(lines)
    text = ExitInfo(code=1, signal=None, stderr_tail=kept).describe()
    assert len(text) < launcher.DESCRIBE_TAIL_CHARS + 100
    assert text.endswith(lines[-1][-50:])
