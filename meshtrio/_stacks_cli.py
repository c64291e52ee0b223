"""``python -m meshtrio stacks REF``: where every proc on a running mesh's hosts is.

It connects to each host of ``REF`` with the client token (as ``attach`` does, but without
pushing config or stopping anything when it is done: it only looks), asks each host which
procs it runs (``ListProcs``), then collects every proc's stacks as
:meth:`ProcMesh.stacks <meshtrio.ProcMesh.stacks>` does (ST-2: the proc itself first, its
host's faulthandler dump when its event loop does not answer), and prints them, grouped by
proc mesh.

Invariant owned here:

* ST-5 (looking changes nothing): the command sends no config, spawns, stops or drains
  nothing; the procs and hosts it inspects go on as they were. Not promised: procs that
  start or end while it runs are listed or not.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, TextIO

import attrs
import trio

from meshtrio import _config as config
from meshtrio._addr import ChannelAddr
from meshtrio._errors import MeshError
from meshtrio._host_mesh import tls_from_config
from meshtrio._host_ref import HostMeshRef
from meshtrio._ids import ProcMeshId
from meshtrio._messages import ListProcs as _ListProcs
from meshtrio._messages import ProcList, ProcListing
from meshtrio._pool import ConnectionPool, fan_out
from meshtrio._slicing import Region
from meshtrio._stacks import gather_stacks
from meshtrio._tls import client_context
from meshtrio._transport.rpc import Peer

__all__ = ["print_stacks"]


@attrs.frozen
class _Target:
    proc_id: str
    address: ChannelAddr | None
    host: ChannelAddr
    token: str


async def print_stacks(ref: HostMeshRef, token: str, timeout: float, out: TextIO) -> int:
    """Print the stacks of every proc on ``ref``'s hosts to ``out``; the exit code (0, or 1
    when no host could be asked)."""
    request_timeout = config.get(config.REQUEST_TIMEOUT)
    async with trio.open_nursery() as nursery:
        pool = ConnectionPool(nursery, token, tls=client_context(tls_from_config()))
        addrs = list(dict.fromkeys(ref.addrs))
        outcomes = await fan_out(
            addrs,
            lambda a: pool.call(a, _ListProcs(), timeout=request_timeout),
            timeout=request_timeout,
        )
        meshes: dict[ProcMeshId, list[tuple[ChannelAddr, ProcListing]]] = {}
        asked = 0
        for addr, outcome in zip(addrs, outcomes, strict=True):
            if not outcome.ok or not isinstance(outcome.value, ProcList):
                print(f"host {addr}: could not list its procs: {outcome.error}", file=out)
                continue
            asked += 1
            for listing in outcome.value.procs:
                meshes.setdefault(listing.proc_mesh_id, []).append((addr, listing))
        if not meshes and asked:
            print(f"no running procs on the {asked} host(s) of {ref.id}", file=out)
        for mesh_id, found in meshes.items():
            await _print_mesh(pool, mesh_id, found, timeout, request_timeout, out)
        await pool.aclose()
        nursery.cancel_scope.cancel()
    return 0 if asked else 1


async def _print_mesh(
    pool: ConnectionPool,
    mesh_id: ProcMeshId,
    found: list[tuple[ChannelAddr, ProcListing]],
    timeout: float,
    request_timeout: float,
    out: TextIO,
) -> None:
    try:
        full = Region.parse(found[0][1].region)
    except MeshError:
        full = Region.parse(f"procs={max(p.create_rank for _, p in found) + 1}/1")
    targets = {
        p.create_rank: _Target(
            str(p.proc_id),
            None if p.address is None else p.address.reached_via(addr),  # PR-3
            addr,
            p.actor_token,
        )
        for addr, p in found
    }
    for rank in full.base_ranks():  # ranks not running any more: reported as such
        targets.setdefault(rank, _Target("(not running)", None, found[0][0], ""))

    async def connect(rank: int) -> Peer:
        target = targets[rank]
        if target.address is None:
            raise MeshError("not running on any host that was asked")
        return await pool.peer(target.address, token=target.token)

    class _Hosts:
        async def call(self, addr: ChannelAddr, body: Any, *, timeout: float) -> Any:
            return await pool.call(addr, body, timeout=timeout)

    records = await gather_stacks(
        region=full,
        full=full,
        targets=targets,
        proc_mesh_id=mesh_id,
        connect=connect,
        hosts=_Hosts(),
        timeout=timeout,
    )
    print(f"=== proc mesh {mesh_id} ({full})", file=out)
    for record in records.values():
        print(str(record), file=out)
        print(file=out)


def run(ref_text: str, token: str, timeout: float) -> int:
    """The command: parse ``ref_text``, print the stacks, return the exit code."""
    ref = HostMeshRef.parse(ref_text)
    return trio.run(functools.partial(print_stacks, ref, token, timeout, sys.stdout))
