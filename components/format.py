"""Indian number and date formatting for the UI (one implementation, in engine/textfmt.py,
shared with the engine's reason sentences)."""
from engine.textfmt import counted, dd_mmm, indian_grouping, inr, inr_compact, pct, units

__all__ = ["counted", "dd_mmm", "indian_grouping", "inr", "inr_compact", "pct", "units"]
