"""Signing a webhook body, and checking a signature as a receiver does (docs/webhooks.md).

The signature is HMAC-SHA256, keyed with the endpoint's secret, over the Unix time of
the attempt, a dot and the exact body bytes. The time is signed too, so a captured
delivery cannot be replayed later: a receiver refuses a timestamp too far from its clock.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hallcall-Signature"
TOLERANCE = 300  # seconds a receiver accepts between the signed time and its own clock


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def header(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<unix time>,v1=<hex signature>``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: bytes, value: str, body: bytes, now: float, tolerance: int = TOLERANCE) -> bool:
    """Whether a signature header is valid for the body and recent enough."""
    parts = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), parts.get("v1", ""))
