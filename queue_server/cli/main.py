"""The ``hallcall`` command: serve, demo, config check, users, tokens, agents, reports."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from typing import Awaitable, Callable, TypeVar

from queue_server import __version__
from queue_server.core import config
from queue_server.core.clock import SystemClock
from queue_server.features import catalog
from queue_server.service import auth
from queue_server.sim import plan, replay
from queue_server.store import Store, StoreError, open_store

from . import backup, demo, logs, report, systemd

DEFAULT_CONFIG = "hall.toml"
T = TypeVar("T")


def _windows(spec: str) -> tuple[int, ...]:
    """Parse "3" or "1-8" or "1-8,12" into window numbers."""
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return tuple(sorted(set(out)))


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG, help="hall TOML file (default: hall.toml)")
    p.add_argument("--store", help="store URL, overriding the file's [store] url")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hallcall", description="Queue calling for government service halls.")
    parser.add_argument("--version", action="version", version=f"hallcall {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="text", choices=logs.FORMATS,
                        help="text lines, or one JSON object per line (docs/operations.md)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the hall server")
    _store_args(serve)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request")
    serve.add_argument("--metrics-listen", metavar="HOST:PORT", type=_address,
                       help="serve /metrics without a token on this address only (else /metrics on the main port "
                            "needs the token in $HALLCALL_METRICS_TOKEN)")

    demo = sub.add_parser("demo", help="run the sample hall with demo people, tokens, voice and a virtual printer")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--dir", default="var/demo", help="where the demo keeps its database and outputs")
    demo.add_argument("--keep", action="store_true", help="keep the previous demo database; its day goes on from where it stopped")
    demo.add_argument("--no-voice", action="store_true")
    demo.add_argument("--no-traffic", action="store_true", help="do not simulate citizens and clerks")
    demo.add_argument("--real-clock", action="store_true",
                      help="run on the real time (by default the demo's day starts just before the hall opens)")

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="action", required=True)
    check = cfg_sub.add_parser("check", help="validate a hall file and print its summary")
    check.add_argument("file")
    cfg_sub.add_parser("sample", help="print the sample county hall's file, a start for your hall.toml")

    user = sub.add_parser("user", help="manage clerks, managers and admins")
    user_sub = user.add_subparsers(dest="action", required=True)
    add = user_sub.add_parser("add", help="add a person")
    _store_args(add)
    add.add_argument("--role", required=True, choices=auth.PEOPLE_ROLES)
    add.add_argument("--login", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--staff-no", default="")
    add.add_argument("--department", default="")
    add.add_argument("--photo", default="")
    add.add_argument("--windows", default="", help="windows a clerk may open, e.g. 1-8 (default: any)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    lst = user_sub.add_parser("list", help="list people")
    _store_args(lst)

    token = sub.add_parser("token", help="manage device tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    tadd = token_sub.add_parser("add", help="create a token; it is printed alone on the last line")
    _store_args(tadd)
    tadd.add_argument("--role", required=True, choices=auth.DEVICE_ROLES)
    tadd.add_argument("--label", default="")
    group = tadd.add_mutually_exclusive_group()
    group.add_argument("--window", type=int)
    group.add_argument("--windows", default="")
    tadd.add_argument("--kiosk", default="", help="kiosk id (kiosk and agent tokens that print)")
    tadd.add_argument("--green", action="store_true", help="kiosk may issue green-channel tickets")
    trev = token_sub.add_parser("revoke", help="revoke a token by id")
    _store_args(trev)
    trev.add_argument("id")
    tlist = token_sub.add_parser("list", help="list tokens")
    _store_args(tlist)

    for name, helptext in (("voice", "run the voice agent"), ("devices", "run the serial device agent"),
                           ("report", "write a report"), ("simulate", "replay a day of arrivals"),
                           ("plan", "plan how many windows each zone opens, hour by hour"),
                           ("backup", "back the hall's store up to a file"), ("restore", "restore a backup into a store"),
                           ("migrate", "move a hall and its history to another store")):
        sub.add_parser(name, help=helptext, add_help=False)
    return parser


def _load(args: argparse.Namespace) -> config.HallConfig:
    cfg = config.load(args.config, store_url=args.store)
    catalog.build(cfg)  # the whole file is checked, features' tables too
    return cfg


async def _with_store(cfg: config.HallConfig, fn: Callable[[Store], Awaitable[T]]) -> T:
    store = open_store(cfg.store_url, hall_id=cfg.hall.id, admin=True)
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


def cmd_user(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if args.action == "list":
        async def show(store: Store) -> None:
            for person in await store.people():
                print(f"{person.login}\t{person.role}\t{person.name}\t{person.staff_no}\t{'active' if person.active else 'inactive'}")

        asyncio.run(_with_store(cfg, show))
        return 0
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    if len(password) < 6:
        print("error: the password must have at least 6 characters", file=sys.stderr)
        return 2
    windows = _windows(args.windows)
    unknown = [n for n in windows if n not in cfg.windows]
    if unknown:
        print(f"error: no window {unknown[0]} in {cfg.source}", file=sys.stderr)
        return 2

    async def add(store: Store) -> int:
        if await store.person(login=args.login) is not None:
            print(f"error: login {args.login!r} exists", file=sys.stderr)
            return 1
        if args.staff_no and await store.person(staff_no=args.staff_no) is not None:
            print(f"error: staff number {args.staff_no!r} exists", file=sys.stderr)
            return 1
        person = auth.new_person(args.login, args.name, args.role, password, staff_no=args.staff_no,
                                 department=args.department, photo=args.photo, windows=windows)
        await store.put_person(person)
        print(f"added {person.role} {person.login} ({person.name}) id {person.id}")
        return 0

    return asyncio.run(_with_store(cfg, add))


def cmd_token(args: argparse.Namespace) -> int:
    cfg = _load(args)

    async def run(store: Store) -> int:
        authn = auth.Authenticator(store, SystemClock())
        if args.action == "list":
            for t in await store.tokens():
                state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
                print(f"{t.id}\t{t.role}\t{t.label}\twindows={','.join(map(str, t.windows)) or '-'}\tkiosk={t.kiosk or '-'}\t{state}")
            return 0
        if args.action == "revoke":
            row = await authn.revoke_token(args.id)
            if row is None:
                print(f"error: no token {args.id}", file=sys.stderr)
                return 1
            print(f"revoked {row.id} ({row.role} {row.label})")
            return 0
        windows = (args.window,) if args.window else _windows(args.windows)
        unknown = [n for n in windows if n not in cfg.windows]
        if unknown:
            print(f"error: no window {unknown[0]} in {cfg.source}", file=sys.stderr)
            return 2
        secret, row = await authn.add_token(args.role, args.label or args.role, windows=windows, kiosk=args.kiosk,
                                            green=args.green)
        print(f"created {row.role} token {row.id} ({row.label}); keep it secret, it is shown once:")
        print(secret)
        return 0

    return asyncio.run(_with_store(cfg, run))


def cmd_config(args: argparse.Namespace) -> int:
    if args.action == "sample":
        print(demo.HALL_FILE.read_text(encoding="utf-8"), end="")
        return 0
    try:
        cfg = config.load(args.file)
        catalog.build(cfg)
    except config.ConfigError as exc:
        print(f"{len(exc.issues)} problem(s) in {args.file}:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    print(cfg.summary())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from queue_server.web import health, metrics
    from queue_server.web.app import LISTEN_BACKLOG, STATIC_DIR, hall_of, make_app, use_uvloop

    if not (STATIC_DIR / "js").is_dir():
        print(f"error: the pages' files are not at {STATIC_DIR}; install hallcall from its wheel or "
              "a checkout (docs/deployment.md)", file=sys.stderr)
        return 2
    cfg = _load(args)
    args.log_context.hall = cfg.hall.id
    extras = [metrics.separate_site(*args.metrics_listen)] if args.metrics_listen else []
    app = make_app(cfg, extras=extras, metrics_token=os.environ.get(metrics.TOKEN_ENV) or None)
    hall = hall_of(app)
    app.cleanup_ctx.append(systemd.watchdog(lambda: health.alive(hall)))

    def ready(_: str) -> None:
        # Once the socket listens: supervisors and tests wait for this line, systemd for READY=1.
        print(f"hallcall {__version__} ready: {cfg.hall.name} on http://{args.host}:{args.port} (store {cfg.store_url})", flush=True)
        systemd.notify(f"READY=1\nSTATUS=serving {cfg.hall.id} on port {args.port}")

    use_uvloop()
    web.run_app(app, host=args.host, port=args.port, print=ready, shutdown_timeout=5, backlog=LISTEN_BACKLOG,
                access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
                access_log_class=logs.AccessLog)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Agent and report commands own their argument parsing.
    if argv and argv[0] in ("voice", "devices", "report", "simulate", "plan", "backup", "restore", "migrate"):
        return _delegate(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    args.log_context = logs.setup(args.log_level, args.log_format)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "demo":
            return demo.run_demo(args)
        if args.command == "config":
            return cmd_config(args)
        if args.command == "user":
            return cmd_user(args)
        if args.command == "token":
            return cmd_token(args)
    except config.ConfigError as exc:
        print(f"{len(exc.issues)} problem(s) in the configuration:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


def _delegate(name: str, argv: list[str]) -> int:
    logs.setup("INFO")
    if name == "voice":
        from voice.agent import main as voice_main

        return voice_main(argv)
    if name == "devices":
        from devices.agent import main as devices_main

        return devices_main(argv)
    if name == "report":
        return report.main(argv)
    if name == "plan":
        return plan.main(argv)
    if name in ("backup", "restore", "migrate"):
        return backup.main(name, argv)
    return replay.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
