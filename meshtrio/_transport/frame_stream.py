"""The byte stream under every WebSocket connection: a socket whose writes are never torn.

:class:`FrameStream` wraps a connected :class:`trio.SocketStream` (TCP or Unix) and is what
trio-websocket reads and writes. It differs from the stream it wraps in two ways:

* SK-1 (whole writes): a :meth:`FrameStream.send_all` that has started writing finishes, even
  if its caller is cancelled meanwhile (the cancellation is delivered once the data is out).
  A write torn halfway would leave a partial WebSocket frame that corrupts every later frame
  on the connection. Waiting for room to start a write, and then finishing it, are each
  bounded by ``send_timeout``; a peer that does not take the data within that (it stopped
  reading, or reads too slowly) gets its connection closed (:class:`trio.BrokenResourceError`).
  A write made with ``committed=True`` counts as started from the outset: it is written whole
  even if cancelled before its first byte (TLS records cannot be taken back once made, TLS-4).
* SK-2 (cheap when nothing blocks): data that fits in the socket's buffer is written with one
  non-blocking system call, with no cancel scope and without yielding to the scheduler, so
  that the usual small request or reply costs as little as possible. Reads likewise try the
  socket once before waiting. Not promised: that :meth:`FrameStream.send_all` is a
  checkpoint when the data fit at once; its one caller, trio-websocket's send, takes its
  lock first, which is one (so every message sent still yields once, not twice).

It also sets :attr:`FrameStream.gone` once the stream reached end of file, broke (a reset) or
was closed, so that nobody waits out a timeout for a peer that is gone:

* SK-3 (a reset is a hang-up): a connection reset by the peer sets ``gone`` at once, as end of
  file does, both while reading and while writing (a server that resets a client mid-handshake
  fails the client's connect at once, not after its connect timeout).

Errors are trio's: :class:`trio.BrokenResourceError` for a broken connection,
:class:`trio.ClosedResourceError` for a closed stream, :class:`trio.BusyResourceError` for two
concurrent writes (trio-websocket serialises its own).
"""

from __future__ import annotations

import errno
import os
from typing import NoReturn

import trio

__all__ = ["DEFAULT_RECEIVE_SIZE", "FrameStream"]

DEFAULT_RECEIVE_SIZE = 65536
"""Bytes read at most per ``receive_some`` when the caller does not say."""

_BROKEN = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ETIMEDOUT, errno.ECONNABORTED)


class FrameStream(trio.abc.Stream):
    """A socket stream whose writes complete once begun (SK-1), cheap on the fast path (SK-2).

    Args:
        inner: a connected socket stream; the FrameStream owns it from now on.
        send_timeout: seconds a started write may take to finish before the connection is
            closed.
    """

    def __init__(self, inner: trio.SocketStream, *, send_timeout: float = 30.0) -> None:
        self.inner = inner
        self.send_timeout = send_timeout
        self.gone = trio.Event()
        self.gave_up: str | None = None
        """Why this stream closed itself (a peer that stopped reading), or None."""
        self.peer_closed = False
        """True once the peer hung up: end of file, or the connection broke (SK-3)."""
        self.received = 0
        """Bytes read so far."""
        self.broke: str | None = None
        """How the connection broke (``connection reset``, ...), or None."""
        self._sock = inner.socket
        self._sending = False

    def _fd(self) -> int:
        fd = self._sock.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the stream is closed")
        return fd

    async def send_all(
        self, data: bytes | bytearray | memoryview, *, committed: bool = False
    ) -> None:
        """Write all of ``data``; once the first byte is out, the rest follows (SK-1).

        Bounded: waiting for room to start writing, and finishing a started write, each take
        at most ``send_timeout``; then the stream is closed and BrokenResourceError raised.
        ``committed``: write it whole even if cancelled before the first byte is out (TLS
        records, which cannot be taken back once made: TLS-4).
        """
        if self._sending:
            raise trio.BusyResourceError("another task is writing to this stream")
        if not committed:
            await trio.lowlevel.checkpoint_if_cancelled()  # cancelled here: nothing written
        self._sending = True
        try:
            view = memoryview(data).cast("B")  # lengths and slices in bytes, whatever the items
            if not view.nbytes:
                self._fd()  # writing nothing to a closed stream is still an error
            sent = (self._write(view) or 0) if view.nbytes else 0
            if sent < view.nbytes:
                await self._finish(view[sent:], started=committed or sent > 0)
            # else: no yield here (SK-2): the caller's lock acquisition was the checkpoint.
        finally:
            self._sending = False

    async def _finish(self, rest: memoryview, *, started: bool) -> None:
        """Write ``rest``; shielded (bounded) once part of the message is out."""
        if not started:
            # Nothing written yet: waiting for room may be cancelled like any other wait (no
            # frame is torn), and is bounded too.
            with trio.move_on_after(self.send_timeout) as waiting:
                await trio.lowlevel.wait_writable(self._sock)
            if waiting.cancelled_caught:
                await self._give_up()
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self.send_timeout
            while rest.nbytes:
                sent = self._write(rest)
                if sent is None:
                    await trio.lowlevel.wait_writable(self._sock)
                else:
                    rest = rest[sent:]
        if scope.cancelled_caught:
            await self._give_up()
        await trio.lowlevel.checkpoint()  # the data is out: a cancellation may come now

    async def _give_up(self) -> NoReturn:
        self.gave_up = f"the peer did not read for {self.send_timeout:g}s; connection closed"
        await trio.aclose_forcefully(self)
        raise trio.BrokenResourceError(self.gave_up)

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until the socket has room (see :meth:`trio.abc.SendStream`)."""
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Read what is there (at most ``max_bytes``); ``b""`` at end of file."""
        size = DEFAULT_RECEIVE_SIZE if max_bytes is None else max_bytes
        if size < 1:
            raise ValueError("max_bytes must be >= 1")
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while (data := self._read(size)) is None:
            await trio.lowlevel.wait_readable(self._sock)
            waited = True
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        if data:
            self.received += len(data)
        else:
            self.peer_closed = True
            self.gone.set()
        return data

    # The system calls return None for "would block" (rather than awaiting in an ``except``
    # block, which would keep the exception and its traceback alive while the task waits).
    def _write(self, data: memoryview) -> int | None:
        try:
            return os.write(self._fd(), data)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise self._error(exc) from None

    def _read(self, size: int) -> bytes | None:
        try:
            return os.read(self._fd(), size)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> trio.BrokenResourceError | trio.ClosedResourceError:
        if exc.errno == errno.EBADF:
            return trio.ClosedResourceError("the stream is closed")
        self.peer_closed = True  # SK-3: whoever waits on ``gone`` learns of it now
        self.broke = (exc.strerror or str(exc)).lower()
        self.gone.set()
        if exc.errno in _BROKEN:
            return trio.BrokenResourceError(f"connection broke: {exc.strerror}")
        return trio.BrokenResourceError(f"socket error: {exc}")

    async def aclose(self) -> None:
        """Close the socket (wakes any task waiting on it)."""
        self.gone.set()
        await self.inner.aclose()
