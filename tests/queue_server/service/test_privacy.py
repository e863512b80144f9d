"""No full ID number anywhere: store files, export files, logs, pages, API responses, WebSocket frames.

Also: names and phones only masked, ID hashes salted with a secret kept beside (not in)
the database, and an audit entry for every view and export of citizens' records.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from queue_server.service import privacy
from queue_server.web import hub as ws

from ...conftest import Harness, Http  # type: ignore[import-not-found]
from ..citizens_kit import EXTRA, at, manager, rate, serve  # type: ignore[import-not-found]
from ..citizens_kit import hall_config as make_config

# Every store: the store's own files are among the places searched.
pytestmark = pytest.mark.every_store

ID = "11010519491231002X"
NAME, PHONE = "张三丰", "13800000000"
SECRETS = (ID, ID.lower(), NAME, PHONE, "138 0000 0000")


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "export"


@pytest.fixture
def hall_config(store_spec: Any, export_dir: Path) -> Any:
    return make_config(store_spec.url, EXTRA + f'\n[followup.export]\ndir = "{export_dir}"\n')


@pytest.fixture(autouse=True)
def salt_file(store_spec: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if store_spec.kind != "sqlite":
        monkeypatch.setenv(privacy.SALT_ENV, str(tmp_path / "hall.salt"))


class Recorder:
    """Every body the server sent back to the tests' clients."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []

    async def get(self, client: Http, path: str) -> bytes:
        headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
        if client.csrf:
            headers["X-CSRF-Token"] = client.csrf
        async with client.session.get(client.base + path, headers=headers) as resp:
            body = await resp.read()
        self.bodies.append((path, body))
        return body

    async def call(self, client: Http, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, data = await client.request(method, path, body)
        self.bodies.append((f"{method} {path}", repr(data).encode()))
        return status, data


def leaks(blob: bytes) -> list[str]:
    text = blob.decode("utf-8", "replace")
    return [s for s in SECRETS if s in text] + [s for s in SECRETS if s.encode("utf-16-le") in blob]


async def test_no_full_id_number_is_kept_logged_served_or_exported(
    server: Harness, store_spec: Any, export_dir: Path, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    bs = server.client(await server.token("agent"))
    kiosk = await server.kiosk()
    mgr = await manager(server)
    admin = await manager(server, "root", "admin")

    # Bookings with a real-looking ID, name and phone; one checked in at the kiosk, one left to be voided.
    status, b1 = await rec.call(bs, "POST", "/api/v1/appointments", {
        "service": "pension", "slot_start": "2026-12-01T10:00+08:00", "id_number": ID, "name": NAME, "phone": PHONE})
    assert status == 201 and (b1["name"], b1["phone"]) == ("张**", "138****0000")
    status, b2 = await rec.call(bs, "POST", "/api/v1/appointments", {
        "service": "referral", "slot_start": "2026-12-01T10:00+08:00", "id_number": f" {ID.lower()} ", "phone": "138 0000 0000"})
    assert status == 201
    status, err = await rec.call(bs, "POST", "/api/v1/appointments", {
        "service": "pension", "slot_start": "2026-12-02T10:00+08:00", "id_number": ID[:-1] + "1"})
    assert status == 422 and err["error"]["code"] == "bad_id_number"
    server.hall.clock.set(at(1, 9, 45))  # type: ignore[attr-defined]
    status, got = await rec.call(kiosk, "POST", "/api/v1/appointments/check-in", {"id_number": ID, "service": "pension"})
    assert status == 201 and got["booking"]["id"] == b1["id"]
    status, err = await rec.call(kiosk, "POST", "/api/v1/appointments/check-in", {"id_number": "not an id"})
    assert status == 422

    # The salted hash is what the store keeps; the salt lives beside the database, private.
    salt = await privacy.load_salt(server.hall.store)
    doc = await server.hall.store.doc("booking", b1["id"])
    assert doc is not None and doc.data["idhash"] == hmac.new(salt, ID.encode(), hashlib.sha256).hexdigest()
    assert doc.data["idhash"] != hashlib.sha256(ID.encode()).hexdigest()
    if store_spec.kind == "sqlite":
        salt_path = Path(str(server.hall.store.path) + ".salt")
        assert salt_path.exists() and stat.S_IMODE(salt_path.stat().st_mode) == 0o600
        assert salt.decode() not in server.hall.config.text

    # A 办不成事 case and a bad review with the same person's contact details, a clerk's call, an export.
    desk = await server.clerk_at(40)
    status, case = await rec.call(desk, "POST", "/api/v1/ledger", {"matter": "社保转移", "reason": "coordination", "name": NAME, "phone": PHONE})
    assert status == 201 and case["citizen"] == {"name": "张**", "phone": "138****0000"}
    clerk = await server.clerk_at(15)
    status, called = await rec.call(clerk, "POST", "/api/v1/windows/15/call-next")
    assert called["appointment"] == b1["id"]
    await rec.call(clerk, "POST", "/api/v1/windows/15/finish", {"outcome": "pending_materials", "details": {"materials": ["户口簿"]}})
    await rate(server, 15, called["id"], 1, ["attitude"], "态度差")
    done = await serve(server, clerk, 15, "pension")
    await rate(server, 15, done["id"], 5)
    server.hall.clock.set(at(1, 10, 31))  # type: ignore[attr-defined]

    assert [d.id for d in await server.hall.check("appointments")] == [b2["id"]]
    await server.hall.check("followup")
    assert (await server.hall.check("export"))["sent"] >= 4

    # Everything a manager, an admin, the booking system, a clerk or the kiosk can read.
    for client, path in [
        (bs, "/api/v1/appointments?date=2026-12-01"), (bs, f"/api/v1/appointments/{b1['id']}"),
        (bs, f"/api/v1/appointments/{b2['id']}"), (mgr, "/api/v1/ledger?state=all&from=2026-12-01&to=2026-12-31"),
        (mgr, f"/api/v1/ledger/{case['id']}"), (mgr, "/api/v1/ledger/export?month=2026-12&format=csv"),
        (mgr, "/api/v1/ledger/export?month=2026-12&format=xlsx"), (mgr, "/api/v1/cases?state=all"),
        (mgr, "/api/v1/pending?state=all"), (mgr, "/api/v1/export?date=2026-12-01"), (admin, "/api/v1/audit"),
        (mgr, "/api/v1/hall"), (mgr, "/api/v1/stats?by=service,window"), (clerk, "/api/v1/windows/15/queue"),
        (clerk, "/api/v1/windows/15/pending"), (kiosk, "/api/v1/hall"), (mgr, "/api/v1/openapi.json"),
        (server.client(), f"/api/v1/tickets/{got['ticket']['token']}"),
    ]:
        await rec.get(client, path)
    for path in _pages(server, got["ticket"]["token"]):
        await rec.get(admin, path)
    assert len(rec.bodies) > 25

    # Every WebSocket frame the hub would send for every event of the day.
    frames = [frame for e in await server.hall.store.events_since(0) for _, frame in ws.frames(server.hall, e)]
    assert frames

    places: dict[str, bytes] = {f"response {p}": b for p, b in rec.bodies}
    places.update({f"ws frame {i}": f for i, f in enumerate(frames)})
    places.update({f"export {p}": p.read_bytes() for p in export_dir.rglob("*") if p.is_file()})
    assert any(k.startswith("export ") for k in places)
    places["log"] = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records).encode()
    places.update({f"store {p.name}": p.read_bytes() for p in _store_files(server, store_spec, request)})
    assert any(k.startswith("store ") for k in places)
    found = {where: leaks(blob) for where, blob in places.items() if leaks(blob)}
    assert found == {}

    # The audit log says who looked at and took out citizens' records.
    entries = (await admin.get("/api/v1/audit"))[1]["entries"]
    seen = {(e["role"], e["action"], e["kind"]) for e in entries}
    assert {("agent", "view", "booking"), ("manager", "view", "ledger"), ("manager", "export", "ledger"),
            ("system", "export", "evaluation")} <= seen
    mine = [e for e in entries if e["action"] == "export" and e["kind"] == "ledger"]
    assert len(mine) == 2 and mine[0]["actor"].startswith("person:") and case["id"] in mine[0]["ids"]
    assert (await mgr.get("/api/v1/audit"))[0] == 403


def _pages(server: Harness, token: str) -> list[str]:
    """Every HTML page the server serves, with sample path parameters."""
    out = []
    for resource in server.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        if not path or path.startswith(("/api/", "/static", "/ws")) or not any(r.method == "GET" for r in resource):
            continue
        path = re.sub(r"\{token[^}]*\}", token, path)
        out.append(re.sub(r"\{\w+[^}]*\}", "15", path))
    return out


def _store_files(server: Harness, store_spec: Any, request: pytest.FixtureRequest) -> list[Path]:
    if store_spec.kind == "sqlite":
        db = Path(str(server.hall.store.path))
        files = [p for p in db.parent.iterdir() if p.name.startswith(db.name) and not p.name.endswith((".salt", ".lock"))]
        assert any(p.name.endswith("-wal") for p in files)
        return files
    redis_dir = request.getfixturevalue("redis_server").dir  # the append-only file holds every write
    return [p for p in redis_dir.rglob("*") if p.is_file()]


def test_masking() -> None:
    assert privacy.mask_name("张三") == "张*" and privacy.mask_name("欧阳娜娜") == "欧***" and privacy.mask_name("") == ""
    assert privacy.mask_phone("13800000000") == "138****0000" and privacy.mask_phone("+86 138-0000-1234") == "138****1234"
    assert privacy.mask_phone("0394-5201234") == "039****1234" and privacy.mask_phone("5201234") == "****1234"
    assert privacy.mask_id(ID) == "1101**********002X"
    assert privacy.normalize_id(" 11010519491231002x ") == ID
    for bad in ("11010519491231002", "110105194912310021", "A1010519491231002X"):
        with pytest.raises(Exception) as err:
            privacy.normalize_id(bad)
        assert bad not in str(err.value)
