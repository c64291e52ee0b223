"""A host makes one of its procs dump its stacks, for a proc whose event loop does not answer.

Invariants owned here:

* ST-3 (a blocked proc still shows where it is): for :class:`~meshtrio._messages.DumpProcStacks`
  the host sends SIGUSR1 to the proc's own pid (the one its ProcHello reported), only when
  ``/proc/<pid>/status`` says the proc catches that signal (``python -m meshtrio proc``
  registers Python's faulthandler on it at start; an uncaught SIGUSR1 would kill it), and
  answers with the stderr lines that appeared from then on until the dump went quiet
  (:data:`DUMP_QUIET` seconds without a line) or ``wait`` seconds passed. When py-spy is on
  the host's PATH it also runs ``py-spy dump --pid`` (bounded by :data:`PY_SPY_TIMEOUT`);
  when it is not, a note says so. Not promised: that nothing else the proc writes to stderr
  at the same moment is mixed into the lines; a dump from a proc that is not an OS process
  of its own (an in-process proc, which is a task of its host: the request fails and says
  so), or from a proc whose bootstrap command did not register the handler (a note says so,
  and no signal is sent).
"""

from __future__ import annotations

import os
import shutil
import signal

import trio

from meshtrio._errors import MeshError
from meshtrio._host.launcher import ProcessHandle
from meshtrio._host.procs import ProcRecord
from meshtrio._messages import ProcStackDump

__all__ = ["DUMP_QUIET", "MAX_DUMP_WAIT", "PY_SPY_TIMEOUT", "catches_signal", "dump_proc_stacks"]

DUMP_QUIET = 0.1
"""Seconds without a new stderr line after which a faulthandler dump is taken as complete."""

MAX_DUMP_WAIT = 5.0
"""The longest a host waits for a dump's lines, whatever the request asks."""

PY_SPY_TIMEOUT = 5.0
"""Seconds ``py-spy dump`` may take."""

PY_SPY_MAX_CHARS = 64 * 1024
"""At most this much of py-spy's output is sent back (its end is kept)."""


def catches_signal(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (its ``SigCgt`` mask in
    ``/proc/<pid>/status``); False when that cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


async def _collect(handle: ProcessHandle, lines: list[str], wait: float) -> None:
    """Wait until ``lines`` stopped growing for :data:`DUMP_QUIET` seconds (after the first
    one), or ``wait`` seconds passed, or stderr closed."""
    with trio.move_on_after(wait):
        while handle.stderr_open:
            seen = len(lines)
            with trio.move_on_after(DUMP_QUIET if seen else wait) as quiet:
                await handle.wait_stderr()
            if quiet.cancelled_caught and len(lines) == seen:
                return


async def _py_spy(pid: int, notes: list[str]) -> str:
    program = shutil.which("py-spy")
    if program is None:
        notes.append("py-spy is not installed on this host (only the faulthandler dump)")
        return ""
    with trio.move_on_after(PY_SPY_TIMEOUT):
        try:
            done = await trio.run_process(
                [program, "dump", "--pid", str(pid)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        except OSError as exc:
            notes.append(f"py-spy could not run: {exc}")
            return ""
        text = (done.stdout + done.stderr).decode("utf-8", errors="replace")
        if done.returncode != 0:
            notes.append(f"py-spy dump exited with code {done.returncode}")
        return text[-PY_SPY_MAX_CHARS:]
    notes.append(f"py-spy dump did not finish within {PY_SPY_TIMEOUT} s")
    return ""


async def dump_proc_stacks(rec: ProcRecord, wait: float) -> ProcStackDump:
    """ST-3 for one proc (see the module docstring).

    Raises:
        MeshError: the proc is not running, or is not an OS process of its own.
    """
    handle = rec.handle
    if not rec.status.is_running or handle is None:
        raise MeshError(f"proc {rec.proc_id} is {rec.status}: it has no stack to dump")
    if not isinstance(handle, ProcessHandle):
        raise MeshError(
            f"proc {rec.proc_id} runs as a task inside its host agent's process (an "
            "in-process proc): there is no process of its own to signal, so only the proc "
            "itself can answer"
        )
    pid = rec.pid if rec.pid is not None else handle.pid
    notes: list[str] = []
    lines: list[str] = []
    if catches_signal(pid, signal.SIGUSR1):
        with handle.watch_stderr() as lines:
            try:
                os.kill(pid, signal.SIGUSR1)
            except OSError as exc:
                notes.append(f"could not signal pid {pid}: {exc.strerror or exc}")
            else:
                await _collect(handle, lines, min(wait, MAX_DUMP_WAIT))
        if not lines:
            notes.append(f"the proc wrote nothing to stderr within {wait} s of SIGUSR1")
    else:
        notes.append(
            f"pid {pid} does not catch SIGUSR1 (faulthandler is registered by "
            "`python -m meshtrio proc`; another bootstrap command may not): not signalled, "
            "since the default action would kill it"
        )
    spy = await _py_spy(pid, notes)
    return ProcStackDump(pid=pid, lines=list(lines), py_spy=spy, notes=notes)
