"""A host agent as an OS process, seen from whoever starts it (a client mesh that owns its hosts).

The other half of ``python -m meshtrio host`` (:mod:`meshtrio.__main__`): the starter hands
the process its token, its parent pid and where to listen through the environment
(:data:`~meshtrio._contract.TOKEN_ENV`, :data:`~meshtrio._contract.PARENT_PID_ENV`,
:data:`~meshtrio._contract.LISTEN_ENV`), and the host prints its bound address as its first
line of output. :func:`start_host_process` starts one and reads that line (bounded);
:func:`end_host_processes` waits for them to exit, then kills their process groups.
Client meshes use this module instead of the launcher behind it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

import trio

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._contract import KILL_TIMEOUT, LISTEN_ENV, PARENT_PID_ENV, TOKEN_ENV
from meshtrio._errors import AddrParseError, HostUnreachableError
from meshtrio._host.launcher import ProcessHandle, launch

__all__ = ["HostProcess", "end_host_processes", "start_host_process"]

HostProcess = ProcessHandle
"""A started host agent process (its handle: wait for it, signal its process group)."""


async def start_host_process(
    command: BootstrapCommand,
    nursery: trio.Nursery,
    token: str,
    rank: int,
    timeout: float,
    handles: list[HostProcess],
) -> tuple[HostProcess, ChannelAddr]:
    """Start one host process; wait (bounded) for the address it prints first.

    The handle is appended to ``handles`` as soon as the process exists, so the caller ends
    it on every exit path, cancellation during this wait included (LM-1).
    """
    read_fd, write_fd = os.pipe()
    try:
        handle = await launch(
            command,
            nursery=nursery,
            extra_env={TOKEN_ENV: token, PARENT_PID_ENV: str(os.getpid()), LISTEN_ENV: "unix:"},
            tail_lines=config.get(config.MESH_TAIL_LOG_LINES),
            stdout_fd=write_fd,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    handles.append(handle)
    stdout = trio.lowlevel.FdStream(read_fd)
    buf = b""
    try:
        with trio.move_on_after(timeout):
            while b"\n" not in buf:
                chunk = await stdout.receive_some(4096)
                if not chunk:
                    break
                buf += chunk
    finally:
        stdout.close()
    line = buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if b"\n" not in buf:
        handle.signal_group(signal.SIGKILL)
        with trio.move_on_after(5):
            info = await handle.wait()
            raise HostUnreachableError(
                f"host rank {rank} did not come up: {info.describe()}", address=f"rank {rank}"
            )
        raise HostUnreachableError(
            f"host rank {rank} did not print its address within {timeout:g}s",
            address=f"rank {rank}",
        )
    try:
        return handle, ChannelAddr.parse(line)
    except AddrParseError:
        handle.signal_group(signal.SIGKILL)
        raise HostUnreachableError(
            f"host rank {rank} printed {line[:80]!r} instead of its address", address=f"rank {rank}"
        ) from None


async def end_host_processes(handles: Sequence[HostProcess], grace: float) -> None:
    """Wait up to ``grace`` for host processes to exit, then SIGKILL their groups (LM-1)."""
    with trio.move_on_after(grace):
        for h in handles:
            await h.wait()
    for h in handles:
        if not h.exited:
            h.signal_group(signal.SIGKILL)
    with trio.move_on_after(KILL_TIMEOUT):
        for h in handles:
            await h.wait()
