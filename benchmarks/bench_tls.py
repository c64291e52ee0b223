"""TLS against plaintext: the same requests to a host started with a certificate and to one
started without, in the same run.

Two ``python -m meshtrio host`` processes on loopback, one plaintext and one with
``--tls-cert/--tls-key`` (certificates from ``trustme``, in a temporary directory); the client
attaches to each (the TLS one with ``tls=TLSConfig(ca=...)``), spawns one proc with one
``Echo`` actor on each, and alternates timed blocks TLS, plaintext, plaintext, TLS, ... so CPU
drift hits both alike. A block is a run of requests one after another; a row's value is the
median time per request over the blocks (the mean, minimum and every block in ``extra``).
Connections are open before timing starts (the TLS handshake is not timed: it is paid once per
connection).

* ``tls.push_config``: ``await mesh.push_config()`` to one host. Target: ratio <= 1.3.
* ``tls.call_one``: ``await actor.ping.call_one(b"x")`` to the actor on the host's proc (the
  client talks to the proc directly, over wss for the TLS host). Target: ratio <= 1.3.

Every host and proc process is ended when its block ends (the meshes' shutdown, then a kill
of anything still running), also on error.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from statistics import mean

import trio
import trustme

from benchmarks.bench_actors import Echo
from benchmarks.core import ROOT, Benchmark, Ctx, Result, alternate, child_env, median, row
from meshtrio import ActorMesh, HostMesh, TLSConfig, attach

__all__ = ["BENCHMARKS"]

TARGET = 1.3
TOKEN = "bench-tls-token"

Call = Callable[[], Awaitable[object]]


@asynccontextmanager
async def _host(args: list[str]) -> AsyncIterator[str]:
    """One ``meshtrio host`` process on loopback; yields its address; killed at the end if it
    did not exit."""
    env = {**child_env(), "MESHTRIO_TOKEN": TOKEN}
    argv = [sys.executable, "-m", "meshtrio", "host", "--listen", "tcp:127.0.0.1:0", *args]
    proc = await trio.lowlevel.open_process(argv, env=env, cwd=str(ROOT), stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        buf = b""
        while b"\n" not in buf:
            chunk = await proc.stdout.receive_some(4096)
            if not chunk:
                raise RuntimeError("the host exited before printing its address")
            buf += chunk
        yield buf.split(b"\n", 1)[0].decode()
    finally:
        with trio.CancelScope(shield=True):
            with trio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            if proc.stdout is not None:
                await proc.stdout.aclose()


@asynccontextmanager
async def _mesh(
    args: list[str], tls: TLSConfig | None
) -> AsyncIterator[tuple[HostMesh, ActorMesh[Echo]]]:
    """A host process, attached, with one proc running one Echo; shut down at the end."""
    async with _host(args) as addr, attach([addr], token=TOKEN, tls=tls) as mesh:
        try:
            procs = await mesh.spawn("bench", {"gpus": 1})
            actor = await procs.spawn("echo", Echo)
            yield mesh, actor
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(30):
                await mesh.shutdown()


def _block(fn: Call, calls: int) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            await fn()
        return (time.perf_counter() - start) / calls

    return run


async def _compare(
    name: str, secure: Call, plain: Call, *, calls: int, rounds: int, budget: float
) -> Result:
    for fn in (secure, plain):
        for _ in range(20):
            await fn()
    mine, base = await alternate(
        [_block(secure, calls), _block(plain, calls)], rounds=rounds, budget=budget, min_rounds=4
    )
    extra = {
        "calls_per_block": calls,
        "blocks": len(mine),
        "mean": mean(mine),
        "baseline_mean": mean(base),
        "min": min(mine),
        "baseline_min": min(base),
        "samples": mine,
        "baseline_samples": base,
        "baseline_is": "the same request to a plaintext host (same run, alternating blocks)",
    }
    return row(name, {"hosts": 1}, median(mine), "s", median(base), target=TARGET, extra=extra)


async def run(ctx: Ctx) -> list[Result]:
    """Both rows (see the module docstring)."""
    calls, rounds, budget = (100, 6, 8.0) if ctx.quick else (300, 12, 30.0)
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        d = Path(tmp)
        ca = trustme.CA()
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(d / "h.pem"))
        ca.cert_pem.write_to_path(str(d / "ca.pem"))
        tls_args = ["--tls-cert", str(d / "h.pem"), "--tls-key", str(d / "h.pem")]
        async with AsyncExitStack() as stack:
            plain_mesh, plain_actor = await stack.enter_async_context(_mesh([], None))
            tls_mesh, tls_actor = await stack.enter_async_context(
                _mesh(tls_args, TLSConfig(ca=str(d / "ca.pem")))
            )
            out = [
                await _compare(
                    "tls.push_config",
                    tls_mesh.push_config,
                    plain_mesh.push_config,
                    calls=calls,
                    rounds=rounds,
                    budget=budget,
                ),
                await _compare(
                    "tls.call_one",
                    lambda: tls_actor.ping.call_one(b"x"),
                    lambda: plain_actor.ping.call_one(b"x"),
                    calls=calls,
                    rounds=rounds,
                    budget=budget,
                ),
            ]
    for r in out:
        assert r.value is not None
        assert r.baseline is not None
        assert r.ratio is not None
        ctx.log(
            f"{r.name}: {1e3 * r.value:.3f} ms vs {1e3 * r.baseline:.3f} ms (ratio {r.ratio:.2f})"
        )
    return out


BENCHMARKS = [Benchmark("tls.compare", run, limit=240, quick_limit=90, aliases=("tls",))]
