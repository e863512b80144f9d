"""The "couldn't get it done" ledger (办不成事台账): cases from the complaint window and from 办不成 outcomes."""

from .feature import Complaints

__all__ = ["Complaints"]
