"""The public surface: ``meshtrio.__all__`` is sorted and complete; errors keep their contract."""

from __future__ import annotations

import inspect
import pickle
import types

import meshtrio
import meshtrio.errors as errors

DESIGN_NAMES = {
    "Extent",
    "Region",
    "Point",
    "ValueMesh",
    "Label",
    "HostMeshId",
    "ProcMeshId",
    "ChannelAddr",
    "Status",
    "BootstrapCommand",
    "HostRef",
    "HostMeshRef",
    "HostMesh",
    "ProcMesh",
    "open_host_mesh_in_process",
    "open_host_mesh_processes",
    "attach",
    "MeshError",
    "ConfigPushError",
    "ProcCreationError",
    "ProcSpawnError",
    "ProcMeshStopError",
    "RegionParseError",
    "HostMeshRefParseError",
    "config",
}


def test_all_is_sorted() -> None:
    """``meshtrio.__all__`` is in sorted order with no duplicates."""
    assert list(meshtrio.__all__) == sorted(set(meshtrio.__all__))


def test_all_names_every_public_object() -> None:
    """Every public name bound in ``meshtrio`` is listed in ``__all__``, and vice versa."""
    public = {
        name
        for name, value in vars(meshtrio).items()
        if not name.startswith("_")
        and (not isinstance(value, types.ModuleType) or name == "config")
    }
    assert public == set(meshtrio.__all__)


def test_design_contract_names_are_exported() -> None:
    """Every public name that design.md promises is importable from ``meshtrio``."""
    missing = DESIGN_NAMES - set(meshtrio.__all__)
    assert not missing, missing


def _error_classes() -> list[type[errors.MeshError]]:
    return [
        obj
        for name in errors.__all__
        if inspect.isclass(obj := getattr(errors, name)) and issubclass(obj, BaseException)
    ]


def test_every_error_is_a_mesh_error() -> None:
    """Every exception class in ``meshtrio.errors`` derives from ``MeshError``."""
    for cls in _error_classes():
        assert issubclass(cls, errors.MeshError), cls


def test_input_errors_subclass_builtins() -> None:
    """Errors bad input can cause also subclass the nearest builtin."""
    assert issubclass(errors.InputError, ValueError)
    assert issubclass(errors.DimensionError, KeyError)
    assert issubclass(errors.RankIndexError, IndexError)
    assert issubclass(errors.RequestTimeoutError, TimeoutError)
    assert issubclass(errors.ProcSpawnError, TimeoutError)
    assert issubclass(errors.TransportError, ConnectionError)
    assert issubclass(errors.MeshClosedError, RuntimeError)


def test_key_error_message_is_not_quoted() -> None:
    """A ``KeyError``-derived mesh error prints its message as is, without repr quotes."""
    assert str(errors.DimensionError("no dimension 'x'")) == "no dimension 'x'"


def test_errors_pickle() -> None:
    """Errors survive pickling with their message and structured fields."""
    failure = errors.HostFailure("tcp:127.0.0.1:1", "refused", "connection refused")
    samples: list[errors.MeshError] = [
        errors.RegionParseError("bad token at 3", text="a=1", position=3),
        errors.PointParseError("bad token at 2", text="x=a/2", position=2),
        errors.ConfigPushError([failure]),
        errors.ShutdownError([failure]),
        errors.ProcSpawnError("timed out", statuses=[meshtrio.Status.RUNNING]),
        errors.RequestTimeoutError("slow", address="local:1", timeout=1.5),
        errors.DimensionError("no such dimension"),
    ]
    for err in samples:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert str(back) == str(err)
        assert vars(back) == vars(err)


def test_config_push_error_lists_every_host() -> None:
    """HM-4: the config push error's message names every failing host with its cause."""
    fails = [
        errors.HostFailure("tcp:127.0.0.1:1", "refused", "connection refused"),
        errors.HostFailure("tcp:127.0.0.1:2", "timeout", "no answer"),
    ]
    text = str(errors.ConfigPushError(fails))
    assert "2 host(s)" in text
    assert "tcp:127.0.0.1:1: refused" in text
    assert "tcp:127.0.0.1:2: timeout" in text
