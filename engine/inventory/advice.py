"""Suggestions on top of the numeric plan: overstock (redistribute / promote / reduce),
expiry risk for perishables, promotions (discount on decline, bundle before a festival)
with elasticity-based impact, and the reason sentence for every line."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.inventory.demand import KEY, DemandModel, upcoming_festival
from engine.inventory.policy import PolicyConfig, plan_levels, urgency_rank

PLAN_COLUMNS = [
    "sku_id", "pin_code", "name", "category", "supplier", "city", "state",
    "on_hand", "on_order", "lead_time_days", "moq", "case_pack", "unit_cost",
    "daily_demand", "lead_time_demand", "safety_stock", "reorder_point", "order_up_to",
    "inventory_position", "days_of_cover", "position_cover", "stockout_date",
    "out_of_stock_now", "lead_time_shortfall", "at_risk_units", "unit_price", "sales_at_risk",
    "plan_day", "urgency", "order_qty",
    "order_cases", "order_value", "order_volume_l", "action", "overstock_units",
    "transfer_to", "expiry_units", "promo", "promo_impact", "festival", "festival_days",
    "festival_mult", "reason", "demand_source", "error_source",
    # used by the optimiser, the map and charts
    "mrp", "unit_volume_l", "shelf_life_days", "sigma_lead_time", "protect_demand",
    "protect_sigma", "lat", "lon",
]


def _n(x: float) -> str:
    """Whole units with Indian digit grouping: 123456 -> '1,23,456'."""
    digits = str(abs(int(round(float(x)))))
    if len(digits) > 3:
        head, tail, groups = digits[:-3], digits[-3:], []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        digits = ",".join(([head] if head else []) + groups + [tail])
    return ("-" if round(float(x)) < 0 else "") + digits


def _days(x: float) -> str:
    if not np.isfinite(x) or x >= 365:
        return "over a year"
    if x < 1:
        return "less than a day"
    if x < 1.5:
        return "about a day"
    if x < 10:       # one decimal, rounded down: 1.96 days is not 'about 2 days'
        return f"about {np.floor(x * 10) / 10:.1f} days".replace(".0 days", " days")
    return f"about {x:.0f} days"


def _qty(x: float) -> str:
    """Whole units, but 'under 1' for a positive amount that rounds to 0."""
    return "under 1" if 0 < float(x) < 0.5 else _n(x)


def _stock(r) -> str:
    """'On hand 80 + on order 24', or 'Out of stock now (24 on order)'."""
    ordered = round(float(r.on_order)) > 0
    if round(float(r.on_hand)) <= 0:
        return "Out of stock now" + (f" ({_n(r.on_order)} on order)" if ordered else "")
    return f"On hand {_n(r.on_hand)}" + (f" + on order {_n(r.on_order)}" if ordered else "")


def build_plan(lines: pd.DataFrame, model: DemandModel, cfg: PolicyConfig = PolicyConfig(),
               festivals: tuple[pd.DataFrame, pd.DataFrame] | None = None,
               trend: pd.DataFrame | None = None,
               elasticities: pd.DataFrame | None = None) -> pd.DataFrame:
    """The full reorder plan: one row per line with levels, order, urgency, suggestions and
    a reason sentence; most urgent first, and within an urgency the most sales at risk."""
    plan = plan_levels(lines, model, cfg)
    fest = upcoming_festival(plan, festivals, model.as_of, cfg.festival_lookahead_days)
    plan = plan.merge(fest, on=KEY, how="left")
    if trend is not None and len(trend):
        plan = plan.merge(trend[KEY + ["trend"]], on=KEY, how="left")
    else:
        plan["trend"] = np.nan
    el = None
    if elasticities is not None and len(elasticities) and "elasticity" in elasticities:
        el = elasticities[["sku_id", "elasticity"]].drop_duplicates("sku_id")
        el = el.assign(sku_id=el["sku_id"].astype(str))
        plan = plan.merge(el, on="sku_id", how="left")
    else:
        plan["elasticity"] = np.nan
    _overstock(plan, cfg)
    _promotions(plan, cfg)
    plan["reason"] = [_reason(r, cfg) for r in plan.itertuples(index=False)]
    for col in PLAN_COLUMNS:
        if col not in plan:
            plan[col] = np.nan
    plan = plan.assign(_rank=urgency_rank(plan["urgency"]),
                       _risk=-plan["sales_at_risk"].fillna(0.0))
    plan = plan.sort_values(["_rank", "_risk", "days_of_cover", "sku_id", "pin_code"],
                            kind="stable")
    return plan[PLAN_COLUMNS].reset_index(drop=True)


def _overstock(plan: pd.DataFrame, cfg: PolicyConfig) -> None:
    over = (plan["days_of_cover"] > cfg.overstock_days) & (plan["order_qty"] == 0)
    plan["overstock_units"] = np.where(
        over, np.floor(np.maximum(plan["on_hand"] - plan["demand_overstock"], 0.0)), 0.0)
    plan["transfer_to"] = None
    plan["action"] = np.where(plan["order_qty"] > 0, "order",
                              np.where(plan["overstock_units"] > 0, "reduce", "ok"))
    needy = plan[(plan["order_qty"] > 0) & plan["urgency"].isin(["critical", "high"])]
    if needy.empty:
        return
    need_left = dict(zip(needy.index, needy["order_qty"].astype(float)))
    by_sku = needy.groupby("sku_id").groups
    donors = plan[plan["overstock_units"] > 0].sort_values("overstock_units", ascending=False)
    moved = {}
    for idx, row in donors.iterrows():
        targets = by_sku.get(row["sku_id"])
        if targets is None:
            continue
        best = max(targets, key=lambda t: need_left[t])
        units = min(need_left[best], row["overstock_units"])
        if units <= 0:
            continue
        need_left[best] -= units
        moved[idx] = (plan.at[best, "pin_code"], plan.at[best, "city"], units)
    for idx, (pin, city, units) in moved.items():
        plan.at[idx, "action"] = "redistribute"
        plan.at[idx, "transfer_to"] = f"{_n(units)} units to {pin}" + (
            f" ({city})" if isinstance(city, str) and city else "")


def _promotions(plan: pd.DataFrame, cfg: PolicyConfig) -> None:
    declining = plan["trend"] < cfg.decline_ratio
    discount = declining & (plan["days_of_cover"] > cfg.promo_cover_days)
    bundle = plan["festival_mult"] >= cfg.bundle_multiplier
    plan["promo"] = np.where(discount, "discount", np.where(bundle, "bundle", None))
    lift = np.power(1.0 - cfg.promo_discount, plan["elasticity"].astype(float)) - 1.0
    impact = []
    for r, lf in zip(plan.itertuples(index=False), lift):
        if r.promo == "discount":
            if np.isfinite(lf):
                extra = lf * r.demand_30d
                impact.append(f"{cfg.promo_discount:.0%} off lifts units {lf:+.0%} "
                              f"(elasticity {r.elasticity:.2f}): about {_n(extra)} extra "
                              "units in 30 days")
            else:
                impact.append(f"{cfg.promo_discount:.0%} off; impact unknown "
                              "(no elasticity estimate)")
        elif r.promo == "bundle":
            impact.append(f"bundle ahead of {r.festival} ({r.festival_mult:.1f}x demand) "
                          "to grow basket size")
        else:
            impact.append(None)
    plan["promo_impact"] = impact
    plan.loc[(plan["action"] == "reduce") & discount, "action"] = "promote"


def _order_text(r) -> str:
    """'; order 36 (3 cases of 12)' with the MOQ note, or '' when nothing is ordered."""
    if r.order_qty <= 0:
        return ""
    cases = f"{_n(r.order_cases)} case{'s' if r.order_cases != 1 else ''} of {_n(r.case_pack)}"
    order = f"; order {_n(r.order_qty)} ({cases})"
    need_cases = np.ceil((r.order_up_to - r.inventory_position) / r.case_pack - 1e-9)
    if r.moq > need_cases * r.case_pack:
        order += f", raised to the minimum order of {_n(r.moq)}"
    return order


def _lost(units: float) -> str:
    return "1 unit" if _n(units) == "1" else f"{_n(units)} units"


def _main_reason(r, cfg: PolicyConfig) -> str:
    """The first clause: what the stock does, in a manager's words (whole units, DD-MMM)."""
    onh, order = _stock(r), _order_text(r)
    lead = f"{r.lead_time_days}-day lead time"
    if r.daily_demand <= 0:
        return f"{onh}; no sales expected, no order needed"
    if r.urgency == "critical":
        lost = (f"about {_lost(r.lead_time_shortfall)} of sales will be lost before an order "
                "placed today arrives")
        if r.out_of_stock_now and round(float(r.on_order)) <= 0:
            return (f"Out of stock now ({r.plan_day:%d-%b}) with nothing on order; an order "
                    f"takes {r.lead_time_days} days to arrive, so {lost}{order}")
        if r.out_of_stock_now:
            return (f"Out of stock now ({r.plan_day:%d-%b}); the {_n(r.on_order)} on order do "
                    f"not cover the {lead}, so {lost}{order}")
        when = f", runs out around {r.stockout_date:%d-%b}" if pd.notna(r.stockout_date) else ""
        return (f"{onh} lasts {_days(r.position_cover)}, less than the {lead}{when}: "
                f"{lost}{order}")
    if r.urgency == "high":
        return (f"{onh}: at or below the reorder level of {_n(r.reorder_point)} (expected "
                f"sales of {_qty(r.lead_time_demand)} over the {lead} + safety stock of "
                f"{_n(r.safety_stock)}){order}")
    if r.reorder_point <= 0 and r.order_qty > 0:
        return (f"{onh}; it sells less than one unit over the {lead}, so no sales are "
                f"expected to be lost before a delivery{order} with the next purchase order")
    if r.reorder_point <= 0:
        return (f"{onh}; it sells less than one unit over the {lead}, so no order is "
                "needed yet")
    if r.urgency == "medium" and r.inventory_position > r.reorder_point:
        return (f"{onh}: {_n(r.inventory_position - r.reorder_point)} above the reorder "
                f"level of {_n(r.reorder_point)}; no order yet")
    return f"{onh} lasts {_days(r.position_cover)}; no order needed{order}"


def _reason(r, cfg: PolicyConfig) -> str:
    parts = [_main_reason(r, cfg)]
    if r.daily_demand > 0 and r.on_order > 0 and r.days_of_cover < r.lead_time_days \
            and not (r.urgency == "critical" and r.out_of_stock_now):
        parts.append("the shelf is empty: chase the open order" if r.days_of_cover < 1 else
                     f"shelf stock lasts only {_days(r.days_of_cover)}: make sure the open "
                     "order arrives by then")
    elif r.urgency == "medium" and r.inventory_position > r.reorder_point:
        parts.append(f"expect to reorder within {cfg.soon_days} days")
    if isinstance(r.festival, str) and r.festival:
        d = int(r.festival_days)
        parts.append(f"{r.festival} in {d} day{'s' if d != 1 else ''} lifts demand "
                     f"{r.festival_mult:.1f}x")
    if r.overstock_units > 0:
        what = {"redistribute": f"move {r.transfer_to}",
                "promote": "run a promotion",
                "reduce": "hold further orders"}.get(r.action, "hold further orders")
        parts.append(f"stock lasts {_days(r.days_of_cover)}, more than {cfg.overstock_days:.0f} "
                     f"days ({_n(r.overstock_units)} units surplus): {what}")
    if r.expiry_units > 0:
        parts.append(f"shelf life is {_n(r.shelf_life_days)} days, so about "
                     f"{_n(r.expiry_units)} units risk expiring unsold")
    if r.promo == "discount":
        parts.append(f"sales fell to {r.trend:.0%} of the previous 4 weeks: {r.promo_impact}")
    elif r.promo == "bundle":
        parts.append(f"suggest a {r.promo_impact}")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
