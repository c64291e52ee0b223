"""Public records a client builds from what hosts answer (not wire messages: those are in
:mod:`meshtrio._messages`, and may change with the protocol while these stay).
"""

from __future__ import annotations

from typing import Any

import attrs

from meshtrio._messages import DrainReply, HostInfoReply, LifecycleEvent
from meshtrio._slicing import Point

__all__ = ["DrainReport", "HostInfo", "LogLine"]


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


@attrs.frozen
class DrainReport:
    """How a drain went on one host (in :class:`meshtrio.StopReport` and
    :class:`meshtrio.ShutdownReport`, per host).

    Attributes:
        attempted: procs the drain asked to stop.
        ok: of those, procs that are gone (exited or reaped).
        failed: of those, procs reported ``unkillable`` (still there after SIGKILL).
        started_at: when the drain began (unix time).
        finished_at: when it ended (unix time).
        events: the host's recent lifecycle events, oldest first.
    """

    attempted: int
    ok: int
    failed: int
    started_at: float
    finished_at: float
    events: tuple[LifecycleEvent, ...] = ()

    @classmethod
    def from_reply(cls, reply: DrainReply) -> DrainReport:
        """The record for a host's :class:`~meshtrio._messages.DrainReply`."""
        return cls(
            reply.attempted,
            reply.ok,
            reply.failed,
            reply.started_at,
            reply.finished_at,
            tuple(reply.events),
        )

    def __repr__(self) -> str:
        return (
            f"<DrainReport attempted={self.attempted} ok={self.ok} failed={self.failed} "
            f"in {self.finished_at - self.started_at:.3f}s, {len(self.events)} events>"
        )


@attrs.frozen
class LogLine:
    """One line a proc wrote to its stdout or stderr, or a notice that lines were dropped
    (from :meth:`meshtrio.ProcMesh.logs`).

    Attributes:
        rank: the proc's rank in its proc mesh.
        point: the proc's point in the proc mesh's extent.
        stream: ``"stdout"`` or ``"stderr"``; ``""`` for a drop notice.
        line: the text, without its newline, cut to 4096 characters (undecodable bytes
            replaced); ``""`` for a drop notice.
        time: when the proc's host read the line, or noticed the drop (unix time).
        dropped: 0 for a line; for a drop notice, how many lines of this rank were dropped
            at this place in its sequence (over ``proc_log_rate``, or because a buffer on
            the host or the client was full).
    """

    rank: int
    point: Point
    stream: str
    line: str
    time: float
    dropped: int = 0

    def prefix(self) -> str:
        """``[rank 3 hosts=1/2,gpus=1/2] `` (what printed lines start with)."""
        return f"[rank {self.rank} {self.point}] "

    def __str__(self) -> str:
        if self.dropped:
            return f"{self.prefix()}({self.dropped} line(s) dropped)"
        return self.prefix() + self.line
