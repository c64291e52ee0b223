"""The implementation of :mod:`meshtrio.config` (keys, layers, snapshots).

Its docstring (the public one) says what the module holds and the invariants it owns
(CF-1, CF-2 and the layer rules); this module keeps them.
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar, cast, overload

import attrs

from meshtrio._config_values import (
    Invalid,
    display_duration,
    parse_bool,
    parse_duration,
    parse_int,
)
from meshtrio._errors import ConfigError
from meshtrio._util import show

__all__ = [
    "DURATION_MAX",
    "GLOBAL",
    "KEYS",
    "MAX_NAME_CHARS",
    "MAX_SNAPSHOT_KEYS",
    "MAX_SNAPSHOT_TEXT",
    "Config",
    "Key",
    "Kind",
    "Layer",
    "check_snapshot",
    "clear_runtime",
    "configure",
    "configured",
    "dump",
    "get",
    "get_with_source",
    "isolated",
    "propagatable",
    "reload_env",
    "resolve",
    "split_known",
    "test_override",
]

T = TypeVar("T")
_ENV_PREFIX = "MESHTRIO_"


class Layer(enum.Enum):
    """Where a value came from, highest precedence first; ``.value`` is the name users see."""

    TEST_OVERRIDE = "TestOverride"
    ENV = "Env"
    RUNTIME = "Runtime"
    CLIENT_OVERRIDE = "ClientOverride"
    DEFAULT = "Default"


class Kind(enum.Enum):
    """The kind of value a key holds."""

    DURATION = "duration"  # seconds as a float
    OPTIONAL_DURATION = "optional duration"  # seconds, or None (disabled)
    INT = "int"
    BOOL = "bool"
    STR = "str"


@attrs.frozen
class Key(Generic[T]):
    """One typed setting.

    Attributes:
        name: the lowercase Python name (also the keyword of :func:`configured`).
        default: the value when no layer sets one.
        kind: the kind of value (see :class:`Kind`).
        doc: one line saying what the setting controls.
        minimum: for ints, the smallest allowed value (None: no bound).
        maximum: for ints and durations, the largest allowed value (None: no bound; every
            key declared here has one, CF-1).
        clamp: for ints, whether out-of-range values are clamped (True) or rejected (False).
        propagate: whether the client pushes this key to hosts and procs.
    """

    name: str
    default: T
    kind: Kind
    doc: str
    minimum: int | None = None
    maximum: float | None = None
    clamp: bool = False
    propagate: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ConfigError(f"config key name {self.name!r} is not a lowercase identifier")
        try:
            valid = self._convert(self.default) == self.default
        except Invalid:
            valid = False
        if not valid:
            raise ConfigError(f"config key {self.name}: default {self.default!r} is invalid")

    @property
    def env_var(self) -> str:
        """The environment variable of this key: ``MESHTRIO_`` + the upper-cased name."""
        return _ENV_PREFIX + self.name.upper()

    def _error(self, value: object, reason: str) -> ConfigError:
        return ConfigError(
            f"config key {self.name} (env {self.env_var}): bad value {show(value)}: {reason}"
        )

    def _convert(self, value: object) -> Any:
        kind = self.kind
        if kind is Kind.OPTIONAL_DURATION and (
            value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))
        ):
            return None
        if kind in (Kind.DURATION, Kind.OPTIONAL_DURATION):
            seconds = parse_duration(value)
            if self.maximum is not None and seconds > self.maximum:
                raise Invalid(f"must be at most {display_duration(self.maximum)}")
            return seconds
        if kind is Kind.BOOL:
            return parse_bool(value)
        if kind is Kind.STR:
            if not isinstance(value, str):
                raise Invalid("expected a string")
            return value
        number = parse_int(value)
        low, high = self.minimum, self.maximum
        if self.clamp:
            number = max(number, low) if low is not None else number
            return min(number, high) if high is not None else number
        if low is not None and number < low:
            raise Invalid(f"must be at least {low}")
        if high is not None and number > high:
            raise Invalid(f"must be at most {high}")
        return number

    def coerce(self, value: object) -> T:
        """Validate a Python value (or its text) and return it in this key's canonical form.

        Durations accept non-negative int/float seconds or text (``500ms``, ``30s``, ``1m``,
        ``1h 30m``, ``1.5s``, ``2``) and become float seconds; optional durations also accept
        None, empty text or ``none`` (disabled). Bools accept bool, 0/1 or
        ``1/0/true/false/yes/no`` text (any case). Ints accept int or digit text; clamped ints
        are clamped into range, others are rejected when out of range.

        Raises:
            ConfigError: the value is invalid; the message names the key, env var and value.
        """
        try:
            return cast(T, self._convert(value))
        except Invalid as exc:
            raise self._error(value, str(exc)) from None

    def parse_text(self, text: str) -> T:
        """Parse the text of this key's environment variable (same rules as :meth:`coerce`).

        Raises:
            ConfigError: the text is invalid; the message names the key, env var and text.
        """
        if not isinstance(text, str):
            raise self._error(text, "expected text")
        return self.coerce(text)

    def to_wire(self, value: T) -> float | int | bool | str | None:
        """The msgpack-friendly primitive for ``value`` (durations as float seconds)."""
        coerced: Any = self.coerce(value)
        return cast("float | int | bool | str | None", coerced)

    def display(self, value: T) -> str:
        """Human-readable text for ``value`` that :meth:`parse_text` reads back.

        Durations read like ``30s``, ``1m``, ``1h 30m``, ``500ms``, ``1.5s`` (to the
        microsecond); bools are ``true``/``false``; a disabled optional duration is ``none``.
        """
        coerced: Any = self.coerce(value)
        if coerced is None:
            return "none"
        if self.kind in (Kind.DURATION, Kind.OPTIONAL_DURATION):
            return display_duration(coerced)
        if self.kind is Kind.BOOL:
            return "true" if coerced else "false"
        return str(coerced)


_REGISTRY: dict[str, Key[Any]] = {}
KEYS: Mapping[str, Key[Any]] = MappingProxyType(_REGISTRY)
"""Every known key, by name (read-only view)."""


def _register(key: Key[T]) -> Key[T]:
    if key.name in _REGISTRY:
        raise ConfigError(f"config key {key.name} is declared twice")
    _REGISTRY[key.name] = key
    return key


def resolve(key: Key[T] | str) -> Key[T]:
    """The :class:`Key` for ``key`` (a key or its name); ConfigError if there is none."""
    if isinstance(key, Key):
        return key
    found = _REGISTRY.get(key) if isinstance(key, str) else None
    if found is None:
        raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(_REGISTRY))}")
    return found


MAX_SNAPSHOT_KEYS = 256
"""Most names a config snapshot from a peer may hold (CF-2)."""

MAX_NAME_CHARS = 64
"""Longest key name in a config snapshot from a peer (CF-2)."""

MAX_SNAPSHOT_TEXT = 4096
"""Longest text value in a config snapshot from a peer (CF-2)."""

_SCALARS = (type(None), bool, int, float, str)


def check_snapshot(snapshot: object) -> Mapping[str, Any]:
    """``snapshot`` if it has the shape of a config snapshot from a peer (CF-2).

    Only the shape is checked (names, sizes, scalar values); :meth:`Config.set_client_override`
    then validates the values of known keys.

    Raises:
        ConfigError: not a mapping, too many names, a name that is not short text, or a value
            that is not a small scalar (the message names the key).
    """
    if not isinstance(snapshot, Mapping):
        raise ConfigError(f"a config snapshot must be a mapping, got {type(snapshot).__name__}")
    if len(snapshot) > MAX_SNAPSHOT_KEYS:
        raise ConfigError(
            f"a config snapshot holds at most {MAX_SNAPSHOT_KEYS} keys, got {len(snapshot)}"
        )
    for name, value in snapshot.items():
        kind = type(value)
        if (  # the usual case, exact types from the wire, in one test each
            type(name) is str
            and len(name) <= MAX_NAME_CHARS
            and (
                kind in _PLAIN_SCALARS
                or (kind is int and -_INT_LIMIT < value < _INT_LIMIT)
                or (kind is str and len(value) <= MAX_SNAPSHOT_TEXT)
            )
        ):
            continue
        _check_entry(name, value)
    return snapshot


_PLAIN_SCALARS = frozenset({type(None), bool, float})
_INT_LIMIT = 1 << 64


def _check_entry(name: object, value: object) -> None:
    """The full check of one snapshot entry, naming what is wrong (subclasses pass here)."""
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        raise ConfigError(
            f"config snapshot key {show(name)}: names are text of at most "
            f"{MAX_NAME_CHARS} characters"
        )
    if not isinstance(value, _SCALARS):
        raise ConfigError(
            f"config snapshot key {name}: values are None, bool, int, float or text, "
            f"got {type(value).__name__}"
        )
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        raise ConfigError(f"config snapshot key {name}: int out of range {show(value)}")
    if isinstance(value, str) and len(value) > MAX_SNAPSHOT_TEXT:
        raise ConfigError(
            f"config snapshot key {name}: text longer than {MAX_SNAPSHOT_TEXT} characters"
        )


def split_known(snapshot: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The entries of ``snapshot`` whose keys this version knows, and the other names (sorted)."""
    known = {name: value for name, value in snapshot.items() if name in _REGISTRY}
    return known, sorted(name for name in snapshot if name not in known)


def _coerce_all(values: Mapping[str, Any], *, ignore_unknown: bool) -> dict[str, Any]:
    """Validate every value first; return the coerced ones (nothing is changed on error)."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"a config snapshot must be a mapping, got {type(values).__name__}")
    out: dict[str, Any] = {}
    for name, value in values.items():
        if ignore_unknown and name not in _REGISTRY:
            continue
        out[name] = resolve(name).coerce(value)
    return out


# Process-global layers.
_test_layer: dict[str, Any] = {}
_runtime_layer: dict[str, Any] = {}


class _EnvLayer:
    """The lazily read Env layer: values, or the error that reading them produced."""

    def __init__(self) -> None:
        self.source: Mapping[str, str] | None = None  # None: os.environ at read time
        self.values: dict[str, Any] | None = None
        self.error: ConfigError | None = None

    def get(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        if self.values is None:
            environ = os.environ if self.source is None else self.source
            values: dict[str, Any] = {}
            problems: list[str] = []
            for key in _REGISTRY.values():
                text = environ.get(key.env_var)
                if text is None:
                    continue
                try:
                    values[key.name] = key._convert(text)
                except Invalid as exc:
                    problems.append(f"{key.env_var}={show(text)}: {exc}")
            if problems:
                self.error = ConfigError("bad config in the environment: " + "; ".join(problems))
                raise self.error
            self.values = values
        return self.values


_env = _EnvLayer()


def reload_env(environ: Mapping[str, str] | None = None) -> None:
    """Forget the Env layer; it is read again from ``environ`` on the next read.

    Args:
        environ: the variables to read (copied now); None reads ``os.environ`` at that time.
    """
    _env.source = None if environ is None else dict(environ)
    _env.values = None
    _env.error = None


class Config:
    """A layered view of the config: the process-global layers plus its own ClientOverride.

    Args:
        client_override: the initial ClientOverride snapshot (see :meth:`set_client_override`).
    """

    def __init__(self, client_override: Mapping[str, Any] | None = None) -> None:
        self._client: dict[str, Any] = {}
        self._client_raw: dict[str, Any] | None = None
        self._propagatable: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        if client_override is not None:
            self.set_client_override(client_override)

    @overload
    def get_with_source(self, key: Key[T]) -> tuple[T, Layer]: ...
    @overload
    def get_with_source(self, key: str) -> tuple[Any, Layer]: ...
    def get_with_source(self, key: Key[Any] | str) -> tuple[Any, Layer]:
        """The effective value of ``key`` and the layer it came from.

        Raises:
            ConfigError: unknown key name, or a bad value in the environment.
        """
        k = resolve(key)
        env = _env.get()
        for layer, values in (
            (Layer.TEST_OVERRIDE, _test_layer),
            (Layer.ENV, env),
            (Layer.RUNTIME, _runtime_layer),
            (Layer.CLIENT_OVERRIDE, self._client),
        ):
            if k.name in values:
                return values[k.name], layer
        return k.default, Layer.DEFAULT

    @overload
    def get(self, key: Key[T]) -> T: ...
    @overload
    def get(self, key: str) -> Any: ...
    def get(self, key: Key[Any] | str) -> Any:
        """The effective value of ``key`` (a :class:`Key` or its name).

        Raises:
            ConfigError: unknown key name, or a bad value in the environment.
        """
        return self.get_with_source(key)[0]

    def set_client_override(self, snapshot: Mapping[str, Any]) -> bool:
        """Replace the ClientOverride layer with ``snapshot`` (name to value or wire value).

        Every known key is validated first; on a bad value nothing changes. Names of keys this
        version does not know are ignored, so a newer client can configure an older peer.

        Returns:
            True if ``snapshot`` was installed, False if it equals (as given, before
            coercion) the one installed last (then nothing is validated again: pushes are
            idempotent and often repeated). True does not imply that an effective value
            changed.

        Raises:
            ConfigError: ``snapshot`` is not a mapping, or a value is invalid (the message
                names the key and value).
        """
        if self._client_raw is not None and snapshot == self._client_raw:
            return False
        self._client = _coerce_all(snapshot, ignore_unknown=True)
        self._client_raw = dict(snapshot)
        return True

    def client_override(self) -> dict[str, Any]:
        """A copy of the ClientOverride layer."""
        return dict(self._client)

    def dump(self) -> dict[str, tuple[Any, str]]:
        """Every key's effective value and the name of its layer, by key name.

        Raises:
            ConfigError: a bad value in the environment.
        """
        out: dict[str, tuple[Any, str]] = {}
        for name in _REGISTRY:
            value, layer = self.get_with_source(name)
            out[name] = (value, layer.value)
        return out

    def propagatable(self) -> dict[str, Any]:
        """Wire values of the effective values of every ``propagate`` key (to push to peers).

        Every attach and spawn takes one, so it is cached until a layer changes (checked by
        comparing the small override layers and the identity of the others).

        Raises:
            ConfigError: a bad value in the environment.
        """
        stamp = (
            tuple(_test_layer.items()),
            tuple(_runtime_layer.items()),
            _env.get(),
            self._client,
            len(_REGISTRY),
        )
        cached = self._propagatable
        if cached is not None and _same_stamp(cached[0], stamp):
            return dict(cached[1])
        snapshot = {
            name: key.to_wire(self.get(key)) for name, key in _REGISTRY.items() if key.propagate
        }
        self._propagatable = (stamp, snapshot)
        return dict(snapshot)


def _same_stamp(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] == b[0] and a[1] == b[1] and a[2] is b[2] and a[3] is b[3] and a[4] == b[4]


GLOBAL = Config()
"""This process's own view; a proc installs the client's snapshot as its ClientOverride."""


@overload
def get(key: Key[T]) -> T: ...
@overload
def get(key: str) -> Any: ...
def get(key: Key[Any] | str) -> Any:
    """The effective value of ``key`` (a :class:`Key` or its name) in :data:`GLOBAL`.

    Raises:
        ConfigError: unknown key name, or a bad value in the environment.
    """
    return GLOBAL.get(key)


@overload
def get_with_source(key: Key[T]) -> tuple[T, Layer]: ...
@overload
def get_with_source(key: str) -> tuple[Any, Layer]: ...
def get_with_source(key: Key[Any] | str) -> tuple[Any, Layer]:
    """The effective value of ``key`` in :data:`GLOBAL` and its layer.

    Raises:
        ConfigError: unknown key name, or a bad value in the environment.
    """
    return GLOBAL.get_with_source(key)


def propagatable() -> dict[str, Any]:
    """The snapshot that attach and spawn push: :meth:`Config.propagatable` of :data:`GLOBAL`.

    Raises:
        ConfigError: a bad value in the environment.
    """
    return GLOBAL.propagatable()


def dump() -> dict[str, tuple[Any, str]]:
    """:meth:`Config.dump` of :data:`GLOBAL`.

    Raises:
        ConfigError: a bad value in the environment.
    """
    return GLOBAL.dump()


_ABSENT = object()


@contextlib.contextmanager
def _overlay(layer: dict[str, Any], overrides: Mapping[str, Any]) -> Iterator[None]:
    values = _coerce_all(overrides, ignore_unknown=False)
    saved = {name: layer.get(name, _ABSENT) for name in values}
    layer.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is _ABSENT:
                layer.pop(name, None)
            else:
                layer[name] = old


def configured(**overrides: Any) -> contextlib.AbstractContextManager[None]:
    """Set values in the Runtime layer for the duration of a ``with`` block.

    All names and values are validated (when the ``with`` block is entered, not when this
    is called) before anything changes; on exit the previous Runtime values (or their
    absence) come back, also when the block raises. Nesting works. The layer is
    process-global: every task and every in-process host agent sees the values.

    Raises:
        ConfigError: on entering the block: an unknown name (the message lists the valid
            ones) or a bad value.
    """
    return _overlay(_runtime_layer, overrides)


def test_override(**overrides: Any) -> contextlib.AbstractContextManager[None]:
    """Like :func:`configured`, for the TestOverride layer (beats every other layer).

    Raises:
        ConfigError: on entering the block: an unknown name or a bad value.
    """
    return _overlay(_test_layer, overrides)


test_override.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def configure(**overrides: Any) -> None:
    """Merge values into the Runtime layer for good (all validated before any is set).

    Raises:
        ConfigError: an unknown name or a bad value; nothing was set.
    """
    _runtime_layer.update(_coerce_all(overrides, ignore_unknown=False))


def clear_runtime() -> None:
    """Empty the Runtime layer."""
    _runtime_layer.clear()


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Save the TestOverride and Runtime layers and GLOBAL's ClientOverride; restore on exit.

    On exit the Env layer is also reloaded from ``os.environ`` (lazily). Meant for tests.
    """
    saved = (dict(_test_layer), dict(_runtime_layer), GLOBAL.client_override())
    try:
        yield
    finally:
        _test_layer.clear()
        _test_layer.update(saved[0])
        _runtime_layer.clear()
        _runtime_layer.update(saved[1])
        GLOBAL._client = saved[2]
        GLOBAL._client_raw = None
        reload_env()


# -- the keys -------------------------------------------------------------------------------
# Declared last, after every class and function they use; each registers itself in _REGISTRY.
DURATION_MAX = 365 * 86400.0
"""The longest duration any key accepts (a year): deadlines, grace periods and keepalives all
work with it, and its text form (``8760h``) reads back."""


def _duration(name: str, seconds: float, doc: str) -> Key[float]:
    return _register(Key(name, float(seconds), Kind.DURATION, doc, maximum=DURATION_MAX))


def _int(name: str, default: int, doc: str, low: int, high: int, clamp: bool) -> Key[int]:
    return _register(Key(name, default, Kind.INT, doc, minimum=low, maximum=high, clamp=clamp))


MAX_TAIL_LOG_LINES = 1000
"""The most stderr lines a proc's tail may keep (each line is cut at 4096 characters, and the
tail travels in status replies, which ``max_message_size`` bounds)."""

PROC_SPAWN_MAX_IDLE = _duration(
    "proc_spawn_max_idle", 30, "How long a spawn waits without news from its procs."
)
PROC_STOP_MAX_IDLE = _duration(
    "proc_stop_max_idle", 30, "How long a proc mesh stop waits without news from its procs."
)
GET_PROC_STATE_MAX_IDLE = _duration(
    "get_proc_state_max_idle", 60, "How long a proc state query waits without news."
)
MESH_ATTACH_CONFIG_TIMEOUT = _duration(
    "mesh_attach_config_timeout", 10, "How long attach waits for hosts to take the config."
)
MESH_TERMINATE_TIMEOUT = _duration(
    "mesh_terminate_timeout", 10, "Grace per proc in each step of the drain/stop ladder."
)
MESH_TERMINATE_CONCURRENCY = _int(
    "mesh_terminate_concurrency", 16, "How many procs a host stops at once.", 1, 256, True
)
MESH_TAIL_LOG_LINES = _int(
    "mesh_tail_log_lines",
    100,
    "Lines of proc stderr kept for failure messages.",
    0,
    MAX_TAIL_LOG_LINES,
    False,
)
PROC_LOG_RATE = _int(
    "proc_log_rate",
    1000,
    "Lines per second (a burst of one second's worth) a host forwards from each proc's "
    "stdout and stderr to log subscribers; lines beyond it are dropped and counted.",
    1,
    1_000_000,
    False,
)
HOST_SPAWN_READY_TIMEOUT = _duration(
    "host_spawn_ready_timeout", 30, "How long a host waits for a new proc to report ready."
)
MESH_ORPHAN_TIMEOUT: Key[float | None] = _register(
    Key(
        "mesh_orphan_timeout",
        60.0,
        Kind.OPTIONAL_DURATION,
        "The keepalive states(keepalive=True) asks for: procs not renewed within it are stopped.",
        maximum=DURATION_MAX,
    )
)
HOST_ORPHAN_TIMEOUT: Key[float | None] = _register(
    Key(
        "host_orphan_timeout",
        None,
        Kind.OPTIONAL_DURATION,
        "A host agent with no client connected for this long (from its start, or since its "
        "last client left) drains its procs and exits (HO-1); None: it waits for clients "
        "forever. Read when the host starts; 'meshtrio host --announce' makes it 60s.",
        maximum=DURATION_MAX,
        propagate=False,  # the host's own: a client does not decide when hosts give up on it
    )
)
MAX_MESSAGE_SIZE = _int(
    "max_message_size", 4 << 20, "Largest wire message in bytes.", 1 << 10, 1 << 30, True
)
CONNECT_TIMEOUT = _duration(
    "connect_timeout", 5, "Time to open a connection and finish the handshake."
)
TLS_CA: Key[str] = _register(
    Key(
        "tls_ca",
        "",
        Kind.STR,
        "attach: connect over TLS, trusting the CA certificate(s) in this PEM file.",
        propagate=False,
    )
)
TLS_CERT: Key[str] = _register(
    Key(
        "tls_cert",
        "",
        Kind.STR,
        "attach: this client's certificate (PEM) for hosts that require mutual TLS.",
        propagate=False,
    )
)
TLS_KEY: Key[str] = _register(
    Key("tls_key", "", Kind.STR, "attach: the private key of tls_cert (PEM).", propagate=False)
)
TCP_USER_TIMEOUT = _duration(
    "tcp_user_timeout",
    30,
    "Longest data sent on a TCP connection may stay unacknowledged before the connection is "
    "given up (a partitioned peer's requests fail within about this).",
)
REQUEST_TIMEOUT = _duration("request_timeout", 30, "Default deadline of a simple request.")
PROCESS_EXIT_TIMEOUT = _duration(
    "process_exit_timeout", 10, "Grace a single proc Stop gives the proc to exit."
)
MESH_BOOTSTRAP_ENABLE_PDEATHSIG: Key[bool] = _register(
    Key("mesh_bootstrap_enable_pdeathsig", True, Kind.BOOL, "Procs die when their host dies.")
)
HOST_FORK_SERVER: Key[bool] = _register(
    Key(
        "host_fork_server",
        True,
        Kind.BOOL,
        "Host agents start procs by forking a warm zygote (milliseconds) instead of a fresh "
        "Python; off: every proc starts cold. A host's own value decides whether it runs one; "
        "a spawn's value whether its procs use it.",
    )
)
PROC_PRELOAD: Key[str] = _register(
    Key(
        "proc_preload",
        "",
        Kind.STR,
        "Modules (comma separated) imported once in each host's fork server before it forks "
        "procs, and by a proc started cold. They must not start threads or open sockets.",
    )
)
MESH_SPAWN_CONCURRENCY = _int(
    "mesh_spawn_concurrency", 16, "How many procs a host starts at once.", 1, 256, True
)
ACTOR_MAILBOX_CAPACITY = _int(
    "actor_mailbox_capacity",
    1024,
    "Calls one caller may have in flight to one actor (more wait: backpressure); also the "
    "most calls an actor holds queued from one connection, and runs at once when concurrent.",
    1,
    65536,
    True,
)
ACTOR_CANCEL_ACK_TIMEOUT = _duration(
    "actor_cancel_ack_timeout",
    1,
    "How long a cancelled actor call waits for the actor to acknowledge the cancel.",
)
ACTOR_DEATH_REPORT_TIMEOUT = _duration(
    "actor_death_report_timeout",
    0.5,
    "How long a call whose proc is gone waits for its host to report how the proc ended.",
)
ACTOR_MAILBOX_BYTES = _int(
    "actor_mailbox_bytes",
    64 << 20,
    "Bytes of arguments one connection may have queued at one actor (more wait).",
    1 << 10,
    1 << 34,
    True,
)
