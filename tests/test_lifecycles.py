"""Explicit lifecycles: states are enums equal to their text, the body-exception helper, the
proc mesh's narrow view of its host mesh (no import cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import trio

import meshtrio
from meshtrio._blocks import Captured
from meshtrio._host.agent import HostState

PACKAGE = Path(meshtrio.__file__).parent


def test_states_are_enums_equal_to_their_text() -> None:
    assert [s.value for s in meshtrio.MeshState] == ["live", "stopped", "shut_down"]
    assert [s.value for s in HostState] == ["serving", "draining", "shutting_down"]
    assert meshtrio.MeshState.SHUT_DOWN == "shut_down"
    assert f"{meshtrio.MeshState.LIVE}" == str(meshtrio.MeshState.LIVE) == "live"


def test_proc_mesh_does_not_import_host_mesh() -> None:
    tree = ast.parse((PACKAGE / "_proc_mesh.py").read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {n for n in names if n and n.startswith(("meshtrio._host_mesh", "meshtrio._local"))}


async def test_captured_reraises_the_body_exception_outside_the_nursery() -> None:
    captured = Captured()
    with pytest.raises(KeyError) as info:
        async with trio.open_nursery() as nursery:
            with captured:
                raise KeyError("body")
            assert not captured.cancelled
            nursery.cancel_scope.cancel()
        captured.reraise()
    assert info.value is captured.exc


async def test_captured_sees_a_cancellation() -> None:
    captured = Captured()
    with trio.CancelScope() as scope:
        scope.cancel()
        with captured:
            await trio.sleep(1)
        assert captured.cancelled
        captured.reraise()
    assert scope.cancelled_caught
