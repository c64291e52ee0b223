"""The zygote: a warm, single-threaded process that forks procs for its host agent (issue 13).

Run as ``python -m meshtrio._zygote FD`` by :mod:`meshtrio._host.forkserver`, with one end of
a ``SOCK_SEQPACKET`` socket pair as file descriptor :data:`CONTROL_FD`. It imports the proc
runtime (trio, the wire, the transport) and the preload modules once, arms its own
parent-death signal (it dies with its host), says ``ready``, then serves, never running a
Trio loop itself:

* ``fork`` (JSON, with three descriptors: the proc's stdout and stderr, and the reading end of
  its *lifeline* pipe) -> ``forked`` with the child's pid and a pidfd for it, or ``refused``
  with a reason (the host then starts that proc cold);
* when a child exits, ``exit`` with its pid and its return code (``Popen`` convention:
  negative for a signal).

The forked child sets up what a cold proc has (:func:`become_proc`) and runs ``python -m
meshtrio proc``'s own code with the bootstrap environment the host sent, the same one a cold
proc would get.

Invariants owned here:

* ZY-1 (one thread): the zygote forks only while it has exactly one thread (counted in
  ``/proc/self/task``, so threads started by C code count too); otherwise it refuses, and the
  host starts the proc cold and logs a warning. It never runs an event loop and holds no
  socket but its control socket.
* ZY-2 (a proc like a cold one): before running the proc code, a forked child leads its own
  process group; has stdin on ``/dev/null`` and stdout and stderr on the pipes its host reads
  (LG-1 holds for it); holds no other descriptor of the zygote's but its lifeline, which is
  close-on-exec as a cold proc's own descriptors are (a program the proc runs does not hold
  it; a child it forks without exec does); has
  exactly the environment the host sent (the cold proc's: its bootstrap payload, its own
  credential, ``MESHTRIO_*`` variables) with the config Env layer re-read from it; and has
  reseeded :mod:`random`.
* ZY-3 (dies with its host, not with the zygote): unless ``mesh_bootstrap_enable_pdeathsig``
  is off, a forked child is SIGKILLed by the kernel when the last copy of its lifeline's
  writing end closes, which only its host agent holds (``F_SETSIG``/``O_ASYNC`` on the
  reading end: the kernel signals the reader when the last writer goes). It exits at once
  (code 0) if that already happened while it started. The zygote itself dies with its host
  (``PR_SET_PDEATHSIG``); its death does not touch running procs.
* ZY-4 (preload once): a module named in ``proc_preload`` is imported in the zygote the
  first time it is asked for (at start for the host's own value, or with the first fork
  asking for it), never again per proc. A preload that fails to import makes the zygote
  refuse that fork (the cold proc then fails on the same import, with its traceback).
* ZY-5 (refuse, never die, on a failed fork): a fork request that ``os.fork`` or
  ``os.pidfd_open`` cannot serve (``EAGAIN``, ``ENOMEM``, ...) is refused with the error as
  its reason (the host starts that proc cold) and the zygote keeps serving; a child forked
  whose pidfd could not be had is killed and reaped before the refusal, so it never runs.
  (A host whose kernel has no ``pidfd_open`` at all does not start a zygote: FS-6.)
* ZY-6 (no proc the host does not know): a forked child runs nothing of the proc until its
  host has its pid and pidfd: it blocks reading its lifeline for :data:`GO_AHEAD`, which the
  host writes when the ``forked`` reply reaches it, and exits (code 0) if the lifeline
  closes first, which the host does for every fork it gives up on (its zygote died before
  replying, the bound passed, the caller went away). So a zygote dying between ``fork()`` and
  its reply never leaves a live unknown twin of the cold proc started instead, even with
  ``mesh_bootstrap_enable_pdeathsig`` off. Not promised: the twin's exit is not reported.

What a preloaded module must not do (fork safety): start threads (ZY-1 then refuses every
fork), open sockets or files it expects to use in procs (a child closes every inherited
descriptor), run or create an event loop, or hold locks. Not promised: interpreter start
options (``-X`` flags, ``PYTHONHASHSEED``, ``PYTHONUNBUFFERED``, ``sys.path`` from
``PYTHONPATH`` ...) and the working directory are the zygote's, from when it started, not
each spawn's; the hash secret is shared by every proc of a zygote; a
child's ``/proc/PID/cmdline`` is the zygote's.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import random
import select
import signal
import socket
import sys
import traceback
from typing import Any

from meshtrio._host.forkserver import (
    GO_AHEAD,
    MAX_FDS,
    import_preload,
    parse_preload,
    recv_message,
    send_message,
    thread_count,
)
from meshtrio._host.pdeathsig import set_parent_death_signal

__all__ = ["CONTROL_FD", "become_proc", "main"]

CONTROL_FD = 3
"""The zygote's control socket when its command line names none; in a forked child, the
lifeline."""

F_SETSIG = getattr(fcntl, "F_SETSIG", 10)
"""``fcntl`` command: which signal ``O_ASYNC`` sends (10 on Linux)."""


def _arm_lifeline(fd: int) -> None:
    """ZY-3: SIGKILL this process when the last writer of the pipe ``fd`` reads from goes; exit
    0 at once if it already went."""
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, F_SETSIG, int(signal.SIGKILL))
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    if poller.poll(0):  # its go-ahead was read (ZY-6): readiness now means the host is gone
        os._exit(0)


def _await_go_ahead(fd: int) -> None:
    """ZY-6: block until the host has this child's pid (:data:`GO_AHEAD` on the lifeline);
    exit at once if the host closes the lifeline instead (it never will have it)."""
    while True:
        try:
            data = os.read(fd, 1)
            break
        except InterruptedError:  # pragma: no cover (PEP 475 retries it already)
            continue
        except OSError:
            data = b""
            break
    if data != GO_AHEAD:
        os._exit(0)


def become_proc(env: dict[str, str], stdout: int, stderr: int, lifeline: int) -> int:
    """In a freshly forked child: set up what a cold proc has (ZY-2, ZY-3), then run ``python
    -m meshtrio proc``'s code. Returns its exit code."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass  # the zygote made it one already
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    os.dup2(lifeline, CONTROL_FD, inheritable=False)  # ZY-2: the proc's children lack it
    os.closerange(CONTROL_FD + 1, os.sysconf("SC_OPEN_MAX"))
    _await_go_ahead(CONTROL_FD)
    os.environ.clear()
    os.environ.update(env)
    from meshtrio import _config as config

    config.reload_env()
    if config.get(config.MESH_BOOTSTRAP_ENABLE_PDEATHSIG):
        _arm_lifeline(CONTROL_FD)
    else:
        os.close(CONTROL_FD)
    random.seed()
    sys.argv = [sys.executable, "-m", "meshtrio", "proc"]
    import meshtrio.__main__ as entry

    entry._forked = True
    return entry.main(["proc"])


def _child(env: dict[str, str], fds: list[int]) -> None:
    code = 1
    try:
        code = become_proc(env, *fds)
    except SystemExit as exc:  # as the interpreter ends a cold proc (FS-1)
        status = exc.code
        if status is None or isinstance(status, int):
            code = status or 0
        else:
            print(status, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # what a cold proc's interpreter does at exit
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class Zygote:
    """The serving loop (blocking; one thread)."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_w = wake_w
        signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
        signal.set_wakeup_fd(wake_w)

    def serve(self) -> None:
        """Serve fork requests until the host closes the control socket."""
        send_message(self.control, {"op": "ready", "pid": os.getpid()})
        poller = select.poll()
        poller.register(self.control.fileno(), select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self.wake_r in ready:
                self._drain_wakeups()
                self._reap()
            if self.control.fileno() in ready:
                received = recv_message(self.control)
                if received is None:
                    return
                self._handle(*received)

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            send_message(self.control, {"op": "exit", "pid": pid, "code": code})

    def _handle(self, msg: Any, fds: list[int]) -> None:
        try:
            if not isinstance(msg, dict) or msg.get("op") != "fork" or len(fds) != MAX_FDS:
                return  # only the host talks here; anything else is ignored
            self._fork(msg, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _fork(self, msg: dict[str, Any], fds: list[int]) -> None:
        rid = msg.get("id")
        env = msg.get("env")
        preload = msg.get("preload") or []
        if not isinstance(env, dict) or not isinstance(preload, list):
            send_message(self.control, {"op": "refused", "id": rid, "reason": "bad request"})
            return
        try:
            import_preload([str(name) for name in preload])
        except BaseException as exc:  # a cold start will show the traceback
            reason = f"preload failed: {type(exc).__name__}: {exc}"[:500]
            send_message(self.control, {"op": "refused", "id": rid, "reason": reason})
            return
        threads = thread_count()
        if threads != 1:  # ZY-1
            reason = f"the zygote has {threads} threads; forking it is unsafe"
            send_message(self.control, {"op": "refused", "id": rid, "reason": reason})
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:  # ZY-5: EAGAIN, ENOMEM...: this proc starts cold
            send_message(self.control, {"op": "refused", "id": rid, "reason": f"fork: {exc}"})
            return
        if pid == 0:
            self.control.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            _child({str(k): str(v) for k, v in env.items()}, fds)
        try:
            os.setpgid(pid, pid)  # also here, so the host can signal the group at once
        except OSError:
            pass
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:  # ZY-5: the host cannot watch it: it must not run
            os.kill(pid, signal.SIGKILL)  # ours and unreaped: the pid is still this child's
            os.waitpid(pid, 0)  # reaped here: no exit report for a pid the host never saw
            reason = f"pidfd_open: {exc}"
            send_message(self.control, {"op": "refused", "id": rid, "reason": reason})
            return
        try:
            send_message(self.control, {"op": "forked", "id": rid, "pid": pid}, [pidfd])
        finally:
            os.close(pidfd)


def main() -> int:
    """Entry point of ``python -m meshtrio._zygote FD`` (started by a host agent only)."""
    from meshtrio import _config as config
    from meshtrio._contract import PARENT_PID_ENV

    parent = os.environ.get(PARENT_PID_ENV, "")
    set_parent_death_signal(int(parent) if parent.isdigit() else None)
    # The proc runtime and its dependencies: what every forked proc would import anyway.
    import meshtrio.__main__
    import meshtrio._proc.runtime
    import meshtrio._proc.stacks  # noqa: F401

    fd = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else CONTROL_FD
    control = socket.socket(fileno=fd)
    try:
        import_preload(parse_preload(config.get(config.PROC_PRELOAD)))
    except Exception:
        traceback.print_exc()  # its forks will be refused and started cold, failing visibly
    Zygote(control).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
