"""Make a warehouse ready to show: a stored forecast run with its backtest, alerts, the
expensive derived results (elasticities, regional elasticities, demand responses,
accuracy tables) computed and stored, and a sample scenario, so every page has content on
its first visit.

`python -m engine init --demo --ready` (what `make run` does) calls `make_ready` after
seeding. Each step is skipped when its result is already stored for the current data, so
running it again costs seconds. The forecast is a real run of the product's default
models with a quicker backtest (one fold instead of three; `READY_CONFIG`): the Accuracy
page says which run it shows, and **Run forecast** on the Forecast page (or `python -m
engine forecast`) replaces it with a full run at any time.
"""
from __future__ import annotations

import time
from typing import Callable

from engine.forecast.config import ForecastConfig

READY_CONFIG = ForecastConfig(folds=1)


def make_ready(wh, say: Callable[[str], None] = print) -> dict:
    """Forecast (when there is no run yet), alerts, and stored derived results.
    Returns {step: seconds} (a skipped step is absent)."""
    from engine.alerts import refresh_after
    from engine.forecast.pipeline import run_forecast
    from engine.forecast.whatif import response_curves
    from engine.pricing.elasticity import PricingError
    from engine.pricing.service import elasticity_table, regional_elasticity_table
    from engine.warehouse.runs import latest_forecast_run

    timings: dict[str, float] = {}

    def step(name: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - started, 1)
        say(f"ready: {name} in {timings[name]:.1f} s")
        return out

    if not wh.count("sales_daily"):
        say("ready: the warehouse has no sales; nothing to prepare")
        return timings
    if latest_forecast_run(wh) is None:
        step("forecast", lambda: run_forecast(wh, READY_CONFIG, progress=say))
        step("alerts", lambda: say(refresh_after(wh, "demo preparation")))
    try:
        table = step("elasticities", lambda: elasticity_table(wh))
        step("regional elasticities", lambda: regional_elasticity_table(wh, table))
    except PricingError as exc:        # e.g. no price variation: the page says the same
        say(f"ready: elasticities skipped ({exc})")
    step("demand responses", lambda: response_curves(wh))
    from engine.intel import IntelError
    from engine.intel.clusters import store_clusters

    try:
        step("store clusters", lambda: store_clusters(wh))
    except IntelError as exc:          # e.g. too few PIN codes; the page says the same
        say(f"ready: store clusters skipped ({exc})")
    if latest_forecast_run(wh) is not None and not wh.count("scenarios"):
        step("sample scenario", lambda: sample_scenario(wh))
    return timings


def sample_scenario(wh):
    """Save one scenario so the Scenarios page and the pages' scenario picker have
    something to show: 10% off the category x state with the most forecast revenue among
    categories with a product bought at mandis (so every step of the chain has figures),
    mandi prices 10% up; computed once so its summary is stored."""
    from engine.scenarios import Assumptions, Scenario, Selection
    from engine.scenarios import compute as C
    from engine.scenarios import saved
    from engine.warehouse import scenarios

    inputs = C.load_inputs(wh)
    base = inputs.base.assign(revenue=inputs.base["forecast"] * inputs.base["price"])
    linked = inputs.commodity_map.dropna(subset=["kg_per_unit"])
    pool = base[base["sku_id"].isin(linked["sku_id"])]
    (category, state) = (pool if len(pool) else base).groupby(["category", "state"])[
        "revenue"].sum().idxmax()
    sc = Scenario(f"Sample: 10% off {category} in {state}",
                  Selection(categories=(category,), states=(state,)),
                  Assumptions(price_change_pct=-10.0, mandi_price_shock_pct=10.0))
    result = C.compute(inputs, sc)
    stored = saved.save(wh, sc, "demo")
    scenarios.record_result(wh, stored.scenario_id, result.summary(), result.version)
    return stored
