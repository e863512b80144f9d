"""The admin commands a hall's IT staff type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ...conftest import ServeProcess, run_cli  # type: ignore[import-not-found]

pytestmark = pytest.mark.every_store  # the store is this module's subject


def args(proc: ServeProcess) -> list[str]:
    return ["--config", str(proc.hall_file), "--store", proc.store_url]


async def test_users_and_tokens_from_the_command_line(serve_process: ServeProcess, tmp_path: Path) -> None:
    out = run_cli("user", "add", *args(serve_process), "--role", "clerk", "--login", "zhangsan", "--name", "张三",
                  "--staff-no", "0012", "--windows", "15-18", "--password-stdin", stdin="s3cret-pw\n", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    dup = run_cli("user", "add", *args(serve_process), "--role", "clerk", "--login", "zhangsan", "--name", "x",
                  "--password-stdin", stdin="s3cret-pw\n", cwd=tmp_path)
    assert dup.returncode == 1 and "exists" in dup.stderr
    listed = run_cli("user", "list", *args(serve_process), cwd=tmp_path)
    assert "zhangsan\tclerk\t张三\t0012" in listed.stdout

    made = run_cli("token", "add", *args(serve_process), "--role", "agent", "--windows", "15-16", "--label", "keypads", cwd=tmp_path)
    assert made.returncode == 0
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("hc_") and " " not in secret
    token_id = run_cli("token", "list", *args(serve_process), cwd=tmp_path).stdout.split("\t")[0]

    serve_process.env["HALLCALL_AUTH_CACHE_SECONDS"] = "0"  # see a CLI revocation at once
    await serve_process.start()  # tokens and people made before or during serving both work
    async with aiohttp.ClientSession() as s:
        async with s.post(serve_process.base + "/api/v1/login", json={"login": "zhangsan", "password": "s3cret-pw"}) as r:
            assert r.status == 200
        headers = {"Authorization": f"Bearer {secret}"}
        async with s.post(serve_process.base + "/api/v1/windows/15/open", json={"staff_no": "0012"}, headers=headers) as r:
            assert r.status == 200 and (await r.json())["clerk_name"] == "张三"
        revoked = run_cli("token", "revoke", *args(serve_process), token_id, cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        async with s.get(serve_process.base + "/api/v1/devices", headers=headers) as r:
            assert r.status == 401


def test_bad_usage_exits_nonzero(tmp_path: Path) -> None:
    out = run_cli("token", "add", "--config", str(tmp_path / "missing.toml"), "--role", "kiosk", cwd=tmp_path)
    assert out.returncode == 1 and "missing.toml" in out.stderr
    out = run_cli("frobnicate", cwd=tmp_path)
    assert out.returncode == 2


def test_serve_without_the_pages_files_says_how_to_install(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    from queue_server.cli import main as cli
    from queue_server.web import app

    monkeypatch.setattr(app, "STATIC_DIR", tmp_path / "site-packages" / "static")  # as from a plain wheel
    assert cli.main(["serve", "--config", str(tmp_path / "never-read.toml")]) == 2
    err = capsys.readouterr().err
    assert "site-packages/static" in err and "pip install -e ." in err
