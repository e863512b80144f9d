"""``hallcall report``: write a report of any period as JSON, CSV or XLSX, straight from the store.

    hallcall report --config hall.toml --period 2026-12 --by clerk --format xlsx -o 2026-12.xlsx
    hallcall report --config hall.toml --report assessment --period 2026-Q4 --format xlsx -o q4.xlsx
    hallcall report --config hall.toml --report attendance --from 2026-12-01 --to 2026-12-15 --days
    hallcall report --config hall.toml --by eta --period 2026-12-01      (ETA accuracy by service;
    hallcall report --config hall.toml --report eta --by hour ...        by hour, zone, day …)
    hallcall report --config hall.toml --report time-limits --by department --period 2026-12   (按时办结率)
    hallcall report --config hall.toml --report bundles --period 2026-12 --format xlsx -o b.xlsx   (一件事)

The store is opened for reading beside a running server (as the other admin commands do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from queue_server.core import config
from queue_server.core.clock import SystemClock
from queue_server.core.errors import HallError
from queue_server.core.periods import parse
from queue_server.features import catalog
from queue_server.features.alerts import feature as alerts
from queue_server.reports import build as reports
from queue_server.reports import figures
from queue_server.reports.feature import FORMATS, Reports
from queue_server.store import StoreError, open_store

KINDS = ("figures", "attendance", "assessment", "red-flags", "eta", "time-limits", "bundles", "alerts")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hallcall report", description="Write a report of a period from the hall's store.")
    p.add_argument("--config", default="hall.toml", help="hall TOML file (default: hall.toml)")
    p.add_argument("--store", help="store URL, overriding the file's [store] url")
    p.add_argument("--report", choices=KINDS, default="figures", help="which report (default: figures)")
    p.add_argument("--period", help="2026-12-01 (day), 2026-12 (month), 2026-Q4 (quarter) or 2026 (year)")
    p.add_argument("--from", dest="first", help="first day of a range (YYYY-MM-DD)")
    p.add_argument("--to", dest="last", help="last day of a range (YYYY-MM-DD)")
    p.add_argument("--by", default="service", choices=(*figures.DIMENSIONS, "eta"),
                   help="rows of a figures report (attendance: clerk or window); default service; "
                        "'eta' is short for --report eta by service")
    p.add_argument("--days", action="store_true", help="attendance: add a row per clerk and day")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("-o", "--output", help="file to write (default: standard output; required for xlsx)")
    return p


async def build(cfg: config.HallConfig, args: argparse.Namespace) -> dict[str, Any]:
    period = parse(args.period, first=args.first, last=args.last)
    now = SystemClock().now()
    store = open_store(cfg.store_url, hall_id=cfg.hall.id, admin=True)
    await store.open()
    try:
        book = catalog.build(cfg).get(Reports).book(store)
        if args.report == "figures":
            return await reports.figures_report(book, period, args.by, now=now)
        if args.report == "attendance":
            by = args.by if args.by in ("clerk", "window") else "clerk"
            return await reports.attendance_report(book, period, by, days=args.days, now=now)
        if args.report == "assessment":
            return await reports.assessment_report(book, period, now=now)
        if args.report == "eta":
            return await reports.eta_report(book, period, args.by)
        if args.report == "red-flags":
            return await reports.red_flag_report(book, period, now=now)
        if args.report == "time-limits":
            return await reports.time_limit_report(book, period, args.by)
        if args.report == "bundles":
            return await reports.bundles_report(book, period)
        return await alerts.history(cfg, store, period)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.by == "eta":
        args.report, args.by = "eta", "service"
    if args.format == "xlsx" and not args.output:
        print("error: an XLSX report needs -o FILE", file=sys.stderr)
        return 2
    if args.report == "alerts" and args.format != "json":
        print("error: the alert history is JSON only", file=sys.stderr)
        return 2
    try:
        cfg = config.load(args.config, store_url=args.store)
        report = asyncio.run(build(cfg, args))
    except config.ConfigError as exc:
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    except (HallError, StoreError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    if args.format == "json":
        data = (json.dumps(report, ensure_ascii=False, indent=1) + "\n").encode()
    else:
        data, _, _ = reports.file_of(args.report, report, args.format, cfg.hall.name)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"wrote {args.output} ({len(data)} bytes): {args.report} {report['period']['label']}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
    return 0
