"""Tests for meshtrio._contract: the process contract both sides import (PC-1..PC-3)."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import attrs
import msgpack
import pytest

from meshtrio import _contract as contract
from meshtrio._addr import ChannelAddr
from meshtrio._contract import ProcBootstrap, check_proc_bind, stop_bound
from meshtrio._ids import ProcId, ProcMeshId
from meshtrio._tls import ServerTLS
from meshtrio._wire import converter
from meshtrio.errors import InputError, SpawnConfigurationError

PACKAGE = Path(contract.__file__).parent

BOOT = ProcBootstrap(
    proc_id=ProcId.singleton("pm-0"),
    host_addr=ChannelAddr.parse("unix:@h"),
    create_rank=3,
    proc_mesh_id=ProcMeshId.singleton("pm"),
    config={"request_timeout": 2.5, "mesh_tail_log_lines": 4},
)


def test_environment_variable_names_are_fixed() -> None:
    """A custom bootstrap command relies on these exact names."""
    assert contract.TOKEN_ENV == "MESHTRIO_TOKEN"
    assert contract.PROC_TOKEN_ENV == "MESHTRIO_PROC_TOKEN"
    assert contract.BOOTSTRAP_ENV == "MESHTRIO_BOOTSTRAP"
    assert contract.PARENT_PID_ENV == "MESHTRIO_PARENT_PID"
    assert contract.LISTEN_ENV == "MESHTRIO_LISTEN"


def test_bootstrap_payload_round_trips_and_is_base64_msgpack_of_its_fields() -> None:
    text = BOOT.to_env()
    assert ProcBootstrap.from_env(text) == BOOT
    assert msgpack.unpackb(base64.b64decode(text), raw=False) == {
        "proc_id": "pm-0",
        "host_addr": "unix:@h",
        "create_rank": 3,
        "proc_mesh_id": "pm",
        "config": {"request_timeout": 2.5, "mesh_tail_log_lines": 4},
        "actor_token": "",
        "has_setup": False,
        "tls": None,
    }


def test_bootstrap_payload_carries_tls_paths() -> None:
    """PR-5: a TLS host's procs get its certificate, key and client CA as paths."""
    boot = attrs.evolve(BOOT, tls=ServerTLS(cert="/c.pem", key="/k.pem", ca="/ca.pem"))
    text = boot.to_env()
    assert ProcBootstrap.from_env(text) == boot
    assert msgpack.unpackb(base64.b64decode(text), raw=False)["tls"] == {
        "cert": "/c.pem",
        "key": "/k.pem",
        "ca": "/ca.pem",
    }


def _env(obj: object) -> str:
    return base64.b64encode(msgpack.packb(obj, use_bin_type=True)).decode("ascii")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.b64encode(b"\xc1").decode("ascii"),  # not msgpack
        _env([1, 2]),
        _env({"proc_id": "p"}),  # fields missing
        _env({**converter.unstructure(BOOT), "create_rank": "three"}),
        _env({**converter.unstructure(BOOT), "proc_id": "pm.0"}),  # not an id
        _env({**converter.unstructure(BOOT), "host_addr": "h"}),  # not an address
        _env({**converter.unstructure(BOOT), "config": [1]}),
    ],
)
def test_a_bad_bootstrap_payload_is_an_input_error_naming_the_variable(text: str) -> None:
    """PC-1: a value that does not decode is an InputError naming MESHTRIO_BOOTSTRAP."""
    with pytest.raises(InputError, match="MESHTRIO_BOOTSTRAP is not a valid bootstrap payload"):
        ProcBootstrap.from_env(text)


def test_check_proc_bind() -> None:
    check_proc_bind({"cpus": "0-1", "membind": "0"})
    with pytest.raises(SpawnConfigurationError, match="unknown key"):
        check_proc_bind({"gpus": "0"})
    with pytest.raises(SpawnConfigurationError, match="non-empty text"):
        check_proc_bind({"cpus": " "})


def test_stop_bound_is_one_ladder_plus_the_named_slack() -> None:
    """PC-3, with the numbers the three call sites used before they shared it."""
    assert contract.KILL_TIMEOUT == 5.0
    assert stop_bound(10.0, slack=contract.PROC_MESH_STOP_SLACK) == 2 * 10.0 + 5.0 + 10.0
    assert stop_bound(10.0, slack=contract.DRAIN_SLACK) == 2 * 10.0 + 5.0 + 30.0


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_contract_imports_nothing_from_agents_or_meshes() -> None:
    above = ("meshtrio._host", "meshtrio._proc", "meshtrio._host_mesh", "meshtrio._proc_mesh")
    above += ("meshtrio._local_mesh", "meshtrio._pool", "meshtrio.testing", "meshtrio.__main__")
    bad = {n for n in _imports(PACKAGE / "_contract.py") if n.startswith(above)}
    assert not bad


@pytest.mark.parametrize("module", ["_host_mesh.py", "_proc_mesh.py", "_local_mesh.py"])
def test_client_meshes_do_not_import_agent_internals(module: str) -> None:
    internals = ("meshtrio._host.procs", "meshtrio._host.launcher", "meshtrio._proc.runtime")
    bad = {n for n in _imports(PACKAGE / module) if n.startswith(internals)}
    assert not bad
