"""Tests for meshtrio._bootstrap: the BootstrapCommand value."""

from __future__ import annotations

import pathlib
import pickle
import sys

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from id_strategies import bootstrap_commands

from meshtrio import BootstrapCommand
from meshtrio._bootstrap import FrozenEnv
from meshtrio.errors import InputError

CONVERTER = cattrs.Converter()


def test_default_runs_this_interpreter() -> None:
    """default() runs sys.executable with '-m meshtrio proc' and no extra env."""
    cmd = BootstrapCommand.default()
    assert cmd.program == sys.executable
    assert cmd.args == ("-m", "meshtrio", "proc")
    assert dict(cmd.env) == {}
    assert cmd.argv() == [sys.executable, "-m", "meshtrio", "proc"]


def test_argv_uses_arg0_when_given() -> None:
    """argv() starts with arg0 when set, with program otherwise."""
    assert BootstrapCommand("/bin/python3", ["-c", "x"], arg0="py").argv() == ["py", "-c", "x"]
    assert BootstrapCommand("/bin/python3", ["-c"]).argv() == ["/bin/python3", "-c"]
    assert BootstrapCommand("/bin/x", arg0="").argv() == [""]


def test_fields_are_normalised() -> None:
    """args become a tuple, env an immutable mapping, and a PathLike program a str."""
    cmd = BootstrapCommand(pathlib.Path("/bin/x"), ["a"], {"K": "v"})
    assert cmd.program == "/bin/x"
    assert cmd.args == ("a",)
    assert isinstance(cmd.env, FrozenEnv)
    with pytest.raises(TypeError):
        cmd.env["K"] = "w"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cmd.program = "y"  # type: ignore[misc]


def test_equality_and_hash_ignore_env_order() -> None:
    """Two commands whose env differ only in insertion order are equal and hash equal."""
    a = BootstrapCommand("x", env={"A": "1", "B": "2"})
    b = BootstrapCommand("x", env={"B": "2", "A": "1"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != BootstrapCommand("x", env={"A": "1"})
    assert a.env == {"A": "1", "B": "2"}


def test_with_env_merges() -> None:
    """with_env adds and overrides entries without changing the original."""
    base = BootstrapCommand("x", env={"A": "1", "B": "2"})
    cmd = base.with_env(B="3", C="4")
    assert dict(cmd.env) == {"A": "1", "B": "3", "C": "4"}
    assert dict(base.env) == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"program": ""}, "program is empty"),
        ({"program": 5}, "program must be a str"),
        ({"program": "x\0"}, "contains NUL"),
        ({"program": "x", "args": "abc"}, "args must be a sequence of str"),
        ({"program": "x", "args": 5}, "args must be a sequence"),
        ({"program": "x", "args": {"a": "b"}}, "args must be a sequence"),
        ({"program": "x", "args": False}, "args must be a sequence"),
        ({"program": "x", "args": ["a", 1]}, "args[1] must be a str"),
        ({"program": "x", "env": {"A": 1}}, "env value of 'A' must be a str"),
        ({"program": "x", "env": {1: "a"}}, "env key must be a str"),
        ({"program": "x", "env": {"": "a"}}, "non-empty"),
        ({"program": "x", "env": {"A=B": "a"}}, "without '='"),
        ({"program": "x", "env": "A=B"}, "env must be a mapping"),
        ({"program": "x", "env": [("A",)]}, "not a (key, value) pair"),
        ({"program": "x", "arg0": 3}, "arg0 must be a str"),
    ],
)
def test_validation_errors(kwargs: dict[str, object], fragment: str) -> None:
    """Bad program, args, env or arg0 raise InputError with a message naming the field."""
    with pytest.raises(InputError) as info:
        BootstrapCommand(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@given(bootstrap_commands())
def test_wire_round_trip(cmd: BootstrapCommand) -> None:
    """from_wire(to_wire()) rebuilds an equal command from plain str/list/dict data."""
    wire = cmd.to_wire()
    assert type(wire["args"]) is list
    assert type(wire["env"]) is dict
    assert BootstrapCommand.from_wire(wire) == cmd


@given(bootstrap_commands())
def test_cattrs_and_pickle_round_trip(cmd: BootstrapCommand) -> None:
    """A plain cattrs converter and pickle both round-trip the command."""
    conv = CONVERTER
    data = conv.unstructure(cmd)
    assert isinstance(data["env"], dict)
    assert conv.structure(data, BootstrapCommand) == cmd
    assert pickle.loads(pickle.dumps(cmd)) == cmd


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "must be a dict"),
        ({}, "no 'program'"),
        ({"program": "x", "cwd": "/"}, "unknown keys: ['cwd']"),
        ({"program": "x", "env": ["A"]}, "env must be a dict"),
        ({"program": "x", "args": [None]}, "args[0] must be a str"),
    ],
)
def test_from_wire_errors(data: object, fragment: str) -> None:
    """Malformed wire data raises InputError naming the problem."""
    with pytest.raises(InputError) as info:
        BootstrapCommand.from_wire(data)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_from_wire_defaults() -> None:
    """Wire data with only a program gets empty args, empty env and no arg0."""
    cmd = BootstrapCommand.from_wire({"program": "x"})
    assert cmd == BootstrapCommand("x")
    assert cmd.arg0 is None


def test_frozen_env_mapping_behaviour() -> None:
    """FrozenEnv reads like a dict, compares with plain mappings and rejects mutation."""
    env = FrozenEnv({"B": "2", "A": "1"})
    assert list(env) == ["A", "B"]
    assert env["A"] == "1"
    assert len(env) == 2
    assert env == {"A": "1", "B": "2"}
    with pytest.raises(KeyError):
        env["C"]
    with pytest.raises(AttributeError):
        env.x = 1


_JUNK = st.none() | st.text(max_size=5) | st.integers() | st.booleans()
_WIRE_VALUES = _JUNK | st.lists(_JUNK, max_size=3) | st.dictionaries(_JUNK, _JUNK, max_size=3)


@given(
    st.dictionaries(
        st.sampled_from(["program", "args", "env", "arg0"]) | st.text(max_size=5),
        _WIRE_VALUES,
        max_size=5,
    )
)
def test_from_wire_on_junk_only_raises_inputerror(data: dict[str, object]) -> None:
    """from_wire on arbitrary JSON-like data returns a command or raises InputError."""
    try:
        cmd = BootstrapCommand.from_wire(data)
    except InputError:
        return
    assert BootstrapCommand.from_wire(cmd.to_wire()) == cmd
