"""The mesh admin's model: every answer of the admin's API as a JSON-ready dict, read from the
hosts over the connections the client's meshes already hold (everything but HTTP).

:class:`AdminModel` asks each host one ``ListProcStates`` per lookup (older hosts:
``GetProcStates`` per proc mesh of this client), adds the client's own records of its proc
and actor meshes, and asks one proc ``GetProcMeshConfigs`` (``/v1/config``) or for its
stacks (``/v1/stacks``). The JSON shapes are :mod:`meshtrio._admin_nodes`'; the reference
grammar is :mod:`meshtrio._admin_refs`'.

Invariants owned here (spec 9.2; tests are named after them or cite them):

* AD-1 (bounded): each host is given ``host_timeout`` seconds; a host that does not answer
  in time (or cannot be reached) is reported with its error and the answer is marked
  ``partial``, never waited for longer. At most ``max_concurrent`` lookups run at once;
  one more is refused at once (:class:`~meshtrio.errors.AdminBusyError`, HTTP 503), never
  queued. A proc asked for its config or stacks has ``PROC_CALL_TIMEOUT`` seconds.
* AD-2 (read-only): no lookup changes a host, proc or actor (no spawn, stop, config push).
* NI-1: a node's ``identity`` is the reference it was asked by.
* NI-2: its ``parent`` is the containment parent: root has none; a host mesh, a host and an
  actor mesh have ``root``; a proc has its host; an actor has its proc.
* NI-3: its ``children`` are the references one level down (a mesh's hosts, a host's procs,
  a proc's actors, an actor mesh's actors).

Not promised: procs another client spawned on a host too old to answer ``ListProcStates``
(only this client's proc meshes are asked for there); actors of proc meshes this client did
not spawn (hosts do not know actors; the client does), nor of actor meshes the client no
longer holds a reference to (a proc mesh keeps only weak references to its actor meshes).
A 404 while some hosts did not answer says so: the node may be on one of them.
"""

from __future__ import annotations

import getpass
import math
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

import attrs

from meshtrio._addr import ChannelAddr
from meshtrio._admin_nodes import (
    add_actors,
    iso_time,
    jsonable,
    mesh_node,
    node_payload,
    proc_node,
    severity,
)
from meshtrio._admin_refs import parse_ref
from meshtrio._errors import (
    AdminBusyError,
    AdminNodeNotFoundError,
    AdminRefError,
    InputError,
    MeshError,
    RemoteError,
    RequestTimeoutError,
)
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
    "PROC_CALL_TIMEOUT",
    "AdminInfo",
    "AdminModel",
]

ADMIN_HOST_TIMEOUT = 2.0
"""Seconds each host has to answer one admin lookup (AD-1)."""

ADMIN_MAX_CONCURRENT = 4
"""Admin lookups in flight at once; one more is refused with 503 (AD-1)."""

PROC_CALL_TIMEOUT = 3.0
"""Seconds a proc has for ``/v1/config`` (through its host) and ``/v1/stacks``."""


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
        """The ``/v1/admin`` answer (``started_at`` as ISO-8601 UTC text)."""
        return {
            "admin_id": self.admin_id,
            "pid": self.pid,
            "hostname": self.hostname,
            "started_at": iso_time(self.started_at),
            "started_by": self.started_by,
            "url": self.url,
            "meshes": list(self.meshes),
            "num_hosts": self.num_hosts,
        }


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
        meshes: the live host meshes whose connections it reads over.
        hosts: their hosts, as :func:`meshtrio._admin.aggregate_hosts` made them (SA-1..SA-3,
            SA-6 / CH-1 are checked there).
        client_hosts: the client's own host meshes, merged after (SA-6 / CH-1).
        host_timeout: seconds each host has per lookup (AD-1).
        max_concurrent: lookups in flight at once (AD-1).

    Raises:
        InputError: a mesh that is not a live HostMesh, a bad ``host_timeout`` or
            ``max_concurrent``.
    """

    def __init__(
        self,
        meshes: Sequence[Any],
        *,
        hosts: HostSet[ChannelAddr],
        client_hosts: Sequence[Any] = (),
        host_timeout: float = ADMIN_HOST_TIMEOUT,
        max_concurrent: int = ADMIN_MAX_CONCURRENT,
    ) -> None:
        if isinstance(host_timeout, bool) or not (
            isinstance(host_timeout, int | float) and 0 < host_timeout < math.inf
        ):
            raise InputError(f"host_timeout must be finite seconds > 0, got {host_timeout!r}")
        if (
            isinstance(max_concurrent, bool)
            or not isinstance(max_concurrent, int)
            or max_concurrent < 1
        ):
            raise InputError(f"max_concurrent must be an int >= 1, got {max_concurrent!r}")
        self.hosts = hosts
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
        """A lookup slot (a context manager); AdminBusyError at once if none is free."""
        if self._in_flight >= self.max_concurrent:
            raise AdminBusyError(
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
                procs[st.proc_id] = proc_node(
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
            add_actors(pm, pm_text, procs)
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
            "as_of": iso_time(time.time()),
            "partial": any(h["status"] != "ok" for h in hosts),
            "admin": self.admin(),
            "meshes": [mesh_node(m) for m in self._all_meshes()],
            "hosts": hosts,
        }

    def _all_meshes(self) -> list[Any]:
        seen: dict[str, Any] = {}
        for mesh in [*self.meshes, *self.client_hosts]:
            seen.setdefault(str(mesh.id), mesh)
        return list(seen.values())

    async def node(self, ref: str) -> dict[str, Any]:
        """``/v1/{ref}``: one node, its parent and its children (NI-1, NI-2, NI-3).

        Raises:
            AdminRefError: ``ref`` does not parse (400).
            AdminNodeNotFoundError: nothing by that reference (404).
        """
        kind, value = parse_ref(ref)
        now = iso_time(time.time())
        if kind == "root":
            return node_payload(
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
                    node = mesh_node(mesh)
                    return node_payload(
                        ref, "mesh", "root", node["hosts"], node["status"], node, now
                    )
            raise AdminNodeNotFoundError(f"no host mesh {value!r} in this admin")
        if kind == "host":
            addr = ChannelAddr.parse(value)
            if addr not in self.routes:
                raise AdminNodeNotFoundError(f"no host {value!r} in this admin")
            (host,) = await self._ask_hosts([addr])
            return self._host_payload(host, now)
        hosts = await self._ask_hosts(self._hosts_for(kind, value))
        partial = any(h["status"] != "ok" for h in hosts)
        for host in hosts:
            for proc in host["procs"]:
                if kind == "proc" and proc["proc_id"] == value:
                    return node_payload(
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
                        return node_payload(
                            ref, "actor", proc["ref"], [], actor["status"], actor, now
                        )
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
                worst = max((a["status"] for a in members), key=severity)
                return node_payload(
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
        raise AdminNodeNotFoundError(f"no {what} {value!r} on this admin's hosts{more}")

    def _host_payload(self, host: dict[str, Any], now: str) -> dict[str, Any]:
        props = {k: v for k, v in host.items() if k != "procs"}
        props["num_procs"] = len(host["procs"])
        return node_payload(
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
            raise AdminRefError(f"expected a proc reference (proc:<proc id>), got {ref[:100]!r}")
        for host in await self._ask_hosts(self._hosts_for("proc", value)):
            for proc in host["procs"]:
                if proc["proc_id"] == value:
                    return proc, ChannelAddr.parse(host["addr"])
        raise AdminNodeNotFoundError(f"no proc {value!r} on this admin's hosts")

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
                key: {"value": jsonable(value), "source": source}
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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
