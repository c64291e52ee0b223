"""Tests for meshtrio._transport.rpc (Peer) over in-memory message streams, on the mock clock.

No real I/O happens here, so every test runs on the autojump clock and timeouts are checked to
the exact virtual second.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import msgpack
import pytest
import trio
import trio.testing

from meshtrio import Status
from meshtrio._messages import Ack, AskProcToExit, ProcUpdate
from meshtrio._transport.message_streams import (
    MemoryMessageStream,
    MessageStream,
    memory_stream_pair,
)
from meshtrio._transport.rpc import Emit, Handler, Peer, ReplyThen
from meshtrio._wire import Envelope, EnvelopeKind, decode, encode
from meshtrio.errors import (
    ConfigError,
    ConnectionLostError,
    ProtocolError,
    RemoteError,
    RequestTimeoutError,
)

LIMIT = 100.0
"""Virtual-time bound of every test."""


@attrs.define
class Pair:
    """Two connected peers and the raw streams under them."""

    client: Peer
    server: Peer
    client_stream: MemoryMessageStream
    server_stream: MemoryMessageStream


@asynccontextmanager
async def peer_pair(
    handler: Handler | None,
    *,
    client_handler: Handler | None = None,
    max_in_flight: int = 1024,
    wrap_server: Callable[[MemoryMessageStream], MessageStream] | None = None,
) -> AsyncIterator[Pair]:
    """Run a client Peer and a server Peer (serving ``handler``) over a memory stream pair."""
    client_stream, server_stream = memory_stream_pair("test-client", "test-server", 1 << 20)
    server_side: MessageStream = (
        server_stream if wrap_server is None else wrap_server(server_stream)
    )
    client = Peer(client_stream, client_handler)
    server = Peer(server_side, handler, max_in_flight=max_in_flight)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run)
        nursery.start_soon(server.run)
        yield Pair(client, server, client_stream, server_stream)
        nursery.cancel_scope.cancel()


async def echo(peer: Peer, msg: Any, emit: Emit) -> Any:
    """Reply to AskProcToExit(reason) with AskProcToExit('re: ' + reason)."""
    return AskProcToExit(f"re: {msg.reason}")


async def test_call_gets_its_reply(autojump_clock: trio.testing.MockClock) -> None:
    """A call returns the handler's reply body."""
    with trio.fail_after(LIMIT):
        async with peer_pair(echo) as pair:
            assert await pair.client.call(AskProcToExit("hi"), timeout=5) == AskProcToExit("re: hi")
            assert await pair.client.call(AskProcToExit("again"), timeout=5) == AskProcToExit(
                "re: again"
            )


async def test_either_side_may_call_the_other(autojump_clock: trio.testing.MockClock) -> None:
    """The server side can call the client side over the same connection."""
    with trio.fail_after(LIMIT):
        async with peer_pair(echo, client_handler=echo) as pair:
            assert await pair.server.call(AskProcToExit("back"), timeout=5) == AskProcToExit(
                "re: back"
            )
            assert await pair.client.call(AskProcToExit("fwd"), timeout=5) == AskProcToExit(
                "re: fwd"
            )


async def test_events_reach_on_event_in_order_before_the_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Events emitted by the handler reach on_event in order, and the reply ends the call."""

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        for i in range(4):
            await emit(ProcUpdate(i, Status.RUNNING))
        return Ack()

    seen: list[Any] = []
    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:
            reply = await pair.client.call(AskProcToExit("go"), timeout=5, on_event=seen.append)
            assert reply == Ack()
            assert seen == [ProcUpdate(i, Status.RUNNING) for i in range(4)]
            # Without on_event, events are simply not delivered; the reply still arrives.
            assert await pair.client.call(AskProcToExit("go"), timeout=5) == Ack()


async def ticking(peer: Peer, msg: Any, emit: Emit) -> Any:
    """Emit an event every 0.6 s (``ticks`` of them), then reply after 0.6 s, or hang."""
    ticks, then = msg.reason.split()
    for i in range(int(ticks)):
        await trio.sleep(0.6)
        await emit(ProcUpdate(i, Status.RUNNING))
    if then == "hang":
        await trio.sleep_forever()
    await trio.sleep(0.6)
    return Ack()


async def test_rpc3_total_timeout_fires_exactly_despite_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-3: a total timeout is not re-armed by events: the call fails exactly `timeout` after it
    started."""
    seen: list[Any] = []
    with trio.fail_after(LIMIT):
        async with peer_pair(ticking) as pair:
            t0 = trio.current_time()
            with pytest.raises(RequestTimeoutError) as info:
                await pair.client.call(AskProcToExit("5 reply"), timeout=1.0, on_event=seen.append)
            assert trio.current_time() - t0 == pytest.approx(1.0, abs=1e-9)
            assert info.value.timeout == 1.0
            assert info.value.address == "test-server"
            assert "AskProcToExit" in str(info.value)
            assert len(seen) == 1


async def test_rpc3_idle_timeout_is_rearmed_by_every_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-3: an idle timeout outlives a stream of events that each come within it."""
    seen: list[Any] = []
    with trio.fail_after(LIMIT):
        async with peer_pair(ticking) as pair:
            t0 = trio.current_time()
            reply = await pair.client.call(
                AskProcToExit("5 reply"), timeout=1.0, idle=True, on_event=seen.append
            )
            assert reply == Ack()
            assert len(seen) == 5
            assert trio.current_time() - t0 == pytest.approx(3.6, abs=1e-9)


async def test_rpc3_idle_timeout_fires_exactly_after_the_last_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-3: an idle call fails exactly `timeout` after the last event when nothing more comes."""
    with trio.fail_after(LIMIT):
        async with peer_pair(ticking) as pair:
            t0 = trio.current_time()
            with pytest.raises(RequestTimeoutError, match="idle") as info:
                await pair.client.call(AskProcToExit("2 hang"), timeout=1.0, idle=True)
            assert trio.current_time() - t0 == pytest.approx(1.2 + 1.0, abs=1e-9)
            assert info.value.timeout == 1.0


async def test_concurrent_calls_get_their_own_replies_out_of_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Concurrent calls on one peer each get their own reply, even when replies come back in
    the reverse order."""
    n = 5
    gates = [trio.Event() for _ in range(n)]
    started: list[int] = []
    all_started = trio.Event()

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        i = int(msg.reason)
        started.append(i)
        if len(started) == n:
            all_started.set()
        await gates[i].wait()
        return AskProcToExit(f"reply {i}")

    results: dict[int, Any] = {}
    done = [trio.Event() for _ in range(n)]
    order: list[int] = []

    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:

            async def one(i: int) -> None:
                results[i] = await pair.client.call(AskProcToExit(str(i)), timeout=math.inf)
                order.append(i)
                done[i].set()

            async with trio.open_nursery() as nursery:
                for i in range(n):
                    nursery.start_soon(one, i)
                await all_started.wait()
                for i in reversed(range(n)):
                    gates[i].set()
                    await done[i].wait()
    assert order == list(reversed(range(n)))
    assert results == {i: AskProcToExit(f"reply {i}") for i in range(n)}


async def test_rpc2_handler_mesh_error_comes_back_as_remote_error_with_kind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-2: a handler's MeshError is raised from call() as a RemoteError naming its class."""

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        raise ConfigError("bad value 'zz' for key max_message_size")

    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:
            with pytest.raises(RemoteError) as info:
                await pair.client.call(AskProcToExit("x"), timeout=5)
            assert info.value.kind == "ConfigError"
            assert "bad value 'zz' for key max_message_size" in str(info.value)
            assert info.value.address == "test-server"
            assert pair.client.close_reason is None


async def test_rpc2_handler_crash_comes_back_as_remote_error_and_peer_survives(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-2: a handler's non-MeshError becomes a RemoteError; both peers keep serving."""

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        if msg.reason == "crash":
            raise ZeroDivisionError("division by zero")
        return Ack()

    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:
            with pytest.raises(RemoteError) as info:
                await pair.client.call(AskProcToExit("crash"), timeout=5)
            assert info.value.kind == "ZeroDivisionError"
            assert "internal error" in str(info.value)
            assert await pair.client.call(AskProcToExit("fine"), timeout=5) == Ack()
            assert pair.server.close_reason is None
            assert pair.client.close_reason is None


async def test_a_peer_without_handler_refuses_requests(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Calling a peer that has no handler raises RemoteError and keeps the connection."""
    with trio.fail_after(LIMIT):
        async with peer_pair(None) as pair:
            with pytest.raises(RemoteError, match="does not accept requests"):
                await pair.client.call(AskProcToExit("x"), timeout=5)
            assert pair.client.close_reason is None


async def test_rpc1_lost_stream_fails_exactly_its_waiters(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-1: closing one connection fails every call waiting on it with ConnectionLostError;
    a call waiting on another peer is untouched and later gets its reply."""
    entered_a: list[int] = []
    three_in_a = trio.Event()
    in_b = trio.Event()
    gate_b = trio.Event()

    async def handler_a(peer: Peer, msg: Any, emit: Emit) -> Any:
        entered_a.append(1)
        if len(entered_a) == 3:
            three_in_a.set()
        await trio.sleep_forever()

    async def handler_b(peer: Peer, msg: Any, emit: Emit) -> Any:
        in_b.set()
        await gate_b.wait()
        return AskProcToExit("b ok")

    outcomes_a: list[BaseException] = []
    reply_b: list[Any] = []
    with trio.fail_after(LIMIT):
        async with peer_pair(handler_a) as a, peer_pair(handler_b) as b:

            async def call_a() -> None:
                try:
                    await a.client.call(AskProcToExit("a"), timeout=math.inf)
                except ConnectionLostError as exc:
                    outcomes_a.append(exc)

            async def call_b() -> None:
                reply_b.append(await b.client.call(AskProcToExit("b"), timeout=math.inf))

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(call_a)
                nursery.start_soon(call_b)
                await three_in_a.wait()
                await in_b.wait()
                await a.server_stream.aclose()  # the other end goes away
                await a.client.closed.wait()
                assert isinstance(a.client.close_reason, ConnectionLostError)
                assert b.client.close_reason is None
                assert not reply_b
                gate_b.set()
            assert len(outcomes_a) == 3
            assert all(e.address == "test-server" for e in outcomes_a)
            assert reply_b == [AskProcToExit("b ok")]
            # A closed peer refuses new calls at once.
            t0 = trio.current_time()
            with pytest.raises(ConnectionLostError):
                await a.client.call(AskProcToExit("late"), timeout=50)
            assert trio.current_time() == t0
            assert await b.client.call(AskProcToExit("b"), timeout=5) == AskProcToExit("b ok")


async def test_rpc1_local_aclose_fails_waiting_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-1: closing the peer locally fails its waiting calls with ConnectionLostError."""
    entered = trio.Event()

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        entered.set()
        await trio.sleep_forever()

    failures: list[BaseException] = []
    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:

            async def waiter() -> None:
                with pytest.raises(ConnectionLostError) as info:
                    await pair.client.call(AskProcToExit("x"), timeout=math.inf)
                failures.append(info.value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiter)
                await entered.wait()
                await pair.client.aclose()
            assert len(failures) == 1
            assert isinstance(pair.client.close_reason, ConnectionLostError)


async def test_rpc1_undecodable_frame_fails_waiters_with_protocol_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-1: a frame the peer cannot decode ends the connection; waiting calls get the
    ProtocolError that broke it."""
    client_stream, server_stream = memory_stream_pair("test-client", "test-server", 1 << 20)
    client = Peer(client_stream)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run)

            async def fake_server() -> None:
                request = decode(await server_stream.receive())
                assert request.kind is EnvelopeKind.REQUEST
                await server_stream.send(b"\xc1 not msgpack")

            nursery.start_soon(fake_server)
            with pytest.raises(ProtocolError, match="undecodable"):
                await client.call(AskProcToExit("x"), timeout=math.inf)
            await client.closed.wait()
            assert isinstance(client.close_reason, ProtocolError)


async def test_reply_with_a_bad_body_fails_only_its_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A well-framed reply whose body does not fit its type fails just the call waiting for
    it, with ProtocolError; the connection stays up and the next call works."""
    client_stream, server_stream = memory_stream_pair("test-client", "test-server", 1 << 20)
    client = Peer(client_stream)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run)

            async def fake_server() -> None:
                first = decode(await server_stream.receive())
                await server_stream.send(
                    msgpack.packb([1, first.corr, "AskProcToExit", {"bogus": 5}])
                )
                second = decode(await server_stream.receive())
                await server_stream.send(encode(Envelope(EnvelopeKind.REPLY, second.corr, Ack())))

            nursery.start_soon(fake_server)
            with pytest.raises(ProtocolError, match="bad AskProcToExit body"):
                await client.call(AskProcToExit("x"), timeout=math.inf)
            assert await client.call(AskProcToExit("y"), timeout=5) == Ack()
            assert client.close_reason is None
            nursery.cancel_scope.cancel()


async def test_rpc3_late_reply_after_timeout_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-3: a reply arriving after its call timed out is dropped; the peer keeps working and the
    next call gets its own reply."""
    gate = trio.Event()
    late_sent = trio.Event()

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        if msg.reason == "slow":
            await gate.wait()
            return ReplyThen(AskProcToExit("late"), late_sent.set)
        return AskProcToExit("fresh")

    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:
            with pytest.raises(RequestTimeoutError):
                await pair.client.call(AskProcToExit("slow"), timeout=1.0)
            gate.set()
            await late_sent.wait()
            assert await pair.client.call(AskProcToExit("now"), timeout=5) == AskProcToExit("fresh")
            assert pair.client.close_reason is None
            assert pair.server.close_reason is None


async def test_max_in_flight_refuses_extra_requests(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Beyond max_in_flight concurrent requests the peer answers Overloaded; the slots free up
    when handlers finish."""
    gate = trio.Event()
    entered: list[int] = []
    two_in = trio.Event()

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        entered.append(1)
        if len(entered) == 2:
            two_in.set()
        await gate.wait()
        return AskProcToExit(msg.reason)

    replies: list[Any] = []
    with trio.fail_after(LIMIT):
        async with peer_pair(handler, max_in_flight=2) as pair:

            async def one(tag: str) -> None:
                replies.append(await pair.client.call(AskProcToExit(tag), timeout=50))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(one, "a")
                nursery.start_soon(one, "b")
                await two_in.wait()
                with pytest.raises(RemoteError) as info:
                    await pair.client.call(AskProcToExit("c"), timeout=50)
                assert info.value.kind == "Overloaded"
                assert len(entered) == 2
                gate.set()
            assert sorted(r.reason for r in replies) == ["a", "b"]
            assert await pair.client.call(AskProcToExit("d"), timeout=50) == AskProcToExit("d")


@attrs.define
class RecordingStream:
    """A MessageStream wrapper that logs each sent envelope kind and can fail REPLY sends."""

    inner: MemoryMessageStream
    log: list[str]
    fail_replies: bool = False
    address: str = "recording"

    async def send(self, data: bytes) -> None:
        """Log, then send (or fail, for a REPLY when asked to)."""
        kind = decode(data).kind
        if kind is EnvelopeKind.REPLY and self.fail_replies:
            self.log.append("send failed")
            raise ConnectionLostError("injected send failure")
        await self.inner.send(data)
        self.log.append(f"sent {kind.name}")

    async def receive(self) -> bytes:
        """Receive from the inner stream."""
        return await self.inner.receive()

    async def aclose(self, *, graceful: bool = True) -> None:
        """Close the inner stream."""
        await self.inner.aclose(graceful=graceful)


async def test_reply_then_runs_its_callback_after_the_reply_was_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """ReplyThen sends the reply first and only then calls its callback."""
    log: list[str] = []
    ran = trio.Event()

    def then() -> None:
        log.append("then")
        ran.set()

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        await emit(ProcUpdate(0, Status.RUNNING))
        return ReplyThen(AskProcToExit("bye"), then)

    with trio.fail_after(LIMIT):
        async with peer_pair(handler, wrap_server=lambda s: RecordingStream(s, log)) as pair:
            assert await pair.client.call(AskProcToExit("x"), timeout=5) == AskProcToExit("bye")
            await ran.wait()
    assert log == ["sent EVENT", "sent REPLY", "then"]


async def test_reply_then_runs_its_callback_when_sending_failed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """ReplyThen's callback runs even when the reply could not be sent; the caller times out."""
    log: list[str] = []
    ran = trio.Event()

    def then() -> None:
        log.append("then")
        ran.set()

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        return ReplyThen(AskProcToExit("bye"), then)

    with trio.fail_after(LIMIT):
        async with peer_pair(
            handler, wrap_server=lambda s: RecordingStream(s, log, fail_replies=True)
        ) as pair:
            with pytest.raises(RequestTimeoutError):
                await pair.client.call(AskProcToExit("x"), timeout=2)
            await ran.wait()
    assert log == ["send failed", "then"]


@pytest.mark.parametrize("where", ["reply", "event"])
async def test_rpc2_oversized_reply_or_event_comes_back_as_an_error_not_a_timeout(
    autojump_clock: trio.testing.MockClock, where: str
) -> None:
    """RPC-2: a reply or event too large to send ends the call at once with a RemoteError naming
    max_message_size (not a silent timeout), and the connection keeps working."""
    big = AskProcToExit("x" * (2 << 20))  # the pair's max_message_size is 1 MiB

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        if msg.reason == "big":
            if where == "event":
                await emit(big)
            return big
        return AskProcToExit("small")

    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:
            start = trio.current_time()
            with pytest.raises(RemoteError, match="max_message_size") as info:
                await pair.client.call(AskProcToExit("big"), timeout=50)
            assert info.value.kind == "ProtocolError"
            assert trio.current_time() - start < 1
            assert await pair.client.call(AskProcToExit("next"), timeout=5) == AskProcToExit(
                "small"
            )


async def test_rpc2_transport_error_from_another_peer_is_answered_not_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """RPC-2: a handler failing with a TransportError that is not about this connection (e.g. a
    proc it called was lost) answers its caller with a RemoteError of that kind."""

    async def handler(peer: Peer, msg: Any, emit: Emit) -> Any:
        raise ConnectionLostError("local:7: connection closed", address="local:7")

    with trio.fail_after(LIMIT):
        async with peer_pair(handler) as pair:
            start = trio.current_time()
            with pytest.raises(RemoteError, match="local:7") as info:
                await pair.client.call(AskProcToExit("x"), timeout=50)
            assert info.value.kind == "ConnectionLostError"
            assert trio.current_time() - start < 1


async def test_error_frame_without_an_error_body_is_a_protocol_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An ERROR envelope whose body is a message instead of an error raises ProtocolError
    from call (never a stray AssertionError)."""
    client_stream, server_stream = memory_stream_pair("test-client", "test-server", 1 << 20)
    client = Peer(client_stream)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run)

            async def fake_server() -> None:
                request = decode(await server_stream.receive())
                await server_stream.send(encode(Envelope(EnvelopeKind.ERROR, request.corr, Ack())))

            nursery.start_soon(fake_server)
            with pytest.raises(ProtocolError, match="malformed error reply"):
                await client.call(AskProcToExit("x"), timeout=50)
            nursery.cancel_scope.cancel()
