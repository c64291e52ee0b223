"""The mesh admin's OpenAPI 3.1 document (``GET /v1/openapi.json``): every route of
:mod:`meshtrio._admin_http`, the JSON shape of each answer (built by
:mod:`meshtrio._admin_model` and :mod:`meshtrio._admin_nodes`) and its errors.

Promised (tests/test_admin_http.py checks it): the document is valid OpenAPI 3.1, its paths
are exactly the app's routes, every ``/v1/`` route needs the bearer token and lists its 401,
500 and 503 answers, and every answer the admin gives fits the schema given here.

Not promised: a closed set of keys. Object schemas name the keys an answer always has;
answers may carry more, and future versions may add keys.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

_NODE_REF = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _obj(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """An object schema: ``required`` keys with their schemas, and ``optional`` ones; other
    keys are allowed (an answer's keys may grow)."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **optional},
    }


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_STRS = {"type": "array", "items": _STR}
_ERROR = _json("Error", "error envelope")
_ERRORS = {"401": _ERROR, "500": _ERROR, "503": _ERROR}
_REF_ERRORS = {"400": _ERROR, "404": _ERROR, **_ERRORS}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "meshtrio mesh admin", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _obj({"error": _obj({"code": _STR, "message": _STR})}),
            "Admin": _obj(
                {
                    "admin_id": _STR,
                    "pid": _INT,
                    "hostname": _STR,
                    "started_at": {"type": "string", "format": "date-time"},
                    "started_by": _STR,
                    "url": _STR,
                    "meshes": _STRS,
                    "num_hosts": _INT,
                }
            ),
            "Actor": _obj(
                {
                    "ref": _STR,
                    "kind": {"const": "actor"},
                    "key": _STR,
                    "name": _STR,
                    "rank": _INT,
                    "proc": _STR,
                    "status": _STR,
                    "status_class": _STR,
                }
            ),
            "Proc": _obj(
                {
                    "ref": _STR,
                    "kind": {"const": "proc"},
                    "proc_id": _STR,
                    "proc_mesh": _STR,
                    "rank": _INT,
                    "status": _STR,
                    "status_class": _STR,
                    "host": _STR,
                    "pid": _INT_OR_NULL,
                    "actors": {"type": "array", "items": {"$ref": "#/components/schemas/Actor"}},
                }
            ),
            "Host": _obj(
                {
                    "ref": _STR,
                    "kind": {"const": "host"},
                    "addr": _STR,
                    "status": {"enum": ["ok", "timeout", "unreachable"]},
                    "status_class": _STR,
                    "error": _STR_OR_NULL,
                    "latency_ms": {"type": "number"},
                    "meshes": _STRS,
                    "client": _BOOL,
                    "procs": {"type": "array", "items": {"$ref": "#/components/schemas/Proc"}},
                }
            ),
            "Mesh": _obj(
                {
                    "ref": _STR,
                    "kind": {"const": "mesh"},
                    "id": _STR,
                    "status": _STR,
                    "hosts": _STRS,
                    "proc_meshes": _STRS,
                }
            ),
            "Tree": _obj(
                {
                    "as_of": {"type": "string", "format": "date-time"},
                    "partial": _BOOL,
                    "admin": {"$ref": "#/components/schemas/Admin"},
                    "meshes": {"type": "array", "items": {"$ref": "#/components/schemas/Mesh"}},
                    "hosts": {"type": "array", "items": {"$ref": "#/components/schemas/Host"}},
                }
            ),
            "Node": _obj(
                {
                    "identity": _STR,
                    "kind": {"enum": ["root", "mesh", "host", "proc", "actors", "actor"]},
                    "parent": _STR_OR_NULL,
                    "children": _STRS,
                    "status": _STR,
                    "status_class": _STR,
                    "properties": {"type": "object"},
                    "as_of": {"type": "string", "format": "date-time"},
                    "partial": _BOOL,
                }
            ),
            "Config": _obj(
                {"proc": _STR, "partial": _BOOL, "error": _STR_OR_NULL},
                config={
                    "type": "object",
                    "additionalProperties": _obj({"value": {}, "source": _STR}),
                },
            ),
            "Stacks": _obj(
                {
                    "proc": _STR,
                    "source": _STR,
                    "error": _STR_OR_NULL,
                    "pid": _INT_OR_NULL,
                    "text": _STR,
                }
            ),
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/": {
            "get": {
                "summary": "the page (HTML; no data in it, so no token: it reads the token "
                "from its URL fragment)",
                "security": [],
                "responses": {"200": {"description": "text/html"}},
            }
        },
        "/static/{name}": {
            "get": {
                "summary": "the page's assets: index.html, admin.css, admin.js",
                "security": [],
                "parameters": [{**_NODE_REF, "name": "name"}],
                "responses": {"200": {"description": "the asset"}, "404": _ERROR},
            }
        },
        "/v1/admin": {
            "get": {
                "summary": "who the admin is (AI-1..AI-3)",
                "responses": {"200": _json("Admin", "admin info"), **_ERRORS},
            }
        },
        "/v1/tree": {
            "get": {
                "summary": (
                    "host meshes, hosts, procs, actors with statuses; "
                    "partial when a host did not answer"
                ),
                "responses": {"200": _json("Tree", "the tree"), **_ERRORS},
            }
        },
        "/v1/{ref}": {
            "get": {
                "summary": (
                    "one node with parent and children: root, mesh:<id>, host:<addr>, "
                    "proc:<id>, actors:<key>, actor:<key>/<rank>"
                ),
                "parameters": [_NODE_REF],
                "responses": {"200": _json("Node", "the node"), **_REF_ERRORS},
            }
        },
        "/v1/config/{ref}": {
            "get": {
                "summary": "a proc's effective config with sources (ref: proc:<id>)",
                "parameters": [_NODE_REF],
                "responses": {"200": _json("Config", "config"), **_REF_ERRORS},
            }
        },
        "/v1/stacks/{ref}": {
            "get": {
                "summary": "a proc's threads and Trio tasks (ref: proc:<id>)",
                "parameters": [_NODE_REF],
                "responses": {"200": _json("Stacks", "stacks"), **_REF_ERRORS},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {"200": {"description": "OpenAPI 3.1"}, **_ERRORS},
            }
        },
    },
}
"""The OpenAPI 3.1 document of every route (``GET /v1/openapi.json``)."""
