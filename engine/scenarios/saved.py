"""Saved scenarios as Scenarios: read, save, rename, duplicate and delete them, and who may
change one. The rows live in the `scenarios` table (engine/warehouse/scenarios.py,
which knows nothing of the Scenario type); this module turns rows into Scenarios and the
table's refusals into ScenarioErrors (not_found 404, ambiguous / name_taken 409).

Only its author, a manager or an admin may change a scenario (the caller checks the role
with `may_change`)."""
from __future__ import annotations

import json

from engine.scenarios.model import Scenario, ScenarioError
from engine.warehouse import scenarios as store
from engine.warehouse.db import Warehouse


def to_scenario(row) -> Scenario:
    """The Scenario a `scenarios` row (warehouse.scenarios.list_rows / find_rows) stores."""
    d = json.loads(row["definition"])
    scope = json.loads(row["scope"]) if isinstance(row["scope"], str) else None
    return Scenario.from_dict(
        row["name"], d.get("selection"), d.get("assumptions"),
        scenario_id=row["scenario_id"], created_by=row["created_by"],
        created_at=row["created_at"], updated_by=row["updated_by"],
        updated_at=row["updated_at"], data_version=row["data_version"],
        scope=tuple(scope) if scope is not None else None)


def list_scenarios(wh: Warehouse, viewer_scope=None) -> list[Scenario]:
    """The scenarios a viewer with this PIN scope (None = all) may see, by name."""
    return [to_scenario(r) for _, r in store.list_rows(wh, viewer_scope).iterrows()]


def get(wh: Warehouse, name_or_id: str, viewer_scope=None) -> Scenario:
    """A visible scenario by id or by name (case-insensitive)."""
    key = str(name_or_id or "").strip()
    df = store.find_rows(wh, key, viewer_scope)
    if df.empty:
        raise ScenarioError("not_found", f"There is no saved scenario called '{key}' that "
                            "you can see.", key)
    if len(df) > 1:
        raise ScenarioError("ambiguous", f"Several scenarios are called '{key}'; use its id "
                            f"({', '.join(df['scenario_id'])}).", df["scenario_id"].tolist())
    return to_scenario(df.iloc[0])


def save(wh: Warehouse, scenario: Scenario, actor: str | None,
         summary: dict | None = None, data_version: str | None = None) -> Scenario:
    """Create (no id) or update (id given) a scenario; returns it as stored."""
    try:
        sid = store.write(wh, scenario.scenario_id, scenario.name, scenario.scope,
                          scenario.definition(), actor, summary, data_version)
    except store.ScenarioConflict as exc:
        raise ScenarioError(exc.code, exc.message, exc.evidence) from exc
    return get(wh, sid)


def duplicate(wh: Warehouse, name_or_id: str, new_name: str, actor: str | None,
              viewer_scope=None) -> Scenario:
    src = get(wh, name_or_id, viewer_scope)
    copy = Scenario(name=new_name, selection=src.selection, assumptions=src.assumptions,
                    scope=tuple(viewer_scope) if viewer_scope is not None else src.scope)
    return save(wh, copy, actor)


def rename(wh: Warehouse, name_or_id: str, new_name: str, actor: str | None,
           viewer_scope=None) -> Scenario:
    src = get(wh, name_or_id, viewer_scope)
    return save(wh, Scenario(name=new_name, selection=src.selection,
                             assumptions=src.assumptions, scenario_id=src.scenario_id,
                             scope=src.scope), actor)


def delete(wh: Warehouse, name_or_id: str, actor: str | None, viewer_scope=None) -> Scenario:
    src = get(wh, name_or_id, viewer_scope)
    store.delete_row(wh, src.scenario_id, src.name, actor)
    return src


def may_change(scenario: Scenario, user: str | None, role: str | None) -> bool:
    """The author, a manager or an admin may rename, edit or delete a scenario."""
    return role in ("admin", "manager") or (user is not None and user == scenario.created_by)
