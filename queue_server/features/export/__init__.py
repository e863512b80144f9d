"""Export to the provincial 好差评 platform: service, evaluation and follow-up records, each once."""

from .feature import ProvincialExport

__all__ = ["ProvincialExport"]
