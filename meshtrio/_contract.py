"""The process contract: what crosses between a client, a host agent and a proc outside messages.

Three kinds of process meet here. A *client* (a mesh in user code) starts host agents or
attaches to them; a *host agent* (``python -m meshtrio host``) starts procs; a *proc*
(``python -m meshtrio proc``, or a custom bootstrap command) serves its host. Both sides of
every boundary import this module, so the names, the payload and the bounds below are written
once. It sits at the wire layer: it imports values, errors and the wire converter, nothing
from agents or meshes.

The environment (names and values are fixed; a custom bootstrap command relies on them):

* :data:`TOKEN_ENV` (``MESHTRIO_TOKEN``): the client token, given to a host agent process by
  whoever starts it. Whoever holds it may drive the host.
* :data:`LISTEN_ENV` (``MESHTRIO_LISTEN``): where a host agent process listens, when no
  ``--listen`` is given.
* :data:`PARENT_PID_ENV` (``MESHTRIO_PARENT_PID``): the pid of the process that started this
  one, for the parent-death check of hosts and procs.
* :data:`BOOTSTRAP_ENV` (``MESHTRIO_BOOTSTRAP``): a proc's :class:`ProcBootstrap`, base64 of
  msgpack of its unstructured form (the wire converter's).
* :data:`PROC_TOKEN_ENV` (``MESHTRIO_PROC_TOKEN``): a proc's own credential (AU-1).

Invariants owned here:

* PC-1 (a host promises a proc): it is started with :data:`BOOTSTRAP_ENV`,
  :data:`PROC_TOKEN_ENV` and :data:`PARENT_PID_ENV` set, and without :data:`TOKEN_ENV` (HA-7:
  the client token never reaches a proc); its bootstrap payload decodes with
  :meth:`ProcBootstrap.from_env`, and a value that does not decode is an :class:`InputError`
  naming :data:`BOOTSTRAP_ENV`.
* PC-2 (a host promises a client): a ``proc_bind`` that :func:`check_proc_bind` accepts is
  accepted by the host too (the host runs the same check before it wraps a command), so a
  client that checked every binding up front (PM-1) learns of no bad binding after a spawn
  started.
* PC-3 (bounded stop): a host reports every proc it stopped, and one proc's stop ladder takes
  at most ``2*grace + KILL_TIMEOUT`` (PS-3); a client waiting for a stop or drain may call
  the host idle only after :func:`stop_bound` seconds without a report.

Not promised: that a binding is *applied* (a host without Linux, ``numactl`` or ``taskset``
runs the proc unbound and says so in a warning); how long a proc waits for a stop-ladder slot
(the drain's concurrency); anything about other ``MESHTRIO_*`` variables, which are config
(:mod:`meshtrio.config`) and not part of this contract.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import attrs
import msgpack

from meshtrio._addr import ChannelAddr
from meshtrio._errors import InputError, SpawnConfigurationError
from meshtrio._ids import ProcId, ProcMeshId
from meshtrio._tls import ServerTLS
from meshtrio._wire import converter

__all__ = [
    "BIND_KEYS",
    "BOOTSTRAP_ENV",
    "DRAIN_SLACK",
    "KILL_TIMEOUT",
    "LISTEN_ENV",
    "NUMA_BIND_KEYS",
    "PARENT_PID_ENV",
    "PROC_MESH_STOP_SLACK",
    "PROC_TOKEN_ENV",
    "TOKEN_ENV",
    "ProcBootstrap",
    "check_proc_bind",
    "stop_bound",
]

# -- the environment ---------------------------------------------------------------------------

TOKEN_ENV = "MESHTRIO_TOKEN"
"""The environment variable that carries the client token to host agents."""

PROC_TOKEN_ENV = "MESHTRIO_PROC_TOKEN"
"""The environment variable that carries a proc's own credential to it (AU-1)."""

BOOTSTRAP_ENV = "MESHTRIO_BOOTSTRAP"
"""The environment variable that carries a proc's bootstrap payload."""

PARENT_PID_ENV = "MESHTRIO_PARENT_PID"
"""The pid of the process that started this one (for the parent-death check)."""

LISTEN_ENV = "MESHTRIO_LISTEN"
"""Where a host process started by a client mesh listens (read by ``meshtrio host``)."""


# -- the bootstrap payload ---------------------------------------------------------------------


@attrs.frozen
class ProcBootstrap:
    """What a proc needs to know to start.

    Attributes:
        proc_id: its id.
        host_addr: the host agent's address to connect back to.
        create_rank: its rank in the proc mesh.
        proc_mesh_id: its proc mesh's id.
        config: the client's propagatable config snapshot.
        actor_token: the credential its actor endpoint accepts (empty: it serves no actors).
        has_setup: it must fetch a setup function from its host and run it before its hello.
        tls: its host's TLS settings (paths of files the proc reads itself, never their
            contents): it connects back over TLS pinned to the host's certificate and serves
            its actor endpoint with that certificate (TLS-1, TLS-2). None: plaintext.
    """

    proc_id: ProcId
    host_addr: ChannelAddr
    create_rank: int
    proc_mesh_id: ProcMeshId
    config: dict[str, Any]
    actor_token: str = attrs.field(default="", repr=False)  # a secret: never shown
    has_setup: bool = False
    tls: ServerTLS | None = None

    def to_env(self) -> str:
        """Encode as the value of ``MESHTRIO_BOOTSTRAP``."""
        raw = msgpack.packb(converter.unstructure(self), use_bin_type=True)
        return base64.b64encode(raw).decode("ascii")

    @classmethod
    def from_env(cls, text: str) -> ProcBootstrap:
        """Decode a ``MESHTRIO_BOOTSTRAP`` value; InputError if it is not one."""
        try:
            data = msgpack.unpackb(base64.b64decode(text, validate=True), raw=False)
            return converter.structure(data, cls)
        except Exception as exc:  # base64, msgpack and cattrs raise unrelated types
            raise InputError(
                f"{BOOTSTRAP_ENV} is not a valid bootstrap payload: {type(exc).__name__}"
            ) from None


# -- the proc_bind check -----------------------------------------------------------------------

NUMA_BIND_KEYS = ("cpunodebind", "membind", "physcpubind")
"""The ``proc_bind`` keys applied with ``numactl`` (in this order)."""

BIND_KEYS = (*NUMA_BIND_KEYS, "cpus")
"""Every key a ``proc_bind`` mapping may have (``cpus`` is applied with ``taskset``)."""


def check_proc_bind(bind: Mapping[str, str]) -> None:
    """SpawnConfigurationError unless ``bind`` has only known keys with non-empty text values.

    Clients run this before a spawn (PM-1), so a bad binding starts nothing; hosts run it
    again before they wrap a command (PC-2).
    """
    unknown = sorted(str(k) for k in bind if k not in BIND_KEYS)
    if unknown:
        raise SpawnConfigurationError(
            f"proc_bind has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(BIND_KEYS)}"
        )
    for key, value in bind.items():
        if not isinstance(value, str) or not value.strip():
            raise SpawnConfigurationError(
                f"proc_bind[{key!r}] must be non-empty text, got {value!r}"
            )


# -- the stop bound ----------------------------------------------------------------------------

KILL_TIMEOUT = 5.0
"""Seconds a host waits for a process to disappear after SIGKILL (the ladder's last step)."""

# Two slacks, kept as they were: a proc mesh stop (or a failed spawn's cleanup) waits on one
# proc mesh's procs, a drain (and each shutdown phase) on every proc of a host and the host's
# own bookkeeping after them, so it is given more room before the client calls the host idle.
PROC_MESH_STOP_SLACK = 10.0
"""Seconds added to one proc's ladder for a proc mesh stop or a failed spawn's cleanup."""

DRAIN_SLACK = 30.0
"""Seconds added to one proc's ladder for a host drain or a shutdown phase."""


def stop_bound(grace: float, *, slack: float) -> float:
    """How long a client waits without news from a host that is stopping procs (PC-3).

    One proc's stop ladder (ask, ``grace``, SIGTERM, ``grace``, SIGKILL, :data:`KILL_TIMEOUT`)
    plus ``slack`` (:data:`PROC_MESH_STOP_SLACK` or :data:`DRAIN_SLACK`).
    """
    return 2 * grace + KILL_TIMEOUT + slack
