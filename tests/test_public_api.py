"""The public surface: ``meshtrio.__all__`` is sorted and complete; errors keep their contract."""

from __future__ import annotations
import __future__

import inspect
import pickle
import subprocess
import sys
import types

import pytest

import meshtrio
import meshtrio._errors as _errors
import meshtrio.config
import meshtrio.errors as errors
import meshtrio.testing

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
    """Every public name bound in ``meshtrio`` is listed in ``__all__``, and vice versa (once
    each lazily loaded name was used, LZ-1)."""
    for name in meshtrio.__all__:
        getattr(meshtrio, name)
    assert set(meshtrio.__all__) <= set(dir(meshtrio))
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


# -- every public name: exported, documented, typed, and saying where it is public ----------
NAMESPACES = [meshtrio, errors, meshtrio.config, meshtrio.testing]


def _namespace_ids() -> list[str]:
    return [ns.__name__ for ns in NAMESPACES]


def _own_objects(ns: types.ModuleType) -> dict[str, object]:
    """The classes and functions bound in ``ns`` under public names that meshtrio defines."""
    return {
        name: value
        for name, value in vars(ns).items()
        if not name.startswith("_")
        and isinstance(value, type | types.FunctionType)
        and value.__module__.startswith("meshtrio")
    }


def _public_members(cls: type) -> dict[str, object]:
    """The public methods and properties ``cls`` or a meshtrio base class defines."""
    members: dict[str, object] = {}
    for base in reversed(cls.__mro__):
        if base.__module__.startswith("meshtrio"):
            for name, value in vars(base).items():
                if not name.startswith("_") or name == "__init__":
                    members[name] = value
    return members


def _missing_annotations(fn: object, *, method: bool) -> list[str]:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = list(sig.parameters.values())
    if method and params and params[0].name in ("self", "cls"):
        params = params[1:]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


@pytest.mark.parametrize("ns", NAMESPACES, ids=_namespace_ids())
def test_namespace_all_is_importable(ns: types.ModuleType) -> None:
    """Each public namespace's ``__all__`` has no duplicates, and every name in it imports."""
    assert len(ns.__all__) == len(set(ns.__all__))
    for name in ns.__all__:
        exec(f"from {ns.__name__} import {name}", {})


@pytest.mark.parametrize("ns", NAMESPACES, ids=_namespace_ids())
def test_namespace_exports_every_public_object(ns: types.ModuleType) -> None:
    """Every class or function a public namespace binds under a public name is in its
    ``__all__``, unless it is another public namespace's export used there; so is every
    public constant."""
    for name, value in _own_objects(ns).items():
        if value.__module__ == ns.__name__ or value.__module__.startswith("meshtrio._"):  # type: ignore[union-attr]
            assert name in ns.__all__, f"{ns.__name__}.{name} is public but not in __all__"
    constants = {
        name
        for name, value in vars(ns).items()
        if not name.startswith("_")
        and not isinstance(value, type | types.FunctionType | types.ModuleType)
        and value is not __future__.annotations  # the `from __future__` import
    }
    assert constants <= set(ns.__all__), sorted(constants - set(ns.__all__))


@pytest.mark.parametrize("ns", NAMESPACES, ids=_namespace_ids())
def test_namespace_hides_no_private_object(ns: types.ModuleType) -> None:
    """No public namespace binds an object of a private module under a private name (the
    private submodules of the package itself aside)."""
    for name, value in vars(ns).items():
        if not name.startswith("_") or name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            assert value.__name__ == f"{ns.__name__}.{name}", f"{ns.__name__}.{name}"
            continue
        home = getattr(value, "__module__", None)
        assert not (isinstance(home, str) and home.startswith("meshtrio._")), (
            f"{ns.__name__}.{name} exposes {home}.{getattr(value, '__qualname__', name)}"
        )


@pytest.mark.parametrize("ns", NAMESPACES, ids=_namespace_ids())
def test_public_names_say_their_namespace(ns: types.ModuleType) -> None:
    """Every class and function in ``__all__`` has ``__module__`` set to a public namespace:
    its own, or ``meshtrio.errors`` for the errors ``meshtrio`` also exports."""
    for name in ns.__all__:
        value = getattr(ns, name)
        if not isinstance(value, type | types.FunctionType):
            continue
        expected = errors.__name__ if name in errors.__all__ else ns.__name__
        assert value.__module__ == expected, f"{ns.__name__}.{name}: {value.__module__}"
        assert value.__qualname__ == name, f"{ns.__name__}.{name}: {value.__qualname__}"


@pytest.mark.parametrize("ns", NAMESPACES, ids=_namespace_ids())
def test_public_names_are_documented(ns: types.ModuleType) -> None:
    """Every class and function in ``__all__``, and every public method and property of
    those classes, has a docstring of its own."""
    undocumented: list[str] = []
    for name in ns.__all__:
        value = getattr(ns, name)
        if not isinstance(value, type | types.FunctionType):
            continue
        if not (value.__doc__ or "").strip():
            undocumented.append(name)
        if isinstance(value, type):
            for attr, member in _public_members(value).items():
                doc = getattr(member, "__doc__", None)
                if attr == "__init__" or (
                    not callable(member) and not isinstance(member, property)
                ):
                    continue
                if not (doc or "").strip():
                    undocumented.append(f"{name}.{attr}")
    assert not undocumented, f"{ns.__name__}: no docstring on {undocumented}"


@pytest.mark.parametrize("ns", NAMESPACES, ids=_namespace_ids())
def test_public_names_are_typed(ns: types.ModuleType) -> None:
    """Every public function, and every public method (``__init__`` included) and property of
    a public class, annotates each parameter and its return."""
    untyped: list[str] = []
    for name in ns.__all__:
        value = getattr(ns, name)
        if isinstance(value, types.FunctionType):
            untyped += [f"{name}({p})" for p in _missing_annotations(value, method=False)]
        if not isinstance(value, type):
            continue
        for attr, member in _public_members(value).items():
            if isinstance(member, property):
                fn: object = member.fget
            elif isinstance(member, staticmethod | classmethod):
                fn = member.__func__
            elif isinstance(member, types.FunctionType):
                fn = member
            else:
                continue
            if inspect.isfunction(fn):
                missing = _missing_annotations(fn, method=not isinstance(member, staticmethod))
                untyped += [f"{name}.{attr}({p})" for p in missing]
    assert not untyped, f"{ns.__name__}: missing annotations on {untyped}"


def test_every_mesh_error_is_exported() -> None:
    """Every ``MeshError`` subclass defined in ``meshtrio._errors`` is exported from
    ``meshtrio.errors`` and from ``meshtrio``, and so is every other public name there."""
    defined = {
        name
        for name, value in vars(_errors).items()
        if inspect.isclass(value) and issubclass(value, errors.MeshError)
    }
    assert defined
    assert defined <= set(errors.__all__), sorted(defined - set(errors.__all__))
    assert set(_errors.__all__) == set(errors.__all__)
    assert set(errors.__all__) <= set(meshtrio.__all__), sorted(
        set(errors.__all__) - set(meshtrio.__all__)
    )


def test_every_error_and_value_pickles_by_its_public_name() -> None:
    """Pickle finds every exported class under ``__module__.__qualname__``: each public class
    pickles by reference to itself."""
    for ns in NAMESPACES:
        for name in ns.__all__:
            value = getattr(ns, name)
            if isinstance(value, type):
                assert pickle.loads(pickle.dumps(value)) is value, f"{ns.__name__}.{name}"


def test_reprs_name_the_public_type() -> None:
    """attrs-generated reprs still work on the moved classes, and exception reprs and
    tracebacks name the public namespace."""
    assert repr(meshtrio.Label("a")).startswith("Label(")
    assert repr(errors.HostFailure("local:1", "refused", "no")).startswith("HostFailure(")
    assert str(errors.MeshClosedError) == "<class 'meshtrio.errors.MeshClosedError'>"
    assert str(meshtrio.Extent) == "<class 'meshtrio.Extent'>"


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stdout.split())


def test_lz1_import_meshtrio_loads_no_implementation_module() -> None:
    """LZ-1: ``import meshtrio`` loads no meshtrio module; using a name loads its own."""
    loaded = _modules_after("import meshtrio")
    assert {m for m in loaded if m.startswith("meshtrio")} == {"meshtrio"}
    loaded = _modules_after("from meshtrio import Extent")
    assert "meshtrio._slicing" in loaded
    assert "meshtrio._host.agent" not in loaded


def test_lz1_proc_entry_loads_no_host_or_mesh_module() -> None:
    """LZ-1: what ``python -m meshtrio proc`` imports (its entry and the proc runtime) holds
    neither the host agent nor the mesh layer."""
    loaded = _modules_after(
        "import meshtrio.__main__, meshtrio._proc.runtime, meshtrio._proc.stacks"
    )
    assert "meshtrio._proc.runtime" in loaded
    heavy = {
        "meshtrio._host.agent",
        "meshtrio._host_mesh",
        "meshtrio._proc_mesh",
        "meshtrio._actor_mesh",
    }
    assert not loaded & heavy, loaded & heavy
