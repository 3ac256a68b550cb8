"""Alert rule catalogue: names, defaults, parameter bounds, validation, and the shared
shape every detector returns (pure; no warehouse, no streamlit).

A detector returns a *candidate frame* with columns
`rule, severity, entity, day, reason, details` where `details` is JSON text holding
`pin_code` / `sku_id` when the alert is tied to one (the Alerts page filters PIN scope on
it), `page` + `params` for the link to the page that explains the alert, the numbers
behind the reason, and `at_stake` / `at_stake_how`: the estimated rupees at stake and the
sentence that says how they were computed from those numbers (alerts are ranked by it).

Links are resolved for the person reading them (`alert_link`), never stored ready-made: a
link never targets a page the reader's role cannot open, and never names a PIN code
outside the reader's scope. An alert with no PIN of its own (a mandi price spike) names
the lowest PIN of the mandi's state *among the reader's PINs*, or none.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from engine.errors import MicroPulseError
from engine.textfmt import indian_grouping, inr
from engine.warehouse.grain import WEEKLY, normalise_grain

SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = ("new", "acknowledged", "resolved")
CANDIDATE_COLUMNS = ["rule", "severity", "entity", "day", "reason", "details"]
PAGE_PATHS = {"Forecast": "/Forecast", "Reorder": "/Reorder", "Sourcing": "/Sourcing",
              "Data": "/Data", "Pricing": "/Pricing"}


class AlertError(MicroPulseError, ValueError):
    """An alert action a user asked for that cannot be done (unknown id, wrong status)."""

    code = "alert_error"
    http_status = 409

    def __init__(self, message: str, evidence: list | None = None):
        super().__init__(message, evidence or [])


class AlertConfigError(AlertError):
    """A rule configuration that cannot be stored (unknown rule, bad threshold)."""

    code = "alert_config_error"
    http_status = 422


class RuleSkipped(MicroPulseError):
    """A rule cannot run because an input is missing; the message says which."""

    code = "rule_skipped"
    http_status = 409


@dataclass(frozen=True)
class Param:
    default: float
    lo: float
    hi: float
    help: str
    integer: bool = False


@dataclass(frozen=True)
class RuleSpec:
    name: str
    title: str
    description: str
    severity: str
    params: dict[str, Param] = field(default_factory=dict)

    def defaults(self) -> dict:
        return {k: p.default for k, p in self.params.items()}


RULES: dict[str, RuleSpec] = {spec.name: spec for spec in (
    RuleSpec("stock_reorder", "Stock at or below reorder level",
             "Stock on hand + on order at or below the reorder level (reorder point) of the "
             "reorder policy; lines that lose at least one unit of sales before an order "
             "placed today could arrive are raised one severity level.", "high",
             {"service_level": Param(0.95, 0.5, 0.999, "Fill-rate target of the policy")}),
    RuleSpec("forecast_deviation", "Forecast vs actual deviation",
             "Last week's sales differ from the freshest forecast for those days by more "
             "than the threshold (weekly data: last week's sales row against the forecast "
             "for that week). Sales above the forecast during a promotion are explained by "
             "it and not flagged.", "medium",
             {"threshold_pct": Param(50, 5, 1000, "Deviation that raises an alert (%)"),
              "min_units": Param(10, 0, 1e6, "Ignore gaps smaller than this many units"),
              "window_days": Param(7, 1, 56, "Days compared (weekly data: whole weeks)", True),
              "min_days": Param(4, 1, 56, "Fewest forecast days needed (weekly data: whole "
                                          "weeks)", True)}),
    RuleSpec("forecast_accuracy", "Forecast accuracy degradation",
             "WAPE of the last 4 weeks is worse than the series' backtest WAPE by a factor "
             "(weekly data: the last 4 weekly forecasts against the 4 weeks' sales).",
             "medium",
             {"factor": Param(1.5, 1.0, 20, "Live WAPE / backtest WAPE that raises an alert"),
              "min_wape_pct": Param(20, 0, 1000, "Ignore live WAPE below this (%)"),
              "window_days": Param(28, 7, 120, "Days of live accuracy (weekly data: whole "
                                               "weeks)", True),
              "min_days": Param(14, 1, 120, "Fewest forecast days needed (weekly data: whole "
                                            "weeks)", True)}),
    RuleSpec("demand_anomaly", "Demand spike or drop",
             "A day's (or, for weekly data, a week's) sales far from the series' usual "
             "level, measured as a robust z-score against the series' own spread. Daily: STL "
             "with a weekly pattern (period 7). Weekly: the median of the last 13 ordinary "
             "weeks, times the category's yearly pattern (period 52) when the same weeks "
             "showed it in each of the last two years. Spikes in promotion periods and "
             "periods in which the PIN reported nothing are not flagged.", "medium",
             {"z_threshold": Param(4.0, 2.0, 20, "Robust z-score that raises an alert"),
              "min_units": Param(5, 0, 1e6, "Ignore gaps smaller than this many units"),
              "lookback_days": Param(7, 1, 28, "Recent days checked (weekly data: whole "
                                               "weeks)", True),
              "history_days": Param(120, 56, 730, "Days of history for the baseline (daily "
                                                  "data)", True),
              "history_weeks": Param(156, 26, 520, "Weeks of history for the baseline "
                                                   "(weekly data)", True),
              "min_mean": Param(1.0, 0, 1e6, "Skip series selling less per day on average")}),
    RuleSpec("price_above_mrp", "Sale price above MRP",
             "A sale recorded above the printed MRP (not allowed under the Legal Metrology "
             "rules).", "high",
             {"tolerance_pct": Param(0, 0, 50, "Allowed excess over MRP (%)"),
              "lookback_days": Param(7, 1, 90, "Recent days checked (weekly data: whole "
                                               "weeks)", True)}),
    RuleSpec("price_below_cost", "Sale price below cost",
             "A sale recorded below the SKU's unit cost.", "medium",
             {"tolerance_pct": Param(0, 0, 90, "Allowed shortfall under cost (%)"),
              "lookback_days": Param(7, 1, 90, "Recent days checked (weekly data: whole "
                                               "weeks)", True)}),
    RuleSpec("mandi_spike", "Mandi price spike",
             "A mandi's modal price jumps above its previous 7-day average.", "medium",
             {"threshold_pct": Param(25, 1, 500, "Rise over the 7-day average (%)"),
              "lookback_days": Param(3, 1, 30, "Recent days checked", True),
              "min_baseline_days": Param(3, 1, 7, "Fewest prior price days needed", True),
              "purchase_qtl": Param(50, 1, 1e6, "Quintals you buy of a commodity in a week "
                                                "(sizes the rupees at stake)")}),
    RuleSpec("competitor_undercut", "Competitor undercuts a high-value SKU",
             "A competitor's latest in-stock price for a PIN (its own, or city-wide for the "
             "PIN's city) is more than the threshold below our average selling price there "
             "in the checked days, on a SKU x PIN whose sales in those days are worth at "
             "least the minimum. Rupees at stake: our units there x the price gap.", "high",
             {"threshold_pct": Param(15, 1, 90, "Competitor price this far below ours (%)"),
              "min_sales_value": Param(5000, 0, 1e9, "Fewest rupees of our sales of the SKU "
                                                     "at the PIN in the checked days (what "
                                                     "makes it high-value)"),
              "lookback_days": Param(7, 1, 90, "Recent days checked (our sales and the "
                                               "competitor prices)", True)}),
    RuleSpec("live_drift", "Forecasts drifting from their backtest",
             "Once actual sales arrive for the newest forecast run, a PIN code whose live "
             "typical error (WAPE) is well above what the run's backtest promised there: "
             "above MICROPULSE_DRIFT_RATIO x the backtest WAPE (default 1.25) and at least "
             "MICROPULSE_DRIFT_MIN_POINTS points above it (default 5). Checked after live "
             "accuracy is scored (uploads, sales events).", "high",
             {"min_periods": Param(3, 1, 60, "Fewest days (or weeks) of actuals before "
                                             "judging a run", True),
              "min_units": Param(20, 0, 1e6, "Ignore PIN codes that sold fewer units over "
                                             "those periods")}),
    RuleSpec("data_freshness", "Sales data missing",
             "A PIN has no sales for N days (N weeks for weekly data) while other PINs do, "
             "or the newest sales are old. A file whose newest sales were already that old "
             "when it was uploaded is a deliberate historical load and raises no stale-data "
             "alert (the generation summary says so).", "high",
             {"max_gap_days": Param(3, 1, 60, "Days behind the newest sales", True),
              "max_age_days": Param(7, 1, 365, "Days the newest sales may be old", True),
              "max_gap_weeks": Param(3, 1, 26, "Weeks behind the newest sales (weekly data)",
                                     True),
              "max_age_weeks": Param(2, 1, 52, "Weeks the newest sales may be old (weekly "
                                               "data)", True)}),
)}


@dataclass(frozen=True)
class RuleConfig:
    rule: str
    enabled: bool
    severity: str
    params: dict


def validate_config(rule: str, enabled, severity: str, params: dict | None) -> RuleConfig:
    """A complete, checked configuration (missing params take their defaults)."""
    spec = RULES.get(rule)
    if spec is None:
        raise AlertConfigError(f"There is no alert rule called {rule!r}; the rules are "
                               f"{', '.join(RULES)}.", [rule])
    if severity not in SEVERITIES:
        raise AlertConfigError(f"Severity {severity!r} is not one of "
                               f"{', '.join(SEVERITIES)}.", [severity])
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise AlertConfigError(f"Rule {rule!r} has no setting {unknown[0]!r}; its settings are "
                               f"{', '.join(spec.params) or 'none'}.", unknown)
    out = spec.defaults()
    for key, value in params.items():
        p = spec.params[key]
        try:
            num = float(value)
        except (TypeError, ValueError):
            raise AlertConfigError(f"Setting {key!r} of rule {rule!r} must be a number; got "
                                   f"{value!r}.", [value]) from None
        if not p.lo <= num <= p.hi:
            raise AlertConfigError(f"Setting {key!r} of rule {rule!r} must be between {p.lo:g} "
                                   f"and {p.hi:g}; got {num:g}.", [value])
        out[key] = int(round(num)) if p.integer else num
    return RuleConfig(rule=rule, enabled=bool(enabled), severity=severity, params=out)


def raise_severity(severity: str) -> str:
    i = SEVERITIES.index(severity)
    return SEVERITIES[max(i - 1, 0)]


def alert_link(details, pages=None, pin_scope=None, state_pins=None) -> str | None:
    """Relative URL of the page that explains an alert ('/Forecast?sku_id=..&pin_code=..'),
    for a reader who may open `pages` (None: every page) and sees `pin_scope` (None: every
    PIN). None when the page is not one the reader may open. A PIN parameter outside the
    scope is dropped; an alert with no PIN of its own (a mandi in a state) gets the lowest
    PIN of its state the reader sees (`state_pins`: state -> sorted PIN codes), if any."""
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return None
    if not isinstance(details, dict) or details.get("page") not in PAGE_PATHS:
        return None
    if pages is not None and details["page"] not in set(pages):
        return None
    scope = None if pin_scope is None else {str(p) for p in pin_scope}
    params = {k: v for k, v in (details.get("params") or {}).items() if v is not None}
    for key in ("pin", "pin_code"):
        if key in params and scope is not None and str(params[key]) not in scope:
            del params[key]
    if details["page"] == "Sourcing" and "pin" not in params and details.get("state"):
        mine = [p for p in (state_pins or {}).get(details["state"], ())
                if scope is None or str(p) in scope]
        if mine:
            params["pin"] = min(str(p) for p in mine)
    path = PAGE_PATHS[details["page"]]
    return path + ("?" + urlencode(params) if params else "")


def rank_alerts(df: pd.DataFrame) -> pd.DataFrame:
    """Alerts in the order a manager should read them: most rupees at stake first (alerts
    without an estimate last), ties by severity, then the newest day and creation."""
    if df.empty:
        return df
    stake = pd.to_numeric(df["at_stake"], errors="coerce") if "at_stake" in df \
        else pd.Series(np.nan, index=df.index)
    rank = df["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(len(SEVERITIES))
    created = df["created_at"] if "created_at" in df else pd.Series(pd.NaT, index=df.index)
    keys = pd.DataFrame({"_stake": stake.fillna(-1.0), "_rank": rank,
                         "_day": pd.to_datetime(df["day"]), "_created": pd.to_datetime(created)},
                        index=df.index)
    order = keys.sort_values(["_stake", "_rank", "_day", "_created"],
                             ascending=[False, True, False, False], kind="stable",
                             na_position="last").index
    return df.loc[order]


def shown_units(value: float) -> float:
    """A count as `num` prints it (so 'x units x price = total' adds up on screen)."""
    return float(num(value).replace(",", ""))


def shown_rupees(value: float) -> float:
    """Rupees as `rupees` prints them: paise below ₹1,000, whole rupees above."""
    return round(float(value), 2) if abs(value) < 1000 else float(round(float(value)))


def stake(value, how: str) -> dict:
    """The `at_stake` / `at_stake_how` evidence of an alert: whole rupees (None when the
    numbers behind it are missing) and the sentence that says how it was computed."""
    value = float(value) if value is not None else float("nan")
    return {"at_stake": round(value) if np.isfinite(value) else None, "at_stake_how": how}


# ---- text helpers (engine-side formatting of reasons) -----------------------------------------
def ddmmm(value) -> str:
    return pd.Timestamp(value).strftime("%d-%b")


def ddmmmyyyy(value) -> str:
    return pd.Timestamp(value).strftime("%d-%b-%Y")


def on_period(day, grain: str) -> str:
    """'on 04-Jan' for a day, 'in the week of 04-Jan' for a week's row."""
    return f"in the week of {ddmmm(day)}" if normalise_grain(grain) == WEEKLY \
        else f"on {ddmmm(day)}"


def rupees(value: float) -> str:
    """₹ with paise below ₹1,000, whole rupees with Indian grouping above."""
    return f"₹{value:,.2f}" if abs(value) < 1000 else inr(value)


def num(value: float) -> str:
    """A count as a reader expects it: whole numbers with Indian grouping ('1,23,456');
    one decimal only below 10 and when the value is not whole ('2.5')."""
    value = float(value)
    if abs(value) < 10 and round(value, 1) != round(value):
        return f"{value:.1f}"
    return indian_grouping(round(value))


def units(value: float) -> str:
    """'1 unit', '25 units', '2.5 units', '1,250 units'."""
    text = num(value)
    return f"{text} unit" if text == "1" else f"{text} units"


def sku_label(name, sku_id: str) -> str:
    return f"{name} ({sku_id})" if isinstance(name, str) and name else str(sku_id)


def series_entity(sku_id: str, pin_code: str) -> str:
    return f"{sku_id} @ {pin_code}"


def details_json(page: str | None, params: dict | None, pin_code=None, sku_id=None,
                 **evidence) -> str:
    clean = {k: (round(float(v), 4) if isinstance(v, float) else v)
             for k, v in evidence.items()}
    return json.dumps({"page": page, "params": params or {}, "pin_code": pin_code,
                       "sku_id": sku_id, **clean}, default=str)


def candidates(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
    if len(frame):
        frame["day"] = pd.to_datetime(frame["day"]).dt.normalize()
    return frame
