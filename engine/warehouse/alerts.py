"""Alerts (`alerts`, `alert_rules`): the stored rule configuration, the alerts the rules
raised, their status changes (each with its audit row), and the counts `/metrics` exports.
The rules' inputs are read from the modules of what they read (sales_history, forecasts,
backtests, mandi, locations, ingest_batches)."""
from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from engine.warehouse.db import Warehouse, new_id


ALERT_COLUMNS = ["alert_id", "rule", "severity", "entity", "day", "reason", "details",
                 "status", "created_at", "acknowledged_by", "acknowledged_at", "resolved_at"]


# Stored rule configuration (defaults live in code: engine.alerts_rules.RULES).
def read_rule_config(wh: Warehouse) -> pd.DataFrame:
    """Stored overrides: rule, enabled, severity, params (JSON text), updated_by, updated_at."""
    if "alert_rules" not in wh.tables():     # a read-only file made before the table
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


def alert_counts(wh: Warehouse) -> pd.DataFrame:
    return wh.query("SELECT rule, status, count(*) AS n FROM alerts GROUP BY rule, status "
                    "ORDER BY rule, status")
