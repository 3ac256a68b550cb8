"""Saved scenarios: one row per named scenario (table `scenarios`), as stored rows.

A scenario keeps its author's PIN scope (`scope`, a JSON list; NULL = every PIN). It is
listed to a user whose own scope contains it (an unrestricted user sees every scenario; a
store user sees the ones made within their PINs). Names are unique within a scope,
ignoring case. Every write is one transaction that touches only the `scenarios` domain and
leaves an audit row. This module speaks rows and plain values only: the Scenario type, who
may change one and the scenario errors live on the domain side (engine/scenarios/saved.py).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime

import pandas as pd

from engine.warehouse.db import Warehouse, WarehouseError

COLUMNS = ["scenario_id", "name", "created_by", "created_at", "updated_by", "updated_at",
           "scope", "definition", "data_version", "summary"]


def _scope_json(scope) -> str | None:
    return None if scope is None else json.dumps(sorted({str(p) for p in scope}))


class ScenarioConflict(WarehouseError):
    """A write the scenarios table refuses: code 'name_taken' (another scenario of the same
    scope has that name) or 'not_found' (the scenario was deleted meanwhile); the message
    says what to do, the evidence is the name or id."""

    code = "scenario_conflict"
    http_status = 409


def _visible(scope_json, viewer_scope) -> bool:
    if viewer_scope is None:
        return True
    if scope_json is None or (isinstance(scope_json, float)) or scope_json == "":
        return False
    return set(json.loads(scope_json)) <= set(viewer_scope)


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


def _name_taken(cur, name: str, scope_json, except_id: str | None) -> bool:
    rows = cur.execute("SELECT scenario_id, scope FROM scenarios WHERE lower(name) = lower(?)",
                       [name]).fetchall()
    return any(sid != except_id and scope == scope_json for sid, scope in rows)


def record_result(wh: Warehouse, scenario_id: str, summary: dict, data_version: str) -> None:
    """Keep the step totals of the latest compute with the data version they used."""
    with wh.transaction(touches=("scenarios",), wait=False) as cur:
        cur.execute("UPDATE scenarios SET summary = ?, data_version = ? WHERE scenario_id = ?",
                    [json.dumps(summary, default=str), data_version, scenario_id])


def find_rows(wh: Warehouse, key: str, viewer_scope=None) -> pd.DataFrame:
    """The stored rows visible to this viewer whose id is `key` or whose name is `key`
    (ignoring case): none, one, or several (the same name in different scopes)."""
    df = _rows(wh, "scenario_id = ? OR lower(name) = lower(?)", [key, key])
    return df.loc[[_visible(s, viewer_scope) for s in df["scope"]]].reset_index(drop=True)


def write(wh: Warehouse, scenario_id: str | None, name: str, scope, definition: dict,
          actor: str | None, summary: dict | None = None,
          data_version: str | None = None) -> str:
    """Create (no id) or update (id given) the row of a scenario; returns its id.
    ScenarioConflict when the name is taken in that scope or the row to update is gone."""
    now = datetime.now()
    scope_json = _scope_json(scope)
    body = json.dumps(definition, sort_keys=True)
    result = json.dumps(summary, default=str) if summary is not None else None
    with wh.transaction(touches=("scenarios",)) as cur:
        if _name_taken(cur, name, scope_json, scenario_id):
            raise ScenarioConflict(f"A scenario called '{name}' already exists; choose "
                                   "another name or open that one.", name, code="name_taken")
        if scenario_id:
            hit = cur.execute("SELECT created_by, created_at FROM scenarios "
                              "WHERE scenario_id = ?", [scenario_id]).fetchone()
            if hit is None:
                raise ScenarioConflict("That scenario no longer exists (deleted elsewhere?); "
                                       "save it under a new name.", scenario_id,
                                       code="not_found", http_status=404)
            cur.execute("UPDATE scenarios SET name = ?, updated_by = ?, updated_at = ?, "
                        "definition = ?, data_version = coalesce(?, data_version), "
                        "summary = coalesce(?, summary) WHERE scenario_id = ?",
                        [name, actor, now, body, data_version, result, scenario_id])
            sid, action = scenario_id, "scenario_updated"
        else:
            sid, action = uuid.uuid4().hex[:12], "scenario_created"
            cur.execute(f"INSERT INTO scenarios ({', '.join(COLUMNS)}) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [sid, name, actor, now, actor, now, scope_json, body, data_version,
                         result])
        wh.audit(cur, actor, action, json.dumps({"scenario_id": sid, "name": name}))
    return sid


def delete_row(wh: Warehouse, scenario_id: str, name: str, actor: str | None) -> None:
    """Delete one scenario's row, with an audit row naming it."""
    with wh.transaction(touches=("scenarios",)) as cur:
        cur.execute("DELETE FROM scenarios WHERE scenario_id = ?", [scenario_id])
        wh.audit(cur, actor, "scenario_deleted",
                 json.dumps({"scenario_id": scenario_id, "name": name}))
