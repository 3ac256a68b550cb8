"""One scenario, end to end: demand -> price and margin -> reorder -> mandi sourcing, each
step beside the baseline (the same chain with no assumption changed).

Method (no model is refitted; every step reuses the engine the matching page uses):

1. *Demand*: the stored routed forecast (latest run) of the selected series, scaled row by
   row inside the scenario's dates by
   (1 + price change)^e x planned price ratio^e x promotion lift x weather x festival x
   (1 + demand shock), where e is the SKU's own-price elasticity from the Pricing page
   (`pricing.service.elasticity_table`; its category median, else the forecast's
   response curve, when the SKU has none), the promotion lift, weather and festival
   responses are the Forecast what-if's (`forecast.whatif.response_curves`), and a plan
   version is resolved by `forecast.plan.resolve` (newest version, most specific row).
   Interval bounds scale by the same factor.
2. *Price and margin*: revenue = units x selling price (the forecast's planned price, else
   the series' last regular price, else MRP) x the price factors; margin = units x
   (selling price - unit cost).
3. *Reorder*: the Reorder page's policy (`inventory.advice.build_plan`) on the selected
   lines, with the forecast demand path scaled by the same per-row factors (a week's
   factor applies to each of its days) and its error by the series' mean factor; the
   scenario's service level and lead-time change; with a budget, the budget MILP
   (`inventory.optimize.optimize_orders`). Expected fill rate = 1 - expected unserved
   units / expected demand over lead time + review period, after the order.
4. *Sourcing*: SKUs linked to a mandi commodity (`scenarios.commodities`) need the
   ordered units x kg per unit; each commodity is ranked (`sourcing.service.rank_for_pin`)
   to the PIN code with the largest baseline demand for it, and costed at the best mandi's landed price,
   with the mandi price shock on the modal price.

The inputs are read once per version of the data they come from (`load_inputs`, cached
per warehouse and, part by part, per version of the domains each part reads: `PARTS`), so
a scenario recomputes in well under a second on the demo and a write re-reads only what it
touched. The Orders step plans only the selected lines, the baseline too.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from engine.scenarios.model import Assumptions, Scenario, ScenarioError, Selection
from engine.tracing import traced

KEY = ["sku_id", "pin_code"]
# What a scenario's result depends on (db.DOMAINS)
DEPENDS = ("sales", "inventory", "forecasts", "plans", "mandi", "festivals", "weather")
STEPS = ("demand", "pricing", "reorder", "sourcing")


# ---- inputs ------------------------------------------------------------------------------
@dataclass
class ScenarioInputs:
    """Everything a scenario reads, once per data version."""

    version: str
    run: dict | None               # the forecast run (run_id, grain, cutoff, horizon)
    base: pd.DataFrame             # forecast rows + category/state/city/price/unit_cost/name
    elasticity: pd.DataFrame       # sku_id, elasticity, source
    response: object               # drivers.ResponseCurves (promo, weather, festival)
    plan_inputs: object | None     # inventory.planner.PlanInputs (None: no inventory)
    plan_note: str | None          # why there is no reorder step, if there is none
    commodity_map: pd.DataFrame    # scenarios.commodities.MAP_COLUMNS
    commodities: list[str]
    plan_rows: pd.DataFrame        # uploaded plan rows (all versions)
    wh: object = field(repr=False, default=None)
    scope: tuple[str, ...] | None = None   # PIN codes a scoped handle limits compute to
    # computed on first use and shared by every (scoped) copy of these inputs
    _ranks: dict = field(default_factory=dict, repr=False)     # (commodity, pin) -> best
    _index: dict = field(default_factory=dict, repr=False)     # row indexes

    def subset(self, name: str, frame: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
        """The rows of `frame` (kept on these inputs under `name`) for the SKU x PIN pairs
        in `keys`, through a per-series row index built once."""
        idx = self._index.get(f"rows:{name}")
        if idx is None:
            idx = frame.groupby([frame["sku_id"].astype(str), frame["pin_code"].astype(str)],
                                sort=False).indices
            self._index[f"rows:{name}"] = idx
        pos = [idx[k] for k in zip(keys["sku_id"].astype(str), keys["pin_code"].astype(str))
               if k in idx]
        return frame.iloc[np.sort(np.concatenate(pos))] if pos else frame.iloc[0:0]


_CACHE: dict[tuple, ScenarioInputs] = {}
_LOCK = threading.Lock()


def _elasticities(wh, skus: pd.DataFrame, response) -> pd.DataFrame:
    from engine.forecast.drivers import response_terms
    from engine.pricing.elasticity import PricingError
    from engine.pricing.service import elasticity_table

    try:
        table = elasticity_table(wh)[["sku_id", "elasticity"]]
    except PricingError:      # no price variation anywhere: the fallbacks below
        table = pd.DataFrame(columns=["sku_id", "elasticity"])
    out = skus[["sku_id", "category"]].drop_duplicates("sku_id").merge(
        table, on="sku_id", how="left")
    out["source"] = np.where(out["elasticity"].notna(), "SKU (Pricing page)", None)
    cat = out.groupby("category")["elasticity"].transform("median")
    use_cat = out["elasticity"].isna() & cat.notna()
    out.loc[use_cat, "source"] = "category median (Pricing page)"
    out["elasticity"] = out["elasticity"].fillna(cat)
    rest = out["elasticity"].isna()
    if rest.any():
        el, _ = response_terms(out.loc[rest, ["sku_id", "category"]], response)
        out.loc[rest, "elasticity"] = el
        out.loc[rest, "source"] = "forecast response curve"
    return out[["sku_id", "elasticity", "source"]]


def _latest_run(wh) -> dict:
    from engine.warehouse.runs import latest_forecast_run

    run = latest_forecast_run(wh)
    if run is None:
        raise ScenarioError("no_forecast", "There is no forecast to build a scenario on; run "
                            "one first (Forecast page, or `python -m engine forecast`).")
    return run


def series_choices(wh) -> pd.DataFrame:
    """What a scenario can select, without loading its inputs: one row per series of the
    latest forecast run (sku_id, pin_code, name, category, state, city, first_date,
    last_date), read through `wh` (a PIN-scoped handle sees its own PIN codes). For a form
    drawn before any scenario is computed; `select_rows` narrows it like the forecast
    rows."""
    from engine.warehouse.forecasts import scenario_series

    return scenario_series(wh, _latest_run(wh)["run_id"])


# What each part of the inputs reads (db.DOMAINS): a write re-reads only the parts that
# read what it touched (a plan upload re-reads the plan rows, a mandi upload the commodity
# links and mandi ranks; the forecast rows and the stock plans stay). Together: DEPENDS.
PARTS = {
    "forecast": ("forecasts", "sales"),                # the run and its rows
    "estimates": ("sales", "festivals", "weather"),    # response curves, elasticities
    "stock": ("inventory", "forecasts", "sales", "festivals"),   # the Reorder inputs
    "mandi": ("mandi", "sales"),                       # commodities, links, mandi ranks
    "plans": ("plans",),                               # uploaded price / promotion plans
}
assert set().union(*PARTS.values()) == set(DEPENDS)


def _part(wh, name: str, read):
    """`read(wh)` once per version of the domains the part reads (PARTS), per warehouse."""
    key = (str(getattr(wh, "path", id(wh))), name, wh.data_version(*PARTS[name]))
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    out = read(wh)
    with _LOCK:
        for old in [k for k in _CACHE if k[:2] == key[:2]]:
            del _CACHE[old]
        _CACHE[key] = out
    return out


def _skus(wh) -> pd.DataFrame:
    """What a scenario reads of the catalog."""
    from engine.warehouse.catalog import read_skus

    return read_skus(wh, ("sku_id", "name", "category", "subcategory"))


def _read_forecast(wh) -> dict:
    from engine.warehouse.forecasts import scenario_base

    run = _latest_run(wh)
    return {"run": run, "base": scenario_base(wh, run["run_id"])}


def _read_estimates(wh) -> dict:
    from engine.forecast.whatif import response_curves

    response = response_curves(wh)
    return {"response": response, "elasticity": _elasticities(wh, _skus(wh), response)}


def _read_stock(wh) -> dict:
    from engine.inventory.demand import InventoryInputError
    from engine.inventory.planner import load_inputs as plan_inputs

    try:
        return {"plan_inputs": plan_inputs(wh), "plan_note": None, "_index": {}}
    except InventoryInputError as exc:
        return {"plan_inputs": None, "plan_note": str(exc), "_index": {}}


def _read_mandi(wh) -> dict:
    from engine.scenarios.commodities import link_skus
    from engine.warehouse import mandi

    commodities = mandi.mandi_commodities(wh)["commodity"].astype(str).tolist()
    return {"commodity_map": link_skus(_skus(wh), commodities), "commodities": commodities,
            "_ranks": {}}


def _read_plans(wh) -> dict:
    from engine.warehouse.plans import plan_rows

    return {"plan_rows": plan_rows(wh)}


def load_inputs(wh) -> ScenarioInputs:
    """Read (or reuse) what scenarios need from the warehouse, keyed by its data version:
    each part by the version of what it reads (PARTS), so a write re-reads only the parts
    it touched. The row indexes and the mandi ranks computed on first use stay with the
    part they come from.

    A PIN-scoped handle (`ScopedWarehouse`) reads through its base warehouse, so a store
    user's scenario uses the same national elasticities and response curves as everyone
    else's (and the stored ones), and the returned inputs carry the scope: `compute`
    never goes outside it, whatever PIN scope its caller passes."""
    scope = getattr(wh, "pin_scope", None)
    if scope is not None and hasattr(wh, "base"):
        return replace(load_inputs(wh.base), scope=tuple(scope))
    version = wh.data_version(*DEPENDS)
    key = (str(getattr(wh, "path", id(wh))), "inputs", version)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    parts = {}
    for name, read in (("forecast", _read_forecast), ("estimates", _read_estimates),
                       ("stock", _read_stock), ("mandi", _read_mandi),
                       ("plans", _read_plans)):
        parts.update(_part(wh, name, read))
    out = ScenarioInputs(version=version, wh=wh, **parts)
    with _LOCK:
        for old in [k for k in _CACHE if k[:2] == key[:2]]:
            del _CACHE[old]
        _CACHE[key] = out
    return out


# ---- step 1: demand ----------------------------------------------------------------------
def select_rows(base: pd.DataFrame, sel: Selection, pin_scope=None) -> pd.DataFrame:
    """Forecast rows of the selected products and places (and the viewer's PIN scope)."""
    m = np.ones(len(base), dtype=bool)
    for col, values in (("category", sel.categories), ("sku_id", sel.skus),
                        ("state", sel.states), ("city", sel.cities),
                        ("pin_code", sel.pins)):
        if values:
            m &= base[col].astype(str).isin(values).to_numpy()
    if pin_scope is not None:
        m &= base["pin_code"].astype(str).isin(list(pin_scope)).to_numpy()
    return base[m].reset_index(drop=True)


def _in_window(dates: pd.Series, sel: Selection, grain: str) -> np.ndarray:
    """Forecast periods that overlap the scenario's dates (a week labelled by its last day
    overlaps when any of its days is inside)."""
    d = pd.to_datetime(dates)
    first = d - pd.Timedelta(days=6) if grain == "W" else d
    ok = np.ones(len(d), dtype=bool)
    if sel.start:
        ok &= (d >= pd.Timestamp(sel.start)).to_numpy()
    if sel.end:
        ok &= (first <= pd.Timestamp(sel.end)).to_numpy()
    return ok


def demand_factors(rows: pd.DataFrame, inputs: ScenarioInputs, a: Assumptions,
                   sel: Selection) -> pd.DataFrame:
    """Per row: the demand multiplier and the price factor (new / baseline selling price),
    with the factor of each lever for the reasons."""
    from engine.forecast.drivers import response_terms
    from engine.forecast.plan import planned_ratio, resolve

    n = len(rows)
    grain = str((inputs.run or {}).get("grain") or "D")
    _, coef = response_terms(rows, inputs.response)
    el = rows["sku_id"].map(inputs.elasticity.set_index("sku_id")["elasticity"]) \
        .fillna(0.0).to_numpy(float)
    price_ratio = np.full(n, 1.0 + a.price_change_pct / 100.0)
    promo = np.full(n, bool(a.promo))
    if a.plan_version is not None:
        plan = inputs.plan_rows[inputs.plan_rows["plan_version"] <= a.plan_version]
        if not (inputs.plan_rows["plan_version"] == a.plan_version).any():
            raise ScenarioError("unknown_plan", f"There is no uploaded plan version "
                                f"{a.plan_version}; upload one on the Data page (kind: plan).",
                                a.plan_version)
        series = rows[KEY + ["category", "city", "state"]].drop_duplicates(KEY)
        res = resolve(plan, series, pd.to_datetime(rows["date"]).unique(), grain)
        m = rows[KEY + ["date"]].merge(res, on=KEY + ["date"], how="left")
        reg = rows["regular_price"].to_numpy(float)
        planned = planned_ratio(m["price"].to_numpy(float), m["discount_pct"].to_numpy(float),
                                reg)
        planned = np.where(np.isfinite(planned) & (planned > 0), planned, 1.0)
        share = np.nan_to_num(m["plan_share"].to_numpy(float))
        planned = 1 + share * (planned - 1)
        p_promo = m["promo"].to_numpy(float)
        p_promo = np.where(np.isnan(p_promo), planned < 0.98, p_promo > 0) & (share > 0)
        price_ratio = price_ratio * planned
        promo = promo | p_promo
    promo_price = np.where(promo, 1 - coef["typical_discount"], 1.0)
    u = rows["festival_uplift"].to_numpy(float)
    u = np.where(np.isfinite(u) & (u > 0), u, 1.0)
    f_price = np.clip(price_ratio * promo_price, 1e-6, None) ** el
    f_promo = np.where(promo, np.exp(coef["promo_coef"]), 1.0)
    f_weather = np.exp(coef["temp_coef"] * a.temp_anomaly_c + coef["rain_coef"] * a.rain_anomaly_mm)
    f_festival = (1 + (u - 1) * a.festival_intensity) / u
    f_shock = np.full(n, 1.0 + a.demand_shock_pct / 100.0)
    inside = _in_window(rows["date"], sel, grain)
    out = pd.DataFrame({"f_price": f_price, "f_promo": f_promo, "f_weather": f_weather,
                        "f_festival": f_festival, "f_shock": f_shock})
    out = out.where(np.broadcast_to(inside[:, None], out.shape), 1.0)
    out["multiplier"] = np.clip(out.prod(axis=1).to_numpy(), 0, None)
    out["price_factor"] = np.where(inside, price_ratio * promo_price, 1.0)
    out["elasticity"] = el
    out["inside"] = inside
    return out


def _demand(rows: pd.DataFrame, fac: pd.DataFrame, grain: str) -> dict:
    r = rows.assign(scenario=rows["forecast"] * fac["multiplier"].to_numpy())
    for col in ("lo", "hi", "lo80", "hi80"):
        r[f"scenario_{col}"] = r[col] * fac["multiplier"].to_numpy()
    periods = r.groupby("date", as_index=False)[
        ["forecast", "scenario", "lo", "hi", "scenario_lo", "scenario_hi"]].sum() \
        .rename(columns={"forecast": "baseline"})
    b, s = float(r["forecast"].sum()), float(r["scenario"].sum())
    w = r["forecast"].to_numpy(float)
    levers = {}
    for k in ("price", "promo", "weather", "festival", "shock"):
        v = fac[f"f_{k}"].to_numpy(float)
        levers[k] = float((v * w).sum() / w.sum()) if w.sum() > 0 else 1.0
    by = r.groupby(["category"], as_index=False)[["forecast", "scenario"]].sum() \
        .rename(columns={"forecast": "baseline_units", "scenario": "scenario_units"})
    return {"rows": r, "periods": periods, "by_category": by, "levers": levers,
            "totals": {"baseline_units": b, "scenario_units": s, "delta_units": s - b,
                       "delta_pct": (s / b - 1) if b > 0 else None,
                       "baseline_lo": float(r["lo"].sum()), "baseline_hi": float(r["hi"].sum()),
                       "scenario_lo": float(r["scenario_lo"].sum()),
                       "scenario_hi": float(r["scenario_hi"].sum()),
                       "n_series": int(r[KEY].drop_duplicates().shape[0]),
                       "n_periods": int(r["date"].nunique()), "grain": grain}}


# ---- step 2: price and margin ------------------------------------------------------------
def _pricing(rows: pd.DataFrame, fac: pd.DataFrame) -> dict:
    price = rows["price"].astype(float).to_numpy()
    cost = rows["unit_cost"].astype(float).to_numpy()
    new_price = price * fac["price_factor"].to_numpy(float)
    b_units = rows["forecast"].to_numpy(float)
    s_units = b_units * fac["multiplier"].to_numpy(float)
    frame = rows[KEY + ["category", "name"]].assign(
        baseline_units=b_units, scenario_units=s_units,
        baseline_price=price, scenario_price=new_price,
        baseline_revenue=np.nan_to_num(b_units * price),
        scenario_revenue=np.nan_to_num(s_units * new_price),
        baseline_margin=np.nan_to_num(b_units * (price - cost)),
        scenario_margin=np.nan_to_num(s_units * (new_price - cost)))
    by_sku = frame.groupby(["sku_id", "name", "category"], as_index=False, dropna=False)[
        ["baseline_units", "scenario_units", "baseline_revenue", "scenario_revenue",
         "baseline_margin", "scenario_margin"]].sum()
    w = np.nan_to_num(b_units)
    by_sku = by_sku.merge(
        frame.assign(_w=w, _bp=np.nan_to_num(price) * w, _sp=np.nan_to_num(new_price) * w)
        .groupby("sku_id", as_index=False)[["_w", "_bp", "_sp"]].sum()
        .assign(baseline_price=lambda d: d["_bp"] / d["_w"].where(d["_w"] > 0),
                scenario_price=lambda d: d["_sp"] / d["_w"].where(d["_w"] > 0))
        [["sku_id", "baseline_price", "scenario_price"]], on="sku_id", how="left")
    by_sku["delta_margin"] = by_sku["scenario_margin"] - by_sku["baseline_margin"]
    by_sku = by_sku.sort_values("delta_margin", key=np.abs, ascending=False) \
        .reset_index(drop=True)
    t = {k: float(frame[k].sum()) for k in ("baseline_revenue", "scenario_revenue",
                                           "baseline_margin", "scenario_margin")}
    t["delta_revenue"] = t["scenario_revenue"] - t["baseline_revenue"]
    t["delta_margin"] = t["scenario_margin"] - t["baseline_margin"]
    t["missing_cost"] = int(rows.loc[rows["unit_cost"].isna(), "sku_id"].nunique())
    return {"by_sku": by_sku, "totals": t}


# ---- step 3: reorder ---------------------------------------------------------------------
def _selected_model(inputs: ScenarioInputs, keys: pd.DataFrame):
    """The inventory demand model of the selected lines only."""
    from engine.inventory.demand import DemandModel

    model = inputs.plan_inputs.model
    return DemandModel(path=inputs.subset("path", model.path, keys),
                       sigma=inputs.subset("sigma", model.sigma, keys), source=model.source,
                       label=model.label, as_of=model.as_of)


def _scaled_model(inputs: ScenarioInputs, keys: pd.DataFrame, rows: pd.DataFrame,
                  fac: pd.DataFrame):
    """The demand model of the selected lines with each day's demand scaled by the factor
    of the forecast period it falls in."""
    model = _selected_model(inputs, keys)
    path, sigma = model.path.copy(), model.sigma.copy()
    f = rows[KEY + ["date"]].assign(mult=fac["multiplier"].to_numpy(float))
    if len(path) and len(f):
        path["date"] = pd.to_datetime(path["date"])
        path = path.sort_values("date")
        f = f.assign(date=pd.to_datetime(f["date"])).sort_values("date")
        path = pd.merge_asof(path, f, on="date", by=KEY, direction="forward")
        last = f.groupby(KEY, as_index=False)["mult"].last().rename(columns={"mult": "_last"})
        path = path.merge(last, on=KEY, how="left")
        # past the forecast's last period: the last period's factor
        path["mult"] = path["mult"].fillna(path["_last"]).fillna(1.0)
        mean = path.groupby(KEY, as_index=False)["mult"].mean()
        path["forecast"] = path["forecast"] * path["mult"]
        path = path.drop(columns=["mult", "_last"])
        sigma = sigma.merge(mean, on=KEY, how="left")
        sigma["sigma_daily"] = sigma["sigma_daily"] * sigma["mult"].fillna(1.0)
        sigma = sigma.drop(columns="mult")
    return replace(model, path=path, sigma=sigma)


def _fill_rate(plan: pd.DataFrame) -> float | None:
    from engine.inventory.policy import expected_shortfall

    mu = plan["protect_demand"].to_numpy(float)
    if not len(plan) or np.nansum(mu) <= 0:
        return None
    stock = (plan["inventory_position"] + plan["order_qty"]).to_numpy(float)
    short = expected_shortfall(stock, mu, plan["protect_sigma"].to_numpy(float))
    return float(1 - np.nansum(short) / np.nansum(mu))


def _plan_totals(plan: pd.DataFrame) -> dict:
    from engine.inventory.planner import plan_tiles

    t = plan_tiles(plan) if len(plan) else {"lines_to_order": 0, "units_to_order": 0.0,
                                            "order_value": 0.0, "critical": 0,
                                            "critical_unordered": 0, "out_of_stock_now": 0}
    t["lines"] = int(len(plan))
    t["at_risk_units"] = float(plan["at_risk_units"].sum()) if len(plan) else 0.0
    t["sales_at_risk"] = float(plan["sales_at_risk"].sum()) if len(plan) else 0.0
    t["fill_rate"] = _fill_rate(plan)
    return t


_BASELINES = 32     # baseline plans kept per inputs (one per selection of lines)


def _baseline(inputs: ScenarioInputs, lines: pd.DataFrame, keys: pd.DataFrame):
    """The Reorder page's default policy on the selected lines and their demand model, the
    same lines and model the scenario is planned on (so with nothing changed the scenario
    orders exactly this), not the plan of every line: a few lines cost a few lines'
    planning. Kept per selection of lines, so another price or promotion on the same
    selection does not plan it again."""
    from engine.inventory.advice import build_plan
    from engine.inventory.policy import PolicyConfig

    kept = inputs._index.setdefault("baselines", {})
    key = tuple(sorted(zip(keys["sku_id"].astype(str), keys["pin_code"].astype(str))))
    plan = kept.get(key)
    if plan is None:
        pi = inputs.plan_inputs
        plan = build_plan(lines, _selected_model(inputs, keys), PolicyConfig(),
                          festivals=pi.festivals, trend=pi.trend)
        with _LOCK:                  # pages compute in several threads
            while len(kept) >= _BASELINES:
                kept.pop(next(iter(kept)), None)
            kept[key] = plan
    return plan


def _reorder(inputs: ScenarioInputs, rows: pd.DataFrame, fac: pd.DataFrame,
             a: Assumptions) -> dict:
    from engine.inventory.advice import build_plan
    from engine.inventory.demand import InventoryInputError
    from engine.inventory.planner import budget_plan
    from engine.inventory.policy import PolicyConfig

    pi = inputs.plan_inputs
    if pi is None:
        return {"available": False, "note": inputs.plan_note, "lines": None}
    keys = rows[KEY].drop_duplicates()
    lines = inputs.subset("lines", pi.lines, keys)
    if lines.empty:
        return {"available": False, "note": "No inventory line in the selection.",
                "lines": None}
    base = _baseline(inputs, lines, keys)
    cfg = PolicyConfig(service_level=a.service_level,
                       lead_time_change_days=a.lead_time_change_days)
    try:
        cfg.validate()
    except InventoryInputError as exc:
        raise ScenarioError("bad_assumption", str(exc), a.service_level) from exc
    scn = build_plan(lines, _scaled_model(inputs, keys, rows, fac), cfg,
                     festivals=pi.festivals, trend=pi.trend)
    budget_note = None
    if a.budget_inr:
        from engine.inventory.optimize import OptimizeConfig, optimize_orders
        sol = optimize_orders(scn, OptimizeConfig(budget=a.budget_inr, time_limit_s=10.0))
        try:
            scn = budget_plan(sol)
        except InventoryInputError as exc:      # no usable budget plan
            budget_note = str(exc)
        else:
            budget_note = sol.explanation
    cols = ["sku_id", "pin_code", "name", "category", "city", "state", "supplier", "on_hand",
            "on_order", "lead_time_days", "urgency", "order_qty", "order_value",
            "stockout_date", "at_risk_units", "sales_at_risk", "reason"]
    merged = scn[cols].merge(
        base[KEY + ["order_qty", "order_value", "urgency", "stockout_date"]].rename(columns={
            "order_qty": "baseline_order_qty", "order_value": "baseline_order_value",
            "urgency": "baseline_urgency", "stockout_date": "baseline_stockout_date"}),
        on=KEY, how="left")
    merged["delta_order_qty"] = merged["order_qty"] - merged["baseline_order_qty"].fillna(0)
    merged = merged.sort_values(["delta_order_qty", "order_value"], key=np.abs,
                                ascending=False).reset_index(drop=True)
    return {"available": True, "note": budget_note, "lines": merged,
            "baseline": _plan_totals(base), "scenario": _plan_totals(scn)}


# ---- step 4: sourcing --------------------------------------------------------------------
def _rank(inputs: ScenarioInputs, commodity: str, pin: str):
    """(best mandi's row with the destination's label, or None; the reason when None) for
    a commodity delivered to a PIN, cached per inputs."""
    from engine.sourcing.prepare import SourcingError
    from engine.sourcing.service import rank_for_pin

    key = (commodity, pin)
    if key not in inputs._ranks:
        try:
            ranked = rank_for_pin(inputs.wh, commodity, pin, 10.0)
            best = ranked.iloc[0].to_dict() if len(ranked) else None
            if best is not None:
                best["destination"] = ranked.attrs.get("destination", {}).get("label", pin)
            inputs._ranks[key] = (best, None if best is not None else
                                  f"No mandi has recent {commodity} prices and a location.")
        except SourcingError as exc:
            inputs._ranks[key] = (None, str(exc))
    return inputs._ranks[key]


def _sourcing(inputs: ScenarioInputs, rows: pd.DataFrame, fac: pd.DataFrame, reorder: dict,
              a: Assumptions) -> dict:
    cmap = inputs.commodity_map
    cols = ["commodity", "baseline_demand_qtl", "scenario_demand_qtl",
            "baseline_order_qtl", "scenario_order_qtl", "delta_order_qtl", "destination_pin",
            "destination", "mandi", "mandi_state", "modal_price", "scenario_modal_price",
            "transport_per_qtl", "baseline_landed", "scenario_landed", "baseline_cost",
            "scenario_cost", "delta_cost", "skus", "note"]
    linked = cmap[cmap["kg_per_unit"].notna()]
    unlinked = cmap[cmap["kg_per_unit"].isna() & cmap["sku_id"].isin(rows["sku_id"])]
    if linked.empty or not inputs.commodities:
        return {"table": pd.DataFrame(columns=cols), "unlinked": unlinked,
                "note": "No product in the selection is bought as a mandi commodity."
                if inputs.commodities else "The warehouse has no mandi prices."}
    kg = rows["sku_id"].map(linked.set_index("sku_id")["kg_per_unit"])
    dem = rows.assign(kg=kg, scn=rows["forecast"] * fac["multiplier"].to_numpy(float))
    dem = dem[dem["kg"].notna()]
    if dem.empty:
        return {"table": pd.DataFrame(columns=cols), "unlinked": unlinked,
                "note": "No product in the selection is bought as a mandi commodity."}
    dem["commodity"] = dem["sku_id"].map(linked.set_index("sku_id")["commodity"])
    dem["b_qtl"] = dem["forecast"] * dem["kg"] / 100.0
    dem["s_qtl"] = dem["scn"] * dem["kg"] / 100.0
    need = dem.groupby("commodity").agg(baseline_demand_qtl=("b_qtl", "sum"),
                                        scenario_demand_qtl=("s_qtl", "sum"),
                                        skus=("sku_id", "nunique"))
    lines = reorder.get("lines")
    if lines is not None and len(lines):
        ol = lines.assign(kg=lines["sku_id"].map(linked.set_index("sku_id")["kg_per_unit"]),
                          commodity=lines["sku_id"].map(linked.set_index("sku_id")["commodity"]))
        ol = ol[ol["kg"].notna()]
        ol["b"] = ol["baseline_order_qty"].fillna(0) * ol["kg"] / 100.0
        ol["s"] = ol["order_qty"].fillna(0) * ol["kg"] / 100.0
        orders = ol.groupby("commodity").agg(baseline_order_qtl=("b", "sum"),
                                             scenario_order_qtl=("s", "sum"))
    else:
        orders = pd.DataFrame(columns=["baseline_order_qtl", "scenario_order_qtl"])
    # deliver to the PIN code with the largest baseline need (the same for every scenario
    # of this selection, so scenarios compare on one destination)
    dest = dem.groupby(["commodity", "pin_code"])["b_qtl"].sum().reset_index() \
        .sort_values(["b_qtl", "pin_code"], ascending=[False, True]) \
        .drop_duplicates("commodity").set_index("commodity")["pin_code"]
    out = []
    shock = 1 + a.mandi_price_shock_pct / 100.0
    for commodity, r in need.iterrows():
        o = orders.loc[commodity] if commodity in orders.index else None
        b_q = float(o["baseline_order_qtl"]) if o is not None else 0.0
        s_q = float(o["scenario_order_qtl"]) if o is not None else 0.0
        pin = dest.get(commodity)
        best, err = _rank(inputs, commodity, str(pin))
        row = {"commodity": commodity, "baseline_demand_qtl": float(r["baseline_demand_qtl"]),
               "scenario_demand_qtl": float(r["scenario_demand_qtl"]),
               "baseline_order_qtl": b_q, "scenario_order_qtl": s_q,
               "delta_order_qtl": s_q - b_q, "destination_pin": str(pin),
               "skus": int(r["skus"]), "note": err}
        if best is not None:
            modal, transport = float(best["modal_price"]), float(best["transport_per_qtl"])
            row.update({"destination": best["destination"],
                        "mandi": best["market"], "mandi_state": best.get("state"),
                        "modal_price": modal, "scenario_modal_price": modal * shock,
                        "transport_per_qtl": transport, "baseline_landed": modal + transport,
                        "scenario_landed": modal * shock + transport,
                        "baseline_cost": b_q * (modal + transport),
                        "scenario_cost": s_q * (modal * shock + transport)})
            row["delta_cost"] = row["scenario_cost"] - row["baseline_cost"]
        out.append(row)
    table = pd.DataFrame(out, columns=cols).sort_values("scenario_demand_qtl",
                                                        ascending=False).reset_index(drop=True)
    return {"table": table, "unlinked": unlinked, "note": None}


# ---- the chain ---------------------------------------------------------------------------
@dataclass
class ScenarioResult:
    scenario: Scenario
    version: str
    run_id: str | None
    grain: str
    demand: dict
    pricing: dict
    reorder: dict
    sourcing: dict
    steps: list[dict]
    factors: pd.DataFrame = field(repr=False, default=None)
    rows: pd.DataFrame = field(repr=False, default=None)

    def summary(self) -> dict:
        """Step totals as plain numbers (stored with the scenario, returned by the API)."""
        return {"version": self.version, "run_id": self.run_id, "grain": self.grain,
                "steps": [{k: v for k, v in s.items()} for s in self.steps],
                "levers": self.demand["levers"]}


def _step(name, label, unit, baseline, scenario, reason, delta_inr=None, extra=None) -> dict:
    b = float(baseline) if baseline is not None else None
    s = float(scenario) if scenario is not None else None
    d = (s - b) if b is not None and s is not None else None
    pct = (d / b) if d is not None and b else None
    out = {"step": name, "label": label, "unit": unit, "baseline": b, "scenario": s,
           "delta": d, "delta_pct": pct, "delta_inr": delta_inr, "reason": reason}
    out.update(extra or {})
    return out


def _steps(res_demand, res_pricing, res_reorder, res_sourcing, a: Assumptions,
           grain: str) -> list[dict]:
    from engine.textfmt import indian_grouping as n

    dt, pt = res_demand["totals"], res_pricing["totals"]
    lv = res_demand["levers"]
    why = [f"{label} {v - 1:+.1%}" for label, v in (
        ("price", lv["price"]), ("promotion", lv["promo"]), ("weather", lv["weather"]),
        ("festivals", lv["festival"]), ("demand shock", lv["shock"])) if abs(v - 1) >= 0.0005]
    period = "weeks" if grain == "W" else "days"
    steps = [_step("demand", "Demand", "units", dt["baseline_units"], dt["scenario_units"],
                   (f"Over {dt['n_periods']} forecast {period} of {n(dt['n_series'])} series; "
                    + ("effect on demand of " + ", ".join(why) if why
                       else "no assumption changes demand") + "."),
                   delta_inr=pt["delta_revenue"],
                   extra={"scenario_lo": dt["scenario_lo"], "scenario_hi": dt["scenario_hi"]}),
             _step("pricing", "Margin", "₹", pt["baseline_margin"], pt["scenario_margin"],
                   (f"Revenue ₹{n(pt['baseline_revenue'])} → ₹{n(pt['scenario_revenue'])}; "
                    "margin = units × (selling price − unit cost)"
                    + (f"; {pt['missing_cost']} SKUs have no unit cost (margin counts them "
                       "at zero cost)" if pt["missing_cost"] else "") + "."),
                   delta_inr=pt["delta_margin"],
                   extra={"baseline_revenue": pt["baseline_revenue"],
                          "scenario_revenue": pt["scenario_revenue"]})]
    if res_reorder.get("available"):
        b, s = res_reorder["baseline"], res_reorder["scenario"]
        fr = (f" Expected fill rate {b['fill_rate']:.1%} → {s['fill_rate']:.1%}."
              if b["fill_rate"] is not None and s["fill_rate"] is not None else "")
        changes = []
        if a.service_level != Assumptions().service_level:
            changes.append(f"service level {a.service_level:.1%}")
        if a.lead_time_change_days:
            changes.append(f"lead times {a.lead_time_change_days:+d} days")
        if a.budget_inr:
            changes.append(f"budget ₹{n(a.budget_inr)}")
        steps.append(_step(
            "reorder", "Orders", "₹", b["order_value"], s["order_value"],
            (f"{n(s['lines_to_order'])} lines to order (baseline {n(b['lines_to_order'])}), "
             f"{n(s['units_to_order'])} units; {n(s['critical'])} critical lines "
             f"(baseline {n(b['critical'])}).{fr}"
             + (f" Policy: {', '.join(changes)}." if changes else "")
             + (f" {res_reorder['note']}" if res_reorder.get("note") else "")),
            delta_inr=s["order_value"] - b["order_value"],
            extra={"baseline_fill_rate": b["fill_rate"], "scenario_fill_rate": s["fill_rate"],
                   "baseline_critical": b["critical"], "scenario_critical": s["critical"],
                   "baseline_lines": b["lines_to_order"],
                   "scenario_lines": s["lines_to_order"]}))
    else:
        steps.append(_step("reorder", "Orders", "₹", None, None,
                           res_reorder.get("note") or "No inventory to plan from."))
    tab = res_sourcing["table"]
    if len(tab):
        costed = tab[tab["baseline_cost"].notna()]
        top = tab.iloc[0]
        where = (f" Best for {top['commodity']}: {top['mandi']} (landed "
                 f"₹{n(top['scenario_landed'])}/qtl)." if pd.notna(top.get("mandi")) else "")
        steps.append(_step(
            "sourcing", "Mandi buying", "₹", costed["baseline_cost"].sum(),
            costed["scenario_cost"].sum(),
            (f"{len(tab)} commodities; order need {tab['baseline_order_qtl'].sum():,.1f} → "
             f"{tab['scenario_order_qtl'].sum():,.1f} quintals"
             + (f", mandi prices {a.mandi_price_shock_pct:+.0f}%"
                if a.mandi_price_shock_pct else "") + "." + where),
            delta_inr=float(costed["scenario_cost"].sum() - costed["baseline_cost"].sum()),
            extra={"baseline_qtl": float(tab["baseline_order_qtl"].sum()),
                   "scenario_qtl": float(tab["scenario_order_qtl"].sum())}))
    else:
        steps.append(_step("sourcing", "Mandi buying", "₹", None, None,
                           res_sourcing.get("note") or "Nothing to buy at mandis."))
    return steps


@traced("scenario.compute", lambda a: {"scenario": a["scenario"].name})
def compute(inputs: ScenarioInputs, scenario: Scenario, pin_scope=None) -> ScenarioResult:
    """The scenario's chain and the baseline's on the same selection (see module doc),
    within `pin_scope` and the scope the inputs were loaded with."""
    if inputs.scope is not None:
        pin_scope = tuple(sorted(set(inputs.scope) & set(pin_scope))) \
            if pin_scope is not None else inputs.scope
    rows = select_rows(inputs.base, scenario.selection, pin_scope)
    if rows.empty:
        raise ScenarioError("empty_selection", f"The selection ({scenario.selection.label()}) "
                            "has no forecast series you can see; widen it.",
                            scenario.selection.to_dict())
    grain = str((inputs.run or {}).get("grain") or "D")
    a = scenario.assumptions
    fac = demand_factors(rows, inputs, a, scenario.selection)
    dem = _demand(rows, fac, grain)
    pri = _pricing(rows, fac)
    reo = _reorder(inputs, rows, fac, a)
    src = _sourcing(inputs, rows, fac, reo, a)
    return ScenarioResult(scenario=scenario, version=inputs.version,
                          run_id=(inputs.run or {}).get("run_id"), grain=grain, demand=dem,
                          pricing=pri, reorder=reo, sourcing=src,
                          steps=_steps(dem, pri, reo, src, a, grain), factors=fac, rows=rows)


def run(wh, scenario: Scenario, pin_scope=None) -> ScenarioResult:
    """load_inputs + compute."""
    return compute(load_inputs(wh), scenario, pin_scope)


def baseline_of(scenario: Scenario) -> Scenario:
    """The same selection with nothing changed."""
    return Scenario(name=f"{scenario.name} (baseline)", selection=scenario.selection)


__all__ = ["ScenarioInputs", "ScenarioResult", "load_inputs", "series_choices", "compute",
           "run", "select_rows", "demand_factors", "baseline_of"]
