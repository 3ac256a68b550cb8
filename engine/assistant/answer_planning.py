"""Answers about what to do: price changes (Pricing page's elasticities), reorders
(Reorder page's plan and budget optimiser), mandi sourcing (Sourcing page's ranking and
prices) and open alerts (Alerts page)."""
from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pandas as pd

from engine.assistant.context import Answer, Context, as_list, named_places, page_link, place_label
from engine.assistant.vocab import Vocabulary
from engine.textfmt import dd_mmm, indian_grouping, inr, inr_compact, pct, units

DEFAULT_QTL = 10.0
_URGENCY = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_ELASTICITY_LOCK = threading.Lock()
_ELASTICITY: dict[tuple, pd.DataFrame] = {}


def _elasticities(wh) -> pd.DataFrame:
    from engine.pricing.service import elasticity_table

    key = (str(wh.path), wh.data_version("sales", "festivals"))
    with _ELASTICITY_LOCK:
        if key not in _ELASTICITY:
            _ELASTICITY.clear()
            _ELASTICITY[key] = elasticity_table(wh)
        return _ELASTICITY[key]


def price(ctx: Context) -> Answer:
    from engine.pricing.elasticity import PricingError

    try:
        table = _elasticities(ctx.wh)
    except PricingError as exc:
        return Answer(f"No price elasticities yet: {exc}",
                      link=page_link("Pricing", "Open Pricing"))
    e = ctx.entities
    change = e.get("price_change_pct")
    change = float(as_list(change)[0]) if change is not None else -10.0
    said = e.get("price_change_pct") is not None
    if not -90 <= change <= 200:
        return Answer(f"A price change of {change:g}% is outside what the elasticities can "
                      "tell (they are estimated on everyday price moves): ask about a change "
                      "between -90% and +200%.", link=page_link("Pricing", "Open Pricing"))
    skus = as_list(e.get("sku_id"))
    cats = as_list(e.get("category"))
    cols = ["sku_id", "name", "category", "elasticity", "lo", "hi", "method"]
    if skus:
        rows = table[table["sku_id"].isin(skus)]
    elif cats:
        rows = table[table["category"].isin(cats)].sort_values("elasticity")
    else:
        rows = table.sort_values("elasticity").head(5)
    if rows.empty:
        return Answer("No elasticity is estimated for that product yet.",
                      link=page_link("Pricing", "Open Pricing"))
    factor = 1 + change / 100
    shown = rows[cols].copy()
    shown["units_change_pct"] = 100 * (factor ** shown["elasticity"] - 1)
    r = shown.iloc[0]
    move = f"{abs(change):g}% price {'cut' if change < 0 else 'rise'}"
    lo_b, hi_b = sorted([factor ** r["lo"] - 1, factor ** r["hi"] - 1])
    if skus or len(shown) == 1:
        text = (f"{r['name']}: price elasticity {r['elasticity']:.2f} (95% range "
                f"{r['lo']:.2f} to {r['hi']:.2f}). {'A' if said else 'For example, a'} "
                f"{move} would change units sold by about {pct(r['units_change_pct'] / 100, 1)} "
                f"({pct(lo_b, 1)} to {pct(hi_b, 1)}).")
    else:
        what = cats[0] if cats else "the catalog"
        text = (f"Most price-sensitive in {what}: {r['name']} (elasticity "
                f"{r['elasticity']:.2f}): a {move} would change its units by about "
                f"{pct(r['units_change_pct'] / 100, 1)}. {len(shown)} products listed.")
    return Answer(text, shown.round(3), {"kind": "bar", "x": "name", "y": ["elasticity"]},
                  page_link("Pricing", "Simulate on Pricing"),
                  reason=f"Own-price elasticity ({r['method']}) from the sales history; units "
                         "change = (1 + price change)^elasticity − 1.")


_PLAN_LOCK = threading.Lock()
_PLAN: dict[tuple, pd.DataFrame] = {}


def _plan(wh) -> pd.DataFrame:
    """The Reorder page's default plan (same inputs and policy), kept per data version."""
    from engine.inventory.planner import load_inputs, make_plan
    from engine.inventory.policy import PolicyConfig

    key = (str(wh.path), getattr(wh, "pin_scope", None),
           wh.data_version("sales", "inventory", "forecasts", "festivals"))
    with _PLAN_LOCK:
        if key not in _PLAN:
            _PLAN.clear()
            _PLAN[key] = make_plan(load_inputs(wh), PolicyConfig(today=date.today()))
        return _PLAN[key]


def reorder(ctx: Context) -> Answer:
    from engine.inventory.demand import InventoryInputError
    from engine.inventory.optimize import OptimizeConfig, optimize_orders
    from engine.inventory.planner import budget_plan

    try:
        plan = _plan(ctx.wh)
    except InventoryInputError as exc:
        return Answer(f"The reorder plan could not be built: {exc}",
                      link=page_link("Reorder", "Open Reorder"))
    e = ctx.entities
    pins = [p for k, v in named_places(ctx) for p in ctx.vocab.place_pins(k, v)]
    shown = plan
    if pins:
        shown = shown[shown["pin_code"].isin(pins)]
    if as_list(e.get("sku_id")):
        shown = shown[shown["sku_id"].isin(as_list(e["sku_id"]))]
    if as_list(e.get("category")):
        shown = shown[shown["category"].isin(as_list(e["category"]))]
    where = ", ".join(place_label(ctx, k, v) for k, v in named_places(ctx)) or (
        "your PIN codes" if ctx.user is not None and ctx.user.is_scoped else "all stores")
    budget = e.get("budget")
    note = ""
    if budget is not None and float(budget) <= 0:
        note, budget = " (a budget must be more than ₹0; showing the plan without one)", None
    if budget is not None and len(shown):
        sol = optimize_orders(shown, OptimizeConfig(budget=float(budget)))
        try:
            shown = budget_plan(sol)
            note = f" within a budget of {inr_compact(float(budget))}"
        except InventoryInputError as exc:
            note = f" (the budget plan could not be used: {exc}; showing the plan without it)"
    lines = shown[shown["order_qty"] > 0].copy()
    lines["_u"] = lines["urgency"].map(_URGENCY).fillna(9)
    lines = lines.sort_values(["_u", "order_value"], ascending=[True, False])
    link = page_link("Reorder", "Open the reorder plan")
    if lines.empty:
        return Answer(f"Nothing to reorder today for {where}{note}: stock and open orders "
                      "cover the expected demand.", link=link)
    crit = int((lines["urgency"] == "critical").sum())
    top = lines.iloc[0]
    text = (f"{where}: order {indian_grouping(len(lines))} line(s){note}, "
            f"{units(lines['order_qty'].sum())} worth {inr_compact(lines['order_value'].sum())}; "
            f"{indian_grouping(crit)} critical. Most urgent: {top['name']} at PIN "
            f"{top['pin_code']}: order {units(top['order_qty'])}.")
    cols = ["urgency", "name", "pin_code", "city", "order_qty", "order_value", "reason"]
    return Answer(text, lines[cols].head(20).reset_index(drop=True), None, link,
                  reason=str(top["reason"]))


def sourcing(ctx: Context) -> Answer:
    from engine.sourcing.prepare import SourcingError
    from engine.sourcing.service import rank_for_pin

    e, vocab = ctx.entities, ctx.vocab
    commodity = (as_list(e.get("commodity")) or [None])[0]
    if commodity is None and as_list(e.get("sku_id")):
        commodity = _sku_commodity(vocab, as_list(e["sku_id"])[0])
    market = (as_list(e.get("market")) or [None])[0]
    pin = _destination(ctx)
    if commodity is None and market is not None:
        return _market_board(ctx, market)
    if commodity is None:
        return Answer("Which commodity? I have mandi prices for " +
                      ", ".join(vocab.commodities) + ".",
                      clarify={"question": "Which commodity?", "options": vocab.commodities})
    if pin is None:
        return _commodity_prices(ctx, commodity, market)
    qty = float(e.get("quantity_qtl") or DEFAULT_QTL)
    try:
        ranked = rank_for_pin(ctx.wh, commodity, pin, qty)
    except SourcingError as exc:
        return Answer(f"{exc}", link=page_link("Sourcing", "Open Sourcing"))
    if ranked.empty:
        return Answer(f"No mandi with recent {commodity} prices could be ranked.")
    best = ranked.iloc[0]
    cheapest = ranked.sort_values("landed_price").iloc[0]
    dest = ranked.attrs.get("destination", {}).get("label", pin)
    text = (f"{commodity} to {dest}, {qty:g} quintals: best overall is {best['market']} "
            f"({best['state']}), landed {inr(best['landed_price'])}/quintal, "
            f"{indian_grouping(best['road_km'])} km.")
    if cheapest["market"] != best["market"]:
        text += (f" Cheapest landed is {cheapest['market']} at "
                 f"{inr(cheapest['landed_price'])}/quintal.")
    cols = ["rank", "market", "state", "score", "modal_price", "landed_price", "road_km",
            "reason"]
    return Answer(text, ranked[cols].head(5).reset_index(drop=True).round(1),
                  {"kind": "bar", "x": "market", "y": ["landed_price"]},
                  page_link("Sourcing", "Open the mandi ranking", commodity=commodity, pin=pin,
                        quantity=f"{qty:g}"),
                  reason=str(best["reason"]))


def _latest(prices: pd.DataFrame, by: str) -> pd.DataFrame:
    """The newest price row per `by` (market or commodity), cheapest first."""
    last = prices.sort_values("date").groupby(by, as_index=False).tail(1)
    out = last[[by, "date", "modal_price", "min_price", "max_price"]].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.date
    return out.sort_values("modal_price").reset_index(drop=True)


def _commodity_prices(ctx: Context, commodity: str, market: str | None) -> Answer:
    """No destination: one market's recent prices, or every market's latest, cheapest
    first (before transport)."""
    from engine.sourcing.prepare import SourcingError
    from engine.sourcing.service import commodity_prices

    link = page_link("Sourcing", "Rank mandis on Sourcing", commodity=commodity)
    try:
        prices = commodity_prices(ctx.wh, commodity)
    except SourcingError as exc:
        return Answer(str(exc), link=link)
    reason = "Agmarknet-style mandi prices stored in the warehouse (₹ per quintal)."
    if market is None:
        board = _latest(prices, "market")
        if board.empty:
            return Answer(f"No {commodity} prices in the warehouse.", link=link)
        low, high = board.iloc[0], board.iloc[-1]
        return Answer(f"{commodity}: cheapest modal price is {low['market']} at "
                      f"{inr(low['modal_price'])} per quintal ({dd_mmm(low['date'])}), the "
                      f"dearest {high['market']} at {inr(high['modal_price'])}, across "
                      f"{len(board)} mandis, before transport. Name a city or PIN code for "
                      "the landed cost.", board,
                      {"kind": "bar", "x": "market", "y": ["modal_price"]}, link,
                      reason=reason)
    rows = prices[prices["market"] == market].sort_values("date")
    if rows.empty:
        return Answer(f"{market} has no {commodity} prices in the warehouse.", link=link)
    last = rows.iloc[-1]
    week = rows[pd.to_datetime(rows["date"])
                <= pd.Timestamp(last["date"]) - pd.Timedelta(days=7)]
    change = ""
    if len(week):
        before = float(week.iloc[-1]["modal_price"])
        change = f", {pct(float(last['modal_price']) / before - 1, 1)} on a week before"
    table = rows.tail(30)[["date", "modal_price", "min_price", "max_price"]].copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return Answer(f"{commodity} at {market}: modal price {inr(last['modal_price'])} per "
                  f"quintal on {dd_mmm(last['date'])}{change}.", table,
                  {"kind": "line", "x": "date", "y": ["modal_price"]}, link, reason=reason)


def _market_board(ctx: Context, market: str) -> Answer:
    """Every commodity's latest price at one mandi, cheapest first."""
    from engine.warehouse.mandi import mandi_prices

    since = ctx.vocab.today - timedelta(days=60)
    prices = mandi_prices(ctx.wh, None, since=since)
    board = _latest(prices[prices["market"] == market], "commodity")
    link = page_link("Sourcing", "Open Sourcing")
    if board.empty:
        return Answer(f"{market} has no prices in the warehouse since {dd_mmm(since)}.",
                      link=link)
    parts = [f"{r.commodity} {inr(r.modal_price)}" for r in board.itertuples()]
    return Answer(f"Latest modal prices at {market} (per quintal): " + ", ".join(parts) + ".",
                  board, {"kind": "bar", "x": "commodity", "y": ["modal_price"]}, link,
                  reason="Agmarknet-style mandi prices stored in the warehouse.")


def _sku_commodity(vocab: Vocabulary, sku: str) -> str | None:
    from engine.scenarios.commodities import link_skus

    linked = link_skus(vocab.skus[vocab.skus["sku_id"] == sku], vocab.commodities)
    return None if linked.empty else str(linked["commodity"].iloc[0])


def _destination(ctx: Context) -> str | None:
    for kind, value in named_places(ctx):
        pins = ctx.vocab.place_pins(kind, value)
        if pins:
            return pins[0]
        if kind == "pin_code":
            return value
        if kind == "city" and value in ctx.vocab.public_city_pin:
            return ctx.vocab.public_city_pin[value]
    if ctx.user is not None and ctx.user.is_scoped and ctx.user.pin_codes:
        return ctx.user.pin_codes[0]
    return None


def alerts(ctx: Context) -> Answer:
    from engine.warehouse.alerts import list_alerts

    scoped = ctx.user is not None and ctx.user.is_scoped
    table = list_alerts(ctx.wh, status=["new", "acknowledged"],
                        pin_scope=tuple(ctx.user.pin_codes) if scoped else None)
    pins = {p for k, v in named_places(ctx) for p in ctx.vocab.place_pins(k, v)}
    skus = set(as_list(ctx.entities.get("sku_id")))
    if pins or skus:
        details = [json.loads(d) if isinstance(d, str) and d else {} for d in table["details"]]
        keep = [(not pins or d.get("pin_code") in pins) and (not skus or d.get("sku_id") in skus)
                for d in details]
        table = table[keep]
    where = ", ".join(place_label(ctx, k, v) for k, v in named_places(ctx)) or (
        "your PIN codes" if scoped else "all stores")
    link = page_link("Alerts", "Open Alerts")
    if table.empty:
        return Answer(f"No open alerts for {where}.", link=link)
    counts = table["severity"].value_counts()
    parts = [f"{indian_grouping(counts[s])} {s}" for s in ("critical", "high", "medium", "low")
             if s in counts]
    top = table.iloc[0]
    text = (f"{indian_grouping(len(table))} open alert(s) for {where} ({', '.join(parts)}). "
            f"Newest: {top['reason']}")
    out = table[["severity", "rule", "day", "reason"]].head(20).copy()
    out["day"] = pd.to_datetime(out["day"]).dt.date
    return Answer(text, out.reset_index(drop=True), None, link)
