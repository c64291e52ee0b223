"""FrameStream (meshtrio._transport.frame_stream): whole writes (SK-1), the cheap path (SK-2),
errors.

Each test runs over a connected pair of Unix sockets; no sleeps: a writer blocked on a full
socket buffer is found with ``wait_all_tasks_blocked``.
"""

from __future__ import annotations

import array
import os
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from hosts import SchedulerSteps

from meshtrio._transport.frame_stream import FrameStream

LIMIT = 10.0
BIG = 8 << 20  # far larger than a socket buffer


@asynccontextmanager
async def pair(send_timeout: float = 30.0) -> AsyncIterator[tuple[FrameStream, trio.SocketStream]]:
    """A FrameStream and the plain socket stream at the other end."""
    a, b = trio.socket.socketpair()
    ours, theirs = (
        FrameStream(trio.SocketStream(a), send_timeout=send_timeout),
        trio.SocketStream(b),
    )
    try:
        yield ours, theirs
    finally:
        await trio.aclose_forcefully(ours)
        await trio.aclose_forcefully(theirs)


async def read_exactly(stream: trio.abc.ReceiveStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.receive_some(n - len(buf))
        assert chunk, f"end of stream after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


def fill_buffer(ours: FrameStream) -> int:
    """Write to ``ours``'s socket until it would block; returns the bytes written."""
    fd = ours.inner.socket.fileno()
    total = 0
    while True:
        try:
            total += os.write(fd, b"f" * 65536)
        except BlockingIOError:
            return total


async def test_sk1_write_started_then_cancelled_is_finished() -> None:
    """SK-1: cancelling a writer whose message is partly out still delivers all of it; the
    cancellation is delivered once the data is out."""
    payload = bytes(range(256)) * (BIG // 256)
    with trio.fail_after(LIMIT):
        async with pair() as (ours, theirs), trio.open_nursery() as nursery:
            scope = trio.CancelScope()
            done = trio.Event()

            async def writer() -> None:
                with scope:
                    await ours.send_all(payload)
                done.set()

            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()  # the buffer is full, part is out
            scope.cancel()
            got = await read_exactly(theirs, len(payload))
            await done.wait()
            assert got == payload, "SK-1: the message arrived torn"
            assert scope.cancelled_caught, "the cancellation was lost"
            await ours.send_all(b"next")
            assert await read_exactly(theirs, 4) == b"next"


async def test_sk1_cancelled_before_writing_sends_nothing() -> None:
    """SK-1: a writer cancelled before its first byte went out writes nothing at all."""
    with trio.fail_after(LIMIT):
        async with pair() as (ours, theirs):
            with trio.CancelScope() as scope:
                scope.cancel()
                await ours.send_all(b"never")
            assert scope.cancelled_caught
            await ours.send_all(b"ok")
            assert await read_exactly(theirs, 2) == b"ok"


async def test_sk1_cancelled_while_waiting_for_room_sends_nothing() -> None:
    """SK-1: a writer that finds the buffer full and is cancelled while waiting for room
    (nothing written yet) gives up without writing anything."""
    with trio.fail_after(LIMIT):
        async with pair() as (ours, theirs), trio.open_nursery() as nursery:
            filled = fill_buffer(ours)
            scope = trio.CancelScope()

            async def writer() -> None:
                with scope:
                    await ours.send_all(b"never")

            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert await read_exactly(theirs, filled) == b"f" * filled
            await ours.send_all(b"ok")
            assert await read_exactly(theirs, 2) == b"ok", "SK-1: the cancelled write leaked"


async def test_sk1_write_to_a_reader_that_never_reads_gives_up_after_send_timeout() -> None:
    """SK-1: a started write is bounded: after ``send_timeout`` the stream is closed and the
    writer gets BrokenResourceError naming the timeout."""
    with trio.fail_after(LIMIT):
        async with pair(send_timeout=0.2) as (ours, _theirs):
            start = trio.current_time()
            with pytest.raises(trio.BrokenResourceError, match=r"did not read for 0\.2s"):
                await ours.send_all(b"x" * BIG)
            assert trio.current_time() - start < 2.0
            assert ours.gone.is_set()
            with pytest.raises(trio.ClosedResourceError):
                await ours.send_all(b"after")


async def test_sk1_waiting_for_room_is_bounded_too() -> None:
    """SK-1: a write that cannot even start (the peer never reads and the buffer is full) is
    bounded by ``send_timeout`` as well: the stream is closed, nothing of it was written."""
    with trio.fail_after(LIMIT):
        async with pair(send_timeout=0.2) as (ours, theirs):
            filled = fill_buffer(ours)
            start = trio.current_time()
            with pytest.raises(trio.BrokenResourceError, match=r"did not read for 0\.2s"):
                await ours.send_all(b"never")
            assert trio.current_time() - start < 2.0
            assert ours.gone.is_set()
            assert await read_exactly(theirs, filled) == b"f" * filled
            assert await theirs.receive_some() == b"", "the refused write leaked"


async def test_send_all_counts_bytes_not_items() -> None:
    """Data whose items are wider than a byte (an int array) arrives byte for byte, also when
    it takes many writes; writing nothing to a closed stream is an error."""
    data = array.array("i", range(200_000))  # 800 kB: several writes
    with trio.fail_after(LIMIT):
        async with pair() as (ours, theirs), trio.open_nursery() as nursery:
            nursery.start_soon(ours.send_all, memoryview(data))
            assert await read_exactly(theirs, len(data) * data.itemsize) == data.tobytes()
        await ours.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await ours.send_all(b"")


async def test_sk2_small_write_does_not_yield_and_ready_read_is_a_checkpoint() -> None:
    """SK-2: a write that fits is one system call and no yield (its caller, trio-websocket's
    send, checkpointed when it took its lock), yet a cancelled writer writes nothing; a read
    of data that is waiting is still a full checkpoint."""
    me = trio.lowlevel.current_task()
    steps = SchedulerSteps(me)
    with trio.fail_after(LIMIT):
        async with pair() as (ours, theirs):
            trio.lowlevel.add_instrument(steps)
            try:
                await ours.send_all(b"ping")
            finally:
                trio.lowlevel.remove_instrument(steps)
            assert steps.count == 0  # the writer was never rescheduled: it did not yield
            assert await read_exactly(theirs, 4) == b"ping"
            with trio.CancelScope() as cancelled:
                cancelled.cancel()
                await ours.send_all(b"lost")
            assert cancelled.cancelled_caught
            await ours.send_all(b"!")
            assert await read_exactly(theirs, 1) == b"!"  # "lost" was never written
            await theirs.send_all(b"pong")
            await trio.testing.wait_all_tasks_blocked()
            with trio.testing.assert_checkpoints():
                assert await ours.receive_some(100) == b"pong"
            await theirs.send_all(b"x")
            await trio.testing.wait_all_tasks_blocked()
            with trio.CancelScope() as scope:
                scope.cancel()
                await ours.receive_some(100)  # data is there, but cancellation comes first
            assert scope.cancelled_caught
            assert await ours.receive_some(100) == b"x"


async def test_receive_respects_max_bytes_and_reports_eof() -> None:
    """receive_some returns at most max_bytes; end of file is b"" and sets ``gone``."""
    with trio.fail_after(LIMIT):
        async with pair() as (ours, theirs):
            await theirs.send_all(b"abcdef")
            assert await read_exactly(ours, 2) == b"ab"
            assert await ours.receive_some(3) == b"cde"
            assert not ours.gone.is_set()
            assert await ours.receive_some() == b"f"
            await theirs.aclose()
            assert await ours.receive_some() == b""
            assert ours.gone.is_set()
            with pytest.raises(ValueError, match="max_bytes"):
                await ours.receive_some(0)


async def test_waiting_receive_is_woken_by_close() -> None:
    """A task waiting to read is woken with ClosedResourceError when the stream is closed."""
    with trio.fail_after(LIMIT):
        async with pair() as (ours, _theirs), trio.open_nursery() as nursery:
            outcome: list[BaseException] = []

            async def reader() -> None:
                try:
                    await ours.receive_some()
                except trio.ClosedResourceError as exc:
                    outcome.append(exc)

            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            await ours.aclose()
        assert len(outcome) == 1
        with pytest.raises(trio.ClosedResourceError):
            await ours.receive_some()


async def test_reset_by_peer_is_broken_resource() -> None:
    """A connection reset by the peer surfaces as BrokenResourceError, for reads and writes."""
    with trio.fail_after(LIMIT):
        a = trio.socket.socket()
        listener = trio.socket.socket()
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        await a.connect(listener.getsockname())
        b, _ = await listener.accept()
        listener.close()
        ours = FrameStream(trio.SocketStream(a))
        b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await trio.SocketStream(b).send_all(b"unread")  # unread data makes close send RST
        await ours.send_all(b"also unread")
        await trio.testing.wait_all_tasks_blocked()
        b.close()
        with pytest.raises(trio.BrokenResourceError):
            for _ in range(100):  # the first read may still return the data before the RST
                await ours.receive_some()
        with pytest.raises((trio.BrokenResourceError, trio.ClosedResourceError)):
            await ours.send_all(b"x")
        await ours.aclose()


async def test_concurrent_writes_are_refused() -> None:
    """Two tasks writing at once is a bug: the second gets BusyResourceError."""
    with trio.fail_after(LIMIT):
        async with pair() as (ours, theirs), trio.open_nursery() as nursery:
            nursery.start_soon(ours.send_all, b"x" * BIG)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await ours.send_all(b"y")
            assert len(await read_exactly(theirs, BIG)) == BIG
