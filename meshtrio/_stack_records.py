"""What ``stacks()`` returns for one proc: :class:`ThreadStack` and :class:`ProcStacks`.

Plain values (no I/O). A proc builds the :class:`ThreadStack` records itself
(:mod:`meshtrio._proc.stacks`, they travel in a wire reply); the client builds one
:class:`ProcStacks` per rank (:mod:`meshtrio._stacks`).
"""

from __future__ import annotations

import attrs

from meshtrio._slicing import Point

__all__ = ["SOURCE_FAULTHANDLER", "SOURCE_NONE", "SOURCE_PROC", "ProcStacks", "ThreadStack"]

SOURCE_PROC = "proc"
"""The proc answered itself: every thread's stack and its Trio task tree."""

SOURCE_FAULTHANDLER = "faulthandler"
"""The proc's event loop did not answer; its host made it dump its threads (SIGUSR1)."""

SOURCE_NONE = "none"
"""No stack could be had (see ``error``)."""


@attrs.frozen
class ThreadStack:
    """One thread of a proc, as the proc saw it.

    Attributes:
        name: the thread's name (``<unknown>`` for a thread ``threading`` does not know).
        ident: its ``threading`` identifier.
        daemon: whether it is a daemon thread.
        stack: its Python stack, formatted as in a traceback (most recent call last).
    """

    name: str
    ident: int
    daemon: bool
    stack: str


@attrs.frozen
class ProcStacks:
    """Where one proc is: every thread's Python stack and its Trio task tree.

    One per rank from :meth:`ProcMesh.stacks <meshtrio.ProcMesh.stacks>` and
    :meth:`ActorMesh.stacks <meshtrio.ActorMesh.stacks>` (ST-1..ST-4).

    Attributes:
        rank: the proc's create rank in its proc mesh.
        point: that rank's point in the proc mesh.
        proc_id: the proc's id (text).
        source: how the stacks were had: ``proc`` (the proc answered), ``faulthandler``
            (its event loop did not answer in time; its host sent it SIGUSR1 and ``raw``
            holds what Python's faulthandler wrote to its stderr) or ``none`` (see
            ``error``).
        threads: every thread's stack (``proc`` only; empty otherwise).
        tasks: the Trio task tree, one task per line with where it waits, indented by
            nesting (``proc`` only; empty otherwise).
        raw: the faulthandler dump (and ``py-spy dump`` output when py-spy is installed on
            the host), as the host read it (``faulthandler`` only).
        notes: what else is worth knowing (why the fallback was used, py-spy missing, ...).
        error: why no stack could be had for this rank (None when ``source`` is not
            ``none``).
        pid: the proc's OS process id, when known.
    """

    rank: int
    point: Point
    proc_id: str
    source: str
    threads: tuple[ThreadStack, ...] = ()
    tasks: str = ""
    raw: str = ""
    notes: tuple[str, ...] = ()
    error: str | None = None
    pid: int | None = None

    @property
    def text(self) -> str:
        """Everything in one readable block (what ``str()`` gives)."""
        pid = "" if self.pid is None else f", pid {self.pid}"
        lines = [f"=== rank {self.rank} ({self.point}), proc {self.proc_id}{pid}: {self.source}"]
        lines += [f"note: {note}" for note in self.notes]
        if self.error is not None:
            lines.append(f"error: {self.error}")
        for thread in self.threads:
            daemon = ", daemon" if thread.daemon else ""
            lines.append(f"--- thread {thread.name} ({thread.ident}{daemon})")
            lines.append(thread.stack.rstrip())
        if self.tasks:
            lines.append("--- trio tasks")
            lines.append(self.tasks.rstrip())
        if self.raw:
            lines.append("--- dump")
            lines.append(self.raw.rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text
