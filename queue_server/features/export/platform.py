"""Export to the provincial 好差评 platform: service, evaluation and follow-up records.

A ``Platform`` adapter takes records and says, per record, whether it was accepted. The
one shipped here, ``JsonDirectory``, writes each record as a JSON file for a province's
collector (or a person) to pick up; a province's HTTP interface is another adapter with
the same ``send``. ``export_once`` sweeps the last ``lookback_days`` of finished services,
evaluations and closed follow-up cases, sends what was never accepted (and failed ones
whose back-off has passed), and records one status Doc (kind "export", id
``<type>:<record id>``) per record, so each record is exported once. The sweep also
reaches back to the oldest day that still has a record not accepted (a live Doc of kind
"export_from" per platform), so a platform or an exporter down for longer than
``lookback_days`` delays records but never drops them. docs/export-mapping.md lists every
field, its source and the code tables.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from queue_server.core.config import HallConfig, Section
from queue_server.core.model import LEVELS, REASONS, Doc, Evaluation, Status, Ticket
from queue_server.features.followup.cases import KIND as CASE
from queue_server.protocol import rating_key
from queue_server.service import privacy
from queue_server.service.auth import Principal

KIND = "export"
MARK = "export_from"  # per platform: the oldest day with a record not yet accepted
SECTION = "followup.export"
# Defaults; a province's own table goes in [followup.export] channel_codes / indicator_codes.
CHANNEL_CODES = {"keypad": "1", "pad": "2", "phone": "3", "web": "3", "telephone": "4"}
CHANNEL_NAMES = {"keypad": "窗口评价器", "pad": "平板评价", "phone": "扫码评价", "web": "扫码评价", "telephone": "电话回访"}
INDICATOR_CODES = {"attitude": "01", "efficiency": "02", "compliance": "03", "integrity": "04", "other": "99"}
OUTCOME_NAMES = {"done": "办结", "pending_materials": "容缺受理", "not_done": "办不成"}
RESULT_NAMES = {"rectified": "已整改", "not_substantiated": "经核实不属实或不合理", "appeal_upheld": "申诉成立"}
BATCH = 200
MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class Settings:
    dir: str = ""  # where JsonDirectory writes; empty turns the exporter off
    interval_seconds: float = 300.0
    lookback_days: int = 7
    retry_seconds: float = 60.0
    region_code: str = ""  # 行政区划代码
    hall_code: str = ""  # the platform's code for this hall; the hall id if empty
    channel_codes: dict[str, str] = field(default_factory=lambda: dict(CHANNEL_CODES))
    indicator_codes: dict[str, str] = field(default_factory=lambda: dict(INDICATOR_CODES))
    task_codes: dict[str, str] = field(default_factory=dict)  # service id -> 事项编码


def read(cfg: HallConfig, sec: Section) -> Settings:
    """The [followup.export] table over the defaults; problems collect on ``sec``."""
    d = Settings()
    s = Settings(
        dir=sec.get("dir", d.dir), interval_seconds=sec.get("interval_seconds", d.interval_seconds, lo=5, hi=86400),
        lookback_days=sec.get("lookback_days", d.lookback_days, lo=1, hi=90),
        retry_seconds=sec.get("retry_seconds", d.retry_seconds, lo=1, hi=MAX_BACKOFF),
        region_code=sec.get("region_code", d.region_code), hall_code=sec.get("hall_code", d.hall_code),
        channel_codes=sec.mapping("channel_codes", CHANNEL_CODES), indicator_codes=sec.mapping("indicator_codes", INDICATOR_CODES),
        task_codes=sec.mapping("task_codes", {}),
    )
    for sid in s.task_codes:
        if sid not in cfg.services:
            sec.fail("task_codes", f"unknown service {sid!r}")
    return s


@dataclass(frozen=True)
class Record:
    type: str  # service, evaluation, followup
    id: str
    day: str
    body: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"


class Platform(Protocol):
    name: str

    async def send(self, records: list[Record]) -> dict[str, str | None]:
        """Deliver records; return record key -> None when accepted, or the error. Must be idempotent per key."""
        ...


class JsonDirectory:
    """Writes ``<dir>/<day>/<type>/<id>.json``, one record a file, atomically."""

    name = "json"

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def _write(self, r: Record) -> None:
        path = self.dir / r.day / r.type / f"{r.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(r.body, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)  # a collector never sees half a record; a resend overwrites the same file

    async def send(self, records: list[Record]) -> dict[str, str | None]:
        def run() -> dict[str, str | None]:
            out: dict[str, str | None] = {}
            for r in records:
                try:
                    self._write(r)
                    out[r.key] = None
                except OSError as exc:
                    out[r.key] = f"{type(exc).__name__}: {exc.strerror or exc}"
            return out

        return await asyncio.get_running_loop().run_in_executor(None, run)


# -- records --------------------------------------------------------------------------------------------------


class _Build:
    def __init__(self, cfg: HallConfig, s: Settings, people: dict[str, Any]) -> None:
        self.cfg = cfg
        self.s = s
        self.people = people

    def common(self, service: str, window: int | None, clerk: str | None) -> dict[str, Any]:
        svc = self.cfg.services.get(service)
        wcfg = self.cfg.windows.get(window) if window is not None else None
        person = self.people.get(clerk or "")
        return {
            "region_code": self.s.region_code, "hall_code": self.s.hall_code or self.cfg.hall.id, "hall_name": self.cfg.hall.name,
            "task_code": self.s.task_codes.get(service, service), "task_name": svc.name if svc else service,
            "window": window, "window_name": wcfg.name if wcfg else None,
            "clerk_no": person.staff_no if person else None, "clerk_name": person.name if person else None,
            "department": person.department if person else None,
        }

    def service(self, t: Ticket) -> Record:
        wait = (t.first_called_at - t.issued_at).total_seconds() / 60 if t.first_called_at else None
        body = {
            "record_type": "service", "record_id": t.id, "ticket_number": t.number, **self.common(t.service, t.window, t.clerk),
            "ticket_channel": t.channel.value, "priority": t.priority.value, "appointment": t.appointment,
            "issued_at": t.issued_at.isoformat(), "called_at": t.first_called_at.isoformat() if t.first_called_at else None,
            "finished_at": t.ended_at.isoformat() if t.ended_at else None,
            "wait_minutes": round(wait, 1) if wait is not None else None,
            "outcome": t.outcome.value if t.outcome else None, "outcome_name": OUTCOME_NAMES.get(t.outcome or "", None),
        }
        return Record("service", t.id, t.day, body)

    def evaluation(self, ev: Evaluation) -> Record:
        body = {
            "record_type": "evaluation", "record_id": ev.key, "service_record_id": ev.ticket,
            **self.common(ev.service, ev.window, ev.clerk),
            "channel": self.s.channel_codes.get(ev.source, ev.source), "channel_name": CHANNEL_NAMES.get(ev.source, ev.source),
            "level": ev.level, "level_name": LEVELS[ev.level],
            "indicators": [self.s.indicator_codes.get(r, r) for r in ev.reasons], "indicator_names": [REASONS[r] for r in ev.reasons],
            "text": ev.comment or "", "evaluated_at": (ev.at.isoformat() if ev.at else None),
            "case_number": f"CP{ev.key}" if ev.bad else None,
        }
        return Record("evaluation", ev.key, ev.day, body)

    def followup(self, doc: Doc) -> Record:
        d = doc.data
        appeal = d.get("appeal")
        body = {
            "record_type": "followup", "record_id": doc.id, "case_number": doc.id, "evaluation_record_id": rating_key(d["ticket"], d.get("part")),
            **self.common(d["service"], d.get("window"), d.get("clerk")),
            "level": d["level"], "indicators": [self.s.indicator_codes.get(r, r) for r in d["reasons"]],
            "opened_at": d["opened_at"], "deadline_days": d["deadline_days"], "due": d["due"], "overdue": d["overdue"],
            "result": d.get("result"), "result_name": RESULT_NAMES.get(d.get("result") or "", None),
            "appeal": None if not appeal else {"ground": appeal["ground"], "ground_name": appeal["ground_name"],
                                               "statement": appeal["statement"], "upheld": appeal.get("upheld")},
            "verification": d.get("verification"), "rectification": d.get("rectification"), "reply": d.get("reply"),
            "callback_level": d.get("callback_level"), "callback_channel": self.s.channel_codes.get("telephone", "telephone"),
            "closed_at": d.get("closed_at"), "steps": [{k: v for k, v in s.items()} for s in d["steps"]],
        }
        return Record("followup", doc.id, doc.day, body)


async def collect(hall: Any, s: Settings, day_from: str, day_to: str) -> list[Record]:
    """Every record of a period that is final: finished services, evaluations, closed cases."""
    people = {p.id: p for p in await hall.store.people()}
    b = _Build(hall.config, s, people)
    out = [b.service(t) for t in await hall.store.tickets(day_from, day_to) if t.status is Status.DONE]
    out += [b.evaluation(ev) for ev in await hall.store.evaluations(day_from, day_to)]
    out += [b.followup(d) for d in await hall.store.docs(CASE, day_from=day_from, day_to=day_to) if d.data["state"] == "closed"]
    return out


def _due(status: Doc | None, now: datetime, retry: float) -> bool:
    if status is None:
        return True
    if status.data["status"] == "sent":
        return False
    wait = min(retry * 2 ** (status.data["attempts"] - 1), MAX_BACKOFF)
    return now >= datetime.fromisoformat(status.data["last_at"]) + timedelta(seconds=wait)


async def export_once(hall: Any, platform: Platform, s: Settings) -> dict[str, int]:
    """Send every record not yet accepted; record each one's status. Returns counts."""
    now = hall.clock.now().astimezone(hall.config.hall.tz)
    today = date.fromisoformat(hall.state.day or now.date().isoformat())
    d_from, d_to = (today - timedelta(days=s.lookback_days)).isoformat(), today.isoformat()
    mark = hall.state.docs.get(MARK, {}).get(platform.name)
    if mark is not None and mark.data["from"] < d_from:
        d_from = mark.data["from"]  # records left behind by a long outage
    known = {d.id: d for d in await hall.store.docs(KIND, day_from=d_from, day_to=d_to)}
    records = await collect(hall, s, d_from, d_to)
    todo = [r for r in records if _due(known.get(r.key), now, s.retry_seconds)]
    counts = {"sent": 0, "failed": 0}
    for i in range(0, len(todo), BATCH):
        batch = todo[i:i + BATCH]
        try:
            results = await platform.send(batch)
        except Exception as exc:  # an adapter that fails whole fails every record of the batch
            results = {r.key: f"{type(exc).__name__}: {exc}" for r in batch}
        docs = []
        for r in batch:
            old = known.get(r.key)
            error = results.get(r.key, "no answer from the platform")
            data = {"record": r.id, "type": r.type, "platform": platform.name, "status": "sent" if error is None else "failed",
                    "attempts": (old.data["attempts"] if old else 0) + 1, "first_at": old.data["first_at"] if old else now.isoformat(),
                    "last_at": now.isoformat(), "sent_at": now.isoformat() if error is None else None, "error": error}
            docs.append(Doc(KIND, r.key, r.day, data, keys=(f"status:{data['status']}", f"type:{r.type}"), live=False))
            known[r.key] = docs[-1]
            counts["sent" if error is None else "failed"] += 1
        sent, failed = sum(1 for d in docs if d.data["status"] == "sent"), sum(1 for d in docs if d.data["status"] == "failed")
        await hall.run(lambda tx: tx.emit("export.batch", docs=tuple(docs),
                                          extra={"platform": platform.name, "sent": sent, "failed": failed}))
    behind = min((r.day for r in records if (known.get(r.key) is None or known[r.key].data["status"] != "sent")),
                 default=(today - timedelta(days=s.lookback_days)).isoformat())
    if mark is None or mark.data["from"] != behind:
        doc = Doc(MARK, platform.name, today.isoformat(), {"from": behind, "platform": platform.name})
        await hall.run(lambda tx: tx.emit("export.from", docs=(doc,), extra={"from": behind}))
    if todo:
        await privacy.audit(hall, SYSTEM, "export", "evaluation", ids=[r.key for r in todo[:50]],
                            detail=f"{len(todo)} records to the {platform.name} platform")
    return counts


SYSTEM = Principal("system", "exporter", "provincial export")
