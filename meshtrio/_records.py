"""Public records a client builds from what hosts answer (not wire messages: those are in
:mod:`meshtrio._messages`, and may change with the protocol while these stay).
"""

from __future__ import annotations

from typing import Any

import attrs

from meshtrio._messages import HostInfoReply, LifecycleEvent

__all__ = ["HostInfo"]


@attrs.frozen
class HostInfo:
    """What a host agent says about itself (one per host from :meth:`meshtrio.HostMesh.info`).

    Attributes:
        address: the host's bound channel address.
        pid: the host agent's OS process id.
        protocol_version: the wire protocol version it speaks.
        uptime: seconds since the agent was created (just before it started listening).
        proc_count: procs it owns whose supervising task has not ended (starting, running
            or stopping).
        state: ``serving``, ``draining`` or ``shutting_down``.
        events: recent lifecycle events, oldest first.
        config: its effective config, key to (value, source layer).
    """

    address: str
    pid: int
    protocol_version: int
    uptime: float
    proc_count: int
    state: str
    events: tuple[LifecycleEvent, ...]
    config: dict[str, tuple[Any, str]]

    @classmethod
    def from_reply(cls, reply: HostInfoReply) -> HostInfo:
        """The record for a host's :class:`~meshtrio._messages.HostInfoReply`."""
        return cls(
            address=reply.address,
            pid=reply.pid,
            protocol_version=reply.protocol_version,
            uptime=reply.uptime,
            proc_count=reply.proc_count,
            state=reply.state,
            events=tuple(reply.events),
            config=reply.config,
        )

    def __repr__(self) -> str:
        return (
            f"<HostInfo {self.address} pid={self.pid} {self.state} procs={self.proc_count} "
            f"up {self.uptime:.1f}s, {len(self.events)} events, {len(self.config)} config keys>"
        )

    def __str__(self) -> str:
        """A short table: the host, then its ten latest events, one per line."""
        lines = [
            f"{self.address}: {self.state}, pid {self.pid}, {self.proc_count} proc(s), "
            f"up {self.uptime:.1f}s, protocol {self.protocol_version}"
        ]
        lines += [f"  {e.at:.3f} {e.kind} {e.detail}".rstrip() for e in self.events[-10:]]
        return "\n".join(lines)
