"""The house stays drawn: every meshtrio module imports only from its own layer or below.

Layers, bottom to top (as ``meshtrio/__init__.py`` and design.md draw them): values, config,
wire and transport, agents, meshes, entry points. The test reads each module's imports with
:mod:`ast` (runtime and ``TYPE_CHECKING`` imports alike), so an upward import fails here
before it can become a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "meshtrio"

LAYERS: dict[str, int] = {
    # 1. values
    "meshtrio._util": 1,
    "meshtrio._errors": 1,
    "meshtrio.errors": 1,
    "meshtrio._slicing": 1,
    "meshtrio._ids": 1,
    "meshtrio._addr": 1,
    "meshtrio._status": 1,
    "meshtrio._bootstrap": 1,
    "meshtrio._host_ref": 1,
    "meshtrio._actor_class": 1,
    "meshtrio._stack_records": 1,
    "meshtrio._tls": 1,
    "meshtrio._host_set": 1,
    "meshtrio._admin_refs": 1,
    "meshtrio._admin_openapi": 1,
    # 2. config
    "meshtrio._config_values": 2,
    "meshtrio._config": 2,
    "meshtrio.config": 2,
    # 3. wire and transport
    "meshtrio._wire": 3,
    "meshtrio._messages": 3,
    "meshtrio._contract": 3,
    "meshtrio._transport": 3,
    "meshtrio._pool": 3,
    "meshtrio._payload": 3,
    "meshtrio._actor_messages": 3,
    # 4. agents
    "meshtrio._host": 4,
    "meshtrio._proc": 4,
    "meshtrio._rendezvous": 4,
    # 5. meshes
    "meshtrio._actor_mesh": 5,
    "meshtrio._supervision": 5,
    "meshtrio._blocks": 5,
    "meshtrio._records": 5,
    "meshtrio._host_mesh": 5,
    "meshtrio._proc_mesh": 5,
    "meshtrio._local_mesh": 5,
    "meshtrio._stacks": 5,
    "meshtrio._admin_nodes": 5,
    "meshtrio._admin_model": 5,
    "meshtrio._admin": 5,
    "meshtrio._admin_http": 5,
    # 6. entry points
    "meshtrio._demo": 6,
    "meshtrio._stacks_cli": 6,
    "meshtrio._top": 6,
    "meshtrio.testing": 6,
    "meshtrio.__main__": 6,
    "meshtrio._zygote": 6,
    "meshtrio": 6,
}


def layer_of(module: str) -> int:
    """The layer of ``module`` (a dotted name), by its longest listed prefix."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        found = LAYERS.get(".".join(parts[:n]))
        if found is not None:
            return found
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, module: str) -> set[str]:
    """The meshtrio modules a module imports (``from meshtrio import x`` counts as
    ``meshtrio.x`` when ``x`` is a module)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("meshtrio"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("meshtrio"):
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(
                    ".py"
                ).exists() or (PACKAGE.parent / candidate.replace(".", "/")).is_dir()
                out.add(candidate if is_module else node.module)
    out.discard(module)
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    """A new module must be given a layer (so the test below checks it)."""
    for path in MODULES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down(path: Path) -> None:
    """A module imports nothing from a layer above its own."""
    module = module_name(path)
    mine = layer_of(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    upward = sorted(m for m in imported(tree, module) if layer_of(m) > mine)
    assert not upward, f"{module} (layer {mine}) imports from above: {upward}"
