"""``stacks()`` on proc and actor meshes (client side): where every proc is, per rank.

:func:`gather_stacks` asks every proc at once, directly on its actor endpoint (PR-3), for a
:class:`~meshtrio._actor_messages.GetStacks`, which the proc answers in its intake (ST-1);
a proc that does not answer within the timeout is dumped by its host instead (ST-3).

Invariants owned here:

* ST-2 (direct first, then the host): each rank is first asked directly, bounded by
  ``timeout`` (:data:`STACKS_DIRECT_TIMEOUT` by default, connect included); when that times
  out or fails, and a host can be asked (a mesh made by this client, not a reference that
  arrived in a message), its host is asked for a faulthandler dump
  (:class:`~meshtrio._messages.DumpProcStacks`, waiting :data:`FAULTHANDLER_WAIT` seconds
  for lines). The record's ``source`` says which answered, and its first note why the
  fallback was used (``from faulthandler: ...``). Not promised: that a request stuck behind
  a full actor mailbox on the same connection (AS-2) is answered directly (it then falls
  back too); in-process procs have no fallback (their host says so in ``error``).
* ST-4 (per rank, never all or nothing): a rank that gives no stack at all (its proc is
  gone, its host cannot be reached or cannot dump it) gets a record with source ``none``
  and an ``error`` saying what was tried; the call itself raises only for what concerns
  the whole mesh (it was shut down, a bad ``timeout``). The whole call takes at most about
  ``timeout + FAULTHANDLER_WAIT`` (plus py-spy's bound where py-spy is installed), however
  many ranks there are.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import trio

from meshtrio._actor_messages import GetStacks, StacksReply
from meshtrio._addr import ChannelAddr
from meshtrio._errors import InputError, MeshError, RequestTimeoutError
from meshtrio._host.stacks import PY_SPY_TIMEOUT
from meshtrio._ids import ProcMeshId
from meshtrio._messages import DumpProcStacks, ProcStackDump
from meshtrio._slicing import Region, ValueMesh
from meshtrio._stack_records import SOURCE_FAULTHANDLER, SOURCE_NONE, SOURCE_PROC, ProcStacks
from meshtrio._transport.rpc import Peer

__all__ = ["FAULTHANDLER_WAIT", "STACKS_DIRECT_TIMEOUT", "gather_stacks"]

STACKS_DIRECT_TIMEOUT = 1.0
"""Seconds a proc has to answer ``stacks()`` itself before its host is asked (ST-2)."""

FAULTHANDLER_WAIT = 0.5
"""Seconds a host waits for a proc's faulthandler dump to appear on its stderr (ST-3)."""

HOST_SLACK = 2.0
"""Seconds a host's answer to a dump request may take beyond its own bounds."""


class _Target(Protocol):
    """Where one proc is (a :class:`~meshtrio._actor_mesh.ProcTarget`, or a proc ref)."""

    @property
    def proc_id(self) -> str: ...

    @property
    def address(self) -> ChannelAddr | None: ...

    @property
    def host(self) -> ChannelAddr: ...


class _Hosts(Protocol):
    async def call(self, addr: ChannelAddr, body: Any, *, timeout: float) -> Any: ...


def check_timeout(timeout: float) -> float:
    """``timeout`` if it is finite seconds > 0, else InputError."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InputError(f"timeout must be seconds, got {type(timeout).__name__}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise InputError(f"timeout must be finite seconds > 0, got {timeout!r}")
    return float(timeout)


async def gather_stacks(
    *,
    region: Region,
    full: Region,
    targets: Mapping[int, _Target],
    proc_mesh_id: ProcMeshId,
    connect: Callable[[int], Awaitable[Peer]],
    hosts: _Hosts | None,
    timeout: float = STACKS_DIRECT_TIMEOUT,
) -> ValueMesh[ProcStacks]:
    """One :class:`ProcStacks` per rank of ``region`` (ST-2, ST-4).

    Args:
        region: the ranks asked (base ranks of ``full``), and the result's region.
        full: the proc mesh's region (each record's point is over its extent).
        targets: each rank's proc.
        proc_mesh_id: the proc mesh (hosts know its procs by it).
        connect: the connection to a rank's actor endpoint.
        hosts: how to ask a host (None: no fallback, a reference inside a proc).
        timeout: seconds each proc has to answer directly.
    """
    timeout = check_timeout(timeout)
    ranks = region.base_ranks()
    out: dict[int, ProcStacks] = {}

    async def one(rank: int) -> None:
        out[rank] = await _one(rank, full, targets[rank], proc_mesh_id, connect, hosts, timeout)

    async with trio.open_nursery() as nursery:
        for rank in ranks:
            nursery.start_soon(one, rank)
    return ValueMesh(region, [out[r] for r in ranks])


async def _one(
    rank: int,
    full: Region,
    target: _Target,
    proc_mesh_id: ProcMeshId,
    connect: Callable[[int], Awaitable[Peer]],
    hosts: _Hosts | None,
    timeout: float,
) -> ProcStacks:
    point = full.extent.point_of_rank(rank)
    why = ""
    silent = f"the proc's event loop did not answer within {timeout} s"
    with trio.move_on_after(timeout) as scope:
        try:
            peer = await connect(rank)
            reply = await peer.call(GetStacks(), timeout=timeout)
        except RequestTimeoutError:  # the call's own bound, as good as ours
            why = silent
        except MeshError as exc:
            why = f"asking the proc failed: {type(exc).__name__}: {exc}"
        else:
            if isinstance(reply, StacksReply):
                return ProcStacks(
                    rank=rank,
                    point=point,
                    proc_id=target.proc_id,
                    source=SOURCE_PROC,
                    threads=tuple(reply.threads),
                    tasks=reply.tasks,
                    pid=reply.pid,
                )
            why = f"the proc answered {type(reply).__name__}"
    if scope.cancelled_caught:
        why = silent

    def nothing(error: str, notes: tuple[str, ...] = ()) -> ProcStacks:
        return ProcStacks(
            rank=rank,
            point=point,
            proc_id=target.proc_id,
            source=SOURCE_NONE,
            notes=notes,
            error=error,
        )

    if hosts is None:
        return nothing(f"{why}; no host to ask for a dump (a mesh reference inside a proc)")
    bound = FAULTHANDLER_WAIT + PY_SPY_TIMEOUT + HOST_SLACK
    try:
        dump = await hosts.call(
            target.host, DumpProcStacks(proc_mesh_id, rank, FAULTHANDLER_WAIT), timeout=bound
        )
    except MeshError as exc:
        return nothing(f"{why}; its host {target.host} could not dump it: {exc}")
    if not isinstance(dump, ProcStackDump):
        return nothing(f"{why}; its host answered {type(dump).__name__}")
    raw = "\n".join(dump.lines)
    if dump.py_spy:
        raw += f"\n--- py-spy dump --pid {dump.pid}\n{dump.py_spy}"
    notes = (f"from faulthandler: {why}", *dump.notes)
    if not raw.strip():
        return nothing(f"{why}; its host got no dump from it", notes)
    return ProcStacks(
        rank=rank,
        point=point,
        proc_id=target.proc_id,
        source=SOURCE_FAULTHANDLER,
        raw=raw,
        notes=notes,
        pid=dump.pid,
    )
