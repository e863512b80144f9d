"""The ``[webhooks.<name>]`` tables: one endpoint each, with what it subscribes to and how it retries."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from queue_server.core.config import ConfigIssue, HallConfig, Section
from queue_server.core.errors import Unavailable

from .payload import check_pattern

_NAME = re.compile(r"^[a-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    events: tuple[str, ...]
    secret_env: str = ""
    secret_file: str = ""
    timeout_seconds: float = 5.0
    max_attempts: int = 12
    backoff_seconds: float = 10.0  # before the first retry; doubles each time
    max_backoff_seconds: float = 3600.0

    @property
    def shown_url(self) -> str:
        """The URL without its query string or user info, which may carry a token."""
        u = urlsplit(self.url)
        return f"{u.scheme}://{u.hostname}{':' + str(u.port) if u.port else ''}{u.path}"

    def secret(self) -> bytes:
        """The signing secret, read from the environment or its file (never from the hall file)."""
        if self.secret_env:
            value = os.environ.get(self.secret_env, "")
            where = f"the environment variable {self.secret_env}"
        else:
            try:
                value = Path(self.secret_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise Unavailable(f"webhook {self.name}: cannot read its secret file: {exc}") from None
            where = self.secret_file
        value = value.strip()
        if len(value) < 16:
            raise Unavailable(f"webhook {self.name}: the secret in {where} must be at least 16 characters")
        return value.encode()


def parse(cfg: HallConfig) -> tuple[list[Endpoint], list[ConfigIssue]]:
    top = Section(cfg, "webhooks")
    out: list[Endpoint] = []
    issues: list[ConfigIssue] = []
    for name in list(top.raw):
        sec = top.table(name)
        if not _NAME.match(name):
            sec.fail(None, "an endpoint's name is 1-40 of a-z, 0-9, _ and -")
        d = Endpoint(name, "", ())
        url = sec.get("url", "")
        if not url.startswith(("http://", "https://")):
            sec.fail("url", "must be an http:// or https:// URL")
        events: object = sec.raw.get("events", ["*"])
        sec.known("events")
        if not isinstance(events, list) or not events or not all(isinstance(e, str) and check_pattern(e) for e in events):
            sec.fail("events", "must list public events (ticket.called…), families (alert.*) or *; see docs/webhooks.md")
            events = []
        assert isinstance(events, list)
        secret_env, secret_file = sec.get("secret_env", ""), sec.get("secret_file", "")
        if bool(secret_env) == bool(secret_file):
            sec.fail("secret_env", "give exactly one of secret_env and secret_file (the secret stays out of this file)")
        ep = Endpoint(name, url, tuple(events), secret_env, secret_file,
                      sec.get("timeout_seconds", d.timeout_seconds, lo=0.1, hi=60),
                      sec.get("max_attempts", d.max_attempts, lo=1, hi=50),
                      sec.get("backoff_seconds", d.backoff_seconds, lo=0.01, hi=3600),
                      sec.get("max_backoff_seconds", d.max_backoff_seconds, lo=0.01, hi=86400))
        issues += sec.finish()
        out.append(ep)
    return out, issues
