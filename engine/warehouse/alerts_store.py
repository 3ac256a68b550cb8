"""Alerts SQL: inputs the rules read, alert writes with deduplication, the rule
configuration table, lifecycle updates and their audit rows.

Everything is parameterised. Writes happen in one `wh.transaction()` each, and the audit
row of an acknowledgement, resolution or configuration change is written in the same
transaction as the change itself.
"""
from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from engine.warehouse.db import Warehouse, new_id
from engine.warehouse.runs import counted_run

# Stored rule configuration (defaults live in code: engine.alerts_rules.RULES).
ALERT_COLUMNS = ["alert_id", "rule", "severity", "entity", "day", "reason", "details",
                 "status", "created_at", "acknowledged_by", "acknowledged_at", "resolved_at"]


def _has_table(wh: Warehouse, name: str) -> bool:
    return bool(wh.scalar("SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema = 'main' AND table_name = ?", [name]))


# ---- rule configuration --------------------------------------------------------------------
def read_rule_config(wh: Warehouse) -> pd.DataFrame:
    """Stored overrides: rule, enabled, severity, params (JSON text), updated_by, updated_at."""
    if not _has_table(wh, "alert_rules"):
        return pd.DataFrame(columns=["rule", "enabled", "severity", "params", "updated_by",
                                     "updated_at"])
    return wh.query("SELECT rule, enabled, severity, params, updated_by, updated_at "
                    "FROM alert_rules ORDER BY rule")


def write_rule_config(wh: Warehouse, rule: str, enabled: bool, severity: str, params: dict,
                      actor: str, before: dict) -> None:
    """Upsert one rule's configuration and audit the change (old and new) atomically."""
    with wh.transaction(touches=("alerts",)) as cur:
        cur.execute(
            "INSERT INTO alert_rules VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rule) DO UPDATE SET "
            "enabled = excluded.enabled, severity = excluded.severity, "
            "params = excluded.params, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            [rule, bool(enabled), severity, json.dumps(params, sort_keys=True), actor,
             datetime.now()])
        wh.audit(cur, actor, "alert_rule_changed", json.dumps(
            {"rule": rule, "before": before,
             "after": {"enabled": bool(enabled), "severity": severity, "params": params}},
            sort_keys=True, default=str))


# ---- rule inputs ---------------------------------------------------------------------------
def read_sales_window(wh: Warehouse, start, end) -> pd.DataFrame:
    """sales_daily rows dated start..end inclusive: sku_id, pin_code, date, quantity, price,
    promo."""
    return wh.query("SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, quantity, price, "
                    "coalesce(promo, FALSE) AS promo FROM sales_daily WHERE date BETWEEN ? AND ? "
                    "ORDER BY sku_id, pin_code, date", [start, end])


def read_price_checks(wh: Warehouse, start, end) -> pd.DataFrame:
    """Priced sales dated start..end with the catalog's MRP and unit cost."""
    return wh.query("""
        SELECT s.sku_id, s.pin_code, CAST(s.date AS TIMESTAMP) AS date, s.quantity, s.price,
               k.name, k.mrp, k.unit_cost
        FROM sales_daily s JOIN skus k USING (sku_id)
        WHERE s.date BETWEEN ? AND ? AND s.price IS NOT NULL
        ORDER BY s.sku_id, s.pin_code, s.date""", [start, end])


def newest_sales_arrival(wh: Warehouse, latest):
    """When the newest sales (dated `latest` or later) were uploaded: the creation time of
    the first loaded sales upload whose dates reach `latest`, or None (sales that did not
    come through an upload, e.g. the demo seed)."""
    return wh.scalar("""
        SELECT min(created_at) FROM ingest_batches
        WHERE kind = 'sales' AND status = 'loaded'
          AND TRY_CAST(json_extract_string(report, '$.date_max') AS DATE) >= ?""", [latest])


def last_sale_per_pin(wh: Warehouse, as_of) -> pd.DataFrame:
    """pin_code, last_date, city, daily_revenue for every PIN with sales on or before as_of,
    plus the known locations that have none (last_date NULL). daily_revenue is the PIN's
    sales value (units x price, MRP where the price is missing) over the 28 days up to its
    last sale, per day."""
    return wh.query("""
        WITH s AS (SELECT pin_code, max(date) AS last_date FROM sales_daily
                   WHERE date <= ? GROUP BY pin_code),
        r AS (SELECT d.pin_code, sum(d.quantity * coalesce(d.price, k.mrp)) / 28.0 AS revenue
              FROM sales_daily d JOIN s ON s.pin_code = d.pin_code
              LEFT JOIN skus k ON k.sku_id = d.sku_id
              WHERE d.date > s.last_date - INTERVAL 28 DAY AND d.date <= s.last_date
              GROUP BY d.pin_code)
        SELECT coalesce(s.pin_code, l.pin_code) AS pin_code,
               CAST(s.last_date AS TIMESTAMP) AS last_date, l.city,
               CAST(r.revenue AS DOUBLE) AS daily_revenue
        FROM s FULL OUTER JOIN locations l ON l.pin_code = s.pin_code
        LEFT JOIN r ON r.pin_code = s.pin_code
        ORDER BY 1""", [as_of])


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


def read_backtest_errors(wh: Warehouse, run_ids: list[str]) -> pd.DataFrame:
    """Backtest point rows (run_id, model, sku_id, pin_code, actual, forecast) of runs."""
    if not run_ids:
        return pd.DataFrame(columns=["run_id", "model", "sku_id", "pin_code", "actual",
                                     "forecast"])
    return wh.query("""
        SELECT run_id, model, sku_id, pin_code, actual, forecast FROM backtests
        WHERE list_contains(?, run_id) AND actual IS NOT NULL AND forecast IS NOT NULL""",
                    [list(run_ids)])


def read_mandi_window(wh: Warehouse, start, end) -> pd.DataFrame:
    """Modal prices start..end: market, state, commodity, date, modal_price (one row per
    market x commodity x day: the median over varieties and grades)."""
    return wh.query("""
        SELECT market, any_value(state) AS state, commodity, CAST(date AS TIMESTAMP) AS date,
               median(modal_price) AS modal_price
        FROM mandi_prices
        WHERE date BETWEEN ? AND ? AND modal_price IS NOT NULL AND modal_price > 0
        GROUP BY market, commodity, date
        ORDER BY market, commodity, date""", [start, end])


def last_mandi_date(wh: Warehouse, as_of=None):
    if as_of is None:
        return wh.scalar("SELECT max(date) FROM mandi_prices")
    return wh.scalar("SELECT max(date) FROM mandi_prices WHERE date <= ?", [as_of])


def store_pins_by_state(wh: Warehouse) -> pd.DataFrame:
    """state, pin_code: every store PIN (a row of `locations`) with its state. On a scoped
    handle only the reader's own PINs come back, which is what alert links may name."""
    return wh.query("SELECT state, pin_code FROM locations "
                    "WHERE state IS NOT NULL ORDER BY state, pin_code")


# ---- alert writes ----------------------------------------------------------------------------
def insert_alerts(wh: Warehouse, alerts: pd.DataFrame, actor: str, summary: dict) -> int:
    """Insert candidate alerts (rule, severity, entity, day, reason, details); an alert
    whose (rule, entity, day) already exists is skipped and keeps its status (one stored
    before rupee estimates existed gets the new details, with its estimate). Returns the
    number of new alerts. The generation summary is audited in the same transaction."""
    with wh.transaction(touches=("alerts",)) as cur:
        before = cur.execute("SELECT count(*) FROM alerts").fetchall()[0][0]
        if len(alerts):
            frame = alerts.drop_duplicates(["rule", "entity", "day"]).copy()
            frame["alert_id"] = [new_id("al") for _ in range(len(frame))]
            frame["day"] = pd.to_datetime(frame["day"]).dt.date
            frame["status"] = "new"
            frame["created_at"] = datetime.now()
            frame = frame[["alert_id", "rule", "severity", "entity", "day", "reason",
                           "details", "status", "created_at"]]
            cur.register("_mp_alerts", frame)
            try:
                cur.execute("INSERT INTO alerts (alert_id, rule, severity, entity, day, reason, "
                            "details, status, created_at) SELECT alert_id, rule, severity, "
                            "entity, day, reason, details, status, created_at FROM _mp_alerts "
                            "ON CONFLICT DO NOTHING")
                # Alerts stored before rupee estimates existed get theirs (status untouched).
                cur.execute("UPDATE alerts SET details = f.details FROM _mp_alerts f "
                            "WHERE alerts.rule = f.rule AND alerts.entity = f.entity "
                            "AND alerts.day = f.day AND alerts.alert_id <> f.alert_id "
                            "AND json_extract(alerts.details, '$.at_stake_how') IS NULL "
                            "AND json_extract(f.details, '$.at_stake_how') IS NOT NULL")
            finally:
                cur.unregister("_mp_alerts")
        inserted = cur.execute("SELECT count(*) FROM alerts").fetchall()[0][0] - before
        wh.audit(cur, actor, "alerts_generated",
                 json.dumps({**summary, "inserted": int(inserted)}, sort_keys=True,
                            default=str))
    return int(inserted)


def list_alerts(wh: Warehouse, status=None, severity=None, rule=None,
                pin_scope=None) -> pd.DataFrame:
    """Alerts newest first. Filters take a value or a list; pin_scope keeps alerts whose
    details.pin_code is in the scope, and alerts that are not tied to a PIN (mandi)."""
    sql = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE TRUE"
    params: list = []
    for col, value in (("status", status), ("severity", severity), ("rule", rule)):
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        sql += f" AND list_contains(?, {col})"
        params.append(values)
    if pin_scope is not None:
        sql += (" AND (json_extract_string(details, '$.pin_code') IS NULL "
                "OR list_contains(?, json_extract_string(details, '$.pin_code')))")
        params.append([str(p) for p in pin_scope])
    return wh.query(sql + " ORDER BY day DESC, created_at DESC, alert_id", params)


def read_alerts(wh: Warehouse, alert_ids: list[str]) -> pd.DataFrame:
    return wh.query(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts "
                    "WHERE list_contains(?, alert_id) ORDER BY alert_id", [list(alert_ids)])


def set_status(wh: Warehouse, alert_ids: list[str], status: str, actor: str,
               action: str) -> None:
    """Move alerts to `status` ('acknowledged' or 'resolved') and audit each one in the
    same transaction. The caller has checked the transitions are allowed."""
    now = datetime.now()
    with wh.transaction(touches=("alerts",)) as cur:
        for alert_id in alert_ids:
            if status == "acknowledged":
                cur.execute("UPDATE alerts SET status = 'acknowledged', acknowledged_by = ?, "
                            "acknowledged_at = ? WHERE alert_id = ?", [actor, now, alert_id])
            else:
                cur.execute("UPDATE alerts SET status = 'resolved', resolved_at = ?, "
                            "acknowledged_by = coalesce(acknowledged_by, ?), "
                            "acknowledged_at = coalesce(acknowledged_at, ?) "
                            "WHERE alert_id = ?", [now, actor, now, alert_id])
            row = cur.execute("SELECT rule, entity, day FROM alerts WHERE alert_id = ?",
                              [alert_id]).fetchall()[0]
            wh.audit(cur, actor, action, json.dumps(
                {"alert_id": alert_id, "rule": row[0], "entity": row[1], "day": str(row[2]),
                 "status": status}, sort_keys=True))


def read_audit(wh: Warehouse, prefix: str = "alert", limit: int = 200) -> pd.DataFrame:
    """Newest audit rows whose action starts with `prefix`."""
    return wh.query("SELECT ts, actor, action, details FROM audit_log "
                    "WHERE starts_with(action, ?) ORDER BY ts DESC LIMIT ?", [prefix, limit])
