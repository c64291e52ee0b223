"""Shared pieces of the benchmarks: result rows, bounded timing loops, the benchmark record.

Invariants owned here:

* Every measurement loop is bounded in count and in wall time, and takes at least one sample
  (``min_rounds``) whatever the budget.
* Measurements that are compared are taken alternately in one loop (A B, B A, A B, ...), so
  CPU speed drift hits both sides alike.
* ``ratio`` is always meshtrio's cost over the baseline's cost (above 1: meshtrio is slower):
  ``value / baseline`` for times, ``baseline / value`` for rates (``ops/s``). ``ok`` is
  ``ratio <= target`` when the row has a target, else None.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "ROOT",
    "Benchmark",
    "Ctx",
    "GcClock",
    "Result",
    "alternate",
    "child_env",
    "median",
    "rates",
    "row",
    "timed",
    "timed_gc",
]

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (subprocesses run there, so ``meshtrio`` and ``benchmarks`` import)."""


@attrs.frozen
class Result:
    """One row of the results table.

    Attributes:
        name: the measurement, e.g. ``attach.inproc``.
        params: what varies (``hosts``, ``procs``, ...).
        value: the meshtrio figure (seconds, ``ops/s`` or a plain factor ``x``).
        unit: ``s``, ``ops/s`` or ``x``.
        baseline: the figure it is compared with (same unit), or None.
        ratio: meshtrio cost over baseline cost (see the module docstring), or None.
        target: the largest acceptable ratio, or None (measured for scale only).
        ok: ``ratio <= target``, or None without a target.
        extra: details (per-host times, phases, sample counts, ...).
    """

    name: str
    params: dict[str, Any]
    value: float | None
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: float | None = None
    ok: bool | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return attrs.asdict(self)


def row(
    name: str,
    params: dict[str, Any],
    value: float | None,
    unit: str,
    baseline: float | None = None,
    *,
    target: float | None = None,
    extra: dict[str, Any] | None = None,
) -> Result:
    """Build a :class:`Result`, computing ``ratio`` and ``ok`` (module docstring rules).

    A row with a target but no value (the measurement failed) is not ok.
    """
    ratio: float | None = None
    if value is not None and baseline is not None and value > 0 and baseline > 0:
        ratio = baseline / value if unit == "ops/s" else value / baseline
    ok: bool | None = None
    if target is not None:
        ok = ratio is not None and ratio <= target
    return Result(name, params, value, unit, baseline, ratio, target, ok, extra or {})


def median(samples: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return statistics.median(samples)


async def alternate(
    fns: Sequence[Callable[[], Awaitable[float]]],
    *,
    rounds: int,
    budget: float,
    min_rounds: int = 1,
) -> list[list[float]]:
    """Call each of ``fns`` once per round, alternating the order; return their samples.

    Each fn returns the seconds it wants counted (so it can leave setup or cleanup out).
    Stops after ``rounds`` rounds, or once ``budget`` seconds have passed and at least
    ``min_rounds`` rounds ran.
    """
    samples: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    for i in range(rounds):
        if i >= min_rounds and time.perf_counter() - start > budget:
            break
        order = list(enumerate(fns))
        if i % 2:
            order.reverse()
        for k, fn in order:
            samples[k].append(await fn())
    return samples


def timed(fn: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    """Wrap an async callable so that it returns its own wall time (for :func:`alternate`)."""

    async def run() -> float:
        start = time.perf_counter()
        await fn()
        return time.perf_counter() - start

    return run


class GcClock:
    """Seconds spent in the cyclic garbage collector while inside ``with clock:`` (re-usable).

    Attributes:
        seconds: total collector time seen so far.
        collections: how many collections of each generation were seen.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def timed_gc(fn: Callable[[], Awaitable[object]], clock: GcClock) -> Callable[[], Awaitable[float]]:
    """Like :func:`timed`, also adding the collector time of each call to ``clock``."""

    async def run() -> float:
        with clock:
            start = time.perf_counter()
            await fn()
            return time.perf_counter() - start

    return run


def rates(
    fns: Sequence[Callable[[], object]], *, budget: float, batches: int = 9
) -> list[tuple[float, int]]:
    """Operations per second of each of ``fns`` (median over alternating timed batches).

    Each fn is calibrated so that one batch takes about ``budget / (batches * len(fns))``
    (at most 100 000 calls). Returns ``(ops per second, calls measured)`` per fn.
    """
    per_batch = budget / (batches * len(fns))
    numbers: list[int] = []
    for fn in fns:
        start = time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-7)
        numbers.append(max(1, min(100_000, int(per_batch / once))))
    per_op: list[list[float]] = [[] for _ in fns]
    deadline = time.perf_counter() + 2 * budget
    for i in range(batches):
        order = list(enumerate(fns))
        if i % 2:
            order.reverse()
        for k, fn in order:
            n = numbers[k]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            per_op[k].append((time.perf_counter() - start) / n)
        if time.perf_counter() > deadline:
            break
    return [(1.0 / median(p), numbers[k] * len(p)) for k, p in enumerate(per_op)]


@attrs.frozen
class Ctx:
    """What a benchmark gets from the runner.

    Attributes:
        quick: the short variant (fewer sizes and rounds).
    """

    quick: bool

    def log(self, text: str) -> None:
        """A progress line on stderr (the table goes to stdout)."""
        print(f"  .. {text}", file=sys.stderr, flush=True)


@attrs.frozen
class Benchmark:
    """One entry the runner can select with ``--only``.

    Attributes:
        name: its name (``--only`` takes it, or its family: the part before the first ``.``).
        run: the async function producing its rows.
        limit: wall-time bound of the full variant, in seconds (the runner enforces it).
        quick_limit: the bound of the ``--quick`` variant.
        aliases: more names ``--only`` accepts (families of other rows it produces).
    """

    name: str
    run: Callable[[Ctx], Awaitable[list[Result]]]
    limit: float
    quick_limit: float
    aliases: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """The part of the name before the first ``.``."""
        return self.name.split(".", 1)[0]


def child_env() -> dict[str, str]:
    """The environment for benchmark subprocesses: ours, with the repo root on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


async def bare_pythons(code: str, m: int) -> float:
    """Seconds to run m ``python -c CODE`` processes at once, to their exit (a baseline)."""
    import functools

    import trio

    cmd = [sys.executable, "-c", code]
    env = child_env()
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(m):
            nursery.start_soon(functools.partial(trio.run_process, cmd, env=env, cwd=str(ROOT)))
    return time.perf_counter() - start
