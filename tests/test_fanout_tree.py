"""The tree of the fan-out simulation (benchmarks/bench_fanout_tree.py) reaches every host once."""

from __future__ import annotations

import pytest

from benchmarks.bench_fanout_tree import FANOUT, tree_levels


@pytest.mark.parametrize("n", [1, 2, 16, 17, 256, 257, 1000, 4096, 4097, 10_000])
def test_tree_reaches_every_host_once_with_at_most_16_children(n: int) -> None:
    """Every host is some relay's child exactly once, no relay has more than 16 children,
    relays are hosts reached on an earlier level, and the depth is the fewest levels whose
    capacity (16 + 16**2 + ...: every host relays) holds n."""
    levels = tree_levels(n)
    reached = [c for level in levels for _relay, kids in level for c in kids]
    assert sorted(reached) == list(range(n))
    assert all(1 <= len(kids) <= FANOUT for level in levels for _relay, kids in level)
    seen: set[int] = {-1}
    for level in levels:
        assert all(relay in seen for relay, _kids in level)
        seen.update(c for _relay, kids in level for c in kids)
    depth = 1
    while sum(FANOUT**k for k in range(1, depth + 1)) < n:
        depth += 1
    assert len(levels) == depth
