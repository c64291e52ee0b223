"""meshtrio.testing's memory transport: a host agent and a client on ``local:``, no sockets;
``local:`` listeners belong to one ``trio.run``."""

from __future__ import annotations

import functools
import threading

import pytest
import trio

import meshtrio
from meshtrio import ChannelAddr
from meshtrio._transport import endpoints as net
from meshtrio.errors import HostUnreachableError
from meshtrio.testing import MemoryTransport, local_listeners

TOKEN = "the-memory-token"
LIMIT = 10.0
"""Real-time bound of every test, in seconds."""


async def test_a_host_agent_and_a_client_talk_over_local_addresses() -> None:
    """A host agent served on ``local:0`` is listed by ``local_listeners`` and a client
    attaches to it and spawns procs (as tasks): nothing opens a socket."""
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            addr = await nursery.start(
                functools.partial(
                    meshtrio.serve_host_agent,
                    ChannelAddr.local(0),
                    token=TOKEN,
                    in_process_procs=True,
                )
            )
            assert addr.transport == "local"
            assert local_listeners() == [addr]
            assert MemoryTransport().listening() == [addr]
            async with meshtrio.attach([addr], token=TOKEN) as mesh:
                infos = await mesh.info()
                assert [info.address for info in infos.values()] == [str(addr)]
            nursery.cancel_scope.cancel()
        assert local_listeners() == []


def test_local_listeners_belong_to_one_trio_run() -> None:
    """Two ``trio.run`` calls at once (two threads) never see each other's ``local:``
    listeners: each numbers ``local:0`` from 1, neither can reach the other's, and the same
    index can be listened on in both."""
    serving = threading.Event()
    done = threading.Event()
    seen: dict[str, object] = {}

    async def on_connection(stream: object) -> None:
        await trio.sleep_forever()

    async def first() -> None:
        async with trio.open_nursery() as nursery:
            seen["first"] = await nursery.start(
                functools.partial(
                    net.serve,
                    ChannelAddr.local(0),
                    on_connection,
                    token=TOKEN,
                    max_size=1 << 20,
                )
            )
            await nursery.start(
                functools.partial(
                    net.serve,
                    ChannelAddr.local(7),
                    on_connection,
                    token=TOKEN,
                    max_size=1 << 20,
                )
            )
            serving.set()
            await trio.to_thread.run_sync(done.wait)
            nursery.cancel_scope.cancel()

    async def second() -> None:
        assert local_listeners() == []
        async with trio.open_nursery() as nursery:
            with pytest.raises(HostUnreachableError, match="no such local listener"):
                await nursery.start(
                    functools.partial(
                        net.connect,
                        ChannelAddr.local(7),
                        token=TOKEN,
                        max_size=1 << 20,
                        timeout=5.0,
                    )
                )
        async with trio.open_nursery() as nursery:
            seen["second"] = await nursery.start(
                functools.partial(
                    net.serve,
                    ChannelAddr.local(0),
                    on_connection,
                    token=TOKEN,
                    max_size=1 << 20,
                )
            )
            await nursery.start(
                functools.partial(
                    net.serve,
                    ChannelAddr.local(7),
                    on_connection,
                    token=TOKEN,
                    max_size=1 << 20,
                )
            )
            assert local_listeners() == [ChannelAddr.local(1), ChannelAddr.local(7)]
            nursery.cancel_scope.cancel()

    errors: list[BaseException] = []

    def run_first() -> None:
        try:
            trio.run(first)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
            serving.set()

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert serving.wait(LIMIT)
        assert not errors, errors
        trio.run(second)
    finally:
        done.set()
        thread.join(LIMIT)
    assert not errors, errors
    assert seen == {"first": ChannelAddr.local(1), "second": ChannelAddr.local(1)}
