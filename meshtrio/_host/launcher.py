"""Start, watch and stop the OS processes a host agent runs (spec 7.3, 7.5, 7.7, 5.5).

Holds :func:`launch` (one :class:`ProcessHandle` per process), :class:`ExitInfo` (how a process
ended), :func:`stop_ladder` (graceful, SIGTERM, SIGKILL) and :func:`apply_proc_bind`.

Invariants owned here:

* Processes are forked from the calling trio thread, never from a worker thread, because
  ``PR_SET_PDEATHSIG`` fires when the *forking thread* exits (see :mod:`.pdeathsig`).
* Each process leads its own process group (pgid == pid); signals go to the whole group.
  This holds for a proc the host's fork server forked too (FS-1, :mod:`.forkserver`): it gets
  the same environment and pipes, and its handle the same exit watching and stop ladder.
* A process is reaped exactly once and its :class:`ExitInfo` is computed exactly once; every
  waiter gets the same object. Whoever waits first does the work (the watcher task, or any
  caller of :meth:`ProcessHandle.wait` once the watcher was cancelled), serialised by a lock,
  so a cancelled watcher never leaves waiters hanging.
* The stderr pipe, and the stdout pipe when stdout is captured (``stdout_fd`` None), are
  always drained (even with ``tail_lines=0`` and no ``on_line``) so a chatty child never
  blocks on a full pipe; reading stops at EOF, or a short bounded time after the process
  exited when a grandchild still holds the pipe open.
* LG-1 (lines, in order, before the exit): every complete line a process writes to a
  captured pipe is handed to ``on_line(stream, text)`` once, in the order written on that
  stream, cut to :data:`MAX_LINE_CHARS` characters (undecodable bytes replaced), from the
  watcher task; a last line without a newline is handed over at EOF. All of them are handed
  over before :meth:`ProcessHandle.wait` returns. ``on_line`` must not block (it is sync) and
  must not raise. Not promised: any order *between* stdout and stderr (two pipes), or lines
  written after the drain timeout by a grandchild still holding a pipe.
* Watching stderr (:meth:`ProcessHandle.watch_stderr`, for a stack dump the process writes
  on a signal, ST-3) sees every complete line that arrives while the watch is open, up to
  its bound, whatever ``tail_lines`` is; the tail is kept as before.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence

import attrs
import trio

from meshtrio._bootstrap import BootstrapCommand
from meshtrio._contract import NUMA_BIND_KEYS, check_proc_bind
from meshtrio._errors import LaunchError, SpawnConfigurationError
from meshtrio._host.forkserver import ForkedChild, ForkServer
from meshtrio._util import is_int

__all__ = [
    "MAX_LINE_CHARS",
    "STDERR_DRAIN_TIMEOUT",
    "ExitInfo",
    "LineSink",
    "ProcessHandle",
    "apply_proc_bind",
    "launch",
    "stop_ladder",
]

logger = logging.getLogger(__name__)

MAX_LINE_CHARS = 4096
"""Longer stderr lines are cut to this many characters in the tail."""

STDERR_DRAIN_TIMEOUT = 0.5
"""Seconds to keep reading stderr after the process exited (a grandchild may hold it open)."""

WATCH_MAX_LINES = 5000
"""At most this many lines are collected by one :meth:`ProcessHandle.watch_stderr`."""

TAIL_MAX_CHARS = 16 * 1024
"""At most this many characters of stderr tail are kept per process (the newest lines)."""

DESCRIBE_TAIL_CHARS = 2048
"""At most this many characters of the tail go into :meth:`ExitInfo.describe`."""

LineSink = Callable[[str, str], None]
"""``on_line(stream, text)``: called with ``"stdout"`` or ``"stderr"`` and one line (LG-1)."""

_POLL_INTERVAL = 0.05
_READ_SIZE = 65536
_MAX_LINE_BYTES = MAX_LINE_CHARS * 4  # enough bytes for MAX_LINE_CHARS UTF-8 characters


def _capped(lines: Iterable[str]) -> tuple[str, ...]:
    """The newest lines whose total length stays within :data:`TAIL_MAX_CHARS`."""
    kept: list[str] = []
    total = 0
    for line in reversed(list(lines)):
        total += len(line) + 1
        if total > TAIL_MAX_CHARS:
            break
        kept.append(line)
    return tuple(reversed(kept))


@attrs.frozen
class ExitInfo:
    """How a process ended.

    Attributes:
        code: the exit code when it exited, else None.
        signal: the signal number when a signal killed it, else None.
        stderr_tail: the last lines it wrote to stderr (at most ``tail_lines``).
    """

    code: int | None
    signal: int | None
    stderr_tail: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """True if the process exited with code 0."""
        return self.code == 0

    def describe(self) -> str:
        """How it ended (``exited with code 1``, ``killed by signal 9 (SIGKILL)``); add the tail."""
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = "unknown signal"
            text = f"killed by signal {self.signal} ({name})"
        elif self.code is not None:
            text = f"exited with code {self.code}"
        else:
            text = "exited with unknown status"
        if self.stderr_tail:
            tail = "\n".join(self.stderr_tail)
            if len(tail) > DESCRIBE_TAIL_CHARS:  # keep messages short: the end matters most
                tail = "..." + tail[-DESCRIBE_TAIL_CHARS:]
            text += "; stderr tail:\n" + tail
        return text


class ProcessHandle:
    """One launched OS process, leader of its own process group.

    Attributes:
        pid: the process id.
        pgid: the process group id (equal to ``pid``).
        program: the program that was run (after ``proc_bind``).
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes] | ForkedChild,
        *,
        stderr_fd: int,
        tail_lines: int,
        program: str,
        stdout_fd: int | None = None,
        on_line: LineSink | None = None,
    ) -> None:
        self.pid = popen.pid
        self.pgid = popen.pid
        self.program = program
        self._popen = popen
        self._returncode: int | None = None
        self._reaped = False
        self._exit_info: ExitInfo | None = None
        self._exit_lock = trio.Lock()
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._on_line = on_line
        self._pipes = [_Pipe("stderr", stderr_fd)]
        if stdout_fd is not None:
            self._pipes.append(_Pipe("stdout", stdout_fd))
        self._watchers: list[tuple[list[str], int]] = []
        self._line_pushed = trio.Event()
        self._pidfd: int | None = None
        if not isinstance(popen, ForkedChild):  # a forked proc holds its own pidfd (FS-1)
            try:
                self._pidfd = os.pidfd_open(popen.pid)
            except (AttributeError, OSError):
                self._pidfd = None

    @property
    def forked(self) -> bool:
        """True if the fork server started this process (not a fresh program)."""
        return isinstance(self._popen, ForkedChild)

    def __repr__(self) -> str:
        state = "running" if self._exit_info is None else self._exit_info.describe().split(";")[0]
        return f"<ProcessHandle pid={self.pid} {self.program!r} {state}>"

    @property
    def exited(self) -> bool:
        """True once the process was reaped and its :class:`ExitInfo` is known."""
        return self._exit_info is not None

    @property
    def exit_info(self) -> ExitInfo | None:
        """How the process ended, or None while it runs (or is not yet reaped)."""
        return self._exit_info

    def stderr_tail(self) -> tuple[str, ...]:
        """The complete stderr lines kept so far (at most ``tail_lines``)."""
        return tuple(self._tail)

    @contextlib.contextmanager
    def watch_stderr(self, max_lines: int = WATCH_MAX_LINES) -> Iterator[list[str]]:
        """Collect every complete stderr line that arrives while the block runs (at most
        ``max_lines``, the first ones) into the list it yields; the tail is kept as usual.
        :meth:`wait_stderr` wakes up on each new line."""
        entry: tuple[list[str], int] = ([], max_lines)
        self._watchers.append(entry)
        try:
            yield entry[0]
        finally:
            self._watchers.remove(entry)

    @property
    def stderr_open(self) -> bool:
        """True until the process's stderr was read to its end (or given up on)."""
        return self._pipes[0].stream is not None

    async def wait_stderr(self) -> None:
        """Return once another complete stderr line arrived, or stderr was closed (at once
        when it already is)."""
        if not self.stderr_open:
            await trio.lowlevel.checkpoint()
            return
        await self._line_pushed.wait()

    async def wait(self) -> ExitInfo:
        """Wait until the process exited and return how; every caller gets the same object."""
        if self._exit_info is not None:
            await trio.lowlevel.checkpoint()
            return self._exit_info
        return await self._drive()

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the process group.

        Falls back to the process itself when the group is gone but the process is not yet
        reaped (it may have left the group).

        A forked proc is signalled as FS-5 says (its group only while its leader has not
        exited: its pid may be reaped and reused by others).

        Returns:
            False if neither the group nor the process could be signalled.
        """
        if isinstance(self._popen, ForkedChild):
            return self._popen.signal_group(sig)
        try:
            os.killpg(self.pgid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            pass
        if self._returncode is None and self._popen.returncode is None:
            try:
                os.kill(self.pid, sig)
                return True
            except (ProcessLookupError, PermissionError):
                pass
        return False

    async def stop(
        self, ask: Callable[[], Awaitable[object]], *, grace: float, kill_timeout: float
    ) -> tuple[ExitInfo | None, str]:
        """The :class:`~meshtrio._host.handle.ProcHandle` stop: :func:`stop_ladder` with
        ``ask`` as its graceful step (if it raises, SIGTERM at once rather than idling out the
        grace) and ``grace`` after SIGTERM too.

        Returns:
            ``(exit info, step)`` as :func:`stop_ladder` does.
        """

        async def ask_or_term() -> None:
            try:
                await ask()
            except Exception:
                # Nobody to ask: go straight to SIGTERM rather than idling out the grace.
                self.signal_group(signal.SIGTERM)

        return await stop_ladder(
            self,
            request_stop=ask_or_term,
            grace=grace,
            term_timeout=grace,
            kill_timeout=kill_timeout,
        )

    # -- exit watching ------------------------------------------------------------------

    async def _drive(self) -> ExitInfo:
        # One driver at a time; a cancelled driver leaves the state for the next one.
        async with self._exit_lock:
            if self._exit_info is None:
                async with trio.open_nursery() as local:
                    for pipe in self._pipes:
                        if pipe.stream is not None:
                            local.start_soon(self._pump, pipe)
                    await self._wait_reaped()
                    with trio.move_on_after(STDERR_DRAIN_TIMEOUT):
                        for pipe in self._pipes:
                            await pipe.eof.wait()
                    local.cancel_scope.cancel()
                self._finish()
        assert self._exit_info is not None
        return self._exit_info

    async def _wait_reaped(self) -> None:
        if isinstance(self._popen, ForkedChild):
            self._returncode = await self._popen.wait_exit()
            self._reaped = True
            return
        while self._returncode is None:
            if self._pidfd is not None:
                await trio.lowlevel.wait_readable(self._pidfd)
                self._returncode = self._popen.poll()
                if self._returncode is None:  # should not happen: fall back to polling
                    self._close_pidfd()
            else:
                self._returncode = self._popen.poll()
                if self._returncode is None:
                    await trio.sleep(_POLL_INTERVAL)

    def _finish(self) -> None:
        for pipe in self._pipes:
            self._close_pipe(pipe)
        self._close_pidfd()
        if isinstance(self._popen, ForkedChild):
            self._popen.close()
        rc = self._returncode
        assert rc is not None or self._reaped  # None: a forked proc whose status nobody saw
        code, sig = (None, None) if rc is None else (None, -rc) if rc < 0 else (rc, None)
        self._exit_info = ExitInfo(code=code, signal=sig, stderr_tail=_capped(self._tail))

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            fd, self._pidfd = self._pidfd, None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)

    # -- stdout and stderr (LG-1) ---------------------------------------------------------

    async def _pump(self, pipe: _Pipe) -> None:
        while pipe.stream is not None:
            try:
                data = await pipe.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self._close_pipe(pipe)
                return
            self._feed(pipe, data)

    def _feed(self, pipe: _Pipe, data: bytes) -> None:
        if self._on_line is None and (
            pipe.name != "stderr" or (self._tail.maxlen == 0 and not self._watchers)
        ):
            return  # nobody wants these lines: drained and dropped
        *lines, rest = data.split(b"\n")
        for line in lines:
            pipe.partial += line[: max(0, _MAX_LINE_BYTES - len(pipe.partial))]
            self._push_line(pipe)
        pipe.partial += rest[: max(0, _MAX_LINE_BYTES - len(pipe.partial))]

    def _push_line(self, pipe: _Pipe) -> None:
        text = pipe.partial.decode("utf-8", errors="replace").rstrip("\r")[:MAX_LINE_CHARS]
        pipe.partial.clear()
        if pipe.name == "stderr":
            self._tail.append(text)
            for lines, limit in self._watchers:
                if len(lines) < limit:
                    lines.append(text)
            self._wake_watchers()
        if self._on_line is not None:
            try:
                self._on_line(pipe.name, text)
            except Exception:  # LG-1 says it must not raise; a bug there costs only lines
                logger.exception("log line sink for pid %d failed", self.pid)

    def _close_pipe(self, pipe: _Pipe) -> None:
        if pipe.stream is not None:
            stream, pipe.stream = pipe.stream, None
            if pipe.partial:
                self._push_line(pipe)
            stream.close()
            pipe.eof.set()
            if pipe.name == "stderr":
                self._wake_watchers()

    def _wake_watchers(self) -> None:
        self._line_pushed.set()
        self._line_pushed = trio.Event()


class _Pipe:
    """One captured output pipe of a process: its reading end and the line being built."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self.stream: trio.lowlevel.FdStream | None = trio.lowlevel.FdStream(fd)
        self.partial = bytearray()
        self.eof = trio.Event()


async def launch(
    command: BootstrapCommand,
    *,
    nursery: trio.Nursery,
    extra_env: Mapping[str, str] = {},
    drop_env: Sequence[str] = (),
    tail_lines: int = 100,
    proc_bind: Mapping[str, str] | None = None,
    stdout_fd: int | None = None,
    on_line: LineSink | None = None,
    fork_server: ForkServer | None = None,
    preload: Sequence[str] = (),
) -> ProcessHandle:
    """Start ``command`` as an OS process in its own process group.

    The environment is this process's, less ``drop_env``, updated with ``command.env`` and
    then ``extra_env``.
    stdin is ``/dev/null``; stderr is captured into a tail; stdout goes to ``stdout_fd`` if
    given, else it is captured too. Every captured line goes to ``on_line`` (LG-1). A watcher
    task started in ``nursery`` reaps the process and reads its pipes; it ends by itself
    shortly after the process exited.

    Args:
        command: what to run; ``argv[0]`` is ``command.arg0`` or the program.
        nursery: where the watcher task runs.
        extra_env: variables added after the command's own.
        drop_env: variables of this process not passed on (e.g. a secret the child must not
            hold).
        tail_lines: how many stderr lines to keep (0 keeps none; stderr is still drained).
        proc_bind: CPU/NUMA binding (see :func:`apply_proc_bind`); a binding that cannot be
            applied is logged as a warning and the process starts unbound.
        stdout_fd: a file descriptor for the child's stdout (default: a pipe, read like
            stderr); the caller keeps and closes its own copy.
        on_line: called with ``(stream, text)`` for every captured line (LG-1); None: the
            pipes are drained and only the stderr tail is kept.
        fork_server: if given and ``command`` is :meth:`BootstrapCommand.default` with no
            binding, the process is forked by this fork server (with the same environment)
            when it can; otherwise, or when it answers None, it starts cold (FS-2).
        preload: modules the fork server imports (once) before forking it.

    Returns:
        The handle of the running process.

    Raises:
        LaunchError: the program could not be started (missing, not executable, ...).
        SpawnConfigurationError: bad ``tail_lines``, ``proc_bind`` or environment text.
    """
    if not is_int(tail_lines) or tail_lines < 0:
        raise SpawnConfigurationError(f"tail_lines must be an int >= 0, got {tail_lines!r}")
    command, warning = apply_proc_bind(command, proc_bind)
    if warning is not None:
        logger.warning("%s", warning)
    env = {name: value for name, value in os.environ.items() if name not in drop_env}
    env.update(command.env)
    env.update(extra_env)
    argv = command.argv()
    await trio.lowlevel.checkpoint()
    read_fd, write_fd = os.pipe()
    out_read: int | None = None
    out_write = stdout_fd
    if stdout_fd is None:
        out_read, out_write = os.pipe()
    popen: subprocess.Popen[bytes] | ForkedChild | None = None
    try:
        if fork_server is not None and command == BootstrapCommand.default():
            assert out_write is not None
            popen = await fork_server.fork(env, out_write, write_fd, preload)
        if popen is None:
            # Forked from this (trio) thread on purpose, see the module docstring. A few ms.
            popen = subprocess.Popen(  # noqa: ASYNC220
                argv,
                executable=command.program,
                stdin=subprocess.DEVNULL,
                stdout=out_write,
                stderr=write_fd,
                close_fds=True,
                process_group=0,
                env=env,
            )
    except OSError as exc:
        _close(read_fd, out_read)
        reason = exc.strerror or str(exc)
        raise LaunchError(
            f"cannot start {command.program!r}: {reason}", program=command.program, reason=reason
        ) from exc
    except (ValueError, TypeError) as exc:
        _close(read_fd, out_read)
        raise SpawnConfigurationError(
            f"cannot start {command.program!r}: bad argument or environment text: {exc}"
        ) from exc
    except BaseException:
        _close(read_fd, out_read)  # cancelled while the fork server was asked
        raise
    finally:
        _close(write_fd, None if stdout_fd is not None else out_write)
    handle = ProcessHandle(
        popen,
        stderr_fd=read_fd,
        tail_lines=tail_lines,
        program=command.program,
        stdout_fd=out_read,
        on_line=on_line,
    )
    try:
        nursery.start_soon(handle._drive, name=f"meshtrio-watch-{popen.pid}")
    except BaseException:
        handle.signal_group(signal.SIGKILL)
        if isinstance(popen, ForkedChild):
            handle._reaped = True  # its zygote reaps it; its lifeline closes in _finish
        else:
            popen.wait()
            handle._returncode = popen.returncode
        handle._finish()
        raise
    return handle


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


async def stop_ladder(
    handle: ProcessHandle,
    *,
    request_stop: Callable[[], Awaitable[object]] | None,
    grace: float,
    term_timeout: float,
    kill_timeout: float = 5.0,
) -> tuple[ExitInfo | None, str]:
    """Stop a process: ask it, then SIGTERM its group, then SIGKILL its group.

    Every wait is bounded, so this is safe inside a shielded cancel scope. Once the process
    exited its group is SIGKILLed anyway so grandchildren left in it do not leak.

    Args:
        handle: the process.
        request_stop: asks the process to stop by itself (e.g. a StopAll message); None skips
            the graceful step. Exceptions from it are ignored.
        grace: seconds, from the start, for the graceful step (request and exit).
        term_timeout: seconds to wait after SIGTERM.
        kill_timeout: seconds to wait after SIGKILL.

    Returns:
        ``(exit info, step)`` where step is ``exited`` (it had already exited), ``graceful``,
        ``sigterm`` or ``sigkill``; or ``(None, "unkillable")`` if it outlived all of them.
    """
    deadline = trio.current_time() + grace
    step = "exited"
    if not handle.exited and request_stop is not None:
        step = "graceful"
        with trio.move_on_at(deadline):
            try:
                await request_stop()
            except Exception as exc:
                logger.debug("request_stop for pid %d failed: %r", handle.pid, exc)
            await handle.wait()
    for sig, timeout, name in (
        (signal.SIGTERM, term_timeout, "sigterm"),
        (signal.SIGKILL, kill_timeout, "sigkill"),
    ):
        if handle.exited:
            break
        step = name
        handle.signal_group(sig)
        with trio.move_on_after(timeout):
            await handle.wait()
    info = handle.exit_info
    if info is None:
        return None, "unkillable"
    if not handle.forked:  # FS-5: a forked proc's pid may be someone else's by now
        with contextlib.suppress(OSError):  # grandchildren left in the group
            os.killpg(handle.pgid, signal.SIGKILL)
    return info, step


def _is_linux() -> bool:
    return sys.platform.startswith("linux")


def _numa_sysfs_present() -> bool:
    return os.path.exists("/sys/devices/system/node/node0")


def apply_proc_bind(
    command: BootstrapCommand, bind: Mapping[str, str] | None
) -> tuple[BootstrapCommand, str | None]:
    """Wrap ``command`` in ``numactl`` or ``taskset`` for a CPU/NUMA binding (spec 7.5).

    With NUMA in sysfs and any of ``cpunodebind``, ``membind``, ``physcpubind`` set:
    ``numactl --cpunodebind=V --membind=V --physcpubind=V program args...`` (only the set
    flags, in that order). Otherwise, with ``cpus`` set: ``taskset -c CPUS program args...``.
    ``arg0`` is dropped when wrapping; the env is kept.

    Args:
        command: the command to wrap.
        bind: keys among ``cpunodebind``, ``membind``, ``physcpubind``, ``cpus``; None or
            empty means no binding.

    Returns:
        ``(command, warning)``: the warning (None if all is well) says why a requested
        binding was NOT applied (not Linux, tool missing, no NUMA); the command is then
        returned unchanged.

    Raises:
        SpawnConfigurationError: unknown keys, or values that are not non-empty text.
    """
    if not bind:
        return command, None
    check_proc_bind(bind)
    if not _is_linux():
        return command, f"proc_bind {dict(bind)} ignored: CPU/NUMA binding needs Linux"
    numa_flags = [f"--{k}={bind[k]}" for k in NUMA_BIND_KEYS if k in bind]
    if numa_flags and _numa_sysfs_present():
        tool, prefix = "numactl", numa_flags
    elif "cpus" in bind:
        tool, prefix = "taskset", ["-c", bind["cpus"]]
    else:
        return command, (
            f"proc_bind {dict(bind)} NOT applied: no NUMA nodes in "
            "/sys/devices/system/node and no 'cpus' key for taskset"
        )
    path = shutil.which(tool)
    if path is None:
        return command, (
            f"proc_bind {dict(bind)} NOT applied: {tool} is not installed (not found on PATH)"
        )
    wrapped = BootstrapCommand(
        program=path,
        args=(*prefix, command.program, *command.args),
        env=command.env,
        arg0=None,
    )
    return wrapped, None
