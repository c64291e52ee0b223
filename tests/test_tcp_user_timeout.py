"""TR-6: TCP connections give up data the peer has not acknowledged within
``tcp_user_timeout`` (Linux ``TCP_USER_TIMEOUT``), on both ends. The partition itself is shown
in tests/test_netns.py (a host whose link is down fails its requests within the bound)."""

from __future__ import annotations

import socket

import pytest
import trio

from meshtrio import ChannelAddr, config
from meshtrio._transport.websocket import TCP, _give_up_unacked

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux only"
)


async def test_tr6_connections_carry_the_configured_bound() -> None:
    """Client and accepted sockets carry tcp_user_timeout in milliseconds; a unix socket is
    left alone (no error)."""
    with trio.fail_after(10), config.configured(tcp_user_timeout=2.5):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        opened = await TCP.sockets.open(ChannelAddr.tcp("127.0.0.1", port))  # the client's
        async with listeners[0], opened as client:
            server = await listeners[0].accept()
            async with server:
                _give_up_unacked(server)  # what the accept loop does with each connection
                for stream in (client, server):
                    got = stream.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
                    assert got == 2500
        a, b = trio.socket.socketpair()
        with a, b:
            _give_up_unacked(trio.SocketStream(a))  # AF_UNIX: nothing to set, no error


async def test_tr6_a_bound_beyond_the_kernels_range_is_capped_not_a_crash() -> None:
    """Any duration the key accepts (up to a year) is usable: one beyond what the kernel's
    millisecond field holds (about 24.8 days) is capped to its largest value, instead of
    ``setsockopt`` raising a TypeError out of the client's connect and the server's accept
    loop."""
    with trio.fail_after(10), config.configured(tcp_user_timeout=30 * 86400):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        opened = await TCP.sockets.open(ChannelAddr.tcp("127.0.0.1", port))
        async with listeners[0], opened as client:
            server = await listeners[0].accept()
            async with server:
                _give_up_unacked(server)
                for stream in (client, server):
                    got = stream.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
                    assert got == 2**31 - 1
