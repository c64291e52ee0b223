"""The results table (stdout) and the results files (``benchmarks/results/*.json``).

Invariant owned here: ``latest.json`` is always a copy of the timestamped file written in the
same call; a missed target prints ``MISSED``, a crashed benchmark ``CRASHED``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.core import Result

__all__ = ["format_table", "write_results"]


def _num(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        return f"{value * 1000:.2f} ms" if value < 1 else f"{value:.3f} s"
    if unit == "ops/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M/s"
        if value >= 1e3:
            return f"{value / 1e3:.1f}k/s"
        return f"{value:.1f}/s"
    return f"{value:.3f}{unit}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _status(r: Result) -> str:
    if r.ok is None:
        return "-"
    return "ok" if r.ok else "MISSED"


def format_table(results: Sequence[Result], errors: Sequence[dict[str, str]]) -> str:
    """A fixed-width table: name, params, value, baseline, ratio, target, status."""
    head = ("name", "params", "value", "baseline", "ratio", "target", "status")
    rows = [head]
    for r in results:
        rows.append(
            (
                r.name,
                _params(r.params),
                _num(r.value, r.unit),
                _num(r.baseline, r.unit),
                "-" if r.ratio is None else f"{r.ratio:.2f}",
                "-" if r.target is None else f"<= {r.target:g}",
                _status(r),
            )
        )
    for e in errors:
        rows.append((e["benchmark"], "", "", "", "", "", "CRASHED"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    missed = sum(1 for r in results if r.ok is False)
    met = sum(1 for r in results if r.ok is True)
    summary = f"{met} target(s) met, {missed} MISSED, {len(errors)} benchmark(s) CRASHED"
    lines.append("")
    lines.append("ratio = meshtrio cost / baseline cost (above 1: meshtrio slower); " + summary)
    for r in results:
        if r.ok is False:
            lines.append(f"MISSED: {r.name} {_params(r.params)}: ratio {r.ratio} > {r.target}")
    for e in errors:
        lines.append(f"CRASHED: {e['benchmark']}: {e['error']}")
    return "\n".join(lines)


def write_results(directory: Path, stamp: str, payload: dict[str, Any]) -> Path:
    """Write ``<stamp>.json`` and ``latest.json`` in ``directory``; return the first path."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2, default=str) + "\n"
    path = directory / f"{stamp}.json"
    path.write_text(text, encoding="utf-8")
    (directory / "latest.json").write_text(text, encoding="utf-8")
    return path
