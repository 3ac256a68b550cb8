"""The Forecast page's "Save scenario": its what-if kept as a full scenario. The page's
product / place and sidebar filters become the scenario's selection, the sliders its
assumptions, and the Scenarios page, the CLI and the API see it like any other (stored
through engine.scenarios.saved)."""
from __future__ import annotations

import pandas as pd

from engine.errors import MicroPulseError
from engine.scenarios import saved
from engine.scenarios.model import Assumptions, Scenario, ScenarioError
from engine.scenarios.model import Selection as ScenarioSelection
from engine.warehouse import scenarios
from engine.warehouse.db import Warehouse
from engine.warehouse.sql import Selection
from engine.warehouse.sql import Filters


class ScenarioStoreError(MicroPulseError):
    """A what-if could not be saved as a scenario, or found (the message says why)."""

    code = "scenario_store_error"
    http_status = 422


# The assumptions a what-if sets (its sliders).
_WHATIF_KEYS = ("price_change_pct", "temp_anomaly_c", "rain_anomaly_mm",
                "festival_intensity", "promo")


def scenario_selection(sel: Selection, f: Filters):
    """The scenario selection for what the Forecast page shows."""
    one = lambda v: (v,) if v else ()  # noqa: E731
    return ScenarioSelection(categories=one(sel.category) or f.categories,
                             skus=one(sel.sku_id), states=one(sel.state) or f.states,
                             cities=one(sel.city) or f.cities, pins=one(sel.pin_code))


def _store_error(exc) -> ScenarioStoreError:
    return ScenarioStoreError(getattr(exc, "message", str(exc)))


def save_scenario(wh: Warehouse, name: str, created_by: str | None, sel: Selection,
                  f: Filters, settings: dict, result: dict) -> None:
    """Save (or replace, same name and selection) a named what-if as a scenario."""
    try:
        target = scenario_selection(sel, f)
        scenario = Scenario(name=name, selection=target,
                            assumptions=Assumptions(**{k: v for k, v in settings.items()
                                                       if k in _WHATIF_KEYS}),
                            scope=f.pin_scope)
        existing = [s for s in saved.list_scenarios(wh, f.pin_scope)
                    if s.name.lower() == scenario.name.lower() and s.scope == (
                        tuple(sorted(f.pin_scope)) if f.pin_scope is not None else None)]
        if existing and existing[0].selection == target:
            scenario = Scenario(name=scenario.name, selection=target,
                                assumptions=scenario.assumptions,
                                scenario_id=existing[0].scenario_id, scope=scenario.scope)
        saved.save(wh, scenario, created_by, summary={"whatif": result})
    except ScenarioError as exc:
        raise _store_error(exc) from exc


def list_scenarios(wh: Warehouse, sel: Selection, f: Filters) -> pd.DataFrame:
    """Saved scenarios for this selection and view, oldest first: name, created_by,
    created_at, settings (the what-if sliders' values), result (the what-if totals kept
    when it was saved)."""
    cols = ["name", "created_by", "created_at", "settings", "result"]
    rows = scenarios.list_rows(wh, f.pin_scope)
    target = scenario_selection(sel, f)
    out = []
    for _, r in rows.iterrows():
        sc = saved.to_scenario(r)
        if sc.selection != target:
            continue
        ass = sc.assumptions.to_dict()
        out.append({"name": sc.name, "created_by": sc.created_by,
                    "created_at": sc.created_at,
                    "settings": {k: ass[k] for k in _WHATIF_KEYS},
                    "result": dict(r["summary"]).get("whatif", {})})
    return pd.DataFrame(out, columns=cols).sort_values(["created_at", "name"]) \
        .reset_index(drop=True) if out else pd.DataFrame(columns=cols)


def delete_scenario(wh: Warehouse, name: str, sel: Selection, f: Filters,
                    actor: str | None) -> int:
    """Delete the saved what-if `name` of this selection and view; 1 when deleted."""
    target = scenario_selection(sel, f)
    hits = [s for s in saved.list_scenarios(wh, f.pin_scope)
            if s.name == name and s.selection == target]
    if not hits:
        raise ScenarioStoreError(f"There is no saved scenario called '{name}' here.")
    try:
        saved.delete(wh, hits[0].scenario_id, actor, f.pin_scope)
    except ScenarioError as exc:
        raise _store_error(exc) from exc
    return 1
