"""Procs as trio tasks inside the host agent's process (for fast tests and local meshes).

An :class:`InProcessHandle` is a :class:`~meshtrio._host.handle.ProcHandle`, like
:class:`~meshtrio._host.launcher.ProcessHandle` (``pid``, ``exited``, ``exit_info``, ``wait``,
``stderr_tail``, ``stop``). The proc runs the same
:func:`~meshtrio._proc.runtime.run_proc` as an OS proc, over the same transport, with its own
config view. Stopping one is: ask it (AskProcToExit), wait the grace period, then cancel its task;
no signal is ever sent, so nothing outside the task can be hit.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable

import trio

from meshtrio import _config as config
from meshtrio._contract import ProcBootstrap
from meshtrio._host.launcher import ExitInfo
from meshtrio._proc.runtime import run_proc

__all__ = ["InProcessHandle", "launch_in_process"]


class InProcessHandle:
    """A proc running as a task; ``cancel()`` plays the part of a signal."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._exit_info: ExitInfo | None = None
        self._cancelled_by: int | None = None

    @property
    def exited(self) -> bool:
        """True once the task ended."""
        return self._exit_info is not None

    @property
    def exit_info(self) -> ExitInfo | None:
        """How the task ended, or None while it runs."""
        return self._exit_info

    def stderr_tail(self) -> tuple[str, ...]:
        """An in-process proc has no stderr of its own."""
        return ()

    async def wait(self) -> ExitInfo:
        """Wait until the task ended."""
        await self._done.wait()
        assert self._exit_info is not None
        return self._exit_info

    def cancel(self, sig: int = signal.SIGKILL) -> None:
        """End the task as if ``sig`` had killed it."""
        if self._cancelled_by is None:
            self._cancelled_by = sig
        self._scope.cancel()

    async def stop(
        self, ask: Callable[[], Awaitable[object]], *, grace: float, kill_timeout: float
    ) -> tuple[ExitInfo | None, str]:
        """The :class:`~meshtrio._host.handle.ProcHandle` stop: ``ask()`` (if it raises,
        cancel as SIGTERM at once), wait ``grace``, then cancel as SIGKILL. A cancelled task
        ends at its next checkpoint, so ``kill_timeout`` is not waited for.

        Returns:
            ``(exit info, step)``: step ``graceful`` if the proc ended by itself, else
            ``cancelled``.
        """
        with trio.move_on_after(grace):
            try:
                await ask()
            except Exception:
                self.cancel(signal.SIGTERM)
            await self.wait()
        if not self.exited:
            self.cancel(signal.SIGKILL)
        info = await self.wait()
        return info, "graceful" if info.signal is None else "cancelled"

    async def _run(self, boot: ProcBootstrap, token: str) -> None:
        info = ExitInfo(code=None, signal=signal.SIGKILL)
        try:
            with self._scope:
                code = await run_proc(boot, token=token, cfg=config.Config())
                info = ExitInfo(code=code, signal=None)
            if self._scope.cancelled_caught:
                info = ExitInfo(code=None, signal=self._cancelled_by or signal.SIGKILL)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"  # as an OS proc prints it, line by line
            info = ExitInfo(code=1, signal=None, stderr_tail=tuple(text.splitlines()[-100:]))
        finally:
            self._exit_info = info
            self._done.set()


def launch_in_process(boot: ProcBootstrap, *, token: str, nursery: trio.Nursery) -> InProcessHandle:
    """Start a proc as a task in ``nursery``."""
    handle = InProcessHandle()
    nursery.start_soon(handle._run, boot, token, name=f"meshtrio-proc-{boot.proc_id}")
    return handle
