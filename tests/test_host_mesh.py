"""Host mesh lifecycle with in-process hosts: stop, shutdown (HM-5), block exit, cancellation.

Hosts here are ``serve_host_agent`` tasks (procs as tasks too), either owned by
``open_host_mesh_in_process`` or started by the test on loopback TCP and attached to; no OS
process is started, so every test is fast. "No task left behind" is checked by counting the
tasks of the Trio run before and after.
"""

from __future__ import annotations

import functools
import inspect
import time

import pytest
import trio
import trio.testing
from hosts import (
    assert_drains_before_shutdowns,
    black_hole,
    cancelled_after_accept,
    connect,
    task_count,
    tcp_hosts,
)

import meshtrio
from meshtrio import (
    ChannelAddr,
    HostMeshId,
    HostMeshRef,
    ShutdownReport,
    config,
    open_host_mesh_in_process,
)
from meshtrio._host_mesh import open_session
from meshtrio._messages import GetInfo, HostInfoReply, SetClientConfig
from meshtrio.errors import (
    ConfigPushError,
    HostsError,
    InputError,
    MeshClosedError,
    RemoteError,
    ShutdownError,
)

TOKEN = "host-mesh-test-token"


# -- helpers --------------------------------------------------------------------------------
class BodyError(Exception):
    """Raised by a test inside a mesh block."""


# -- LM-1 and shutdown ------------------------------------------------------------------------
@pytest.mark.parametrize("in_process_procs", [True, False])
async def test_lm1_in_process_block_leaves_no_task(in_process_procs: bool) -> None:
    """Leaving an in-process mesh block ends every host (and proc) task it started."""
    with trio.fail_after(10):
        base = task_count()
        async with open_host_mesh_in_process(3, in_process_procs=in_process_procs) as mesh:
            if in_process_procs:
                await mesh.spawn("workers", {"procs": 2})
            assert task_count() > base
        assert task_count() == base, "LM-1: tasks outlived the in-process mesh block"


async def test_hm5_shutdown_twice_returns_same_report_then_mesh_is_closed() -> None:
    """HM-5: a second shutdown() returns the first report; any other use raises MeshClosedError."""
    with trio.fail_after(10):
        async with open_host_mesh_in_process(2, in_process_procs=True) as mesh:
            await mesh.spawn("workers", {"procs": 2})
            first = await mesh.shutdown()
            assert isinstance(first, ShutdownReport)
            assert first.failures == ()
            assert [h.report.attempted for h in first.drain if h.report] == [2, 2]
            assert await mesh.shutdown() is first, "HM-5: a second shutdown was not a no-op"
            assert mesh.state == "shut_down"
            for use in (
                mesh.info,
                mesh.stop,
                mesh.push_config,
                mesh.range("hosts", 0).info,
                functools.partial(mesh.spawn, "more", {"procs": 1}),
            ):
                with pytest.raises(MeshClosedError):
                    await use()


async def test_hm5_drain_ends_on_every_host_before_any_shutdown() -> None:
    """Phase 2 (shutdown) starts on no host before phase 1 (drain) ended on all hosts."""
    with trio.fail_after(10):
        async with open_host_mesh_in_process(3, in_process_procs=True) as mesh:
            await mesh.spawn("workers", {"procs": 2})
            await mesh.range("hosts", 0).spawn("extra", {"procs": 3})  # host 0 drains longer
            report = await mesh.shutdown()
        assert report.failures == ()
        assert [h.report.attempted for h in report.drain if h.report] == [5, 2, 2]
        assert_drains_before_shutdowns(report, hosts=3)
        assert report.drain_time + report.shutdown_time <= report.total_time + 1e-6


# -- stop --------------------------------------------------------------------------------------
async def test_stop_keeps_hosts_serving_and_owned_block_still_shuts_down() -> None:
    """stop() drains this mesh's procs only; hosts keep serving; an owned block ends them."""
    with trio.fail_after(10):
        base = task_count()
        async with open_host_mesh_in_process(2, in_process_procs=True) as mesh:
            await mesh.spawn("workers", {"procs": 2})
            report = await mesh.stop()
            assert [h.report.attempted for h in report.hosts if h.report] == [2, 2]
            assert mesh.state == "stopped"
            infos = (await mesh.info()).values()
            assert [(i.state, i.proc_count) for i in infos] == [("serving", 0)] * 2
        assert task_count() == base, "LM-1: a stopped owned mesh left host tasks behind"


async def no_procs_and_serving(addrs: list[str]) -> None:
    """Every host at ``addrs`` still serves (another client attaches) and owns no proc."""
    async with meshtrio.attach(addrs, token=TOKEN) as again:
        infos = list((await again.info()).values())
        assert [i.state for i in infos] == ["serving"] * len(addrs)
        assert [i.proc_count for i in infos] == [0] * len(addrs), "procs outlived the block"


async def test_hm6_attach_block_exit_stops_its_procs_and_leaves_hosts_serving() -> None:
    """Leaving an attach block stops the procs spawned under its id and leaves every host
    serving (issue 9: attached hosts are not the client's to end); another client attaches
    and spawns next."""
    with trio.fail_after(10):
        async with tcp_hosts(2, token=TOKEN) as hosts:
            async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh:
                await mesh.spawn("workers", {"procs": 2})
            assert not any(h.ended.is_set() for h in hosts), "leaving the block ended a host"
            await no_procs_and_serving([h.addr for h in hosts])
            async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as next_client:
                procs = await next_client.spawn("workers", {"procs": 1})
                assert all(s.status.is_running for s in (await procs.states()).values())
            assert not any(h.shut_down for h in hosts)


async def test_hm6_open_meshes_still_shut_their_hosts_down() -> None:
    """A mesh that started its hosts (open_*) still shuts them down on leaving its block."""
    with trio.fail_after(10):
        async with meshtrio.open_host_mesh_in_process(2, in_process_procs=True) as mesh:
            await mesh.spawn("workers", {"procs": 1})
            addrs = [str(a) for a in mesh.addrs]
        assert mesh.state == "shut_down"
        for addr in addrs:
            with pytest.raises(ConfigPushError):
                async with meshtrio.attach([addr], token="any"):
                    pass


async def test_attach_stop_then_reattach_and_hosts_keep_serving() -> None:
    """After stop() the block leaves hosts running; attaching again to them works."""
    with trio.fail_after(10):
        async with tcp_hosts(2, token=TOKEN) as hosts:
            addrs = [h.addr for h in hosts]
            async with meshtrio.attach(addrs, token=TOKEN) as mesh:
                await mesh.spawn("workers", {"procs": 2})
                await mesh.stop()
                assert [i.proc_count for i in (await mesh.info()).values()] == [0, 0]
            assert not any(h.ended.is_set() for h in hosts), "a stopped mesh ended its hosts"
            async with meshtrio.attach(addrs, token=TOKEN) as again:
                infos = (await again.info()).values()
                assert [i.state for i in infos] == ["serving", "serving"]
                procs = await again.spawn("workers", {"procs": 1})
                assert len(procs.region.base_ranks()) == 2
                await again.shutdown()  # explicit: leaving an attach block does not end hosts
            for host in hosts:
                await host.ended.wait()
            assert all(h.shut_down for h in hosts)


# -- block exit with errors ------------------------------------------------------------------
async def test_body_exception_wins_and_stop_failures_become_notes() -> None:
    """If the block raised, that exception (unwrapped) wins; failures to stop its procs on
    leaving are notes; the reachable hosts keep serving (issue 9)."""
    with trio.fail_after(10):
        async with tcp_hosts(3, token=TOKEN) as hosts:
            with pytest.raises(BodyError) as info:
                async with meshtrio.attach([h.addr for h in hosts], token=TOKEN):
                    await hosts[1].kill()
                    raise BodyError("from the block")
            assert type(info.value) is BodyError
            notes = "\n".join(getattr(info.value, "__notes__", []))
            assert hosts[1].addr in notes, f"the unreachable host is not in the notes: {notes!r}"
            assert hosts[0].addr not in notes
            assert hosts[2].addr not in notes
            await no_procs_and_serving([hosts[0].addr, hosts[2].addr])


async def test_body_exception_wins_without_notes_when_shutdown_succeeds() -> None:
    """A block's exception propagates as itself, and the hosts are still shut down."""
    with trio.fail_after(10):
        base = task_count()
        with pytest.raises(BodyError) as info:
            async with open_host_mesh_in_process(2, in_process_procs=True) as mesh:
                await mesh.spawn("workers", {"procs": 1})
                raise BodyError("from the block")
        assert type(info.value) is BodyError
        assert not getattr(info.value, "__notes__", None), "no shutdown failure, so no notes"
        assert task_count() == base, "LM-1: host tasks outlived a block that raised"


async def test_clean_exit_raises_shutdown_error_naming_unreachable_host() -> None:
    """A host unreachable at block exit is named in the ShutdownError of stopping the procs;
    the others' procs are stopped and they keep serving (issue 9)."""
    with trio.fail_after(10):
        async with tcp_hosts(3, token=TOKEN) as hosts:
            with pytest.raises(ShutdownError) as info:
                async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh:
                    await mesh.spawn("workers", {"procs": 1})
                    await hosts[2].kill()
            assert type(info.value) is ShutdownError
            failed = [f.address for f in info.value.failures]
            assert failed == [hosts[2].addr], f"HM-5: failures {failed}"
            assert hosts[2].addr in str(info.value), f"HM-5: host not named: {info.value}"
            await no_procs_and_serving([hosts[0].addr, hosts[1].addr])


# -- cancellation ---------------------------------------------------------------------------
async def test_hm3_cancel_during_attach_leaves_no_task() -> None:
    """HM-3: cancelling an attach stuck on a black-hole host ends it promptly with no task left."""
    with trio.fail_after(10):
        async with tcp_hosts(1, token=TOKEN) as hosts, black_hole() as hole:
            base = task_count()
            with config.configured(mesh_attach_config_timeout=30.0, connect_timeout=30.0):
                async with cancelled_after_accept(hole) as scope:
                    start = time.monotonic()
                    async with meshtrio.attach([hosts[0].addr, hole.addr], token=TOKEN):
                        pytest.fail("HM-2: attach with a black-hole host yielded a mesh")
            assert scope.cancelled_caught, "the attach was not cancelled"
            elapsed = time.monotonic() - start
            assert elapsed < 2.0, f"HM-3: the cancelled attach took {elapsed:.2f}s to end"
            # The good host notices the closed connection on its next read: let it.
            await trio.testing.wait_all_tasks_blocked()
            assert task_count() - hole.holding == base, "HM-3: a task outlived the cancelled attach"
            async with meshtrio.attach([hosts[0].addr], token=TOKEN) as mesh:
                assert (await mesh.info()).values()[0].state == "serving"
                await mesh.stop()


@pytest.mark.parametrize("delay", [0.0, 0.002])
async def test_lm1_cancel_during_shutdown_leaves_no_task(delay: float) -> None:
    """LM-1: cancelling the caller during shutdown still ends every host task promptly."""
    with trio.fail_after(10):
        base = task_count()
        with trio.CancelScope() as scope:
            async with open_host_mesh_in_process(3, in_process_procs=True) as mesh:
                await mesh.spawn("workers", {"procs": 2})
                scope.deadline = trio.current_time() + delay
                await mesh.shutdown()
                await trio.sleep_forever()  # the deadline ends the block (never a state wait)
        assert scope.cancelled_caught
        assert trio.current_time() - scope.deadline < 1.0, "LM-1: the block did not exit promptly"
        assert task_count() == base, "LM-1: tasks outlived the cancelled shutdown"


# -- slicing ------------------------------------------------------------------------------------
async def test_slice_info_touches_only_selected_hosts() -> None:
    """info() on a range of the mesh asks only the hosts in that range."""
    with trio.fail_after(10):
        async with tcp_hosts(4, token=TOKEN) as hosts:
            addrs = [h.addr for h in hosts]
            async with meshtrio.attach(addrs, token=TOKEN) as mesh:
                middle = mesh.range("hosts", slice(1, 3))
                assert [str(a) for a in middle.addrs] == addrs[1:3]
                await hosts[0].kill()
                await hosts[3].kill()
                infos = await middle.info()
                assert [i.address for i in infos.values()] == addrs[1:3]
                assert infos.region.base_ranks() == [1, 2]
                one = await mesh.range("hosts", -2).info()
                assert [i.address for i in one.values()] == [addrs[2]]
                with pytest.raises(HostsError) as info:
                    await mesh.info()
                failed = sorted(f.address for f in info.value.failures)
                assert failed == sorted([addrs[0], addrs[3]])
                with pytest.raises(ShutdownError):  # the whole mesh is stopped, so the block
                    await mesh.stop()  # exit leaves the dead hosts alone


async def test_slice_of_in_process_mesh_shares_its_hosts() -> None:
    """A strided range of an in-process mesh reports exactly its ranks' hosts."""
    with trio.fail_after(10):
        async with open_host_mesh_in_process(4, in_process_procs=True) as mesh:
            odd = mesh.range("hosts", slice(1, None, 2))
            infos = await odd.info()
            assert [i.address for i in infos.values()] == [str(mesh.addrs[1]), str(mesh.addrs[3])]
            assert len(odd) == 2


async def test_shutdown_of_a_slice_is_refused_and_touches_nothing() -> None:
    """shutdown() on a slice raises InputError; every host keeps serving."""
    with trio.fail_after(10):
        async with open_host_mesh_in_process(3, in_process_procs=True) as mesh:
            with pytest.raises(InputError, match="slice"):
                await mesh.range("hosts", 0).shutdown()
            infos = await mesh.info()
            assert [i.state for i in infos.values()] == ["serving"] * 3
            assert mesh.state == "live"


async def test_hm3_config_push_error_is_the_only_error_from_attach() -> None:
    """HM-3: attach to a dead host raises ConfigPushError itself, not a group or another type."""
    with trio.fail_after(10):
        async with tcp_hosts(2, token=TOKEN) as hosts:
            await hosts[1].kill()
            with pytest.raises(ConfigPushError) as info:
                async with meshtrio.attach([h.addr for h in hosts], token=TOKEN):
                    pytest.fail("HM-2: attach yielded a mesh with a dead host")
            assert type(info.value) is ConfigPushError, f"HM-3: got {type(info.value).__name__}"
            failed = [f.address for f in info.value.failures]
            assert failed == [hosts[1].addr], f"HM-4: failures {failed}"
            assert not getattr(info.value, "__notes__", None), "HM-2: attach did more than fail"
            async with meshtrio.attach([hosts[0].addr], token=TOKEN) as mesh:
                infos = (await mesh.info()).values()
                assert infos[0].state == "serving", "HM-2: a failing attach shut a good host down"
                await mesh.stop()


# -- the host agent's client config (HA-4) --------------------------------------------------
async def test_ha4_set_client_config_replaces_the_layer_wholesale() -> None:
    """SetClientConfig replaces the host's ClientOverride layer; a bad snapshot changes nothing."""
    with trio.fail_after(10):
        async with tcp_hosts(1, token=TOKEN) as hosts, trio.open_nursery() as nursery:
            peer = await connect(nursery, hosts[0].addr, token=TOKEN)

            async def entry(name: str) -> tuple[object, str]:
                info = await peer.call(GetInfo(), timeout=5.0)
                assert isinstance(info, HostInfoReply)
                return info.config[name]

            await peer.call(SetClientConfig({"mesh_spawn_concurrency": 3}), timeout=5.0)
            assert await entry("mesh_spawn_concurrency") == (3, "ClientOverride")
            await peer.call(SetClientConfig({"mesh_tail_log_lines": 9}), timeout=5.0)
            assert await entry("mesh_tail_log_lines") == (9, "ClientOverride")
            assert await entry("mesh_spawn_concurrency") == (16, "Default"), (
                "HA-4: a key missing from the new snapshot kept its old ClientOverride value"
            )
            with pytest.raises(RemoteError):
                await peer.call(
                    SetClientConfig({"mesh_tail_log_lines": 4, "connect_timeout": "soon"}),
                    timeout=5.0,
                )
            assert await entry("mesh_tail_log_lines") == (9, "ClientOverride"), (
                "HA-4: a rejected snapshot changed the layer"
            )
            await peer.aclose()
            nursery.cancel_scope.cancel()


# -- review fixes ------------------------------------------------------------------------------
async def test_attach_stop_of_a_slice_still_stops_the_rest_on_block_exit() -> None:
    """Stopping one host's slice does not mark the whole attached mesh stopped: exit stops
    the procs on every host."""
    with trio.fail_after(10):
        async with tcp_hosts(2, token=TOKEN) as hosts:
            async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh:
                await mesh.spawn("workers", {"procs": 2})
                await mesh.range("hosts", 0).stop()
                assert mesh.state == "live", "a slice's stop marked the whole mesh stopped"
            await no_procs_and_serving([h.addr for h in hosts])  # host 1's procs too


async def test_attach_spawn_after_stop_is_ended_by_block_exit() -> None:
    """Procs spawned after stop() make the mesh live again, so leaving the block stops them."""
    with trio.fail_after(10):
        async with tcp_hosts(2, token=TOKEN) as hosts:
            async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh:
                await mesh.stop()
                await mesh.spawn("workers", {"procs": 1})
                assert mesh.state == "live"
            await no_procs_and_serving([h.addr for h in hosts])


async def test_attach_bad_address_containers_are_input_errors() -> None:
    """attach rejects a single address string or a non-sequence with a plain InputError."""
    with trio.fail_after(10):
        for addresses in ("tcp:127.0.0.1:1", None, 5):
            with pytest.raises(InputError, match="sequence"):
                async with meshtrio.attach(addresses, token=TOKEN):  # type: ignore[arg-type]
                    pytest.fail("attach yielded a mesh for bad addresses")


async def test_push_config_non_mapping_overrides_is_input_error() -> None:
    """push_config with overrides that are not a mapping raises InputError, not AttributeError."""
    with trio.fail_after(10):
        async with open_host_mesh_in_process(1, in_process_procs=True) as mesh:
            with pytest.raises(InputError, match="mapping"):
                await mesh.push_config([("connect_timeout", 1)])  # type: ignore[arg-type]


async def test_open_in_process_rejects_non_count_non_sequence() -> None:
    """open_host_mesh_in_process with a float, str or None raises InputError up front."""
    with trio.fail_after(10):
        for bad in (2.0, "2", None):
            with pytest.raises(InputError, match="n_or_addrs"):
                async with open_host_mesh_in_process(bad):  # type: ignore[arg-type]
                    pytest.fail("a mesh was yielded for a bad host count")


async def test_attach_with_an_unsendable_token_is_one_input_error() -> None:
    """attach with a token that cannot be sent fails up front with InputError, not per host."""
    with trio.fail_after(10):
        for token in ("has space", 5):
            with pytest.raises(InputError, match="auth token") as info:
                async with meshtrio.attach(["tcp:127.0.0.1:1"], token=token):  # type: ignore[arg-type]
                    pytest.fail("attach yielded a mesh with a bad token")
            assert not isinstance(info.value, ConfigPushError), "HM-4: not a per-host failure"


async def test_cancelled_attach_block_drains_the_procs_it_spawned() -> None:
    """Cancelling an attach block stops the procs spawned through it on every host (bounded,
    shielded) and leaves the hosts serving; nothing spawned by the block keeps running."""
    with trio.fail_after(15):
        async with tcp_hosts(2, token=TOKEN) as hosts:
            addrs = [h.addr for h in hosts]
            with trio.CancelScope() as scope:
                async with meshtrio.attach(addrs, token=TOKEN) as mesh:
                    await mesh.spawn("w", {"gpus": 2})
                    infos = await mesh.info()
                    assert [i.proc_count for i in infos.values()] == [2, 2]
                    scope.cancel()
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            async with meshtrio.attach(addrs, token=TOKEN) as again:
                infos = await again.info()
                assert [i.proc_count for i in infos.values()] == [0, 0]
                assert [i.state for i in infos.values()] == ["serving", "serving"]


async def test_shutdown_cancelled_midway_is_finished_by_the_block_without_false_failures() -> None:
    """A shutdown cancelled after some hosts acknowledged it is completed when the block is
    left: only the hosts that had not acknowledged are asked again, and nothing is reported
    as failed (the hosts already shut down no longer serve, which is expected)."""
    from meshtrio import ChannelAddr
    from meshtrio._messages import Ack, Drain, DrainReply, Shutdown
    from meshtrio._transport import endpoints as net
    from meshtrio._transport.rpc import Emit, Peer

    shutdowns: list[int] = []
    fake_asked = trio.Event()

    async def slow_first_shutdown(_peer: Peer, msg: object, _emit: Emit) -> object:
        if isinstance(msg, Drain):
            return DrainReply(0, 0, 0, time.time(), time.time(), [])
        if isinstance(msg, Shutdown):
            shutdowns.append(1)
            if len(shutdowns) == 1:
                fake_asked.set()
                await trio.sleep_forever()  # the first one hangs until cancelled
            return DrainReply(0, 0, 0, time.time(), time.time(), [])
        return Ack()

    async def fake_host(stream: object) -> None:
        await Peer(stream, slow_first_shutdown).run()  # type: ignore[arg-type]

    with trio.fail_after(15):
        async with tcp_hosts(1, token=TOKEN) as (real,), trio.open_nursery() as nursery:
            fake = await nursery.start(
                functools.partial(
                    net.serve,
                    ChannelAddr.parse("tcp:127.0.0.1:0"),
                    fake_host,
                    token=TOKEN,
                    max_size=1 << 20,
                )
            )
            ref = HostMeshRef.from_hosts(HostMeshId.instance("owned"), [real.addr, str(fake)])
            async with open_session(ref, TOKEN, owned=True) as mesh:  # an open_* mesh's path
                with trio.CancelScope() as scope:
                    async with trio.open_nursery() as shutting:
                        shutting.start_soon(mesh.shutdown)
                        await fake_asked.wait()  # phase 2 reached both hosts
                        await real.ended.wait()  # the real host acked (HA-3) and ended
                        # Bounded poll: the client records the ack in its session and
                        # signals nothing a test could wait on.
                        while real.addr not in mesh._session.shut_hosts:  # noqa: ASYNC110
                            await trio.sleep(0.01)
                        scope.cancel()
                assert scope.cancelled_caught
                assert shutdowns == [1]
            assert shutdowns == [1, 1]  # the block asked the fake host again, and only it
            await real.ended.wait()
            assert real.shut_down
            nursery.cancel_scope.cancel()


async def test_serve_host_agent_startup_errors_are_plain_mesh_errors() -> None:
    """A bad token or an address already in use comes out of serve_host_agent as the plain
    meshtrio error (InputError, TransportError), not wrapped in an ExceptionGroup."""
    from meshtrio import serve_host_agent
    from meshtrio.errors import TransportError

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            with pytest.raises(InputError):
                await nursery.start(
                    functools.partial(serve_host_agent, "local:0", token="has space")
                )
            bound = await nursery.start(functools.partial(serve_host_agent, "local:0", token=TOKEN))
            with pytest.raises(TransportError, match="in use"):
                await nursery.start(functools.partial(serve_host_agent, bound, token=TOKEN))
            nursery.cancel_scope.cancel()


# -- attach to a ref ---------------------------------------------------------------------------
async def test_attach_to_a_ref_keeps_its_id_region_and_hosts() -> None:
    """attach(HostMeshRef) (here parsed from the text of a slice, as another client would pass
    it) yields a mesh with that ref's id, region and hosts; requests reach only those hosts;
    a later attach to the same ref stops the procs spawned under that id."""
    with trio.fail_after(10):
        async with tcp_hosts(4, token=TOKEN) as hosts:
            addrs = [h.addr for h in hosts]
            grid = HostMeshRef.parse(f"grid:{','.join(addrs)}@replica=2/2,host=2/1")
            text = str(grid.range("replica", 1))  # hosts 2 and 3
            ref = HostMeshRef.parse(text)
            async with meshtrio.attach(ref, token=TOKEN) as mesh:
                assert str(mesh.ref) == text
                assert mesh.region == ref.region
                infos = await mesh.info()
                assert infos.region == ref.region
                assert [i.address for i in infos.values()] == addrs[2:]
                procs = await mesh.spawn("workers", {"gpus": 1})
                assert [r.host for r in procs.procs] == [ChannelAddr.parse(a) for a in addrs[2:]]
                # A second client holding the same ref acts on the same procs.
                async with meshtrio.attach(HostMeshRef.parse(text), token=TOKEN) as other:
                    await other.stop()
                assert all(s.status.is_terminated for s in (await procs.states()).values())
                await mesh.stop()
            async with meshtrio.attach(addrs[:2], token=TOKEN) as rest:
                counts = [i.proc_count for i in (await rest.info()).values()]
                assert counts == [0, 0], f"the hosts outside the ref got procs: {counts}"
                await rest.stop()


@pytest.mark.parametrize("name", ["other", "hosts"])
async def test_attach_to_a_ref_with_a_name_is_an_input_error(name: str) -> None:
    """A ref carries its own id: also giving name= (even the default's text) is refused before
    anything is sent."""
    ref = HostMeshRef.parse("grid:tcp:127.0.0.1:1@hosts=1/1")
    with pytest.raises(InputError, match="has its own id"):
        async with meshtrio.attach(ref, name=name, token=TOKEN):
            pytest.fail("attach yielded a mesh")


# -- careless inputs (issue 8) ---------------------------------------------------------------------
async def test_attach_refuses_an_empty_token_instead_of_falling_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """token="" is an InputError even when MESHTRIO_TOKEN is set (it used to fall back to the
    variable without a word); no connection is made."""
    monkeypatch.setenv("MESHTRIO_TOKEN", "from-the-environment")
    with pytest.raises(InputError, match="token='' is empty"):
        async with meshtrio.attach(["tcp:127.0.0.1:9"], token=""):
            pass


async def test_attach_refuses_zero_hosts() -> None:
    """attach([]) is an InputError (it used to yield a mesh of no hosts)."""
    with pytest.raises(InputError, match="at least one host"):
        async with meshtrio.attach([], token="t"):
            pass


async def test_awaiting_a_mesh_context_by_mistake_says_async_with() -> None:
    """`await meshtrio.attach(...)` (or an open_* mesh) is a TypeError that says to use
    `async with`, and connects to nothing; the context managers read as such in their repr."""
    for make in (
        lambda: meshtrio.attach(["tcp:127.0.0.1:9"], token=TOKEN),
        lambda: meshtrio.open_host_mesh_in_process(1),
        lambda: meshtrio.open_host_mesh_processes(1),
    ):
        cm = make()
        assert "async with" in repr(cm)
    for fn in (
        meshtrio.attach,
        meshtrio.open_host_mesh_in_process,
        meshtrio.open_host_mesh_processes,
    ):
        assert (fn.__doc__ or "").startswith("An async context manager: ``async with meshtrio.")
        assert "AbstractAsyncContextManager[HostMesh]" in str(inspect.signature(fn))
        with pytest.raises(TypeError, match=r"use `async with meshtrio\.\w+\(\.\.\.\) as mesh:`"):
            await cm  # type: ignore[misc]


async def test_reports_infos_and_value_meshes_read_short() -> None:
    """Reprs a person can read (issue 9): a shutdown report, a stop report, a host info and
    a value mesh of states each have a one-line repr of at most 160 characters, however many
    events the hosts recorded, and a str with one line per host (or per rank)."""
    with trio.fail_after(10):
        async with meshtrio.open_host_mesh_in_process(3, in_process_procs=True) as mesh:
            procs = await mesh.spawn("workers", {"gpus": 2})
            states = await procs.states()
            infos = await mesh.info()
            stop = await mesh.stop()
            shutdown = await mesh.shutdown()
    for value in (shutdown, stop, infos.values()[0], states, infos):
        assert "\n" not in repr(value), repr(value)
        assert len(repr(value)) <= 160, repr(value)
    assert len(str(states).splitlines()) == 6
    assert all("Running" in line for line in str(states).splitlines())
    assert len(str(stop).splitlines()) == 1 + 3
    assert len(str(shutdown).splitlines()) == 2 * (1 + 3) + 1
    assert "stopped 2 of 2 procs" in str(stop)
