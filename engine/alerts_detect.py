"""Alert detectors: pure functions from DataFrames to candidate alerts.

Each takes the frames it needs, the rule's `RuleConfig` and the evaluation day `as_of`,
and returns the candidate frame of `engine.alerts_rules` (one row per rule x entity x day).
They raise `RuleSkipped` when an input they need is absent. Detectors of sales take the
data's grain ('D' daily, 'W' weekly; `engine.warehouse.grain`): windows are whole weeks
for weekly data, forecasts meet the sales row of the same week, and reasons say "week".
Demand anomalies live in `engine.alerts_anomaly`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.alerts_rules import (RuleConfig, RuleSkipped, candidates, ddmmm,
                                 ddmmmyyyy, details_json, num, on_period, raise_severity,
                                 rupees, series_entity, shown_rupees, shown_units, sku_label,
                                 stake, units)
from engine.plaintext import age_text
from engine.textfmt import inr_compact
from engine.warehouse.grain import (DAILY, WEEKLY, normalise_grain, period_days, period_noun,
                                    periods_for, periods_text)

KEY = ["sku_id", "pin_code"]


def _names(frame: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    if names is None or "name" in frame:
        return frame if "name" in frame else frame.assign(name=None)
    return frame.merge(names[["sku_id", "name"]], on="sku_id", how="left")


def _forecast_link(sku_id, pin_code) -> dict:
    return {"sku_id": sku_id, "pin_code": pin_code}


def series_prices(sales: pd.DataFrame, names: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per SKU x PIN the price a unit sold at: the quantity-weighted average selling price
    of `sales` (sku_id, pin_code, quantity, price), else the SKU's MRP from `names`.
    Columns: sku_id, pin_code, unit_price, price_source ('average price' | 'MRP')."""
    out = pd.DataFrame(columns=KEY + ["unit_price", "price_source"])
    if len(sales) and "price" in sales:
        s = sales[sales["price"].notna() & (sales["quantity"] > 0)]
        s = s.assign(_rev=s["price"].astype(float) * s["quantity"].astype(float))
        g = s.groupby(KEY, as_index=False).agg(rev=("_rev", "sum"), qty=("quantity", "sum"))
        out = g.assign(unit_price=g["rev"] / g["qty"], price_source="average price")[
            KEY + ["unit_price", "price_source"]]
    if names is not None and "mrp" in names and len(sales):
        keys = sales[KEY].drop_duplicates()
        mrp = keys.merge(names[["sku_id", "mrp"]].drop_duplicates("sku_id"), on="sku_id")
        mrp = mrp[mrp["mrp"].notna() & (mrp["mrp"] > 0)].rename(columns={"mrp": "unit_price"})
        mrp = mrp.assign(price_source="MRP")
        have = pd.MultiIndex.from_frame(out[KEY]) if len(out) else pd.MultiIndex.from_arrays(
            [[], []], names=KEY)
        mrp = mrp[~pd.MultiIndex.from_frame(mrp[KEY]).isin(have)]
        out = pd.concat([out, mrp[KEY + ["unit_price", "price_source"]]], ignore_index=True)
    return out


def _with_prices(frame: pd.DataFrame, prices: pd.DataFrame | None) -> pd.DataFrame:
    if prices is None or prices.empty:
        return frame.assign(unit_price=np.nan, price_source=None)
    return frame.merge(prices, on=KEY, how="left")


def _value_how(units_: float, what: str, price, source) -> tuple[float, str]:
    """(units x price, 'what: 12 units x ₹45.00 average price = ₹540') or NaN and a
    sentence saying there is no price."""
    if price is None or not np.isfinite(price):
        return np.nan, f"{what}: {units(units_)}; no price to value them at."
    value = shown_units(units_) * shown_rupees(price)
    return value, (f"{what}: {units(units_)} x {rupees(price)} ({source}) = "
                   f"{inr_compact(value)}.")


# ---- prices -------------------------------------------------------------------------------------
def _in_last(n: int, cfg: RuleConfig, grain: str) -> tuple[str, str]:
    """('2 days', '7 days') or ('1 week', '1 week'): periods found, periods checked."""
    checked = periods_for(cfg.params["lookback_days"], grain)
    return periods_text(n, grain), periods_text(checked, grain)


def price_above_mrp(checks: pd.DataFrame, cfg: RuleConfig, as_of,
                    grain: str = DAILY) -> pd.DataFrame:
    """Sales above MRP (x (1 + tolerance)) in the checked window, one alert per SKU x PIN."""
    tol = cfg.params["tolerance_pct"] / 100.0
    bad = checks[checks["mrp"].notna() & (checks["price"] > checks["mrp"] * (1 + tol) + 0.005)]
    rows = []
    for (sku, pin), g in bad.groupby(KEY, sort=True):
        worst = g.loc[g["price"].idxmax()]
        last = g["date"].max()
        count, window = _in_last(len(g), cfg, grain)
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(sku, pin), day=last,
            reason=(f"{sku_label(worst['name'], sku)} was sold at {rupees(worst['price'])} at "
                    f"{pin} {on_period(worst['date'], grain)}, above its MRP of "
                    f"{rupees(worst['mrp'])} ({count} above MRP in the last {window}); "
                    "selling above MRP is not allowed."),
            details=details_json("Forecast", _forecast_link(sku, pin), pin, sku,
                                 max_price=float(worst["price"]), mrp=float(worst["mrp"]),
                                 periods=len(g), grain=grain, **_overcharge(g))))
    return candidates(rows)


def _overcharge(g: pd.DataFrame) -> dict:
    qty = float(g["quantity"].sum()) if "quantity" in g else 0.0
    if qty <= 0:
        return stake(None, "Overcharge: the units sold above MRP are not recorded.")
    each = shown_rupees(float(((g["price"] - g["mrp"]) * g["quantity"]).sum()) / qty)
    total = shown_units(qty) * each
    return stake(total, f"Overcharged to customers: {units(qty)} sold above MRP x "
                        f"{rupees(each)} over MRP on average = {inr_compact(total)}.")


def price_below_cost(checks: pd.DataFrame, cfg: RuleConfig, as_of,
                     grain: str = DAILY) -> pd.DataFrame:
    """Sales below unit cost (x (1 - tolerance)) in the window, one alert per SKU x PIN."""
    tol = cfg.params["tolerance_pct"] / 100.0
    bad = checks[checks["unit_cost"].notna()
                 & (checks["price"] < checks["unit_cost"] * (1 - tol) - 0.005)]
    rows = []
    for (sku, pin), g in bad.groupby(KEY, sort=True):
        worst = g.loc[g["price"].idxmin()]
        loss = float(((g["unit_cost"] - g["price"]) * g["quantity"]).sum())
        count, window = _in_last(len(g), cfg, grain)
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(sku, pin),
            day=g["date"].max(),
            reason=(f"{sku_label(worst['name'], sku)} was sold at {rupees(worst['price'])} at "
                    f"{pin} {on_period(worst['date'], grain)}, below its unit cost of "
                    f"{rupees(worst['unit_cost'])} ({count} in the last {window}, "
                    f"{rupees(loss)} lost on {num(g['quantity'].sum())} units)."),
            details=details_json("Forecast", _forecast_link(sku, pin), pin, sku,
                                 min_price=float(worst["price"]),
                                 unit_cost=float(worst["unit_cost"]), loss=loss,
                                 periods=len(g), grain=grain, **_loss(g, loss))))
    return candidates(rows)


def _loss(g: pd.DataFrame, loss: float) -> dict:
    qty = float(g["quantity"].sum())
    each = shown_rupees(loss / qty) if qty > 0 else 0.0
    total = shown_units(qty) * each
    return stake(total, f"Loss on sales below cost: {units(qty)} x {rupees(each)} under unit "
                        f"cost on average = {inr_compact(total)}.")


# ---- competitor prices --------------------------------------------------------------------------
def competitor_undercut(checks: pd.DataFrame, cfg: RuleConfig, as_of) -> pd.DataFrame:
    """checks: engine.warehouse.competitors.undercut_checks. One alert per SKU x PIN
    where the cheapest competitor is more than threshold_pct below our price and our sales
    there are worth at least min_sales_value; at stake: our units x the price gap."""
    p = cfg.params
    c = checks[checks["competitor_price"].notna() & (checks["our_price"] > 0)]
    c = c.assign(gap=c["our_price"] - c["competitor_price"],
                 value=c["our_price"] * c["units"])
    bad = c[(c["competitor_price"] < c["our_price"] * (1 - p["threshold_pct"] / 100) - 0.005)
            & (c["value"] >= p["min_sales_value"])]
    rows = []
    for r in bad.sort_values(["sku_id", "pin_code"]).itertuples(index=False):
        pct = r.gap / r.our_price
        each = shown_rupees(r.gap)
        total = shown_units(r.units) * each
        where = f"at {r.pin_code}" + (f" ({r.city})" if isinstance(r.city, str) else "")
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(r.sku_id, r.pin_code),
            day=r.observed,
            reason=(f"{r.competitor} sells {sku_label(r.name, r.sku_id)} at "
                    f"{rupees(r.competitor_price)} {where} (seen {ddmmm(r.observed)}), "
                    f"{pct:.0%} below our {rupees(r.our_price)}; we sold "
                    f"{units(r.units)} there in the last {p['lookback_days']:g} days "
                    f"({inr_compact(r.value)})."),
            details=details_json("Pricing", {"sku_id": r.sku_id}, r.pin_code, r.sku_id,
                                 competitor=r.competitor,
                                 competitor_price=float(r.competitor_price),
                                 our_price=float(r.our_price), gap_pct=float(pct),
                                 units=float(r.units),
                                 **stake(total, f"Price gap on our recent sales: "
                                                f"{units(r.units)} x {rupees(each)} below "
                                                f"our price = {inr_compact(total)}."))))
    return candidates(rows)


# ---- mandi prices -------------------------------------------------------------------------------
def mandi_spike(prices: pd.DataFrame, cfg: RuleConfig, as_of) -> pd.DataFrame:
    """Modal price on a checked day vs the mean of the market's prices in the 7 days before.
    The alert stores the mandi's state, not a PIN: the link to the Sourcing page names a
    PIN of that state only when it is read (`alert_link`), from the reader's own PINs."""
    if prices.empty:
        raise RuleSkipped("no mandi prices in the checked period")
    as_of = pd.Timestamp(as_of).normalize()
    first_day = as_of - pd.Timedelta(days=int(cfg.params["lookback_days"]) - 1)
    qtl = float(cfg.params.get("purchase_qtl", 50))
    rows = []
    for (market, commodity), g in prices.groupby(["market", "commodity"], sort=True):
        s = g.set_index("date")["modal_price"].sort_index()
        base = s.rolling("7D", closed="left").mean()
        n = s.rolling("7D", closed="left").count()
        rise = s / base - 1.0
        hit = (s.index >= first_day) & (s.index <= as_of) & \
            (n >= cfg.params["min_baseline_days"]) & (rise >= cfg.params["threshold_pct"] / 100)
        state = g["state"].iloc[0]
        for day in s.index[hit.to_numpy()]:
            rows.append(dict(
                rule=cfg.rule, severity=cfg.severity,
                entity=f"{market} / {str(commodity).lower()}", day=day,
                reason=(f"{commodity} at {market} mandi traded at a modal {rupees(s[day])}/qtl "
                        f"on {ddmmm(day)}, {rise[day]:.0%} above its 7-day average of "
                        f"{rupees(base[day])}/qtl."),
                details=details_json("Sourcing", {"commodity": commodity}, None, None,
                                     market=market, commodity=commodity, state=state,
                                     modal_price=float(s[day]), avg_7d=float(base[day]),
                                     **_margin(float(s[day]) - float(base[day]), qtl))))
    return candidates(rows)


def _margin(rise: float, qtl: float) -> dict:
    value = shown_rupees(rise) * shown_units(qtl)
    return stake(value, f"Margin at risk if you buy at this price: {rupees(rise)}/qtl "
                        f"above the 7-day average x {num(qtl)} qtl a week (the rule's "
                        f"purchase setting) = {inr_compact(value)}.")


# ---- data freshness -----------------------------------------------------------------------------
def _max_age_days(cfg: RuleConfig, grain: str) -> int:
    return (7 * int(cfg.params["max_age_weeks"]) if normalise_grain(grain) == WEEKLY
            else int(cfg.params["max_age_days"]))


def _day_text(day, ref) -> str:
    """DD-MMM, with the year when it is not the year of `ref`."""
    return ddmmm(day) if pd.Timestamp(day).year == pd.Timestamp(ref).year else ddmmmyyyy(day)


def historical_load(latest, arrived, cfg: RuleConfig, grain: str = DAILY) -> str | None:
    """A sentence when the newest sales were already older than the rule's age limit when
    they were uploaded (`arrived`: when the upload holding them was made, None if
    unknown): a deliberate historical load, which raises no stale-data alert. Else None."""
    if arrived is None or pd.isna(arrived) or latest is None or pd.isna(latest):
        return None
    latest = pd.Timestamp(latest).normalize()
    arrived = pd.Timestamp(arrived).normalize()
    old = int((arrived - latest).days)
    if old <= _max_age_days(cfg, grain):
        return None
    newest = ("the week of " if normalise_grain(grain) == WEEKLY else "") + ddmmmyyyy(latest)
    return (f"the newest sales ({newest}) were already {age_text(old)} old when they were "
            f"uploaded on {ddmmmyyyy(arrived)}: a historical load, so no stale-data alert.")


def data_freshness(last_by_pin: pd.DataFrame, cfg: RuleConfig, latest, today,
                   grain: str = DAILY, arrived=None) -> pd.DataFrame:
    """PINs whose newest sale is `max_gap_days` (weekly data: `max_gap_weeks` weeks) or more
    behind the newest sale overall (one alert per PIN and stale spell, dated by its last
    sale), and the warehouse as a whole (one alert, dated by its newest sale) when its
    newest sale is more than `max_age_days` (`max_age_weeks` weeks) before `today` - unless
    those sales were already that old when uploaded (`historical_load`): a stale spell in
    a historical file asks nobody to upload anything, so it raises neither kind (the note
    counts the PINs behind: `pins_behind`)."""
    if latest is None or pd.isna(latest):
        raise RuleSkipped("no sales in the warehouse yet")
    weekly = normalise_grain(grain) == WEEKLY
    latest = pd.Timestamp(latest).normalize()
    today = pd.Timestamp(today).normalize()
    step = period_days(grain)
    limit = int(cfg.params["max_gap_weeks"] if weekly else cfg.params["max_gap_days"])
    week_of = "the week of " if weekly else ""
    revenue = (last_by_pin["daily_revenue"] if "daily_revenue" in last_by_pin
               else pd.Series(np.nan, index=last_by_pin.index))
    if historical_load(latest, arrived, cfg, grain) is not None:
        return candidates([])
    rows = []
    for r, daily in zip(last_by_pin.itertuples(index=False), revenue):
        place = f"PIN {r.pin_code}" + (f" ({r.city})" if isinstance(r.city, str) else "")
        if pd.isna(r.last_date):
            rows.append(dict(rule=cfg.rule, severity=raise_severity(cfg.severity),
                             entity=f"PIN {r.pin_code}", day=latest,
                             reason=(f"{place} has no sales at all up to {week_of}"
                                     f"{ddmmm(latest)}."),
                             details=details_json(
                                 "Data", {}, r.pin_code, None, last_sale=None, latest=latest,
                                 **stake(None, "No sales history at this PIN to size what "
                                               "is missing."))))
            continue
        behind = int((latest - pd.Timestamp(r.last_date).normalize()).days) // step
        if behind >= limit:
            rows.append(dict(
                rule=cfg.rule, severity=cfg.severity, entity=f"PIN {r.pin_code}",
                day=r.last_date,
                reason=(f"No sales uploaded for {place} since {week_of}{ddmmm(r.last_date)}: "
                        f"{periods_text(behind, grain)} behind the newest sales in the "
                        f"warehouse ({week_of}{ddmmm(latest)})."),
                details=details_json("Data", {}, r.pin_code, None, last_sale=r.last_date,
                                     latest=latest, periods_behind=behind, grain=grain,
                                     **_unseen(daily, behind * step, f"PIN {r.pin_code}'s"))))
    age = int((today - latest).days)
    if age > _max_age_days(cfg, grain):
        newest = ("for the week of " if weekly else "from ") + _day_text(latest, today)
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity="All PINs", day=latest,
            reason=(f"The newest sales in the warehouse are {newest}, {age_text(age)} before "
                    f"{_day_text(today, today)}: upload recent sales."),
            details=details_json("Data", {}, None, None, latest=latest, age_days=age,
                                 grain=grain,
                                 **_unseen(float(revenue.sum(min_count=1)), age, "the PINs'"))))
    return candidates(rows)


def pins_behind(last_by_pin: pd.DataFrame, cfg: RuleConfig, latest, grain: str = DAILY
                ) -> str | None:
    """How many PINs' newest sales lag the newest overall by the rule's gap or more (a
    clause for the historical-load note), or None when none do."""
    if latest is None or pd.isna(latest) or last_by_pin.empty:
        return None
    weekly = normalise_grain(grain) == WEEKLY
    limit = int(cfg.params["max_gap_weeks"] if weekly else cfg.params["max_gap_days"])
    behind = (pd.Timestamp(latest).normalize()
              - pd.to_datetime(last_by_pin["last_date"]).dt.normalize()).dt.days
    late = int((behind.isna() | (behind // period_days(grain) >= limit)).sum())
    if not late:
        return None
    return (f"{num(late)} of {num(len(last_by_pin))} PIN codes' sales end "
            f"{periods_text(limit, grain)} or more before the newest")


UNSEEN_CAP_DAYS = 28     # sales counted at most this many days back: the planning horizon


def _unseen(daily, days: int, whose: str) -> dict:
    """Sales the plans cannot see: the usual daily sales value x the days without data (at
    most UNSEEN_CAP_DAYS)."""
    if daily is None or not np.isfinite(daily) or daily <= 0:
        return stake(None, "No priced sales before the gap to size what is missing.")
    counted = min(int(days), UNSEEN_CAP_DAYS)
    capped = f" (at most {UNSEEN_CAP_DAYS} counted)" if days > UNSEEN_CAP_DAYS else ""
    value = shown_rupees(daily) * counted
    return stake(value, f"Sales the forecasts and reorder plans cannot see: {whose} usual "
                        f"{rupees(daily)} a day (last 4 weeks with data) x {num(days)} days "
                        f"without data{capped} = {inr_compact(value)}.")


# ---- forecasts ----------------------------------------------------------------------------------
def matched_forecasts(forecasts: pd.DataFrame, sales: pd.DataFrame, start, end,
                      grain: str = DAILY) -> pd.DataFrame:
    """For each series x period in start..end, the freshest run's forecast next to the actual
    (zero when no sale was recorded). Only runs made at the data's grain compare: a weekly
    run's row meets the sales row of the same week, a daily run's the same day."""
    grain = normalise_grain(grain)
    fc = forecasts[forecasts["grain"].map(normalise_grain) == grain]
    fc = fc[(fc["date"] >= pd.Timestamp(start)) & (fc["date"] <= pd.Timestamp(end))]
    fc = fc.sort_values("created_at").drop_duplicates(KEY + ["date"], keep="last")
    sales = sales if "promo" in sales else sales.assign(promo=False)
    price = sales["price"].astype(float) if "price" in sales else np.nan
    actual = sales.assign(promo=sales["promo"].fillna(False).astype(bool),
                          _rev=sales["quantity"].astype(float) * price).groupby(
        KEY + ["date"], as_index=False).agg(quantity=("quantity", "sum"), promo=("promo", "max"),
                                            revenue=("_rev", lambda v: v.sum(min_count=1)))
    out = fc.merge(actual, on=KEY + ["date"], how="left")
    out["actual"] = out["quantity"].fillna(0.0)
    out["promo"] = out["promo"].eq(True)
    return out.drop(columns="quantity")


def _matched_prices(matched: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    """series_prices of the sales behind matched forecasts (revenue / units per period)."""
    rev = matched["revenue"] if "revenue" in matched else pd.Series(np.nan, index=matched.index)
    sold = matched[KEY].assign(quantity=matched["actual"],
                               price=rev / matched["actual"].where(matched["actual"] > 0))
    return series_prices(sold, names)


def _span(first, last, n: int, grain: str) -> str:
    """'over 29-Dec–04-Jan', 'in the week of 04-Jan', 'over the weeks of 14-Dec–04-Jan'."""
    if normalise_grain(grain) != WEEKLY:
        return f"over {ddmmm(first)}–{ddmmm(last)}"
    return on_period(last, grain) if n == 1 else \
        f"over the weeks of {ddmmm(first)}–{ddmmm(last)}"


def forecast_deviation(matched: pd.DataFrame, cfg: RuleConfig, as_of,
                       names: pd.DataFrame | None = None, grain: str = DAILY) -> pd.DataFrame:
    """Series whose actual sales over the window miss the forecast by > threshold (at least
    `min_days` forecast days, whole weeks for weekly data). Sales above the forecast while
    the series was on promotion for at least half the window are explained by the
    promotion, not flagged."""
    p = cfg.params
    g = matched.groupby(KEY).agg(forecast=("forecast", "sum"), actual=("actual", "sum"),
                                 n=("date", "nunique"), first=("date", "min"),
                                 last=("date", "max"), run_id=("run_id", "last"),
                                 promo=("promo", "mean")).reset_index()
    g = g[g["n"] >= periods_for(p["min_days"], grain)]
    gap = g["actual"] - g["forecast"]
    dev = gap / g["forecast"].where(g["forecast"] > 0)
    hit = ((gap.abs() >= p["min_units"]) & ((dev.abs() >= p["threshold_pct"] / 100)
                                            | (g["forecast"] <= 0))
           & ~((gap > 0) & (g["promo"] >= 0.5)))
    g = _with_prices(_names(g.assign(dev=dev)[hit], names), _matched_prices(matched, names))
    rows = []
    for r in g.itertuples(index=False):
        where = "above" if r.actual > r.forecast else "below"
        value, how = _value_how(abs(r.actual - r.forecast),
                                f"Revenue gap, sales {where} the forecast", r.unit_price,
                                r.price_source)
        pct = "" if not np.isfinite(r.dev) else f"{abs(r.dev):.0%} "
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(r.sku_id, r.pin_code),
            day=r.last,
            reason=(f"Sales of {sku_label(r.name, r.sku_id)} at {r.pin_code} "
                    f"{_span(r.first, r.last, int(r.n), grain)} were {pct}{where} the forecast "
                    f"({num(r.actual)} vs {num(r.forecast)} units, run {r.run_id})."),
            details=details_json("Forecast", _forecast_link(r.sku_id, r.pin_code), r.pin_code,
                                 r.sku_id, actual=float(r.actual), forecast=float(r.forecast),
                                 run_id=r.run_id, periods=int(r.n), grain=grain,
                                 **stake(value, how))))
    return candidates(rows)


def series_wape(frame: pd.DataFrame) -> pd.Series:
    """WAPE per series (NaN where all actuals are zero), as in engine.forecast.metrics."""
    err = (frame["actual"] - frame["forecast"]).abs().groupby([frame[k] for k in KEY]).sum()
    tot = frame["actual"].abs().groupby([frame[k] for k in KEY]).sum()
    return err / tot.where(tot > 0)


SIGNIFICANT_Z = 2.0   # live error above the backtest's, in standard errors, to count


def backtest_wape(backtests: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Per series (index sku_id, pin_code): `bt`, the backtest WAPE of the 'routed' choice
    if the run has one, else of the model the forecast used, and `bt_spread`, the standard
    deviation over backtest periods of |error| - bt x actual (how far one period's error
    strays from what the WAPE predicts)."""
    if backtests.empty:
        return pd.DataFrame(columns=["bt", "bt_spread"])
    routed = backtests[backtests["model"] == "routed"]
    pick = models.drop_duplicates(KEY).merge(backtests, on=KEY + ["model"])
    rest = pick[~pick.set_index(KEY).index.isin(routed.set_index(KEY).index)]
    rows = pd.concat([routed, rest], ignore_index=True)
    bt = series_wape(rows)
    keys = pd.MultiIndex.from_frame(rows[KEY])
    excess = ((rows["actual"] - rows["forecast"]).abs().to_numpy()
              - bt.reindex(keys).to_numpy() * rows["actual"].abs().to_numpy())
    spread = pd.Series(excess, index=keys).groupby(level=KEY).std(ddof=1)
    return pd.DataFrame({"bt": bt, "bt_spread": spread})


def forecast_accuracy(matched: pd.DataFrame, bt: pd.DataFrame, cfg: RuleConfig, as_of,
                      names: pd.DataFrame | None = None, grain: str = DAILY) -> pd.DataFrame:
    """Series whose live WAPE over the window (periods of the data's grain) is worse than
    `factor` x their backtest WAPE, by more than chance: the live error must exceed what
    the backtest WAPE predicts for those sales by SIGNIFICANT_Z standard errors (from the
    backtest's per-period spread), so four noisy weeks do not pass for a worse model."""
    p = cfg.params
    err = (matched["actual"] - matched["forecast"]).abs()
    live = pd.DataFrame({"err": err, "act": matched["actual"].abs(), "date": matched["date"],
                         **{k: matched[k] for k in KEY}}).groupby(KEY).agg(
        err=("err", "sum"), act=("act", "sum"), n=("date", "nunique"))
    live = live[(live["n"] >= periods_for(p["min_days"], grain)) & (live["act"] > 0)]
    frame = live.join(bt, how="inner").dropna(subset=["bt"])
    frame["live"] = frame["err"] / frame["act"]
    stderr = np.sqrt(frame["n"]) * frame["bt_spread"]
    excess = frame["err"] - frame["bt"] * frame["act"]
    chance = (stderr > 0) & (excess < SIGNIFICANT_Z * stderr)
    frame = frame[(frame["live"] >= p["factor"] * frame["bt"].clip(lower=0.01))
                  & (frame["live"] >= p["min_wape_pct"] / 100) & ~chance].reset_index()
    frame = _with_prices(_names(frame, names), _matched_prices(matched, names))
    day = pd.Timestamp(matched["date"].max()) if len(matched) else pd.Timestamp(as_of)
    rows = []
    for r in frame.itertuples(index=False):
        extra = max(float(r.err) - float(r.bt) * float(r.act), 0.0)
        value, how = _value_how(
            extra, f"Forecast error beyond the backtest's over {int(r.n)} "
                   f"{period_noun(grain, int(r.n))} (live error {num(r.err)} units vs "
                   f"{num(r.bt * r.act)} expected at the backtest WAPE)", r.unit_price,
            r.price_source)
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(r.sku_id, r.pin_code),
            day=day,
            reason=(f"Forecast error for {sku_label(r.name, r.sku_id)} at {r.pin_code} over the "
                    f"last {int(r.n)} forecast {period_noun(grain, int(r.n))} is WAPE "
                    f"{r.live:.0%}, {r.live / max(r.bt, 0.01):.1f}x its backtest WAPE of "
                    f"{r.bt:.0%}."),
            details=details_json("Forecast", _forecast_link(r.sku_id, r.pin_code), r.pin_code,
                                 r.sku_id, live_wape=float(r.live),
                                 backtest_wape=float(r.bt), periods=int(r.n), grain=grain,
                                 **stake(value, how))))
    return candidates(rows)


# ---- stock ---------------------------------------------------------------------------------------
NO_DEMAND = 0.05     # units a day below which a line has no demand worth projecting


def stock_reason(r, critical: bool) -> str:
    """'Amul Gold 500 ml (DA-0004) at 560015: 3 units on hand + 12 on order, at or below
    the reorder level of 15 units. At about 2.5 units a day it runs out around 24-Nov, ...'"""
    on_hand, on_order = max(float(r.on_hand), 0.0), float(r.on_order)
    ordered = round(on_order, 1) > 0
    if round(on_hand, 1) <= 0:
        stock = "out of stock now" + (f" ({num(on_order)} on order)" if ordered else "")
    else:
        stock = f"{units(on_hand)} on hand" + (f" + {num(on_order)} on order" if ordered else "")
    lead = int(r.lead_time_days)
    text = (f"{sku_label(getattr(r, 'name', None), r.sku_id)} at {r.pin_code}: {stock}, at or "
            f"below the reorder level of {units(r.reorder_point)}.")
    demand = float(r.daily_demand) if pd.notna(r.daily_demand) else 0.0
    if demand < NO_DEMAND:
        return text + f" No recent demand, so no run-out date (lead time {lead} days)."
    rate = f"about {num(demand)} unit{'' if num(demand) == '1' else 's'} a day"
    if round(on_hand, 1) <= 0:
        return (text + f" It sells {rate}, so sales are being lost until an order arrives "
                f"({lead}-day lead time).")
    if pd.isna(r.stockout_date):
        return text + f" It sells {rate} (lead time {lead} days)."
    tail = (f", before an order placed today could arrive ({lead}-day lead time)."
            if critical else f" (lead time {lead} days).")
    return text + f" At {rate} it runs out around {ddmmm(r.stockout_date)}{tail}"


def _at_risk(r, review_days: int) -> dict:
    """Sales at risk of a plan line (engine.inventory.policy: `sales_at_risk`) and how."""
    value = getattr(r, "sales_at_risk", None)
    price = getattr(r, "unit_price", None)
    if value is None or pd.isna(value) or price is None or pd.isna(price):
        return stake(None, "No MRP or unit cost in the catalog to value the lost sales.")
    mrp = getattr(r, "mrp", None)
    source = "MRP" if mrp is not None and pd.notna(mrp) and float(mrp) > 0 else "unit cost"
    lead = int(r.lead_time_days)
    value = shown_units(r.at_risk_units) * shown_rupees(price)
    return stake(value, f"Sales at risk if nothing is ordered today: about "
                        f"{units(r.at_risk_units)} of demand unserved over the next "
                        f"{lead + review_days} days ({lead}-day lead time + {review_days}-day "
                        f"order cycle) x {rupees(price)} ({source}) = {inr_compact(value)}.")


def stock_alerts(plan: pd.DataFrame, cfg: RuleConfig, as_of,
                 review_days: int = 7) -> pd.DataFrame:
    """Plan lines at or below the reorder point ('high' urgency) or running out before an
    order placed today arrives ('critical', one severity level up), with the sales at risk
    (`review_days`: the plan's order cycle, part of the period the risk is counted over)."""
    hit = plan[plan["urgency"].isin(["critical", "high"])]
    rows = []
    for r in hit.itertuples(index=False):
        critical = r.urgency == "critical"
        rows.append(dict(
            rule=cfg.rule, severity=raise_severity(cfg.severity) if critical else cfg.severity,
            entity=series_entity(r.sku_id, r.pin_code), day=as_of,
            reason=stock_reason(r, critical),
            details=details_json("Reorder", {"sku_id": r.sku_id, "pin_code": r.pin_code},
                                 r.pin_code, r.sku_id, on_hand=float(r.on_hand),
                                 on_order=float(r.on_order),
                                 reorder_point=float(r.reorder_point),
                                 stockout_date=r.stockout_date, urgency=r.urgency,
                                 order_qty=float(r.order_qty),
                                 **_at_risk(r, review_days))))
    return candidates(rows)
