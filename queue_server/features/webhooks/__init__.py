"""Signed webhooks with a durable outbox: every public event, per endpoint, retried until delivered."""

from .feature import Webhooks

__all__ = ["Webhooks"]
