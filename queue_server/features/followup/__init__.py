"""Bad-review follow-up (差评整改): a case for every 不满意 or 非常不满意 rating, worked step by step."""

from .feature import FollowUp

__all__ = ["FollowUp"]
