"""Answers from the engine: each intent calls the function the page behind it uses.

forecast / compare -> forecast_queries.forecast_series (Forecast page), explain ->
forecast_queries.driver_effects plus the festival calendar's multiplier, accuracy ->
forecast_queries.selection_backtest (Accuracy page), price -> pricing.service
.elasticity_table (Pricing page), reorder -> inventory.planner.load_inputs/make_plan and,
with a budget, inventory.optimize (Reorder page), sourcing -> sourcing.service.rank_for_pin
and commodity_prices (Sourcing page), alerts -> alerts_store.list_alerts (Alerts page).

Every figure in a sentence comes from those results (₹ lakh/crore, Indian grouping,
DD-MMM). A missing or ambiguous entity, or a place with no store, ends in a clarifying
question with choices, never a guess. A store user gets answers only within their PIN
codes: a place outside them is named as such and no number is read for it.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from engine import auth
from engine.assistant.vocab import Vocabulary
from engine.textfmt import dd_mmm, indian_grouping, inr, inr_compact, pct, units

INTENT_PAGE = {"forecast": "Forecast", "compare": "Forecast", "explain": "Forecast",
               "accuracy": "Accuracy", "price": "Pricing", "reorder": "Reorder",
               "sourcing": "Sourcing", "alerts": "Alerts", "help": None}
DEFAULT_QTL = 10.0
_URGENCY = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DRIVER_WORDS = {"trend_seasonality": "trend and season", "festival": "festivals",
                "weather": "weather", "price": "price and promotions",
                "recent_demand": "recent demand"}


@dataclass
class Answer:
    answer: str
    table: pd.DataFrame | None = None
    chart: dict | None = None            # {"kind": "line"|"bar", "x": col, "y": [cols]}
    link: dict | None = None             # {"page", "label", "params"}
    clarify: dict | None = None          # {"question", "options"}
    reason: str | None = None


@dataclass
class Context:
    wh: object
    vocab: Vocabulary
    user: auth.User | None               # None: the local operator (CLI), sees everything
    entities: dict
    sku_options: list[str] = field(default_factory=list)
    brand: str | None = None


def _list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _sku_name(vocab: Vocabulary, sku: str) -> str:
    hit = vocab.skus.loc[vocab.skus["sku_id"] == sku, "name"]
    return str(hit.iloc[0]) if len(hit) else sku


def _link(page: str, label: str, **params) -> dict:
    """A page and the query parameters it reads (Forecast: sku_id, pin_code; Sourcing:
    commodity, pin, quantity; the other pages take none)."""
    return {"page": page, "label": label,
            "params": {k: str(v) for k, v in params.items() if v is not None}}


# ---- scope and selection -------------------------------------------------------------------
def _places(ctx: Context) -> list[tuple[str, str]]:
    e = ctx.entities
    return ([("pin_code", p) for p in _list(e.get("pin_code"))]
            + [("city", c) for c in _list(e.get("city"))]
            + [("state", s) for s in _list(e.get("state"))])


def _place_label(ctx: Context, kind: str, value: str) -> str:
    if kind == "pin_code":
        loc = ctx.vocab.pin_place.get(value, {}).get("locality")
        return f"PIN {value}" + (f" ({loc})" if loc else "")
    return value


def _place_problem(ctx: Context) -> Answer | None:
    """A named place outside the user's PIN codes, or with no store: say so, no numbers."""
    for kind, value in _places(ctx):
        pins = ctx.vocab.place_pins(kind, value)
        label = _place_label(ctx, kind, value)
        if ctx.user is not None and ctx.user.is_scoped:
            allowed = set(ctx.user.pin_codes)
            if not pins or not set(pins) & allowed:
                return Answer(f"{label} is outside your PIN codes: your account can see "
                              f"{', '.join(ctx.user.pin_codes)} only, so I cannot answer "
                              "for it. Ask about your own stores instead.",
                              clarify={"question": "Which of your PIN codes?",
                                       "options": list(ctx.user.pin_codes)})
        elif not pins:
            options = sorted(ctx.vocab.city_pins)
            return Answer(f"There is no store in {label} in the warehouse, so there are no "
                          "sales or forecasts for it.",
                          clarify={"question": "Which city do you mean?", "options": options})
    return None


def _product_problem(ctx: Context) -> Answer | None:
    """Several SKUs fit the words: ask which one."""
    if not ctx.sku_options or ctx.entities.get("sku_id"):
        return None
    names = [_sku_name(ctx.vocab, s) for s in ctx.sku_options]
    stems = {n.rsplit(" ", 2)[0] for n in names}
    if len(stems) == 1:      # same product, different pack sizes
        sizes = [n[len(next(iter(stems))):].strip() for n in names]
        question = f"Which {next(iter(stems))}: {' or '.join(sizes)}?"
    else:
        lead = f"Which {ctx.brand} product" if ctx.brand else "Which product"
        question = f"{lead} do you mean?"
    return Answer(question, clarify={"question": question, "options": names[:8]})


def _selection(ctx: Context, **override):
    from engine.warehouse.forecast_queries import Selection

    e = {**ctx.entities, **override}
    one = {k: (_list(e.get(k)) or [None])[0] for k in ("sku_id", "category", "pin_code",
                                                          "city", "state")}
    return Selection(**one)


def _filters(ctx: Context):
    from engine.warehouse.queries import Filters

    scoped = ctx.user is not None and ctx.user.is_scoped
    return Filters(pin_scope=tuple(ctx.user.pin_codes) if scoped else None)


def _label(ctx: Context, sel) -> str:
    product = (_sku_name(ctx.vocab, sel.sku_id) if sel.sku_id else sel.category
               or "All products")
    if sel.pin_code:
        place = _place_label(ctx, "pin_code", sel.pin_code)
    else:
        place = sel.city or sel.state or (
            "your PIN codes" if ctx.user is not None and ctx.user.is_scoped else "all stores")
    return f"{product} in {place}"


def _period(ctx: Context, first: date, last: date) -> tuple[date, date, str]:
    """The period the question asks about; default: the first 7 days forecast."""
    e = ctx.entities
    if e.get("date_from"):
        lo, hi = date.fromisoformat(e["date_from"]), date.fromisoformat(e["date_to"])
        return lo, hi, ""
    if e.get("festival"):
        window = ctx.vocab.festival_window(_list(e["festival"])[0],
                                           e.get("festival_when", "around"))
        if window:
            return window[0], window[1], f" ({_list(e['festival'])[0]})"
    if e.get("horizon_days"):
        return first, first + timedelta(days=int(e["horizon_days"]) - 1), ""
    return first, min(last, first + timedelta(days=6)), " (next 7 days)"


def _span(lo: date, hi: date) -> str:
    return dd_mmm(lo) if lo == hi else f"{dd_mmm(lo)} to {dd_mmm(hi)}"


def _run(ctx: Context):
    from engine.warehouse.forecast_queries import latest_forecast_run

    return latest_forecast_run(ctx.wh)


_NO_RUN = Answer("There is no forecast run yet: run one on the Forecast page (Run forecast) "
                 "or with `python -m engine forecast`.",
                 link=_link("Forecast", "Open Forecast"))


# ---- intents -------------------------------------------------------------------------------
def forecast(ctx: Context) -> Answer:
    from engine.warehouse.forecast_queries import forecast_series

    if len(_places(ctx)) > 1 or len(_list(ctx.entities.get("sku_id"))) > 1 \
            or len(_list(ctx.entities.get("category"))) > 1:
        return compare(ctx)
    sel = _selection(ctx)
    e = ctx.entities
    if e.get("date_to") and date.fromisoformat(e["date_to"]) < ctx.vocab.today:
        return sold(ctx, sel)       # "how much did Delhi sell last week": the sales
    run = _run(ctx)
    if run is None:
        return _NO_RUN
    series = forecast_series(ctx.wh, run["run_id"], sel, _filters(ctx))
    label = _label(ctx, sel)
    link = _link("Forecast", "Open this forecast", sku_id=sel.sku_id, pin_code=sel.pin_code)
    if series.empty:
        return Answer(f"The latest forecast has no series for {label}.", link=link)
    days = pd.to_datetime(series["date"]).dt.date
    first, last = days.min(), days.max()
    lo, hi, why = _period(ctx, first, last)
    inside = series[(days >= lo) & (days <= hi)]
    if inside.empty:
        return Answer(f"The latest forecast covers {_span(first, last)}; {_span(lo, hi)}{why} "
                      "is outside it, so I have no number for it. Run a forecast with a "
                      "longer horizon on the Forecast page.", link=link)
    shown_lo, shown_hi = pd.Timestamp(inside["date"].min()).date(), \
        pd.Timestamp(inside["date"].max()).date()
    total = float(inside["forecast"].sum())
    text = (f"{label}: about {units(total)} forecast for {_span(shown_lo, shown_hi)}{why}")
    if sel.is_series:
        text += (f" (80% range {units(inside['lo80'].sum())} to "
                 f"{units(inside['hi80'].sum())})")
    text += "."
    if (shown_lo, shown_hi) != (lo, hi):
        text += f" The forecast covers only {_span(first, last)} of {_span(lo, hi)}."
    reason = (f"Forecast run {run['run_id']} of {dd_mmm(run['created_at'])}, "
              f"{int(len(inside))} day(s), {int(inside['n_series'].max())} series.")
    table = inside[["date", "forecast", "lo80", "hi80"]].copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return Answer(text, table.round(1), {"kind": "line", "x": "date", "y": ["forecast"]},
                  link, reason=reason)


def sold(ctx: Context, sel) -> Answer:
    """Units and revenue actually sold in a past period (the Forecast page's history)."""
    from engine.warehouse.forecast_queries import history_series

    lo, hi = (date.fromisoformat(ctx.entities["date_from"]),
              date.fromisoformat(ctx.entities["date_to"]))
    hist = history_series(ctx.wh, sel, _filters(ctx), lo, hi)
    label = _label(ctx, sel)
    link = _link("Forecast", "Open the history", sku_id=sel.sku_id, pin_code=sel.pin_code)
    if hist.empty or float(hist["quantity"].sum()) <= 0:
        return Answer(f"{label}: no sales recorded for {_span(lo, hi)}.", link=link)
    table = hist[["date", "quantity", "revenue"]].copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return Answer(f"{label}: {units(hist['quantity'].sum())} sold for "
                  f"{inr_compact(hist['revenue'].sum())} over {_span(lo, hi)}.",
                  table.round(1), {"kind": "line", "x": "date", "y": ["quantity"]}, link,
                  reason="Sales recorded in the warehouse (sales_daily), summed.")


def compare(ctx: Context) -> Answer:
    from engine.warehouse.forecast_queries import forecast_series

    e = ctx.entities
    items, names = [], []       # selections, and what tells them apart
    places = _places(ctx)
    if len(places) > 1:
        blank = {"pin_code": None, "city": None, "state": None}
        items = [_selection(ctx, **{**blank, kind: value}) for kind, value in places]
        names = [_place_label(ctx, kind, value) for kind, value in places]
    else:                       # several products (or categories) in one place
        for key in ("sku_id", "category"):
            values = _list(e.get(key))
            if len(values) > 1:
                items = [_selection(ctx, **{"sku_id": None, "category": None, key: v})
                         for v in values]
                names = [_sku_name(ctx.vocab, v) if key == "sku_id" else v for v in values]
                break
    if len(items) < 2:
        options = sorted(ctx.vocab.city_pins)
        return Answer("Compare with what? Name two cities, PIN codes, products or categories "
                      "(e.g. 'Delhi vs Mumbai').",
                      clarify={"question": "Compare with which city?", "options": options})
    run = _run(ctx)
    if run is None:
        return _NO_RUN
    rows, period = [], None
    for sel in items:
        s = forecast_series(ctx.wh, run["run_id"], sel, _filters(ctx))
        if s.empty:
            rows.append({"what": _label(ctx, sel), "forecast_units": 0.0})
            continue
        days = pd.to_datetime(s["date"]).dt.date
        if period is None:
            period = _period(ctx, days.min(), days.max())
        inside = s[(days >= period[0]) & (days <= period[1])]
        rows.append({"what": _label(ctx, sel), "forecast_units": float(inside["forecast"].sum())})
    table = pd.DataFrame(rows)
    if period is None or table["forecast_units"].sum() <= 0:
        return Answer("The latest forecast has nothing for these in that period.",
                      table=table)
    a, b = table["forecast_units"].iloc[0], table["forecast_units"].iloc[1]
    parts = [f"{r.what}: {units(r.forecast_units)}" for r in table.itertuples()]
    text = f"Forecast for {_span(period[0], period[1])}{period[2]}: " + "; ".join(parts) + "."
    if b > 0 and a != b:
        text += (f" {names[0]} is {pct(abs(a / b - 1), 0, signed=False)} "
                 f"{'higher' if a > b else 'lower'} than {names[1]}.")
    return Answer(text, table.round(1), {"kind": "bar", "x": "what", "y": ["forecast_units"]},
                  _link("Forecast", "Open Forecast"),
                  reason=f"Forecast run {run['run_id']}: sums of the stored SKU x PIN forecasts.")


def explain(ctx: Context) -> Answer:
    from engine.warehouse.forecast_queries import DRIVER_GROUPS, driver_effects

    run = _run(ctx)
    if run is None:
        return _NO_RUN
    sel = _selection(ctx)
    label = _label(ctx, sel)
    link = _link("Forecast", "See the drivers", sku_id=sel.sku_id, pin_code=sel.pin_code)
    eff = driver_effects(ctx.wh, run["run_id"], sel, _filters(ctx))
    festival_note = _festival_note(ctx, sel)
    if eff.empty:
        return Answer(f"The latest forecast run has no driver breakdown for {label} (drivers "
                      "come from the LightGBM model)." + festival_note, link=link)
    row = eff.iloc[0]
    table = pd.DataFrame({"driver": [DRIVER_WORDS[g] for g in DRIVER_GROUPS],
                          "units": [float(row[g]) for g in DRIVER_GROUPS]})
    table = table.reindex(table["units"].abs().sort_values(ascending=False).index)
    top = table.head(3)
    parts = [f"{r.driver} {'+' if r.units >= 0 else '−'}{units(abs(r.units))}"
             for r in top.itertuples()]
    text = (f"{label}: of the {units(row['forecast'])} forecast over the run's horizon, the "
            f"biggest drivers are {', '.join(parts)}." + festival_note)
    return Answer(text, table.round(1), {"kind": "bar", "x": "driver", "y": ["units"]}, link,
                  reason="Units each driver group adds (+) or removes (−), from the model's "
                         f"drivers in forecast run {run['run_id']}.")


def _festival_note(ctx: Context, sel) -> str:
    fest = _list(ctx.entities.get("festival"))
    if not fest:
        return ""
    name = fest[0]
    category = sel.category or (ctx.vocab.skus.loc[ctx.vocab.skus["sku_id"] == sel.sku_id,
                                                   "category"].iloc[0] if sel.sku_id else None)
    eff = ctx.vocab.festival_effects
    hit = eff[(eff["name"] == name) & (eff["category"] == category)] if category else eff.iloc[0:0]
    cal = ctx.vocab.festivals[ctx.vocab.festivals["name"] == name]
    ahead = cal[cal["date"] >= pd.Timestamp(ctx.vocab.today)]
    when = (f" on {dd_mmm((ahead if len(ahead) else cal).iloc[0]['date'], with_year=True)}"
            if len(cal) else "")
    if len(hit):
        m = float(hit["multiplier"].iloc[0])
        return (f" The festival calendar expects {category} demand around {name}{when} at "
                f"{m:g}x a normal day ({pct(m - 1, 0)}).")
    return (f" {name}{when} has no demand multiplier for {category or 'this selection'} in "
            "the festival calendar.")


def accuracy(ctx: Context) -> Answer:
    from engine.warehouse.forecast_queries import selection_backtest

    run = _run(ctx)
    if run is None:
        return _NO_RUN
    sel = _selection(ctx)
    label = _label(ctx, sel)
    bt = selection_backtest(ctx.wh, run["run_id"], sel, _filters(ctx))
    link = _link("Accuracy", "Open Accuracy")
    if bt.empty or float(bt["actual"].sum()) <= 0:
        return Answer(f"The latest forecast run stored no backtest for {label}, so there is "
                      "no accuracy to report.", link=link)
    actual, fc = float(bt["actual"].sum()), float(bt["forecast"].sum())
    wape = 100 * float((bt["actual"] - bt["forecast"]).abs().sum()) / actual
    bias = 100 * (fc - actual) / actual
    first, last = (pd.Timestamp(bt["date"].min()).date(), pd.Timestamp(bt["date"].max()).date())
    text = (f"{label}: the forecast was off by {wape:.1f}% of actual sales (WAPE) on its "
            f"backtest of {_span(first, last)}, "
            f"and {'over' if bias > 0 else 'under'}-forecast by {abs(bias):.1f}% in total.")
    table = bt[["date", "actual", "forecast"]].copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return Answer(text, table.round(1), {"kind": "line", "x": "date",
                                         "y": ["actual", "forecast"]}, link,
                  reason=f"Daily totals of the routed model's backtest in run {run['run_id']}; "
                         "WAPE = sum of absolute errors / sum of actual sales.")


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
        return Answer(f"No price elasticities yet: {exc}", link=_link("Pricing", "Open Pricing"))
    e = ctx.entities
    change = e.get("price_change_pct")
    change = float(_list(change)[0]) if change is not None else -10.0
    said = e.get("price_change_pct") is not None
    if not -90 <= change <= 200:
        return Answer(f"A price change of {change:g}% is outside what the elasticities can "
                      "tell (they are estimated on everyday price moves): ask about a change "
                      "between -90% and +200%.", link=_link("Pricing", "Open Pricing"))
    skus = _list(e.get("sku_id"))
    cats = _list(e.get("category"))
    cols = ["sku_id", "name", "category", "elasticity", "lo", "hi", "method"]
    if skus:
        rows = table[table["sku_id"].isin(skus)]
    elif cats:
        rows = table[table["category"].isin(cats)].sort_values("elasticity")
    else:
        rows = table.sort_values("elasticity").head(5)
    if rows.empty:
        return Answer("No elasticity is estimated for that product yet.",
                      link=_link("Pricing", "Open Pricing"))
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
                  _link("Pricing", "Simulate on Pricing"),
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
                      link=_link("Reorder", "Open Reorder"))
    e = ctx.entities
    pins = [p for k, v in _places(ctx) for p in ctx.vocab.place_pins(k, v)]
    shown = plan
    if pins:
        shown = shown[shown["pin_code"].isin(pins)]
    if _list(e.get("sku_id")):
        shown = shown[shown["sku_id"].isin(_list(e["sku_id"]))]
    if _list(e.get("category")):
        shown = shown[shown["category"].isin(_list(e["category"]))]
    where = ", ".join(_place_label(ctx, k, v) for k, v in _places(ctx)) or (
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
    link = _link("Reorder", "Open the reorder plan")
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
    commodity = (_list(e.get("commodity")) or [None])[0]
    if commodity is None and _list(e.get("sku_id")):
        commodity = _sku_commodity(vocab, _list(e["sku_id"])[0])
    market = (_list(e.get("market")) or [None])[0]
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
        return Answer(f"{exc}", link=_link("Sourcing", "Open Sourcing"))
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
                  _link("Sourcing", "Open the mandi ranking", commodity=commodity, pin=pin,
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

    link = _link("Sourcing", "Rank mandis on Sourcing", commodity=commodity)
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
    from engine.warehouse.sourcing_store import mandi_prices

    since = ctx.vocab.today - timedelta(days=60)
    prices = mandi_prices(ctx.wh, None, since=since)
    board = _latest(prices[prices["market"] == market], "commodity")
    link = _link("Sourcing", "Open Sourcing")
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
    for kind, value in _places(ctx):
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
    from engine.warehouse.alerts_store import list_alerts

    scoped = ctx.user is not None and ctx.user.is_scoped
    table = list_alerts(ctx.wh, status=["new", "acknowledged"],
                        pin_scope=tuple(ctx.user.pin_codes) if scoped else None)
    pins = {p for k, v in _places(ctx) for p in ctx.vocab.place_pins(k, v)}
    skus = set(_list(ctx.entities.get("sku_id")))
    if pins or skus:
        details = [json.loads(d) if isinstance(d, str) and d else {} for d in table["details"]]
        keep = [(not pins or d.get("pin_code") in pins) and (not skus or d.get("sku_id") in skus)
                for d in details]
        table = table[keep]
    where = ", ".join(_place_label(ctx, k, v) for k, v in _places(ctx)) or (
        "your PIN codes" if scoped else "all stores")
    link = _link("Alerts", "Open Alerts")
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


def help_answer(ctx: Context) -> Answer:
    return Answer("Ask about demand and what to do about it, in English or Hinglish: a "
                  "forecast ('How much Amul butter will Delhi sell next week?'), why it is "
                  "high or low, how accurate it is, prices and discounts ('What if I cut "
                  "Limca price by 10%?'), what to reorder, which mandi is cheapest for a "
                  "commodity, open alerts, or a comparison of two cities or products. "
                  "Follow-ups like 'and in Mumbai?' or 'why?' keep the last question's "
                  "details.")


HANDLERS = {"forecast": forecast, "compare": compare, "explain": explain,
            "accuracy": accuracy, "price": price, "reorder": reorder, "sourcing": sourcing,
            "alerts": alerts, "help": help_answer}


def respond(intent: str, ctx: Context) -> Answer:
    """The answer to an understood question, within the user's role and PIN codes."""
    page = INTENT_PAGE.get(intent)
    if page and ctx.user is not None and not auth.can_open_page(ctx.user, page):
        return Answer(f"{page} answers are not available to your role "
                      f"({ctx.user.role_label}); ask about forecasts, reorders or alerts "
                      "for your stores.")
    if intent != "help":
        problem = (None if intent == "sourcing" and not (ctx.user and ctx.user.is_scoped)
                   else _place_problem(ctx)) or _product_problem(ctx)
        if problem is not None:
            return problem
    return HANDLERS[intent](ctx)
