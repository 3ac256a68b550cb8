"""Saved scenarios: one row per named scenario (table `scenarios`).

A scenario keeps its author's PIN scope (`scope`, a JSON list; NULL = every PIN). It is
listed to a user whose own scope contains it (an unrestricted user sees every scenario; a
store user sees the ones made within their PINs), and only its author, a manager or an
admin may change it (the caller checks the role; `author_or` names who may). Names are
unique within a scope, ignoring case. Every write is one transaction that touches only
the `scenarios` domain and leaves an audit row.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime

import pandas as pd

from engine.scenarios.model import Scenario, ScenarioError
from engine.warehouse.db import Warehouse

COLUMNS = ["scenario_id", "name", "created_by", "created_at", "updated_by", "updated_at",
           "scope", "definition", "data_version", "summary"]


def _scope_json(scope) -> str | None:
    return None if scope is None else json.dumps(sorted({str(p) for p in scope}))


def _visible(scope_json, viewer_scope) -> bool:
    if viewer_scope is None:
        return True
    if scope_json is None or (isinstance(scope_json, float)) or scope_json == "":
        return False
    return set(json.loads(scope_json)) <= set(viewer_scope)


def to_scenario(row) -> Scenario:
    """The Scenario a `scenarios` row (from list_rows) stores."""
    d = json.loads(row["definition"])
    scope = json.loads(row["scope"]) if isinstance(row["scope"], str) else None
    return Scenario.from_dict(
        row["name"], d.get("selection"), d.get("assumptions"),
        scenario_id=row["scenario_id"], created_by=row["created_by"],
        created_at=row["created_at"], updated_by=row["updated_by"],
        updated_at=row["updated_at"], data_version=row["data_version"],
        scope=tuple(scope) if scope is not None else None)


def _rows(wh: Warehouse, where: str = "TRUE", params: list | None = None) -> pd.DataFrame:
    return wh.query(f"SELECT {', '.join(COLUMNS)} FROM scenarios WHERE {where} "
                    "ORDER BY lower(name), created_at", params or [])


def list_rows(wh: Warehouse, viewer_scope=None) -> pd.DataFrame:
    """Scenarios visible to a viewer with this PIN scope (None = all), by name: the
    stored columns plus `summary` parsed (dict)."""
    df = _rows(wh)
    df = df.loc[[_visible(s, viewer_scope) for s in df["scope"]]].reset_index(drop=True)
    df["summary"] = [json.loads(s) if isinstance(s, str) and s else {} for s in df["summary"]]
    return df


def list_scenarios(wh: Warehouse, viewer_scope=None) -> list[Scenario]:
    return [to_scenario(r) for _, r in list_rows(wh, viewer_scope).iterrows()]


def get(wh: Warehouse, name_or_id: str, viewer_scope=None) -> Scenario:
    """A visible scenario by id or by name (case-insensitive)."""
    key = str(name_or_id or "").strip()
    df = _rows(wh, "scenario_id = ? OR lower(name) = lower(?)", [key, key])
    df = df.loc[[_visible(s, viewer_scope) for s in df["scope"]]]
    if df.empty:
        raise ScenarioError("not_found", f"There is no saved scenario called '{key}' that "
                            "you can see.", key)
    if len(df) > 1:
        raise ScenarioError("ambiguous", f"Several scenarios are called '{key}'; use its id "
                            f"({', '.join(df['scenario_id'])}).", df["scenario_id"].tolist())
    return to_scenario(df.iloc[0])


def _name_taken(cur, name: str, scope_json, except_id: str | None) -> bool:
    rows = cur.execute("SELECT scenario_id, scope FROM scenarios WHERE lower(name) = lower(?)",
                       [name]).fetchall()
    return any(sid != except_id and scope == scope_json for sid, scope in rows)


def save(wh: Warehouse, scenario: Scenario, actor: str | None,
         summary: dict | None = None, data_version: str | None = None) -> Scenario:
    """Create (no id) or update (id given) a scenario; returns it as stored."""
    now = datetime.now()
    scope_json = _scope_json(scenario.scope)
    definition = json.dumps(scenario.definition(), sort_keys=True)
    body = json.dumps(summary, default=str) if summary is not None else None
    with wh.transaction(touches=("scenarios",)) as cur:
        if _name_taken(cur, scenario.name, scope_json, scenario.scenario_id):
            raise ScenarioError("name_taken", f"A scenario called '{scenario.name}' already "
                                "exists; choose another name or open that one.",
                                scenario.name)
        if scenario.scenario_id:
            hit = cur.execute("SELECT created_by, created_at FROM scenarios "
                              "WHERE scenario_id = ?", [scenario.scenario_id]).fetchone()
            if hit is None:
                raise ScenarioError("not_found", "That scenario no longer exists (deleted "
                                    "elsewhere?); save it under a new name.",
                                    scenario.scenario_id)
            cur.execute("UPDATE scenarios SET name = ?, updated_by = ?, updated_at = ?, "
                        "definition = ?, data_version = coalesce(?, data_version), "
                        "summary = coalesce(?, summary) WHERE scenario_id = ?",
                        [scenario.name, actor, now, definition, data_version, body,
                         scenario.scenario_id])
            sid, action = scenario.scenario_id, "scenario_updated"
        else:
            sid, action = uuid.uuid4().hex[:12], "scenario_created"
            cur.execute(f"INSERT INTO scenarios ({', '.join(COLUMNS)}) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [sid, scenario.name, actor, now, actor, now, scope_json, definition,
                         data_version, body])
        wh.audit(cur, actor, action, json.dumps({"scenario_id": sid, "name": scenario.name}))
    return get(wh, sid)


def record_result(wh: Warehouse, scenario_id: str, summary: dict, data_version: str) -> None:
    """Keep the step totals of the latest compute with the data version they used."""
    with wh.transaction(touches=("scenarios",), wait=False) as cur:
        cur.execute("UPDATE scenarios SET summary = ?, data_version = ? WHERE scenario_id = ?",
                    [json.dumps(summary, default=str), data_version, scenario_id])


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
    with wh.transaction(touches=("scenarios",)) as cur:
        cur.execute("DELETE FROM scenarios WHERE scenario_id = ?", [src.scenario_id])
        wh.audit(cur, actor, "scenario_deleted",
                 json.dumps({"scenario_id": src.scenario_id, "name": src.name}))
    return src


def may_change(scenario: Scenario, user: str | None, role: str | None) -> bool:
    """The author, a manager or an admin may rename, edit or delete a scenario."""
    return role in ("admin", "manager") or (user is not None and user == scenario.created_by)
