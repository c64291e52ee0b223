"""A proc looks at itself: every thread's Python stack and its Trio task tree.

:func:`stacks_reply` answers a :class:`~meshtrio._actor_messages.GetStacks`; the proc's
:class:`~meshtrio._proc.actors.ActorServer` calls it in its intake, as the request arrives
(never through an actor's mailbox), so a proc whose actors are all busy in ``await`` still
answers. A proc whose event loop is blocked (a sync endpoint in ``time.sleep``, a long C
call) cannot run it; for that, an OS proc registers Python's faulthandler on SIGUSR1 at
start (:func:`register_faulthandler`), which its host uses (ST-3).

Invariants owned here:

* ST-1 (collected inside, no ptrace): a proc's answer lists every thread Python knows
  (``threading.enumerate()`` and ``sys._current_frames()``) with its formatted stack, and
  its Trio task tree from the root task: each task's name and the frames it is suspended
  in (``Task.iter_await_frames``), children indented under the nursery's owner. Not
  promised: threads without a Python thread state (pure C threads) and the exact frames of
  the answering task itself (it is busy answering).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import traceback
from typing import IO

import trio

from meshtrio._actor_messages import StacksReply
from meshtrio._stack_records import ThreadStack

__all__ = [
    "MAX_STACK_CHARS",
    "MAX_TASKS",
    "register_faulthandler",
    "stacks_reply",
    "task_tree",
    "thread_stacks",
]

MAX_STACK_CHARS = 32 * 1024
"""The longest one thread's stack text may be (its innermost frames are kept)."""

MAX_TASKS = 2000
"""At most this many Trio tasks are listed (a line then says how many were left out)."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def thread_stacks() -> list[ThreadStack]:
    """Every thread's stack, the main thread first, then by name."""
    frames = sys._current_frames()
    known = {t.ident: t for t in threading.enumerate()}
    main = threading.main_thread().ident
    out: list[ThreadStack] = []
    for ident, frame in frames.items():
        thread = known.get(ident)
        text = "".join(traceback.format_stack(frame))
        out.append(
            ThreadStack(
                name=thread.name if thread is not None else "<unknown>",
                ident=ident,
                daemon=bool(thread is not None and thread.daemon),
                stack=_clip(text, MAX_STACK_CHARS),
            )
        )
    out.sort(key=lambda t: (t.ident != main, t.name, t.ident))
    return out


def _where(task: trio.lowlevel.Task) -> list[str]:
    """The frames ``task`` is suspended in, outermost first, as ``func (file:line)``."""
    out = []
    for frame, lineno in task.iter_await_frames():
        code = frame.f_code
        filename = code.co_filename
        if filename == "<dynamic-code>":  # code that arrived by value (PL-3)
            filename = frame.f_globals.get("__file__") or filename
        out.append(f"{code.co_qualname} ({filename}:{lineno})")
    return out


def task_tree() -> str:
    """The Trio task tree of this run, from the root task: one line per task, then its
    frames, indented; children under the task whose nursery holds them."""
    lines: list[str] = []
    count = 0
    root = trio.lowlevel.current_root_task()
    todo: list[tuple[trio.lowlevel.Task, int]] = [] if root is None else [(root, 0)]
    current = trio.lowlevel.current_task()
    while todo:
        task, depth = todo.pop()
        count += 1
        if count > MAX_TASKS:
            lines.append(f"... and more tasks (only {MAX_TASKS} are listed)")
            break
        pad = "  " * depth
        here = " (answering this request)" if task is current else ""
        lines.append(f"{pad}task {task.name}{here}")
        for where in _where(task):
            lines.append(f"{pad}    at {where}")
        children = [c for nursery in task.child_nurseries for c in nursery.child_tasks]
        children.sort(key=lambda t: t.name, reverse=True)  # popped in name order
        todo.extend((child, depth + 1) for child in children)
    return "\n".join(lines)


def stacks_reply() -> StacksReply:
    """This proc's :class:`StacksReply` (ST-1); runs without yielding."""
    return StacksReply(pid=os.getpid(), threads=thread_stacks(), tasks=task_tree())


def register_faulthandler(file: IO[str] | None = None) -> None:
    """Make SIGUSR1 dump every thread's stack to ``file`` (default: stderr) through
    Python's faulthandler, which runs even while the event loop is blocked (ST-3). For OS
    procs only: never in a host agent's own process."""
    faulthandler.register(signal.SIGUSR1, file=file or sys.stderr, all_threads=True, chain=False)
