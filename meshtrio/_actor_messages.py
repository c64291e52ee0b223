"""The messages a caller and a proc exchange about actors (registered wire messages).

Caller to proc, on the proc's actor endpoint: :class:`SpawnActor`, :class:`CallActor` and
:class:`StopActor`, each answered with an :class:`ActorReply`. Arguments, results and
exceptions travel as cloudpickle bytes (:mod:`meshtrio._payload`), which only the proc and
the caller ever unpickle; hosts never see them.
"""

from __future__ import annotations

import attrs

from meshtrio._wire import message

__all__ = ["MAX_NAME_CHARS", "ActorReply", "CallActor", "SpawnActor", "StopActor"]

MAX_NAME_CHARS = 256
"""The longest actor key or endpoint name a proc accepts."""


def _name(_obj: object, attr: attrs.Attribute[str], value: str) -> None:
    """attrs validator: a bounded, non-empty name."""
    if not value or len(value) > MAX_NAME_CHARS:
        raise ValueError(f"{attr.name} must be 1 to {MAX_NAME_CHARS} characters")


@message
@attrs.frozen
class SpawnActor:
    """Construct one actor on this proc: ``payload`` is the pickled ``(cls, args, kwargs)``.

    ``region`` is the actor mesh's region (text) and ``rank`` this actor's rank in it.
    """

    actor: str = attrs.field(validator=_name)
    name: str = attrs.field(validator=_name)
    payload: bytes
    rank: int
    region: str


@message
@attrs.frozen
class CallActor:
    """Call one endpoint of one actor: ``payload`` is the pickled ``(args, kwargs)``.

    ``timeout`` is what was left of the caller's deadline when it sent the call (None: no
    deadline); the endpoint runs under it.
    """

    actor: str = attrs.field(validator=_name)
    endpoint: str = attrs.field(validator=_name)
    payload: bytes
    timeout: float | None = None


@message
@attrs.frozen
class StopActor:
    """Stop one actor on this proc (its queued and running calls end with ``ActorStopped``)."""

    actor: str = attrs.field(validator=_name)


@message
@attrs.frozen
class ActorReply:
    """How a SpawnActor, CallActor or StopActor went.

    ``ok``: ``payload`` is the pickled result. Otherwise ``kind`` names the exception class
    (or ``Cancelled``, ``DeadlineExceeded``, ``ActorStopped``, ``NoSuchActor``,
    ``PayloadError``), ``message`` and ``traceback`` are its text, and ``payload`` the pickled
    exception (empty when it could not be pickled).
    """

    ok: bool
    payload: bytes = b""
    kind: str = ""
    message: str = ""
    traceback: str = ""
