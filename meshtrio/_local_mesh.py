"""Host meshes that own their hosts: agents as tasks in this run, or as child processes.

* :func:`open_host_mesh_in_process` starts n host agents as tasks in a nursery of the block.
* :func:`open_host_mesh_processes` starts one ``python -m meshtrio host`` process per rank.

Both generate a random token and hand it to their hosts (and so to the procs); both push
the client's config (HM-1..HM-4) before yielding. Leaving the block always ends the hosts:

* normally or with an exception from the body, the mesh is shut down in two phases if that
  had not run yet (a stopped owned mesh is shut down too, since its hosts cannot outlive
  their owner); then the host tasks are cancelled, and host processes are given
  ``mesh_terminate_timeout`` to exit (none after an exception) before their process groups
  are killed;
* on cancellation, no shutdown is tried: every proc on the hosts is drained (shielded,
  within :data:`~meshtrio._host_mesh.CANCEL_DRAIN_BOUND` seconds), then the host tasks are
  cancelled (each stops its remaining procs through the shielded ladder) and host processes
  are killed at once (their remaining procs die with them, PR-1).

Invariant owned here:

* LM-1 (nothing outlives the block): when the ``async with`` block is left, by any route, no
  host task or host process started by it is still running, and every proc they started
  has been stopped (drained and reaped by its host) or is dying with its host (a killed
  host process's procs follow it through ``PR_SET_PDEATHSIG`` and the loss of their host
  connection, PR-1, moments later).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator, Sequence

import trio

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._blocks import Captured, async_context_manager
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._errors import InputError, MeshError
from meshtrio._host.agent import serve_host_agent
from meshtrio._host.process import HostProcess, end_host_processes, start_host_process
from meshtrio._host_mesh import HostMesh, open_session
from meshtrio._host_ref import HostMeshRef
from meshtrio._ids import HostMeshId, Label
from meshtrio._slicing import Extent
from meshtrio._transport.handshake import new_token

__all__ = ["open_host_mesh_in_process", "open_host_mesh_processes"]


@async_context_manager
async def open_host_mesh_in_process(
    n_or_addrs: int | Sequence[ChannelAddr | str],
    *,
    in_process_procs: bool = False,
    name: str = "local",
) -> AsyncIterator[HostMesh]:
    """Run host agents as tasks in this Trio run; yield a configured :class:`HostMesh`.

    The hosts start one after another (each bound before the next); the config push is
    bounded per host by ``mesh_attach_config_timeout``. Leaving the block ends the hosts as
    the module docstring describes: two-phase shutdown unless cancelled, then the host tasks
    are cancelled; their procs are always stopped by the time the block is left (LM-1).
    Cancelling while the hosts start cancels the ones already started.

    Args:
        n_or_addrs: how many hosts (each listens on ``local:0`` with ``in_process_procs``,
            else on a fresh abstract ``unix:`` socket so OS procs can connect), or their
            addresses (a ``local:`` host cannot serve OS procs, which could not reach it).
        in_process_procs: run procs as tasks too (fast tests; no OS processes at all), except
            procs given an explicit bootstrap command, which are still OS processes.
        name: the host mesh id's label (sanitised with ``Label.sanitize``).

    Raises:
        InputError: a negative number of hosts, ``n_or_addrs`` of the wrong type, an
            address that does not parse (``AddrParseError``), or a non-str ``name``.
        TransportError: a host could not listen (address in use, ...).
        ConfigPushError: a host did not take the config; no mesh is yielded.
        ShutdownError: on leaving the block, the two-phase shutdown failed on some hosts
            (only when the body did not raise).
    """
    if isinstance(n_or_addrs, int):
        if n_or_addrs < 0:
            raise InputError(f"number of hosts must be >= 0, got {n_or_addrs}")
        default = "local:0" if in_process_procs else "unix:"
        addrs = [ChannelAddr.parse(default)] * n_or_addrs
    elif isinstance(n_or_addrs, str | bytes) or not isinstance(n_or_addrs, Sequence):
        raise InputError(
            f"n_or_addrs must be a number of hosts or a sequence of addresses, "
            f"got {type(n_or_addrs).__name__}"
        )
    else:
        addrs = [a if isinstance(a, ChannelAddr) else ChannelAddr.parse(a) for a in n_or_addrs]
    token = new_token()
    captured = Captured()  # re-raised below, outside the nursery (no group wrap)
    async with trio.open_nursery() as nursery:
        with captured:
            bound: list[ChannelAddr] = []
            for addr in addrs:
                bound.append(
                    await nursery.start(
                        functools.partial(
                            serve_host_agent, addr, token=token, in_process_procs=in_process_procs
                        )
                    )
                )
            ref = HostMeshRef.from_hosts(HostMeshId.instance(Label.sanitize(name)), bound)
            async with open_session(ref, token, owned=True) as mesh:
                yield mesh
        nursery.cancel_scope.cancel()
    captured.reraise()


@async_context_manager
async def open_host_mesh_processes(
    extent: Extent | int, *, command: BootstrapCommand | None = None, name: str = "process"
) -> AsyncIterator[HostMesh]:
    """Start one host agent OS process per rank of ``extent``; yield a configured mesh.

    The hosts start concurrently; each must print its bound address (a fresh abstract
    ``unix:`` socket) within ``host_spawn_ready_timeout``, and the config push is bounded
    per host by ``mesh_attach_config_timeout``. Leaving the block ends the hosts as the
    module docstring describes (LM-1): after a normal exit each host process gets
    ``mesh_terminate_timeout`` to exit before its process group is killed; after an
    exception or a cancellation (during start-up too) the host processes still running are
    killed at once. Every wait for a host process to be reaped after SIGKILL is bounded
    (:data:`~meshtrio._contract.KILL_TIMEOUT`).

    Args:
        extent: the host extent (an int ``n`` means ``Extent(hosts=n)``).
        command: how to start a host (default ``python -m meshtrio host``); it gets its
            listen address, token and parent pid through the environment, and must print
            its bound address as its first line of output.
        name: the host mesh id's label (sanitised with ``Label.sanitize``).

    Raises:
        InputError: ``extent`` is neither an Extent nor an int (``ExtentError`` for a
            negative int), or ``name`` is not a str.
        HostUnreachableError: a host did not print its address within
            ``host_spawn_ready_timeout``, exited first, or printed something else (the
            message names its rank); every host process was killed.
        LaunchError: ``command`` could not be started; every host process was killed.
        ConfigPushError: a host did not take the config; no mesh is yielded.
        ShutdownError: on leaving the block, the two-phase shutdown failed on some hosts
            (only when the body did not raise).
    """
    if isinstance(extent, int):
        extent = Extent(hosts=extent)
    if not isinstance(extent, Extent):
        raise InputError(f"extent must be an Extent or an int, got {type(extent).__name__}")
    command = command or BootstrapCommand(sys.executable, ("-m", "meshtrio", "host"))
    token = new_token()
    timeout = config.get(config.HOST_SPAWN_READY_TIMEOUT)
    handles: list[HostProcess] = []
    captured = Captured()  # re-raised below, outside the nursery (no group wrap)
    async with trio.open_nursery() as nursery:
        try:
            with captured:
                addrs: list[ChannelAddr | None] = [None] * extent.num_ranks
                errors: list[MeshError] = []

                async def start(rank: int) -> None:
                    try:
                        _, addr = await start_host_process(
                            command, nursery, token, rank, timeout, handles
                        )
                    except MeshError as exc:
                        errors.append(exc)
                        return
                    addrs[rank] = addr

                async with trio.open_nursery() as starters:
                    for rank in range(extent.num_ranks):
                        starters.start_soon(start, rank)
                if errors:
                    raise errors[0]
                ref = HostMeshRef(
                    HostMeshId.instance(Label.sanitize(name)),
                    extent.region(),
                    [a for a in addrs if a is not None],
                )
                async with open_session(ref, token, owned=True) as mesh:
                    yield mesh
                await end_host_processes(handles, config.get(config.MESH_TERMINATE_TIMEOUT))
        finally:
            with trio.CancelScope(shield=True):
                await end_host_processes(handles, 0.0)
            nursery.cancel_scope.cancel()
    captured.reraise()
