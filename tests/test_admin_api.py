"""The mesh admin's HTTP API over a live mesh of real host processes (issue 12).

Shown: every route answers (``/v1/admin`` with AI-1..AI-3, ``/v1/tree`` with hosts, procs and
actors and their statuses, ``/v1/{ref}`` for each node kind with parent and children
(NI-1, NI-2), ``/v1/config/{proc}``, ``/v1/stacks/{proc}``, the OpenAPI document); 401
without or with a wrong token, 400 for a malformed ref, 404 for an unknown one, 503 when
every lookup slot is taken (AD-1); a SIGSTOPped host makes the tree partial within the host
timeout while the others answer (AD-1); a killed proc reads Failed; nothing on the hosts
changes (AD-2).

Each test is bounded with ``trio.fail_after`` (real clock) and checked for leaked
processes; a SIGSTOPped host is always continued before the mesh is shut down.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio

import meshtrio
from meshtrio import Actor, endpoint, open_host_mesh_processes
from meshtrio.testing import no_leaked_processes

pytestmark = pytest.mark.processes

LIMIT = 40
"""Seconds each test may take at most (real clock)."""


class Pid(Actor):
    @endpoint
    def pid(self) -> int:
        return os.getpid()


@asynccontextmanager
async def live_admin(
    **admin_args: Any,
) -> AsyncIterator[tuple[Any, Any, Any, Any, httpx.AsyncClient]]:
    """Two host processes, two procs on each with an actor, and an admin over them."""
    async with open_host_mesh_processes(2) as hosts:
        procs = await hosts.spawn("workers", {"gpus": 2}, on_failure="log", logs=None)
        actors = await procs.spawn("pids", Pid)
        async with meshtrio.serve_admin(hosts, **admin_args) as admin:
            headers = {"authorization": f"Bearer {admin.token}"}
            async with httpx.AsyncClient(base_url=admin.url, headers=headers) as client:
                yield hosts, procs, actors, admin, client


async def get(client: httpx.AsyncClient, path: str, status: int = 200) -> Any:
    r = await client.get(path)
    assert r.status_code == status, f"{path}: {r.status_code} {r.text[:300]}"
    return r.json()


async def test_every_route_answers_over_a_live_mesh() -> None:
    """Every route answers with what the mesh holds; errors have their codes and envelope."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with live_admin() as (hosts, procs, _actors, admin, client):
            assert admin.url.startswith("http://127.0.0.1:"), "loopback by default"
            info = await get(client, "/v1/admin")
            assert info["pid"] == os.getpid(), "AI-2: served from the caller's process"
            assert info["url"] == admin.url, "AI-3: the url it reports is the one it serves"
            assert info["meshes"] == [str(hosts.id)], "AI-1"
            assert info["num_hosts"] == 2

            tree = await get(client, "/v1/tree")
            assert tree["partial"] is False
            assert [m["id"] for m in tree["meshes"]] == [str(hosts.id)]
            assert [h["addr"] for h in tree["hosts"]] == [str(a) for a in hosts.addrs], "SA-3"
            found = {p["proc_id"]: p for h in tree["hosts"] for p in h["procs"]}
            assert set(found) == {p.proc_id for p in procs.procs}
            assert all(p["status"] == "Running" for p in found.values())
            assert all(len(p["actors"]) == 1 for p in found.values())
            assert {p["actors"][0]["status"] for p in found.values()} == {"Running"}

            root = await get(client, "/v1/root")
            assert root["identity"] == "root"
            assert root["parent"] is None
            mesh = await get(client, f"/v1/mesh:{hosts.id}")
            assert mesh["parent"] == "root"
            assert len(mesh["children"]) == 2
            host_ref = mesh["children"][0]
            host = await get(client, f"/v1/{host_ref}")
            assert host["identity"] == host_ref, "NI-1: identity is the reference used"
            assert host["parent"] == "root", "NI-2: host -> root"
            assert len(host["children"]) == 2, "NI-3: its procs"
            proc_ref = host["children"][0]
            proc = await get(client, f"/v1/{proc_ref}")
            assert proc["parent"] == host_ref, "NI-2: proc -> host"
            assert proc["kind"] == "proc"
            actor_ref = proc["children"][0]
            actor = await get(client, f"/v1/{actor_ref}")
            assert actor["parent"] == proc_ref
            assert actor["status"] == "Running"
            key = actor["properties"]["key"]
            group = await get(client, f"/v1/actors:{key}")
            assert len(group["children"]) == 4
            assert group["properties"]["name"] == "pids"

            cfg = await get(client, f"/v1/config/{proc_ref}")
            assert cfg["config"]["request_timeout"]["source"] in ("ClientOverride", "Default")
            stacks = await get(client, f"/v1/stacks/{proc_ref}")
            assert stacks["source"] == "proc"
            assert "MainThread" in stacks["text"]
            spec = await get(client, "/v1/openapi.json")
            assert spec["openapi"].startswith("3.1")
            assert "/v1/tree" in spec["paths"]

            # Errors: one envelope, the right codes.
            bare = httpx.AsyncClient(base_url=admin.url)
            async with bare:
                r = await bare.get("/v1/tree")
                assert r.status_code == 401
                assert r.json()["error"]["code"] == "unauthorized"
                r = await bare.get("/v1/tree", headers={"authorization": "Bearer wrong-token"})
                assert r.status_code == 401
                page = await bare.get("/")
                assert page.status_code == 200
                assert admin.token not in page.text
            err = await get(client, "/v1/nonsense", 400)
            assert err["error"]["code"] == "bad_request"
            await get(client, "/v1/host:not-an-address", 400)
            err = await get(client, "/v1/proc:nobody-1111111111z", 404)
            assert err["error"]["code"] == "not_found"
            await get(client, "/v1/host:tcp:127.0.0.1:9", 404)
            await get(client, f"/v1/config/{host_ref}", 400)

            # AD-2: the admin only looked.
            states = await procs.states()
            assert all(s.status.is_running for s in states.values())


async def test_ad1_a_stopped_host_makes_a_partial_answer_and_busy_is_503() -> None:
    """AD-1: a SIGSTOPped host is reported as timed out within the host timeout while the
    other answers; with every slot taken, a lookup is refused at once with 503."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with live_admin(host_timeout=1.0, max_concurrent=1) as (
            hosts,
            _procs,
            _actors,
            admin,
            client,
        ):
            info = await hosts.info()
            stopped_pid = next(iter(info.values())).pid
            os.kill(stopped_pid, signal.SIGSTOP)
            try:
                start = trio.current_time()
                tree = await get(client, "/v1/tree")
                took = trio.current_time() - start
                assert tree["partial"] is True, "AD-1: marked partial"
                first, second = tree["hosts"]
                assert first["status"] == "timeout"
                assert "RequestTimeoutError" in first["error"]
                assert second["status"] == "ok", "the rest answered"
                assert len(second["procs"]) == 2
                assert took < 1.0 + 2.0, f"AD-1: bounded by the host timeout, took {took:.2f}s"
                node = await get(client, f"/v1/host:{first['addr']}")
                assert node["partial"] is True
                assert node["status"] == "timeout"

                with admin.model.slot():  # a lookup holds the only slot
                    r = await client.get("/v1/tree")
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["code"] == "service_unavailable"
                    assert r.headers["retry-after"] == "1"
                    # Identity needs no host: it is never refused.
                    await get(client, "/v1/admin")
            finally:
                os.kill(stopped_pid, signal.SIGCONT)
            tree = await get(client, "/v1/tree")
            assert tree["partial"] is False, "the continued host answers again"


async def test_a_killed_proc_reads_failed() -> None:
    """A proc killed under a running block reads Failed in the tree, and its actor too."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with live_admin() as (_hosts, procs, actors, _admin, client):
            victim = procs.procs[1]
            pid = list((await actors.pid.call()).values())[1]
            async with contextlib.aclosing(procs.watch()) as events:
                os.kill(pid, signal.SIGKILL)
                async for event in events:
                    if event.rank == 1 and event.new.is_failure:
                        break
            node = await get(client, f"/v1/proc:{victim.proc_id}")
            assert node["status"].startswith("Failed"), node["status"]
            assert node["status_class"] == "failed"
            (actor,) = node["properties"]["actors"]
            assert actor["status"].startswith("Failed")
