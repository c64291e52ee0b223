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
``bad_request`` 400, ``not_found`` 404, ``method_not_allowed`` 405 (with ``Allow``: the admin
only reads, AD-2), ``service_unavailable`` 503 (with ``Retry-After``), ``internal`` 500
(MA-R1: a failing lookup, a bug included, is logged and answered; it never ends the server).
:data:`~meshtrio._admin_openapi.OPENAPI` describes every route, its answer's shape and its
errors.

Bounded: a request head still incomplete past 16 KiB is refused by the HTTP server (431; in
practice, a head larger than one 64 KiB read), a request body is never read (the answer is
sent and the connection closed), a node reference is at most 1024 characters, a connection
idle for 5 s (a head not finished by then included) is closed, and lookups are bounded as
:mod:`meshtrio._admin_model` says (AD-1).

Not promised: JSON for what the HTTP server refuses before the app sees it (a malformed or
oversized request head: hypercorn answers with a bare 400 or 431, or closes the
connection), nor a limit on open connections (each idle one is closed after 5 s).
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
from meshtrio._admin_openapi import OPENAPI
from meshtrio._errors import AdminBusyError, AdminNodeNotFoundError, AdminRefError, MeshError

__all__ = ["build_app", "serve"]

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
            except Exception as exc:  # MA-R1 for a bug too: logged, answered, served on
                log.exception("admin lookup %s failed", request.url.path)
                return _error(500, "internal", f"{type(exc).__name__} (a bug: see the log)")

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

    async def not_allowed(request: Request, _exc: Exception) -> Response:
        response = _error(
            405,
            "method_not_allowed",
            f"{request.method[:20]} is not allowed on {request.url.path[:100]!r}: "
            "the admin only reads (GET, HEAD)",
        )
        response.headers["Allow"] = "GET, HEAD"
        return response

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
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})


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
