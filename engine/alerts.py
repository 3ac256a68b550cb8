"""Alerts: what needs a manager's attention today.

Rules (catalogue in `engine.alerts_rules`, detectors in `engine.alerts_detect`) read the
warehouse through `engine.warehouse.alerts_store`, and every alert found is stored once per
(rule, entity, day): re-running generation never duplicates an alert and never resets its
status. Lifecycle: new -> acknowledged -> resolved (new -> resolved is allowed too); each
transition and every rule configuration change is written to audit_log in the same
transaction.

Public API:
    generate_alerts(wh, as_of=None, actor="system") -> GenerationResult
    list_alerts(wh, status=None, severity=None, rule=None, pin_scope=None) -> DataFrame
    acknowledge(wh, alert_ids, actor) / resolve(wh, alert_ids, actor) -> int
    get_rules(wh) -> DataFrame; update_rule(wh, rule, enabled, severity, params, actor)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from engine import alerts_detect as detect
from engine.alerts_rules import (CANDIDATE_COLUMNS, RULES, SEVERITIES, AlertConfigError,
                                 AlertError, RuleConfig, RuleSkipped, alert_link, ddmmm,
                                 validate_config)
from engine.warehouse import alerts_store as store
from engine.warehouse.db import Warehouse

__all__ = ["AlertConfigError", "AlertError", "GenerationResult", "RULES", "SEVERITIES",
           "acknowledge", "alert_link", "audit_trail", "generate_alerts", "get_rules",
           "list_alerts", "resolve", "rule_configs", "update_rule"]


@dataclass
class GenerationResult:
    as_of: date | None
    found: dict[str, int] = field(default_factory=dict)      # rule -> alerts found this run
    inserted: dict[str, int] = field(default_factory=dict)   # rule -> new (not duplicates)
    skipped: dict[str, str] = field(default_factory=dict)    # rule -> why it did not run
    failed: dict[str, str] = field(default_factory=dict)     # rule -> unexpected error

    @property
    def total_found(self) -> int:
        return sum(self.found.values())

    @property
    def total_inserted(self) -> int:
        return sum(self.inserted.values())

    def summary(self) -> str:
        text = (f"{self.total_found} alert(s) found, {self.total_inserted} new"
                + (f" (as of {ddmmm(self.as_of)})" if self.as_of else "") + ".")
        if self.skipped:
            text += " Skipped: " + "; ".join(f"{k}: {v}" for k, v in self.skipped.items()) + "."
        if self.failed:
            text += " Failed: " + "; ".join(f"{k}: {v}" for k, v in self.failed.items()) + "."
        return text

    def to_dict(self) -> dict:
        return {"as_of": None if self.as_of is None else str(self.as_of), "found": self.found,
                "inserted": self.inserted, "skipped": self.skipped, "failed": self.failed}


# ---- configuration ---------------------------------------------------------------------------
def rule_configs(wh: Warehouse) -> dict[str, RuleConfig]:
    """Effective configuration per rule: stored overrides over the defaults in code."""
    stored = {r.rule: r for r in store.read_rule_config(wh).itertuples(index=False)}
    out = {}
    for name, spec in RULES.items():
        row = stored.get(name)
        if row is None:
            out[name] = RuleConfig(name, True, spec.severity, spec.defaults())
            continue
        params = json.loads(row.params) if row.params else {}
        params = {k: v for k, v in params.items() if k in spec.params}   # drop retired keys
        out[name] = validate_config(name, row.enabled, row.severity, params)
    return out


def get_rules(wh: Warehouse) -> pd.DataFrame:
    """One row per rule: rule, title, description, enabled, severity, params (dict),
    defaults (dict), updated_by, updated_at."""
    stored = store.read_rule_config(wh).set_index("rule")
    rows = []
    for name, cfg in rule_configs(wh).items():
        spec = RULES[name]
        rows.append({"rule": name, "title": spec.title, "description": spec.description,
                     "enabled": cfg.enabled, "severity": cfg.severity, "params": cfg.params,
                     "defaults": spec.defaults(),
                     "updated_by": stored["updated_by"].get(name) if len(stored) else None,
                     "updated_at": stored["updated_at"].get(name) if len(stored) else None})
    return pd.DataFrame(rows)


def update_rule(wh: Warehouse, rule: str, enabled: bool, severity: str,
                params: dict | None, actor: str) -> RuleConfig:
    """Validate and store a rule's configuration; the change (before and after) is audited
    in the same transaction. Raises AlertConfigError with the offending value."""
    cfg = validate_config(rule, enabled, severity, params)
    old = rule_configs(wh)[rule]
    store.write_rule_config(wh, rule, cfg.enabled, cfg.severity, cfg.params, actor,
                            before={"enabled": old.enabled, "severity": old.severity,
                                    "params": old.params})
    return cfg


# ---- generation -------------------------------------------------------------------------------
def _window(as_of: pd.Timestamp, days: int) -> tuple[date, date]:
    return (as_of - pd.Timedelta(days=int(days) - 1)).date(), as_of.date()


def _stock(wh, cfg, as_of):
    from engine.inventory.demand import InventoryInputError
    from engine.inventory.planner import load_inputs
    from engine.inventory.policy import PolicyConfig, plan_levels

    try:
        inputs = load_inputs(wh)
    except InventoryInputError as exc:
        raise RuleSkipped(str(exc)) from exc
    plan = plan_levels(inputs.lines, inputs.model,
                       PolicyConfig(service_level=cfg.params["service_level"]))
    plan = plan.merge(inputs.lines[["sku_id", "pin_code", "name"]].astype({"sku_id": str,
                                                                           "pin_code": str}),
                      on=["sku_id", "pin_code"], how="left") if "name" not in plan else plan
    return detect.stock_alerts(plan, cfg, pd.Timestamp(inputs.model.as_of).normalize())


def _matched(wh, as_of, days):
    start, end = _window(as_of, days)
    fc = store.read_forecasts_window(wh, start, end)
    if fc.empty:
        run = store.latest_forecast_run(wh)
        if run is None:
            raise RuleSkipped("no forecast run yet")
        cutoff = run.get("cutoff")
        since = "" if cutoff is None or pd.isna(cutoff) else \
            f" (the latest run forecasts the days after {ddmmm(cutoff)})"
        raise RuleSkipped(f"no forecast covers the sales of {ddmmm(start)}–{ddmmm(end)} "
                          f"yet{since}")
    sales = store.read_sales_window(wh, start, end)
    return detect.matched_forecasts(fc, sales, start, end)


def _deviation(wh, cfg, as_of, names):
    return detect.forecast_deviation(_matched(wh, as_of, cfg.params["window_days"]), cfg,
                                     as_of, names)


def _accuracy(wh, cfg, as_of, names):
    matched = _matched(wh, as_of, cfg.params["window_days"])
    bt = store.read_backtest_errors(wh, sorted(matched["run_id"].unique()))
    if bt.empty:
        raise RuleSkipped("the forecast runs covering the last weeks have no backtest to "
                          "compare with")
    bt_wape = detect.backtest_wape(bt, matched[["sku_id", "pin_code", "model"]])
    return detect.forecast_accuracy(matched, bt_wape, cfg, as_of, names)


def _demand(wh, cfg, as_of, names):
    start, end = _window(as_of, cfg.params["history_days"])
    return detect.demand_anomalies(store.read_sales_window(wh, start, end), cfg, as_of, names)


def _price(fn):
    def run(wh, cfg, as_of, names):
        start, end = _window(as_of, cfg.params["lookback_days"])
        return fn(store.read_price_checks(wh, start, end), cfg, as_of)
    return run


def _mandi(wh, cfg, as_of, names):
    last = store.last_mandi_date(wh, as_of.date())
    if last is None:
        raise RuleSkipped("no mandi prices in the warehouse yet")
    start, end = _window(as_of, cfg.params["lookback_days"] + 7)
    return detect.mandi_spike(store.read_mandi_window(wh, start, end), cfg, as_of,
                              store.store_pins_by_state(wh))


def _fresh(today):
    def run(wh, cfg, as_of, names):
        latest = store.last_sales_date(wh, as_of.date())
        by_pin = store.last_sale_per_pin(wh, as_of.date())
        return detect.data_freshness(by_pin, cfg, latest, today)
    return run


def generate_alerts(wh: Warehouse, as_of=None, actor: str = "system",
                    rules: list[str] | None = None) -> GenerationResult:
    """Run every enabled rule as of `as_of` (default: the newest sales date) and store new
    alerts (duplicates of (rule, entity, day) are skipped and keep their status). A rule
    whose input is missing is reported in `skipped`; an unexpected error in one rule is
    reported in `failed` and does not stop the others. Freshness is judged against today
    when as_of is None, else against as_of."""
    latest = store.last_sales_date(wh, None if as_of is None else pd.Timestamp(as_of).date())
    today = pd.Timestamp(date.today()) if as_of is None else pd.Timestamp(as_of)
    day = pd.Timestamp(as_of if as_of is not None else (latest or date.today())).normalize()
    result = GenerationResult(as_of=day.date())
    names = store.read_sku_names(wh)
    runners = {
        "stock_reorder": lambda w, c, a, n: _stock(w, c, a),
        "forecast_deviation": _deviation, "forecast_accuracy": _accuracy,
        "demand_anomaly": _demand,
        "price_above_mrp": _price(detect.price_above_mrp),
        "price_below_cost": _price(detect.price_below_cost),
        "mandi_spike": _mandi, "data_freshness": _fresh(today),
    }
    frames = []
    for name, cfg in rule_configs(wh).items():
        if rules is not None and name not in rules:
            continue
        if not cfg.enabled:
            result.skipped[name] = "disabled"
            continue
        needs_sales = name not in ("stock_reorder", "mandi_spike")
        try:
            if needs_sales and latest is None:
                raise RuleSkipped("no sales in the warehouse yet")
            found = runners[name](wh, cfg, day, names)
        except RuleSkipped as exc:
            result.skipped[name] = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
            result.failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        result.found[name] = len(found)
        if len(found):
            frames.append(found)
    found = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=CANDIDATE_COLUMNS)
    before = store.list_alerts(wh)[["rule", "entity", "day"]]
    store.insert_alerts(wh, found, actor, {"as_of": str(day.date()), "found": result.found,
                                           "skipped": result.skipped,
                                           "failed": result.failed})
    after = store.list_alerts(wh)[["rule", "entity", "day"]]
    new = after.merge(before, how="left", indicator=True)
    new = new[new["_merge"] == "left_only"]
    result.inserted = {r: int((new["rule"] == r).sum()) for r in result.found}
    return result


# ---- reading and lifecycle ---------------------------------------------------------------------
def list_alerts(wh: Warehouse, status=None, severity=None, rule=None,
                pin_scope=None) -> pd.DataFrame:
    """Stored alerts newest first, with `link` (relative page URL) and `pin_code` columns.
    pin_scope (PIN codes, or None for all) keeps alerts for those PINs plus alerts that are
    not tied to a PIN (mandi prices, the warehouse as a whole)."""
    df = store.list_alerts(wh, status, severity, rule, pin_scope)
    details = df["details"].map(lambda d: json.loads(d) if d else {})
    df["pin_code"] = details.map(lambda d: d.get("pin_code"))
    df["link"] = details.map(alert_link)
    return df


def _transition(wh, alert_ids, actor: str, status: str, allowed: tuple[str, ...]) -> int:
    ids = [alert_ids] if isinstance(alert_ids, str) else list(dict.fromkeys(alert_ids))
    if not ids:
        return 0
    if not actor:
        raise AlertError("Say who is doing this: the actor name is empty.")
    rows = store.read_alerts(wh, ids)
    missing = sorted(set(ids) - set(rows["alert_id"]))
    if missing:
        raise AlertError(f"Alert {missing[0]} does not exist (it may have been removed).",
                         missing)
    wrong = rows[~rows["status"].isin(allowed)]
    if len(wrong):
        first = wrong.iloc[0]
        raise AlertError(f"Alert {first['alert_id']} ({first['entity']}) is already "
                         f"{first['status']}; only {' or '.join(allowed)} alerts can be "
                         f"marked {status}.", wrong["alert_id"].tolist())
    store.set_status(wh, ids, status, actor, f"alert_{status}")
    return len(ids)


def acknowledge(wh: Warehouse, alert_ids, actor: str) -> int:
    """Mark new alerts acknowledged by `actor` now (audited). Returns how many changed."""
    return _transition(wh, alert_ids, actor, "acknowledged", ("new",))


def resolve(wh: Warehouse, alert_ids, actor: str) -> int:
    """Mark new or acknowledged alerts resolved (audited). Returns how many changed."""
    return _transition(wh, alert_ids, actor, "resolved", ("new", "acknowledged"))


def audit_trail(wh: Warehouse, limit: int = 200) -> pd.DataFrame:
    """Newest alert-related audit rows: ts, actor, action, details."""
    return store.read_audit(wh, "alert", limit)


def refresh_after(wh: Warehouse, trigger: str, actor: str | None = None) -> str:
    """Re-check every rule after an upload or a forecast run and say what happened in one
    sentence. A failure here never undoes the upload or run that triggered it: it is
    reported in the sentence instead of raised."""
    try:
        result = generate_alerts(wh, actor=actor or "system")
    except Exception as exc:  # noqa: BLE001 - the trigger already committed; report, don't fail
        return (f"Alerts were not refreshed after the {trigger} ({type(exc).__name__}: {exc}); "
                "use 'Generate alerts now' on the Alerts page.")
    return f"Alerts refreshed after the {trigger}: {result.summary()}"
