"""Scenarios through the whole loop: one named set of assumptions over products x places x
dates, computed from demand to price and margin to reorder to mandi sourcing, beside the
baseline (see `engine.scenarios.compute`). Saved through `engine.scenarios.saved` (Scenarios)
in `engine.warehouse.scenarios` (rows)."""
from engine.scenarios.model import Assumptions, Scenario, ScenarioError, Selection

__all__ = ["Assumptions", "Scenario", "ScenarioError", "Selection"]
