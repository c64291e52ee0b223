"""The mesh admin's HTTP face: a Starlette app served by hypercorn's Trio worker.

Imported only by :func:`meshtrio._admin.serve_admin` (the ``admin`` extra), so that
``import meshtrio`` never loads an HTTP stack. Why these two: hypercorn is an ASGI server with
a native Trio worker (it runs in the caller's Trio run, as a task of its nursery, no thread
and no second event loop); Starlette is a small ASGI framework that runs on Trio through
anyio. Routes (JSON unless said; every ``/v1/`` route needs ``Authorization: Bearer <token>``):

* ``GET /v1/admin``, ``GET /v1/tree``, ``GET /v1/{ref}``, ``GET /v1/config/{proc}``,
  ``GET /v1/stacks/{proc}``, ``GET /v1/openapi.json``;
* ``GET /`` and ``GET /static/...``: the page (no data in it, so no token; its script reads
  the token from the URL fragment, which browsers never send to the server, and sends it as
  a bearer header).

Errors use one envelope, ``{"error": {"code", "message"}}``: ``unauthorized`` 401,
``bad_request`` 400, ``not_found`` 404, ``service_unavailable`` 503 (with ``Retry-After``),
``internal`` 500 (MA-R1: a failing lookup never ends the server).
"""

from __future__ import annotations

import hmac
import importlib.resources
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from meshtrio._admin_model import AdminModel
from meshtrio._errors import AdminBusyError, AdminNodeNotFoundError, AdminRefError, MeshError

__all__ = ["OPENAPI", "build_app", "serve"]

log = logging.getLogger("meshtrio.admin")

STATIC = {
    "index.html": "text/html; charset=utf-8",
    "admin.css": "text/css; charset=utf-8",
    "admin.js": "text/javascript; charset=utf-8",
}

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = dict(_SECURITY_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="meshtrio-admin"'
    if status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _ok(body: Any) -> JSONResponse:
    return JSONResponse(body, headers=_SECURITY_HEADERS)


Handler = Callable[[Request], Awaitable[Any]]


def build_app(model: AdminModel, token: str) -> Starlette:
    """The ASGI app for ``model``, requiring ``token``."""
    expected = token.encode()

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    def api(handler: Handler, *, limited: bool = True) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not authorised(request):
                return _error(
                    401, "unauthorized", "a valid 'Authorization: Bearer <token>' is required"
                )
            try:
                if limited:
                    with model.slot():
                        return _ok(await handler(request))
                return _ok(await handler(request))
            except AdminBusyError as exc:
                return _error(503, "service_unavailable", str(exc))
            except AdminRefError as exc:
                return _error(400, "bad_request", str(exc))
            except AdminNodeNotFoundError as exc:
                return _error(404, "not_found", str(exc))
            except MeshError as exc:  # MA-R1: a structured error, never a dead server
                log.warning("admin lookup %s failed: %r", request.url.path, exc)
                return _error(500, "internal", f"{type(exc).__name__}: {exc}")

        return endpoint

    async def admin(_request: Request) -> Any:
        return model.admin()

    async def tree(_request: Request) -> Any:
        return await model.tree()

    async def node(request: Request) -> Any:
        return await model.node(request.path_params["ref"])

    async def config(request: Request) -> Any:
        return await model.config(request.path_params["ref"])

    async def stacks(request: Request) -> Any:
        return await model.stacks(request.path_params["ref"])

    async def openapi(_request: Request) -> Any:
        return OPENAPI

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in STATIC:
            return _error(404, "not_found", f"no page asset {name[:100]!r}")
        data = importlib.resources.files("meshtrio").joinpath("_admin_static", name).read_bytes()
        return Response(data, media_type=STATIC[name], headers=_SECURITY_HEADERS)

    async def not_found(request: Request, _exc: Exception) -> Response:
        return _error(404, "not_found", f"no route {request.url.path[:100]!r}")

    routes = [
        Route("/", page),
        Route("/static/{name}", page),
        # Literal routes first: they win over the wildcard (SC-5).
        Route("/v1/admin", api(admin, limited=False)),
        Route("/v1/openapi.json", api(openapi, limited=False)),
        Route("/v1/tree", api(tree)),
        Route("/v1/config/{ref:path}", api(config)),
        Route("/v1/stacks/{ref:path}", api(stacks)),
        Route("/v1/{ref:path}", api(node)),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


async def serve(
    model: AdminModel,
    token: str,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``model`` on ``host:port`` until cancelled; ``task_status.started(url)``."""
    config = Config()
    bind_host = f"[{host}]" if ":" in host else host
    config.bind = [f"{bind_host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("meshtrio.admin.http")
    config.graceful_timeout = 0.5
    config.h11_max_incomplete_size = 16 * 1024
    config.keep_alive_timeout = 5.0
    config.include_server_header = False
    app = build_app(model, token)

    class _Started:
        def started(self, binds: list[str] | None = None) -> None:
            task_status.started((binds or [f"http://{bind_host}:{port}"])[0])

    # Bound here, before the server's nurseries, so that a taken address is a plain OSError
    # and the socket is closed whatever happens.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    sockets = Sockets(secure_sockets=[], insecure_sockets=[listener], quic_sockets=[])
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(config.backlog)
        listener.setblocking(False)
        await worker_serve(
            # Starlette is an ASGI app; hypercorn's type for one is narrower than Starlette's.
            wrap_app(app, config.wsgi_max_body_size, None),  # type: ignore[arg-type]
            config,
            sockets=sockets,
            task_status=_Started(),
        )
    finally:
        listener.close()


_NODE_REF = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {
    "description": "error envelope",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_COMMON = {"401": _ERROR, "503": _ERROR}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "meshtrio mesh admin", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Node": {
                "type": "object",
                "required": ["identity", "kind", "parent", "children", "status", "as_of"],
                "properties": {
                    "identity": {"type": "string"},
                    "kind": {"enum": ["root", "mesh", "host", "proc", "actors", "actor"]},
                    "parent": {"type": ["string", "null"]},
                    "children": {"type": "array", "items": {"type": "string"}},
                    "status": {"type": "string"},
                    "properties": {"type": "object"},
                    "as_of": {"type": "string", "format": "date-time"},
                    "partial": {"type": "boolean"},
                },
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/admin": {
            "get": {
                "summary": "who the admin is (AI-1..AI-3)",
                "responses": {"200": {"description": "admin info"}, **_COMMON},
            }
        },
        "/v1/tree": {
            "get": {
                "summary": (
                    "host meshes, hosts, procs, actors with statuses; "
                    "partial when a host did not answer"
                ),
                "responses": {"200": {"description": "the tree"}, **_COMMON},
            }
        },
        "/v1/{ref}": {
            "get": {
                "summary": (
                    "one node with parent and children: root, mesh:<id>, host:<addr>, "
                    "proc:<id>, actors:<key>, actor:<key>/<rank>"
                ),
                "parameters": [_NODE_REF],
                "responses": {
                    "200": {
                        "description": "the node",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        },
                    },
                    "400": _ERROR,
                    "404": _ERROR,
                    **_COMMON,
                },
            }
        },
        "/v1/config/{ref}": {
            "get": {
                "summary": "a proc's effective config with sources",
                "parameters": [_NODE_REF],
                "responses": {
                    "200": {"description": "config"},
                    "400": _ERROR,
                    "404": _ERROR,
                    **_COMMON,
                },
            }
        },
        "/v1/stacks/{ref}": {
            "get": {
                "summary": "a proc's threads and Trio tasks",
                "parameters": [_NODE_REF],
                "responses": {
                    "200": {"description": "stacks"},
                    "400": _ERROR,
                    "404": _ERROR,
                    **_COMMON,
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {"200": {"description": "OpenAPI 3.1"}, **_COMMON},
            }
        },
    },
}
