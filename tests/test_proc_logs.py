"""Procs' stdout and stderr lines reach the client (issue 11, logs).

Host agents run as tasks of this process; the procs are real OS processes (their stdio is
what is tested). An actor prints on request, after the test's subscription is up
(``logs(ready=...)``), so no test waits with a sleep. Every test is bounded with
``trio.fail_after`` and wrapped in :func:`meshtrio.testing.no_leaked_processes`.

Invariants shown: LG-1 (lines in order per stream), LG-2 and LG-3 (bounded buffers, rate
limit, drop counts), LG-4, LG-5 (the stream ends with the procs), LG-6 (client merge, bounded)
and LG-7 (the logging bridge), and the stderr tail in failure messages.
"""

from __future__ import annotations

import functools
import logging
import sys
from contextlib import aclosing

import pytest
import trio

from meshtrio import (
    Actor,
    BootstrapCommand,
    LogLine,
    ProcMesh,
    config,
    current_rank,
    endpoint,
    open_host_mesh_in_process,
)
from meshtrio._host.logs import LineBuffer, TokenBucket
from meshtrio._messages import ProcLogLine
from meshtrio.errors import ProcCreationError
from meshtrio.testing import no_leaked_processes

pytestmark = pytest.mark.processes


class Printer(Actor):
    """Prints numbered lines to stdout (and, optionally, stderr)."""

    @endpoint
    async def say(self, n: int, err: bool = False) -> int:
        rank = current_rank().rank
        for i in range(n):
            print(f"r{rank} {i}", flush=(i == n - 1))
            if err:
                print(f"e{rank} {i}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        return rank


async def collect(procs: ProcMesh, send: int, err: bool = False) -> list[LogLine]:
    """Subscribe, have every proc print ``send`` lines, read until every proc stopped."""
    printers = await procs.spawn("printers", Printer)
    ready = trio.Event()
    got: list[LogLine] = []

    async def read() -> None:
        async with aclosing(procs.logs(ready=ready)) as lines:
            async for line in lines:
                got.append(line)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await ready.wait()
        await printers.say.call(send, err)
        await procs.stop()  # LG-5: the stream ends once the procs are gone
    return got


async def test_lg1_lg6_lines_of_8_procs_arrive_in_order_with_their_rank() -> None:
    """LG-1, LG-6: every line of 8 procs on 2 hosts arrives once, with its rank and point,
    in the order each proc wrote it on each stream."""
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(2) as hosts:
            procs = await hosts.spawn("talk", {"gpus": 4}, logs=None)
            got = await collect(procs, 50, err=True)
    assert not [line for line in got if line.dropped]
    for rank in range(8):
        for stream, tag in (("stdout", "r"), ("stderr", "e")):
            mine = [g for g in got if g.rank == rank and g.stream == stream]
            assert [g.line for g in mine] == [f"{tag}{rank} {i}" for i in range(50)]
            assert all(str(g.point) == str(procs.region.extent.point_of_rank(rank)) for g in mine)
    assert got[0].prefix().startswith("[rank ")


async def test_lg2_lg3_chatty_proc_is_rate_limited_and_drops_are_counted() -> None:
    """LG-2, LG-3, LG-4: a proc printing 100k lines is held to ``proc_log_rate``; what is
    dropped is counted, exactly, and no host buffer grows past its bound."""
    sent = 100_000
    with no_leaked_processes(), trio.fail_after(30), config.configured(proc_log_rate=50):
        async with open_host_mesh_in_process(1) as hosts:
            procs = await hosts.spawn("chatty", {"gpus": 1}, logs=None)
            printers = await procs.spawn("printers", Printer)
            ready = trio.Event()
            got: list[LogLine] = []

            async def read() -> None:
                async with aclosing(procs.logs(ready=ready)) as lines:
                    async for line in lines:
                        got.append(line)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await ready.wait()
                await printers.say.call(sent)
                await procs.stop()
    lines = [g for g in got if not g.dropped]
    dropped = sum(g.dropped for g in got)
    assert lines
    assert dropped
    assert len(lines) + dropped == sent  # every line delivered or counted, once
    assert len(lines) < 1000  # the rate limit held (50/s, a burst of 50)
    assert [g.line for g in lines] == sorted((g.line for g in lines), key=lambda t: int(t[3:]))


def test_lg2_line_buffer_is_bounded_and_counts_in_place() -> None:
    """LG-2, LG-4: a full buffer counts what it cannot hold; the count travels on the rank's
    next line, or trails once the queue is empty."""
    buf = LineBuffer(max_lines=2)
    for i in range(5):
        buf.offer(ProcLogLine(0, "stdout", f"{i}", 0.0), 0)
    assert len(buf) == 2
    batch = buf.take_batch()
    assert batch is not None
    assert [x.line for x in batch.lines] == ["0", "1"]
    assert batch.dropped == {0: 3}
    buf.offer(None, 1, 4)
    buf.offer(ProcLogLine(1, "stderr", "x", 0.0), 1)
    batch = buf.take_batch()
    assert batch is not None
    assert batch.lines[0].dropped == 4
    assert not batch.dropped
    assert buf.take_batch() is None


def test_lg3_token_bucket() -> None:
    """LG-3: a bucket of rate r gives r tokens at once, then r per second."""
    now = [0.0]
    bucket = TokenBucket(3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 1.0
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


async def test_lg7_forward_logs_to_logging(caplog: pytest.LogCaptureFixture) -> None:
    """LG-7: the logging bridge logs stdout at INFO and stderr at WARNING on
    ``meshtrio.procs``, with the rank and stream in ``extra``."""
    caplog.set_level(logging.INFO, logger="meshtrio.procs")
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as hosts:
            procs = await hosts.spawn("fwd", {"gpus": 2}, logs=None)
            printers = await procs.spawn("printers", Printer)
            ready = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(functools.partial(procs.forward_logs, "logging", ready=ready))
                await ready.wait()
                await printers.say.call(3, True)
                await procs.stop()  # forward_logs ends once the procs are gone (LG-5)
    records = [r for r in caplog.records if r.name == "meshtrio.procs"]
    out = [r for r in records if getattr(r, "stream", "") == "stdout"]
    err = [r for r in records if getattr(r, "stream", "") == "stderr"]
    assert len(out) == 6
    assert all(r.levelno == logging.INFO for r in out)
    assert len(err) == 6
    assert all(r.levelno == logging.WARNING for r in err)
    assert {getattr(r, "rank", None) for r in records} == {0, 1}


async def test_stderr_tail_still_in_failure_messages() -> None:
    """The stderr tail of a proc that dies before it is ready is in the spawn error, with
    stdout captured too."""
    cmd = BootstrapCommand(
        sys.executable,
        (
            "-c",
            "import sys; print('to stdout'); print('boom on stderr', file=sys.stderr); sys.exit(3)",
        ),
    )
    with no_leaked_processes(), trio.fail_after(30):
        async with open_host_mesh_in_process(1) as hosts:
            with pytest.raises(ProcCreationError) as info:
                await hosts.with_bootstrap(cmd).spawn("bad", {"gpus": 1})
    assert "boom on stderr" in str(info.value)
    assert "to stdout" not in str(info.value)
    assert info.value.state.stderr_tail == ("boom on stderr",)
