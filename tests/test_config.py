"""Tests of meshtrio.config: layers, text formats, snapshots and restoration."""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshtrio import _config, config
from meshtrio.config import Config, Key, Kind, Layer
from meshtrio.errors import ConfigError

KEY = config.CONNECT_TIMEOUT  # default 5s
LAYER_VALUES = {
    Layer.TEST_OVERRIDE: 1.0,
    Layer.ENV: 2.0,
    Layer.RUNTIME: 3.0,
    Layer.CLIENT_OVERRIDE: 4.0,
    Layer.DEFAULT: 5.0,
}
ORDER = list(Layer)


@pytest.fixture(autouse=True)
def _restore_config_state() -> Iterator[None]:
    """Every test starts and ends with untouched process-global config layers."""
    config.reload_env()
    with config.isolated():
        yield


def _set_layer(
    layer: Layer, cfg: Config, stack: contextlib.ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = LAYER_VALUES[layer]
    if layer is Layer.TEST_OVERRIDE:
        stack.enter_context(config.test_override(connect_timeout=value))
    elif layer is Layer.ENV:
        monkeypatch.setenv(KEY.env_var, f"{value}s")
        config.reload_env()
    elif layer is Layer.RUNTIME:
        config.configure(connect_timeout=value)
    elif layer is Layer.CLIENT_OVERRIDE:
        cfg.set_client_override({"connect_timeout": value})


@pytest.mark.parametrize(
    ("high", "low"),
    list(itertools.combinations(ORDER, 2)),
    ids=lambda layer: layer.value,
)
def test_layer_precedence_pairs(high: Layer, low: Layer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Of two layers setting a key the higher one wins; alone, the lower one is used."""
    monkeypatch.delenv(KEY.env_var, raising=False)
    cfg = Config()
    with contextlib.ExitStack() as stack:
        _set_layer(low, cfg, stack, monkeypatch)
        assert cfg.get_with_source(KEY) == (LAYER_VALUES[low], low)
        _set_layer(high, cfg, stack, monkeypatch)
        assert cfg.get_with_source(KEY) == (LAYER_VALUES[high], high)
        assert cfg.get("connect_timeout") == LAYER_VALUES[high]


def test_layer_order_and_names() -> None:
    """Layers are listed highest first and show the upstream names."""
    assert [layer.value for layer in Layer] == [
        "TestOverride",
        "Env",
        "Runtime",
        "ClientOverride",
        "Default",
    ]


def test_configs_have_own_client_override_but_share_runtime() -> None:
    """Two Config objects keep separate ClientOverride layers yet see the same Runtime layer."""
    a = Config({"request_timeout": "7s"})
    b = Config()
    assert a.get_with_source(config.REQUEST_TIMEOUT) == (7.0, Layer.CLIENT_OVERRIDE)
    assert b.get_with_source(config.REQUEST_TIMEOUT) == (30.0, Layer.DEFAULT)
    assert config.GLOBAL.client_override() == {}
    with config.configured(request_timeout="9s"):
        assert a.get(config.REQUEST_TIMEOUT) == 9.0
        assert b.get(config.REQUEST_TIMEOUT) == 9.0
    assert a.client_override() == {"request_timeout": 7.0}


def test_configured_restores_previous_value_and_absence() -> None:
    """configured() restores an earlier Runtime value and removes keys that were absent."""
    config.configure(request_timeout=12)
    with config.configured(request_timeout="1m", connect_timeout="1s"):
        assert config.get(config.REQUEST_TIMEOUT) == 60.0
        assert config.get_with_source(KEY) == (1.0, Layer.RUNTIME)
    assert config.get_with_source(config.REQUEST_TIMEOUT) == (12.0, Layer.RUNTIME)
    assert config.get_with_source(KEY) == (5.0, Layer.DEFAULT)


def test_configured_restores_on_exception() -> None:
    """configured() restores Runtime values when its block raises."""
    with pytest.raises(RuntimeError, match="boom"), config.configured(connect_timeout=1):
        assert config.get(KEY) == 1.0
        raise RuntimeError("boom")
    assert config.get_with_source(KEY) == (5.0, Layer.DEFAULT)


def test_configured_nests() -> None:
    """Nested configured() blocks each restore what was there when they began."""
    with config.configured(connect_timeout=1):
        with config.configured(connect_timeout=2, request_timeout=3):
            assert (config.get(KEY), config.get(config.REQUEST_TIMEOUT)) == (2.0, 3.0)
        assert config.get(KEY) == 1.0
        assert config.get_with_source(config.REQUEST_TIMEOUT)[1] is Layer.DEFAULT
    assert config.get_with_source(KEY)[1] is Layer.DEFAULT


def test_test_override_restores() -> None:
    """test_override() beats Runtime inside its block and restores after it."""
    config.configure(connect_timeout=3)
    with config.test_override(connect_timeout="250ms"):
        assert config.get_with_source(KEY) == (0.25, Layer.TEST_OVERRIDE)
    assert config.get_with_source(KEY) == (3.0, Layer.RUNTIME)


def test_configured_validates_everything_first() -> None:
    """A bad value or unknown name in configured() changes nothing and is a ConfigError."""
    with pytest.raises(ConfigError, match=r"request_timeout.*'abc'"):  # noqa: SIM117
        with config.configured(connect_timeout=1, request_timeout="abc"):
            pass
    assert config.get_with_source(KEY)[1] is Layer.DEFAULT
    with pytest.raises(ConfigError, match=r"unknown config key 'nope'.*connect_timeout"):
        config.configure(connect_timeout=1, nope=3)
    assert config.get_with_source(KEY)[1] is Layer.DEFAULT
    with pytest.raises(ValueError, match="nope"):
        config.test_override(nope=1).__enter__()


def test_clear_runtime() -> None:
    """clear_runtime() empties the Runtime layer."""
    config.configure(connect_timeout=1, mesh_spawn_concurrency=3)
    config.clear_runtime()
    assert config.get_with_source(KEY)[1] is Layer.DEFAULT
    assert config.get(config.MESH_SPAWN_CONCURRENCY) == 16


def test_bad_env_raises_at_first_read_until_reloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad env value is reported at the first read, on every read, until reload_env."""
    monkeypatch.setenv("MESHTRIO_CONNECT_TIMEOUT", "soon")
    config.reload_env()  # lazy: does not read yet
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"MESHTRIO_CONNECT_TIMEOUT='soon'"):
            config.get(config.REQUEST_TIMEOUT)
    monkeypatch.setenv("MESHTRIO_CONNECT_TIMEOUT", "3s")
    with pytest.raises(ConfigError, match="soon"):
        config.dump()
    config.reload_env()
    assert config.get_with_source(KEY) == (3.0, Layer.ENV)


def test_bad_env_lists_every_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The env error names each bad variable and its value."""
    monkeypatch.setenv("MESHTRIO_MESH_TAIL_LOG_LINES", "-4")
    monkeypatch.setenv("MESHTRIO_MESH_BOOTSTRAP_ENABLE_PDEATHSIG", "maybe")
    config.reload_env()
    with pytest.raises(ConfigError) as info:
        config.get(KEY)
    message = str(info.value)
    assert "MESHTRIO_MESH_TAIL_LOG_LINES='-4'" in message
    assert "MESHTRIO_MESH_BOOTSTRAP_ENABLE_PDEATHSIG='maybe'" in message


def test_env_reads_only_known_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """MESHTRIO_TOKEN and other non-key MESHTRIO_ variables are ignored."""
    monkeypatch.setenv("MESHTRIO_TOKEN", "secret")
    monkeypatch.setenv("MESHTRIO_NOT_A_KEY", "???")
    monkeypatch.setenv("MESHTRIO_MESH_SPAWN_CONCURRENCY", " 4 ")
    config.reload_env()
    assert config.get_with_source(config.MESH_SPAWN_CONCURRENCY) == (4, Layer.ENV)
    assert "token" not in config.dump()


def test_reload_env_from_mapping() -> None:
    """reload_env(mapping) reads the given variables instead of os.environ."""
    config.reload_env({"MESHTRIO_REQUEST_TIMEOUT": "1h 30m"})
    assert config.get_with_source(config.REQUEST_TIMEOUT) == (5400.0, Layer.ENV)


GOOD_DURATIONS: list[tuple[Any, float]] = [
    ("500ms", 0.5),
    ("30s", 30.0),
    ("1m", 60.0),
    ("1h 30m", 5400.0),
    ("1h30m", 5400.0),
    ("1.5s", 1.5),
    ("2", 2.0),
    (" 2.5 ", 2.5),
    ("250us", 0.00025),
    ("1d", 86400.0),
    ("0s", 0.0),
    (2, 2.0),
    (2.5, 2.5),
    (0, 0.0),
]


@pytest.mark.parametrize(("value", "seconds"), GOOD_DURATIONS)
def test_duration_parsing(value: Any, seconds: float) -> None:
    """Durations accept humantime-like text, plain seconds and numbers, as float seconds."""
    assert KEY.coerce(value) == pytest.approx(seconds)
    assert isinstance(KEY.coerce(value), float)
    if isinstance(value, str):
        assert KEY.parse_text(value) == pytest.approx(seconds)


BAD_DURATIONS: list[Any] = [
    "abc",
    "-1s",
    "1x",
    "",
    "  ",
    "s",
    "1s x",
    "1..5s",
    "1e3s",
    -1,
    -0.5,
    math.nan,
    math.inf,
    True,
    None,
    [1],
]


@pytest.mark.parametrize("value", BAD_DURATIONS, ids=repr)
def test_bad_durations_rejected(value: Any) -> None:
    """Bad durations raise ConfigError naming the key, its env var and the value."""
    with pytest.raises(ConfigError) as info:
        KEY.coerce(value)
    message = str(info.value)
    assert "connect_timeout" in message
    assert "MESHTRIO_CONNECT_TIMEOUT" in message
    assert repr(value)[:20] in message


def test_negative_duration_message() -> None:
    """A negative duration is rejected as negative."""
    with pytest.raises(ConfigError, match="negative"):
        KEY.parse_text("-1s")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (60, "1m"), (5400, "1h 30m"), (0.5, "500ms"), (1.5, "1.5s"), (0, "0s"),
     (90.25, "1m 30.25s"), (0.0005, "0.5ms"), (7200, "2h")],
)  # fmt: skip
def test_duration_display(seconds: float, text: str) -> None:
    """Durations are displayed in humanised form."""
    assert KEY.display(seconds) == text


@given(st.integers(min_value=0, max_value=10**13))
def test_duration_display_round_trips(micros: int) -> None:
    """Displayed durations parse back to the same value (to the microsecond)."""
    seconds = micros / 1_000_000
    assert KEY.parse_text(KEY.display(seconds)) == pytest.approx(seconds, rel=1e-12, abs=1e-7)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (-5, 1), (1, 1), (17, 17), (256, 256), (257, 256), (10**9, 256), ("300", 256),
     (" 8 ", 8)],
)  # fmt: skip
def test_terminate_concurrency_is_clamped(value: Any, expected: int) -> None:
    """mesh_terminate_concurrency is clamped into 1..256."""
    assert config.MESH_TERMINATE_CONCURRENCY.coerce(value) == expected
    with config.configured(mesh_terminate_concurrency=value):
        assert config.get(config.MESH_TERMINATE_CONCURRENCY) == expected


@given(st.integers())
def test_clamped_ints_stay_in_range(value: int) -> None:
    """Any integer given to a clamped key ends up within its bounds."""
    assert 1 <= config.MESH_SPAWN_CONCURRENCY.coerce(value) <= 256
    assert 1024 <= config.MAX_MESSAGE_SIZE.coerce(value) <= 1 << 30


@pytest.mark.parametrize("value", [-1, "-3", "ten", 1.5, True, "", None])
def test_bad_ints_rejected(value: Any) -> None:
    """mesh_tail_log_lines rejects negatives and non-integers."""
    with pytest.raises(ConfigError, match="mesh_tail_log_lines"):
        config.MESH_TAIL_LOG_LINES.coerce(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (1, True), (0, False), ("1", True), ("0", False),
     ("TRUE", True), ("false", False), ("Yes", True), ("no", False)],
)  # fmt: skip
def test_bool_parsing(value: Any, expected: bool) -> None:
    """Bools accept bool, 0/1 and true/false/yes/no text in any case."""
    assert config.MESH_BOOTSTRAP_ENABLE_PDEATHSIG.coerce(value) is expected


@pytest.mark.parametrize("value", ["maybe", "", 2, 1.0, None])
def test_bad_bools_rejected(value: Any) -> None:
    """Other bool values raise ConfigError."""
    with pytest.raises(ConfigError, match="mesh_bootstrap_enable_pdeathsig"):
        config.MESH_BOOTSTRAP_ENABLE_PDEATHSIG.coerce(value)


def test_optional_duration_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """mesh_orphan_timeout accepts None (or empty text) as disabled, in every layer."""
    key = config.MESH_ORPHAN_TIMEOUT
    assert config.get(key) == 60.0
    assert key.coerce("") is None
    assert key.coerce(None) is None
    assert key.to_wire(None) is None
    assert key.display(None) == "none"
    assert key.parse_text(key.display(None)) is None
    with config.configured(mesh_orphan_timeout=None):
        assert config.get_with_source(key) == (None, Layer.RUNTIME)
    monkeypatch.setenv(key.env_var, "")
    config.reload_env()
    assert config.get_with_source(key) == (None, Layer.ENV)
    with pytest.raises(ConfigError):
        KEY.coerce(None)


def test_propagatable_has_effective_values_of_propagate_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """propagatable() holds wire values of every propagate key's effective value, only those."""
    local: Key[str] = Key("local_only", "x", Kind.STR, "A process-local test key.", propagate=False)
    monkeypatch.setitem(_config._REGISTRY, local.name, local)
    monkeypatch.setenv("MESHTRIO_REQUEST_TIMEOUT", "2m")
    config.reload_env()
    with config.test_override(connect_timeout="100ms"):
        snap = config.propagatable()
    assert set(snap) == {name for name, key in config.KEYS.items() if key.propagate}
    assert "local_only" not in snap
    assert snap["connect_timeout"] == 0.1
    assert snap["request_timeout"] == 120.0
    assert snap["mesh_terminate_concurrency"] == 16
    assert snap["mesh_bootstrap_enable_pdeathsig"] is True
    assert all(isinstance(v, float | int | bool | str | type(None)) for v in snap.values())
    peer = Config(snap)
    assert peer.get_with_source(KEY) == (0.1, Layer.CLIENT_OVERRIDE)


def test_dump_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """dump() lists every key with its effective value and the name of its layer."""
    monkeypatch.setenv("MESHTRIO_MAX_MESSAGE_SIZE", "2048")
    config.reload_env()
    cfg = Config({"proc_stop_max_idle": 4})
    config.configure(request_timeout=1)
    with config.test_override(connect_timeout=2):
        out = cfg.dump()
    assert set(out) == set(config.KEYS)
    assert out["connect_timeout"] == (2.0, "TestOverride")
    assert out["max_message_size"] == (2048, "Env")
    assert out["request_timeout"] == (1.0, "Runtime")
    assert out["proc_stop_max_idle"] == (4.0, "ClientOverride")
    assert out["mesh_spawn_concurrency"] == (16, "Default")


def test_set_client_override_is_atomic_and_ignores_unknown() -> None:
    """A bad snapshot changes nothing; unknown names are ignored; a good one replaces all."""
    cfg = Config({"request_timeout": 3})
    with pytest.raises(ConfigError, match=r"connect_timeout.*'-1s'"):
        cfg.set_client_override({"request_timeout": 4, "connect_timeout": "-1s"})
    assert cfg.client_override() == {"request_timeout": 3.0}
    cfg.set_client_override({"connect_timeout": "2s", "from_the_future": object()})
    assert cfg.client_override() == {"connect_timeout": 2.0}
    with pytest.raises(ConfigError, match="mapping"):
        cfg.set_client_override([("connect_timeout", 1)])  # type: ignore[arg-type]


def test_unknown_key_name_in_get() -> None:
    """Reading an unknown key name is a ConfigError listing the valid names."""
    with pytest.raises(ConfigError, match=r"unknown config key 'nope'.*request_timeout"):
        config.get("nope")


def test_registry_and_env_names() -> None:
    """Every key is registered under its name, and its env var is MESHTRIO_<NAME>."""
    expected = {
        "proc_spawn_max_idle": 30.0,
        "proc_stop_max_idle": 30.0,
        "get_proc_state_max_idle": 60.0,
        "mesh_attach_config_timeout": 10.0,
        "mesh_terminate_timeout": 10.0,
        "mesh_terminate_concurrency": 16,
        "mesh_tail_log_lines": 100,
        "proc_log_rate": 1000,
        "host_spawn_ready_timeout": 30.0,
        "mesh_orphan_timeout": 60.0,
        "host_orphan_timeout": None,
        "max_message_size": 4 * 1024 * 1024,
        "connect_timeout": 5.0,
        "request_timeout": 30.0,
        "process_exit_timeout": 10.0,
        "mesh_bootstrap_enable_pdeathsig": True,
        "host_fork_server": True,
        "proc_preload": "",
        "mesh_spawn_concurrency": 16,
        "actor_mailbox_capacity": 1024,
        "actor_mailbox_bytes": 64 << 20,
        "actor_cancel_ack_timeout": 1.0,
        "actor_death_report_timeout": 0.5,
        "tcp_user_timeout": 30.0,
        "tls_ca": "",
        "tls_cert": "",
        "tls_key": "",
    }
    assert {name: key.default for name, key in config.KEYS.items()} == expected
    for name, key in config.KEYS.items():
        assert getattr(config, name.upper()) is key
        assert key.env_var == "MESHTRIO_" + name.upper()
        assert key.doc


def test_key_rejects_bad_declarations() -> None:
    """A key with a bad name or an invalid default cannot be declared."""
    with pytest.raises(ConfigError, match="Bad"):
        Key("Bad", 1, Kind.INT, "doc")
    with pytest.raises(ConfigError, match="default"):
        Key("neg", -1.0, Kind.DURATION, "doc")


def test_duration_int_too_big_for_a_float_is_config_error() -> None:
    """A duration given as an int too big for a float is a ConfigError, not an OverflowError."""
    with pytest.raises(ConfigError, match="finite"), config.configured(connect_timeout=10**400):
        pass


def test_propagatable_follows_every_layer_change_although_cached() -> None:
    """propagatable() is cached, yet reflects each change of any layer at once, and callers
    may mutate what it returns without affecting the next call."""
    key = "proc_spawn_max_idle"
    view = config.Config()
    first = view.propagatable()
    first[key] = "mutated by the caller"
    assert view.propagatable()[key] == 30.0
    with config.configured(proc_spawn_max_idle="5s"):
        assert view.propagatable()[key] == 5.0
        with config.test_override(proc_spawn_max_idle="7s"):
            assert view.propagatable()[key] == 7.0
        assert view.propagatable()[key] == 5.0
    assert view.propagatable()[key] == 30.0
    view.set_client_override({key: 9})
    assert view.propagatable()[key] == 9.0
    config.reload_env({"MESHTRIO_PROC_SPAWN_MAX_IDLE": "11s"})
    assert view.propagatable()[key] == 11.0
    config.reload_env({})
    config.configure(proc_spawn_max_idle=3)
    assert view.propagatable()[key] == 3.0
    config.clear_runtime()
    assert view.propagatable()[key] == 9.0


# -- CF-1: usable ranges; CF-2: bounded snapshots (issue 8) ----------------------------------------
def test_cf1_every_key_has_a_range_its_users_can_take() -> None:
    """CF-1: every int key has a minimum and a maximum, every duration key at most
    DURATION_MAX, and each maximum is itself accepted and displays as text that reads back."""
    for key in config.KEYS.values():
        if key.kind is Kind.INT:
            assert key.minimum is not None, key.name
            assert key.maximum is not None, key.name
            assert key.coerce(int(key.maximum)) == key.maximum
        elif key.kind in (Kind.DURATION, Kind.OPTIONAL_DURATION):
            assert key.maximum == config.DURATION_MAX, key.name
            assert key.parse_text(key.display(config.DURATION_MAX)) == config.DURATION_MAX


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mesh_tail_log_lines", 2**63),
        ("mesh_tail_log_lines", config.MAX_TAIL_LOG_LINES + 1),
        ("request_timeout", config.DURATION_MAX * 2),
        ("mesh_orphan_timeout", "1000d"),
        ("connect_timeout", 1e300),
    ],
)
def test_cf1_out_of_range_values_are_refused_where_they_enter(
    name: str, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CF-1 (issue 8, defect 1): a value the runtime cannot take (2**63 stderr lines used to
    crash the host agent's launcher) is a ConfigError in configured(), in the environment
    (naming the variable) and in a pushed snapshot, not an error later in the code using it."""
    with pytest.raises(ConfigError, match=name), config.configured(**{name: value}):
        pass
    with pytest.raises(ConfigError, match=name):
        Config({name: value})
    monkeypatch.setenv(config.resolve(name).env_var, str(value))
    config.reload_env()
    with pytest.raises(ConfigError, match=config.resolve(name).env_var):
        config.get(name)


def test_cf1_integer_text_longer_than_pythons_digit_limit_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CF-1 (issue 8, defect 6): integer text of thousands of digits is a ConfigError naming
    the key (it used to be Python's bare int-digit-limit ValueError), also from the
    environment, where the error names the variable; a huge int value is described, not
    printed (its repr would raise too)."""
    key = config.MESH_SPAWN_CONCURRENCY
    with pytest.raises(ConfigError, match=r"mesh_spawn_concurrency.*digits"):
        key.coerce("9" * 5000)
    with pytest.raises(ConfigError, match=r"mesh_tail_log_lines.*int of \d+ bits"):
        config.MESH_TAIL_LOG_LINES.coerce(10**5000)
    monkeypatch.setenv("MESHTRIO_MESH_TAIL_LOG_LINES", "9" * 4301)
    config.reload_env()
    with pytest.raises(ConfigError, match="MESHTRIO_MESH_TAIL_LOG_LINES"):
        config.get(config.REQUEST_TIMEOUT)  # every read says so, whichever key


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("snapshot", "match"),
    [
        ({"from_the_future": nested(500)}, r"from_the_future.*list"),
        ({"k": {"a": 1}}, "got dict"),
        ({f"k{i}": 1 for i in range(config.MAX_SNAPSHOT_KEYS + 1)}, "at most"),
        ({"x" * (config.MAX_NAME_CHARS + 1): 1}, "names are text"),
        ({"k": "x" * (config.MAX_SNAPSHOT_TEXT + 1)}, "longer than"),
        ({"k": 2**65}, "out of range"),
        ({1: 1}, "names are text"),
        ([("k", 1)], "mapping"),
    ],
    ids=["deep", "dict", "many", "long-name", "long-text", "big-int", "int-name", "list"],
)
def test_cf2_snapshots_from_peers_are_bounded(snapshot: Any, match: str) -> None:
    """CF-2 (issue 8, defect 2): a snapshot's values are small scalars: a list nested 500 deep
    (which used to crash the agent when it encoded a proc's bootstrap payload) is refused,
    as are too many or too long names and values."""
    with pytest.raises(ConfigError, match=match):
        config.check_snapshot(snapshot)


def test_cf2_a_deep_snapshot_is_refused_when_its_message_is_decoded() -> None:
    """CF-2: the check runs at decode: a SpawnProcs whose config holds a deeply nested value
    is a MessageBodyError (answered, the connection kept) naming the problem."""
    import msgpack

    from meshtrio._wire import decode
    from meshtrio.errors import MessageBodyError

    body = {
        "proc_mesh_id": "m",
        "host_mesh_id": "h",
        "host_rank": 0,
        "num_per_host": 1,
        "config": {"from_the_future": nested(500)},
        "commands": [None],
    }
    raw = msgpack.packb([0, 7, "SpawnProcs", body], use_bin_type=True)
    with pytest.raises(MessageBodyError, match=r"ConfigError.*from_the_future") as info:
        decode(raw)
    assert info.value.corr == 7


def test_cf2_unknown_keys_are_split_off() -> None:
    """CF-2: split_known keeps the keys this version knows and names the others, sorted."""
    known, unknown = config.split_known({"request_timeout": 1.0, "zz": 1, "aa": None})
    assert known == {"request_timeout": 1.0}
    assert unknown == ["aa", "zz"]
