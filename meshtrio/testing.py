"""Helpers for testing code that uses meshtrio (and for meshtrio's own tests).

* :func:`descendants` lists the live processes below a pid (from ``/proc``, Linux).
* :func:`no_leaked_processes` is a context manager that fails if the block left any new
  descendant process of this process alive (after a bounded wait for them to be reaped).
* :func:`become_subreaper` makes orphaned descendants (say, the procs of a host process that
  was killed) children of this process instead of init, so that the two above still see them.
* :func:`in_process_mesh` is :func:`~meshtrio.open_host_mesh_in_process` with procs as tasks:
  a whole mesh without a single OS process, for fast tests.
* :class:`MemoryTransport` is the in-memory transport behind ``local:`` addresses, and
  :func:`local_listeners` lists the ones listening in this Trio run: a host agent served on
  ``ChannelAddr.local(0)`` (:func:`~meshtrio.serve_host_agent`) and clients that
  :func:`~meshtrio.attach` to the address it reports talk over memory channels, with the same
  handshake and errors as over a socket, and no socket at all. Its listeners belong to one
  ``trio.run``: two runs (two tests, two threads) never see each other's.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from meshtrio._addr import ChannelAddr
from meshtrio._host_mesh import HostMesh
from meshtrio._local_mesh import open_host_mesh_in_process
from meshtrio._transport.endpoints import MEMORY as _MEMORY
from meshtrio._transport.memory import MemoryTransport
from meshtrio._util import fixup_module_metadata

__all__ = [
    "MemoryTransport",
    "alive",
    "become_subreaper",
    "descendants",
    "in_process_mesh",
    "local_listeners",
    "no_leaked_processes",
]

_PR_SET_CHILD_SUBREAPER = 36
"""The ``prctl`` option number from ``<linux/prctl.h>``."""


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses.
        rest = stat[stat.rfind(")") + 2 :].split()
        if len(rest) < 2 or rest[0] == "Z":
            continue
        kids.setdefault(int(rest[1]), []).append(int(entry))
    return kids


def descendants(pid: int | None = None) -> list[int]:
    """Live (non-zombie) descendants of ``pid`` (default: this process), Linux only.

    Returns:
        Their pids, parents before children; an empty list where there is no ``/proc``.
    """
    if not os.path.isdir("/proc"):
        return []
    root = os.getpid() if pid is None else pid
    kids = _children_map()
    out: list[int] = []
    todo = [root]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux ``prctl``).

    Without it, a descendant whose parent dies (a proc of a host process that was SIGKILLed)
    is re-parented to init and no longer shows in :func:`descendants`, so
    :func:`no_leaked_processes` cannot see it leak. With it, such a process becomes a child of
    this one; once it exits it stays a zombie until this process ends (zombies count as
    gone). Process-wide and not undone: call it once, in a test session's setup.

    Returns:
        True if this process is now a subreaper; False on other platforms or on failure.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def alive(pid: int) -> bool:
    """True if ``pid`` is a live, non-zombie process (Linux only: always False without
    ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


@contextmanager
def no_leaked_processes(grace: float = 5.0) -> Iterator[None]:
    """Fail (AssertionError) if descendants of this process outlive the block.

    Processes that existed before the block are ignored. Exiting processes are given up to
    ``grace`` seconds to disappear (polled with blocking sleeps; this is a check at the end,
    not a wait for state). If the block raises, nothing is checked and the exception
    propagates. Without ``/proc`` (not Linux) it checks nothing.

    Raises:
        AssertionError: new descendants were still alive after ``grace`` (lists their pids).
    """
    before = set(descendants())
    yield
    deadline = time.monotonic() + grace
    left: list[int] = []
    while True:
        left = [p for p in descendants() if p not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"leaked processes: {left}"


@asynccontextmanager
async def in_process_mesh(n: int = 2) -> AsyncIterator[HostMesh]:
    """A host mesh of ``n`` in-process hosts whose procs are tasks (no OS processes).

    :func:`~meshtrio.open_host_mesh_in_process` with ``in_process_procs=True``: the hosts
    listen on ``local:`` addresses, so procs given an explicit bootstrap command (which
    would be OS processes) cannot reach them. Timeouts, cancellation and errors are those
    of :func:`~meshtrio.open_host_mesh_in_process`.
    """
    async with open_host_mesh_in_process(n, in_process_procs=True) as mesh:
        yield mesh


def local_listeners() -> list[ChannelAddr]:
    """The ``local:`` addresses listening in the current Trio run (:class:`MemoryTransport`),
    in index order; other runs' listeners are never listed.

    Raises:
        RuntimeError: called outside a Trio run.
    """
    return _MEMORY.listening()


fixup_module_metadata(__name__, __all__)
del fixup_module_metadata
