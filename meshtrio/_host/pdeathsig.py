"""Ask Linux to SIGKILL this process when its parent goes away (``PR_SET_PDEATHSIG``).

A proc calls :func:`set_parent_death_signal` early in its bootstrap so that it dies with the
host agent that launched it (spec 7.6). Invariant owned here: after a successful call either
the death signal is armed *and* the parent was still alive when it was armed, or the process
has already exited (code 0), so no window exists in which the parent died unnoticed.

Caveat (the reason the launcher forks on the trio thread): Linux delivers the signal when the
*thread* that forked the child exits, not when the parent process exits. A child forked from
a short-lived worker thread (for example one of trio's cached threads, retired after about
ten idle seconds) would be killed although its parent process is alive and well.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["PR_SET_PDEATHSIG", "set_parent_death_signal"]

PR_SET_PDEATHSIG = 1
"""The ``prctl`` option number from ``<linux/prctl.h>``."""


def set_parent_death_signal(expected_parent: int | None) -> bool:
    """Arm ``SIGKILL`` as this process's parent-death signal (Linux only).

    Args:
        expected_parent: the pid the parent had when this process started (read it from
            ``os.getppid()`` first thing, or have the parent pass its pid). If given and the
            parent pid differs after the signal was armed, the parent already died before the
            signal could take effect, and this process exits at once with code 0. ``None``
            skips the check (the spec does not treat ppid 1 as "parent died", for containers;
            pass ``None`` when the expected parent is unknown).

    Returns:
        True if the signal was armed; False on other platforms or if ``prctl`` failed.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    if result != 0:
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(0)
    return True
