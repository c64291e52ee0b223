"""Tests for the host agent under bad input from raw sockets: garbage, plain HTTP, refused
handshakes, oversized and undecodable frames, unknown and unhandled messages.

Each bad client is rejected or disconnected, and the agent keeps answering a good client's
GetInfo afterwards. Where the bad input got past the handshake, the agent records a
``bad_client`` lifecycle event. Real sockets: every test is bounded on the real clock.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import msgpack
import pytest
import trio
import trio.testing
import trio_websocket
from hosts import connect, open_raw, read_until_eof, rejected_handshake, tcp_hosts

from meshtrio import ChannelAddr, HostMeshId, ProcMeshId, config, serve_host_agent
from meshtrio._host.agent import MAX_EVENT_DETAIL, MAX_EVENTS, HostAgent
from meshtrio._messages import (
    Ack,
    Drain,
    GetInfo,
    GetProcMeshConfigs,
    GetProcStates,
    HostInfoReply,
    Shutdown,
    SpawnProcs,
    StopProcMesh,
)
from meshtrio._transport.handshake import Offer
from meshtrio._wire import PROTOCOL_VERSION, Envelope, EnvelopeKind, WireError, decode, encode
from meshtrio.errors import AuthRejectedError, RemoteError

TOKEN = "agent-token"
MAX_SIZE = 16384
"""The agent's max_message_size in these tests."""
LIMIT = 10.0
"""Real-time bound of every test, in seconds."""


@asynccontextmanager
async def running_agent() -> AsyncIterator[ChannelAddr]:
    """A host agent on tcp:127.0.0.1:0 with TOKEN, a small max message size and a short
    handshake timeout."""
    override = {"connect_timeout": 1.0, "max_message_size": MAX_SIZE}
    agents = tcp_hosts(1, token=TOKEN, in_process_procs=False, client_override=override)
    async with agents as (agent,):
        yield agent.channel


async def good_info(addr: ChannelAddr) -> HostInfoReply:
    """A good client connects with net.connect and gets the agent's HostInfoReply."""
    async with trio.open_nursery() as nursery:
        peer = await connect(nursery, addr, token=TOKEN)
        info = await peer.call(GetInfo(), timeout=5.0)
        nursery.cancel_scope.cancel()
    assert isinstance(info, HostInfoReply)
    assert info.address == str(addr)
    assert info.state == "serving"
    return info


def bad_client_events(info: HostInfoReply) -> list[str]:
    """The details of the agent's bad_client events."""
    return [e.detail for e in info.events if e.kind == "bad_client"]


async def send_raw(addr: ChannelAddr, payload: bytes) -> bytes:
    """Send ``payload`` on a plain TCP connection; return what the agent sent until it closed."""
    stream = await open_raw(addr)
    try:
        await stream.send_all(payload)
        return await read_until_eof(stream)
    finally:
        await stream.aclose()


@asynccontextmanager
async def raw_ws(
    addr: ChannelAddr, headers: list[tuple[bytes, bytes]] | None = None
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A hand-driven WebSocket to the agent (right token and version unless ``headers``)."""
    if headers is None:
        headers = Offer(PROTOCOL_VERSION, TOKEN).headers()
    stream = await open_raw(addr)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                "127.0.0.1",
                "/meshtrio",
                extra_headers=headers,
                max_message_size=1 << 22,
            )
            yield ws
            nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


async def closed_by_agent(ws: trio_websocket.WebSocketConnection) -> trio_websocket.CloseReason:
    """Wait until the agent closes ``ws`` (it must send nothing else first)."""
    with pytest.raises(trio_websocket.ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason is not None
    return info.value.reason


async def test_good_client_control() -> None:
    """A good client gets HostInfoReply, and a fresh agent has no bad_client event."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            info = await good_info(addr)
            assert info.protocol_version == PROTOCOL_VERSION
            assert bad_client_events(info) == []


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\xff\xfe\x80 garbage\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # a TLS ClientHello start
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /meshtrio HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET /meshtrio HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    ],
    ids=["garbage", "tls", "plain-http", "http-post", "upgrade-without-key"],
)
async def test_garbage_and_plain_http_are_refused(payload: bytes) -> None:
    """Garbage bytes and non-WebSocket HTTP get a 400 (or nothing) and the connection closed
    at once; the agent still answers a good client."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            with trio.fail_after(0.5):  # well before the 1 s handshake timeout
                reply = await send_raw(addr, payload)
            assert reply == b"" or reply.startswith(b"HTTP/1.1 400")
            await good_info(addr)


async def test_tr2_silent_client_is_dropped_and_others_are_served() -> None:
    """TR-2: a client that connects and never speaks is dropped after the handshake timeout, while
    a good client is served meanwhile."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            silent = await trio.open_tcp_stream(addr.host, addr.port)
            await good_info(addr)
            t0 = trio.current_time()
            assert await silent.receive_some() == b""
            assert trio.current_time() - t0 < 1.5
            await silent.aclose()
            await good_info(addr)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (
            [
                (b"meshtrio-protocol", str(PROTOCOL_VERSION + 1).encode()),
                (b"authorization", b"Bearer " + TOKEN.encode()),
            ],
            426,
        ),
        ([(b"meshtrio-protocol", b"one"), (b"authorization", b"Bearer " + TOKEN.encode())], 426),
        ([(b"authorization", b"Bearer " + TOKEN.encode())], 426),
        (
            [
                (b"meshtrio-protocol", str(PROTOCOL_VERSION).encode()),
                (b"authorization", b"Bearer wrong"),
            ],
            401,
        ),
        ([(b"meshtrio-protocol", str(PROTOCOL_VERSION).encode())], 401),
    ],
    ids=["next-version", "version-not-a-number", "no-version", "wrong-token", "no-token"],
)
async def test_tr1_refused_handshakes(headers: list[tuple[bytes, bytes]], status: int) -> None:
    """TR-1: a wrong protocol version is refused with 426, a wrong or missing token with 401; the
    agent still answers a good client."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            rejected = await rejected_handshake(addr, headers)
            assert rejected.status_code == status, f"TR-1: refused with {rejected.status_code}"
            await good_info(addr)


async def test_tr1_wrong_token_through_net_connect_is_auth_rejected() -> None:
    """TR-1: net.connect with a wrong token raises AuthRejectedError; the agent keeps serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with trio.open_nursery() as nursery:
                with pytest.raises(AuthRejectedError):
                    await connect(nursery, addr, token="nope")
            await good_info(addr)


async def test_tr2_oversized_frame_closes_the_connection_with_1009() -> None:
    """TR-2: a message over the agent's max_message_size closes that connection with 1009 and is
    recorded as a bad_client event; the agent keeps serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with raw_ws(addr) as ws:
                await ws.send_message(b"\x00" * (MAX_SIZE * 4))
                reason = await closed_by_agent(ws)
                assert reason.code == 1009, f"TR-2: closed with {reason}"
            info = await good_info(addr)
            events = bad_client_events(info)
            assert any("too big" in d for d in events), f"TR-2: bad_client events {events}"


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (b"\xc1\xc1 not msgpack", "undecodable frame"),
        (b"", "undecodable frame"),
        (msgpack.packb([0, 1, "NoSuchMessage", {}]), "unknown message type"),
        (msgpack.packb([0, 1, "GetInfo"]), "4-element"),
        (msgpack.packb([9, 1, "GetInfo", {}]), "envelope kind"),
        (msgpack.packb([0, -5, "GetInfo", {}]), "correlation id"),
        ("a text frame", "text frame"),
    ],
    ids=["not-msgpack", "empty", "unknown-type", "short", "kind", "corr", "text"],
)
async def test_undecodable_message_after_handshake_closes_the_connection(
    message: bytes | str, detail: str
) -> None:
    """A message the agent cannot decode, after a good handshake, closes that connection and
    is recorded as a bad_client event; the agent keeps serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with raw_ws(addr) as ws:
                await ws.send_message(message)
                await closed_by_agent(ws)
            info = await good_info(addr)
            assert any(detail in d for d in bad_client_events(info)), info.events


async def test_request_with_a_bad_body_is_answered_and_the_connection_stays() -> None:
    """A well-framed request whose body does not fit its type gets an ERROR reply naming the
    problem; the connection stays usable for the next request."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr, raw_ws(addr) as ws:
            await ws.send_message(msgpack.packb([0, 7, "SpawnProcs", {"proc_mesh_id": 3}]))
            env = decode(await ws.get_message())
            assert env.kind is EnvelopeKind.ERROR
            assert env.corr == 7
            assert isinstance(env.body, WireError)
            assert env.body.kind == "ProtocolError"
            assert "bad SpawnProcs body" in env.body.message
            await ws.send_message(encode(Envelope(EnvelopeKind.REQUEST, 8, GetInfo())))
            env = decode(await ws.get_message())
            assert env.kind is EnvelopeKind.REPLY
            assert env.corr == 8


async def test_unhandled_message_type_is_answered_with_an_error() -> None:
    """A registered message the agent does not handle gets an ERROR reply and the connection
    stays usable; a stray reply for an unknown request is ignored."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with raw_ws(addr) as ws:
                await ws.send_message(encode(Envelope(EnvelopeKind.REQUEST, 1, Ack())))
                env = decode(await ws.get_message())
                assert env.kind is EnvelopeKind.ERROR
                assert env.corr == 1
                assert isinstance(env.body, WireError)
                assert env.body.kind == "RemoteError"
                assert "does not handle Ack" in env.body.message
                await ws.send_message(encode(Envelope(EnvelopeKind.REPLY, 999, Ack())))
                await ws.send_message(encode(Envelope(EnvelopeKind.REQUEST, 2, GetInfo())))
                env = decode(await ws.get_message())
                assert env.kind is EnvelopeKind.REPLY
                assert env.corr == 2
                assert isinstance(env.body, HostInfoReply)
                assert bad_client_events(env.body) == []
            await good_info(addr)


async def test_many_bad_clients_in_a_row_leave_the_agent_serving() -> None:
    """A burst of mixed bad clients, one after another, leaves the agent serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            for _ in range(3):
                await send_raw(addr, b"\xff" * 100 + b"\r\n\r\n")
                async with raw_ws(addr) as ws:
                    await ws.send_message(b"\xc1")
                    await closed_by_agent(ws)
            info = await good_info(addr)
            details = bad_client_events(info)
            assert sum("undecodable" in d for d in details) == 3
            assert all("undecodable" in d or "handshake" in d for d in details)


# -- refusals during the handshake are recorded ------------------------------------------------
async def recorded_bad_clients(addr: ChannelAddr) -> list[str]:
    """The agent's bad_client event details, once there is at least one.

    The agent records a refusal in its own connection task, after the refused client already
    saw the refusal, and publishes no event to wait on from outside; so this polls info()
    50 ms apart, bounded by the caller's ``fail_after``.
    """
    while True:
        events = bad_client_events(await good_info(addr))
        if events:
            return events
        await trio.sleep(0.05)


async def offer_wrong_token(addr: ChannelAddr) -> None:
    """A handshake with the right protocol version and a wrong token: refused with 401."""
    headers = [
        (b"meshtrio-protocol", str(PROTOCOL_VERSION).encode()),
        (b"authorization", b"Bearer wrong"),
    ]
    assert (await rejected_handshake(addr, headers)).status_code == 401


async def offer_wrong_version(addr: ChannelAddr) -> None:
    """A handshake with the right token and the next protocol version: refused with 426."""
    headers = [
        (b"meshtrio-protocol", str(PROTOCOL_VERSION + 1).encode()),
        (b"authorization", b"Bearer " + TOKEN.encode()),
    ]
    assert (await rejected_handshake(addr, headers)).status_code == 426


async def send_garbage(addr: ChannelAddr) -> None:
    """Bytes that are no HTTP request: answered with a 400 or nothing, then closed."""
    reply = await send_raw(addr, b"\x00\xff\xfe\x80 garbage\r\n\r\n")
    assert reply == b"" or reply.startswith(b"HTTP/1.1 400")


async def stay_silent(addr: ChannelAddr) -> None:
    """Connect and say nothing until the agent hangs up (its handshake timeout)."""
    stream = await open_raw(addr)
    try:
        assert await read_until_eof(stream) == b""
    finally:
        await stream.aclose()


@pytest.mark.parametrize(
    ("client", "fragments"),
    [
        (offer_wrong_token, ["401", "token"]),
        (offer_wrong_version, ["426", "protocol version"]),
        (send_garbage, ["handshake"]),
        (stay_silent, ["handshake"]),
    ],
    ids=["wrong-token", "wrong-version", "garbage", "silent"],
)
async def test_handshake_refusal_is_recorded_as_a_bad_client_event(
    client: Callable[[ChannelAddr], Awaitable[None]], fragments: list[str]
) -> None:
    """A client refused during the handshake leaves exactly one bad_client event on the agent,
    whose detail says why; the agent keeps serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            assert bad_client_events(await good_info(addr)) == [], "a fresh agent has none"
            await client(addr)
            events = await recorded_bad_clients(addr)
            assert len(events) == 1, f"one refused client, events: {events}"
            for fragment in fragments:
                assert fragment in events[0], f"{fragment!r} not in {events[0]!r}"
            assert bad_client_events(await good_info(addr)) == events, "recorded once only"


async def test_tr2_garbage_client_is_dropped_at_once_not_after_the_handshake_timeout() -> None:
    """TR-2: a client whose opening bytes are no WebSocket handshake is dropped as soon as
    it is answered, well before the handshake timeout (1 s here), and recorded as such."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            sent = time.time()
            await send_garbage(addr)
            with trio.fail_after(0.8):  # less than the 1 s handshake timeout
                events = await recorded_bad_clients(addr)
            assert events == ["sent a bad opening handshake (not a meshtrio WebSocket client)"]
            info = await good_info(addr)
            (event,) = [e for e in info.events if e.kind == "bad_client"]
            assert event.at - sent < 0.8


# -- durations from the wire ---------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
@pytest.mark.parametrize("request_kind", ["keepalive", "drain", "stop", "dump", "shutdown"])
async def test_unusable_durations_are_refused_and_the_agent_survives(
    bad: float, request_kind: str
) -> None:
    """A NaN, infinite or negative timeout/keepalive from a peer is refused with a RemoteError
    naming the field; the agent (which holds a running proc) keeps serving and spawning."""
    mesh_id = ProcMeshId.instance("bad-durations")

    def spawn(rank: int) -> SpawnProcs:
        return SpawnProcs(mesh_id, HostMeshId.singleton("hosts"), rank, 1, {}, [None])

    requests = {
        "keepalive": GetProcStates(mesh_id, keepalive=bad),
        "drain": Drain(None, bad, 1),
        "stop": StopProcMesh(mesh_id, "bad", bad, 1),
        "dump": GetProcMeshConfigs(mesh_id, bad),
        "shutdown": Shutdown(bad, 1),
    }
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            addr = await nursery.start(
                functools.partial(serve_host_agent, "local:0", token=TOKEN, in_process_procs=True)
            )
            peer = await connect(nursery, addr, token=TOKEN)
            first = await peer.call(spawn(0), timeout=5.0)
            assert first.states[0].status.is_running
            with pytest.raises(RemoteError, match="finite number of seconds") as info:
                await peer.call(requests[request_kind], timeout=5.0)
            assert info.value.kind == "InputError"
            await trio.testing.wait_all_tasks_blocked()
            again = await peer.call(spawn(1), timeout=5.0)
            assert again.states[0].status.is_running
            assert (await peer.call(GetInfo(), timeout=5.0)).proc_count == 2
            nursery.cancel_scope.cancel()


async def test_long_event_details_are_capped_so_host_info_fits_one_message() -> None:
    """Lifecycle event details are capped (a failed proc's status carries its stderr tail), so
    a host whose event log is full of long details still fits its HostInfoReply in one message."""
    agent = HostAgent(token=TOKEN, cfg=config.Config())
    for _ in range(MAX_EVENTS):
        agent.event("proc_exit", "a failed proc's stderr tail " + "x" * 100_000)
    assert all(len(e.detail) <= MAX_EVENT_DETAIL for e in agent.events)
    size = len(encode(Envelope(EnvelopeKind.REPLY, 1, agent.info())))
    assert size < config.Config().get(config.MAX_MESSAGE_SIZE)


# -- WebSocket protocol violations, failures inside the agent, hang-ups ---------------------------
@asynccontextmanager
async def raw_ws_and_stream(
    addr: ChannelAddr,
) -> AsyncIterator[tuple[trio_websocket.WebSocketConnection, trio.SocketStream]]:
    """A good handshake, then the socket under it, to write hand-made frames on."""
    stream = await open_raw(addr)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                "127.0.0.1",
                "/meshtrio",
                extra_headers=Offer(PROTOCOL_VERSION, TOKEN).headers(),
            )
            yield ws, stream
            nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


MASK = b"\x01\x02\x03\x04"


@pytest.mark.parametrize(
    "frame",
    [
        bytes([0x83, 0x80]) + MASK,  # FIN + reserved opcode 3, masked, empty
        bytes([0xC2, 0x81]) + MASK + b"x",  # FIN + RSV1 (no extension agreed) + binary
        bytes([0x82, 0x01]) + b"x",  # an unmasked client frame
    ],
    ids=["reserved-opcode", "rsv-bits", "unmasked"],
)
async def test_tr1_websocket_protocol_violations_are_recorded_as_bad_clients(
    frame: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """TR-1 (issue 8, defect 7): a frame that breaks the WebSocket protocol after a good
    handshake closes that connection, is logged and is recorded as a bad_client event (it
    used to be closed silently); the agent keeps serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with raw_ws_and_stream(addr) as (ws, stream):
                await stream.send_all(frame)
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await ws.get_message()
            info = await good_info(addr)
            events = bad_client_events(info)
            assert any("protocol error" in d for d in events), f"TR-1: {info.events}"
            assert "broke the protocol" in caplog.text


async def test_ps4_a_launch_that_raises_fails_only_that_proc(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """PS-4 / HA-5 (issue 8, defects 1 and 2): an unexpected exception while launching a proc
    (here a bug in the launch step; in the field an OverflowError or RecursionError) ends
    that proc Failed with the error named, is logged, and the agent keeps serving spawns."""
    import meshtrio

    real = HostAgent._launch
    calls = 0

    async def flaky(self: HostAgent, rec: object, nursery: trio.Nursery) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OverflowError("cannot fit 'int' into an index-sized integer")
        return await real(self, rec, nursery)  # type: ignore[arg-type]

    monkeypatch.setattr(HostAgent, "_launch", flaky)
    with trio.fail_after(LIMIT):
        async with (
            tcp_hosts(1, token=TOKEN) as (host,),
            meshtrio.attach([host.addr], token=TOKEN) as mesh,
        ):
            with pytest.raises(meshtrio.ProcCreationError, match="OverflowError") as info:
                await mesh.spawn("broken", {"gpus": 1})
            assert info.value.state.status.is_failure
            procs = await mesh.spawn("fine", {"gpus": 1})  # the agent still serves
            assert [s.status.is_running for s in (await procs.states()).values()] == [True]
            (host_info,) = (await mesh.info()).values()
            assert host_info.state == "serving"
    assert "launching proc" in caplog.text


async def test_tr4_a_client_that_hangs_up_mid_handshake_is_not_a_bad_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """TR-4 (issue 8): a client that goes away during its opening handshake (cancelled,
    killed) is logged as having hung up, not as "a bad opening handshake", and is not
    recorded as a bad client; one that sent garbage still is."""
    caplog.set_level(logging.INFO, logger="meshtrio._transport")
    hung_up = [trio.Event(), trio.Event()]

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "hung up" in record.getMessage():
                next(e for e in hung_up if not e.is_set()).set()

    watch = Watch()
    logging.getLogger("meshtrio._transport").addHandler(watch)
    try:
        with trio.fail_after(LIMIT):
            async with running_agent() as addr:
                for partial in (b"", b"GET /meshtrio HTTP/1.1\r\nHost: 127.0.0.1\r\n"):
                    stream = await open_raw(addr)
                    if partial:
                        await stream.send_all(partial)
                    await stream.aclose()
                    with trio.fail_after(2):  # far less than LIMIT: not a handshake timeout
                        await hung_up[1 if partial else 0].wait()
                info = await good_info(addr)
    finally:
        logging.getLogger("meshtrio._transport").removeHandler(watch)
    assert bad_client_events(info) == [], info.events
    assert "bad opening handshake" not in caplog.text
    assert "hung up before sending its opening handshake" in caplog.text
    assert "hung up during its opening handshake" in caplog.text
