"""The mesh admin's JSON shapes: the node payload of ``/v1/{ref}`` and the nodes of
``/v1/tree`` (host meshes, procs, actors), built from what the client and its hosts know.

What every node holds: ``status`` (the text the host or client reported) and
``status_class``, one of :data:`STATUS_CLASSES`, which the page and ``top`` colour by; a
``/v1/{ref}`` payload also holds ``identity``, ``parent`` and ``children`` (whose meaning,
NI-1..NI-3, :mod:`meshtrio._admin_model` owns), ``as_of`` (ISO-8601, UTC) and ``partial``
(a host it needed did not answer).

Not promised: upstream's externally tagged ``properties`` (``{"Proc": {...}}``): here
``properties`` is the node's own flat dict, and its keys may grow. An actor's status is what
this client knows (stopped, died, its proc's state), not a probe of the actor.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "STATUS_CLASSES",
    "add_actors",
    "iso_time",
    "jsonable",
    "mesh_node",
    "node_payload",
    "proc_node",
    "severity",
    "status_class",
]

STATUS_CLASSES = ("running", "starting", "stopping", "stopped", "unknown", "failed")
"""The status classes, least severe first (an actor mesh shows its worst member's)."""


def iso_time(t: float) -> str:
    """``t`` (seconds since the epoch) as ISO-8601 UTC text, to the millisecond."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="milliseconds")


def status_class(text: str) -> str:
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


def severity(status: str) -> int:
    """How bad a status is: its class's index in :data:`STATUS_CLASSES`."""
    return STATUS_CLASSES.index(status_class(status))


def node_payload(
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
    """The ``/v1/{ref}`` answer for one node."""
    return {
        "identity": ref,
        "kind": kind,
        "parent": parent,
        "children": children,
        "status": status,
        "status_class": status_class(status)
        if kind != "host"
        else properties.get("status_class", "unknown"),
        "properties": dict(properties),
        "as_of": as_of,
        "partial": partial,
    }


def mesh_node(mesh: Any) -> dict[str, Any]:
    """A host mesh's node in ``/v1/tree``: its hosts and this client's proc meshes on it."""
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


def proc_node(
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
    """A proc's node in ``/v1/tree`` (its ``actors`` are filled by :func:`add_actors`)."""
    return {
        "ref": f"proc:{proc_id}",
        "kind": "proc",
        "proc_id": proc_id,
        "proc_mesh": proc_mesh,
        "rank": rank,
        "status": status,
        "status_class": status_class(status),
        "host": host,
        "pid": pid,
        "address": address,
        "exit_code": exit_code,
        "signal": signal,
        "stderr_tail": stderr_tail or [],
        "spawned_by_this_client": mine,
        "actors": [],
    }


def add_actors(pm: Any, pm_text: str, procs: dict[str, dict[str, Any]]) -> None:
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
                    "status_class": status_class(status),
                    "in_flight": shared.in_flight.get(rank, 0),
                }
            )


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: non-finite floats and other objects as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)
