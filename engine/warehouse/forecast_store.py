"""Forecast reads and writes: history and signals for the models, runs, forecasts,
backtests, routing decisions and LightGBM drivers. All SQL for the forecast engine lives
here, parameterised; frames are bulk-inserted through DuckDB's DataFrame scan."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from engine.warehouse.db import Warehouse

DRIVER_COLUMNS = ["sku_id", "pin_code", "date", "base", "trend_seasonality", "festival",
                  "weather", "price", "recent_demand", "festival_uplift", "temp_c",
                  "rainfall_mm", "planned_price"]
FORECAST_COLUMNS = ["sku_id", "pin_code", "date", "forecast", "lo", "hi", "lo80", "hi80",
                    "model", "weather_source"]
PLAN_COLUMNS = ["forecast_no_plan", "planned"]     # runs that read a price / promotion plan
BACKTEST_COLUMNS = ["model", "fold", "cutoff", "sku_id", "pin_code", "date", "step", "actual",
                    "forecast", "lo", "hi", "lo80", "hi80"]


# ---- reads ----------------------------------------------------------------------------
def _history_sql(cutoff=None) -> tuple[str, list]:
    sql = ("SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, quantity, price, "
           "regular_price, coalesce(promo, FALSE) AS promo, feature, display, tpr "
           "FROM sales_daily")
    params: list = []
    if cutoff is not None:
        sql += " WHERE date <= ?"
        params.append(pd.Timestamp(cutoff).date())
    return sql, params


def read_history(wh: Warehouse, cutoff=None) -> pd.DataFrame:
    """sales_daily up to `cutoff` (inclusive; all when None) in the model's long shape,
    with the promotion kinds (feature, display, tpr: 0..1, NULL when not recorded)."""
    sql, params = _history_sql(cutoff)
    return wh.query(sql + " ORDER BY sku_id, pin_code, date", params)


_SERIES_PLACE = ("FROM ({history}) h LEFT JOIN skus k USING (sku_id) "
                 "LEFT JOIN locations l USING (pin_code)")


def history_cells(wh: Warehouse, cutoff=None) -> pd.DataFrame:
    """The history up to `cutoff` by category x state x city (NULL-safe text keys, ''
    where the catalogue or the PIN directory has no value): series, rows, first and last
    date - what a distributed run partitions on."""
    sql, params = _history_sql(cutoff)
    return wh.query(
        "SELECT coalesce(k.category, '') AS category, coalesce(l.state, '') AS state, "
        "coalesce(l.city, '') AS city, count(DISTINCT (h.sku_id, h.pin_code)) AS n_series, "
        "count(*) AS n_rows, min(h.date) AS first_date, max(h.date) AS last_date "
        + _SERIES_PLACE.format(history=sql) + " GROUP BY ALL ORDER BY 1, 2, 3", params)


def export_history(wh: Warehouse, cutoff, folder, cells: pd.DataFrame) -> None:
    """Write the history up to `cutoff` as Parquet under `folder`, one directory per
    partition (`part=K`, from `cells`: category, state, city -> part), in read_history's
    columns. DuckDB streams it from the warehouse; on PostgreSQL each partition is read
    through the warehouse interface and written with pyarrow. No process holds the whole
    history."""
    sql, params = _history_sql(cutoff)
    select = ("SELECT h.*, c.part " + _SERIES_PLACE.format(history=sql)
              + " JOIN micropulse_partition_cells c ON c.category = coalesce(k.category, '') "
              "AND c.state = coalesce(l.state, '') AND c.city = coalesce(l.city, '')")
    cur = wh.cursor()
    try:
        cur.register("micropulse_partition_cells", cells[["category", "state", "city", "part"]])
        if wh.backend == "duckdb":
            target = str(folder).replace("'", "''")
            cur.execute(f"COPY ({select}) TO '{target}' "
                        "(FORMAT PARQUET, PARTITION_BY (part), OVERWRITE_OR_IGNORE)", params)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        for part in sorted(cells["part"].unique()):
            rows = cur.execute(select + " WHERE c.part = ?", [*params, int(part)]).df()
            if rows.empty:
                continue
            place = Path(folder) / f"part={int(part)}"
            place.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pandas(rows.drop(columns=["part"]),
                                                preserve_index=False),
                           place / "data_0.parquet")
    finally:
        cur.close()


PROMO_KINDS = ("feature", "display", "tpr")


def _whole_file_queries(source: str) -> dict[str, str]:
    """The three queries of whole_file_sums over `source` (a relation with sku_id,
    pin_code, date, price, promo and the promotion kinds; one row per series x day)."""
    kind = {k: f"least(greatest(coalesce({k}, 0), 0), 1)" for k in PROMO_KINDS}
    return {
        "pins": f"SELECT pin_code, date, count(*) AS rows FROM {source} s "
                "GROUP BY ALL ORDER BY pin_code, date",
        "promotions": "SELECT sku_id, date, count(*) AS rows, count(*) FILTER (WHERE promo) "
                      "AS promoted, coalesce(sum(price) FILTER (WHERE promo), 0) AS paid, "
                      "count(price) FILTER (WHERE promo) AS paid_rows, "
                      + ", ".join(f"coalesce(sum({e}) FILTER (WHERE promo), 0) AS {k}"
                                  for k, e in kind.items())
                      + f" FROM {source} s GROUP BY ALL HAVING count(*) FILTER (WHERE promo) > 0"
                      " ORDER BY sku_id, date",
        "share_kinds": "SELECT " + ", ".join(f"min(date) FILTER (WHERE {e} NOT IN (0, 1)) AS {k}"
                                             for k, e in kind.items()) + f" FROM {source} s"}


def whole_file_sums(source, cutoff=None) -> dict:
    """The per-day sums of a whole sales history that the forecast's data-gap and
    chain-wide promotion rules read (engine.forecast.features.WholeFile), so that a run
    split into partitions judges them on the whole file without any partition holding
    it: `pins` (pin_code, date, rows: the series with a row that day), `promotions` (per
    sku_id x date with a promoted row: rows, promoted, paid (sum of the promoted rows'
    prices), paid_rows (those with a price) and the sum of each promotion kind over the
    promoted rows, a kind read as 0..1 and 0 when not recorded), `share_kinds` (each
    kind's first date with a value other than 0 or 1: from then on it is a share, not a
    yes/no flag; NaT: never). `source`: a Warehouse (sales_daily up to `cutoff`) or a
    history frame (one row per series x day, as features.normalize_history returns; no
    price or promotion columns: none recorded), which DuckDB reads in memory."""
    if isinstance(source, Warehouse):
        sql, params = _history_sql(cutoff)
        queries = _whole_file_queries(f"({sql})")
        out = {name: source.query(q, params) for name, q in queries.items()}
    else:
        import duckdb

        absent = {"price": "NULL::DOUBLE", "promo": "FALSE",
                  **{k: "NULL::DOUBLE" for k in PROMO_KINDS}}    # columns it may not have
        relation = ("(SELECT sku_id, pin_code, date, "
                    + ", ".join(c if c in source else f"{v} AS {c}" for c, v in absent.items())
                    + " FROM micropulse_history"
                    + ("" if cutoff is None else
                       f" WHERE date <= TIMESTAMP '{pd.Timestamp(cutoff).isoformat()}'") + ")")
        con = duckdb.connect()
        try:
            con.register("micropulse_history", source)
            out = {name: con.execute(q).df() for name, q in
                   _whole_file_queries(relation).items()}
        finally:
            con.close()
    for name in ("pins", "promotions"):
        out[name]["date"] = pd.to_datetime(out[name]["date"]).astype("datetime64[ns]")
    row = out["share_kinds"].iloc[0] if len(out["share_kinds"]) else {}
    out["share_kinds"] = {k: pd.Timestamp(row[k]) if k in row and pd.notna(row[k]) else pd.NaT
                          for k in PROMO_KINDS}
    return out


def read_weather(wh: Warehouse) -> pd.DataFrame:
    return wh.query("SELECT city, CAST(date AS TIMESTAMP) AS date, temp_c, rainfall_mm, "
                    "humidity FROM weather ORDER BY city, date")


def read_forecasts(wh: Warehouse, run_id: str) -> pd.DataFrame:
    return wh.query("SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, forecast, lo, "
                    "hi, lo80, hi80, model, weather_source FROM forecasts WHERE run_id = ? "
                    "ORDER BY sku_id, pin_code, date", [run_id])


def read_backtests(wh: Warehouse, run_id: str) -> pd.DataFrame:
    return wh.query("SELECT model, fold, CAST(cutoff AS TIMESTAMP) AS cutoff, sku_id, pin_code, "
                    "CAST(date AS TIMESTAMP) AS date, step, actual, forecast, lo, hi, lo80, "
                    "hi80 FROM backtests WHERE run_id = ? "
                    "ORDER BY model, fold, sku_id, pin_code, date", [run_id])


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


# ---- writes ---------------------------------------------------------------------------
def _insert_frame(cur, table: str, columns: list[str], frame: pd.DataFrame,
                  prefix: dict | None = None) -> None:
    """INSERT frame's columns (plus constant `prefix` columns) in one statement. A column
    with no value at all is inserted as a plain NULL, which takes the table column's type
    (a registered frame's all-NULL column has none: PostgreSQL would read it as text)."""
    if frame is None or frame.empty:
        return
    data = frame[columns].copy()
    for col, value in (prefix or {}).items():
        data.insert(0, col, value)
    cols = list(data.columns)
    values = [f"NULL AS {c}" if data[c].isna().all() else c for c in cols]
    cur.register("_mp_insert_frame", data)
    try:
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) "
                    f"SELECT {', '.join(values)} FROM _mp_insert_frame")
    finally:
        cur.unregister("_mp_insert_frame")


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
            _insert_frame(cur, "forecasts", FORECAST_COLUMNS + [
                c for c in PLAN_COLUMNS if c in f], f, {"run_id": run_id})
        if backtests is not None:
            _insert_frame(cur, "backtests", BACKTEST_COLUMNS, backtests, {"run_id": run_id})
        if routing is not None:
            _insert_frame(cur, "forecast_routing",
                          ["sku_id", "pin_code", "model", "weights", "reason", "n_points",
                           "mae", "errors"], routing, {"run_id": run_id})
        if drivers is not None:
            _insert_frame(cur, "forecast_drivers", DRIVER_COLUMNS, drivers, {"run_id": run_id})
        wh.audit(cur, actor, f"{run['kind']}_run",
                 json.dumps({"run_id": run_id, "n_series": run.get("n_series"),
                             "horizon": run.get("horizon")}))
    from engine.telemetry import forecast_run_stored

    forecast_run_stored(run)        # log line and metrics (engine/telemetry.py)
