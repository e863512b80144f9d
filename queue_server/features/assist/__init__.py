"""帮办代办 (assisted service): citizens ask for an escort, the hall's guides take and record it."""

from .feature import Assist

__all__ = ["Assist"]
