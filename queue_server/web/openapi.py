"""The OpenAPI 3.1 document, written from the same command table that serves requests."""

from __future__ import annotations

import re
from typing import Any

from queue_server import __version__

from .http import Route

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                             "required": ["code", "message"]}},
    "required": ["error"],
}


def _operation(r: Route) -> dict[str, Any]:
    path = r.path
    params: list[dict[str, Any]] = []
    for name, schema in r.params.items():
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, schema in r.query.items():
        params.append({"name": name, "in": "query", "required": False, "schema": schema})
    op: dict[str, Any] = {
        "summary": r.summary,
        "description": f"Who may call it: {r.who}.",
        "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "tags": [r.tag],
        "parameters": params,
        "responses": {
            str(r.status): {"description": "success"} if r.status == 204 else {"description": "success", "content": {
                kind: {"schema": {"type": "object"} if kind == "application/json" else {"type": "string", "format": "binary"}}
                for kind in r.produces}},
            "default": {"description": "error", "content": {"application/json": {"schema": _ERROR}}},
        },
    }
    if r.command is not None:
        op["x-command"] = r.command  # the same command over the WebSocket
    if r.empty:
        op["responses"]["204"] = {"description": "nothing to act on (nobody is waiting)"}
    if r.body is not None:
        op["requestBody"] = {"required": bool(r.body.get("required")),
                             "content": {"application/json": {"schema": r.body}}}
    return op


def document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r)
    paths["/api/v1/openapi.json"] = {"get": {"summary": "This document", "operationId": "get_openapi", "tags": ["meta"],
                                             "responses": {"200": {"description": "the OpenAPI document"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "hallcall", "version": __version__,
                 "description": "Queue calling for government service halls. Errors are "
                                "{\"error\": {\"code\", \"message\"}} with a 4xx status."},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "device token"},
            "session": {"type": "apiKey", "in": "cookie", "name": "hallcall_session",
                        "description": "people; unsafe methods also need the X-CSRF-Token header"},
        }},
        "security": [{}, {"bearer": []}, {"session": []}],
        "paths": paths,
    }
