"""Wire format: message classes, the one cattrs converter, and envelope framing.

One binary WebSocket message (or one in-memory message) carries one *envelope*, encoded with
msgpack as a 4-element array ``[kind, correlation_id, type_name, body]``:

* ``REQUEST`` asks the peer to handle ``body`` (an instance of a registered message class);
* ``EVENT`` is an intermediate update for the request with the same correlation id (streamed
  spawn statuses); a request may get any number of them;
* ``REPLY`` ends the request successfully; ``ERROR`` ends it with ``{"kind", "message"}``;
* ``CANCEL`` says the caller gave up on the request (its body is an empty ``Ack``).

Message classes are attrs classes registered with :func:`message`; they are (un)structured by
:data:`converter`. Decoding never raises anything but :class:`~meshtrio.errors.ProtocolError`:
a peer that sends bytes we cannot accept gets its connection closed, nothing else breaks.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import attrs
import cattrs
import msgpack

from meshtrio._addr import ChannelAddr
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._errors import MeshError, MessageBodyError, ProtocolError
from meshtrio._ids import HostMeshId, ProcId, ProcMeshId
from meshtrio._util import is_int

__all__ = [
    "Envelope",
    "EnvelopeKind",
    "Prepared",
    "converter",
    "decode",
    "encode",
    "message",
    "registered",
]

PROTOCOL_VERSION = 3
"""Bumped whenever an envelope or message changes incompatibly (checked in the handshake)."""

converter = cattrs.Converter(forbid_extra_keys=False)
"""The one converter used for every message body (and the proc bootstrap payload)."""

# The value types that cross a process travel as their text (ids, addresses) or plain-dict
# (bootstrap command) form, so the bytes are what they were when fields were plain str/dict.
# Structuring parses; a bad value raises the parser's MeshError, which decode() turns into a
# MessageBodyError naming it.
for _text_type in (HostMeshId, ProcMeshId, ProcId, ChannelAddr):
    converter.register_unstructure_hook(_text_type, str)
    converter.register_structure_hook(_text_type, lambda raw, cls: cls.parse(raw))
converter.register_unstructure_hook(BootstrapCommand, BootstrapCommand.to_wire)
converter.register_structure_hook(
    BootstrapCommand, lambda raw, _cls: BootstrapCommand.from_wire(raw)
)

_REGISTRY: dict[str, type[Any]] = {}

T = TypeVar("T")


def message(cls: type[T]) -> type[T]:
    """Class decorator: register an attrs class as a wire message under its class name."""
    name = cls.__name__
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise RuntimeError(f"duplicate wire message name {name!r}")
    _REGISTRY[name] = cls
    return cls


def registered() -> dict[str, type[Any]]:
    """A copy of the registry: wire name to message class."""
    return dict(_REGISTRY)


class EnvelopeKind(enum.IntEnum):
    """What an envelope is."""

    REQUEST = 0
    REPLY = 1
    EVENT = 2
    ERROR = 3
    CANCEL = 4
    """The caller gave up on the request with this correlation id: cancel its work if the
    receiver supports that (an actor call does); answered, if at all, by the request's own
    REPLY or ERROR."""


@attrs.frozen
class Envelope:
    """One framed message: its kind, correlation id and body.

    For ``ERROR`` envelopes ``body`` is a :class:`WireError`.
    """

    kind: EnvelopeKind
    corr: int
    body: Any


@attrs.frozen
class WireError:
    """The body of an ``ERROR`` envelope: the error class name on the peer, and its message."""

    kind: str
    message: str


@attrs.frozen
class Prepared:
    """A message unstructured once, to be sent to many peers (a fan-out)."""

    name: str
    raw: Any

    @classmethod
    def of(cls, msg: Any) -> Prepared:
        """Prepare a registered message."""
        name = type(msg).__name__
        if _REGISTRY.get(name) is not type(msg):
            raise TypeError(f"{name} is not a registered wire message")
        return cls(name, converter.unstructure(msg))


_KINDS = {kind.value: kind for kind in EnvelopeKind}


def encode(env: Envelope) -> bytes:
    """Encode an envelope to bytes (its body: a registered message, Prepared or WireError)."""
    if isinstance(env.body, WireError):
        name = "!error"
        body: Any = {"kind": env.body.kind, "message": env.body.message}
    elif isinstance(env.body, Prepared):
        name, body = env.body.name, env.body.raw
    else:
        name = type(env.body).__name__
        if _REGISTRY.get(name) is not type(env.body):
            raise TypeError(f"{name} is not a registered wire message")
        body = converter.unstructure(env.body)
    out: bytes = msgpack.packb([int(env.kind), env.corr, name, body], use_bin_type=True)
    return out


def _why(exc: BaseException) -> str:
    """The first leaf of a (cattrs) error group, as ``Type: message`` cut to 200 characters.

    Only a meshtrio error's own message is shown (it is written to be read by the peer);
    other errors are named by type.
    """
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MeshError):
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return type(exc).__name__


def decode(data: bytes) -> Envelope:
    """Decode bytes to an envelope; anything malformed raises ProtocolError."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from None
    if not (isinstance(raw, list) and len(raw) == 4):
        raise ProtocolError("undecodable frame: not a 4-element envelope")
    kind_raw, corr, name, body = raw
    # type() is int: True and 1.0 would otherwise pass for kinds; a dict is cheaper than the enum
    kind = _KINDS.get(kind_raw) if type(kind_raw) is int else None
    if kind is None:
        raise ProtocolError(f"undecodable frame: unknown envelope kind {kind_raw!r:.20}")
    if not is_int(corr) or corr < 0:
        raise ProtocolError("undecodable frame: bad correlation id")
    if not isinstance(name, str):
        raise ProtocolError("undecodable frame: message name is not text")
    if name == "!error":
        if not (isinstance(body, dict) and isinstance(body.get("message"), str)):
            raise ProtocolError("undecodable frame: malformed error body")
        return Envelope(kind, corr, WireError(str(body.get("kind", "")), body["message"]))
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ProtocolError(f"undecodable frame: unknown message type {name[:40]!r}")
    try:
        obj = converter.structure(body, cls)
    except Exception as exc:  # cattrs raises ClassValidationError groups and friends
        raise MessageBodyError(
            f"undecodable frame: bad {name} body ({_why(exc)})", corr=corr, kind=kind
        ) from None
    return Envelope(kind, corr, obj)
