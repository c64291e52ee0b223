"""Actor meshes on in-process hosts with procs as tasks (fast; no OS process at all).

Covers the client side (AM-1..AM-9, :mod:`meshtrio._actor_mesh`), the proc side (AS-1..AS-5,
:mod:`meshtrio._proc.actors`), the actor definitions and their context (AC-1, AC-2) and the
payload checks (PL-1, PL-2). The same behaviours with real OS processes are in
``test_actor_processes.py``.

Procs here are tasks of the test's own Trio run, so an actor class pickled by reference is the
very class of this module, and :data:`SIDE` (a module-level dict) is a side channel shared by
the test and its actors: it lets a test watch or release an actor that the test cannot call
(its window is full, or its worker is busy). Waits are on events, never on sleeps; every test
is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import collections
import logging
import pickle
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing
from inspector import Inspector

import meshtrio
from meshtrio import (
    Actor,
    ActorDiedError,
    ActorError,
    ActorMesh,
    InputError,
    MeshClosedError,
    NoActorContextError,
    PayloadError,
    ProcMesh,
    ValueMesh,
    config,
    endpoint,
)
from meshtrio._status import StatusKind

LIMIT = 20
"""Seconds every test here may take at most (real clock)."""

SIDE: dict[str, SimpleNamespace] = {}
"""Side channel between a test and its in-process actors, by a per-test token."""


def side_channel(**fields: Any) -> str:
    """A fresh side-channel entry; its token (pass it to the actor)."""
    token = secrets.token_hex(4)
    SIDE[token] = SimpleNamespace(**fields)
    return token


# -- actor classes (module level: they travel by cloudpickle) ---------------------------------


class Boom(Exception):
    """An exception class of this module (unpickles on the caller's side)."""


class Counter(Actor):
    """State, context and failures."""

    def __init__(self, start: int = 0) -> None:
        self.n = start
        self.init_rank = meshtrio.context().rank  # AC-2: the context is set in __init__
        self.seen: list[Any] = []
        self.calls = 0

    @endpoint
    def incr(self, by: int = 1) -> int:
        self.calls += 1
        self.n += by
        return self.n

    @endpoint
    def value(self) -> int:
        return self.n

    @endpoint
    def call_count(self) -> int:
        return self.calls

    @endpoint
    async def where(self) -> dict[str, Any]:
        ctx = meshtrio.context()
        point = meshtrio.current_rank()
        seen_by_child: list[int] = []

        async def child() -> None:  # AC-2: tasks an endpoint starts share its context
            seen_by_child.append(meshtrio.context().rank)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
        return {
            "rank": ctx.rank,
            "point": str(ctx.point),
            "point_rank": ctx.point.rank,
            "current_rank": str(point),
            "size": ctx.size,
            "proc_id": ctx.proc_id,
            "actor": ctx.actor,
            "region": str(ctx.region),
            "init_rank": self.init_rank,
            "child_rank": seen_by_child[0],
        }

    @endpoint
    def record(self, item: Any) -> None:
        self.seen.append(item)

    @endpoint
    def recorded(self) -> list[Any]:
        return list(self.seen)

    @endpoint
    def explode(self, message: str) -> None:
        raise Boom(message)  # the raise line (the remote traceback shows it)

    @endpoint
    def fail_on(self, ranks: list[int]) -> int:
        rank = meshtrio.context().rank
        if rank in ranks:
            raise ValueError(f"rank {rank} refuses")
        return rank * 10

    @endpoint
    def unpicklable_result(self) -> Any:
        return threading.Lock()

    @endpoint
    def big_result(self, n: int) -> bytes:
        return b"x" * n

    @endpoint
    async def relay(self, other: ActorMesh[Counter], by: int, pick: dict[str, int]) -> Any:
        """Call another actor mesh that arrived as an argument (and a slice of it), from
        this proc."""
        values = await other.incr.call(by=by)
        one = await other.slice(**pick).value.call_one()
        return {"from": meshtrio.context().rank, "values": values.values(), "one": one}

    @endpoint
    async def ping_all(self, other: ActorMesh[Any]) -> list[Any]:
        return (await other.ping.call()).values()

    @endpoint
    async def relay_failure(self, other: ActorMesh[Counter]) -> None:
        """Call ``other.fail_on`` so that it fails on every rank (the error propagates)."""
        await other.fail_on.call([0, 1, 2, 3])

    def not_an_endpoint(self) -> int:  # AC-1: not remote
        return 1


class Sub(Counter):
    """AC-1: endpoints are inherited; one overridden without @endpoint is no longer remote."""

    def value(self) -> int:
        return -1

    @endpoint
    def extra(self) -> str:
        return "extra"


class Sleeper(Actor):
    """Endpoints that wait, and a log of how they ended (read by a later call)."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.started = trio.Event()
        self.release = trio.Event()
        self.events: collections.defaultdict[str, trio.Event] = collections.defaultdict(trio.Event)

    async def _sleep(self, tag: str) -> None:
        deadline = trio.current_effective_deadline()
        left = None if deadline == float("inf") else deadline - trio.current_time()
        self.log.append((tag, "started", left))
        self.started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            self.log.append((tag, "cancelled", trio.current_time()))
            raise

    @endpoint
    async def sleep(self, tag: str) -> None:
        """Wait forever, alone (later calls queue behind it); record the deadline it runs
        under and that it saw Cancelled."""
        await self._sleep(tag)

    @endpoint(concurrent=True)
    async def nap(self, tag: str) -> None:
        """As ``sleep``, but concurrent: ``wait_started`` can see it start."""
        await self._sleep(tag)

    @endpoint(concurrent=True)
    async def stubborn(self) -> None:
        """Ignore cancellation until released (for at most 5 s, so that a failing test can
        still tear its procs down)."""
        self.started.set()
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self.release.wait()
        self.log.append(("stubborn", "done", self.release.is_set()))

    @endpoint(concurrent=True)
    async def wait_started(self) -> None:
        """Return once a ``nap`` or ``stubborn`` call started (a concurrent endpoint: it cannot
        see a ``sleep`` start, which runs alone)."""
        await self.started.wait()

    @endpoint(concurrent=True)
    def set_release(self) -> None:
        self.release.set()

    @endpoint
    def read_log(self) -> list[Any]:
        return list(self.log)

    @endpoint(concurrent=True)
    async def meet(self, me: str, other: str) -> str:
        self.events[me].set()
        await self.events[other].wait()
        return me

    @endpoint
    async def meet_serially(self, me: str, other: str) -> str:
        self.events[me].set()
        await self.events[other].wait()
        return me

    @endpoint
    def ping(self) -> str:
        return "pong"

    @endpoint
    def rank(self) -> int:
        return meshtrio.context().rank


class Held(Actor):
    """Calls that wait on a gate the test opens through the side channel."""

    def __init__(self, token: str) -> None:
        self.side = SIDE[token]

    @endpoint(concurrent=True)
    async def hold(self, i: int) -> int:
        side = self.side
        side.arrived.append(i)
        side.running += 1
        side.max_running = max(side.max_running, side.running)
        if len(side.arrived) == side.notify_at:
            side.reached.set()
        try:
            await side.gate.wait()
        finally:
            side.running -= 1
        return i

    @endpoint
    async def hold_serially(self) -> None:
        self.side.reached.set()
        await trio.sleep_forever()

    @endpoint
    async def wait_gate(self) -> None:
        await self.side.gate.wait()

    @endpoint
    async def record_time_left(self) -> None:
        self.side.left.append(trio.current_effective_deadline() - trio.current_time())

    @endpoint
    def ping(self) -> str:
        return "pong"


class Flaky(Actor):
    """``__init__`` raises on one rank."""

    def __init__(self, bad_rank: int) -> None:
        rank = meshtrio.context().rank
        if rank == bad_rank:
            raise KeyError(f"no constructor for rank {rank}")  # the raising line


# -- helpers -------------------------------------------------------------------------------


@asynccontextmanager
async def workers(per_host: int = 2) -> AsyncIterator[ProcMesh]:
    """2 in-process hosts with ``per_host`` procs each (tasks), region ``hosts x gpus``."""
    async with meshtrio.open_host_mesh_in_process(2, in_process_procs=True) as hosts:
        yield await hosts.spawn("workers", {"gpus": per_host})


def proc_kinds(states: ValueMesh[Any]) -> list[StatusKind]:
    return [s.status.kind for s in states.values()]


# -- spawn, call, call_one, choose, broadcast, stream, slice ----------------------------------


async def test_spawn_call_value_mesh_shape_and_points() -> None:
    """AM-9/AM-6: spawn on 2x2 procs; call returns a ValueMesh over the proc region, one
    value per rank in rank order; items() gives the points."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter, 5)
            assert isinstance(counters, ActorMesh)
            assert len(counters) == 4
            assert counters.name == "counter"
            assert counters.region == procs.region, f"AM-9: {counters.region}"
            assert "incr" in counters.endpoints
            assert "not_an_endpoint" not in counters.endpoints

            values = await counters.incr.call(by=2)
            assert isinstance(values, ValueMesh)
            assert values.region == procs.region, f"AM-6: {values.region}"
            assert values.values() == [7, 7, 7, 7], f"AM-6: {values.values()}"
            points = [(p.rank, p["hosts"], p["gpus"]) for p, _ in values.items()]
            assert points == [(0, 0, 0), (1, 0, 1), (2, 1, 0), (3, 1, 1)], points
            assert values.item(hosts=1, gpus=0) == 7

            # Each actor has its own state: bump rank 2 only, then read all.
            one = counters.slice(hosts=1, gpus=0)
            assert len(one) == 1
            assert await one.incr.call_one(by=10) == 17, "call_one: the one actor's value"
            after = await counters.value.call()
            assert after.values() == [7, 7, 17, 7], f"slice touched only rank 2: {after}"


async def test_context_inside_actors_and_no_context_outside() -> None:
    """AC-2: inside __init__, endpoints and their child tasks, context() is the actor's
    (rank, point, size, proc id, mesh name, region); outside any actor it raises
    NoActorContextError (also in this client task, after actors ran in the same process)."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("ctx", Counter)
            where = await counters.where.call()
            for (point, got), ref in zip(where.items(), procs.procs, strict=True):
                r = point.rank
                assert got["rank"] == r == got["point_rank"], f"AC-2: {got}"
                assert got["point"] == str(point) == got["current_rank"], f"AC-2: {got}"
                assert got["size"] == 4, f"AC-2: {got}"
                assert got["proc_id"] == ref.proc_id, f"AC-2: {got} on {ref}"
                assert got["actor"] == "ctx", f"AC-2: {got}"
                assert got["region"] == str(counters.region), f"AC-2: {got}"
                assert got["init_rank"] == r, f"AC-2: context in __init__: {got}"
                assert got["child_rank"] == r, f"AC-2: context in a child task: {got}"

            # A slice keeps the actors' own ranks and points (in the full mesh).
            sliced = await counters.slice(gpus=1).where.call()
            assert sliced.region.labels == ("hosts",), f"{sliced.region}"
            assert [v["rank"] for v in sliced.values()] == [1, 3], f"{sliced}"
            assert [p.rank for p, _ in sliced.items()] == [0, 1], "dense points of the slice"

            with pytest.raises(NoActorContextError):
                meshtrio.context()
            with pytest.raises(NoActorContextError):
                meshtrio.current_rank()
            with pytest.raises(LookupError):
                meshtrio.context()


async def test_classes_of_this_module_and_local_classes_travel_by_cloudpickle() -> None:
    """An actor class of this test module (pickled by reference, importable here) and one
    defined inside the test function (pickled by value) both spawn and serve calls; so does
    a lambda given as a constructor argument (by value)."""
    factor = 3

    class Local(Actor):
        def __init__(self, fn: Any) -> None:
            self.fn = fn

        @endpoint
        def apply(self, x: int) -> int:
            return int(self.fn(x)) * factor

    with trio.fail_after(LIMIT):
        async with workers(per_host=1) as procs:
            local = await procs.spawn("local", Local, lambda x: x + 1)
            assert (await local.apply.call(1)).values() == [6, 6]
            counters = await procs.spawn("counter", Counter, 1)
            assert (await counters.incr.call()).values() == [2, 2]


async def test_am2_call_one_on_many_and_unknown_endpoint_fail_before_sending() -> None:
    """AM-2/AC-1: call_one on more than one actor is InputError, an unknown endpoint is an
    AttributeError (InputError from .endpoint()); a plain method is not remote; nothing was
    sent (the actors counted no call)."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            with pytest.raises(InputError, match="exactly one actor"):
                await counters.incr.call_one()
            with pytest.raises(InputError, match="exactly one actor"):
                await counters.slice(hosts=0).incr.call_one()
            with pytest.raises(AttributeError, match="no endpoint 'nope'"):
                _ = counters.nope
            with pytest.raises(AttributeError, match="not_an_endpoint"):
                _ = counters.not_an_endpoint
            with pytest.raises(InputError):
                counters.endpoint("nope")
            assert counters.endpoint("incr").name == "incr"
            counts = await counters.call_count.call()
            assert counts.values() == [0, 0, 0, 0], f"AM-2: something was sent: {counts}"


async def test_am8_choose_round_robin_skips_stopped() -> None:
    """AM-8: with nothing in flight, choose goes round-robin over the live actors; a busy
    actor is not picked; actors this client stopped are skipped; all stopped is
    MeshClosedError."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            picked = [(await counters.where.choose())["rank"] for _ in range(8)]
            assert sorted(picked[:4]) == [0, 1, 2, 3], f"AM-8: round robin {picked}"
            assert picked[4:] == picked[:4], f"AM-8: round robin {picked}"

            sleepers = await procs.spawn("sleepers", Sleeper)
            busy = sleepers.slice(hosts=0, gpus=1)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(busy.nap.call_one, "busy")
                await busy.wait_started.call_one()
                # Rank 1 has a call in flight from here: choose picks the others.
                chosen = [await sleepers.rank.choose() for _ in range(6)]
                assert sorted(chosen) == [0, 0, 2, 2, 3, 3], f"AM-8: {chosen}"
                nursery.cancel_scope.cancel()

            await counters.slice(hosts=0).stop()
            after = [(await counters.where.choose())["rank"] for _ in range(6)]
            assert set(after) == {2, 3}, f"AM-8: stopped actors are skipped: {after}"
            await counters.stop()
            with pytest.raises(MeshClosedError):
                await counters.where.choose()


async def test_am8_choose_prefers_fewest_in_flight() -> None:
    """AM-8: choose picks the live actor with the fewest calls in flight from this process."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            sleepers = await procs.spawn("sleepers", Sleeper)
            async with trio.open_nursery() as nursery:
                for rank_slice in ({"hosts": 0, "gpus": 0}, {"hosts": 1, "gpus": 1}):
                    one = sleepers.slice(**rank_slice)
                    nursery.start_soon(one.nap.call_one, "busy")
                    await one.wait_started.call_one()
                chosen = [await sleepers.rank.choose() for _ in range(4)]
                assert sorted(chosen) == [1, 1, 2, 2], f"AM-8: a busy actor was chosen: {chosen}"
                nursery.cancel_scope.cancel()


async def test_broadcast_then_call_sees_its_effect() -> None:
    """Broadcast returns once sent; a later call from the same caller runs after it (AM-3),
    so it sees the effect; a broadcast that succeeds counts no failure (AM-7)."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            assert await counters.incr.broadcast(by=5) is None
            await counters.slice(gpus=0).incr.broadcast(by=1)
            values = await counters.value.call()
            assert values.values() == [6, 5, 6, 5], f"AM-3: {values}"
            assert counters.broadcast_failures == 0
            assert counters.recent_broadcast_errors == []


async def test_am7_broadcast_failure_is_counted_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """AM-7: a broadcast whose endpoint raises is counted, kept and logged at WARNING with
    the rank (with supervision told to log: by default it would end the block, SV-3)."""
    with trio.fail_after(LIMIT), caplog.at_level(logging.WARNING, logger="meshtrio.actors"):
        async with meshtrio.open_host_mesh_in_process(2, in_process_procs=True) as hosts:
            procs = await hosts.spawn("workers", {"gpus": 2}, on_failure="log")
            counters = await procs.spawn("counter", Counter)
            await counters.fail_on.broadcast([1, 2])
            await counters.value.call()  # the broadcast's replies came first (one connection)
            assert counters.broadcast_failures == 2, f"AM-7: {counters.broadcast_failures}"
            errors = counters.recent_broadcast_errors
            assert sorted(e.rank for e in errors) == [1, 2], f"AM-7: {errors}"  # type: ignore[attr-defined]
            assert all(isinstance(e, ActorError) and e.kind == "ValueError" for e in errors)
            warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warned) == 2, f"AM-7: {warned}"
            assert sorted(m.split("to rank ")[1][0] for m in warned) == ["1", "2"], warned


async def test_stream_yields_every_point_once() -> None:
    """stream yields (point, value) for every actor as replies arrive; the points are those
    of call(...).items()."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter, 100)
            got = {}
            async for point, value in counters.incr.stream(by=1):
                assert point.rank not in got, f"point {point} twice"
                got[point.rank] = (str(point), value)
            expected = await counters.value.call()
            assert got == {p.rank: (str(p), 101) for p, _ in expected.items()}, f"{got}"

            sliced = counters.slice(hosts=1)
            points = [str(p) async for p, _ in sliced.incr.stream()]
            assert sorted(points) == sorted(str(p) for p, _ in (await sliced.value.call()))


async def test_stream_raises_first_failure_and_cancels_the_rest() -> None:
    """stream raises the first failure when it arrives; leaving early cancels the calls still
    in flight (AM-4), which the actors see as Cancelled."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            with pytest.raises(ActorError) as info:
                async for _ in counters.fail_on.stream([0, 1, 2, 3]):
                    pass
            assert info.value.kind == "ValueError"

            sleepers = await procs.spawn("sleepers", Sleeper)
            one = sleepers.slice(hosts=0, gpus=0)
            # Nothing will ever be yielded; leave once rank 0's call is running.
            async with (
                aclosing(sleepers.nap.stream("streamed")) as stream,
                trio.open_nursery() as nursery,
            ):

                async def pull() -> None:
                    async for _ in stream:
                        pass

                nursery.start_soon(pull)
                await one.wait_started.call_one()
                nursery.cancel_scope.cancel()
            log = await one.read_log.call_one()
            assert ("streamed", "cancelled") in [entry[:2] for entry in log], f"AM-4: {log}"


# -- AM-9: spawn is all or nothing ---------------------------------------------------------


async def test_am9_init_raising_on_one_rank_stops_the_others() -> None:
    """AM-9: __init__ raising on rank 2 only: ActorError naming rank 2 (endpoint __init__,
    the remote traceback with the raising line, __cause__ the original KeyError); the actors
    built on the other ranks are stopped (no proc holds one afterwards)."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            with pytest.raises(ActorError) as info:
                await procs.spawn("flaky", Flaky, 2)
            err = info.value
            assert err.rank == 2, f"AM-9: {err.rank}"
            assert err.endpoint == "__init__", f"AM-9: {err.endpoint}"
            assert err.kind == "KeyError", f"AM-9: {err.kind}"
            assert "rank 2" in str(err), f"AM-9: {err}"
            assert "hosts=1/2,gpus=0/2" in str(err), f"AM-9: the point is named: {err}"
            assert 'raise KeyError(f"no constructor for rank {rank}")' in err.traceback, (
                f"AM-9: remote traceback: {err.traceback}"
            )
            assert isinstance(err.__cause__, KeyError), f"AM-9: cause {err.__cause__!r}"
            assert set(err.failures) == {2}, f"AM-9: {err.failures}"
            assert any("remote traceback" in n for n in getattr(err, "__notes__", []))

            inspector = await procs.spawn("inspector", Inspector)
            held = await inspector.actors_here.call()
            assert held.values() == [["inspector"]] * 4, f"AM-9: actors left behind: {held}"
            # The name is free again: a good spawn under it works.
            good = await procs.spawn("flaky", Flaky, 99)
            assert len(good) == 4


async def test_am9_spawn_arguments_checked_before_sending() -> None:
    """AM-2/PL-1 for spawn: an unpicklable constructor argument is a PayloadError naming it;
    nothing is spawned; a class that is not an Actor is InputError."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            with pytest.raises(PayloadError) as info:
                await procs.spawn("counter", Counter, threading.Lock())
            assert info.value.argument == "args[0]", f"PL-1: {info.value.argument!r}"
            assert "spawning Counter" in str(info.value), f"PL-1: {info.value}"
            with pytest.raises(InputError):
                await procs.spawn("nope", dict)  # type: ignore[arg-type]
            inspector = await procs.spawn("inspector", Inspector)
            held = await inspector.actors_here.call()
            assert held.values() == [["inspector"]] * 4, f"AM-2: something was spawned: {held}"


# -- AM-6/AS-4: endpoint failures ----------------------------------------------------------


async def test_as4_endpoint_exception_is_actor_error_and_actor_lives_on() -> None:
    """AS-4/AM-6: an endpoint that raises gives ActorError (rank, point, kind, endpoint,
    remote traceback with the raise line, __cause__ the original exception); the actor then
    serves the next call with its state intact."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            one = counters.slice(hosts=1, gpus=1)
            await one.incr.call_one(by=3)
            with pytest.raises(ActorError) as info:
                await one.explode.call_one("kaboom")
            err = info.value
            assert err.rank == 3, f"{err}"
            assert str(err.point) == "hosts=1/2,gpus=1/2", f"{err.point}"
            assert err.kind == "Boom", f"{err.kind}"
            assert err.endpoint == "explode", f"{err.endpoint}"
            assert "raise Boom(message)  # the raise line" in err.traceback, err.traceback
            assert isinstance(err.__cause__, Boom), f"cause {err.__cause__!r}"
            assert str(err.__cause__) == "kaboom"
            assert "kaboom" in str(err)
            assert set(err.failures) == {3}
            assert err.values == {}
            assert await one.incr.call_one() == 4, "AS-4: the actor lives on, state intact"


async def test_am6_call_with_failures_raises_lowest_rank_with_outcomes() -> None:
    """AM-6: call with ranks 1 and 3 failing raises rank 1's ActorError once every actor
    answered; failures has ranks 1 and 3, values the others' values."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            with pytest.raises(ActorError) as info:
                await counters.fail_on.call([3, 1])
            err = info.value
            assert err.rank == 1, f"AM-6: lowest failing rank, got {err.rank}"
            assert sorted(err.failures) == [1, 3], f"AM-6: {err.failures}"
            assert err.failures[1] is err
            assert isinstance(err.failures[3], ActorError)
            assert err.failures[3].rank == 3
            assert err.values == {0: 0, 2: 20}, f"AM-6: {err.values}"
            assert "rank 1 refuses" in str(err)
            ok = await counters.fail_on.call([])
            assert ok.values() == [0, 10, 20, 30], "AS-4: every actor lives on"


async def test_pl2_unpicklable_and_oversize_results_are_actor_errors() -> None:
    """PL-2/AS-4: a result that cannot be pickled, or is too large to send, is an ActorError
    of kind PayloadError; the actor serves the next call."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            one = (await procs.spawn("counter", Counter)).slice(hosts=0, gpus=0)
            with pytest.raises(ActorError) as info:
                await one.unpicklable_result.call_one()
            assert info.value.kind == "PayloadError", f"PL-2: {info.value.kind}"
            assert "cannot be pickled" in str(info.value), f"PL-2: {info.value}"
            size = config.get(config.MAX_MESSAGE_SIZE) + 1
            with pytest.raises(ActorError) as info:
                await one.big_result.call_one(size)
            assert info.value.kind == "PayloadError", f"PL-2: {info.value.kind}"
            assert await one.incr.call_one() == 1, "AS-4: the actor lives on"


async def test_am2_pl1_bad_arguments_fail_before_sending() -> None:
    """AM-2/PL-1: an unpicklable argument (a lock, an open socket) or arguments larger than
    max_message_size are a PayloadError naming the argument, raised before anything is sent
    (the actor counted no call)."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            one = counters.slice(hosts=0, gpus=1)
            with pytest.raises(PayloadError) as info:
                await counters.record.call(threading.Lock())
            assert info.value.argument == "args[0]", f"PL-1: {info.value.argument!r}"
            assert "Counter.record" in str(info.value), f"PL-1: {info.value}"
            with trio.socket.socket() as sock:
                with pytest.raises(PayloadError) as info:
                    await one.incr.call_one(by=sock)
                assert info.value.argument == "argument 'by'", f"PL-1: {info.value.argument!r}"
                with pytest.raises(PayloadError):
                    await one.incr.broadcast(by=sock)
                with pytest.raises(PayloadError):
                    await counters.incr.choose(by=sock)
                with pytest.raises(PayloadError):
                    async for _ in counters.incr.stream(by=sock):
                        pass

            big = b"x" * (config.get(config.MAX_MESSAGE_SIZE) + 1)
            with pytest.raises(PayloadError) as info:
                await one.record.call_one(big)
            assert info.value.argument == "args[0]", f"PL-1: {info.value.argument!r}"
            assert "max_message_size" in str(info.value), f"PL-1: {info.value}"
            with config.configured(max_message_size=64 << 10):
                with pytest.raises(PayloadError) as info:
                    await one.record.call_one("small", blob=b"y" * (100 << 10))
                assert info.value.argument == "argument 'blob'", f"{info.value.argument!r}"

            counts = await counters.call_count.call()
            assert counts.values() == [0, 0, 0, 0], f"AM-2: something was sent: {counts}"
            assert await one.recorded.call_one() == [], "AM-2: nothing was recorded"


# -- AM-3/AS-1/AS-2: order, concurrency, backpressure --------------------------------------


async def test_am3_1000_calls_from_one_caller_arrive_in_order() -> None:
    """AM-3/AS-1: 1000 broadcasts from one caller to one actor (each returns once sent, so
    the send order is the loop order) run in that order; a later call_one reads them."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            one = counters.slice(hosts=1, gpus=0)
            for i in range(1000):
                await one.record.broadcast(i)
            assert await one.recorded.call_one() == list(range(1000)), "AM-3: out of order"
            others = await counters.recorded.call()
            assert others.values() == [[], [], list(range(1000)), []], "only rank 2 was sent to"
            assert counters.broadcast_failures == 0


async def test_as1_concurrent_endpoint_calls_overlap() -> None:
    """AS-1: two calls to a concurrent endpoint run at once (each waits for the other to
    have started); the same two calls to a non-concurrent endpoint cannot (the second waits
    for the first to end), so they are still stuck when the bound expires."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            one = (await procs.spawn("sleepers", Sleeper)).slice(hosts=0, gpus=0)
            results: list[str] = []

            async def meet(endpoint_name: str, me: str, other: str) -> None:
                results.append(await one.endpoint(endpoint_name).call_one(me, other))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(meet, "meet", "a", "b")
                nursery.start_soon(meet, "meet", "b", "a")
            assert sorted(results) == ["a", "b"], f"AS-1: {results}"

            results.clear()
            with trio.move_on_after(1.5) as bound:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(meet, "meet_serially", "c", "d")
                    nursery.start_soon(meet, "meet_serially", "d", "c")
            assert bound.cancelled_caught, f"AS-1: non-concurrent calls overlapped: {results}"
            assert results == [], f"AS-1: {results}"
            assert await one.ping.call_one() == "pong", "the actor serves after the cancel"


async def test_am3_mailbox_capacity_bounds_calls_in_flight() -> None:
    """AM-3/AS-2: with actor_mailbox_capacity=4, a caller sending 10 calls to an actor whose
    calls block has exactly 4 in flight: the 5th broadcast does not return until a call
    ends; once the gate opens all 10 run, never more than 4 at once."""
    with trio.fail_after(LIMIT), config.configured(actor_mailbox_capacity=4):
        async with workers(per_host=1) as procs:
            token = side_channel(
                arrived=[], running=0, max_running=0, notify_at=4, reached=trio.Event(),
                gate=trio.Event(),
            )  # fmt: skip
            side = SIDE[token]
            one = (await procs.spawn("held", Held, token)).slice(hosts=0, gpus=0)
            sent: list[int] = []
            done = trio.Event()

            async def send_all() -> None:
                for i in range(10):
                    await one.hold.broadcast(i)
                    sent.append(i)
                done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_all)
                await side.reached.wait()
                await trio.testing.wait_all_tasks_blocked()
                assert sent == [0, 1, 2, 3], f"AM-3: the 5th call did not wait: sent {sent}"
                assert side.arrived == [0, 1, 2, 3], f"AS-2: {side.arrived}"
                side.gate.set()
                await done.wait()
            assert await one.ping.call_one() == "pong"  # after every hold call answered
            assert side.arrived == list(range(10)), f"AM-3: {side.arrived}"
            assert side.max_running == 4, f"AM-3: {side.max_running} at once"
            assert one.broadcast_failures == 0
            del SIDE[token]


# -- AM-4/AS-3: cancellation and deadlines ---------------------------------------------------


async def test_am4_cancelled_call_cancels_the_endpoint() -> None:
    """AM-4/AS-3: cancelling the caller (move_on_after) cancels the remote endpoint, which
    records trio.Cancelled; a later call reads the record; with a cooperating endpoint the
    cancel is acknowledged well within actor_cancel_ack_timeout (set large here)."""
    ack = 5.0
    with trio.fail_after(LIMIT), config.configured(actor_cancel_ack_timeout=ack):
        async with workers() as procs:
            one = (await procs.spawn("sleepers", Sleeper)).slice(hosts=1, gpus=1)
            done_at: list[float] = []
            scope = trio.CancelScope()

            async def call() -> None:
                with scope:
                    await one.nap.call_one("moved-on")
                done_at.append(trio.current_time())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                await one.wait_started.call_one()
                cancelled_at = trio.current_time()
                scope.cancel()
            assert scope.cancelled_caught
            elapsed = done_at[0] - cancelled_at
            assert elapsed < ack / 2, f"AM-4: the cancel was not acknowledged ({elapsed:.2f}s)"
            log = await one.read_log.call_one()
            assert [e[:2] for e in log] == [("moved-on", "started"), ("moved-on", "cancelled")]
            assert log[0][2] is not None, "AM-4: the test's deadline crossed"
            assert log[0][2] <= LIMIT, "AM-4: the test's deadline crossed"

            with trio.move_on_after(0.5) as bound:
                await one.sleep.call_one("move_on_after")
            assert bound.cancelled_caught
            log = await one.read_log.call_one()
            assert ("move_on_after", "cancelled") in [e[:2] for e in log], f"AM-4: {log}"


async def test_am4_deadline_crosses_and_bounds_the_remote_run() -> None:
    """AM-4/AS-3: a call made under trio.fail_after runs remotely under the caller's time
    left (recorded by the endpoint) and is cancelled by it; a broadcast sent under a
    deadline (no CANCEL is ever sent for it) is still cancelled at that deadline on the
    actor, and its DeadlineExceeded counts as a broadcast failure (AM-7)."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            one = (await procs.spawn("sleepers", Sleeper)).slice(hosts=0, gpus=1)
            with pytest.raises(trio.TooSlowError):
                with trio.fail_after(1.0):
                    await one.sleep.call_one("fail_after")
            log = await one.read_log.call_one()
            assert [e[:2] for e in log] == [("fail_after", "started"), ("fail_after", "cancelled")]
            left = log[0][2]
            assert left is not None, "AM-4: no deadline on the actor"
            assert 0 < left <= 1.0, f"AM-4: remote time left {left}"

            start = trio.current_time()
            with trio.move_on_after(1.0):
                await one.sleep.broadcast("broadcast")
            # Not cancelled here: the broadcast returned at once. The next call queues behind
            # the sleeping one and can only run once the deadline ended it on the actor.
            log = await one.read_log.call_one()
            elapsed = trio.current_time() - start
            entry = [e for e in log if e[0] == "broadcast"]
            assert [e[1] for e in entry] == ["started", "cancelled"], f"AM-4: {log}"
            assert entry[0][2] is not None, f"AM-4: no deadline on the actor: {entry}"
            assert 0 < entry[0][2] <= 1.0, f"AM-4: {entry}"
            assert 0.9 <= elapsed < 1.0 + 2.0, f"AM-4: ended after {elapsed:.2f}s"
            assert one.broadcast_failures == 1, "AM-7: the DeadlineExceeded was counted"
            error = one.recent_broadcast_errors[0]
            assert getattr(error, "kind", None) == "DeadlineExceeded", f"AM-7: {error!r}"


async def test_am4_time_left_is_taken_when_the_call_is_sent() -> None:
    """AM-4 (CallActor: "timeout is what was left of the caller's deadline when it sent the
    call"): a broadcast that waited 1.5 s for a window slot (capacity 1, the actor busy)
    carries the time left when it is sent, not when it was made; a broadcast is never
    cancelled remotely, so a stale value lets the endpoint outlive the caller's deadline. The
    time left is computed after the wait for the window slot."""
    with trio.fail_after(LIMIT), config.configured(actor_mailbox_capacity=1):
        async with workers(per_host=1) as procs:
            token = side_channel(gate=trio.Event(), left=[])
            side = SIDE[token]
            one = (await procs.spawn("held", Held, token)).slice(hosts=0, gpus=0)
            await one.wait_gate.broadcast()  # takes the only window slot until the gate opens
            left_when_sent: list[float] = []

            async def late() -> None:
                with trio.move_on_after(3.0) as scope:
                    await one.record_time_left.broadcast()  # returns once sent
                    left_when_sent.append(scope.deadline - trio.current_time())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(late)
                await trio.sleep(1.5)  # the scenario: the actor stays busy for 1.5 s
                side.gate.set()
            await one.ping.call_one()  # its slot is free once record_time_left answered
            del SIDE[token]
    assert len(side.left) == 1, f"{side.left}"
    assert left_when_sent[0] <= 1.5 + 0.1, f"the broadcast waited: {left_when_sent}"
    assert side.left[0] <= left_when_sent[0] + 0.75, (
        f"AM-4: the actor got {side.left[0]:.2f}s of time left; the caller had "
        f"{left_when_sent[0]:.2f}s when the call was sent"
    )


async def test_rpc5_cancel_of_a_shielded_endpoint_waits_at_most_the_ack_bound() -> None:
    """AM-4/RPC-5: cancelling a call whose endpoint ignores cancellation returns after
    actor_cancel_ack_timeout (1 s), not later; the endpoint keeps running (not promised to
    stop) and the actor serves other calls."""
    ack = config.get(config.ACTOR_CANCEL_ACK_TIMEOUT)
    assert ack == 1.0
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            one = (await procs.spawn("sleepers", Sleeper)).slice(hosts=0, gpus=0)
            scope = trio.CancelScope()
            done_at: list[float] = []

            async def call() -> None:
                with scope:
                    await one.stubborn.call_one()
                done_at.append(trio.current_time())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                await one.wait_started.call_one()
                cancelled_at = trio.current_time()
                scope.cancel()
            elapsed = done_at[0] - cancelled_at
            assert ack - 0.1 <= elapsed < ack + 2.0, f"RPC-5: cancel took {elapsed:.2f}s"
            assert await one.ping.call_one() == "pong"
            await one.set_release.call_one()
            log = await one.read_log.call_one()
            assert ("stubborn", "done", True) in log, f"RPC-5: {log}"


# -- actor meshes as arguments -------------------------------------------------------------


async def test_am1_endpoint_calls_an_actor_mesh_passed_as_argument() -> None:
    """AM-1: an actor mesh pickles as a reference; an endpoint given one calls it (and a
    slice of it) from its own proc."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            callers = await procs.spawn("callers", Counter)
            first = callers.slice(hosts=0, gpus=0)
            got = await first.relay.call_one(counters, 7, {"hosts": 1, "gpus": 1})
            assert got == {"from": 0, "values": [7, 7, 7, 7], "one": 7}, f"AM-1: {got}"
            # Every caller at once, with a slice as the argument.
            part = counters.slice(hosts=1, gpus=slice(0, 2))
            results = await callers.relay.call(part, 1, {"gpus": 0})
            assert sorted(r["from"] for r in results.values()) == [0, 1, 2, 3]
            assert all(8 <= r["one"] <= 11 for r in results.values()), f"{results}"
            assert (await counters.value.call()).values() == [7, 7, 11, 11]

            # An ActorError the inner call raised is the outer endpoint's error, and its cause.
            with pytest.raises(ActorError) as info:
                await first.relay_failure.call_one(counters.slice(hosts=1))
            err = info.value
            assert err.rank == 0, f"{err}"
            assert err.kind == "ActorError", f"{err.kind}"
            inner = err.__cause__
            assert isinstance(inner, ActorError), f"{inner!r}"
            assert inner.rank == 2, f"the lowest failing rank of the inner call: {inner.rank}"
            assert inner.kind == "ValueError", f"{inner.kind}"
            assert "rank 2 refuses" in str(inner)


async def test_am1_references_need_a_connection_owner() -> None:
    """AM-1: an actor mesh reference unpickled on the client has no connections
    (MeshClosedError, nothing sent); once the host mesh block is left, calls through the
    mesh it returned raise MeshClosedError."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            counters = await procs.spawn("counter", Counter)
            copy = pickle.loads(pickle.dumps(counters))
            assert copy.region == counters.region
            assert copy.endpoints == counters.endpoints
            with pytest.raises(MeshClosedError):
                await copy.incr.call()
            assert (await counters.call_count.call()).values() == [0, 0, 0, 0]
        with pytest.raises(MeshClosedError):
            await counters.incr.call()
        with pytest.raises(MeshClosedError):
            await counters.slice(hosts=0, gpus=0).incr.call_one()


async def test_ac1_endpoints_are_declared_and_inherited() -> None:
    """AC-1: a subclass has its base's endpoints plus its own; a method overridden without
    @endpoint is not remote (and still an ordinary method locally); @endpoint only marks
    functions."""
    with trio.fail_after(LIMIT):
        async with workers(per_host=1) as procs:
            subs = await procs.spawn("sub", Sub, 1)
            assert "extra" in subs.endpoints
            assert "incr" in subs.endpoints
            assert "value" not in subs.endpoints, f"AC-1: {subs.endpoints}"
            assert (await subs.incr.call()).values() == [2, 2]
            assert (await subs.extra.call()).values() == ["extra", "extra"]
            with pytest.raises(AttributeError):
                _ = subs.value
    local = Sub.__new__(Sub)  # no __init__: that needs an actor context
    assert local.extra() == "extra", "AC-1: an endpoint is an ordinary method locally"
    assert local.value() == -1
    with pytest.raises(InputError):
        endpoint(42)  # type: ignore[call-overload]


# -- stop ----------------------------------------------------------------------------------


async def test_as5_actor_mesh_stop_ends_pending_calls_procs_keep_running() -> None:
    """AS-5: ActorMesh.stop on a blocked actor ends its running call and the calls queued
    behind it with ActorDiedError; the procs keep running (a new spawn works); later calls
    through the stopped mesh raise MeshClosedError before sending, and calls from another
    process's reference (here another actor's) are answered as gone (ActorDiedError)."""
    with trio.fail_after(LIMIT):
        async with workers() as procs:
            token = side_channel(reached=trio.Event())
            held = await procs.spawn("held", Held, token)
            one = held.slice(hosts=1, gpus=1)
            errors: list[BaseException] = []

            async def call() -> None:
                try:
                    await one.hold_serially.call_one()
                except ActorDiedError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                await SIDE[token].reached.wait()
                nursery.start_soon(call)  # queued behind the first
                nursery.start_soon(call)
                await trio.testing.wait_all_tasks_blocked()  # both sent, waiting for replies
                await held.stop()
            assert len(errors) == 3, f"AS-5: {errors}"
            assert all(e.rank == 3 for e in errors), [e.rank for e in errors]  # type: ignore[attr-defined]
            assert proc_kinds(await procs.states()) == [StatusKind.RUNNING] * 4
            with pytest.raises(MeshClosedError):
                await held.ping.call()
            with pytest.raises(MeshClosedError):
                await one.ping.broadcast()
            await held.stop()  # again: nothing to do
            caller = (await procs.spawn("caller", Counter)).slice(hosts=0, gpus=0)
            with pytest.raises(ActorError) as info:
                await caller.ping_all.call_one(held)
            assert info.value.kind == "ActorDiedError", f"AS-5: {info.value}"
            assert isinstance(info.value.__cause__, ActorDiedError), f"{info.value.__cause__!r}"
            again = await procs.spawn("held", Held, token)
            assert (await again.ping.call()).values() == ["pong"] * 4
            del SIDE[token]


async def test_am5_proc_mesh_stop_fails_calls_with_actor_died() -> None:
    """AM-5: stopping the procs fails a call in flight with ActorDiedError naming the rank;
    later calls to those ranks fail with ActorDiedError too."""
    with trio.fail_after(LIMIT):
        async with workers(per_host=1) as procs:
            sleepers = await procs.spawn("sleepers", Sleeper)
            one = sleepers.slice(hosts=1, gpus=0)
            caught: list[ActorDiedError] = []

            async def call() -> None:
                with pytest.raises(ActorDiedError) as info:
                    await one.nap.call_one("pending")
                caught.append(info.value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                await one.wait_started.call_one()
                await procs.stop()
            assert caught[0].rank == 1, f"AM-5: {caught[0].rank}"
            assert caught[0].actor == "sleepers"
            assert caught[0].proc_id == procs.procs[1].proc_id
            for _ in range(2):
                with pytest.raises(ActorDiedError) as info:
                    await one.ping.call_one()
                assert info.value.rank == 1
            with pytest.raises(ActorDiedError) as info:
                await sleepers.ping.call()
            assert info.value.rank == 0
            assert sorted(info.value.failures) == [0, 1]
