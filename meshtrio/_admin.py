"""The mesh admin (spec 9): what a client's meshes look like, read over its own connections.

:func:`serve_admin` (``spawn_admin`` is the seed's name) serves an HTTP JSON API and a page
(:mod:`meshtrio._admin_http`) from a task of the caller's Trio run. Every answer is read from
the hosts over the connections the caller's meshes already hold (no second control plane):
one ``ListProcStates`` per host, the client's own records of its proc and actor
meshes, ``GetProcMeshConfigs`` and the stacks feature for one proc. It only looks.

Invariants owned here (spec 9.1; tests are named after them):

* SA-1: an empty set of meshes is refused (InputError naming SA-1); nothing is served.
* SA-2: a mesh with no hosts is refused, naming its index (``mesh at index 1 has no hosts``).
* SA-3: the admin's hosts are the meshes' hosts in first-seen order, each once
  (:class:`~meshtrio._host_set.HostSet`); a host in two meshes is asked once.
* SA-4: one mesh is the same as a list of one mesh.
* SA-5: the admin runs in the caller's process, in a task of the ``async with`` block.
* SA-6 / CH-1: the client's own hosts (``client_hosts``, e.g. the in-process hosts it runs)
  are merged *after* the meshes' hosts with the same de-duplication: each appears once,
  whether or not a mesh holds it too, and is marked ``client``.
* AI-1 (live identity): ``/v1/admin`` names this admin (its id, pid, start time, who
  started it) for as long as the block runs; AI-2 (hosting process): its ``pid`` is the
  caller's; AI-3 (url): its ``url`` equals :attr:`Admin.url`.
* AD-1 (bounded): each host is given ``host_timeout`` seconds; a host that does not answer
  in time (or cannot be reached) is reported with its error and the answer is marked
  ``partial``, never waited for longer. At most ``max_concurrent`` lookups run at once;
  one more is refused at once (HTTP 503), never queued.
* AD-2 (read-only): no request changes a host, proc or actor (no spawn, stop, config push).

Not promised: procs another client spawned on a host too old to answer ``ListProcStates``
(only this client's proc meshes are asked for there); actors of proc meshes this client did
not spawn (hosts do not know actors; the client does), nor of actor meshes the client no
longer holds a reference to (a proc mesh keeps only weak references to its actor meshes).
"""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import logging
import math
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import trio

from meshtrio._addr import ChannelAddr
from meshtrio._blocks import Captured, async_context_manager
from meshtrio._errors import InputError, MeshError, RemoteError, RequestTimeoutError
from meshtrio._host_mesh import HostMesh
from meshtrio._host_set import HostSet
from meshtrio._ids import ProcMeshId
from meshtrio._messages import (
    GetProcMeshConfigs,
    GetProcStates,
    HostProcStates,
    ListProcStates,
    ProcMeshConfigs,
    ProcRow,
    ProcStates,
)
from meshtrio._pool import ConnectionPool, Outcome, fan_out
from meshtrio._slicing import Region
from meshtrio._stacks import gather_stacks
from meshtrio._status import ProcState

__all__ = [
    "ADMIN_HOST_TIMEOUT",
    "ADMIN_MAX_CONCURRENT",
    "Admin",
    "AdminModel",
    "aggregate_hosts",
    "serve_admin",
    "spawn_admin",
]

log = logging.getLogger("meshtrio.admin")

ADMIN_HOST_TIMEOUT = 2.0
"""Seconds each host has to answer one admin lookup (AD-1)."""

ADMIN_MAX_CONCURRENT = 4
"""Admin lookups in flight at once; one more is refused with 503 (AD-1)."""

PROC_CALL_TIMEOUT = 3.0
"""Seconds a proc has for ``/v1/config`` (through its host) and ``/v1/stacks``."""


class _Meshlike(Protocol):
    @property
    def addrs(self) -> tuple[ChannelAddr, ...]: ...


class RefError(InputError):
    """A node reference that does not parse (HTTP 400). Internal: the API answers it."""


class NodeNotFound(MeshError, KeyError):
    """A well-formed reference to nothing the admin knows (HTTP 404). Internal."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AdminBusy(MeshError, RuntimeError):
    """Too many lookups in flight (HTTP 503). Internal."""


def aggregate_hosts(meshes: Any, client_hosts: Iterable[_Meshlike] = ()) -> HostSet[ChannelAddr]:
    """The admin's hosts (SA-1, SA-2, SA-3, SA-6 / CH-1).

    Raises:
        InputError: no meshes (SA-1), or a mesh with no hosts, naming its index (SA-2).
    """
    if isinstance(meshes, str) or not isinstance(meshes, Sequence):
        raise InputError(f"meshes must be a sequence of host meshes, got {type(meshes).__name__}")
    if not meshes:
        raise InputError("the admin needs at least one host mesh, got none (SA-1)")
    for index, mesh in enumerate(meshes):
        if not tuple(mesh.addrs):
            raise InputError(f"mesh at index {index} has no hosts (SA-2)")
    hosts: HostSet[ChannelAddr] = HostSet.of(addr for mesh in meshes for addr in mesh.addrs)
    for client in client_hosts:  # SA-6 / CH-1: after the meshes', same de-duplication
        for addr in client.addrs:
            hosts = hosts.insert(addr)
    return hosts


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="milliseconds")


@attrs.frozen
class AdminInfo:
    """Who the admin is (AI-1..AI-3): ``/v1/admin``."""

    admin_id: str
    pid: int
    hostname: str
    started_at: float
    started_by: str
    url: str
    meshes: tuple[str, ...]
    num_hosts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "admin_id": self.admin_id,
            "pid": self.pid,
            "hostname": self.hostname,
            "started_at": _iso(self.started_at),
            "started_by": self.started_by,
            "url": self.url,
            "meshes": list(self.meshes),
            "num_hosts": self.num_hosts,
        }


# -- node references -------------------------------------------------------------------------
# root | mesh:<host mesh id> | host:<addr> | proc:<proc id> | actors:<key> | actor:<key>/<rank>
KINDS = ("mesh", "host", "proc", "actors", "actor")


def parse_ref(text: str) -> tuple[str, str]:
    """``(kind, value)`` of a node reference; ``("root", "")`` for ``root``.

    Raises:
        RefError: not one of the forms above.
    """
    if text == "root":
        return "root", ""
    kind, sep, value = text.partition(":")
    if not sep or kind not in KINDS or not value or len(text) > 1024:
        raise RefError(
            f"malformed node reference {text[:100]!r}: expected root, "
            + ", ".join(f"{k}:<...>" for k in KINDS)
        )
    if kind == "host":
        try:
            ChannelAddr.parse(value)
        except InputError as exc:
            raise RefError(f"malformed host reference {text[:100]!r}: {exc}") from exc
    if kind == "actor":
        key, slash, rank = value.rpartition("/")
        if not slash or not key or not rank.isdigit():
            raise RefError(f"malformed actor reference {text[:100]!r}: expected actor:<key>/<rank>")
    return kind, value


def _row(st: ProcState) -> ProcRow:
    """A ProcState (an older host's GetProcStates answer) as a ListProcStates row."""
    return ProcRow(
        st.proc_id,
        st.create_rank,
        str(st.status),
        st.pid,
        st.address,
        st.exit_code,
        st.signal,
        list(st.stderr_tail[-5:]),
    )


def _status_class(text: str) -> str:
    """One word the page colours by: running, starting, stopping, stopped, failed, unknown."""
    head = text.split("(", 1)[0]
    return {
        "Running": "running",
        "Initializing": "starting",
        "NotExist": "starting",
        "Stopping": "stopping",
        "Stopped": "stopped",
        "Failed": "failed",
        "Timeout": "unknown",
        "Unknown": "unknown",
        "running": "running",
    }.get(head, "unknown")


@attrs.define
class _HostRoute:
    """How to reach one host: the pool of the first mesh (session) that holds it."""

    addr: ChannelAddr
    pool: ConnectionPool
    meshes: list[str]
    client: bool = False


class AdminModel:
    """The admin's answers, as JSON-ready dicts (everything but HTTP).

    Args:
        meshes: the host meshes (SA-1, SA-2).
        client_hosts: the client's own host meshes, merged after (SA-6 / CH-1).
        host_timeout: seconds each host has per lookup (AD-1).
        max_concurrent: lookups in flight at once (AD-1).
    """

    def __init__(
        self,
        meshes: Sequence[Any],
        *,
        client_hosts: Sequence[Any] = (),
        host_timeout: float = ADMIN_HOST_TIMEOUT,
        max_concurrent: int = ADMIN_MAX_CONCURRENT,
    ) -> None:
        if not (isinstance(host_timeout, int | float) and 0 < host_timeout < math.inf):
            raise InputError(f"host_timeout must be finite seconds > 0, got {host_timeout!r}")
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise InputError(f"max_concurrent must be an int >= 1, got {max_concurrent!r}")
        self.hosts = aggregate_hosts(meshes, client_hosts)
        for what, group in (("meshes", meshes), ("client_hosts", client_hosts)):
            for index, mesh in enumerate(group):
                if not isinstance(mesh, HostMesh):
                    raise InputError(
                        f"{what}[{index}] must be a live HostMesh (from attach or open_*), "
                        f"got {type(mesh).__name__}: the admin reads over its connections"
                    )
        self.meshes = list(meshes)
        self.client_hosts = list(client_hosts)
        self.host_timeout = float(host_timeout)
        self.max_concurrent = max_concurrent
        self._in_flight = 0
        self.routes: dict[ChannelAddr, _HostRoute] = {}
        for mesh in [*self.meshes, *self.client_hosts]:
            for addr in mesh.addrs:
                route = self.routes.get(addr)
                if route is None:
                    route = self.routes[addr] = _HostRoute(addr, mesh._session.pool, [])
                if str(mesh.id) not in route.meshes:
                    route.meshes.append(str(mesh.id))
        for mesh in self.client_hosts:
            for addr in mesh.addrs:
                self.routes[addr].client = True
        self.info = AdminInfo(
            admin_id=f"admin-{secrets.token_hex(4)}",
            pid=os.getpid(),
            hostname=socket.gethostname(),
            started_at=time.time(),
            started_by=_user(),
            url="",
            meshes=tuple(dict.fromkeys(str(m.id) for m in self.meshes)),
            num_hosts=len(self.hosts),
        )

    # -- AD-1: the concurrency limit ------------------------------------------------------------
    def slot(self) -> _Slot:
        """A lookup slot (a context manager); AdminBusy at once if none is free."""
        if self._in_flight >= self.max_concurrent:
            raise AdminBusy(
                f"{self._in_flight} admin lookups in flight (the limit is "
                f"{self.max_concurrent}): try again shortly"
            )
        return _Slot(self)

    # -- what the client knows ----------------------------------------------------------------
    def _proc_meshes(self) -> list[Any]:
        seen: dict[str, Any] = {}
        for mesh in [*self.meshes, *self.client_hosts]:
            for pm in mesh._session.proc_meshes:
                seen.setdefault(str(pm.id), pm)
        return list(seen.values())

    # -- asking the hosts ---------------------------------------------------------------------
    async def _host_states(
        self, addr: ChannelAddr, mine: Sequence[tuple[Any, str]]
    ) -> dict[str, list[ProcRow]]:
        """One host's proc states by proc mesh id text, in one request (ListProcStates); a
        host too old to know it is asked GetProcStates for each of ``mine`` instead."""
        pool = self.routes[addr].pool
        timeout = self.host_timeout
        try:
            reply = await pool.call(addr, ListProcStates(), timeout=timeout)
        except RemoteError:  # an older host: ask for this client's proc meshes only
            meshes: dict[str, list[ProcRow]] = {}
            for pm, text in mine:
                states = await pool.call(addr, GetProcStates(pm.id), timeout=timeout)
                if isinstance(states, ProcStates):
                    meshes[text] = [_row(st) for st in states.states]
            return meshes
        if not isinstance(reply, HostProcStates):
            raise MeshError(f"unexpected reply {type(reply).__name__} to ListProcStates")
        return reply.meshes

    def _host_node(
        self, addr: ChannelAddr, mine: Sequence[tuple[Any, str]], outcome: Outcome
    ) -> dict[str, Any]:
        """A host's node with its procs (and this client's actors under them)."""
        route = self.routes[addr]
        host_text = str(addr)
        own = {text for _, text in mine}
        procs: dict[str, dict[str, Any]] = {}
        for pm_text, states in (outcome.value or {}).items():
            for st in states:
                procs[st.proc_id] = _proc_node(
                    st.proc_id,
                    pm_text,
                    st.create_rank,
                    st.status,
                    host_text,
                    pid=st.pid,
                    address=st.address,
                    exit_code=st.exit_code,
                    signal=st.signal,
                    stderr_tail=st.stderr_tail,
                    mine=pm_text in own,
                )
        for pm, pm_text in mine:
            _add_actors(pm, pm_text, procs)
        error = outcome.error
        if error is None:
            status = "ok"
        elif isinstance(error, RequestTimeoutError):
            status = "timeout"
        else:
            status = "unreachable"
        return {
            "ref": f"host:{host_text}",
            "kind": "host",
            "addr": host_text,
            "status": status,
            "status_class": "running" if status == "ok" else "unknown",
            "error": None if error is None else f"{type(error).__name__}: {error}",
            "latency_ms": round(outcome.elapsed * 1000, 3),
            "meshes": list(route.meshes),
            "client": route.client,
            "procs": sorted(procs.values(), key=lambda n: (n["proc_mesh"], n["rank"])),
        }

    async def _ask_hosts(self, addrs: Sequence[ChannelAddr]) -> list[dict[str, Any]]:
        """Every host of ``addrs`` at once, under one deadline of ``host_timeout`` (AD-1):
        a host that does not answer in time is a node with status ``timeout``."""
        by_host: dict[ChannelAddr, list[tuple[Any, str]]] = {}
        for pm in self._proc_meshes():  # once per lookup, not once per host
            text = str(pm.id)
            for host in dict.fromkeys(p.host for p in pm.procs):
                by_host.setdefault(host, []).append((pm, text))
        outcomes = await fan_out(
            addrs,
            lambda a: self._host_states(a, by_host.get(a, [])),
            timeout=self.host_timeout,
        )
        return [
            self._host_node(a, by_host.get(a, []), o) for a, o in zip(addrs, outcomes, strict=True)
        ]

    # -- the routes ---------------------------------------------------------------------------
    def admin(self) -> dict[str, Any]:
        """``/v1/admin`` (AI-1..AI-3)."""
        return self.info.to_json()

    async def tree(self) -> dict[str, Any]:
        """``/v1/tree``: meshes, hosts, procs, actors, each with its status (AD-1)."""
        hosts = await self._ask_hosts(list(self.hosts))
        return {
            "as_of": _iso(time.time()),
            "partial": any(h["status"] != "ok" for h in hosts),
            "admin": self.admin(),
            "meshes": [self._mesh_node(m) for m in self._all_meshes()],
            "hosts": hosts,
        }

    def _all_meshes(self) -> list[Any]:
        seen: dict[str, Any] = {}
        for mesh in [*self.meshes, *self.client_hosts]:
            seen.setdefault(str(mesh.id), mesh)
        return list(seen.values())

    def _mesh_node(self, mesh: Any) -> dict[str, Any]:
        state = str(mesh.state)
        return {
            "ref": f"mesh:{mesh.id}",
            "kind": "mesh",
            "id": str(mesh.id),
            "region": str(mesh.region),
            "status": state,
            "status_class": "running" if state == "live" else "stopped",
            "hosts": [f"host:{a}" for a in dict.fromkeys(mesh.addrs)],
            "proc_meshes": [str(pm.id) for pm in mesh._session.proc_meshes],
        }

    async def node(self, ref: str) -> dict[str, Any]:
        """``/v1/{ref}``: one node, its parent and its children (NI-1, NI-2, NI-3).

        Raises:
            RefError: ``ref`` does not parse (400).
            NodeNotFound: nothing by that reference (404).
        """
        kind, value = parse_ref(ref)
        now = _iso(time.time())
        if kind == "root":
            return _payload(
                "root",
                "root",
                None,
                [f"mesh:{m.id}" for m in self._all_meshes()] + [f"host:{a}" for a in self.hosts],
                "running",
                self.admin(),
                now,
            )
        if kind == "mesh":
            for mesh in self._all_meshes():
                if str(mesh.id) == value:
                    node = self._mesh_node(mesh)
                    return _payload(ref, "mesh", "root", node["hosts"], node["status"], node, now)
            raise NodeNotFound(f"no host mesh {value!r} in this admin")
        if kind == "host":
            addr = ChannelAddr.parse(value)
            if addr not in self.routes:
                raise NodeNotFound(f"no host {value!r} in this admin")
            (host,) = await self._ask_hosts([addr])
            return self._host_payload(host, now)
        hosts = await self._ask_hosts(self._hosts_for(kind, value))
        partial = any(h["status"] != "ok" for h in hosts)
        for host in hosts:
            for proc in host["procs"]:
                if kind == "proc" and proc["proc_id"] == value:
                    return _payload(
                        ref,
                        "proc",
                        host["ref"],
                        [a["ref"] for a in proc["actors"]],
                        proc["status"],
                        proc,
                        now,
                        partial=host["status"] != "ok",
                    )
                for actor in proc["actors"]:
                    if kind == "actor" and actor["ref"] == ref:
                        return _payload(ref, "actor", proc["ref"], [], actor["status"], actor, now)
        if kind == "actors":
            members = [
                a for h in hosts for p in h["procs"] for a in p["actors"] if a["key"] == value
            ]
            if members:
                first = members[0]
                props = {
                    "key": value,
                    "name": first["name"],
                    "class": first["class"],
                    "proc_mesh": first["proc_mesh"],
                    "num_actors": len(members),
                }
                worst = max((a["status"] for a in members), key=_severity)
                return _payload(
                    ref,
                    "actors",
                    "root",
                    [a["ref"] for a in members],
                    worst,
                    props,
                    now,
                    partial=partial,
                )
        what = {"proc": "proc", "actors": "actor mesh", "actor": "actor"}[kind]
        more = " (some hosts did not answer)" if partial else ""
        raise NodeNotFound(f"no {what} {value!r} on this admin's hosts{more}")

    def _host_payload(self, host: dict[str, Any], now: str) -> dict[str, Any]:
        props = {k: v for k, v in host.items() if k != "procs"}
        props["num_procs"] = len(host["procs"])
        return _payload(
            host["ref"],
            "host",
            "root",
            [p["ref"] for p in host["procs"]],
            host["status"],
            props,
            now,
            partial=host["status"] != "ok",
        )

    def _hosts_for(self, kind: str, value: str) -> list[ChannelAddr]:
        """The hosts to ask for a proc or actor reference: those the client's records place
        it on, else every host."""
        for pm in self._proc_meshes():
            for p in pm.procs:
                if kind == "proc" and p.proc_id == value:
                    return [p.host]
            if kind in ("actors", "actor"):
                key = value.rpartition("/")[0] if kind == "actor" else value
                for ref in pm._actor_meshes:
                    actors = ref()
                    if actors is not None and actors._shared.key == key:
                        return list(dict.fromkeys(p.host for p in pm.procs))
        return list(self.hosts)

    async def _find_proc(self, ref: str) -> tuple[dict[str, Any], ChannelAddr]:
        kind, value = parse_ref(ref)
        if kind != "proc":
            raise RefError(f"expected a proc reference (proc:<proc id>), got {ref[:100]!r}")
        for host in await self._ask_hosts(self._hosts_for("proc", value)):
            for proc in host["procs"]:
                if proc["proc_id"] == value:
                    return proc, ChannelAddr.parse(host["addr"])
        raise NodeNotFound(f"no proc {value!r} on this admin's hosts")

    async def config(self, ref: str) -> dict[str, Any]:
        """``/v1/config/{proc}``: the proc's effective config, key to value and source."""
        proc, addr = await self._find_proc(ref)
        route = self.routes[addr]
        pm_id = ProcMeshId.parse(proc["proc_mesh"])
        try:
            reply = await route.pool.call(
                addr,
                GetProcMeshConfigs(pm_id, PROC_CALL_TIMEOUT * 0.8),
                timeout=PROC_CALL_TIMEOUT,
            )
        except MeshError as exc:
            return {"proc": ref, "partial": True, "error": f"{type(exc).__name__}: {exc}"}
        entries = reply.configs.get(proc["rank"], {}) if isinstance(reply, ProcMeshConfigs) else {}
        return {
            "proc": ref,
            "partial": not entries,
            "error": None if entries else "the proc did not answer",
            "config": {
                key: {"value": _jsonable(value), "source": source}
                for key, (value, source) in sorted(entries.items())
            },
        }

    async def stacks(self, ref: str) -> dict[str, Any]:
        """``/v1/stacks/{proc}``: the proc's threads and Trio tasks (ST-2: itself first,
        its host's faulthandler dump when its event loop does not answer)."""
        proc, addr = await self._find_proc(ref)
        route = self.routes[addr]
        pm_id = ProcMeshId.parse(proc["proc_mesh"])
        rank = proc["rank"]
        token = self._actor_token(proc["proc_mesh"], addr)
        address = proc["address"]
        full = Region.parse(f"procs={rank + 1}/1")
        one = full.range("procs", rank)

        @attrs.frozen
        class Target:
            proc_id: str
            address: ChannelAddr | None
            host: ChannelAddr

        target = Target(
            proc["proc_id"], None if address is None else ChannelAddr.parse(address), addr
        )

        async def connect(_rank: int) -> Any:
            if target.address is None or token is None:
                raise MeshError("the proc serves no actor endpoint this admin can reach")
            return await route.pool.peer(target.address, token=token)

        class Hosts:
            async def call(self, a: ChannelAddr, body: Any, *, timeout: float) -> Any:
                return await route.pool.call(a, body, timeout=timeout)

        records = await gather_stacks(
            region=one,
            full=full,
            targets={rank: target},
            proc_mesh_id=pm_id,
            connect=connect,
            hosts=Hosts(),
            timeout=PROC_CALL_TIMEOUT,
        )
        (record,) = list(records.values())
        return {
            "proc": ref,
            "source": record.source,
            "error": record.error,
            "pid": record.pid,
            "text": str(record),
        }

    def _actor_token(self, proc_mesh: str, addr: ChannelAddr) -> str | None:
        for pm in self._proc_meshes():
            if str(pm.id) == proc_mesh:
                token: str = pm._actor_token
                return token
        return None


class _Slot:
    def __init__(self, model: AdminModel) -> None:
        self._model = model

    def __enter__(self) -> None:
        self._model._in_flight += 1

    def __exit__(self, *exc: object) -> None:
        self._model._in_flight -= 1


_SEVERITY = ["running", "starting", "stopping", "stopped", "unknown", "failed"]


def _severity(status: str) -> int:
    return _SEVERITY.index(_status_class(status)) if _status_class(status) in _SEVERITY else 0


def _payload(
    ref: str,
    kind: str,
    parent: str | None,
    children: list[str],
    status: str,
    properties: Mapping[str, Any],
    as_of: str,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    return {
        "identity": ref,
        "kind": kind,
        "parent": parent,
        "children": children,
        "status": status,
        "status_class": _status_class(status)
        if kind != "host"
        else properties.get("status_class", "unknown"),
        "properties": dict(properties),
        "as_of": as_of,
        "partial": partial,
    }


def _proc_node(
    proc_id: str,
    proc_mesh: str,
    rank: int,
    status: str,
    host: str,
    *,
    pid: int | None = None,
    address: str | None = None,
    exit_code: int | None = None,
    signal: int | None = None,
    stderr_tail: list[str] | None = None,
    mine: bool,
) -> dict[str, Any]:
    return {
        "ref": f"proc:{proc_id}",
        "kind": "proc",
        "proc_id": proc_id,
        "proc_mesh": proc_mesh,
        "rank": rank,
        "status": status,
        "status_class": _status_class(status),
        "host": host,
        "pid": pid,
        "address": address,
        "exit_code": exit_code,
        "signal": signal,
        "stderr_tail": stderr_tail or [],
        "spawned_by_this_client": mine,
        "actors": [],
    }


def _add_actors(pm: Any, pm_text: str, procs: dict[str, dict[str, Any]]) -> None:
    """The client's actors of proc mesh ``pm`` under their procs, each with a status from
    what the client knows (stopped, died) and its proc's status."""
    for ref in pm._actor_meshes:
        actors = ref()
        if actors is None:
            continue
        shared = actors._shared
        for rank in actors.region.base_ranks():
            target = shared.targets.get(rank)
            if target is None or target.proc_id not in procs:
                continue
            proc = procs[target.proc_id]
            if rank in shared.stopped:
                status = "Stopped"
            elif rank in shared.deaths:
                status = "Failed(died)"
            elif proc["status"] == "Running":
                status = "Running"
            else:
                status = f"Failed(its proc is {proc['status'].split('(', 1)[0]})"
            proc["actors"].append(
                {
                    "ref": f"actor:{shared.key}/{rank}",
                    "kind": "actor",
                    "key": shared.key,
                    "name": shared.name,
                    "class": shared.class_name,
                    "rank": rank,
                    "proc": proc["ref"],
                    "proc_mesh": pm_text,
                    "status": status,
                    "status_class": _status_class(status),
                    "in_flight": shared.in_flight.get(rank, 0),
                }
            )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@attrs.frozen
class Admin:
    """A running admin (what :func:`serve_admin` yields).

    Attributes:
        url: where it serves (``http://127.0.0.1:PORT``); AI-3.
        token: the bearer token every ``/v1/`` request needs.
        hosts: its hosts, in first-seen order (SA-3).
    """

    url: str
    token: str = attrs.field(repr=False)
    hosts: HostSet[ChannelAddr]
    model: AdminModel = attrs.field(repr=False)

    @property
    def page_url(self) -> str:
        """The page's address with the token in the fragment (never sent to the server)."""
        return f"{self.url}/#token={self.token}"


@async_context_manager
async def serve_admin(
    meshes: Any,
    *,
    listen: str = "127.0.0.1:0",
    token: str | None = None,
    client_hosts: Sequence[Any] = (),
    host_timeout: float = ADMIN_HOST_TIMEOUT,
    max_concurrent: int = ADMIN_MAX_CONCURRENT,
    announce: bool = True,
) -> AsyncIterator[Admin]:
    """Serve the mesh admin for ``meshes`` while the block runs (spec 9; SA-1..SA-6, CH-1).

    The HTTP server (hypercorn's Trio worker serving a Starlette app: the ``admin`` extra,
    ``pip install 'meshtrio[admin]'``) runs in a task of this block, reading the hosts over
    the meshes' own connections. It only looks (AD-2). Every ``/v1/`` request needs
    ``Authorization: Bearer <token>``; ``GET /`` serves the page, which reads the token from
    its URL's fragment (:attr:`Admin.page_url`).

    Args:
        meshes: a :class:`~meshtrio.HostMesh`, or a sequence of them (SA-4).
        listen: ``HOST:PORT`` to bind (default loopback, a free port).
        token: the bearer token (default: a fresh random one).
        client_hosts: the client's own host meshes (e.g. in-process hosts), merged after
            ``meshes``' hosts (SA-6 / CH-1).
        host_timeout: seconds each host has per lookup (AD-1).
        max_concurrent: lookups in flight at once; one more is answered 503 (AD-1).
        announce: print where it serves, once, on stderr (the page's address with the token
            in its fragment, and a curl line), when it made its own token.

    Leaving the block stops the server (requests in flight are cancelled); cancelling it
    does the same. Nothing on the hosts changes.

    Raises:
        InputError: no meshes (SA-1), a mesh with no hosts (SA-2), a mesh that is not a live
            HostMesh, a bad ``token``, ``host_timeout`` or ``max_concurrent``, or a
            ``listen`` that is malformed or cannot be bound (taken, not an address here).
        ImportError: the ``admin`` extra is not installed (the message says so).
    """
    if not isinstance(meshes, Sequence) or isinstance(meshes, str):
        meshes = [meshes] if hasattr(meshes, "addrs") else meshes
    model = AdminModel(
        meshes,
        client_hosts=client_hosts,
        host_timeout=host_timeout,
        max_concurrent=max_concurrent,
    )
    made_token = token is None
    if token is None:
        token = secrets.token_urlsafe(32)
    if (
        not isinstance(token, str)
        or len(token) < 16
        or not token.isascii()
        or not token.isprintable()
    ):
        raise InputError("the admin token must be printable ASCII text of 16 chars or more")
    host, port = _split_listen(listen)
    if not _is_loopback(host):
        log.warning(
            "the mesh admin listens on %s, which other machines can reach, in plaintext: "
            "whoever reads this traffic can take its token and read what it shows",
            listen,
        )
    try:
        from meshtrio import _admin_http
    except ImportError as exc:
        raise ImportError(
            f"the mesh admin needs the 'admin' extra: pip install 'meshtrio[admin]' ({exc})"
        ) from exc
    captured = Captured()  # re-raised below, outside the nursery (no group wrap)
    refused: OSError | None = None
    async with trio.open_nursery() as nursery:
        try:
            url = await nursery.start(_admin_http.serve, model, token, host, port)
        except OSError as exc:  # the address is taken or cannot be bound: nothing served
            refused = exc
        else:
            model.info = attrs.evolve(model.info, url=url)
            if announce and made_token:
                print(
                    f"meshtrio admin: open {url}/#token={token}\n"
                    f"  or: curl -H 'Authorization: Bearer {token}' {url}/v1/tree",
                    file=sys.stderr,
                    flush=True,
                )
            with captured:
                yield Admin(url=url, token=token, hosts=model.hosts, model=model)
        nursery.cancel_scope.cancel()
    if refused is not None:
        raise InputError(
            f"the mesh admin cannot listen on {listen}: {refused.strerror or refused}"
        ) from refused
    captured.reraise()


@async_context_manager
async def spawn_admin(
    meshes: Any,
    *,
    listen: str = "127.0.0.1:0",
    token: str | None = None,
    client_hosts: Sequence[Any] = (),
    host_timeout: float = ADMIN_HOST_TIMEOUT,
    max_concurrent: int = ADMIN_MAX_CONCURRENT,
    announce: bool = True,
) -> AsyncIterator[Admin]:
    """The seed's (and upstream's) name for :func:`serve_admin`: the same arguments, the
    same admin."""
    async with serve_admin(
        meshes,
        listen=listen,
        token=token,
        client_hosts=client_hosts,
        host_timeout=host_timeout,
        max_concurrent=max_concurrent,
        announce=announce,
    ) as admin:
        yield admin


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def _split_listen(listen: str) -> tuple[str, int]:
    if not isinstance(listen, str):
        raise InputError(f"listen must be 'HOST:PORT' text, got {type(listen).__name__}")
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"listen must be 'HOST:PORT' (e.g. 127.0.0.1:0), got {listen!r}")
    return host, int(port)
