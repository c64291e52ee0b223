"""The messages a caller and a proc exchange about actors (registered wire messages).

Caller to proc, on the proc's actor endpoint: :class:`SpawnActor`, :class:`CallActor` and
:class:`StopActor`, each answered with an :class:`ActorReply`; :class:`GetStacks`, answered
with a :class:`StacksReply`. Arguments, results and
exceptions travel as cloudpickle bytes (:mod:`meshtrio._payload`), which only the proc and
the caller ever unpickle; hosts never see them.
"""

from __future__ import annotations

from typing import Any

import attrs

from meshtrio._stack_records import ThreadStack
from meshtrio._wire import converter, message

__all__ = [
    "MAX_NAME_CHARS",
    "ActorReply",
    "CallActor",
    "GetStacks",
    "SpawnActor",
    "StacksReply",
    "StopActor",
]

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


@message
@attrs.frozen
class GetStacks:
    """Ask a proc where it is: answered at once by the proc itself, in its intake (not through
    an actor's mailbox), with a :class:`StacksReply` (ST-1)."""


@message
@attrs.frozen
class StacksReply:
    """Every thread's stack and the Trio task tree of one proc (text, one task a line), and
    the proc's pid."""

    pid: int
    threads: list[ThreadStack]
    tasks: str


# Hand-written (un)structuring for the two messages of every call: several times cheaper than
# the generic path, and as strict (a field of the wrong type is a TypeError, which decode turns
# into a MessageBodyError; the attrs validators still run).
_NUMBER = (int, float)


def _structure_call(raw: Any, _cls: type) -> CallActor:
    if type(raw) is not dict:
        raise TypeError("a CallActor is a map")
    actor, endpoint, payload = raw.get("actor"), raw.get("endpoint"), raw.get("payload")
    timeout = raw.get("timeout")
    if type(actor) is not str or type(endpoint) is not str or type(payload) is not bytes:
        raise TypeError("CallActor.actor and .endpoint must be text, .payload bytes")
    if timeout is not None:
        if type(timeout) not in _NUMBER:
            raise TypeError("CallActor.timeout must be a number or None")
        timeout = float(timeout)
    return CallActor(actor, endpoint, payload, timeout)


def _unstructure_call(msg: CallActor) -> dict[str, Any]:
    return {
        "actor": msg.actor,
        "endpoint": msg.endpoint,
        "payload": msg.payload,
        "timeout": msg.timeout,
    }


def _structure_reply(raw: Any, _cls: type) -> ActorReply:
    if type(raw) is not dict:
        raise TypeError("an ActorReply is a map")
    ok, payload = raw.get("ok"), raw.get("payload", b"")
    kind, message, trace = raw.get("kind", ""), raw.get("message", ""), raw.get("traceback", "")
    if type(ok) is not bool or type(payload) is not bytes:
        raise TypeError("ActorReply.ok must be a bool, .payload bytes")
    if type(kind) is not str or type(message) is not str or type(trace) is not str:
        raise TypeError("ActorReply.kind, .message and .traceback must be text")
    return ActorReply(ok, payload, kind, message, trace)


def _unstructure_reply(msg: ActorReply) -> dict[str, Any]:
    return {
        "ok": msg.ok,
        "payload": msg.payload,
        "kind": msg.kind,
        "message": msg.message,
        "traceback": msg.traceback,
    }


converter.register_structure_hook(CallActor, _structure_call)
converter.register_unstructure_hook(CallActor, _unstructure_call)
converter.register_structure_hook(ActorReply, _structure_reply)
converter.register_unstructure_hook(ActorReply, _unstructure_reply)
