"""The code that runs inside a proc: readiness, and serving its host.

A proc is started by its host agent with a :class:`~meshtrio._contract.ProcBootstrap` payload
in the environment variable ``MESHTRIO_BOOTSTRAP`` and its own credential in
``MESHTRIO_PROC_TOKEN`` (scoped to this proc, AU-1; a proc never holds the client token; the
process contract, PC-1). It installs the client's config snapshot as its ClientOverride layer
(its own ``MESHTRIO_*`` env vars still win), connects back to its host agent, says
:class:`~meshtrio._messages.ProcHello` (that is its readiness signal), and then answers
:class:`~meshtrio._messages.AskProcToExit` and :class:`~meshtrio._messages.GetProcConfig` until it
is asked to stop or loses its host.

Invariants owned here:

* PR-1 (dies with its host): a proc exits when its host connection ends, and (as an OS
  process, on Linux) when its host agent process dies (``PR_SET_PDEATHSIG``).
* PR-2 (client config): a proc's ClientOverride layer is exactly the snapshot the client sent
  with the spawn.
* PR-3 (its own endpoint): a proc whose bootstrap carries an actor token serves its actors
  (:mod:`meshtrio._proc.actors`) on an endpoint of its own that accepts only that token, next
  to its host (:func:`actor_listen_addr`), and reports the bound address in its ProcHello
  before it is Running; clients call its actors there directly, never through the host.
  Next to a host that listens on a wildcard (``tcp:0.0.0.0:PORT``), it listens on the
  wildcard too and reports that; a client reads a wildcard proc address as "the host I
  reached this proc's host at, this port" (:meth:`~meshtrio._addr.ChannelAddr.reached_via`),
  so procs are reachable from wherever their host is. Not promised: reachability through
  NAT or a port-forward that maps the host's port alone.
* PR-5 (TLS like its host): a proc whose bootstrap carries its host's TLS settings connects
  back over TLS that trusts exactly its host's certificate (TLS-1), serves its actor endpoint
  with that certificate and key (and the host's client CA: mutual TLS, TLS-2), and calls
  other procs' actors over TLS too (:meth:`~meshtrio._tls.ServerTLS.peer_context`).
* PR-4 (setup before Running): a proc spawned with a setup function fetches it from its host
  (:class:`~meshtrio._messages.GetProcSetup`, its own only) and runs it, with
  :func:`meshtrio.context` giving its rank and point (``actor`` empty), before its
  ProcHello; if it raises, the proc exits (code 1) with the traceback on stderr, so its host
  reports it Failed with that traceback in its stderr tail. Not promised: a setup that
  never returns is ended by anything sooner than ``host_spawn_ready_timeout``.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any

import trio

from meshtrio import _config as config
from meshtrio._actor_class import ActorContext, reset_context, running_as
from meshtrio._addr import ChannelAddr
from meshtrio._contract import ProcBootstrap
from meshtrio._errors import MeshError
from meshtrio._messages import (
    Ack,
    AskProcToExit,
    GetProcConfig,
    GetProcSetup,
    ProcConfig,
    ProcHello,
    ProcSetup,
)
from meshtrio._payload import load
from meshtrio._pool import ConnectionPool
from meshtrio._proc.actors import ActorServer, format_remote_traceback
from meshtrio._slicing import Region
from meshtrio._transport import endpoints as net
from meshtrio._transport.rpc import Emit, Peer, ReplyThen

__all__ = ["EXIT_HOST_LOST", "actor_listen_addr", "run_proc"]

EXIT_HOST_LOST = 3
"""A proc's exit code when it lost its host agent instead of being asked to stop."""


async def _run_setup(boot: ProcBootstrap, peer: Peer, cfg: config.Config) -> None:
    """PR-4: fetch this proc's setup function from its host and run it (sync or async) with
    the proc's context; a failure is a MeshError whose message carries the traceback (it ends
    the proc before its hello, so its host reports it Failed with that in its stderr)."""
    reply = await peer.call(GetProcSetup(), timeout=cfg.get(config.REQUEST_TIMEOUT))
    if not isinstance(reply, ProcSetup):
        raise MeshError(f"setup: unexpected reply {type(reply).__name__}")
    token = None
    try:
        region = Region.parse(reply.region)
        point = region.extent.point_of_rank(boot.create_rank)
        ctx = ActorContext(boot.create_rank, point, region, "", str(boot.proc_id))
        token = running_as(ctx)
        fn = load(reply.setup)
        result = fn()
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        raise MeshError(
            f"proc {boot.proc_id}: its setup function raised:\n{format_remote_traceback(exc)}"
        ) from None
    finally:
        if token is not None:
            reset_context(token)


def actor_listen_addr(host_addr: ChannelAddr) -> ChannelAddr:
    """Where a proc serves actors, given its host's address (PR-3): ``local:`` next to a
    ``local:`` host, a fresh abstract unix socket next to a unix host, port 0 on the host's
    interface next to a tcp host (the wildcard next to a wildcard host: clients reach it at
    the address they reached the host at)."""
    if host_addr.transport == "local":
        return ChannelAddr.local(0)
    if host_addr.transport == "tcp":
        assert host_addr.host is not None
        return ChannelAddr.tcp(host_addr.host, 0)
    return ChannelAddr.unix("")


async def run_proc(
    boot: ProcBootstrap,
    *,
    token: str,
    cfg: config.Config,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Be a proc: serve actors, connect to the host, say hello, serve until stopped or the
    host is gone.

    Args:
        boot: the bootstrap payload.
        token: this proc's credential for its host agent (AU-1).
        cfg: the config view to serve from (its ClientOverride layer is set to
            ``boot.config`` here, PR-2).

    Returns:
        The exit code: 0 when asked to stop, :data:`EXIT_HOST_LOST` when the host went away.

    Raises:
        TransportError: the host could not be reached or refused us, or the actor endpoint
            could not listen.
        RemoteError: the host does not know this proc (it answered ProcHello with an error).
        RequestTimeoutError: the host did not answer ProcHello in time.
    """
    cfg.set_client_override(boot.config)
    stop = trio.Event()

    async def handle(_peer: Peer, msg: Any, _emit: Emit) -> Any:
        if isinstance(msg, AskProcToExit):
            return ReplyThen(Ack(), stop.set)
        if isinstance(msg, GetProcConfig):
            return ProcConfig(cfg.dump())
        raise MeshError(f"a proc does not handle {type(msg).__name__}")

    addr = boot.host_addr
    max_size = cfg.get(config.MAX_MESSAGE_SIZE)
    failure: MeshError | None = None
    async with trio.open_nursery() as nursery:
        try:
            actor_addr: ChannelAddr | None = None
            if boot.actor_token:
                # This proc's outgoing actor connections (references that arrived in a
                # message use them), and its actor endpoint (PR-3).
                pool = ConnectionPool(
                    nursery,
                    boot.actor_token,
                    tls=None if boot.tls is None else boot.tls.peer_context(),
                )
                server = ActorServer(str(boot.proc_id), cfg, nursery, pool)
                actor_addr = await nursery.start(
                    functools.partial(
                        net.serve,
                        actor_listen_addr(addr),
                        server.on_connection,
                        token=boot.actor_token,
                        max_size=max_size,
                        handshake_timeout=cfg.get(config.CONNECT_TIMEOUT),
                        tls=boot.tls,
                    )
                )
            peer: Peer = await nursery.start(
                functools.partial(
                    net.connect,
                    addr,
                    token=token,
                    handler=handle,
                    max_size=max_size,
                    timeout=cfg.get(config.CONNECT_TIMEOUT),
                    tls=None if boot.tls is None else boot.tls.host_link_context(),
                )
            )
            if boot.has_setup:
                await _run_setup(boot, peer, cfg)
            await peer.call(
                ProcHello(boot.proc_id, os.getpid(), actor_addr),
                timeout=cfg.get(config.REQUEST_TIMEOUT),
            )
        except MeshError as exc:  # raised below, outside the nursery (no group wrap)
            failure = exc
            nursery.cancel_scope.cancel()
        else:
            task_status.started()

            async def watch_host() -> None:
                await peer.closed.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_host)
            await stop.wait()
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return 0 if stop.is_set() else EXIT_HOST_LOST
