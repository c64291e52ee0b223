"""Tests for meshtrio._transport.endpoints (serve/connect) and the handshake, over real loopback
TCP, Unix sockets (abstract and filesystem path) and the in-process ``local:`` transport.

Every test does real I/O, so each is bounded by ``trio.fail_after`` on the real clock.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import secrets
import socket as stdsocket
import stat
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket
from hosts import (
    SchedulerSteps,
    closed_port,
    connect,
    open_raw,
    read_until_eof,
    rejected_handshake,
)

from meshtrio import ChannelAddr
from meshtrio._messages import AskProcToExit
from meshtrio._transport import endpoints as net
from meshtrio._transport import websocket
from meshtrio._transport.handshake import Offer
from meshtrio._transport.message_streams import MessageStream, memory_stream_pair
from meshtrio._transport.rpc import Emit, Peer
from meshtrio._wire import PROTOCOL_VERSION
from meshtrio.errors import (
    AuthRejectedError,
    ConnectionLostError,
    HostUnreachableError,
    InputError,
    ProtocolError,
    RequestTimeoutError,
    TransportError,
)

TOKEN = "the-right-token"
LIMIT = 10.0
"""Real-time bound of every test, in seconds."""

ALL_KINDS = ["tcp", "unix-abstract", "unix-path", "local"]
WS_KINDS = ["tcp", "unix-abstract", "unix-path"]


def listen_addr(kind: str, tmp_path: Path) -> ChannelAddr:
    """An address of the given kind to listen on ("pick one" where the transport allows)."""
    if kind == "tcp":
        return ChannelAddr.parse("tcp:127.0.0.1:0")
    if kind == "unix-abstract":
        return ChannelAddr.parse("unix:")
    if kind == "unix-path":
        return ChannelAddr.unix(str(tmp_path / "agent.sock"))
    return ChannelAddr.local(0)


async def echo(peer: Peer, msg: Any, emit: Emit) -> Any:
    """Reply to AskProcToExit(reason) with AskProcToExit('re: ' + reason)."""
    return AskProcToExit(f"re: {msg.reason}")


class Server:
    """A running net.serve whose connections run an echo Peer; remembers those peers."""

    def __init__(self) -> None:
        self.addr = ChannelAddr.local(0)
        self.peers: list[Peer] = []
        self.connected = trio.Event()

    async def on_connection(self, stream: MessageStream) -> None:
        """Serve one accepted connection with the echo handler."""
        peer = Peer(stream, echo)
        self.peers.append(peer)
        self.connected.set()
        await peer.run()


@asynccontextmanager
async def serving(
    addr: ChannelAddr, *, max_size: int = 1 << 20, handshake_timeout: float = 5.0
) -> AsyncIterator[Server]:
    """Serve ``addr`` with TOKEN for the duration of the block."""
    server = Server()
    async with trio.open_nursery() as nursery:
        server.addr = await nursery.start(
            functools.partial(
                net.serve,
                addr,
                server.on_connection,
                token=TOKEN,
                max_size=max_size,
                handshake_timeout=handshake_timeout,
            )
        )
        yield server
        nursery.cancel_scope.cancel()


async def assert_serves(addr: ChannelAddr) -> None:
    """A good client connects to ``addr`` and gets an answer."""
    async with trio.open_nursery() as nursery:
        peer = await connect(nursery, addr, token=TOKEN)
        assert await peer.call(AskProcToExit("ping"), timeout=5) == AskProcToExit("re: ping")
        nursery.cancel_scope.cancel()


# -- the basics -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_connect_and_call(kind: str, tmp_path: Path) -> None:
    """A client with the right token connects, calls and gets its reply; the bound address is
    concrete (never "pick one")."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path)) as server:
            assert not server.addr.is_any
            assert ChannelAddr.parse(str(server.addr)) == server.addr
            async with trio.open_nursery() as nursery:
                peer = await connect(nursery, server.addr, token=TOKEN)
                assert peer.address == str(server.addr)
                assert await peer.call(AskProcToExit("a"), timeout=5) == AskProcToExit("re: a")
                nursery.cancel_scope.cancel()


# -- TR-1: authentication and protocol version ----------------------------------------------
@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("token", ["wrong-token", TOKEN + "x", TOKEN[:-1]])
async def test_tr1_wrong_or_missing_token_is_rejected(
    kind: str, token: str, tmp_path: Path
) -> None:
    """TR-1: a wrong token raises AuthRejectedError, reaches no callback, and the server
    keeps serving a good client."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path)) as server:
            async with trio.open_nursery() as nursery:
                with pytest.raises(AuthRejectedError) as info:
                    await connect(nursery, server.addr, token=token)
            assert info.value.address == str(server.addr)
            assert "token" in str(info.value)
            assert server.peers == []
            await assert_serves(server.addr)
            assert len(server.peers) == 1


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("token", ["", "has space", "tab\there", "é-not-ascii"])
async def test_tr1_unsendable_token_is_an_input_error_before_connecting(
    kind: str, token: str, tmp_path: Path
) -> None:
    """TR-1: an empty or unsendable token is an InputError up front (never sent, never
    echoed in the message), and the server keeps serving."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path)) as server:
            async with trio.open_nursery() as nursery:
                with pytest.raises(InputError) as info:
                    await connect(nursery, server.addr, token=token)
            assert token == "" or token not in str(info.value)
            assert server.peers == []
            await assert_serves(server.addr)


@pytest.mark.parametrize("kind", WS_KINDS)
async def test_tr1_missing_authorization_header_is_refused_401(kind: str, tmp_path: Path) -> None:
    """TR-1: a handshake without an Authorization header is refused with 401."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path)) as server:
            for headers in (
                [(b"meshtrio-protocol", str(PROTOCOL_VERSION).encode())],
                [
                    (b"meshtrio-protocol", str(PROTOCOL_VERSION).encode()),
                    (b"authorization", b"Basic " + TOKEN.encode()),
                ],
                [],
            ):
                rejected = await rejected_handshake(server.addr, headers)
                assert rejected.status_code == 401
                assert server.peers == []
            await assert_serves(server.addr)


@pytest.mark.parametrize("kind", WS_KINDS)
@pytest.mark.parametrize("version", [PROTOCOL_VERSION + 1, 0, -1, "abc", ""])
async def test_tr1_wrong_protocol_version_is_refused_426(
    kind: str, version: object, tmp_path: Path
) -> None:
    """TR-1: a handshake with the right token but another protocol version is refused with 426
    and a reason naming the versions; the server keeps serving."""
    headers = [
        (b"meshtrio-protocol", str(version).encode()),
        (b"authorization", b"Bearer " + TOKEN.encode()),
    ]
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path)) as server:
            rejected = await rejected_handshake(server.addr, headers)
            assert rejected.status_code == 426
            assert b"protocol version" in (rejected.body or b"")
            assert server.peers == []
            await assert_serves(server.addr)


@pytest.mark.parametrize("kind", WS_KINDS)
async def test_tr1_right_offer_by_hand_is_accepted(kind: str, tmp_path: Path) -> None:
    """TR-1 control: the hand-driven handshake used above is accepted with the right headers."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path)) as server, trio.open_nursery() as nursery:
            stream = await open_raw(server.addr)
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                "localhost",
                "/meshtrio",
                extra_headers=Offer(PROTOCOL_VERSION, TOKEN).headers(),
            )
            await server.connected.wait()
            assert len(server.peers) == 1, f"TR-1: {len(server.peers)} connections accepted"
            assert not ws.closed, "TR-1: the server closed a correct handshake"
            await ws.aclose()
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_tr1_client_of_another_version_gets_protocol_error(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client speaking another protocol version gets ProtocolError (426), not a generic
    error; the server keeps serving."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path)) as server:
            monkeypatch.setattr(net, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)
            async with trio.open_nursery() as nursery:
                with pytest.raises(ProtocolError, match="426") as info:
                    await connect(nursery, server.addr, token=TOKEN)
            assert not isinstance(info.value, AuthRejectedError)
            monkeypatch.undo()
            assert server.peers == []
            await assert_serves(server.addr)


# -- TR-2: bounded sizes and handshakes -----------------------------------------------------
@pytest.mark.parametrize("kind", WS_KINDS)
async def test_tr2_oversized_message_closes_that_connection(kind: str, tmp_path: Path) -> None:
    """TR-2: a message over the server's max_size closes that connection (the sender sees
    ProtocolError or ConnectionLostError, the server side ProtocolError); the server keeps
    serving."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path), max_size=4096) as server:
            async with trio.open_nursery() as nursery:
                peer = await connect(nursery, server.addr, token=TOKEN, max_size=1 << 20)
                assert await peer.call(AskProcToExit("small"), timeout=5) == AskProcToExit(
                    "re: small"
                )
                with pytest.raises((ProtocolError, ConnectionLostError)):
                    await peer.call(AskProcToExit("x" * 10_000), timeout=5)
                await peer.closed.wait()
                await server.peers[0].closed.wait()
                assert isinstance(server.peers[0].close_reason, ProtocolError)
                assert "too big" in str(server.peers[0].close_reason)
                nursery.cancel_scope.cancel()
            await assert_serves(server.addr)


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_tr2_sender_refuses_oversized_message_and_keeps_connection(
    kind: str, tmp_path: Path
) -> None:
    """TR-2: a message over the sender's own max_size raises ProtocolError before anything is
    sent; the connection stays usable."""
    with trio.fail_after(LIMIT):
        async with (
            serving(listen_addr(kind, tmp_path), max_size=1 << 20) as server,
            trio.open_nursery() as nursery,
        ):
            peer = await connect(nursery, server.addr, token=TOKEN, max_size=4096)
            with pytest.raises(ProtocolError, match="exceeds max_message_size"):
                await peer.call(AskProcToExit("x" * 10_000), timeout=5)
            assert peer.close_reason is None
            assert await peer.call(AskProcToExit("ok"), timeout=5) == AskProcToExit("re: ok")
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("kind", WS_KINDS)
@pytest.mark.parametrize("said", [b"", b"GET /meshtrio HTTP/1.1\r\nHost: x\r\n"])
async def test_tr2_silent_client_is_dropped_after_the_handshake_timeout(
    kind: str, said: bytes, tmp_path: Path
) -> None:
    """TR-2: a client that connects and says nothing (or half a request) is disconnected after
    handshake_timeout; the server keeps serving meanwhile and after."""
    with trio.fail_after(LIMIT):
        async with serving(listen_addr(kind, tmp_path), handshake_timeout=0.3) as server:
            t0 = trio.current_time()  # the server cannot have accepted it before this
            silent = await open_raw(server.addr)
            await silent.send_all(said)
            await assert_serves(server.addr)  # not blocked by the silent client
            assert await read_until_eof(silent) == b""
            assert trio.current_time() - t0 >= 0.25
            await silent.aclose()
            await assert_serves(server.addr)
            assert len(server.peers) == 2


# -- connecting to nothing ------------------------------------------------------------------
@pytest.mark.parametrize(
    "addr",
    [
        "tcp-closed",
        "unix:/nonexistent/dir/meshtrio.sock",
        "unix:@meshtrio-test-nobody-listens",
        "local:987654",
    ],
)
async def test_tr3_connect_to_nothing_fails_fast_with_host_unreachable(addr: str) -> None:
    """TR-3: connecting to a closed port, a missing socket or an unbound local index raises
    HostUnreachableError at once, not after the timeout."""
    target = ChannelAddr.parse(closed_port() if addr == "tcp-closed" else addr)
    with trio.fail_after(LIMIT):
        t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            with pytest.raises(HostUnreachableError) as info:
                await connect(nursery, target, token=TOKEN, timeout=5.0)
        assert trio.current_time() - t0 < 1.0
        assert info.value.address == str(target)


async def test_tr3_translated_errors_keep_the_library_error_as_their_cause(
    tmp_path: Path,
) -> None:
    """TR-3: a translated error keeps what the OS said as its ``__cause__`` (as httpx does),
    for connecting and for listening."""
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            with pytest.raises(HostUnreachableError) as info:
                await connect(nursery, ChannelAddr.parse(closed_port()), token=TOKEN)
        assert isinstance(info.value.__cause__, OSError)
        async with serving(ChannelAddr.parse("tcp:127.0.0.1:0")) as first:
            with pytest.raises(TransportError, match="cannot listen") as bound:
                await net.serve(first.addr, Server().on_connection, token=TOKEN, max_size=1 << 20)
        assert isinstance(bound.value.__cause__, OSError)


def test_each_address_kind_has_one_transport() -> None:
    """The transport is chosen in one place, by the address kind: WebSocket for tcp and
    unix, memory channels for local."""
    assert net.transport_for("tcp") is websocket.TCP
    assert net.transport_for("unix") is websocket.UNIX
    assert net.transport_for("local") is net.MEMORY
    assert net.transport_for("udp") is None


@pytest.mark.parametrize("kind", ["tcp", "unix-abstract"])
async def test_tr2_connect_to_a_black_hole_times_out(kind: str) -> None:
    """TR-2: a listener that accepts and never answers makes connect raise RequestTimeoutError after
    the connect timeout."""

    async def never_answer(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            if kind == "tcp":
                listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
                target = ChannelAddr.tcp("127.0.0.1", listeners[0].socket.getsockname()[1])
            else:
                name = f"meshtrio-test-{secrets.token_hex(8)}"
                sock = trio.socket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
                await sock.bind("\0" + name)
                sock.listen()
                listeners = [trio.SocketListener(sock)]
                target = ChannelAddr.unix_abstract(name)
            await nursery.start(trio.serve_listeners, never_answer, listeners)
            t0 = trio.current_time()
            with pytest.raises(RequestTimeoutError) as info:
                await connect(nursery, target, token=TOKEN, timeout=0.3)
            elapsed = trio.current_time() - t0
            assert 0.3 <= elapsed < 2.0
            assert info.value.timeout == 0.3
            assert info.value.address == str(target)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("when", ["at once", "after reading the request"])
async def test_tr3_server_hanging_up_during_handshake_fails_fast(when: str) -> None:
    """TR-3: a listener that accepts and hangs up before answering the handshake makes connect
    raise ConnectionLostError at once (not after the connect timeout: trio-websocket itself
    would wait), naming the address; no raw trio or OS error escapes."""

    async def hang_up(stream: trio.SocketStream) -> None:
        if when != "at once":
            await stream.receive_some()
        await stream.aclose()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            target = ChannelAddr.tcp("127.0.0.1", listeners[0].socket.getsockname()[1])
            await nursery.start(trio.serve_listeners, hang_up, listeners)
            t0 = trio.current_time()
            with pytest.raises(ConnectionLostError, match="hung up during the handshake") as info:
                await connect(nursery, target, token=TOKEN, timeout=5.0)
            assert trio.current_time() - t0 < 2.0, "connect waited for its timeout"
            assert info.value.address == str(target)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("when", ["at once", "after reading the request"])
async def test_sk3_a_reset_during_the_handshake_fails_connect_at_once(when: str) -> None:
    """SK-3 / TR-4 (issue 8, defect 4): a server that resets the connection (SO_LINGER 0)
    during the handshake makes connect fail at once with ConnectionLostError, as a clean
    close does; it used to wait out the whole connect timeout (5 s)."""

    async def reset(stream: trio.SocketStream) -> None:
        if when != "at once":
            await stream.receive_some()
        stream.socket.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()  # closing with linger 0 sends RST

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            target = ChannelAddr.tcp("127.0.0.1", listeners[0].socket.getsockname()[1])
            await nursery.start(trio.serve_listeners, reset, listeners)
            t0 = trio.current_time()
            with pytest.raises(ConnectionLostError, match="hung up during the handshake") as info:
                await connect(nursery, target, token=TOKEN, timeout=5.0)
            assert trio.current_time() - t0 < 1.0, "connect waited for its timeout"
            assert info.value.address == str(target)
            nursery.cancel_scope.cancel()


# -- binding --------------------------------------------------------------------------------
async def test_unix_filesystem_socket_is_unlinked_after_the_server_stops(tmp_path: Path) -> None:
    """A unix filesystem socket exists while serving and is removed once the server stops."""
    path = tmp_path / "agent.sock"
    with trio.fail_after(LIMIT):
        async with serving(ChannelAddr.unix(str(path))) as server:
            assert server.addr == ChannelAddr.unix(str(path))
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            await assert_serves(server.addr)
        assert not path.exists()


@pytest.mark.parametrize("kind", ["tcp", "unix-abstract-named", "unix-path", "local"])
async def test_tr3_address_in_use_is_a_transport_error(kind: str, tmp_path: Path) -> None:
    """TR-3: listening on an address another server holds raises TransportError naming the address;
    the first server is unaffected (its socket file stays)."""
    if kind == "unix-abstract-named":
        first_addr = ChannelAddr.unix_abstract(f"meshtrio-test-{secrets.token_hex(8)}")
    elif kind == "local":
        first_addr = ChannelAddr.local(900_000 + secrets.randbelow(10_000))
    else:
        first_addr = listen_addr(kind, tmp_path)
    with trio.fail_after(LIMIT):
        async with serving(first_addr) as first:
            with pytest.raises(TransportError, match=r"(?i)in use") as info:
                await net.serve(first.addr, Server().on_connection, token=TOKEN, max_size=1 << 20)
            assert type(info.value) is TransportError
            assert str(first.addr) in str(info.value)
            if kind == "unix-path":
                assert stat.S_ISSOCK(os.stat(first.addr.path).st_mode)
            await assert_serves(first.addr)


async def test_memory_stream_aclose_closes_both_directions_even_when_cancelled() -> None:
    """Closing a local: stream end from a cancelled scope (as Peer.run does when cancelled)
    still closes its receiving side, so the other end's sends fail instead of piling up."""
    client, server = memory_stream_pair("local:client", "local:1", 1024)
    with trio.CancelScope() as scope:
        scope.cancel()
        await client.aclose(graceful=False)
    with pytest.raises(ConnectionLostError):
        await server.send(b"after close")
    with pytest.raises(ConnectionLostError):
        await server.receive()


@pytest.mark.parametrize("kind", WS_KINDS)
async def test_cancelled_large_send_does_not_corrupt_the_connection(
    kind: str, tmp_path: Path
) -> None:
    """A caller cancelled while a large message is being written leaves the connection
    usable: the frame is written whole (a half-written frame would garble every later one),
    and later calls on the same peer still work."""
    big = AskProcToExit("x" * (12 << 20))  # far larger than a socket buffer: written in many rounds
    with trio.fail_after(LIMIT):
        async with (
            serving(listen_addr(kind, tmp_path), max_size=16 << 20) as server,
            trio.open_nursery() as nursery,
        ):
            peer = await connect(nursery, server.addr, token=TOKEN, max_size=16 << 20)
            for delay in (0.005, 0.015, 0.02, 0.025, 0.03, 0.04, 0.06):
                with trio.move_on_after(delay):
                    await peer.call(big, timeout=5)
                reply = await peer.call(AskProcToExit("after"), timeout=5)
                assert reply == AskProcToExit("re: after")
            assert peer.close_reason is None
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("kind", WS_KINDS)
async def test_rpc3_calls_to_a_peer_that_stopped_reading_stay_bounded(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RPC-3/SK-1: once a server stops reading, the client's sends fill the socket buffer;
    a send that cannot even start is bounded by the send timeout, after which the connection
    is closed and the call fails with ConnectionLostError saying why (no call hangs)."""
    monkeypatch.setattr(websocket, "SEND_TIMEOUT", 0.3)
    accepted = trio.Event()

    async def never_read(stream: MessageStream) -> None:
        accepted.set()
        await trio.sleep_forever()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            addr = await nursery.start(
                functools.partial(
                    net.serve,
                    listen_addr(kind, tmp_path),
                    never_read,
                    token=TOKEN,
                    max_size=1 << 24,
                )
            )
            peer = await connect(nursery, addr, token=TOKEN, max_size=1 << 24)
            await accepted.wait()
            with pytest.raises(ConnectionLostError, match=r"did not read for 0\.3s") as info:
                for _ in range(1_000):  # each call times out until the buffers are full
                    with contextlib.suppress(RequestTimeoutError):
                        await peer.call(AskProcToExit("x" * 400_000), timeout=0.05)
            assert info.value.address == str(addr)
            nursery.cancel_scope.cancel()


async def test_tr2_a_full_server_evicts_the_oldest_idle_handshake_for_a_waiting_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TR-2: with the pending-handshake limit reached by silent clients, the server stops
    accepting; a client waiting in the backlog makes it evict the oldest silent one (once it
    has been idle for IDLE_EVICT_AFTER), and an honest client is served long before the 30 s
    handshake timeout. The younger silent client keeps its slot."""
    monkeypatch.setattr(websocket, "MAX_PENDING_HANDSHAKES", 2)
    monkeypatch.setattr(websocket, "IDLE_EVICT_AFTER", 0.2)
    with trio.fail_after(LIMIT):
        async with serving(ChannelAddr.parse("tcp:127.0.0.1:0"), handshake_timeout=30) as server:
            t0 = trio.current_time()  # the oldest cannot have been accepted before this
            oldest = await open_raw(server.addr)
            await trio.testing.wait_all_tasks_blocked()
            younger = await open_raw(server.addr)
            await trio.testing.wait_all_tasks_blocked()
            with trio.fail_after(3):  # far less than the 30 s handshake timeout
                await assert_serves(server.addr)
            assert trio.current_time() - t0 >= 0.2, "evicted before it was idle long enough"
            with trio.fail_after(2):
                assert await read_until_eof(oldest) == b""
            with trio.move_on_after(0.3):
                await younger.receive_some(1)
                raise AssertionError("the younger idle client was evicted too")
            for stream in (oldest, younger):
                await stream.aclose()


async def test_tr2_a_full_server_waits_for_a_slot_instead_of_dropping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TR-2: clients that are busy handshaking are never evicted: a further client waits in
    the backlog until a slot frees, then is served (backpressure, not loss)."""
    monkeypatch.setattr(websocket, "MAX_PENDING_HANDSHAKES", 1)
    monkeypatch.setattr(websocket, "IDLE_EVICT_AFTER", 0.05)
    with trio.fail_after(LIMIT):
        async with serving(ChannelAddr.parse("tcp:127.0.0.1:0"), handshake_timeout=30) as server:
            partial = await open_raw(server.addr)
            await partial.send_all(b"GET /meshtrio HTTP/1.1\r\n")  # not idle: it sent bytes
            await trio.testing.wait_all_tasks_blocked()
            async with trio.open_nursery() as nursery:
                served = trio.Event()

                async def honest() -> None:
                    await assert_serves(server.addr)
                    served.set()

                nursery.start_soon(honest)
                with trio.move_on_after(0.3):
                    await served.wait()
                assert not served.is_set(), "the partial handshake was evicted"
                await partial.aclose()  # its slot frees: the waiting client is accepted
                with trio.fail_after(3):
                    await served.wait()


class FakeListener:
    """A listener whose accept() replays a script: exceptions are raised, others returned;
    when the script is out, it waits forever."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.closed = False

    async def accept(self) -> Any:
        await trio.lowlevel.checkpoint()
        if not self.script:
            await trio.sleep_forever()
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    async def aclose(self) -> None:
        self.closed = True

    async def __aenter__(self) -> FakeListener:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def test_accept_loop_retries_when_out_of_file_descriptors(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Running out of file descriptors (EMFILE) is logged and retried after a moment, not
    fatal to the server; the next connection is still handled; cancelling closes the listener.
    Any other accept error ends the loop."""
    handled: list[str] = []
    got = trio.Event()

    async def handle(stream: Any, entry: Any) -> None:
        handled.append(stream)
        got.set()

    listener = FakeListener([OSError(errno.EMFILE, "Too many open files"), "conn-1"])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            websocket._accept_loop,
            listener,  # type: ignore[arg-type]
            nursery,
            handle,
            "tcp:test",
            websocket._Handshakes(256),
        )
        t0 = trio.current_time()
        await got.wait()
        assert handled == ["conn-1"]
        assert trio.current_time() - t0 >= 0.1, "no pause before retrying"
        assert "cannot accept a connection" in caplog.text
        nursery.cancel_scope.cancel()
    assert listener.closed

    bad = FakeListener([OSError(errno.EBADF, "Bad file descriptor")])
    with pytest.raises(OSError, match="Bad file descriptor"):
        await websocket._accept_loop(bad, nursery, handle, "tcp:test", websocket._Handshakes(256))  # type: ignore[arg-type]
    assert bad.closed


async def test_tr5_bad_client_reports_are_rate_limited_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """TR-5: a burst of bad clients is reported REPORT_BURST at once, then REPORT_RATE per
    second; every one left out is counted in the next report, so none goes unrecorded."""
    throttle = websocket._Throttle(rate=10.0, burst=3)
    assert [throttle.admit(f"bad {i}") for i in range(5)] == ["bad 0", "bad 1", "bad 2", None, None]
    await trio.sleep(0.1)  # one token back (virtual time)
    assert throttle.admit("bad 5") == "bad 5 (and 2 more not reported)"
    assert throttle.admit("bad 6") is None
    await trio.sleep(10)  # refills to the burst, never beyond
    assert [throttle.admit("x") for _ in range(4)] == [
        "x (and 1 more not reported)",
        "x",
        "x",
        None,
    ]


async def test_tr5_a_flood_of_bad_clients_does_not_flood_the_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TR-5: 30 garbage clients in a row against a server with a burst of 5 give at most a few
    warnings, not 30; a good client is still served."""
    monkeypatch.setattr(websocket, "REPORT_BURST", 5)
    monkeypatch.setattr(websocket, "REPORT_RATE", 0.001)
    refused: list[str] = []
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            addr = await nursery.start(
                functools.partial(
                    net.serve,
                    ChannelAddr.parse("tcp:127.0.0.1:0"),
                    Server().on_connection,
                    token=TOKEN,
                    max_size=1 << 20,
                    on_refused=refused.append,
                )
            )
            for _ in range(30):
                stream = await open_raw(addr)
                await stream.send_all(b"\xff" * 64 + b"\r\n\r\n")
                await read_until_eof(stream)
                await stream.aclose()
            await assert_serves(addr)
            nursery.cancel_scope.cancel()
    assert len(refused) == 5, refused
    assert sum("client" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 5


@pytest.mark.parametrize(
    ("when", "attempts"),
    [
        ("at once", websocket.HANDSHAKE_ATTEMPTS),
        ("after reading", websocket.HANDSHAKE_ATTEMPTS),
        ("answered", 1),
    ],
)
async def test_tr2_a_client_evicted_before_it_was_answered_connects_again(
    when: str, attempts: int
) -> None:
    """TR-2: a server that hangs up without answering a byte (a full server evicting a client
    whose process was too busy to send its request in time looks just like that) is tried
    HANDSHAKE_ATTEMPTS times within the timeout; one that answered something is not."""
    accepted = 0

    async def hang_up(stream: trio.SocketStream) -> None:
        nonlocal accepted
        accepted += 1
        if when != "at once":
            await stream.receive_some()
        if when == "answered":
            await stream.send_all(b"HTTP/1.1 503 Busy\r\n")
        await stream.aclose()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            target = ChannelAddr.tcp("127.0.0.1", listeners[0].socket.getsockname()[1])
            await nursery.start(trio.serve_listeners, hang_up, listeners)
            with pytest.raises(ConnectionLostError, match="hung up during the handshake"):
                await connect(nursery, target, token=TOKEN, timeout=5.0)
            assert accepted == attempts
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("kind", WS_KINDS)
async def test_ms1_pushed_messages_keep_their_order_with_a_backlog(
    kind: str, tmp_path: Path
) -> None:
    """MS-1: messages queued before ``deliver_to`` still come out of ``receive()``, first;
    every later one goes to the consumer, in order, after them; the end is ``receive()``'s."""
    n_before, n_after = 6, 40
    sent_before = trio.Event()
    go_on = trio.Event()

    async def on_connection(stream: MessageStream) -> None:
        for i in range(n_before):
            await stream.send(b"%d" % i)
        sent_before.set()
        await go_on.wait()
        for i in range(n_before, n_before + n_after):
            await stream.send(b"%d" % i)
        await stream.aclose()

    got: list[tuple[str, int]] = []

    async def consumer(message: Any) -> None:
        got.append(("pushed", int(message)))
        await trio.lowlevel.checkpoint()  # a consumer may wait; order must hold anyway

    transport = websocket.TCP if kind == "tcp" else websocket.UNIX
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(
                functools.partial(
                    net.serve,
                    listen_addr(kind, tmp_path),
                    on_connection,
                    token=TOKEN,
                    max_size=1 << 20,
                )
            )
            async with transport.open_stream(
                bound, offer=Offer(PROTOCOL_VERSION, TOKEN), max_size=1 << 20, timeout=5
            ) as stream:
                await sent_before.wait()
                await trio.testing.wait_all_tasks_blocked()  # the backlog is queued
                stream.deliver_to(consumer)  # type: ignore[attr-defined]
                go_on.set()
                with pytest.raises(ConnectionLostError):
                    while True:
                        got.append(("received", int(await stream.receive())))
                        stream.handled()  # type: ignore[attr-defined]
                await stream.aclose()
            nursery.cancel_scope.cancel()
    assert [i for _, i in got] == list(range(n_before + n_after))
    received = [i for how, i in got if how == "received"]
    assert received == list(range(len(received)))
    assert 0 < len(received) < n_before + n_after


@pytest.mark.parametrize("kind", WS_KINDS)
async def test_ms2_a_send_nobody_else_is_writing_goes_out_at_once_and_frames_stay_whole(
    kind: str, tmp_path: Path
) -> None:
    """MS-2: with nobody else writing, a send writes its frame without yielding to the
    scheduler; a cancelled sender writes nothing; many senders at once each get their whole
    message across (frames never interleave)."""
    received: list[bytes] = []
    all_in = trio.Event()
    big = [bytes([i]) * 200_000 for i in range(12)]

    async def on_connection(stream: MessageStream) -> None:
        while len(received) < 2 + len(big):
            received.append(await stream.receive())
        all_in.set()
        await trio.sleep_forever()

    transport = websocket.TCP if kind == "tcp" else websocket.UNIX
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(
                functools.partial(
                    net.serve, listen_addr(kind, tmp_path), on_connection, token=TOKEN,
                    max_size=1 << 20,
                )
            )  # fmt: skip
            async with transport.open_stream(
                bound, offer=Offer(PROTOCOL_VERSION, TOKEN), max_size=1 << 20, timeout=5
            ) as stream:
                steps = SchedulerSteps(trio.lowlevel.current_task())
                trio.lowlevel.add_instrument(steps)
                try:
                    await stream.send(b"first")
                finally:
                    trio.lowlevel.remove_instrument(steps)
                assert steps.count == 0  # written without yielding
                with trio.CancelScope() as cancelled:
                    cancelled.cancel()
                    await stream.send(b"lost")
                assert cancelled.cancelled_caught
                await stream.send(b"second")
                async with trio.open_nursery() as senders:
                    for message in big:
                        senders.start_soon(stream.send, message)
                await all_in.wait()
                await stream.aclose()
            nursery.cancel_scope.cancel()
    assert received[:2] == [b"first", b"second"]
    assert sorted(received[2:]) == big
