"""Saved scenarios (`engine.scenarios`): one set of assumptions computed from demand to
margin to orders to mandi buying, beside the baseline.

    GET    /v1/scenarios                 the scenarios the caller's PIN scope can see
    POST   /v1/scenarios                 save one (run_scenario)
    GET    /v1/scenarios/{id}            one, with its last stored step totals
    PATCH  /v1/scenarios/{id}            rename / change it (its author, a manager, an admin)
    DELETE /v1/scenarios/{id}            delete it (the same)
    POST   /v1/scenarios/{id}/run        compute, store the step totals, return everything
    GET    /v1/scenarios/{id}/result     compute within the caller's PIN scope (not stored)
    POST   /v1/scenarios/compute         an unsaved scenario from the body (dashboards)

Roles: listing needs `view` (every role), results the Scenarios page (not store users:
margins and mandi costs are not theirs to see), saving and computing `run_scenario`,
changing a saved one its author, a manager or an admin. `{id}` is the scenario's id
or its name. A store user sees only scenarios made within
their PIN codes and computes them within those; results are cached per data version of
the domains a scenario reads (`compute.DEPENDS`), the PIN scope and the definition.
ScenarioErrors answer with their own code: 404 not_found, 409 name_taken / ambiguous /
no_forecast, else 422 (bad_assumption, unknown_field, empty_selection, ...).
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Path, Query

from api.errors import ApiError
from api.schemas import (ScenarioCompute, ScenarioCreate, ScenarioDeleted, ScenarioList,
                         ScenarioOut, ScenarioPatch, ScenarioResultOut, error_responses)
from api.security import Caller, current_caller

router = APIRouter(tags=["scenarios"])
STEP_KEYS = ("step", "label", "unit", "baseline", "scenario", "delta", "delta_pct",
             "delta_inr", "reason")
ScenarioKey = Annotated[str, Path(min_length=1, max_length=120,
                                  description="the scenario's id, or its name")]
Limit = Annotated[int, Query(ge=1, le=5000, description="rows per table (SKUs, lines)")]


# ---- JSON ---------------------------------------------------------------------------------
def _plain(value):
    """A JSON-safe scalar: NaN/inf -> None, numpy -> Python, dates -> ISO text."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, str)) else str(value)


def _records(frame, limit: int | None = None) -> list[dict]:
    if frame is None or not len(frame):
        return []
    if limit is not None:
        frame = frame.head(limit)
    return [{str(k): _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]


def _when(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("Asia/Kolkata")
    return ts.to_pydatetime().astimezone(timezone.utc)


def _scenario_out(sc, caller: Caller | None, summary: dict | None = None) -> dict:
    from engine.scenarios.saved import may_change

    return {"scenario_id": sc.scenario_id, "name": sc.name, "label": sc.selection.label(),
            "created_by": sc.created_by, "created_at": _when(sc.created_at),
            "updated_by": sc.updated_by, "updated_at": _when(sc.updated_at),
            "data_version": sc.data_version,
            "selection": _plain(sc.selection.to_dict()),
            "assumptions": _plain(sc.assumptions.to_dict()),
            "summary": _plain(summary) if summary else None,
            "can_change": bool(caller is not None and sc.scenario_id is not None
                               and not caller.user.is_scoped
                               and may_change(sc, caller.user.username, caller.user.role))}


def _step(s: dict) -> dict:
    out = {k: _plain(s.get(k)) for k in STEP_KEYS}
    out["reason"] = out["reason"] or ""
    out["extras"] = {k: _plain(v) for k, v in s.items() if k not in STEP_KEYS}
    return out


def result_payload(res, limit: int = 500) -> dict:
    """A ScenarioResult as the API's JSON (ScenarioResultOut without `scenario` and
    `stored`)."""
    dem, pri, reo, src = res.demand, res.pricing, res.reorder, res.sourcing
    lines = reo.get("lines") if reo.get("available") else None
    return {
        "data_version": res.version, "run_id": res.run_id, "grain": res.grain,
        "levers": {k: float(v) for k, v in dem["levers"].items()},
        "steps": [_step(s) for s in res.steps],
        "demand": {"totals": _plain(dem["totals"]), "periods": _records(dem["periods"]),
                   "by_category": _records(dem["by_category"])},
        "pricing": {"totals": _plain(pri["totals"]), "total_skus": int(len(pri["by_sku"])),
                    "by_sku": _records(pri["by_sku"], limit)},
        "reorder": {"available": bool(reo.get("available")), "note": reo.get("note"),
                    "baseline": _plain(reo.get("baseline")),
                    "scenario": _plain(reo.get("scenario")),
                    "total_lines": int(len(lines)) if lines is not None else 0,
                    "lines": _records(lines, limit)},
        "sourcing": {"note": src.get("note"), "commodities": _records(src.get("table")),
                     "unlinked": _records(src.get("unlinked"))},
    }


# ---- helpers --------------------------------------------------------------------------------
def _viewer_scope(caller: Caller):
    return tuple(caller.user.pin_codes) if caller.user.is_scoped else None


def _compute_scope(caller: Caller, sc):
    """PIN codes a computation may use: the scenario's own scope and the caller's."""
    scopes = [set(s) for s in (sc.scope, _viewer_scope(caller)) if s is not None]
    return tuple(sorted(set.intersection(*scopes))) if scopes else None


def _summary_of(wh, scenario_id: str, viewer_scope) -> dict | None:
    from engine.warehouse import scenarios as scenario_rows

    rows = scenario_rows.list_rows(wh, viewer_scope)
    hit = rows[rows["scenario_id"] == scenario_id]
    return (hit["summary"].iloc[0] or None) if len(hit) else None


def _get(caller: Caller, key: str):
    from engine.scenarios import saved as saved_scenarios

    return saved_scenarios.get(caller.wh, key, _viewer_scope(caller))


def _may_change(caller: Caller, sc) -> None:
    from engine.scenarios.saved import may_change

    if caller.user.is_scoped or not may_change(sc, caller.user.username, caller.user.role):
        raise ApiError(403, "forbidden",
                       f"Only its author ({sc.created_by or 'unknown'}), a manager or an "
                       f"admin may change the scenario '{sc.name}'.",
                       {"scenario_id": sc.scenario_id, "created_by": sc.created_by})


def _computed(caller: Caller, sc, limit: int):
    """(summary, payload) of a scenario within the caller's scope, cached per data
    version of what scenarios read, scope, definition and limit."""
    from engine.scenarios import compute as C

    wh = caller.wh
    scope = _compute_scope(caller, sc)
    key = ("scenario", wh.data_version(*C.DEPENDS), scope,
           json.dumps(sc.definition(), sort_keys=True, default=str), int(limit))

    def build():
        res = C.compute(C.load_inputs(wh), sc, scope)
        return res.summary(), result_payload(res, limit)

    return caller.cached(key, build)


# ---- routes ---------------------------------------------------------------------------------
@router.get("/v1/scenarios", response_model=ScenarioList,
            responses=error_responses(401, 403, 429, 503))
def list_scenarios(caller: Caller = Depends(current_caller)) -> dict:
    """Saved scenarios the caller can see (a store user: those made within their PIN
    codes), by name, each with its last stored step totals."""
    from engine.scenarios import saved as saved_scenarios
    from engine.warehouse import scenarios as scenario_rows

    caller.require("view")
    rows = scenario_rows.list_rows(caller.wh, _viewer_scope(caller))
    scenarios = saved_scenarios.list_scenarios(caller.wh, _viewer_scope(caller))
    summaries = dict(zip(rows["scenario_id"], rows["summary"]))
    out = [_scenario_out(s, caller, summaries.get(s.scenario_id)) for s in scenarios]
    return {"total": len(out), "scenarios": out}


@router.post("/v1/scenarios", response_model=ScenarioOut, status_code=201,
             responses=error_responses(401, 403, 409, 422, 429, 503, 507))
def create_scenario(body: ScenarioCreate, caller: Caller = Depends(current_caller)) -> dict:
    """Save a scenario (needs the run_scenario permission). The name must be new (case
    ignored); assumptions out of range are a 422 naming the range."""
    from engine.scenarios import saved as saved_scenarios
    from engine.scenarios.model import Scenario

    caller.require("run_scenario")
    sc = Scenario.from_dict(body.name, body.selection.model_dump(),
                            body.assumptions.model_dump(), scope=_viewer_scope(caller))
    saved = saved_scenarios.save(caller.wh, sc, caller.user.username)
    return _scenario_out(saved, caller)


@router.post("/v1/scenarios/compute", response_model=ScenarioResultOut,
             responses=error_responses(401, 403, 409, 422, 429, 503))
def compute_unsaved(body: ScenarioCompute, limit: Limit = 500,
                    caller: Caller = Depends(current_caller)) -> dict:
    """Compute a scenario given in the body without saving it (dashboards): the chain,
    each step against the baseline, and the per-step tables."""
    from engine.scenarios.model import Scenario

    caller.require("run_scenario")
    sc = Scenario.from_dict(body.name, body.selection.model_dump(),
                            body.assumptions.model_dump(), scope=_viewer_scope(caller))
    _summary, payload = _computed(caller, sc, limit)
    return {"scenario": _scenario_out(sc, caller), **payload, "stored": False}


@router.get("/v1/scenarios/{scenario_id}", response_model=ScenarioOut,
            responses=error_responses(401, 403, 404, 409, 429, 503))
def get_scenario(scenario_id: ScenarioKey, caller: Caller = Depends(current_caller)) -> dict:
    """One scenario, with the step totals of its last stored run."""
    caller.require("view")
    sc = _get(caller, scenario_id)
    return _scenario_out(sc, caller, _summary_of(caller.wh, sc.scenario_id,
                                                 _viewer_scope(caller)))


@router.patch("/v1/scenarios/{scenario_id}", response_model=ScenarioOut,
              responses=error_responses(401, 403, 404, 409, 422, 429, 503, 507))
def patch_scenario(scenario_id: ScenarioKey, body: ScenarioPatch,
                   caller: Caller = Depends(current_caller)) -> dict:
    """Rename a scenario or change its selection or assumptions (the fields sent are
    merged into the stored ones). Its author, a manager or an admin only."""
    from engine.scenarios import saved as saved_scenarios
    from engine.scenarios.model import Scenario

    caller.require("view")
    sc = _get(caller, scenario_id)
    _may_change(caller, sc)
    selection = sc.selection.to_dict()
    assumptions = sc.assumptions.to_dict()
    if body.selection is not None:
        selection.update(body.selection.model_dump(exclude_unset=True))
    if body.assumptions is not None:
        assumptions.update(body.assumptions.model_dump(exclude_unset=True))
    new = Scenario.from_dict(body.name or sc.name, selection, assumptions,
                             scenario_id=sc.scenario_id, scope=sc.scope)
    saved = saved_scenarios.save(caller.wh, new, caller.user.username)
    return _scenario_out(saved, caller, _summary_of(caller.wh, saved.scenario_id,
                                                    _viewer_scope(caller)))


@router.delete("/v1/scenarios/{scenario_id}", response_model=ScenarioDeleted,
               responses=error_responses(401, 403, 404, 409, 429, 503, 507))
def delete_scenario(scenario_id: ScenarioKey,
                    caller: Caller = Depends(current_caller)) -> dict:
    """Delete a scenario. Its author, a manager or an admin only."""
    from engine.scenarios import saved as saved_scenarios

    caller.require("view")
    sc = _get(caller, scenario_id)
    _may_change(caller, sc)
    gone = saved_scenarios.delete(caller.wh, sc.scenario_id, caller.user.username)
    return {"deleted": gone.scenario_id, "name": gone.name}


@router.post("/v1/scenarios/{scenario_id}/run", response_model=ScenarioResultOut,
             responses=error_responses(401, 403, 404, 409, 422, 429, 503, 507))
def run_scenario(scenario_id: ScenarioKey, limit: Limit = 500,
                 caller: Caller = Depends(current_caller)) -> dict:
    """Compute a saved scenario against its baseline, store its step totals with the
    data version (as the Scenarios page and `python -m engine scenario run` do), and
    return the chain and the per-step tables. Needs the run_scenario permission."""
    from engine.warehouse import scenarios as scenario_rows
    from engine.warehouse.db import WarehouseBusyError

    caller.require("run_scenario")
    sc = _get(caller, scenario_id)
    summary, payload = _computed(caller, sc, limit)
    stored = True
    try:
        scenario_rows.record_result(caller.wh, sc.scenario_id, summary,
                                     summary["version"])
    except WarehouseBusyError:      # another write under way: the result still stands
        stored = False
    if stored:
        sc = _get(caller, sc.scenario_id)
    return {"scenario": _scenario_out(sc, caller, summary), **payload, "stored": stored}


@router.get("/v1/scenarios/{scenario_id}/result", response_model=ScenarioResultOut,
            responses=error_responses(401, 403, 404, 409, 422, 429, 503))
def scenario_result(scenario_id: ScenarioKey, limit: Limit = 500,
                    caller: Caller = Depends(current_caller)) -> dict:
    """Compute a saved scenario within the caller's PIN scope and return the chain and
    the per-step tables, without storing anything. Like the Scenarios page, not for store
    users (margins and mandi costs are not theirs to see)."""
    caller.require("view", page="Scenarios")
    sc = _get(caller, scenario_id)
    _summary, payload = _computed(caller, sc, limit)
    return {"scenario": _scenario_out(sc, caller, _summary_of(
        caller.wh, sc.scenario_id, _viewer_scope(caller))), **payload, "stored": False}
