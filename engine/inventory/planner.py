"""Warehouse -> planning inputs -> plan. The only part of engine.inventory that touches the
warehouse (through engine.warehouse.inventory, forecasts, backtests, sales_history); the CLI
and the page call this."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.inventory.advice import build_plan
from engine.inventory.demand import (KEY, DemandModel, InventoryInputError, demand_from_forecast,
                                     demand_from_sales, sales_trend)
from engine.inventory.policy import PolicyConfig, projected_stock
from engine.textfmt import indian_grouping as _n
from engine.tracing import traced
from engine.warehouse.backtests import backtest_errors, backtest_models
from engine.warehouse.catalog import read_skus
from engine.warehouse.db import Warehouse
from engine.warehouse.festivals import read_festivals
from engine.warehouse.forecasts import read_forecasts
from engine.warehouse.grain import sales_grain
from engine.warehouse.inventory import read_inventory_lines
from engine.warehouse.locations import read_locations
from engine.warehouse.runs import latest_forecast_run
from engine.warehouse.sales import last_sales_date
from engine.warehouse.sales_history import read_price_panel, read_sales_window


@dataclass(frozen=True)
class PlanInputs:
    lines: pd.DataFrame
    model: DemandModel
    festivals: tuple[pd.DataFrame, pd.DataFrame] | None
    trend: pd.DataFrame
    elasticities: pd.DataFrame | None


def load_festivals(wh: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Festival calendar and effects: the warehouse tables, else the shipped reference."""
    calendar, effects = read_festivals(wh)
    if len(calendar) and len(effects):
        return calendar, effects
    try:
        from engine.signals.festivals import festival_calendar, festival_effects
        return festival_calendar(), festival_effects()
    except Exception:  # reference data missing or unreadable: plan without festival context
        return None


def load_elasticities(wh: Warehouse, as_of) -> pd.DataFrame | None:
    """Own-price elasticity per SKU from the pricing engine (last 2 years of sales), or None
    if the pricing engine is not available."""
    try:
        from engine.pricing.elasticity import PanelInputs, estimate_elasticities
    except ImportError:
        return None
    start = pd.Timestamp(as_of) - pd.Timedelta(days=730)
    sales = read_price_panel(wh, start.date(), as_of)
    if sales.empty:
        return None
    skus = read_skus(wh, ("sku_id", "category"))
    locations = read_locations(wh, ("pin_code", "state", "city"))
    est = estimate_elasticities(PanelInputs(sales=sales, skus=skus, locations=locations))
    return est[["sku_id", "elasticity"]]


def _combine(fc: DemandModel, emp: DemandModel, covered: pd.DataFrame) -> DemandModel:
    """Forecast where the run covers a line, the empirical model elsewhere."""
    key = pd.MultiIndex.from_frame(covered[KEY])
    rest_path = emp.path[~pd.MultiIndex.from_frame(emp.path[KEY]).isin(key)]
    rest_sig = emp.sigma[~pd.MultiIndex.from_frame(emp.sigma[KEY]).isin(key)]
    n_rest = len(rest_sig)
    label = fc.label + (f" {n_rest} lines without a forecast use the 8-week sales average."
                        if n_rest else "")
    sigma = pd.concat([fc.sigma.assign(demand_source="forecast"),
                       rest_sig.assign(demand_source="empirical")], ignore_index=True)
    return DemandModel(path=pd.concat([fc.path, rest_path], ignore_index=True), sigma=sigma,
                       source="forecast", label=label, as_of=fc.as_of)


def _residuals(wh: Warehouse, run_id: str, fc: pd.DataFrame) -> pd.DataFrame | None:
    """Backtest errors behind a forecast run: the run's own backtests (the 'routed' model,
    i.e. the one chosen per series, when present), else the latest backtest run's rows of
    the models the forecast used."""
    models = backtest_models(wh, run_id)
    if models:
        return backtest_errors(wh, [run_id], "routed" if "routed" in models else None)
    bt = latest_forecast_run(wh, "backtest")
    if bt is None:
        return None
    res = backtest_errors(wh, [bt["run_id"]])
    chosen = fc[KEY + ["model"]].drop_duplicates(KEY) if "model" in fc else None
    if chosen is not None and len(res):
        matched = res.merge(chosen, on=KEY + ["model"])
        return matched if len(matched) else res
    return res


def load_inputs(wh: Warehouse, horizon: int = 28, with_elasticity: bool = False) -> PlanInputs:
    """Everything the plan needs, read once (cache this per data version)."""
    lines = read_inventory_lines(wh)
    if lines.empty:
        raise InventoryInputError("The warehouse has no inventory snapshot to plan from; "
                                  "load one with `python -m engine ingest inventory FILE`.")
    festivals = load_festivals(wh)
    last = last_sales_date(wh)
    run = latest_forecast_run(wh, "forecast")
    model = None
    if run is not None:
        fc = read_forecasts(wh, run["run_id"])
        if len(fc):
            model = demand_from_forecast(fc, _residuals(wh, run["run_id"], fc),
                                         run_label=str(run["run_id"]), grain=run["grain"])
    as_of = pd.Timestamp(model.as_of if model else last) if (model or last) else None
    if as_of is None:
        raise InventoryInputError("There are no sales and no forecasts to plan from; load "
                                  "sales or run `python -m engine forecast` first.")
    start = (as_of - pd.Timedelta(days=7 * 8 - 1)).date()
    sales = read_sales_window(wh, start, as_of.date())
    emp = demand_from_sales(sales, lines, as_of=as_of, horizon=horizon, festivals=festivals,
                            grain=sales_grain(wh))
    if model is None:
        model = emp
    else:
        covered = model.sigma[KEY]
        if len(covered) < len(lines.drop_duplicates(KEY)):
            model = _combine(model, emp, covered)
    trend = sales_trend(sales, as_of)
    el = load_elasticities(wh, as_of.date()) if with_elasticity else None
    return PlanInputs(lines=lines, model=model, festivals=festivals, trend=trend,
                      elasticities=el)


@traced("inventory.plan", lambda a: {"service_level": a["cfg"].service_level},
        lambda plan: {"lines": len(plan), "orders": int((plan["order_qty"] > 0).sum())
                      if "order_qty" in plan else None})
def make_plan(inputs: PlanInputs, cfg: PolicyConfig = PolicyConfig()) -> pd.DataFrame:
    return build_plan(inputs.lines, inputs.model, cfg, festivals=inputs.festivals,
                      trend=inputs.trend, elasticities=inputs.elasticities)


BUDGET_STATUSES = ("optimal", "feasible", "nothing to order")


def budget_plan(sol) -> pd.DataFrame:
    """The plan as the budget optimiser left it (`optimize.PlanSolution`): order_qty,
    order_cases, order_value and order_volume_l are the funded order, `policy_qty` what the
    policy asked for, and a line the budget trimmed or deferred says so in its action and
    reason. Raises InventoryInputError when the optimiser found no usable plan."""
    if sol.status not in BUDGET_STATUSES:
        raise InventoryInputError(sol.explanation or "The budget plan could not be solved.")
    out = sol.lines.copy()
    out["policy_qty"] = out["order_qty"]
    for col in ("qty", "cases", "value", "volume_l"):
        out[f"order_{col}"] = out[f"opt_{col}"]
    asked, got = out["policy_qty"], out["order_qty"]
    deferred = (asked > 0) & (got <= 0)
    trimmed = (asked > 0) & (got > 0) & (got < asked)
    out.loc[deferred, "action"] = "deferred"
    notes = pd.Series("", index=out.index)
    notes[deferred] = [f" Budget: this order of {_n(a)} waits; lines with more lost sales "
                       "per rupee come first." for a in asked[deferred]]
    notes[trimmed] = [f" Budget: {_n(g)} of the {_n(a)} units are funded."
                      for g, a in zip(got[trimmed], asked[trimmed])]
    out["reason"] = out["reason"].fillna("") + notes
    return out


def plan_tiles(plan: pd.DataFrame) -> dict:
    """The Reorder page's headline figures, summed from the rows of the plan shown (the
    budget plan when a budget is applied): lines, units and value to order, critical
    lines (and how many of them get no order) and lines out of stock now."""
    ordered = plan["order_qty"] > 0
    critical = plan["urgency"].eq("critical")
    return {"lines_to_order": int(ordered.sum()),
            "units_to_order": float(plan.loc[ordered, "order_qty"].sum()),
            "order_value": float(plan.loc[ordered, "order_value"].sum()),
            "critical": int(critical.sum()),
            "critical_unordered": int((critical & ~ordered).sum()),
            "out_of_stock_now": int(plan["out_of_stock_now"].fillna(False).astype(bool).sum())}


def purchase_orders(plan: pd.DataFrame, qty_col: str = "order_qty") -> pd.DataFrame:
    """Order lines grouped into purchase orders by supplier and city (one row per PO line,
    with the PO's totals), most valuable POs first."""
    lines = plan[plan[qty_col] > 0].copy()
    cols = ["supplier", "city", "sku_id", "name", "pin_code", "urgency", "qty", "cases",
            "unit_cost", "value", "po_lines", "po_value"]
    if lines.empty:
        return pd.DataFrame(columns=cols)
    lines["supplier"] = lines["supplier"].fillna("Unknown supplier")
    lines["city"] = lines["city"].fillna("Unknown city")
    lines["qty"] = lines[qty_col]
    lines["cases"] = lines["qty"] / lines["case_pack"].clip(lower=1)
    lines["value"] = lines["qty"] * lines["unit_cost"]
    grp = lines.groupby(["supplier", "city"])
    lines["po_lines"] = grp["qty"].transform("size")
    lines["po_value"] = grp["value"].transform("sum")
    lines = lines.sort_values(["po_value", "supplier", "city", "value"],
                              ascending=[False, True, True, False])
    return lines[cols].reset_index(drop=True)


def pin_risk(plan: pd.DataFrame) -> pd.DataFrame:
    """Stock-out risk per PIN code for the map: share of ALL its lines (pass the plan before
    any urgency filter, or every PIN looks red) that are critical (1) or high (0.5), with
    counts and the value of the orders they need."""
    weight = plan["urgency"].map({"critical": 1.0, "high": 0.5}).fillna(0.0)
    frame = plan.assign(_w=weight, _crit=plan["urgency"].eq("critical"),
                        _high=plan["urgency"].eq("high"))
    out = frame.groupby("pin_code", as_index=False).agg(
        city=("city", "first"), state=("state", "first"), lat=("lat", "first"),
        lon=("lon", "first"), lines=("sku_id", "size"), critical=("_crit", "sum"),
        high=("_high", "sum"), risk=("_w", "mean"), order_value=("order_value", "sum"))
    return out.sort_values("risk", ascending=False).reset_index(drop=True)


def line_projection(inputs: PlanInputs, plan: pd.DataFrame, sku_id: str, pin_code: str,
                    cfg: PolicyConfig = PolicyConfig(), horizon: int = 28,
                    qty_col: str = "order_qty") -> pd.DataFrame:
    """Projected on-hand stock of one plan line (see policy.projected_stock)."""
    hit = plan[(plan["sku_id"] == sku_id) & (plan["pin_code"] == pin_code)]
    if hit.empty:
        raise InventoryInputError(f"No plan line for {sku_id} at PIN {pin_code}.")
    row = hit.iloc[0]
    return projected_stock(row, inputs.model, cfg, horizon, float(row[qty_col]))
