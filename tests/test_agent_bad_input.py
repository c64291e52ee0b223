"""Tests for the host agent under bad input from raw sockets: garbage, plain HTTP, refused
handshakes, oversized and undecodable frames, unknown and unhandled messages.

Each bad client is rejected or disconnected, and the agent keeps answering a good client's
GetInfo afterwards. Where the bad input got past the handshake, the agent records a
``bad_client`` lifecycle event. Real sockets: every test is bounded on the real clock.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgpack
import pytest
import trio
import trio_websocket

from meshtrio import config
from meshtrio.addr import ChannelAddr
from meshtrio.errors import AuthRejectedError
from meshtrio.host.agent import serve_host_agent
from meshtrio.messages import Ack, GetInfo, HostInfo
from meshtrio.transport import net
from meshtrio.transport.handshake import Offer
from meshtrio.wire import PROTOCOL_VERSION, Envelope, Kind, WireError, decode, encode

TOKEN = "agent-token"
MAX_SIZE = 16384
"""The agent's max_message_size in these tests."""
LIMIT = 10.0
"""Real-time bound of every test, in seconds."""


@asynccontextmanager
async def running_agent() -> AsyncIterator[ChannelAddr]:
    """A host agent on tcp:127.0.0.1:0 with TOKEN, a small max message size and a short
    handshake timeout."""
    cfg = config.Config(client_override={"connect_timeout": 1.0, "max_message_size": MAX_SIZE})
    async with trio.open_nursery() as nursery:
        addr = await nursery.start(
            functools.partial(serve_host_agent, "tcp:127.0.0.1:0", token=TOKEN, cfg=cfg)
        )
        yield addr
        nursery.cancel_scope.cancel()


async def good_info(addr: ChannelAddr) -> HostInfo:
    """A good client connects with net.connect and gets the agent's HostInfo."""
    async with trio.open_nursery() as nursery:
        peer = await nursery.start(
            functools.partial(net.connect, addr, token=TOKEN, max_size=1 << 20, timeout=5.0)
        )
        info = await peer.call(GetInfo(), timeout=5.0)
        nursery.cancel_scope.cancel()
    assert isinstance(info, HostInfo)
    assert info.address == str(addr)
    assert info.state == "serving"
    return info


def bad_client_events(info: HostInfo) -> list[str]:
    """The details of the agent's bad_client events."""
    return [e.detail for e in info.events if e.kind == "bad_client"]


async def send_raw(addr: ChannelAddr, payload: bytes) -> bytes:
    """Send ``payload`` on a plain TCP connection; return what the agent sent until it closed."""
    stream = await trio.open_tcp_stream(addr.host, addr.port)
    out = b""
    try:
        await stream.send_all(payload)
        while True:
            try:
                data = await stream.receive_some()
            except trio.BrokenResourceError:  # reset by the agent
                break
            if not data:
                break
            out += data
    finally:
        await stream.aclose()
    return out


@asynccontextmanager
async def raw_ws(
    addr: ChannelAddr, headers: list[tuple[bytes, bytes]] | None = None
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A hand-driven WebSocket to the agent (right token and version unless ``headers``)."""
    if headers is None:
        headers = Offer(PROTOCOL_VERSION, TOKEN).headers()
    stream = await trio.open_tcp_stream(addr.host, addr.port)
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


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside ``exc``."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


async def rejection(
    addr: ChannelAddr, headers: list[tuple[bytes, bytes]]
) -> trio_websocket.ConnectionRejected:
    """Open a WebSocket with exactly ``headers``; return the agent's rejection."""
    try:
        async with raw_ws(addr, headers):
            pass
    except BaseException as exc:  # trio-websocket raises it from its reader task too
        found = [e for e in leaves(exc) if isinstance(e, trio_websocket.ConnectionRejected)]
        if not found:
            raise
        return found[0]
    pytest.fail("the handshake was accepted")


async def closed_by_agent(ws: trio_websocket.WebSocketConnection) -> trio_websocket.CloseReason:
    """Wait until the agent closes ``ws`` (it must send nothing else first)."""
    with pytest.raises(trio_websocket.ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason is not None
    return info.value.reason


async def test_good_client_control() -> None:
    """A good client gets HostInfo, and a fresh agent has no bad_client event."""
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


async def test_silent_client_is_dropped_and_others_are_served() -> None:
    """A client that connects and never speaks is dropped after the handshake timeout, while
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
async def test_refused_handshakes(headers: list[tuple[bytes, bytes]], status: int) -> None:
    """A wrong protocol version is refused with 426, a wrong or missing token with 401; the
    agent still answers a good client."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            rejected = await rejection(addr, headers)
            assert rejected.status_code == status
            await good_info(addr)


async def test_wrong_token_through_net_connect_is_auth_rejected() -> None:
    """net.connect with a wrong token raises AuthRejectedError; the agent keeps serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with trio.open_nursery() as nursery:
                with pytest.raises(AuthRejectedError):
                    await nursery.start(
                        functools.partial(
                            net.connect, addr, token="nope", max_size=1 << 20, timeout=5.0
                        )
                    )
            await good_info(addr)


async def test_oversized_frame_closes_the_connection_with_1009() -> None:
    """A message over the agent's max_message_size closes that connection with 1009 and is
    recorded as a bad_client event; the agent keeps serving."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with raw_ws(addr) as ws:
                await ws.send_message(b"\x00" * (MAX_SIZE * 4))
                reason = await closed_by_agent(ws)
                assert reason.code == 1009
            info = await good_info(addr)
            assert any("too big" in d for d in bad_client_events(info))


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (b"\xc1\xc1 not msgpack", "undecodable frame"),
        (b"", "undecodable frame"),
        (msgpack.packb([0, 1, "NoSuchMessage", {}]), "unknown message type"),
        (msgpack.packb([0, 1, "GetInfo"]), "4-element"),
        (msgpack.packb([9, 1, "GetInfo", {}]), "envelope kind"),
        (msgpack.packb([0, -5, "GetInfo", {}]), "correlation id"),
        (msgpack.packb([0, 1, "SpawnProcs", {"proc_mesh_id": 3}]), "bad SpawnProcs body"),
        ("a text frame", "text frame"),
    ],
    ids=["not-msgpack", "empty", "unknown-type", "short", "kind", "corr", "bad-body", "text"],
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


async def test_unhandled_message_type_is_answered_with_an_error() -> None:
    """A registered message the agent does not handle gets an ERROR reply and the connection
    stays usable; a stray reply for an unknown request is ignored."""
    with trio.fail_after(LIMIT):
        async with running_agent() as addr:
            async with raw_ws(addr) as ws:
                await ws.send_message(encode(Envelope(Kind.REQUEST, 1, Ack())))
                env = decode(await ws.get_message())
                assert env.kind is Kind.ERROR
                assert env.corr == 1
                assert isinstance(env.body, WireError)
                assert env.body.kind == "RemoteError"
                assert "does not handle Ack" in env.body.message
                await ws.send_message(encode(Envelope(Kind.REPLY, 999, Ack())))
                await ws.send_message(encode(Envelope(Kind.REQUEST, 2, GetInfo())))
                env = decode(await ws.get_message())
                assert env.kind is Kind.REPLY
                assert env.corr == 2
                assert isinstance(env.body, HostInfo)
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
            assert len(bad_client_events(info)) == 3
