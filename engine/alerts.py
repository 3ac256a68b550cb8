"""Alerts: what needs a manager's attention today.

Rules (catalogue in `engine.alerts_rules`, detectors in `engine.alerts_detect` and
`engine.alerts_anomaly`) read the warehouse through `engine.warehouse` (alerts.py and the
module of what each rule reads: sales_history, forecasts, backtests, mandi...) in the grain
of its sales (`engine.warehouse.grain`: daily, or weekly for weekly uploads), and
every alert found is stored once per (rule, entity, day): re-running generation never
duplicates an alert and never resets its status. Lifecycle: new -> acknowledged ->
resolved (new -> resolved is allowed too); each transition and every rule configuration
change is written to audit_log in the same transaction.

Public API:
    generate_alerts(wh, as_of=None, actor="system") -> GenerationResult
    list_alerts(wh, status=None, severity=None, rule=None, pin_scope=None, viewer=None)
        -> DataFrame ranked by rupees at stake, links resolved for the viewer
    acknowledge(wh, alert_ids, actor) / resolve(wh, alert_ids, actor) -> int
    get_rules(wh) -> DataFrame; update_rule(wh, rule, enabled, severity, params, actor)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from engine import alerts_detect as detect
from engine.alerts_anomaly import demand_anomalies
from engine.alerts_rules import (CANDIDATE_COLUMNS, RULES, SEVERITIES, AlertConfigError,
                                 AlertError, RuleConfig, RuleSkipped, alert_link, ddmmm,
                                 rank_alerts, validate_config)
from engine.warehouse import alerts as store
from engine.warehouse.audit import read_audit_log
from engine.warehouse.backtests import backtest_errors
from engine.warehouse.catalog import read_skus
from engine.warehouse.db import Warehouse
from engine.warehouse.forecasts import read_forecasts_window
from engine.warehouse.grain import (DAILY, WEEKLY, period_days, period_noun, periods_for,
                                    sales_grain)
from engine.warehouse.ingest_batches import newest_sales_arrival
from engine.warehouse.locations import store_pins_by_state
from engine.warehouse.mandi import last_mandi_date, read_mandi_window
from engine.warehouse.runs import latest_forecast_run
from engine.warehouse.sales import last_sales_date
from engine.warehouse.sales_history import read_price_checks, read_sales_window
from engine.warehouse.sales_summary import last_sale_per_pin

__all__ = ["AlertConfigError", "AlertError", "GenerationResult", "RULES", "SEVERITIES",
           "acknowledge", "alert_link", "audit_trail", "generate_alerts", "get_rules",
           "list_alerts", "rank_alerts", "resolve", "rule_configs", "update_rule"]


@dataclass
class GenerationResult:
    as_of: date | None
    found: dict[str, int] = field(default_factory=dict)      # rule -> alerts found this run
    inserted: dict[str, int] = field(default_factory=dict)   # rule -> new (not duplicates)
    skipped: dict[str, str] = field(default_factory=dict)    # rule -> why it did not run
    failed: dict[str, str] = field(default_factory=dict)     # rule -> unexpected error
    notes: dict[str, str] = field(default_factory=dict)      # rule -> what it chose not to raise

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
        if self.notes:
            text += " Notes: " + "; ".join(f"{k}: {v}" for k, v in self.notes.items())
        return text

    def to_dict(self) -> dict:
        return {"as_of": None if self.as_of is None else str(self.as_of), "found": self.found,
                "inserted": self.inserted, "skipped": self.skipped, "failed": self.failed,
                "notes": self.notes}


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
@dataclass(frozen=True)
class _Run:
    """What every rule runner gets: the evaluation day of the sales rules (for weekly data
    the newest week on or before as_of), the day asked for (mandi prices are daily
    whatever the sales grain), 'today' for freshness, the sales grain, SKU names, and a
    place for notes that are not alerts."""
    day: pd.Timestamp
    asked: pd.Timestamp
    today: pd.Timestamp
    grain: str
    names: pd.DataFrame
    notes: dict


def _window(run: _Run, days: int) -> tuple[date, date]:
    """The `days` days up to the run's day; whole weeks of the data for weekly data."""
    span = periods_for(days, run.grain) * period_days(run.grain)
    return (run.day - pd.Timedelta(days=span - 1)).date(), run.day.date()


def _stock(wh, cfg, run):
    from engine.inventory.demand import InventoryInputError
    from engine.inventory.planner import load_inputs
    from engine.inventory.policy import PolicyConfig, plan_levels

    try:
        inputs = load_inputs(wh)
    except InventoryInputError as exc:
        raise RuleSkipped(str(exc)) from exc
    policy = PolicyConfig(service_level=cfg.params["service_level"], today=run.today.date())
    plan = plan_levels(inputs.lines, inputs.model, policy)
    plan = plan.merge(inputs.lines[["sku_id", "pin_code", "name"]].astype({"sku_id": str,
                                                                           "pin_code": str}),
                      on=["sku_id", "pin_code"], how="left") if "name" not in plan else plan
    return detect.stock_alerts(plan, cfg, pd.Timestamp(inputs.model.as_of).normalize(),
                               policy.review_days)


def _matched(wh, run, days):
    start, end = _window(run, days)
    fc = read_forecasts_window(wh, start, end)
    matched = detect.matched_forecasts(fc, read_sales_window(wh, start, end), start,
                                       end, run.grain) if len(fc) else fc
    if matched.empty:
        latest = latest_forecast_run(wh)
        if latest is None:
            raise RuleSkipped("no forecast run yet")
        cutoff = latest.get("cutoff")
        since = "" if cutoff is None or pd.isna(cutoff) else \
            (f" (the latest run forecasts the {period_noun(latest.get('grain'), 2)} after "
             f"{ddmmm(cutoff)})")
        raise RuleSkipped(f"no forecast covers the sales of {ddmmm(start)}–{ddmmm(end)} "
                          f"yet{since}")
    return matched


def _deviation(wh, cfg, run):
    return detect.forecast_deviation(_matched(wh, run, cfg.params["window_days"]), cfg,
                                     run.day, run.names, run.grain)


def _accuracy(wh, cfg, run):
    matched = _matched(wh, run, cfg.params["window_days"])
    bt = backtest_errors(wh, sorted(matched["run_id"].unique()))
    if bt.empty:
        raise RuleSkipped("the forecast runs covering the last weeks have no backtest to "
                          "compare with")
    bt_wape = detect.backtest_wape(bt, matched[["sku_id", "pin_code", "model"]])
    return detect.forecast_accuracy(matched, bt_wape, cfg, run.day, run.names, run.grain)


def _demand(wh, cfg, run):
    p = cfg.params
    start, end = _window(run, 7 * p["history_weeks"] if run.grain == WEEKLY
                         else p["history_days"])
    return demand_anomalies(read_sales_window(wh, start, end), cfg, run.day, run.names,
                            run.grain)


def _price(fn):
    def check(wh, cfg, run):
        start, end = _window(run, cfg.params["lookback_days"])
        return fn(read_price_checks(wh, start, end), cfg, run.day, run.grain)
    return check


def _mandi(wh, cfg, run):
    last = last_mandi_date(wh, run.asked.date())
    if last is None:
        raise RuleSkipped("no mandi prices in the warehouse yet")
    start = (run.asked - pd.Timedelta(days=int(cfg.params["lookback_days"]) + 6)).date()
    return detect.mandi_spike(read_mandi_window(wh, start, run.asked.date()), cfg,
                              run.asked)


def _undercut(wh, cfg, run):
    from engine.warehouse.competitors import match_summary, undercut_checks

    if not match_summary(wh)["rows"]:
        raise RuleSkipped("no competitor prices in the warehouse yet")
    checks = undercut_checks(wh, int(cfg.params["lookback_days"]),
                                              run.day.date())
    return detect.competitor_undercut(checks, cfg, run.day)


def _fresh(wh, cfg, run):
    latest = last_sales_date(wh, run.day.date())
    arrived = newest_sales_arrival(wh, latest) if latest is not None else None
    by_pin = last_sale_per_pin(wh, run.day.date())
    note = detect.historical_load(latest, arrived, cfg, run.grain)
    if note:
        behind = detect.pins_behind(by_pin, cfg, latest, run.grain)
        run.notes[cfg.rule] = note[:-1] + (f" ({behind})." if behind else ".")
    return detect.data_freshness(by_pin, cfg, latest, run.today, run.grain, arrived)


def _drift(wh, cfg, run):
    from engine.forecast import live
    from engine.warehouse.accuracy import pin_scores

    chosen = live.drift_run(wh, int(cfg.params["min_periods"]))
    if chosen is None:
        raise RuleSkipped(f"no forecast run has {int(cfg.params['min_periods'])} periods of "
                          "actual sales yet")
    return live.drift_candidates(pin_scores(wh, chosen["run_id"], chosen["through"]), chosen,
                                 live.DriftRule.from_env(), cfg.severity,
                                 cfg.params["min_units"])


RUNNERS = {"stock_reorder": _stock, "forecast_deviation": _deviation,
           "forecast_accuracy": _accuracy, "demand_anomaly": _demand,
           "price_above_mrp": _price(detect.price_above_mrp),
           "price_below_cost": _price(detect.price_below_cost),
           "mandi_spike": _mandi, "competitor_undercut": _undercut,
           "data_freshness": _fresh, "live_drift": _drift}


def generate_alerts(wh: Warehouse, as_of=None, actor: str = "system",
                    rules: list[str] | None = None) -> GenerationResult:
    """Run every enabled rule as of `as_of` (default: the newest sales date) and store new
    alerts (duplicates of (rule, entity, day) are skipped and keep their status). A rule
    whose input is missing is reported in `skipped`; an unexpected error in one rule is
    reported in `failed` and does not stop the others. Freshness is judged against today
    when as_of is None, else against as_of. For weekly data the rules run as of the newest
    week on or before as_of, so every alert is dated by a period the data has."""
    latest = last_sales_date(wh, None if as_of is None else pd.Timestamp(as_of).date())
    today = pd.Timestamp(date.today()) if as_of is None else pd.Timestamp(as_of)
    grain = sales_grain(wh) if latest is not None else DAILY
    asked = pd.Timestamp(as_of if as_of is not None else (latest or date.today())).normalize()
    day = pd.Timestamp(latest).normalize() if grain == WEEKLY else asked
    result = GenerationResult(as_of=day.date())
    run = _Run(day=day, asked=asked, today=today.normalize(), grain=grain,
               names=read_skus(wh, ("sku_id", "name", "category", "mrp")),
               notes=result.notes)
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
            found = RUNNERS[name](wh, cfg, run)
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
                                           "failed": result.failed, "notes": result.notes})
    after = store.list_alerts(wh)
    new = after.merge(before, how="left", on=["rule", "entity", "day"], indicator=True)
    new = new[new["_merge"] == "left_only"]
    result.inserted = {r: int((new["rule"] == r).sum()) for r in result.found}
    from engine.telemetry import alerts_raised

    alerts_raised(result.inserted)
    _publish(new)
    return result


def _publish(new: pd.DataFrame) -> None:
    """Each new alert to the in-process bus (engine/bus.py), tied to its PIN code."""
    from engine import bus

    for r in new.itertuples(index=False):
        details = json.loads(r.details) if r.details else {}
        bus.publish("alert", {"alert_id": str(r.alert_id), "rule": r.rule,
                              "severity": r.severity, "entity": r.entity,
                              "day": str(pd.Timestamp(r.day).date()), "reason": r.reason,
                              "at_stake": details.get("at_stake")},
                    pin_code=details.get("pin_code"))


# ---- reading and lifecycle ---------------------------------------------------------------------
def _reader(wh, viewer) -> tuple[frozenset[str] | None, tuple[str, ...] | None]:
    """(pages the reader may open or None for all, PIN codes they see or None for all).
    With no `viewer`, the handle tells: a ScopedWarehouse is a store user's (only store
    users get one, `engine.auth.scoped_warehouse`), a plain Warehouse reads everything."""
    from engine.auth import PAGES

    handle_pins = getattr(wh, "pin_scope", None)
    if viewer is not None:
        pages = PAGES.get(viewer.role, frozenset())
        pins = tuple(viewer.pin_codes) if viewer.is_scoped else None
    else:
        pages = PAGES["store"] if handle_pins is not None else None
        pins = None
    if handle_pins is not None:
        pins = tuple(p for p in (pins if pins is not None else handle_pins)
                     if p in set(handle_pins))
    return pages, pins


def list_alerts(wh: Warehouse, status=None, severity=None, rule=None,
                pin_scope=None, viewer=None) -> pd.DataFrame:
    """Stored alerts ranked for reading (`rank_alerts`: most rupees at stake first, ties by
    severity, then the newest), with `pin_code`, `at_stake` (₹, NaN when not estimated),
    `at_stake_how` (how it was computed) and `link` (relative page URL) columns.
    pin_scope (PIN codes, or None for all) keeps alerts for those PINs plus alerts that are
    not tied to a PIN (mandi prices, the warehouse as a whole). `link` is resolved for
    `viewer` (an engine.auth.User; None: whoever `wh` belongs to, see `_reader`): it never
    targets a page their role cannot open and never names a PIN outside their scope."""
    df = store.list_alerts(wh, status, severity, rule, pin_scope)
    details = df["details"].map(lambda d: json.loads(d) if d else {})
    df["pin_code"] = details.map(lambda d: d.get("pin_code"))
    df["at_stake"] = pd.to_numeric(details.map(lambda d: d.get("at_stake")),
                                   errors="coerce").astype(float)
    df["at_stake_how"] = details.map(lambda d: d.get("at_stake_how"))
    pages, pins = _reader(wh, viewer)
    state_pins: dict[str, list[str]] = {}
    if details.map(lambda d: d.get("page") == "Sourcing").any():
        for state, pin in store_pins_by_state(wh).itertuples(index=False):
            state_pins.setdefault(state, []).append(str(pin))
    df["link"] = details.map(lambda d: alert_link(d, pages, pins, state_pins))
    return rank_alerts(df).reset_index(drop=True)


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
    return read_audit_log(wh, "alert", limit=limit)


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
