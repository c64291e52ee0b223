"""The mesh admin over hosts shared by two clients, and over the client's own hosts.

Shown: one ``ListProcStates`` per host lists every proc the host has a record of, so an
admin sees procs another client spawned on the same hosts (marked as not its own, with no
actors: only their spawner knows those); SA-6 / CH-1 in a live admin (the client's own hosts
come last, once, marked ``client``); SA-3 (a host in two meshes is one node, asked once).
Host agents run as tasks of this Trio run on loopback TCP, their procs as tasks.
"""

from __future__ import annotations

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
