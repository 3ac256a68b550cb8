"""Admin page pieces: the role choice (least privilege first), the users table and the
audit log in plain words (no snake_case headers, no raw JSON, DD-MMM-YYYY times)."""
from __future__ import annotations

import json
import re

import pandas as pd

from components.format import dd_mmm, indian_grouping
from engine import auth

# least privileged first: a new user starts with the least they need
ROLE_ORDER = ["store", "analyst", "manager", "admin"]
ROLE_HELP = ("Store user: sees its own PIN codes only (Overview, Forecast, Reorder, Map, "
             "Alerts). Analyst: every page but Admin; uploads, runs forecasts and "
             "scenarios. Manager: an analyst who also approves and changes alert settings. "
             "Admin: everything, including users.")

ACTIONS = {
    "auth.sign_in": "Signed in", "auth.sign_out": "Signed out",
    "auth.sign_in_failed": "Sign-in failed (wrong username or password)",
    "auth.sign_in_blocked": "Sign-in blocked (too many failed attempts)",
    "auth.sign_in_disabled": "Sign-in refused (account disabled)",
    "auth.session_ended": "Session ended", "auth.sessions_ended": "Sessions ended",
    "user.create_first_admin": "Created the first administrator",
    "user.create": "Added a user", "user.role": "Changed a role and PIN codes",
    "user.disable": "Disabled a user", "user.enable": "Enabled a user",
    "user.password_reset": "Reset a password",
    "api_key.create": "Issued an API key", "api_key.revoke": "Revoked an API key",
    "ingest_rollback": "Rolled back an upload",
    "alert_rule_changed": "Changed an alert rule", "alerts_generated": "Checked the alert rules",
    "alert_acknowledged": "Acknowledged alerts", "alert_resolved": "Resolved alerts",
    "scenario_saved": "Saved a scenario", "scenario_deleted": "Deleted a scenario",
    "forecast_run": "Ran a forecast", "backtest_run": "Ran a backtest",
    "load_demo": "Loaded the demo data", "load_festival_reference": "Loaded the festival calendar",
    "competitor_match": "Decided a competitor item's match",
}
_KEYS = {"pin_codes": "PIN codes", "pin_code": "PIN code", "sku_id": "SKU", "batch_id": "Batch",
         "key_id": "Key", "run_id": "Run", "alert_id": "Alert", "first_run": "First run",
         "locked_until": "Locked until", "rows_read": "Rows read",
         "rows_loaded": "Rows loaded", "rows_quarantined": "Rows quarantined",
         "duplicates_skipped": "Duplicates skipped", "file_name": "File",
         "from": "Previous role", "n_series": "Series", "skus": "SKUs", "mrp": "MRP",
         "item_key": "Competitor item"}
_FIRST = ["username", "name", "from", "role", "pin_codes", "pin_code", "sku_id"]
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def role_index(role: str = "store") -> int:
    return ROLE_ORDER.index(role)


def when(ts) -> str:
    """'05-Nov-2026, 14:32' (DD-MMM-YYYY with the time when it has one); '—' if missing."""
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return "—"
    ts = pd.Timestamp(ts)
    day = dd_mmm(ts, with_year=True)
    return day if (ts.hour, ts.minute, ts.second) == (0, 0, 0) else f"{day}, {ts:%H:%M}"


def action_text(action: str) -> str:
    """'user.role' -> 'Changed a role and PIN codes'; uploads by kind; others in words."""
    if action in ACTIONS:
        return ACTIONS[action]
    m = re.fullmatch(r"ingest_([a-z]+)(?:_([a-z]+))?", action or "")
    if m:
        return f"Uploaded a {m.group(1)} file" + (f" ({m.group(2)})" if m.group(2) else "")
    words = re.sub(r"[._]+", " ", action or "").strip()
    return words[:1].upper() + words[1:] if words else "—"


def _value_text(key: str, value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return indian_grouping(value, 0 if float(value).is_integer() else 2)
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(key, v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{_key_text(k)} {_value_text(k, v)}" for k, v in value.items())
    text = str(value)
    if key in ("role", "from") and text in auth.ROLES:
        return auth.ROLES[text]
    if _ISO_TIME.match(text):
        return when(text)
    return text


def _key_text(key: str) -> str:
    return _KEYS.get(key, key.replace("_", " ").capitalize())


def details_text(details) -> str:
    """The audit row's JSON details as 'Role: Store user · PIN codes: 560001'."""
    if details is None or (isinstance(details, float) and pd.isna(details)) or details == "":
        return ""
    try:
        data = json.loads(details) if isinstance(details, str) else details
    except (TypeError, ValueError):
        return str(details)
    if not isinstance(data, dict):
        return _value_text("", data)
    first = [k for k in _FIRST if k in data]
    keys = first + [k for k in data if k not in first]
    return " · ".join(f"{_key_text(k)}: {_value_text(k, data[k])}" for k in keys
                      if data[k] not in (None, ""))


def users_frame(users: pd.DataFrame) -> pd.DataFrame:
    """The users table as shown (never the password hash)."""
    return pd.DataFrame({
        "Username": users["username"].to_numpy(),
        "Role": users["role"].map(auth.ROLES).to_numpy(),
        "PIN codes (store users)": users["pin_codes"].fillna("").str.replace(",", ", ").to_numpy(),
        "Status": users["disabled"].map({True: "Disabled", False: "Active"}).to_numpy(),
        "Last sign-in": [when(d) if d is not None and not pd.isna(d) else "never"
                         for d in users["last_sign_in_at"]],
        "Added by": users["created_by"].fillna("—").to_numpy()})


def audit_frame(log: pd.DataFrame) -> pd.DataFrame:
    """The audit log in words: when, who, what, details."""
    return pd.DataFrame({
        "When": [when(t) if pd.isna(t) else f"{dd_mmm(t, with_year=True)}, "
                 f"{pd.Timestamp(t):%H:%M:%S}" for t in log["ts"]],
        "Who": log["actor"].fillna("—").to_numpy(),
        "What": [action_text(a) for a in log["action"]],
        "Details": [details_text(d) for d in log["details"]]})


def audit_caption(n: int, limit: int) -> str:
    return f"{indian_grouping(n)} most recent entries (up to {indian_grouping(limit)})."
