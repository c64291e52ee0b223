"""The mesh admin's HTTP edge (issue 12): the OpenAPI document describes every route and the
answers really have its shapes; every refusal is the JSON envelope (405 for a write: AD-2;
500 for a failing lookup, after which it serves on: MA-R1); request heads are bounded; and
the admin's and the terminal view's libraries stay out of ``import meshtrio``, while the
wheel carries the page.

Hosts and procs here are in-process (no OS processes); each test is bounded with
``trio.fail_after``.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import trio

from meshtrio import (
    Actor,
    HostMeshRef,
    InputError,
    endpoint,
    open_host_mesh_in_process,
    serve_admin,
)
from meshtrio._admin_http import STATIC, build_app
from meshtrio._admin_model import AdminModel
from meshtrio._admin_openapi import OPENAPI

LIMIT = 30
ROOT = Path(__file__).resolve().parent.parent


class Echo(Actor):
    @endpoint
    def echo(self, x: int) -> int:
        return x


def check(body: Any, schema: str) -> None:
    """``body`` fits the OpenAPI document's schema ``schema`` (its ``$ref``s resolved)."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (tests extra) is missing")
    root = {"$ref": f"#/components/schemas/{schema}", "components": OPENAPI["components"]}
    jsonschema.Draft202012Validator(root).validate(body)


def test_the_openapi_document_is_valid_and_names_every_route() -> None:
    """The document is valid OpenAPI 3.1 and its paths are exactly the app's routes."""
    validator = pytest.importorskip(
        "openapi_spec_validator", reason="openapi-spec-validator (tests extra) is missing"
    )
    validator.validate(OPENAPI)
    app = build_app(cast(AdminModel, object()), "t" * 32)
    routes = {r.path.replace(":path}", "}") for r in app.routes}
    assert routes == set(OPENAPI["paths"])
    for path, item in OPENAPI["paths"].items():
        responses = item["get"]["responses"]
        if path.startswith("/v1/"):
            assert {"401", "500", "503"} <= set(responses), f"{path}: its errors"
            assert "security" not in item["get"], f"{path} needs the token"
        else:
            assert item["get"]["security"] == [], f"{path} is the page: no token"


async def test_every_answer_fits_the_openapi_document() -> None:
    """What each route answers over a live mesh fits the schema the document gives it, and
    so does every error; a write is 405 with ``Allow`` (AD-2: the admin only reads)."""
    with trio.fail_after(LIMIT):
        async with open_host_mesh_in_process(2, in_process_procs=True) as hosts:
            procs = await hosts.spawn("workers", {"gpus": 1}, logs=None)
            echoes = await procs.spawn("echoes", Echo)  # held: the admin shows held meshes
            async with serve_admin(hosts, announce=False) as admin:
                headers = {"authorization": f"Bearer {admin.token}"}
                async with httpx.AsyncClient(base_url=admin.url, headers=headers) as client:

                    async def ok(path: str, schema: str) -> Any:
                        r = await client.get(path)
                        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
                        check(r.json(), schema)
                        return r.json()

                    await ok("/v1/admin", "Admin")
                    tree = await ok("/v1/tree", "Tree")
                    proc = tree["hosts"][0]["procs"][0]
                    actor = proc["actors"][0]
                    for ref in (
                        "root",
                        tree["meshes"][0]["ref"],
                        tree["hosts"][0]["ref"],
                        proc["ref"],
                        f"actors:{actor['key']}",
                        actor["ref"],
                    ):
                        node = await ok(f"/v1/{ref}", "Node")
                        assert node["identity"] == ref, "NI-1"
                    await ok(f"/v1/config/{proc['ref']}", "Config")
                    await ok(f"/v1/stacks/{proc['ref']}", "Stacks")

                    async def refused(method: str, path: str, status: int, **kw: Any) -> Any:
                        r = await client.request(method, path, **kw)
                        assert r.status_code == status, f"{method} {path}: {r.text[:300]}"
                        assert r.headers["content-type"] == "application/json"
                        check(r.json(), "Error")
                        return r

                    await refused("GET", "/v1/x:y", 400)
                    await refused("GET", "/v1/actor:a.0123/²", 400)
                    await refused("GET", "/v1/proc:nobody-1111111111z", 404)
                    await refused("GET", "/nowhere", 404)
                    await refused("GET", "/static/secrets.txt", 404)
                    await refused("GET", "/v1/tree", 401, headers={"authorization": "Basic x"})
                    for method in ("POST", "PUT", "DELETE", "PATCH"):
                        r = await refused(method, f"/v1/{proc['ref']}", 405, content=b"{}")
                        assert r.json()["error"]["code"] == "method_not_allowed"
                        assert r.headers["allow"] == "GET, HEAD"
                    states = await procs.states()
                    assert all(s.status.is_running for s in states.values()), "AD-2"
                    assert list((await echoes.echo.call(7)).values()) == [7, 7], "AD-2"


async def test_ma_r1_a_failing_lookup_is_a_json_500_and_the_admin_serves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MA-R1: a lookup that fails with a bug (not a MeshError) is answered 500 in the error
    envelope, its slot is given back, and the next lookup is served."""
    calls: list[str] = []
    real = AdminModel.tree

    async def broken(self: AdminModel) -> dict[str, Any]:
        calls.append("tree")
        if len(calls) == 1:
            raise ZeroDivisionError("a bug")
        return await real(self)

    monkeypatch.setattr(AdminModel, "tree", broken)
    with trio.fail_after(LIMIT):
        async with (
            open_host_mesh_in_process(1) as hosts,
            serve_admin(hosts, max_concurrent=1, announce=False) as admin,
        ):
            headers = {"authorization": f"Bearer {admin.token}"}
            async with httpx.AsyncClient(base_url=admin.url, headers=headers) as client:
                r = await client.get("/v1/tree")
                assert r.status_code == 500
                check(r.json(), "Error")
                assert r.json()["error"]["code"] == "internal"
                assert "ZeroDivisionError" in r.json()["error"]["message"]
                r = await client.get("/v1/tree")
                assert r.status_code == 200, "MA-R1: served on, and the slot was given back"
                assert calls == ["tree", "tree"]


async def test_a_request_head_past_64_kib_is_refused_and_the_admin_serves_on() -> None:
    """A request head larger than 64 KiB (one read; 16 KiB while incomplete) is refused with
    431 (or the connection closed), and the admin serves the next request."""
    with trio.fail_after(LIMIT):
        async with (
            open_host_mesh_in_process(1) as hosts,
            serve_admin(hosts, announce=False) as admin,
        ):
            headers = {"authorization": f"Bearer {admin.token}"}
            async with httpx.AsyncClient(base_url=admin.url, headers=headers) as client:
                try:
                    r = await client.get("/v1/admin", headers={"x-big": "a" * 200_000})
                except httpx.TransportError:
                    pass  # the server closed the connection: refused too
                else:
                    assert r.status_code == 431, r.status_code
                r = await client.get("/v1/admin")
                assert r.status_code == 200


@pytest.mark.parametrize(
    "limits",
    [
        {"max_concurrent": True},
        {"max_concurrent": 0},
        {"max_concurrent": 2.0},
        {"host_timeout": True},
        {"host_timeout": float("nan")},
        {"host_timeout": 0},
    ],
)
async def test_the_limits_must_be_numbers_not_flags(limits: dict[str, Any]) -> None:
    """AD-1's limits refuse a bool (an ``int`` to Python, never meant as a count or seconds),
    a non-positive or non-finite value, before anything is served."""
    hosts = HostMeshRef.parse("hosts-1111111111z:tcp:127.0.0.1:1@hosts=1/1")
    with pytest.raises(InputError, match=next(iter(limits))):
        async with serve_admin([hosts], **limits):
            pytest.fail("served with a bad limit")


def test_import_meshtrio_loads_no_http_server_nor_terminal_ui() -> None:
    """``import meshtrio`` (and its admin and top modules) loads none of the ``admin`` and
    ``top`` extras' libraries: they are imported when an admin is served or top is run."""
    heavy = ("starlette", "hypercorn", "textual", "httpx", "rich", "anyio")
    code = (
        "import sys, meshtrio, meshtrio._admin, meshtrio._top, meshtrio.__main__\n"
        f"loaded = sorted(m for m in {heavy!r} if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_wheel_carries_the_page_and_py_typed(tmp_path: Path) -> None:
    """A wheel built from the tree holds every asset the page serves, and ``py.typed``."""
    wheel = pytest.importorskip(
        "hatchling.builders.wheel", reason="hatchling (the build backend) is not installed"
    )
    (built,) = list(wheel.WheelBuilder(str(ROOT)).build(directory=str(tmp_path)))
    names = set(zipfile.ZipFile(built).namelist())
    expected = {f"meshtrio/_admin_static/{name}" for name in STATIC} | {"meshtrio/py.typed"}
    assert expected <= names, sorted(expected - names)
