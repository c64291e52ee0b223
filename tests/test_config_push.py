"""Attach and config push (HM-1..HM-4): every host gets the client's config, or attach fails.

In-process hosts (``serve_host_agent`` on ``tcp:127.0.0.1:0`` in the test's nursery) keep most
of these fast; the ``processes`` tests check the same for host processes, both started by a
client mesh and by hand (``python -m meshtrio host``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import trio
from hosts import black_hole, closed_port, hand_started_hosts, tcp_hosts

import meshtrio
from meshtrio import HostInfo, HostMesh, config, open_host_mesh_in_process, open_host_mesh_processes
from meshtrio.errors import ConfigError, ConfigPushError, ShutdownError
from meshtrio.testing import no_leaked_processes

TOKEN = "config-push-test-token"

# Non-default values of propagating keys of three kinds (int, duration, optional duration).
PUSHED: Mapping[str, Any] = {
    "mesh_tail_log_lines": 17,
    "proc_spawn_max_idle": 12.5,
    "mesh_orphan_timeout": None,
}


# -- helpers --------------------------------------------------------------------------------
def assert_pushed(infos: Any, expected: Mapping[str, Any]) -> None:
    """Every host reports every pushed key with the pushed value and source ClientOverride
    (but for keys this process's environment sets, e.g. ``MESHTRIO_HOST_FORK_SERVER=0`` in the
    cold run of the proc tests: the Env layer wins there, in-process hosts share it)."""
    assert len(infos) > 0
    for info in infos.values():
        assert isinstance(info, HostInfo)
        for name, value in expected.items():
            if config.resolve(name).env_var in os.environ:
                continue
            assert info.config[name] == (value, "ClientOverride"), (
                f"HM-1: host {info.address} reports {name}={info.config[name]}, "
                f"expected ({value!r}, 'ClientOverride')"
            )


@asynccontextmanager
async def opened_under_pushed_config(
    opening: AbstractAsyncContextManager[HostMesh],
) -> AsyncIterator[tuple[HostMesh, dict[str, Any]]]:
    """Enter the mesh block ``opening`` with :data:`PUSHED` set in the Runtime layer, and
    leave that layer again; yield the mesh and the snapshot its attach pushed."""
    async with contextlib.AsyncExitStack() as stack:
        with config.configured(**PUSHED):
            snapshot = config.propagatable()
            for name, value in PUSHED.items():
                assert snapshot[name] == value
            mesh = await stack.enter_async_context(opening)
        yield mesh, snapshot


async def attach_and_check_pushed_config(addrs: list[str], *, stop: bool) -> None:
    """HM-1: attach to ``addrs`` under :data:`PUSHED`; every host, in order, reports the
    pushed snapshot. The block then ends with ``stop()`` (hosts keep serving) if ``stop``,
    else with the attach block's shutdown."""
    opening = meshtrio.attach(addrs, token=TOKEN)
    async with opened_under_pushed_config(opening) as (mesh, snapshot):
        infos = await mesh.info()
        assert [i.address for i in infos.values()] == addrs
        assert_pushed(infos, snapshot)
        if stop:
            await mesh.stop()


# -- HM-1 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_process_procs", [True, False])
async def test_hm1_in_process_mesh_hosts_report_pushed_config(in_process_procs: bool) -> None:
    """Every in-process host reports the client's config, pushed as its ClientOverride."""
    with trio.fail_after(10):
        opening = open_host_mesh_in_process(3, in_process_procs=in_process_procs)
        async with opened_under_pushed_config(opening) as (mesh, snapshot):
            assert config.get_with_source("mesh_tail_log_lines")[1] is not config.Layer.RUNTIME
            assert_pushed(await mesh.info(), snapshot)


async def test_hm1_attach_to_in_process_tcp_hosts_installs_config() -> None:
    """attach() to running hosts installs the whole propagatable snapshot on each."""
    with trio.fail_after(10):
        async with tcp_hosts(2, token=TOKEN) as hosts:
            await attach_and_check_pushed_config([h.addr for h in hosts], stop=True)


async def test_hm1_push_config_overrides_reach_every_host() -> None:
    """push_config(overrides) reaches every host; a bad one changes nothing; a new push replaces."""
    with trio.fail_after(10):
        async with open_host_mesh_in_process(2, in_process_procs=True) as mesh:
            await mesh.push_config({"mesh_spawn_concurrency": 3, "connect_timeout": "250ms"})
            assert_pushed(await mesh.info(), {"mesh_spawn_concurrency": 3, "connect_timeout": 0.25})
            with pytest.raises(ConfigError):
                await mesh.push_config({"mesh_spawn_concurrency": "lots"})
            assert_pushed(await mesh.info(), {"mesh_spawn_concurrency": 3})
            await mesh.push_config()  # a new push replaces the earlier overrides everywhere
            assert_pushed(await mesh.info(), {"mesh_spawn_concurrency": 16, "connect_timeout": 5.0})


@pytest.mark.processes
async def test_hm1_process_mesh_hosts_report_pushed_config() -> None:
    """Host processes started by open_host_mesh_processes report the pushed config."""
    with no_leaked_processes(), trio.fail_after(20):
        opening = open_host_mesh_processes(2)
        async with opened_under_pushed_config(opening) as (mesh, snapshot):
            infos = await mesh.info()
            assert len({i.pid for i in infos.values()} | {os.getpid()}) == 3
            assert_pushed(infos, snapshot)


@pytest.mark.processes
async def test_hm1_hand_started_hosts_report_pushed_config() -> None:
    """Hosts started by hand with MESHTRIO_TOKEN report the config an attach pushed."""
    with no_leaked_processes(), trio.fail_after(20):
        async with hand_started_hosts(2, token=TOKEN) as hosts:
            await attach_and_check_pushed_config([h.addr for h in hosts], stop=False)


# -- HM-2, HM-4 ------------------------------------------------------------------------------
async def test_hm2_hm4_attach_fails_closed_naming_each_bad_host() -> None:
    """One bad host fails the attach; the error names exactly the bad hosts, in one timeout."""
    with trio.fail_after(10):
        async with tcp_hosts(2, token=TOKEN) as goods, black_hole() as black:
            good0, good1 = (g.addr for g in goods)
            hole = black.addr
            refused = closed_port()
            addrs = [good0, refused, good1, hole]
            yielded = False
            with config.configured(mesh_attach_config_timeout=1.0):
                start = time.monotonic()
                with pytest.raises(ConfigPushError) as info:
                    async with meshtrio.attach(addrs, token=TOKEN):
                        yielded = True
                elapsed = time.monotonic() - start
            assert not yielded, "HM-2: attach yielded a mesh although hosts failed"
            err = info.value
            assert type(err) is ConfigPushError, f"HM-2: got {type(err).__name__}, not bare"
            got = [(f.address, f.kind) for f in err.failures]
            assert got == [(refused, "refused"), (hole, "timeout")], f"HM-4: failures {got}"
            assert 0.9 < elapsed < 1.6, f"HM-4: attach failed after {elapsed:.2f}s, not ~1 timeout"
            text = str(err)
            assert text.startswith("config push failed during attach on 2 host(s):"), text
            assert f"\n  - {refused}: refused" in text, f"HM-4: {text}"
            assert f"\n  - {hole}: timeout" in text, f"HM-4: {text}"
            assert good0 not in text, f"HM-4: a good host is named: {text}"
            assert good1 not in text, f"HM-4: a good host is named: {text}"
            assert not getattr(err, "__notes__", None), f"HM-2: failing attach did more: {err}"
            # The good hosts were neither shut down nor disturbed: they can be attached.
            async with meshtrio.attach([good0, good1], token=TOKEN) as mesh:
                assert all(i.state == "serving" for i in (await mesh.info()).values())
                await mesh.stop()


async def test_hm4_wrong_token_names_host_with_kind_auth() -> None:
    """A host that refuses the token is named with kind auth; every failing host is listed."""
    with trio.fail_after(10):
        async with (
            tcp_hosts(2, token=TOKEN) as good_hosts,
            tcp_hosts(2, token="another-token") as other_hosts,
        ):
            good = [h.addr for h in good_hosts]
            other = [h.addr for h in other_hosts]
            addrs = [other[0], good[0], other[1], good[1]]
            with pytest.raises(ConfigPushError) as info:
                async with meshtrio.attach(addrs, token=TOKEN):
                    pytest.fail("HM-2: attach yielded a mesh although hosts refused the token")
            got = [(f.address, f.kind) for f in info.value.failures]
            assert got == [(other[0], "auth"), (other[1], "auth")], f"HM-4: failures {got}"
            lines = str(info.value).splitlines()
            assert lines[0] == "config push failed during attach on 2 host(s):", lines
            assert lines[1:] == [f"  - {f}" for f in info.value.failures], f"HM-4: {lines}"


async def test_hm4_message_lists_every_failing_host() -> None:
    """With many bad hosts the message has one line per host, in rank order."""
    with trio.fail_after(10):
        bad = [closed_port() for _ in range(5)]
        with pytest.raises(ConfigPushError) as info:
            async with meshtrio.attach(bad, token=TOKEN):
                pytest.fail("HM-2: attach to unreachable hosts yielded a mesh")
        assert [f.address for f in info.value.failures] == bad, "HM-4: not one entry per host"
        lines = str(info.value).splitlines()
        assert lines[0] == "config push failed during attach on 5 host(s):", lines
        assert [line.split(": ", 1)[0] for line in lines[1:]] == [f"  - {a}" for a in bad], lines


# -- HM-3 ------------------------------------------------------------------------------------
async def test_hm3_failing_attach_disturbs_no_other_task() -> None:
    """A failing attach raises only from attach; a sibling task keeps working and finishes."""
    with trio.fail_after(10):
        async with tcp_hosts(1, token=TOKEN) as good_hosts, black_hole() as black:
            good = [h.addr for h in good_hosts]
            hole = black.addr
            attach_over = trio.Event()
            during: list[int] = []
            finished: list[bool] = []
            caught: list[ConfigPushError] = []

            async def worker(task_status: trio.TaskStatus[None]) -> None:
                async with open_host_mesh_in_process(1, in_process_procs=True) as mesh:
                    task_status.started()
                    done = 0
                    while not attach_over.is_set():
                        await mesh.info()
                        done += 1
                    during.append(done)
                    await mesh.info()  # and its work after the failure still succeeds
                finished.append(True)

            with config.configured(mesh_attach_config_timeout=0.3):
                async with trio.open_nursery() as nursery:
                    await nursery.start(worker)
                    try:
                        async with meshtrio.attach([good[0], hole], token=TOKEN):
                            pytest.fail("HM-2: attach with a black-hole host yielded a mesh")
                    except ConfigPushError as exc:
                        caught.append(exc)
                    attach_over.set()
                assert not nursery.cancel_scope.cancel_called, "HM-3: the nursery was cancelled"
            assert [f.address for f in caught[0].failures] == [hole], "HM-4: wrong failures"
            assert during[0] > 0, "HM-3: the sibling made no progress during attach"
            assert finished == [True], "HM-3: the sibling task did not complete its work"


async def test_hm4_push_config_on_a_live_mesh_names_the_lost_host() -> None:
    """push_config on an attached mesh whose host died raises ConfigPushError naming only that
    host; its message says "config push failed" (not "during attach": no attach is running)."""
    with trio.fail_after(10):
        async with tcp_hosts(3, token=TOKEN) as hosts:
            with pytest.raises(ShutdownError):  # leaving the block cannot reach the dead host
                async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh:
                    await hosts[1].kill()
                    with pytest.raises(ConfigPushError) as info:
                        await mesh.push_config()
                    assert [f.address for f in info.value.failures] == [hosts[1].addr]
                    lines = str(info.value).splitlines()
                    assert lines[0] == "config push failed on 1 host(s):", lines
