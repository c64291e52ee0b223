"""meshtrio.testing: the leak check sees orphaned descendants (this session is a subreaper)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from meshtrio.testing import alive, become_subreaper, descendants, no_leaked_processes

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux"),
]


def start_orphan() -> int:
    """Start ``sleep 60`` from a shell that exits at once; returns the sleeper's pid."""
    out = subprocess.run(
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return int(out.stdout.strip())


def test_become_subreaper_makes_orphans_visible_to_the_leak_check() -> None:
    """A grandchild whose parent exited is re-parented to this (subreaper) process, so
    ``descendants`` lists it and ``no_leaked_processes`` reports it as leaked."""
    assert become_subreaper()  # idempotent; conftest already did it
    orphans: list[int] = []
    seen = False
    try:
        with (
            pytest.raises(AssertionError, match="leaked processes"),
            no_leaked_processes(grace=0.1),
        ):
            orphans.append(start_orphan())
            seen = orphans[0] in descendants()
    finally:
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # it is our child now: reap it
    assert seen, "the orphan was re-parented past this process"
    assert not alive(orphans[0])
