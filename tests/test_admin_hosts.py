"""The mesh admin over hosts shared by two clients, and over the client's own hosts.

Shown: one ``ListProcStates`` per host lists every proc the host has a record of, so an
admin sees procs another client spawned on the same hosts (marked as not its own, with no
actors: only their spawner knows those); SA-6 / CH-1 in a live admin (the client's own hosts
come last, once, marked ``client``); SA-3 (a host in two meshes is one node, asked once);
a host too old for ``ListProcStates`` is asked per proc mesh; AD-1 over real HTTP (a lookup
past the limit is refused at once while another holds the slot, held on an event).
Host agents run as tasks of this Trio run on loopback TCP, their procs as tasks.
"""

from __future__ import annotations

import pytest
import trio
from hosts import tcp_hosts

import meshtrio
from meshtrio import Actor, attach, endpoint, open_host_mesh_in_process

TOKEN = "admin-hosts-test-token-0123456789"
LIMIT = 30


class Nothing(Actor):
    @endpoint
    def ping(self) -> str:
        return "pong"


async def test_another_clients_procs_are_listed_as_not_ours() -> None:
    """The admin lists procs another client spawned on its hosts, as not spawned by it."""
    with trio.fail_after(LIMIT):
        async with tcp_hosts(2, token=TOKEN) as agents:
            addrs = [h.addr for h in agents]
            async with attach(addrs, token=TOKEN) as theirs, attach(addrs, token=TOKEN) as ours:
                their_procs = await theirs.spawn("theirs", {"gpus": 1}, logs=None)
                our_procs = await ours.spawn("ours", {"gpus": 1}, logs=None)
                pings = await our_procs.spawn("pings", Nothing)
                async with meshtrio.serve_admin(ours) as admin:
                    tree = await admin.model.tree()
                del pings
    procs = {p["proc_id"]: p for h in tree["hosts"] for p in h["procs"]}
    for ref in their_procs.procs:
        assert procs[ref.proc_id]["spawned_by_this_client"] is False
        assert procs[ref.proc_id]["status"] == "Running"
        assert procs[ref.proc_id]["actors"] == []
    for ref in our_procs.procs:
        assert procs[ref.proc_id]["spawned_by_this_client"] is True
        assert len(procs[ref.proc_id]["actors"]) == 1


async def test_sa6_ch1_client_hosts_last_once_and_marked() -> None:
    """SA-6 / CH-1 live: the client's own hosts come after the meshes' hosts, each once, and
    are marked as the client's; SA-3: a host in two meshes is one node."""
    with trio.fail_after(LIMIT):
        async with (
            tcp_hosts(2, token=TOKEN) as agents,
            attach([agents[0].addr, agents[1].addr], token=TOKEN) as both,
            attach([agents[1].addr], token=TOKEN) as second,
            open_host_mesh_in_process(1) as mine,
            meshtrio.serve_admin([both, second], client_hosts=[mine, second]) as admin,
        ):
            tree = await admin.model.tree()
            assert [str(a) for a in admin.hosts] == [
                agents[0].addr,
                agents[1].addr,
                str(mine.addrs[0]),
            ], "SA-3, CH-1: first seen, client hosts last, once each"
            assert [h["client"] for h in tree["hosts"]] == [False, True, True]
            assert [h["status"] for h in tree["hosts"]] == ["ok", "ok", "ok"]


async def test_a_host_without_list_proc_states_is_asked_per_proc_mesh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host that does not know ListProcStates (an older one: it answers with an error) is
    asked GetProcStates for each of this client's proc meshes instead; the tree is whole."""
    from meshtrio._errors import RemoteError
    from meshtrio._host.agent import HostAgent

    def unknown(self: HostAgent) -> None:
        raise RemoteError("a host agent does not handle ListProcStates")

    monkeypatch.setattr(HostAgent, "all_proc_states", unknown)
    with trio.fail_after(LIMIT):
        async with open_host_mesh_in_process(2, in_process_procs=True) as hosts:
            procs = await hosts.spawn("workers", {"gpus": 2}, logs=None)
            async with meshtrio.serve_admin(hosts, announce=False) as admin:
                tree = await admin.model.tree()
    assert tree["partial"] is False
    seen = {p["proc_id"]: p["status"] for h in tree["hosts"] for p in h["procs"]}
    assert seen == {ref.proc_id: "Running" for ref in procs.procs}


async def test_ad1_a_lookup_past_the_limit_is_refused_503_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AD-1 over real HTTP: while one lookup holds the only slot (its host has not answered
    yet), another is refused at once with 503, and the first still completes."""
    import httpx

    from meshtrio._admin_model import AdminModel

    entered = trio.Event()
    release = trio.Event()
    real = AdminModel._host_states

    async def held(self: AdminModel, addr: object, mine: object) -> object:
        entered.set()
        await release.wait()
        return await real(self, addr, mine)  # type: ignore[arg-type]

    monkeypatch.setattr(AdminModel, "_host_states", held)
    with trio.fail_after(LIMIT):
        async with (
            open_host_mesh_in_process(1) as hosts,
            meshtrio.serve_admin(hosts, max_concurrent=1, announce=False) as admin,
            httpx.AsyncClient(
                base_url=admin.url, headers={"authorization": f"Bearer {admin.token}"}
            ) as client,
            trio.open_nursery() as nursery,
        ):
            first: list[httpx.Response] = []

            async def slow_lookup() -> None:
                first.append(await client.get("/v1/tree"))

            nursery.start_soon(slow_lookup)
            await entered.wait()
            start = trio.current_time()
            busy = await client.get(f"/v1/host:{hosts.addrs[0]}")
            assert busy.status_code == 503
            assert busy.json()["error"]["code"] == "service_unavailable"
            assert trio.current_time() - start < 1.0, "refused at once, not queued"
            release.set()
        assert first[0].status_code == 200
