"""Market intelligence over our own sales: trends with significance and the "what changed"
decomposition (trends.py), store clusters (clusters.py), the weekly digest (digest.py)."""
from __future__ import annotations

from engine.errors import MicroPulseError


class IntelError(MicroPulseError, ValueError):
    """A trend or cluster request that cannot be answered. `code` is stable for the API,
    `message` a sentence a manager can act on, `evidence` what was wrong (a value, rows)."""

    code = "intel_error"

    def __init__(self, code: str, message: str, evidence=None):
        super().__init__(message, evidence, code=code)
