"""容缺受理: services accepted with materials still missing, and their due dates."""

from .feature import PendingMaterials

__all__ = ["PendingMaterials"]
