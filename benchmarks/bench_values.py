"""Value types at scale: parse, print and range of regions and host mesh refs with 1000 hosts.

Rows ``values.<op>`` report operations per second (``extra.ms_per_op`` too). Each baseline is
plain Python doing the nearest trivial job on the same data (``str.split`` of the same text,
``str.join`` of the same parts, a list slice of the same size), for scale only: no targets.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.core import Benchmark, Ctx, Result, rates, row
from meshtrio import ChannelAddr, Extent, HostMeshId, HostMeshRef, Region

__all__ = ["BENCHMARKS"]

HOSTS = 1000


def _ref() -> HostMeshRef:
    addrs = [ChannelAddr.tcp("127.0.0.1", 20000 + i) for i in range(HOSTS)]
    return HostMeshRef(HostMeshId.instance("bench"), Extent(rack=10, host=100).region(), addrs)


def _cases() -> list[tuple[str, Callable[[], object], Callable[[], object], str]]:
    """(op name, meshtrio op, baseline op, baseline description)."""
    ref = _ref()
    region = ref.region
    sub_region = region.range("host", slice(10, 90, 2))
    region_text = str(sub_region)
    ref_text = str(ref)
    host_texts = [str(a) for a in ref.addrs]
    host_list = list(ref.addrs)
    ints = list(range(HOSTS))
    return [
        (
            "region.parse",
            lambda: Region.parse(region_text),
            lambda: region_text.split(","),
            "str.split of the same text",
        ),
        (
            "region.str",
            lambda: str(sub_region),
            lambda: ",".join(region_text.split(",")),
            "split + join of the same text",
        ),
        (
            "region.range",
            lambda: region.range("host", slice(10, 90, 2)),
            lambda: ints[100:900:2],
            "slice of a 1000-int list",
        ),
        (
            "ref.parse",
            lambda: HostMeshRef.parse(ref_text),
            lambda: ref_text.split(","),
            "str.split of the same text",
        ),
        ("ref.str", lambda: str(ref), lambda: ",".join(host_texts), "str.join of the host texts"),
        (
            "ref.range",
            lambda: ref.range("host", slice(10, 90, 2)),
            lambda: host_list[100:900:2],
            "slice of the 1000-host list",
        ),
    ]


async def run(ctx: Ctx) -> list[Result]:
    """Measure every value operation against its plain-Python baseline."""
    budget = 0.15 if ctx.quick else 0.6
    out: list[Result] = []
    for op, fn, base, base_doc in _cases():
        (value, n), (baseline, n_base) = rates([fn, base], budget=budget)
        out.append(
            row(
                f"values.{op}",
                {"hosts": HOSTS},
                value,
                "ops/s",
                baseline,
                extra={
                    "ms_per_op": 1000.0 / value,
                    "baseline_ms_per_op": 1000.0 / baseline,
                    "baseline_is": base_doc,
                    "calls": n,
                    "baseline_calls": n_base,
                },
            )
        )
        ctx.log(f"values.{op}: {1000.0 / value:.4f} ms/op")
    return out


BENCHMARKS = [Benchmark("values", run, limit=30.0, quick_limit=10.0)]
