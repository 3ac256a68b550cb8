"""Forecasts (`forecasts`, `forecast_routing`, `forecast_drivers`): a run's rows written
in one transaction, and every read of them - the run's rows for the pricing, reorder and
alert code, the API's per-series reads, the Forecast page's selection, series, detail,
routing mix and driver effects, the scenarios' base, the Map page's per-PIN forecast and
the routing shares `/metrics` exports.

A `Selection` (sql.py) is a product (all, a category or one SKU) crossed with a place
(all, a state, a city or one PIN code); aggregates are sums of the stored SKU x PIN
forecasts. Every Forecast page query also honours the sidebar `Filters` and its
`pin_scope` through `sql.selection_where`, so a crafted selection can never widen what a
user sees. `forecast_series` sums the series' bounds too (exact for one series); for an
aggregate the page recalibrates them on the selection's own summed backtest
(`backtests.selection_backtest`, engine.forecast.intervals.aggregate_bands). All SQL is
parameterised; frames are bulk-inserted through the database's DataFrame scan."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd

from engine.warehouse.backtests import BACKTEST_COLUMNS
from engine.warehouse.db import Warehouse
from engine.warehouse.runs import counted_run
from engine.warehouse.sql import (SALES_FROM, Filters, Selection, filter_where, in_clause,
                                  insert_frame, pairs_join, run_query, selection_where)


DRIVER_COLUMNS = ["sku_id", "pin_code", "date", "base", "trend_seasonality", "festival",
                  "weather", "price", "recent_demand", "festival_uplift", "temp_c",
                  "rainfall_mm", "planned_price"]
FORECAST_COLUMNS = ["sku_id", "pin_code", "date", "forecast", "lo", "hi", "lo80", "hi80",
                    "model", "weather_source"]
PLAN_COLUMNS = ["forecast_no_plan", "planned"]     # runs that read a price / promotion plan
DRIVER_GROUPS = ["trend_seasonality", "festival", "weather", "price", "recent_demand"]


def read_forecasts(wh: Warehouse, run_id: str) -> pd.DataFrame:
    return wh.query("SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, forecast, lo, "
                    "hi, lo80, hi80, model, weather_source FROM forecasts WHERE run_id = ? "
                    "ORDER BY sku_id, pin_code, date", [run_id])


def read_routing(wh: Warehouse, run_id: str) -> pd.DataFrame:
    return wh.query("SELECT sku_id, pin_code, model, weights, reason, n_points, mae, errors "
                    "FROM forecast_routing WHERE run_id = ? ORDER BY sku_id, pin_code",
                    [run_id])


def read_drivers(wh: Warehouse, run_id: str, sku_id: str | None = None,
                 pin_code: str | None = None) -> pd.DataFrame:
    sql = ("SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, base, trend_seasonality, "
           "festival, weather, price, recent_demand, festival_uplift, temp_c, rainfall_mm, "
           "planned_price FROM forecast_drivers WHERE run_id = ?")
    params: list = [run_id]
    if sku_id is not None:
        sql += " AND sku_id = ?"
        params.append(sku_id)
    if pin_code is not None:
        sql += " AND pin_code = ?"
        params.append(pin_code)
    return wh.query(sql + " ORDER BY sku_id, pin_code, date", params)


def forecast_rows(wh: Warehouse, run_id: str, sku_ids: list[str] | None = None
                  ) -> pd.DataFrame:
    """One row per sku_id x pin_code x date of a run (duplicates averaged): forecast, lo,
    hi, model."""
    extra, params = in_clause("sku_id", sku_ids)
    return wh.query(
        "SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, avg(forecast) AS forecast, "
        "avg(lo) AS lo, avg(hi) AS hi, min(model) AS model FROM forecasts WHERE run_id = ?"
        + extra + " GROUP BY sku_id, pin_code, date ORDER BY sku_id, pin_code, date",
        [run_id, *params])


def series_forecasts(wh: Warehouse, run_id: str, pairs: list[tuple[str, str]],
                     horizon: int) -> dict[tuple[str, str], list[tuple]]:
    """The first `horizon` stored rows of each (sku_id, pin_code) in `pairs` for a run, as
    {(sku_id, pin_code): [(date, forecast, lo, hi, model), ...]} in date order (plain
    tuples; dates as ISO strings). Goes through `wh.query`, so a ScopedWarehouse applies
    its PIN scope with its prepared per-thread cursor."""
    skus, pins = [p[0] for p in pairs], [p[1] for p in pairs]
    rows = wh.query(f"""
            SELECT sku_id, pin_code, CAST(date AS VARCHAR) AS date, forecast, lo, hi, model
            FROM (
                SELECT f.sku_id, f.pin_code, f.date, f.forecast, f.lo, f.hi, f.model,
                       row_number() OVER (PARTITION BY f.sku_id, f.pin_code
                                          ORDER BY f.date) AS k
                FROM forecasts f {pairs_join("f")}
                WHERE f.run_id = ?)
            WHERE k <= ? ORDER BY sku_id, pin_code, date""",
                    [skus, pins, run_id, int(horizon)])
    out: dict[tuple[str, str], list[tuple]] = {}
    for sku, pin, day, fc, lo, hi, model in rows.itertuples(index=False, name=None):
        out.setdefault((sku, pin), []).append((day, fc, lo, hi, model))
    return out


def read_forecasts_window(wh: Warehouse, start, end) -> pd.DataFrame:
    """Forecast rows dated start..end from every successful forecast run, with each run's
    cutoff, grain and creation time (the caller picks the freshest run per date)."""
    return wh.query(f"""
        SELECT f.run_id, r.created_at, r.grain, CAST(r.cutoff AS TIMESTAMP) AS cutoff,
               f.sku_id, f.pin_code, CAST(f.date AS TIMESTAMP) AS date, f.forecast, f.model
        FROM forecasts f JOIN forecast_runs r USING (run_id)
        WHERE r.kind = 'forecast' AND {counted_run('r')}
          AND f.date BETWEEN ? AND ? AND f.date > r.cutoff
        ORDER BY f.sku_id, f.pin_code, f.date""", [start, end])


def routing_shares(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """model (the routed model or mix label), share of the run's series (0..1)."""
    return wh.query("SELECT model, count(*) / sum(count(*)) OVER () AS share "
                    "FROM forecast_routing WHERE run_id = ? GROUP BY model ORDER BY model",
                    [run_id])


_FORECAST_FROM = """
    FROM forecasts s
    LEFT JOIN skus k ON k.sku_id = s.sku_id
    LEFT JOIN locations l ON l.pin_code = s.pin_code
"""


def forecast_inputs(wh: Warehouse, f: Filters, run: dict, days: int = 28
                    ) -> tuple[pd.DataFrame, dict]:
    """Per PIN: forecast (units over the `days` days after the run's cutoff, or as many as
    the run covers) and baseline (actual units over the same number of days up to the
    cutoff). A weekly run's rows fall every 7 days after the cutoff, so 28 days hold 4
    weekly forecasts and the 28 days up to the cutoff the 4 weekly sales rows before it.
    The date range of the sidebar does not apply: the forecast window is fixed."""
    cutoff = pd.Timestamp(run["cutoff"]).date()
    window_end = cutoff + timedelta(days=days)
    where_f, params_f = filter_where(Filters(f.states, f.cities, f.categories, pin_scope=f.pin_scope),
                               cutoff + timedelta(days=1), window_end)
    fc = run_query(wh, f"""
        SELECT s.pin_code, sum(s.forecast) AS forecast, max(s.date) AS last_date
        {_FORECAST_FROM} WHERE s.run_id = ? AND {where_f} GROUP BY 1 ORDER BY 1""",
              [run["run_id"], *params_f], "the forecast by PIN code")
    cols = ["pin_code", "forecast", "baseline"]
    if fc.empty:
        return pd.DataFrame(columns=cols), {"cutoff": cutoff, "days": 0}
    covered_days = max(1, min(days, (pd.Timestamp(fc["last_date"].max()).date() - cutoff).days))
    where_b, params_b = filter_where(Filters(f.states, f.cities, f.categories, pin_scope=f.pin_scope),
                               cutoff - timedelta(days=covered_days - 1), cutoff)
    base = run_query(wh, f"""
        SELECT s.pin_code, sum(s.quantity) AS baseline
        {SALES_FROM} WHERE {where_b} GROUP BY 1""", params_b, "recent sales for the baseline")
    df = fc.merge(base, on="pin_code", how="left").fillna({"baseline": 0.0})
    return df[cols], {"cutoff": cutoff, "days": covered_days, "run_id": run["run_id"]}


_FC_FROM = """
    FROM forecasts f
    LEFT JOIN skus k ON k.sku_id = f.sku_id
    LEFT JOIN locations l ON l.pin_code = f.pin_code
"""


def selection_options(wh: Warehouse, run_id: str, f: Filters) -> pd.DataFrame:
    """One row per series in the run that the filters allow: sku_id, name, category,
    pin_code, locality, city, state, volume (forecast units over the horizon)."""
    where, params = selection_where(f, None, "f.pin_code", "f.sku_id")
    return wh.query(f"""
        SELECT f.sku_id, any_value(k.name) AS name, any_value(k.category) AS category,
               f.pin_code, any_value(l.locality) AS locality, any_value(l.city) AS city,
               any_value(l.state) AS state, sum(f.forecast) AS volume
        {_FC_FROM} WHERE f.run_id = ? AND {where}
        GROUP BY f.sku_id, f.pin_code ORDER BY volume DESC, f.sku_id, f.pin_code""",
        [run_id, *params])


def forecast_series(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """date, forecast, lo, hi, lo80, hi80, n_series: the selection's summed forecast;
    forecast_no_plan (the same without the run's price / promotion plan; = forecast when
    the run used none) and planned_series (series the plan covers on that date)."""
    where, params = selection_where(f, sel, "f.pin_code", "f.sku_id")
    df = wh.query(f"""
        SELECT CAST(f.date AS TIMESTAMP) AS date, sum(f.forecast) AS forecast,
               sum(f.lo) AS lo, sum(f.hi) AS hi, sum(f.lo80) AS lo80, sum(f.hi80) AS hi80,
               count(*) AS n_series,
               sum(coalesce(f.forecast_no_plan, f.forecast)) AS forecast_no_plan,
               count(*) FILTER (WHERE f.planned) AS planned_series
        {_FC_FROM} WHERE f.run_id = ? AND {where} GROUP BY 1 ORDER BY 1""", [run_id, *params])
    return df


def forecast_detail(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """Per-series forecast rows of the selection, for the table and downloads."""
    where, params = selection_where(f, sel, "f.pin_code", "f.sku_id")
    return wh.query(f"""
        SELECT f.sku_id, k.name, k.category, f.pin_code, l.city, l.state, f.date,
               f.forecast, f.lo80, f.hi80, f.lo, f.hi, f.model, f.weather_source,
               coalesce(f.forecast_no_plan, f.forecast) AS forecast_no_plan,
               coalesce(f.planned, FALSE) AS planned
        {_FC_FROM} WHERE f.run_id = ? AND {where}
        ORDER BY f.sku_id, f.pin_code, f.date""", [run_id, *params])


def routing_mix(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """Routed model per series of the selection, grouped: model, n_series, volume, and
    one example reason. For a single series this is its decision with the evidence
    (reason, n_points, mae, errors JSON of backtest MAE per model)."""
    where, params = selection_where(f, sel, "r.pin_code", "r.sku_id")
    return wh.query(f"""
        WITH v AS (SELECT sku_id, pin_code, sum(forecast) AS volume FROM forecasts
                   WHERE run_id = ? GROUP BY 1, 2)
        SELECT r.model, count(*) AS n_series, sum(v.volume) AS volume,
               any_value(r.reason) AS reason, max(r.n_points) AS n_points,
               avg(r.mae) AS mae, any_value(r.errors) AS errors
        FROM forecast_routing r
        LEFT JOIN v ON v.sku_id = r.sku_id AND v.pin_code = r.pin_code
        LEFT JOIN skus k ON k.sku_id = r.sku_id
        LEFT JOIN locations l ON l.pin_code = r.pin_code
        WHERE r.run_id = ? AND {where}
        GROUP BY r.model ORDER BY volume DESC NULLS LAST, r.model""",
        [run_id, run_id, *params])


def driver_effects(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """Units each driver group adds (+) or removes (-) over the horizon for the selection
    (f - f / exp(c) per row, summed), with the total forecast they explain. Empty when the
    run has no LightGBM drivers."""
    where, params = selection_where(f, sel, "f.pin_code", "f.sku_id")
    effects = ", ".join(f"sum(f.forecast - f.forecast / exp(d.{g})) AS {g}"
                        for g in DRIVER_GROUPS)
    df = wh.query(f"""
        SELECT count(*) AS n_rows, sum(f.forecast) AS forecast, {effects}
        FROM forecasts f
        JOIN forecast_drivers d ON d.run_id = f.run_id AND d.sku_id = f.sku_id
             AND d.pin_code = f.pin_code AND d.date = f.date
        LEFT JOIN skus k ON k.sku_id = f.sku_id
        LEFT JOIN locations l ON l.pin_code = f.pin_code
        WHERE f.run_id = ? AND {where}""", [run_id, *params])
    return df if len(df) and int(df["n_rows"].iloc[0]) > 0 else df.iloc[0:0]


def scenario_base(wh: Warehouse, run_id: str, sel: Selection | None = None,
                  f: Filters = Filters()) -> pd.DataFrame:
    """Forecast rows with what a what-if or a scenario needs: category, name, unit cost,
    state, city, festival_uplift (from the drivers, 1 when absent), the planned price
    (drivers' planned price, else the series' last regular price, else the MRP) and the
    regular price (the series' last regular price, else the MRP). `sel` None and empty
    filters: every series of the run."""
    where, params = selection_where(f, sel, "f.pin_code", "f.sku_id")
    return wh.query(f"""
        WITH last_price AS (
            SELECT sku_id, pin_code, arg_max(coalesce(regular_price, price), date) AS price
            FROM sales_daily GROUP BY 1, 2)
        SELECT f.sku_id, f.pin_code, CAST(f.date AS TIMESTAMP) AS date, f.forecast, f.lo,
               f.hi, f.lo80, f.hi80, f.model, k.category, k.name, k.unit_cost, l.state,
               l.city, coalesce(d.festival_uplift, 1.0) AS festival_uplift,
               coalesce(d.planned_price, p.price, k.mrp) AS price,
               coalesce(p.price, k.mrp) AS regular_price
        FROM forecasts f
        LEFT JOIN forecast_drivers d ON d.run_id = f.run_id AND d.sku_id = f.sku_id
             AND d.pin_code = f.pin_code AND d.date = f.date
        LEFT JOIN last_price p ON p.sku_id = f.sku_id AND p.pin_code = f.pin_code
        LEFT JOIN skus k ON k.sku_id = f.sku_id
        LEFT JOIN locations l ON l.pin_code = f.pin_code
        WHERE f.run_id = ? AND {where}
        ORDER BY f.sku_id, f.pin_code, f.date""", [run_id, *params])


def scenario_series(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """One row per series of a run with what a scenario can select: sku_id, pin_code, name,
    category, state, city, and the run's first and last forecast date of the series
    (first_date, last_date). A few thousand rows, where `scenario_base` reads every
    forecast period."""
    return wh.query("""
        SELECT f.sku_id, f.pin_code, k.name, k.category, l.state, l.city,
               CAST(min(f.date) AS TIMESTAMP) AS first_date,
               CAST(max(f.date) AS TIMESTAMP) AS last_date
        FROM forecasts f
        LEFT JOIN skus k ON k.sku_id = f.sku_id
        LEFT JOIN locations l ON l.pin_code = f.pin_code
        WHERE f.run_id = ?
        GROUP BY ALL ORDER BY f.sku_id, f.pin_code""", [run_id])


def write_run(wh: Warehouse, run: dict, forecasts: pd.DataFrame | None = None,
              backtests: pd.DataFrame | None = None, routing: pd.DataFrame | None = None,
              drivers: pd.DataFrame | None = None, actor: str | None = "engine") -> None:
    """Persist one run (forecast_runs row + its rows) in one transaction: all or nothing.
    `run` keys: run_id, kind, grain, cutoff, horizon, n_series, models, config, timings."""
    run_id = run["run_id"]
    with wh.transaction(touches=("forecasts",)) as cur:
        cur.execute(
            "INSERT INTO forecast_runs (run_id, created_at, kind, grain, cutoff, horizon, "
            "n_series, models, config, timings, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, datetime.now(), run["kind"], run.get("grain"),
             None if run.get("cutoff") is None else pd.Timestamp(run["cutoff"]).date(),
             run.get("horizon"), run.get("n_series"), json.dumps(run.get("models", [])),
             json.dumps(run.get("config", {}), default=str),
             json.dumps(run.get("timings", {}), default=str), "ok"])
        if forecasts is not None:
            f = forecasts.copy()
            if "weather_source" not in f:
                f["weather_source"] = None
            f["weather_source"] = f["weather_source"].astype(object)
            insert_frame(cur, "forecasts", FORECAST_COLUMNS + [
                c for c in PLAN_COLUMNS if c in f], f, {"run_id": run_id})
        if backtests is not None:
            insert_frame(cur, "backtests", BACKTEST_COLUMNS, backtests, {"run_id": run_id})
        if routing is not None:
            insert_frame(cur, "forecast_routing",
                          ["sku_id", "pin_code", "model", "weights", "reason", "n_points",
                           "mae", "errors"], routing, {"run_id": run_id})
        if drivers is not None:
            insert_frame(cur, "forecast_drivers", DRIVER_COLUMNS, drivers, {"run_id": run_id})
        wh.audit(cur, actor, f"{run['kind']}_run",
                 json.dumps({"run_id": run_id, "n_series": run.get("n_series"),
                             "horizon": run.get("horizon")}))
