"""效能监督: each ticket of a service with a 办结时限 judged on time or late when it is finished."""

from .feature import TimeLimits

__all__ = ["TimeLimits"]
