"""The OpenAPI document and the routes the server really serves are the same set."""

from __future__ import annotations

import re

from aiohttp import web

from ...conftest import Harness  # type: ignore[import-not-found]


async def test_every_route_is_documented_and_every_documented_route_exists(server: Harness) -> None:
    status, doc = await server.client().get("/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for resource in server.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/"):
            continue
        for route in resource:
            if route.method != "HEAD":
                served.add((re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path), route.method))  # aiohttp's {n:regex}
    assert served - documented == set()
    assert documented - served == set()
    op = doc["paths"]["/api/v1/tickets"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["service"]
    assert any(p["name"] == "window" for p in doc["paths"]["/api/v1/windows/{window}/call-next"]["post"]["parameters"])
    assert isinstance(server.app, web.Application)


async def test_files_and_charts_say_what_they_return(server: Harness) -> None:
    _, doc = await server.client().get("/api/v1/openapi.json")
    chart = doc["paths"]["/api/v1/reports/charts/windows.svg"]["get"]["responses"]["200"]["content"]
    assert list(chart) == ["image/svg+xml"]
    table = doc["paths"]["/api/v1/reports/figures"]["get"]["responses"]["200"]["content"]
    assert set(table) == {"application/json", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


async def test_an_empty_answer_is_documented_without_a_body(server: Harness) -> None:
    """A 204 has no body, so the document promises none (schemathesis found logout's promised JSON)."""
    c = server.client()
    _, doc = await c.get("/api/v1/openapi.json")
    assert doc["paths"]["/api/v1/logout"]["post"]["responses"]["204"] == {"description": "success"}
    async with c.session.post(server.base + "/api/v1/logout") as resp:
        assert resp.status == 204 and await resp.read() == b""
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "content" not in op["responses"].get("204", {}), (method, path)
