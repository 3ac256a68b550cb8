"""Stored forecasts (one series or a batch) and backtest accuracy.

Reads come from the latest successful forecast run (`forecast_runs`, `forecasts`); the
accuracy of a series is the engine's `score` over that run's point-level backtest rows
for the model that was actually used (the 'routed' rows when the run routed per series).
"""
from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query

from api.errors import ApiError
from api.schemas import (MAX_HORIZON, PIN_PATTERN, AccuracyResponse, ApiDate, BatchRequest,
                         BatchResponse, SeriesForecast, error_responses)
from api.security import Caller, batch_limit, current_caller
from engine.forecast.metrics import score
from engine.warehouse import forecasts, sales_history
from engine.warehouse.runs import latest_forecast_run

router = APIRouter(tags=["forecasts"])
KEYS = ["sku_id", "pin_code"]
ACCURACY_FIELDS = ["n", "wape", "mape", "smape", "mae", "rmse", "bias_pct", "coverage95",
                   "coverage80"]


def num(value):
    """JSON-safe number: NaN/inf/None -> None, numpy -> float."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if pd.notna(f) and abs(f) != float("inf") else None


def when(value):
    """A warehouse timestamp (naive, local time) as a timezone-aware datetime (RFC 3339)."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime().astimezone()


def latest_run(wh, cached, version: str) -> dict:
    run = cached(("latest_run", version), lambda: latest_forecast_run(wh))
    if run is None:
        raise ApiError(404, "no_forecast_run", "No forecast has been run yet: run "
                       "`python -m engine forecast` (or use the Forecast page) first.")
    return run


def series_accuracy(wh, run_id: str) -> dict[tuple[str, str], dict]:
    """Backtest metrics per series of a run (engine `score`), for the model each series'
    forecast used: stored with the run (engine/forecast/scores.py), then looked up."""
    from engine.forecast.scores import series_scores

    scored = series_scores(wh, run_id)       # stored when the run was saved
    out = {}
    for r in scored.to_dict("records"):
        source = ("per-series routed model" if r["model"] == "routed" else "model used")
        out[(r["sku_id"], r["pin_code"])] = {
            "source": f"backtest of forecast run {run_id} ({source})", "model": r["model"],
            **{k: (int(r[k]) if k == "n" else num(r[k])) for k in ACCURACY_FIELDS}}
    return out


def series_forecasts(wh, cached, items: list[tuple[str, str, int]]
                     ) -> tuple[dict, list[dict], list[dict]]:
    """(run, results, errors) for (sku_id, pin_code, horizon) requests, in request order."""
    version = wh.data_version("sales", "forecasts", "plans")
    run = latest_run(wh, cached, version)
    run_id = str(run["run_id"])
    pairs = list(dict.fromkeys((s, p) for s, p, _ in items))
    groups = forecasts.series_forecasts(wh, run_id, pairs, max(h for _, _, h in items))
    acc = cached(("series_accuracy", version, run_id),
                 lambda: series_accuracy(wh, run_id)) if groups else {}
    stored_h = int(run["horizon"]) if pd.notna(run.get("horizon")) else None
    cutoff = None if pd.isna(run.get("cutoff")) else pd.Timestamp(run["cutoff"]).date()
    updated = when(run["created_at"])
    results, errors = [], []
    for i, (sku, pin, h) in enumerate(items):
        rows = groups.get((sku, pin))
        if rows is None:
            errors.append({"index": i, "sku_id": sku, "pin_code": pin, "code": "not_found",
                           "message": f"The latest forecast run ({run_id}) has no forecast "
                                      f"for SKU {sku} at PIN {pin}: the series has no sales "
                                      "history, or is outside your scope."})
            continue
        rows = rows[:h]
        note = None
        if len(rows) < h:
            note = (f"The latest run forecasts {len(rows)} days"
                    + (f" (horizon {stored_h})" if stored_h else "")
                    + f"; {h} were asked for. Run a longer forecast for more days.")
        results.append({
            "sku_id": sku, "pin_code": pin, "run_id": run_id, "model": str(rows[0][4]),
            "interval_level": 0.95, "horizon": len(rows), "horizon_requested": h,
            "cutoff": cutoff, "last_updated": updated,
            "forecast": [{"date": d, "forecast": num(f) or 0.0, "lo": num(lo), "hi": num(hi)}
                         for d, f, lo, hi, _ in rows],
            "accuracy": acc.get((sku, pin)), "note": note})
    return run, results, errors


@router.get("/v1/forecasts", response_model=SeriesForecast, response_model_exclude_none=False,
            responses=error_responses(401, 403, 404, 422, 429, 503))
def get_forecast(
        sku_id: Annotated[str, Query(min_length=1, max_length=64,
                                     pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
                                     examples=["DA-0002"])],
        pin_code: Annotated[str, Query(pattern=PIN_PATTERN, examples=["110002"])],
        horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON)] = 28,
        caller: Caller = Depends(current_caller)) -> dict:
    """Per-day forecast of one SKU at one PIN code from the latest stored run, with the 95%
    prediction interval, the model used, its backtest accuracy and when it was made."""
    caller.require("view", "Forecast")
    caller.check_pin(pin_code)
    _, results, errors = series_forecasts(caller.wh, caller.cached, [(sku_id, pin_code, horizon)])
    if errors:
        raise ApiError(404, "forecast_not_found", errors[0]["message"])
    return results[0]


@router.post("/v1/forecasts/batch", response_model=BatchResponse,
             responses=error_responses(401, 403, 404, 422, 429, 503))
def batch_forecasts(body: BatchRequest, caller: Caller = Depends(batch_limit)) -> dict:
    """Up to 1,000 (sku_id, pin_code, horizon) requests at once. Series without a stored
    forecast are listed in `errors` (by request index); the rest in `results`. Counts
    against the batch rate limit (default 10 per minute). An inline `plan` (rows as in a
    plan upload) scales the stored forecast on the days it covers by the estimated price
    and promotion responses; each point then carries `planned` and `forecast_no_plan`."""
    caller.require("view", "Forecast")
    for item in body.items:
        caller.check_pin(item.pin_code)
    run, results, errors = series_forecasts(
        caller.wh, caller.cached, [(i.sku_id, i.pin_code, i.horizon) for i in body.items])
    if body.plan and results:
        _apply_inline_plan(caller, run, results, body.plan)
    return {"run_id": str(run["run_id"]),
            "last_updated": when(run["created_at"]),
            "results": results, "errors": errors}


def _apply_inline_plan(caller: Caller, run: dict, results: list[dict], plan: list) -> None:
    """Scale the results' points on the plan's days (engine.forecast.plan.respond), in
    place; the response curves are estimated once per data version."""
    from engine.forecast.plan import respond
    from engine.forecast.whatif import response_curves

    wh = caller.wh
    version = wh.data_version("sales", "festivals", "weather")
    response = caller.cached(("response_curves", version), lambda: response_curves(wh))
    pairs = list(dict.fromkeys((r["sku_id"], r["pin_code"]) for r in results))
    regular = sales_history.regular_prices(wh, pairs)
    base = pd.DataFrame([{"i": i, "k": k, "sku_id": r["sku_id"], "pin_code": r["pin_code"],
                          "date": p["date"], "forecast": p["forecast"], "lo": p["lo"],
                          "hi": p["hi"]}
                         for i, r in enumerate(results) for k, p in enumerate(r["forecast"])])
    base = base.merge(regular[["sku_id", "pin_code", "category"]], on=KEYS, how="left")
    rows = pd.DataFrame([p.model_dump() for p in plan])
    rows["date_from"] = rows["date_from"].fillna(rows["date"])
    rows["date_to"] = rows["date_to"].fillna(rows["date_from"])
    rows["plan_version"], rows["row_no"] = 1, range(len(rows))
    out = respond(base, rows, response, regular[["sku_id", "pin_code", "regular_price"]],
                  str(run.get("grain") or "D"))
    for r in out.itertuples(index=False):
        point = results[r.i]["forecast"][r.k]
        point.update(forecast=num(r.forecast) or 0.0, lo=num(r.lo), hi=num(r.hi),
                     planned=bool(r.planned), forecast_no_plan=num(r.forecast_no_plan))
    for res in results:
        res["note"] = " ".join(filter(None, [res.get("note"), (
            "Inline plan: days it covers are scaled from the stored forecast by the "
            "estimated price and promotion responses (no refit).")]))


@router.get("/v1/analytics/accuracy", response_model=AccuracyResponse,
            responses=error_responses(401, 403, 404, 422, 429, 503))
def accuracy(group_by: Literal["category", "state"] = "category",
             start_date: ApiDate | None = None, end_date: ApiDate | None = None,
             caller: Caller = Depends(current_caller)) -> dict:
    """Backtest accuracy (WAPE, MAPE, MASE, bias, interval coverage, value added over the
    seasonal naive) of the latest run with backtests, per model and category or state,
    over backtest dates between start_date and end_date (inclusive)."""
    from engine.warehouse.backtests import backtest_frame
    from engine.warehouse.runs import backtest_runs
    from engine.warehouse.sql import Filters

    caller.require("view", "Accuracy")
    if start_date and end_date and end_date < start_date:
        raise ApiError(422, "validation_error", f"end_date ({end_date}) is before start_date "
                       f"({start_date}); swap them.", {"field": "end_date"})
    wh = caller.wh
    runs = backtest_runs(wh)
    if runs.empty:
        raise ApiError(404, "no_backtest", "No backtest has been stored yet: run "
                       "`python -m engine backtest` (or a forecast) first.")
    run_id = str(runs["run_id"].iloc[0])
    scope = tuple(caller.user.pin_codes) if caller.user.is_scoped else None
    frame = caller.cached(("backtest_frame", wh.data_version("sales", "forecasts"), run_id),
                               lambda: backtest_frame(wh, run_id, Filters(pin_scope=scope)))
    if start_date:
        frame = frame[frame["date"] >= pd.Timestamp(start_date)]
    if end_date:
        frame = frame[frame["date"] <= pd.Timestamp(end_date)]
    scored = score(frame, by=[group_by, "model"])
    rows = [{"group": None if pd.isna(r[group_by]) else str(r[group_by]),
             "model": str(r["model"]), "n": int(r["n"]),
             **{k: num(r[k]) for k in ("wape", "mape", "smape", "mae", "rmse", "bias_pct",
                                       "mase", "coverage80", "coverage95", "fva_pct")}}
            for r in scored.to_dict("records")]
    return {"run_id": run_id, "group_by": group_by, "start_date": start_date,
            "end_date": end_date, "rows": rows}
