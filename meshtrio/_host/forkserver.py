"""A host agent's fork server: its zygote (:mod:`meshtrio._zygote`), seen from the host.

:class:`ForkServer` runs as a task of the host agent (:meth:`ForkServer.run`): it starts the
zygote, reads its control socket, and restarts it when it dies. The launcher asks it for a
proc with :meth:`ForkServer.fork`; the answer is a :class:`ForkedChild` (which
:class:`~meshtrio._host.launcher.ProcessHandle` drives like a ``Popen``), or None, and then the
launcher starts the proc cold.

It also holds the control protocol both sides speak (JSON messages on a ``SOCK_SEQPACKET``
pair, descriptors as ``SCM_RIGHTS``) and the preload helpers.

Invariants owned here:

* FS-1 (a forked proc is a proc): a :class:`ForkedChild` leads its own process group (signals
  go to it: the same stop ladder), its exit is seen through a pidfd and its return code is
  the one its zygote reaped (``Popen`` convention), the same statuses follow from it.
* FS-2 (never stuck on the zygote): :meth:`ForkServer.fork` returns None (start cold) when the
  zygote is not running, refuses (ZY-1, a failed preload), does not take the request and
  answer it within :data:`FORK_TIMEOUT` (sending included: a zygote that stopped reading
  fills its socket; a zygote that missed the bound is killed, and FS-3 starts a new one), or
  dies; it waits for a zygote that is still starting (at most its start bound), as that is no
  slower than a cold start. A fork asking for preload modules this zygote has not imported
  yet gets :data:`START_TIMEOUT` (a new zygote has imported only the host's own).
* FS-3 (supervised): a zygote that dies is restarted after a pause (doubling from
  :data:`RESTART_PAUSE` to :data:`MAX_RESTART_PAUSE`); procs it forked keep running, and
  their exit is still seen (pidfd). When :meth:`run` ends the zygote is killed and reaped.
  A killed zygote that has not exited within :data:`REAP_TIMEOUT` is not waited for longer:
  it is reaped when the next one starts or when :meth:`run` ends, and one still not gone then
  is left to ``subprocess``'s own reaping (at the next ``Popen``), never dropped unreaped.
* FS-4 (dies with the host): each forked proc gets a lifeline pipe whose writing end only the
  host holds, closed once the proc exited (ZY-3).
* FS-5 (never a stranger's group): the host is not a forked proc's parent, so its pid may be
  reaped (by its zygote, or by init once orphaned) and reused at any time after it exited.
  The host signals a forked proc's process group only while the proc's pidfd says its leader
  has not exited (an unreaped pid, and the group named after it, cannot be reused), and after
  that the leader alone through ``pidfd_send_signal``. Not promised: processes left in the
  group after its leader exited are not signalled by the host (a cold proc's are, by the stop
  ladder's last SIGKILL); and a leader that exits, is reaped and has its pid reused by a new
  group leader in the instant between the pidfd check and ``killpg`` (a pid wrap-around
  within microseconds) would be hit.
* FS-6 (no pidfds, no zygote): where ``pidfd_open`` is missing (Linux before 5.3, or a
  Python without it), :meth:`ForkServer.run` starts no zygote and logs one warning; every
  proc starts cold (:meth:`ForkServer.fork` returns None at once).
* FS-7 (an honest size bound): a control message is at most :data:`MAX_MESSAGE` bytes, a
  size the control sockets can carry (:data:`SOCKET_BUFFER`); a fork request above it is not
  sent: its proc starts cold, with a warning and a ``fork_refused`` event saying why. Each
  side receives a message into a buffer of its own size (the kernel is asked first), not
  the maximum; a larger message received is dropped. Not promised: a ``net.core.wmem_max``
  set below the kernel's default can make smaller requests fail (EMSGSIZE: cold, warned).

Not promised: the return code of a forked proc that exits after its zygote died is known
only when this process is its reaper (a child subreaper); otherwise its exit is reported
with an unknown status (``ExitInfo`` code and signal None).
"""

from __future__ import annotations

import array
import contextlib
import errno
import importlib
import itertools
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trio

from meshtrio._contract import PARENT_PID_ENV, TOKEN_ENV

__all__ = [
    "FORK_TIMEOUT",
    "GO_AHEAD",
    "MAX_FDS",
    "MAX_MESSAGE",
    "SOCKET_BUFFER",
    "ForkServer",
    "ForkedChild",
    "control_socketpair",
    "decode_message",
    "import_preload",
    "json_bytes",
    "parse_preload",
    "pidfd_exited",
    "pidfd_supported",
    "receive_buffer_size",
    "received",
    "recv_message",
    "rights",
    "send_message",
    "signal_forked",
    "thread_count",
]

log = logging.getLogger("meshtrio._host")

FORK_TIMEOUT = 5.0
"""Seconds a fork request may take before the proc is started cold instead (a request that
asks for preload modules the zygote has not imported yet gets :data:`START_TIMEOUT`: a cold
proc would import them too)."""

START_TIMEOUT = 60.0
"""Seconds a zygote has to say ready."""

RESTART_PAUSE = 0.5
MAX_RESTART_PAUSE = 30.0

REAP_TIMEOUT = 5.0
"""Seconds to wait for a killed zygote to exit; one that takes longer is reaped later (FS-3)."""


MAX_MESSAGE = 256 * 1024
"""The largest control message either side sends or accepts (FS-7; a fork request carries the
proc's whole environment: a larger one starts its proc cold)."""

SOCKET_BUFFER = MAX_MESSAGE + 64 * 1024
"""``SO_SNDBUF``/``SO_RCVBUF`` asked for on the control sockets. The kernel caps it at
``net.core.wmem_max`` (212992 by default) and doubles it, so even the default gives room for a
:data:`MAX_MESSAGE` message (a ``SOCK_SEQPACKET`` message must fit the sender's buffer)."""

_PEEK = socket.MSG_PEEK | socket.MSG_TRUNC

GO_AHEAD = b"!"
"""What the host writes on a forked child's lifeline once it has the child's pid (ZY-6)."""

MAX_FDS = 3
"""Descriptors a message may carry (a fork request: stdout, stderr, lifeline)."""

_ANCILLARY = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)


def json_bytes(message: dict[str, Any]) -> bytes:
    """The wire form of one control message."""
    return json.dumps(message, separators=(",", ":")).encode()


def rights(fds: Sequence[int]) -> tuple[int, int, bytes]:
    """The ``SCM_RIGHTS`` ancillary item carrying ``fds``."""
    return (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())


def send_message(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """Send one JSON message (blocking), with ``fds`` as ``SCM_RIGHTS``."""
    sock.sendmsg([json_bytes(message)], [rights(fds)] if fds else [])


def decode_message(data: bytes, ancdata: list[tuple[int, int, bytes]]) -> tuple[Any, list[int]]:
    """The JSON value and descriptors of one received message (descriptors are returned even
    when the body does not decode, so the caller can close them)."""
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - (len(payload) % arr.itemsize)])
            fds.extend(arr)
    try:
        return json.loads(data), fds
    except ValueError:
        return None, fds


def control_socketpair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of control sockets, with room for a :data:`MAX_MESSAGE` message."""
    pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in pair:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    return pair


def receive_buffer_size(size: int) -> int:
    """How much to receive for a message the kernel says has ``size`` bytes (FS-7: its own
    size, not the maximum; one byte for an end of stream or a message too large, which is
    then cut short and dropped)."""
    return size if 0 < size <= MAX_MESSAGE else 1


def received(
    size: int, data: bytes, ancdata: list[tuple[int, int, bytes]]
) -> tuple[Any, list[int]] | None:
    """The message in ``data`` (None at end of stream; ``(None, [])`` for one too large)."""
    msg, fds = decode_message(data, ancdata)
    if not data or size > MAX_MESSAGE:
        for fd in fds:
            os.close(fd)
        return None if not data else (None, [])
    return msg, fds


def recv_message(sock: socket.socket) -> tuple[Any, list[int]] | None:
    """Receive one message (blocking); None at end of stream; ``(None, [])`` for a message
    larger than :data:`MAX_MESSAGE` (dropped, its descriptors closed)."""
    size = sock.recv_into(bytearray(1), 1, _PEEK)
    data, ancdata, _flags, _addr = sock.recvmsg(receive_buffer_size(size), _ANCILLARY)
    return received(size, data, ancdata)


def pidfd_supported() -> bool:
    """True if this kernel and Python have what a fork server needs (FS-6): ``pidfd_open``
    (Linux 5.3), ``pidfd_send_signal`` and ``waitid(P_PIDFD)`` (5.4). Only a missing call
    says no: a transient failure (``EMFILE``) does not turn the fork server off for good."""
    if not hasattr(signal, "pidfd_send_signal") or not hasattr(os, "P_PIDFD"):
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except AttributeError:
        return False
    except OSError as exc:
        return exc.errno not in (errno.ENOSYS, errno.EPERM)  # EPERM: a seccomp filter
    os.close(fd)
    return True


def pidfd_exited(pidfd: int) -> bool:
    """True once the process ``pidfd`` refers to has exited (its pidfd is readable)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def signal_forked(pid: int, pidfd: int, sig: int) -> bool:
    """FS-5: send ``sig`` to a forked proc's process group while its leader has not exited
    (until then its pid, and so its group id, cannot name anything else), and after that to
    the leader alone, through its pidfd (which never names another process).

    Returns:
        False if nothing was signalled.
    """
    if not pidfd_exited(pidfd):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
            return True
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except OSError:
        return False
    return True


def thread_count() -> int:
    """Threads in this process, C threads included (1 where ``/proc`` is missing)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def parse_preload(text: str) -> list[str]:
    """Module names from ``proc_preload`` text (comma or space separated)."""
    return [name for name in text.replace(",", " ").split() if name]


def import_preload(names: Sequence[str]) -> None:
    """Import each module (once: an imported module is not imported again).

    Raises:
        ImportError (or whatever the module raises): the first module that fails.
    """
    for name in names:
        if name not in sys.modules:
            importlib.import_module(name)


class ForkedChild:
    """A proc forked by the zygote: the ``Popen``-like part a ProcessHandle drives (FS-1)."""

    def __init__(self, pid: int, pidfd: int, lifeline: int) -> None:
        self.pid = pid
        self.pidfd: int | None = pidfd
        self.returncode: int | None = None
        self.orphaned = False
        self._lifeline: int | None = lifeline
        self._changed = trio.Event()

    def poll(self) -> int | None:
        """The return code once known."""
        return self.returncode

    def reported(self, code: int) -> None:
        """The zygote reaped it."""
        self.returncode = code
        self._changed.set()

    def orphan(self) -> None:
        """Its zygote is gone: its exit is now watched through the pidfd alone."""
        self.orphaned = True
        self._changed.set()

    async def wait_exit(self) -> int | None:
        """Wait until it exited; its return code, or None when nobody could tell it."""
        while self.returncode is None and not self.orphaned:
            changed = self._changed
            await changed.wait()
            if changed is self._changed:
                self._changed = trio.Event()
        if self.returncode is None and self.pidfd is not None:
            await trio.lowlevel.wait_readable(self.pidfd)
            with contextlib.suppress(ChildProcessError, OSError):
                # Ours when this process is the subreaper it was re-parented to.
                done = os.waitid(  # noqa: ASYNC222 (WNOHANG, and it has exited)
                    os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG
                )
                if done is not None:
                    self.returncode = (
                        -done.si_status if done.si_code != os.CLD_EXITED else done.si_status
                    )
        return self.returncode

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to its process group, or to it alone once it exited (FS-5).

        Returns:
            False if nothing was signalled (it exited and was reaped, or was closed).
        """
        if self.pidfd is None:
            return False
        return signal_forked(self.pid, self.pidfd, sig)

    def close(self) -> None:
        """Drop the pidfd and the lifeline (only once it exited: closing the lifeline kills
        it, ZY-3)."""
        if self.pidfd is not None:
            fd, self.pidfd = self.pidfd, None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)
        if self._lifeline is not None:
            fd, self._lifeline = self._lifeline, None
            os.close(fd)


async def _reaped(popen: subprocess.Popen[bytes]) -> None:
    """Wait until ``popen`` exited, and reap it."""
    pidfd = os.pidfd_open(popen.pid)
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        trio.lowlevel.notify_closing(pidfd)
        os.close(pidfd)
    popen.wait()  # it has exited: this only reaps


_NEVER_REAPED: list[subprocess.Popen[bytes]] = []
"""Killed zygotes nothing could reap (only where ``subprocess`` keeps no list of its own)."""


class _Pending:
    """One fork request waiting for its reply."""

    def __init__(self, lifeline: int) -> None:
        self.done = trio.Event()
        self.reply: dict[str, Any] | None = None
        self.lifeline: int | None = lifeline  # handed to the child once forked
        self.child: ForkedChild | None = None

    def give_up(self) -> None:
        """The caller goes cold or away: no proc of this request may be left running."""
        self.done.set()
        if self.child is not None:
            self.child.signal_group(signal.SIGKILL)
            self.child.close()
            self.child = None
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None


class ForkServer:
    """The zygote of one host agent (see the module docstring).

    Args:
        preload: modules the zygote imports at start (``proc_preload`` of the host).
        env: the environment the zygote starts with (default: this process's, less the
            client token).
        on_event: called with ``(kind, detail)`` when a zygote is ready (``fork_server``),
            dies (``fork_server_died``) or refuses a fork (``fork_refused``); the host records
            them as lifecycle events.
    """

    def __init__(
        self,
        preload: str = "",
        env: Mapping[str, str] | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.preload = preload
        self._on_event = on_event
        base = dict(os.environ if env is None else env)
        base.pop(TOKEN_ENV, None)  # HA-7: the zygote is a proc's ancestor, never the client's
        base[PARENT_PID_ENV] = str(os.getpid())
        self._env = base
        self._sock: trio.socket.SocketType | None = None
        self._send_lock = trio.Lock()
        self._ready = trio.Event()
        self._stopped = False
        self._pending: dict[int, _Pending] = {}
        self._children: dict[int, ForkedChild] = {}
        self._unreaped: list[subprocess.Popen[bytes]] = []  # killed, slow to exit (FS-3)
        self._ids = itertools.count(1)
        self._preloaded = set(parse_preload(preload))
        self.pid: int | None = None
        self.starts = 0
        """How many zygotes were started (for tests and info)."""

    def _event(self, kind: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event(kind, detail)

    @property
    def ready(self) -> bool:
        """True while a zygote is up and serving."""
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        """Return once a zygote is serving (for tests)."""
        await self._ready.wait()

    # -- running the zygote (FS-3) --------------------------------------------------------
    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the zygote and keep one running until cancelled; then kill and reap it.
        Without pidfds (FS-6), start none: every proc starts cold."""
        task_status.started()
        if not pidfd_supported():
            self._stopped = True
            log.warning(
                "this system has no pidfd_open (Linux 5.3 or later is needed): the fork"
                " server is off and procs start cold"
            )
            self._event("fork_server_off", "no pidfd_open")
            await trio.sleep_forever()
        pause = RESTART_PAUSE
        try:
            while True:
                served = await self._run_once()
                pause = RESTART_PAUSE if served else min(pause * 2, MAX_RESTART_PAUSE)
                await trio.sleep(pause)
        finally:
            self._stopped = True
            self._reap_leftovers(last=True)

    def _reap_leftovers(self, *, last: bool = False) -> None:
        """Reap killed zygotes that were slow to exit (FS-3); with ``last``, hand the ones
        still not gone to ``subprocess``, which reaps them at its next ``Popen`` (what a
        dropped ``Popen`` does, without its ResourceWarning)."""
        self._unreaped = [popen for popen in self._unreaped if popen.poll() is None]
        if last and self._unreaped:
            active = getattr(subprocess, "_active", None)
            for popen in self._unreaped:
                log.warning("the fork server (pid %d) was killed but has not exited", popen.pid)
                if isinstance(active, list):
                    active.append(popen)
                else:  # no such list here: keep the object (and its pid) alive for good
                    _NEVER_REAPED.append(popen)
            self._unreaped = []

    async def _run_once(self) -> bool:
        """Run one zygote until it dies; True if it got as far as serving."""
        self._reap_leftovers()
        self._preloaded = set(parse_preload(self.preload))  # what a new zygote has imported
        ours, theirs = control_socketpair()
        try:
            # Forked from the trio thread, like every proc (PR_SET_PDEATHSIG, see launcher).
            popen = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "meshtrio._zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
                process_group=0,
                env={**self._env, "MESHTRIO_PROC_PRELOAD": self.preload},
            )
        except OSError as exc:
            log.warning("cannot start the fork server: %s", exc)
            ours.close()
            return False
        finally:
            theirs.close()
        self.starts += 1
        self.pid = popen.pid
        sock = trio.socket.from_stdlib_socket(ours)
        served = False
        try:
            with trio.move_on_after(START_TIMEOUT):
                first = await self._recv(sock)
                served = first is not None and first[0].get("op") == "ready"
            if served:
                self._sock = sock
                self._ready.set()
                self._event("fork_server", f"pid {popen.pid}")
                while True:
                    received = await self._recv(sock)
                    if received is None:
                        break
                    self._dispatch(*received)
                log.warning("the fork server (pid %d) died; restarting it", popen.pid)
                self._event("fork_server_died", f"pid {popen.pid}")
            else:
                log.warning("the fork server did not start; procs start cold meanwhile")
        finally:
            was, self._ready = self._ready, trio.Event()
            was.set()  # wakes spawns waiting for a zygote that never came up: they go cold
            self._sock = None
            sock.close()
            for pending in self._pending.values():
                pending.done.set()  # no reply: they start cold (FS-2)
            self._pending.clear()
            for child in self._children.values():
                child.orphan()
            self._children.clear()
            with contextlib.suppress(OSError):
                os.kill(popen.pid, signal.SIGKILL)
            with trio.CancelScope(shield=True), trio.move_on_after(REAP_TIMEOUT):
                await _reaped(popen)
            if popen.poll() is None:  # FS-3: reaped later, never dropped unreaped
                self._unreaped.append(popen)
            self.pid = None
        return served

    async def _recv(self, sock: trio.socket.SocketType) -> tuple[dict[str, Any], list[int]] | None:
        size = await sock.recv_into(bytearray(1), 1, _PEEK)
        data, ancdata, _flags, _addr = await sock.recvmsg(receive_buffer_size(size), _ANCILLARY)
        got = received(size, data, ancdata)
        if got is None:
            return None
        msg, fds = got
        if not isinstance(msg, dict):
            for fd in fds:
                os.close(fd)
            return {}, []
        return msg, fds

    def _dispatch(self, msg: dict[str, Any], fds: list[int]) -> None:
        op, given, rid = msg.get("op"), msg.get("pid"), msg.get("id")
        # Only a pid > 0 names a child (killpg(0) would signal the host's own group).
        pid: int = given if type(given) is int and given > 0 else 0
        pid_ok = pid > 0
        if op == "exit":
            for fd in fds:
                os.close(fd)
            child = self._children.pop(pid, None) if pid_ok else None
            if child is not None and type(msg.get("code")) is int:
                child.reported(msg["code"])
            return
        pending = self._pending.get(rid) if type(rid) is int else None
        if op == "forked" and pid_ok and len(fds) == 1:
            if pending is None or pending.done.is_set():  # its caller gave up: no orphan
                signal_forked(pid, fds[0], signal.SIGKILL)  # FS-5: it may be reaped already
                os.close(fds[0])
                return
            # Registered here, not in fork(): its exit report may be the very next message.
            assert pending.lifeline is not None
            with contextlib.suppress(OSError):  # EPIPE: it died already (its exit says so)
                os.write(pending.lifeline, GO_AHEAD)  # ZY-6: known now, it may run
            child = ForkedChild(pid, fds[0], pending.lifeline)
            pending.lifeline = None
            self._children[pid] = child
            pending.child = child
        else:
            for fd in fds:
                os.close(fd)
        if pending is not None:
            pending.reply = msg
            pending.done.set()

    # -- forking (FS-2) -------------------------------------------------------------------
    async def fork(
        self, env: Mapping[str, str], stdout: int, stderr: int, preload: Sequence[str] = ()
    ) -> ForkedChild | None:
        """Ask the zygote for a proc with environment ``env`` and these stdout/stderr
        descriptors (the caller keeps and closes its own copies).

        Returns:
            The forked proc, or None: start it cold (FS-2).
        """
        if not self._ready.is_set() and not self._stopped and self.pid is not None:
            with trio.move_on_after(START_TIMEOUT):
                await self._ready.wait()
        sock = self._sock
        if sock is None or not self._ready.is_set():
            return None
        request_id = next(self._ids)
        body = json_bytes(
            {"op": "fork", "id": request_id, "env": dict(env), "preload": list(preload)}
        )
        if len(body) > MAX_MESSAGE:  # FS-7: never sent (it could not be)
            reason = (
                f"its fork request is {len(body)} bytes, more than the fork server takes"
                f" ({MAX_MESSAGE}): its environment is too large"
            )
            log.warning("starting a proc cold: %s", reason)
            self._event("fork_refused", reason)
            return None
        life_r, life_w = os.pipe2(os.O_CLOEXEC)
        pending = _Pending(life_w)
        self._pending[request_id] = pending
        slow = not self._preloaded.issuperset(preload)  # it imports them first
        bound = START_TIMEOUT if slow else FORK_TIMEOUT
        zygote = self.pid
        try:
            # The bound covers sending too: a zygote that stopped reading fills its socket.
            with trio.move_on_after(bound) as waiting:
                try:
                    async with self._send_lock:
                        await sock.sendmsg([body], [rights([stdout, stderr, life_r])])
                finally:
                    os.close(life_r)
                await pending.done.wait()
        except OSError as exc:  # the zygote went away under us: cold (FS-2)
            if exc.errno == errno.EMSGSIZE:  # a net.core.wmem_max below what FS-7 needs
                log.warning("cannot send a fork request (%s); starting the proc cold", exc)
        except BaseException:
            pending.give_up()
            raise
        finally:
            self._pending.pop(request_id, None)
        if waiting.cancelled_caught and not pending.done.is_set() and zygote == self.pid:
            # Alive but stuck (it would cost every later spawn the bound): FS-3 replaces it.
            log.warning(
                "the fork server (pid %s) did not fork within %gs; restarting it", zygote, bound
            )
            if zygote is not None:
                with contextlib.suppress(OSError):
                    os.kill(zygote, signal.SIGKILL)
        child, reply = pending.child, pending.reply
        if child is not None:
            self._preloaded.update(preload)
        if child is None:
            pending.give_up()
            if reply is not None and reply.get("op") == "refused":
                reason = str(reply.get("reason"))[:500]
                log.warning("the fork server refused a proc (%s); starting it cold", reason)
                self._event("fork_refused", reason)
            return None
        return child
