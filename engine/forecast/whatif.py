"""What-if scenarios for the Forecast page: units and rupees against the stored baseline.

Method (no model is refitted; see `engine.forecast.drivers` for the response estimates):
- Response curves are estimated once per data version from the whole sales history
  (`drivers.estimate_response`): per category, a log-linear regression with series x month
  fixed effects of log units on log(price / regular price), promotion, temperature
  anomaly and rainfall anomaly vs the city's climate normal; per SKU, its own price slope
  shrunk towards the category's by its number of discounted days.
- The scenario scales the stored routed forecast row by row (`drivers.scenario`):
  price (1 + change)^elasticity x exp(b_temp * dT + b_rain * dRain) x festival scaling of
  the LightGBM festival uplift u, (1 + (u - 1) * intensity) / u, x promotion
  exp(b_promo) * (1 - typical discount)^elasticity. Interval bounds scale by the same
  factor.
- Rupees: baseline revenue = units x planned price (the forecast's price, else the
  series' last regular price, else MRP); scenario revenue = scenario units x planned
  price x (1 + price change) x (1 - the category's typical discount when promoting).

`run_scenario` is vectorised over all rows of a selection, so one series answers in
about a millisecond and a category in tens of milliseconds once the base rows and the
response curves are cached (benchmarks/bench_scenario.py).

Weekly runs stay weekly: each row is a week's units, the outcome carries the grain and
`ScenarioOutcome.unit` says "units per week", so every label speaks in the run's periods.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from engine.errors import MicroPulseError
from engine.forecast.config import ScenarioConfig
from engine.forecast.drivers import ResponseCurves, estimate_response, scenario
from engine.warehouse.grain import DAILY, grain_of_dates, normalise_grain, period_noun

LIMITS = {"price_change_pct": (-50.0, 50.0), "temp_anomaly_c": (-10.0, 10.0),
          "rain_anomaly_mm": (-30.0, 30.0), "festival_intensity": (0.0, 3.0)}


class ScenarioInputError(MicroPulseError, ValueError):
    """A what-if setting outside what the method can answer honestly."""

    code = "scenario_input_error"


@dataclass(frozen=True)
class ScenarioOutcome:
    daily: pd.DataFrame   # one row per period (day or week): date, baseline, scenario, lo,
                          # hi, lo80, hi80, scenario_lo, ...
    totals: dict          # baseline_units, scenario_units, delta_units, delta_pct,
                          # baseline_inr, scenario_inr, delta_inr, n_series
    factors: dict         # average multiplier per lever (volume weighted)
    grain: str = DAILY    # 'D' or 'W': the period of each row of `daily`

    @property
    def unit(self) -> str:
        """'units per day' or 'units per week'."""
        return f"units per {period_noun(self.grain)}"


def check_settings(cfg: ScenarioConfig) -> None:
    for key, (lo, hi) in LIMITS.items():
        value = float(getattr(cfg, key))
        if not np.isfinite(value) or value < lo or value > hi:
            raise ScenarioInputError(
                f"The {key.replace('_', ' ')} must be between {lo:g} and {hi:g}; got "
                f"{value:g}.")


# What the response estimate reads (db.DOMAINS); bump RESPONSE_METHOD when it changes.
RESPONSE_DEPENDS = ("sales", "festivals", "weather")
RESPONSE_METHOD = "2026-12"


def response_curves(wh) -> ResponseCurves:
    """Response coefficients from the warehouse's full sales history and signals, computed
    once per version of those and stored (engine/warehouse/results.py)."""
    from engine.forecast.inputs import read_signals
    from engine.warehouse import results
    from engine.warehouse.sales_history import read_history

    fresh: list[ResponseCurves] = []

    def estimate() -> ResponseCurves:
        if not fresh:
            fresh.append(estimate_response(read_history(wh), read_signals(wh)))
        return fresh[0]

    return ResponseCurves(
        sku=results.stored(wh, "response_sku", RESPONSE_METHOD, RESPONSE_DEPENDS,
                           lambda: estimate().sku),
        category=results.stored(wh, "response_category", RESPONSE_METHOD, RESPONSE_DEPENDS,
                                lambda: estimate().category))


def settings_dict(cfg: ScenarioConfig) -> dict:
    return asdict(cfg)


def _lever_factor(base: pd.DataFrame, response: ResponseCurves, cfg: ScenarioConfig,
                  weights: np.ndarray) -> float:
    out = scenario(base, response, cfg)["multiplier"].to_numpy(dtype=float)
    total = weights.sum()
    return float((out * weights).sum() / total) if total > 0 else 1.0


def run_scenario(base: pd.DataFrame, response: ResponseCurves, cfg: ScenarioConfig,
                 with_factors: bool = True, grain: str | None = None) -> ScenarioOutcome:
    """Scenario vs baseline for the rows of `base` (sku_id, pin_code, date, forecast, lo,
    hi, lo80, hi80, category, festival_uplift, price), summed per date. `grain` is the
    run's ('D' or 'W'; detected from the rows' dates when None)."""
    check_settings(cfg)
    grain = normalise_grain(grain) if grain else \
        (grain_of_dates(base["date"]) if len(base) else DAILY)
    if base.empty:
        empty = pd.DataFrame(columns=["date", "baseline", "scenario"])
        return ScenarioOutcome(empty, {"baseline_units": 0.0, "scenario_units": 0.0,
                                       "delta_units": 0.0, "delta_pct": None,
                                       "baseline_inr": 0.0, "scenario_inr": 0.0,
                                       "delta_inr": 0.0, "n_series": 0}, {}, grain)
    rows = scenario(base, response, cfg)
    price = rows["price"].astype(float).fillna(0.0).to_numpy()
    cats = response.category.set_index("category")
    discount = rows["category"].map(cats["typical_discount"]).fillna(0.0).to_numpy(float) \
        if "typical_discount" in cats else np.zeros(len(rows))
    new_price = price * (1 + cfg.price_change_pct / 100.0)
    if cfg.promo:
        new_price = new_price * (1 - discount)
    rows["baseline_inr"] = rows["baseline"] * price
    rows["scenario_inr"] = rows["scenario"] * new_price
    cols = ["baseline", "scenario", "baseline_inr", "scenario_inr"] + [
        c for c in ("lo", "hi", "lo80", "hi80", "scenario_lo", "scenario_hi", "scenario_lo80",
                    "scenario_hi80") if c in rows]
    daily = rows.groupby("date", as_index=False)[cols].sum()
    b_units, s_units = float(rows["baseline"].sum()), float(rows["scenario"].sum())
    b_inr, s_inr = float(rows["baseline_inr"].sum()), float(rows["scenario_inr"].sum())
    totals = {"baseline_units": b_units, "scenario_units": s_units,
              "delta_units": s_units - b_units,
              "delta_pct": (s_units / b_units - 1) if b_units > 0 else None,
              "baseline_inr": b_inr, "scenario_inr": s_inr, "delta_inr": s_inr - b_inr,
              "n_series": int(rows[["sku_id", "pin_code"]].drop_duplicates().shape[0])}
    factors = {}
    if with_factors:
        w = rows["baseline"].to_numpy(dtype=float)
        neutral = ScenarioConfig()
        for key in ("price_change_pct", "temp_anomaly_c", "rain_anomaly_mm",
                    "festival_intensity", "promo"):
            one = ScenarioConfig(**{**asdict(neutral), key: getattr(cfg, key)})
            factors[key] = 1.0 if one == neutral else _lever_factor(base, response, one, w)
    return ScenarioOutcome(daily, totals, factors, grain)


def result_summary(outcome: ScenarioOutcome, run_id: str) -> dict:
    """What a saved scenario stores: totals, factors, the lines per period (key "daily",
    kept for saved scenarios; `grain` says whether its rows are days or weeks) and the
    run."""
    daily = outcome.daily
    return {"run_id": run_id, "grain": outcome.grain, "totals": outcome.totals,
            "factors": outcome.factors,
            "daily": {"date": [pd.Timestamp(d).strftime("%Y-%m-%d") for d in daily["date"]],
                      "baseline": [round(float(v), 3) for v in daily["baseline"]],
                      "scenario": [round(float(v), 3) for v in daily["scenario"]]}}


def compare(base: pd.DataFrame, response: ResponseCurves, saved: pd.DataFrame,
            grain: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Re-run each saved scenario's settings on the current baseline (same run or a newer
    one) and return (one row per scenario: name, settings..., units, delta_units,
    delta_pct, revenue, delta_inr, saved_run_id), (long lines per period of the run's
    grain: name, date, units))."""
    rows, lines = [], []
    for r in saved.itertuples(index=False):
        known = {k: v for k, v in dict(r.settings).items() if k in ScenarioConfig.__annotations__}
        cfg = ScenarioConfig(**known)
        out = run_scenario(base, response, cfg, with_factors=False, grain=grain)
        t = out.totals
        rows.append({"name": r.name, **asdict(cfg), "units": t["scenario_units"],
                     "delta_units": t["delta_units"], "delta_pct": t["delta_pct"],
                     "revenue": t["scenario_inr"], "delta_inr": t["delta_inr"],
                     "saved_run_id": dict(r.result).get("run_id"),
                     "created_by": r.created_by, "created_at": r.created_at})
        lines.append(out.daily[["date", "scenario"]].rename(columns={"scenario": "units"})
                     .assign(name=r.name))
    table = pd.DataFrame(rows)
    long = pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(
        columns=["date", "units", "name"])
    return table, long
