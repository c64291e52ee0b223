"""Tests for meshtrio._wire: envelope round trips of every registered message, and decode()
rejecting anything malformed with ProtocolError only."""

from __future__ import annotations

import types
import typing
from typing import Any

import attrs
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from id_strategies import (
    bootstrap_commands,
    channel_addrs,
    host_mesh_ids,
    proc_ids,
    proc_mesh_ids,
    statuses,
)

from meshtrio import (
    BootstrapCommand,
    ChannelAddr,
    HostMeshId,
    ProcId,
    ProcMeshId,
    ProcState,
    Status,
)
from meshtrio import _actor_messages as actor_messages  # noqa: F401  (registers them)
from meshtrio import _messages as messages
from meshtrio import _wire as wire
from meshtrio._messages import (
    LOG_STREAMS,
    ProcLogBatch,
    ProcLogLine,
    SetClientConfig,
    SpawnProcs,
    StopProcLogs,
    StreamProcLogs,
)
from meshtrio._status import StatusKind
from meshtrio._wire import Envelope, EnvelopeKind, WireError, decode, encode
from meshtrio.errors import MessageBodyError, ProtocolError

MSGPACK_INT = st.integers(-(2**63), 2**64 - 1)
CORRS = st.integers(0, 2**64 - 1)
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    MSGPACK_INT,
    st.floats(allow_nan=False),
    st.text(max_size=10),
)
"""Values that survive msgpack unchanged: what config values and ``Any`` fields carry."""

TOKENS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12)
"""Actor tokens (empty, or printable ASCII)."""

CONFIG_SNAPSHOTS = st.dictionaries(st.text(max_size=12), SCALARS, max_size=3)
"""Config snapshots as a peer may send them (CF-2: names to scalars)."""

PER_MESSAGE = settings(max_examples=max(30, settings.default.max_examples // 5))
"""The round-trip test runs once per registered message type (19 and counting), so each runs
a fifth of the profile's examples."""


_VALUE_STRATEGIES: dict[Any, Any] = {
    HostMeshId: host_mesh_ids,
    ProcMeshId: proc_mesh_ids,
    ProcId: proc_ids,
    ChannelAddr: channel_addrs,
    BootstrapCommand: bootstrap_commands,
}


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """A small strategy for a message field type; LookupError for a type it does not know."""
    if tp is Any:
        return SCALARS | st.lists(SCALARS, max_size=3)
    if tp is type(None):
        return st.none()
    if tp is str:
        return st.text(max_size=12)
    if tp is int:
        return MSGPACK_INT
    if tp is float:
        return st.floats(allow_nan=False)
    if tp is bool:
        return st.booleans()
    if tp is bytes:
        return st.binary(max_size=16)
    if tp is Status:
        return statuses()
    if tp in _VALUE_STRATEGIES:  # the value types that travel as text or a plain dict
        return _VALUE_STRATEGIES[tp]()
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(strategy_for(a) for a in args))
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=3)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
        return st.tuples(*(strategy_for(a) for a in args))
    if isinstance(tp, type) and attrs.has(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: strategy_for(hints[f.name]) for f in attrs.fields(tp)}
        if tp in (SetClientConfig, SpawnProcs):  # CF-2: a snapshot's values are scalars
            fields["config"] = CONFIG_SNAPSHOTS
        if tp is SpawnProcs:  # a token is printable ASCII
            fields["actor_token"] = TOKENS
        if tp is ProcLogLine:  # a log line comes from stdout or stderr, dropped >= 0
            fields["stream"] = st.sampled_from(LOG_STREAMS)
            fields["dropped"] = st.integers(0, 2**40)
        if tp is ProcLogBatch:  # drop counts are >= 1
            fields["dropped"] = st.dictionaries(MSGPACK_INT, st.integers(1, 2**40), max_size=3)
        if tp in (StreamProcLogs, StopProcLogs):  # a stream id has 1..64 characters
            fields["stream_id"] = st.text(min_size=1, max_size=12)
        for name in ("actor", "name", "endpoint"):  # actor names are 1..256 characters
            if name in fields and tp.__module__ == "meshtrio._actor_messages":
                fields[name] = st.text(min_size=1, max_size=12)
        return st.builds(tp, **fields)
    raise LookupError(f"no strategy for field type {tp!r}")


def message_names() -> list[str]:
    """Every registered wire message name, sorted."""
    return sorted(wire.registered())


def envelope_bytes(kind: object, corr: object, name: object, body: object) -> bytes:
    """Pack a raw envelope array by hand (no validation)."""
    out: bytes = msgpack.packb([kind, corr, name, body], use_bin_type=True)
    return out


# -- round trips ----------------------------------------------------------------------------
def test_every_message_of_messages_module_is_registered() -> None:
    """Every message class that meshtrio._messages exports is in the wire registry."""
    exported = {
        name
        for name in messages.__all__
        if isinstance(getattr(messages, name), type) and attrs.has(getattr(messages, name))
    }
    assert exported
    assert exported <= set(wire.registered())
    for name in exported:
        assert wire.registered()[name] is getattr(messages, name)


@pytest.mark.parametrize("name", message_names())
def test_every_registered_message_has_a_strategy(name: str) -> None:
    """Every registered message's field types are covered by the round-trip strategies."""
    cls = wire.registered()[name]
    hints = typing.get_type_hints(cls)
    missing: list[str] = []
    for field in attrs.fields(cls):
        try:
            strategy_for(hints[field.name])
        except LookupError:
            missing.append(f"{field.name}: {hints[field.name]!r}")
    assert not missing, f"{name}: no round-trip strategy for fields {missing}"


@pytest.mark.parametrize("name", message_names())
@PER_MESSAGE
@given(data=st.data(), kind=st.sampled_from(EnvelopeKind), corr=CORRS)
def test_registered_message_round_trips(
    name: str, data: st.DataObject, kind: EnvelopeKind, corr: int
) -> None:
    """decode(encode(env)) == env for every registered message, kind and correlation id."""
    body = data.draw(strategy_for(wire.registered()[name]))
    env = Envelope(kind, corr, body)
    raw = encode(env)
    assert isinstance(raw, bytes)
    assert decode(raw) == env


@given(kind=st.sampled_from(EnvelopeKind), corr=CORRS, err_kind=st.text(), message=st.text())
def test_wire_error_round_trips(kind: EnvelopeKind, corr: int, err_kind: str, message: str) -> None:
    """An ERROR envelope's WireError body survives encoding."""
    env = Envelope(kind, corr, WireError(err_kind, message))
    assert decode(encode(env)) == env


@pytest.mark.parametrize("status_kind", list(StatusKind))
def test_every_status_kind_round_trips_in_proc_states(status_kind: StatusKind) -> None:
    """A ProcState carrying each Status kind (with message or duration) round-trips."""
    if status_kind is StatusKind.FAILED:
        status = Status.failed("Killed(sig=9)")
    elif status_kind is StatusKind.TIMEOUT:
        status = Status.timeout(20.001)
    else:
        status = Status(status_kind)
    state = ProcState(
        status=status,
        proc_id="pm_abc[3]",
        create_rank=3,
        host_rank=1,
        host="tcp:127.0.0.1:9",
        pid=1234,
        started_at=1.5,
        updated_at=2.5,
        exit_code=None,
        signal=9,
        stderr_tail=("line one", "line two"),
    )
    for env in (
        Envelope(EnvelopeKind.REPLY, 7, messages.ProcStates([state, state])),
        Envelope(EnvelopeKind.EVENT, 8, messages.ProcUpdate(3, status)),
    ):
        back = decode(encode(env))
        assert back == env
    assert (
        decode(encode(Envelope(EnvelopeKind.REPLY, 7, messages.ProcStates([state]))))
        .body.states[0]
        .status
        == status
    )


def test_encode_refuses_unregistered_classes() -> None:
    """encode() refuses a body whose class is not a registered message."""

    @attrs.frozen
    class GetInfo:  # same name as a registered message, different class
        pass

    with pytest.raises(TypeError, match="not a registered"):
        encode(Envelope(EnvelopeKind.REQUEST, 1, GetInfo()))


# -- decode rejects malformed input ---------------------------------------------------------
def check_decode(data: bytes) -> None:
    """decode() either returns an envelope or raises ProtocolError; nothing else."""
    try:
        env = decode(data)
    except ProtocolError as exc:
        message = str(exc)
    else:
        assert isinstance(env, Envelope)
        return
    assert message.startswith("undecodable frame")
    assert len(message) < 200


@given(st.binary(max_size=200))
def test_decode_of_arbitrary_bytes_raises_only_protocol_error(data: bytes) -> None:
    """Arbitrary bytes decode to an envelope or raise ProtocolError, never anything else."""
    check_decode(data)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), MSGPACK_INT), inner, max_size=4),
    )


MSGPACK_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        SCALARS,
        st.binary(max_size=8),
        st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=12)),
        st.builds(msgpack.Timestamp, st.integers(0, 2**34 - 1), st.integers(0, 999_999_999)),
    ),
    _containers,  # a named function: Hypothesis inspects its source to check it recurses
    max_leaves=12,
)
"""Arbitrary msgpack-encodable structures."""


@given(MSGPACK_VALUES)
def test_decode_of_arbitrary_msgpack_raises_only_protocol_error(value: Any) -> None:
    """msgpack of an arbitrary structure decodes or raises ProtocolError only."""
    check_decode(msgpack.packb(value, use_bin_type=True))


@given(
    data=st.data(),
    kind=st.sampled_from(EnvelopeKind) | MSGPACK_VALUES,
    corr=CORRS | MSGPACK_VALUES,
    name=st.sampled_from([*message_names(), "!error"]),
)
def test_decode_of_envelopes_with_arbitrary_bodies_raises_only_protocol_error(
    data: st.DataObject, kind: Any, corr: Any, name: str
) -> None:
    """Envelopes naming a real message but carrying arbitrary field values decode or raise
    ProtocolError only."""
    cls = wire.registered().get(name)
    fields = [f.name for f in attrs.fields(cls)] if cls is not None else ["kind", "message"]
    keys = data.draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
    body: Any = {k: data.draw(MSGPACK_VALUES) for k in keys}
    if data.draw(st.booleans()):
        body = data.draw(MSGPACK_VALUES)
    check_decode(
        envelope_bytes(int(kind) if isinstance(kind, EnvelopeKind) else kind, corr, name, body)
    )


def test_decode_of_deeply_nested_msgpack_raises_protocol_error() -> None:
    """A frame nested far deeper than any message is a ProtocolError (no RecursionError)."""
    with pytest.raises(ProtocolError):
        decode(b"\x91" * 100_000 + b"\xc0")


@pytest.mark.parametrize(
    "data", [b"", b"\xc1", b"\x94", b"\xd4\xff\x00", b"\x94\x00\x01\xa7GetInfo\x80\x00"]
)
def test_decode_rejects_truncated_reserved_and_trailing_bytes(data: bytes) -> None:
    """Empty, reserved, truncated, bad-timestamp and trailing-garbage frames are rejected."""
    with pytest.raises(ProtocolError, match="undecodable frame"):
        decode(data)


@pytest.mark.parametrize(
    "value",
    [None, 5, "text", b"bytes", {}, [], [0, 1, "GetInfo"], [0, 1, "GetInfo", {}, 9]],
)
def test_decode_rejects_what_is_not_a_four_element_envelope(value: object) -> None:
    """Anything but a 4-element array is not an envelope."""
    with pytest.raises(ProtocolError, match="4-element"):
        decode(msgpack.packb(value, use_bin_type=True))


@pytest.mark.parametrize(
    "name", ["NoSuchMessage", "", "getinfo", "Envelope", "WireError", "x" * 5000]
)
def test_decode_rejects_unknown_type_names(name: str) -> None:
    """A type name that is not registered is rejected, and the message stays short."""
    with pytest.raises(ProtocolError, match="unknown message type") as info:
        decode(envelope_bytes(0, 1, name, {}))
    assert len(str(info.value)) < 120


@pytest.mark.parametrize("name", [None, 3, b"GetInfo", ["GetInfo"], {"GetInfo": 1}])
def test_decode_rejects_type_names_that_are_not_text(name: object) -> None:
    """The type name must be text."""
    with pytest.raises(ProtocolError, match="not text"):
        decode(envelope_bytes(0, 1, name, {}))


@pytest.mark.parametrize("kind", [5, -1, 255, 2**40, True, False, 1.0, 1.5, "REQUEST", None, []])
def test_decode_rejects_wrong_kinds(kind: object) -> None:
    """Envelope kinds other than the five integers 0..4 are rejected (bools and floats too)."""
    with pytest.raises(ProtocolError, match="envelope kind"):
        decode(envelope_bytes(kind, 1, "GetInfo", {}))


@pytest.mark.parametrize("corr", [-1, -(2**63), True, False, 1.0, "1", None, [1], {}])
def test_decode_rejects_bad_correlation_ids(corr: object) -> None:
    """Correlation ids must be non-negative integers (not bools, floats or text)."""
    with pytest.raises(ProtocolError, match="correlation id"):
        decode(envelope_bytes(0, corr, "GetInfo", {}))


@pytest.mark.parametrize(
    "body",
    [None, [], "oops", {"kind": "X"}, {"message": 5}, {"kind": "X", "message": None}],
)
def test_decode_rejects_malformed_error_bodies(body: object) -> None:
    """An error envelope needs a mapping with a text message."""
    with pytest.raises(ProtocolError, match="malformed error body"):
        decode(envelope_bytes(3, 1, "!error", body))


def test_decode_accepts_an_error_body_without_kind() -> None:
    """An error body without a kind decodes with an empty kind."""
    env = decode(envelope_bytes(3, 4, "!error", {"message": "boom"}))
    assert env == Envelope(EnvelopeKind.ERROR, 4, WireError("", "boom"))


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("ProcUpdate", {"create_rank": 1, "status": {"kind": 99}}),
        ("ProcUpdate", {"create_rank": 1, "status": {"kind": 5, "message": None}}),
        ("ProcUpdate", {"create_rank": 1, "status": {"kind": 6, "duration": -1.0}}),
        ("ProcUpdate", {"create_rank": "one", "status": {"kind": 2}}),
        ("ProcUpdate", {"status": {"kind": 2}}),
        ("ProcHello", {"proc_id": "p"}),
        ("ProcHello", ["p", 1]),
        ("Drain", {"host_mesh_id": None, "timeout": "soon", "concurrency": 1}),
        ("ProcStates", {"states": [{"status": {"kind": 2}}]}),
        ("SetClientConfig", {"config": [1, 2]}),
    ],
)
def test_decode_rejects_bad_bodies_of_known_types(name: str, body: object) -> None:
    """A body the converter cannot structure (bad field types, values or missing fields) is a
    ProtocolError naming the message type."""
    with pytest.raises(ProtocolError, match=f"bad {name} body"):
        decode(envelope_bytes(1, 1, name, body))


def test_every_message_class_of_messages_module_is_exported() -> None:
    """Every wire message class defined in meshtrio._messages is in its __all__."""
    defined = {
        name for name, cls in wire.registered().items() if cls.__module__ == messages.__name__
    }
    assert defined
    assert defined <= set(messages.__all__), sorted(defined - set(messages.__all__))


# -- the value types on the wire --------------------------------------------------------------
def test_ids_addresses_and_commands_travel_as_their_text_and_plain_dict() -> None:
    """Typed fields put the same bytes on the wire as the plain str/dict fields did."""
    mesh, host = ProcMeshId.instance("w"), HostMeshId.singleton("hosts")
    cmd = BootstrapCommand("prog", ("a",), {"K": "v"})
    msg = messages.SpawnProcs(mesh, host, 0, 2, {}, [cmd, None])
    body = msgpack.unpackb(encode(Envelope(EnvelopeKind.REQUEST, 1, msg)))[3]
    assert body["proc_mesh_id"] == str(mesh)
    assert body["host_mesh_id"] == "hosts"
    assert body["commands"] == [cmd.to_wire(), None]
    hello = msgpack.unpackb(
        encode(Envelope(EnvelopeKind.REQUEST, 1, messages.ProcHello(ProcId.singleton("p-0"), 5)))
    )[3]
    assert hello == {"proc_id": "p-0", "pid": 5, "address": None}


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("GetProcStates", {"proc_mesh_id": "Not An Id"}),
        ("ProcHello", {"proc_id": "p.0", "pid": 1}),
        ("Drain", {"host_mesh_id": "x-", "timeout": 1.0, "concurrency": 1}),
        (
            "SpawnProcs",
            {
                "proc_mesh_id": "m",
                "host_mesh_id": "h",
                "host_rank": 0,
                "num_per_host": 1,
                "config": {},
                "commands": [{"program": ""}],
            },
        ),
    ],
)
def test_a_bad_id_or_command_is_a_message_body_error(name: str, body: object) -> None:
    """A value that does not parse is refused at decode, naming the message."""
    with pytest.raises(MessageBodyError, match=f"bad {name} body"):
        decode(envelope_bytes(0, 3, name, body))
