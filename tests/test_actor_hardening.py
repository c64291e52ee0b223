"""Regressions for defects a review found by trying to break the actor runtime (in-process
procs; waits on events, every test bounded).

AS-4 (an endpoint's exception, however odd, never ends its proc), AM-5 (a broken connection
to a live proc is not a death), AM-3/AM-9 (stop is not held up by a full window, and ends
the calls waiting), AS-3 (a call cancelled or out of time before it started does not run),
AM-1 (connections to procs that ended leave the owner's pool), and tokens stay out of reprs.
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

import meshtrio
from meshtrio import Actor, ActorDiedError, ActorError, config, endpoint
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._contract import ProcBootstrap
from meshtrio._ids import HostMeshId, ProcId, ProcMeshId
from meshtrio._messages import SpawnProcs

LIMIT = 20
SIDE: dict[str, SimpleNamespace] = {}


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class Tricky(Actor):
    def __init__(self, token: str) -> None:
        self.side = SIDE[token]

    @endpoint
    async def unprintable(self) -> None:
        raise Unprintable()

    @endpoint
    async def fails_while_cancelled(self) -> None:
        async def child() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise ValueError("cleanup failed")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
            self.side.started.set()
            await trio.sleep_forever()

    @endpoint
    async def block(self) -> None:
        self.side.blocked.set()
        await self.side.gate.wait()

    @endpoint
    def record(self, what: str) -> None:
        self.side.ran.append(what)

    @endpoint
    async def ping(self) -> str:
        return "pong"


def side(**fields: Any) -> str:
    token = secrets.token_hex(4)
    SIDE[token] = SimpleNamespace(**fields)
    return token


async def test_as4_an_exception_whose_str_raises_is_the_calls_failure() -> None:
    token = side()
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1})
            tricky = await procs.spawn("t", Tricky, token)
            other = await procs.spawn("o", Tricky, token)
            with pytest.raises(ActorError) as info:
                await tricky.unprintable.call_one()
            assert info.value.kind == "Unprintable"
            assert await tricky.ping.call_one() == "pong"  # the actor, and its proc, live on
            assert await other.ping.call_one() == "pong"


async def test_as4_a_failure_during_cancellation_does_not_end_the_proc() -> None:
    token = side(started=trio.Event())
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1})
            tricky = await procs.spawn("t", Tricky, token)
            async with trio.open_nursery() as nursery:
                cancel = trio.CancelScope()

                async def call() -> None:
                    with cancel:
                        await tricky.fails_while_cancelled.call_one()

                nursery.start_soon(call)
                await SIDE[token].started.wait()
                cancel.cancel()
            assert await tricky.ping.call_one() == "pong"
            states = await procs.states()
            assert all(s.status.is_running for s in states.values())


async def test_as3_a_call_cancelled_or_late_before_it_started_does_not_run() -> None:
    token = side(blocked=trio.Event(), gate=trio.Event(), ran=[])
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1})
            tricky = await procs.spawn("t", Tricky, token)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(tricky.block.call_one)
                await SIDE[token].blocked.wait()
                with trio.move_on_after(0.2):  # queued behind block, then cancelled
                    await tricky.record.call_one("cancelled while queued")
                with trio.move_on_after(0.2):  # its deadline passes while it is queued
                    await tricky.record.broadcast("out of time")
                    await trio.sleep_forever()
                await tricky.record.broadcast("in time")
                SIDE[token].gate.set()
            assert await tricky.ping.call_one() == "pong"
            assert SIDE[token].ran == ["in time"]


async def test_am3_stop_is_not_held_up_by_a_full_window_and_ends_the_waiting_calls() -> None:
    token = side(blocked=trio.Event(), gate=trio.Event())
    failures: list[BaseException] = []
    with trio.fail_after(LIMIT), config.configured(actor_mailbox_capacity=2, request_timeout=10):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1})
            tricky = await procs.spawn("t", Tricky, token)

            async def call() -> None:
                try:
                    await tricky.block.call_one()
                except ActorDiedError as exc:
                    failures.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                nursery.start_soon(call)
                await SIDE[token].blocked.wait()
                await trio.testing.wait_all_tasks_blocked()
                start = trio.current_time()
                await tricky.stop()  # the window (2) is full of blocked calls
                assert trio.current_time() - start < 5
            assert len(failures) == 2


async def test_am5_a_broken_connection_to_a_live_proc_is_not_a_death() -> None:
    token = side(blocked=trio.Event(), gate=trio.Event())
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            procs = await hosts.spawn("w", {"gpus": 1})
            tricky = await procs.spawn("t", Tricky, token)
            assert await tricky.ping.call_one() == "pong"
            shared = tricky._shared
            raised: list[BaseException] = []

            async def call() -> None:
                try:
                    await tricky.block.call_one()
                except meshtrio.MeshError as exc:
                    raised.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                await SIDE[token].blocked.wait()
                peer = shared.live_peer(0)
                assert peer is not None
                await peer.aclose()
            assert [type(e) for e in raised] == [meshtrio.ConnectionLostError]
            assert 0 not in shared.deaths  # its host says it runs: no death recorded
            SIDE[token].gate.set()
            assert await tricky.ping.call_one() == "pong"  # a fresh connection


async def test_am1_connections_to_ended_procs_leave_the_pool() -> None:
    token = side()
    with trio.fail_after(LIMIT):
        async with meshtrio.open_host_mesh_in_process(1, in_process_procs=True) as hosts:
            pool = hosts._session.pool
            for _ in range(3):
                procs = await hosts.spawn("w", {"gpus": 2})
                tricky = await procs.spawn("t", Tricky, token)
                assert (await tricky.ping.call()).values() == ["pong", "pong"]
                await procs.stop()
            await trio.testing.wait_all_tasks_blocked()
            assert set(pool._peers) == {str(a) for a in hosts.addrs}
            assert not pool._locks


def test_actor_tokens_and_setups_stay_out_of_reprs() -> None:
    secret = "s3cr3t-actor-token"
    msg = SpawnProcs(
        ProcMeshId.instance("w"), HostMeshId.singleton("h"), 0, 1, {},
        [BootstrapCommand("x")], None, secret, b"pickled-setup", "w=1/1",
    )  # fmt: skip
    boot = ProcBootstrap(
        ProcId.singleton("w-0"), meshtrio.ChannelAddr.parse("unix:@h"), 0,
        ProcMeshId.singleton("w"), {}, secret,
    )  # fmt: skip
    for text in (repr(msg), repr(boot), str(msg)):
        assert secret not in text
        assert "pickled-setup" not in text
