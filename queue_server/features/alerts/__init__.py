"""Live supervision alerts (实时监督预警): thresholds, the checker, the board, the webhook."""

from .feature import Alerts

__all__ = ["Alerts"]
