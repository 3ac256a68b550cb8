"""Answers about demand: the forecast of a period (or the sales of a past one), a
comparison, why the forecast is what it is, and how accurate it has been: the Forecast and
Accuracy pages' queries (engine/warehouse/forecasts.py, backtests.py)."""
from __future__ import annotations

from datetime import date

import pandas as pd

from engine.assistant.context import (NO_RUN, Answer, Context, as_list, describe, latest_run,
                                      named_places, page_link, period_of, place_label,
                                      scope_filters, selection_of, sku_name, span_text)
from engine.textfmt import dd_mmm, inr_compact, pct, units

DRIVER_WORDS = {"trend_seasonality": "trend and season", "festival": "festivals",
                "weather": "weather", "price": "price and promotions",
                "recent_demand": "recent demand"}


def forecast(ctx: Context) -> Answer:
    from engine.warehouse.forecasts import forecast_series

    if len(named_places(ctx)) > 1 or len(as_list(ctx.entities.get("sku_id"))) > 1 \
            or len(as_list(ctx.entities.get("category"))) > 1:
        return compare(ctx)
    sel = selection_of(ctx)
    e = ctx.entities
    if e.get("date_to") and date.fromisoformat(e["date_to"]) < ctx.vocab.today:
        return sold(ctx, sel)       # "how much did Delhi sell last week": the sales
    run = latest_run(ctx)
    if run is None:
        return NO_RUN
    series = forecast_series(ctx.wh, run["run_id"], sel, scope_filters(ctx))
    label = describe(ctx, sel)
    link = page_link("Forecast", "Open this forecast", sku_id=sel.sku_id, pin_code=sel.pin_code)
    if series.empty:
        return Answer(f"The latest forecast has no series for {label}.", link=link)
    days = pd.to_datetime(series["date"]).dt.date
    first, last = days.min(), days.max()
    lo, hi, why = period_of(ctx, first, last)
    inside = series[(days >= lo) & (days <= hi)]
    if inside.empty:
        return Answer(f"The latest forecast covers {span_text(first, last)}; "
                      f"{span_text(lo, hi)}{why} "
                      "is outside it, so I have no number for it. Run a forecast with a "
                      "longer horizon on the Forecast page.", link=link)
    shown_lo, shown_hi = pd.Timestamp(inside["date"].min()).date(), \
        pd.Timestamp(inside["date"].max()).date()
    total = float(inside["forecast"].sum())
    text = (f"{label}: about {units(total)} forecast for {span_text(shown_lo, shown_hi)}{why}")
    if sel.is_series:
        text += (f" (80% range {units(inside['lo80'].sum())} to "
                 f"{units(inside['hi80'].sum())})")
    text += "."
    if (shown_lo, shown_hi) != (lo, hi):
        text += f" The forecast covers only {span_text(first, last)} of {span_text(lo, hi)}."
    reason = (f"Forecast run {run['run_id']} of {dd_mmm(run['created_at'])}, "
              f"{int(len(inside))} day(s), {int(inside['n_series'].max())} series.")
    table = inside[["date", "forecast", "lo80", "hi80"]].copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return Answer(text, table.round(1), {"kind": "line", "x": "date", "y": ["forecast"]},
                  link, reason=reason)


def sold(ctx: Context, sel) -> Answer:
    """Units and revenue actually sold in a past period (the Forecast page's history)."""
    from engine.warehouse.sales_history import history_series

    lo, hi = (date.fromisoformat(ctx.entities["date_from"]),
              date.fromisoformat(ctx.entities["date_to"]))
    hist = history_series(ctx.wh, sel, scope_filters(ctx), lo, hi)
    label = describe(ctx, sel)
    link = page_link("Forecast", "Open the history", sku_id=sel.sku_id, pin_code=sel.pin_code)
    if hist.empty or float(hist["quantity"].sum()) <= 0:
        return Answer(f"{label}: no sales recorded for {span_text(lo, hi)}.", link=link)
    table = hist[["date", "quantity", "revenue"]].copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return Answer(f"{label}: {units(hist['quantity'].sum())} sold for "
                  f"{inr_compact(hist['revenue'].sum())} over {span_text(lo, hi)}.",
                  table.round(1), {"kind": "line", "x": "date", "y": ["quantity"]}, link,
                  reason="Sales recorded in the warehouse (sales_daily), summed.")


def compare(ctx: Context) -> Answer:
    from engine.warehouse.forecasts import forecast_series

    e = ctx.entities
    items, names = [], []       # selections, and what tells them apart
    places = named_places(ctx)
    if len(places) > 1:
        blank = {"pin_code": None, "city": None, "state": None}
        items = [selection_of(ctx, **{**blank, kind: value}) for kind, value in places]
        names = [place_label(ctx, kind, value) for kind, value in places]
    else:                       # several products (or categories) in one place
        for key in ("sku_id", "category"):
            values = as_list(e.get(key))
            if len(values) > 1:
                items = [selection_of(ctx, **{"sku_id": None, "category": None, key: v})
                         for v in values]
                names = [sku_name(ctx.vocab, v) if key == "sku_id" else v for v in values]
                break
    if len(items) < 2:
        options = sorted(ctx.vocab.city_pins)
        return Answer("Compare with what? Name two cities, PIN codes, products or categories "
                      "(e.g. 'Delhi vs Mumbai').",
                      clarify={"question": "Compare with which city?", "options": options})
    run = latest_run(ctx)
    if run is None:
        return NO_RUN
    rows, period = [], None
    for sel in items:
        s = forecast_series(ctx.wh, run["run_id"], sel, scope_filters(ctx))
        if s.empty:
            rows.append({"what": describe(ctx, sel), "forecast_units": 0.0})
            continue
        days = pd.to_datetime(s["date"]).dt.date
        if period is None:
            period = period_of(ctx, days.min(), days.max())
        inside = s[(days >= period[0]) & (days <= period[1])]
        rows.append({"what": describe(ctx, sel), "forecast_units": float(inside["forecast"].sum())})
    table = pd.DataFrame(rows)
    if period is None or table["forecast_units"].sum() <= 0:
        return Answer("The latest forecast has nothing for these in that period.",
                      table=table)
    a, b = table["forecast_units"].iloc[0], table["forecast_units"].iloc[1]
    parts = [f"{r.what}: {units(r.forecast_units)}" for r in table.itertuples()]
    text = f"Forecast for {span_text(period[0], period[1])}{period[2]}: " + "; ".join(parts) + "."
    if b > 0 and a != b:
        text += (f" {names[0]} is {pct(abs(a / b - 1), 0, signed=False)} "
                 f"{'higher' if a > b else 'lower'} than {names[1]}.")
    return Answer(text, table.round(1), {"kind": "bar", "x": "what", "y": ["forecast_units"]},
                  page_link("Forecast", "Open Forecast"),
                  reason=f"Forecast run {run['run_id']}: sums of the stored SKU x PIN forecasts.")


def explain(ctx: Context) -> Answer:
    from engine.warehouse.forecasts import DRIVER_GROUPS, driver_effects

    run = latest_run(ctx)
    if run is None:
        return NO_RUN
    sel = selection_of(ctx)
    label = describe(ctx, sel)
    link = page_link("Forecast", "See the drivers", sku_id=sel.sku_id, pin_code=sel.pin_code)
    eff = driver_effects(ctx.wh, run["run_id"], sel, scope_filters(ctx))
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
    fest = as_list(ctx.entities.get("festival"))
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
    from engine.warehouse.backtests import selection_backtest

    run = latest_run(ctx)
    if run is None:
        return NO_RUN
    sel = selection_of(ctx)
    label = describe(ctx, sel)
    bt = selection_backtest(ctx.wh, run["run_id"], sel, scope_filters(ctx))
    link = page_link("Accuracy", "Open Accuracy")
    if bt.empty or float(bt["actual"].sum()) <= 0:
        return Answer(f"The latest forecast run stored no backtest for {label}, so there is "
                      "no accuracy to report.", link=link)
    actual, fc = float(bt["actual"].sum()), float(bt["forecast"].sum())
    wape = 100 * float((bt["actual"] - bt["forecast"]).abs().sum()) / actual
    bias = 100 * (fc - actual) / actual
    first, last = (pd.Timestamp(bt["date"].min()).date(), pd.Timestamp(bt["date"].max()).date())
    text = (f"{label}: the forecast was off by {wape:.1f}% of actual sales (WAPE) on its "
            f"backtest of {span_text(first, last)}, "
            f"and {'over' if bias > 0 else 'under'}-forecast by {abs(bias):.1f}% in total.")
    table = bt[["date", "actual", "forecast"]].copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return Answer(text, table.round(1), {"kind": "line", "x": "date",
                                         "y": ["actual", "forecast"]}, link,
                  reason=f"Daily totals of the routed model's backtest in run {run['run_id']}; "
                         "WAPE = sum of absolute errors / sum of actual sales.")
