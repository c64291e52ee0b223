"""Forwarding procs' stdout and stderr lines to subscribed clients (issue 11, logs).

The launcher hands every line an OS proc writes to :meth:`LogHub.line` (LG-1, from the
proc's watcher task). A client subscribes with :class:`~meshtrio._messages.StreamProcLogs`
for one proc mesh; its request handler (:meth:`LogHub.serve`) sends what its
:class:`Subscriber` buffered as :class:`~meshtrio._messages.ProcLogBatch` events.

Invariants owned here:

* LG-2 (the host never waits for a client): a line is put in each subscriber's buffer or
  counted as dropped there; nothing on the proc's side ever waits for a subscriber. Each
  subscriber's buffer holds at most :data:`SUBSCRIBER_MAX_LINES` lines; a slow client gets
  drop counts instead of growing the host's memory.
* LG-3 (rate limit): each proc has a token bucket of ``proc_log_rate`` lines per second
  (the value in the config its spawn carried; a burst of one second's worth). A line over it
  is dropped for every subscriber and counted.
* LG-4 (order and drop counts, in place): a subscriber receives each proc's lines in the
  order the proc wrote them on each stream (LG-1), in batches of at most
  :data:`~meshtrio._messages.MAX_LOG_BATCH` lines. Every dropped line is counted exactly
  once, where it was dropped: in the ``dropped`` of the next line of its rank that is sent,
  or, if none follows yet, in a batch's ``dropped`` sent once everything before it was sent
  (a :class:`LineBuffer` keeps the counts in place; the client uses one too).
* LG-5 (the stream ends): a subscription is answered (after a last batch with what is
  buffered) once every proc of its proc mesh on this host is gone (its supervising task
  ended, so its pipes were read to the end), when its client sends
  :class:`~meshtrio._messages.StopProcLogs`, or when its connection ends. Its first event is
  an empty batch, sent once it is registered: every line offered after that is sent or
  counted.

Not promised: lines written before a subscription began are not replayed (only the stderr
tail of failure messages keeps them); procs that run as tasks in the host agent
(``in_process_procs``) have no stdio of their own and produce no lines; lines a grandchild
writes after its proc exited may be lost (LG-1).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable

import attrs
import trio

from meshtrio._errors import InputError
from meshtrio._ids import ProcMeshId
from meshtrio._messages import MAX_LOG_BATCH, ProcLogBatch, ProcLogLine
from meshtrio._transport.rpc import Emit

__all__ = ["SUBSCRIBER_MAX_LINES", "LineBuffer", "LogHub", "Subscriber", "TokenBucket"]

SUBSCRIBER_MAX_LINES = 4096
"""The most lines a host buffers for one subscriber (LG-2); more are dropped and counted."""


MAX_BATCH_CHARS = 256 * 1024
"""A batch stops growing once its lines hold this many characters (well within
``max_message_size``'s default)."""


class TokenBucket:
    """``rate`` tokens per second, at most ``rate`` (one second's worth) stored."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.tokens = rate
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        self.tokens = min(self.rate, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class LineBuffer:
    """A bounded queue of log lines that counts what it cannot hold, in place (LG-2, LG-4).

    A line offered while the queue is full (or ``None``: a line dropped before it got here)
    is counted against its rank; the count travels on that rank's next queued line
    (``ProcLogLine.dropped``), or, once the queue is empty, as a trailing count.
    """

    def __init__(self, max_lines: int = SUBSCRIBER_MAX_LINES) -> None:
        self.max_lines = max_lines
        self.lines: collections.deque[ProcLogLine] = collections.deque()
        self.dropped: dict[int, int] = {}
        self.wake = trio.Event()

    def __len__(self) -> int:
        return len(self.lines)

    def offer(self, line: ProcLogLine | None, rank: int, dropped: int = 1) -> None:
        """Queue ``line``, or count ``dropped`` lines of ``rank`` (when ``line`` is None, or
        the queue is full: then ``line`` is counted too)."""
        if line is not None and len(self.lines) < self.max_lines:
            before = self.dropped.pop(rank, 0)
            if before:
                line = attrs.evolve(line, dropped=line.dropped + before)
            self.lines.append(line)
        else:
            count = dropped if line is None else 1 + line.dropped
            self.dropped[rank] = self.dropped.get(rank, 0) + count
        self.wake.set()

    def take_batch(self) -> ProcLogBatch | None:
        """The next batch to send, or None if nothing is waiting. Trailing counts go only
        with a batch that empties the queue (they come after every queued line)."""
        if not self.lines and not self.dropped:
            return None
        batch: list[ProcLogLine] = []
        chars = 0
        while self.lines and len(batch) < MAX_LOG_BATCH and chars < MAX_BATCH_CHARS:
            line = self.lines.popleft()
            chars += len(line.line)
            batch.append(line)
        dropped: dict[int, int] = {}
        if not self.lines:
            for rank in list(self.dropped)[:MAX_LOG_BATCH]:
                dropped[rank] = self.dropped.pop(rank)
        return ProcLogBatch(batch, dropped)

    async def wait(self) -> None:
        """Wait until something was offered (or :meth:`poke` was called) since the last wait."""
        await self.wake.wait()
        self.wake = trio.Event()

    def poke(self) -> None:
        """Wake the waiter."""
        self.wake.set()


@attrs.define(eq=False)
class Subscriber:
    """One client's subscription to one proc mesh's lines on this host."""

    proc_mesh_id: ProcMeshId
    stream_id: str
    buffer: LineBuffer
    stopped: bool = False


class LogHub:
    """Every log subscription of one host agent, and each proc's rate limit."""

    def __init__(self) -> None:
        self._subs: dict[ProcMeshId, list[Subscriber]] = {}
        self._by_id: dict[str, Subscriber] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def sink(
        self, proc_mesh_id: ProcMeshId, proc_key: str, rank: int, rate: float
    ) -> Callable[[str, str], None]:
        """The launcher's ``on_line`` for one proc (LG-2, LG-3)."""
        bucket = TokenBucket(rate)
        self._buckets[proc_key] = bucket

        def on_line(stream: str, text: str) -> None:
            subs = self._subs.get(proc_mesh_id)
            if not subs:
                return  # nobody listens: not kept, not replayed
            line = ProcLogLine(rank, stream, text, time.time()) if bucket.take() else None
            for sub in subs:
                sub.buffer.offer(line, rank)

        return on_line

    def forget(self, proc_key: str) -> None:
        """Drop a finished proc's rate limit state."""
        self._buckets.pop(proc_key, None)

    def proc_gone(self, proc_mesh_id: ProcMeshId) -> None:
        """A proc of ``proc_mesh_id`` is gone: its subscribers check whether they are done."""
        for sub in self._subs.get(proc_mesh_id, ()):
            sub.buffer.poke()

    def stop(self, stream_id: str) -> None:
        """End the subscription ``stream_id`` (LG-5); unknown ids are ignored."""
        sub = self._by_id.get(stream_id)
        if sub is not None:
            sub.stopped = True
            sub.buffer.poke()

    async def serve(
        self,
        proc_mesh_id: ProcMeshId,
        stream_id: str,
        all_gone: Callable[[], bool],
        emit: Emit,
        *,
        max_lines: int = SUBSCRIBER_MAX_LINES,
    ) -> None:
        """Send the lines of ``proc_mesh_id``'s procs until LG-5 ends the subscription.

        ``all_gone()`` says whether every proc of the mesh on this host is gone. Emitting
        may wait on a slow client; meanwhile lines are buffered or counted (LG-2).
        """
        if stream_id in self._by_id:
            raise InputError(f"log stream {stream_id!r} is already open")
        sub = Subscriber(proc_mesh_id, stream_id, LineBuffer(max_lines))
        self._subs.setdefault(proc_mesh_id, []).append(sub)
        self._by_id[stream_id] = sub
        try:
            await emit(ProcLogBatch([], {}))  # "subscribed": every later line is sent or counted
            while True:
                batch = sub.buffer.take_batch()
                if batch is not None and not sub.stopped:
                    await emit(batch)
                    continue
                if sub.stopped or all_gone():
                    return
                await sub.buffer.wait()
        finally:
            self._by_id.pop(stream_id, None)
            subs = self._subs.get(proc_mesh_id, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                self._subs.pop(proc_mesh_id, None)

    def subscribers(self) -> Iterable[Subscriber]:
        """Every open subscription (for tests and info)."""
        for subs in self._subs.values():
            yield from subs
