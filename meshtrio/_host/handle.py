"""What a host agent holds of a running proc, whether an OS process or a task.

:class:`ProcHandle` is the one interface the supervising task (:mod:`meshtrio._host.procs`)
uses; :class:`~meshtrio._host.launcher.ProcessHandle` (an OS process, leader of its own
process group) and :class:`~meshtrio._host.inprocess.InProcessHandle` (a trio task in the
agent) both provide it, each with its own stop ladder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from meshtrio._host.launcher import ExitInfo

__all__ = ["ProcHandle"]


class ProcHandle(Protocol):
    """A launched proc, as its supervising task sees it."""

    pid: int
    """The process id (the agent's own for a proc that is a task)."""

    @property
    def exited(self) -> bool:
        """True once the proc ended and its :class:`ExitInfo` is known."""
        ...

    @property
    def exit_info(self) -> ExitInfo | None:
        """How the proc ended, or None while it runs."""
        ...

    def stderr_tail(self) -> tuple[str, ...]:
        """The last lines of the proc's stderr kept so far."""
        ...

    async def wait(self) -> ExitInfo:
        """Wait until the proc ended and return how."""
        ...

    async def stop(
        self, ask: Callable[[], Awaitable[object]], *, grace: float, kill_timeout: float
    ) -> tuple[ExitInfo | None, str]:
        """Stop the proc: ``ask()`` it to stop (if that raises, terminate it at once), wait
        ``grace``, then force it, every wait bounded (PS-3: at most
        ``2*grace + kill_timeout``).

        Returns:
            ``(exit info, step)``: the step that ended it (``exited``, ``graceful``, ...), or
            ``(None, "unkillable")`` if it outlived every step.
        """
        ...
