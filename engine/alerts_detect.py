"""Alert detectors: pure functions from DataFrames to candidate alerts.

Each takes the frames it needs, the rule's `RuleConfig` and the evaluation day `as_of`,
and returns the candidate frame of `engine.alerts_rules` (one row per rule x entity x day).
They raise `RuleSkipped` when an input they need is absent.

Demand anomalies (choice and why): per series (zero-filled days, from its first sale),
STL (period 7, statsmodels) is fitted on the baseline history *before* the checked days.
The usual level is the median of the deseasonalised last 28 baseline days; a checked
day's expected value is that level plus the STL seasonal value of the same weekday, and
its robust z-score is (actual - expected) / (1.4826 x MAD of the deseasonalised residuals
of those 28 days), floored at the Poisson spread sqrt(level). Fitting on the baseline
keeps a spike from bending its own trend at the series' end (STL's boundary effect), and
a non-robust fit costs ~2-6 ms per series, so a few thousand series take seconds; only
series that sold at least `min_mean` units a day over the last 28 baseline days are
checked, and a gap must also exceed `min_units`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.alerts_rules import (RuleConfig, RuleSkipped, candidates, ddmmm, details_json,
                                 num, raise_severity, rupees, series_entity, sku_label,
                                 units)

KEY = ["sku_id", "pin_code"]


def _names(frame: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    if names is None or "name" in frame:
        return frame if "name" in frame else frame.assign(name=None)
    return frame.merge(names[["sku_id", "name"]], on="sku_id", how="left")


def _forecast_link(sku_id, pin_code) -> dict:
    return {"sku_id": sku_id, "pin_code": pin_code}


# ---- prices -------------------------------------------------------------------------------------
def price_above_mrp(checks: pd.DataFrame, cfg: RuleConfig, as_of) -> pd.DataFrame:
    """Sales above MRP (x (1 + tolerance)) in the checked window, one alert per SKU x PIN."""
    tol = cfg.params["tolerance_pct"] / 100.0
    bad = checks[checks["mrp"].notna() & (checks["price"] > checks["mrp"] * (1 + tol) + 0.005)]
    rows = []
    for (sku, pin), g in bad.groupby(KEY, sort=True):
        worst = g.loc[g["price"].idxmax()]
        last = g["date"].max()
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(sku, pin), day=last,
            reason=(f"{sku_label(worst['name'], sku)} was sold at {rupees(worst['price'])} at "
                    f"{pin} on {ddmmm(worst['date'])}, above its MRP of {rupees(worst['mrp'])} "
                    f"({len(g)} day(s) above MRP in the last {cfg.params['lookback_days']}); "
                    "selling above MRP is not allowed."),
            details=details_json("Forecast", _forecast_link(sku, pin), pin, sku,
                                 max_price=float(worst["price"]), mrp=float(worst["mrp"]),
                                 days=len(g))))
    return candidates(rows)


def price_below_cost(checks: pd.DataFrame, cfg: RuleConfig, as_of) -> pd.DataFrame:
    """Sales below unit cost (x (1 - tolerance)) in the window, one alert per SKU x PIN."""
    tol = cfg.params["tolerance_pct"] / 100.0
    bad = checks[checks["unit_cost"].notna()
                 & (checks["price"] < checks["unit_cost"] * (1 - tol) - 0.005)]
    rows = []
    for (sku, pin), g in bad.groupby(KEY, sort=True):
        worst = g.loc[g["price"].idxmin()]
        loss = float(((g["unit_cost"] - g["price"]) * g["quantity"]).sum())
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(sku, pin),
            day=g["date"].max(),
            reason=(f"{sku_label(worst['name'], sku)} was sold at {rupees(worst['price'])} at "
                    f"{pin} on {ddmmm(worst['date'])}, below its unit cost of "
                    f"{rupees(worst['unit_cost'])} ({len(g)} day(s) in the last "
                    f"{cfg.params['lookback_days']}, {rupees(loss)} lost on "
                    f"{num(g['quantity'].sum())} units)."),
            details=details_json("Forecast", _forecast_link(sku, pin), pin, sku,
                                 min_price=float(worst["price"]),
                                 unit_cost=float(worst["unit_cost"]), loss=loss,
                                 days=len(g))))
    return candidates(rows)


# ---- mandi prices -------------------------------------------------------------------------------
def mandi_spike(prices: pd.DataFrame, cfg: RuleConfig, as_of,
                state_pins: pd.DataFrame | None = None) -> pd.DataFrame:
    """Modal price on a checked day vs the mean of the market's prices in the 7 days before."""
    if prices.empty:
        raise RuleSkipped("no mandi prices in the checked period")
    as_of = pd.Timestamp(as_of).normalize()
    first_day = as_of - pd.Timedelta(days=int(cfg.params["lookback_days"]) - 1)
    pins = dict(zip(state_pins["state"], state_pins["pin_code"])) \
        if state_pins is not None and len(state_pins) else {}
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
                details=details_json("Sourcing", {"commodity": commodity,
                                                  "pin": pins.get(state)}, None, None,
                                     market=market, commodity=commodity, state=state,
                                     modal_price=float(s[day]), avg_7d=float(base[day]))))
    return candidates(rows)


# ---- data freshness -----------------------------------------------------------------------------
def data_freshness(last_by_pin: pd.DataFrame, cfg: RuleConfig, latest, today) -> pd.DataFrame:
    """PINs whose newest sale is `max_gap_days` or more behind the newest sale overall (one
    alert per PIN and stale spell, dated by its last sale), and the warehouse as a whole
    when its newest sale is more than `max_age_days` before `today`."""
    if latest is None or pd.isna(latest):
        raise RuleSkipped("no sales in the warehouse yet")
    latest = pd.Timestamp(latest).normalize()
    today = pd.Timestamp(today).normalize()
    gap_days = int(cfg.params["max_gap_days"])
    rows = []
    for r in last_by_pin.itertuples(index=False):
        place = f"PIN {r.pin_code}" + (f" ({r.city})" if isinstance(r.city, str) else "")
        if pd.isna(r.last_date):
            rows.append(dict(rule=cfg.rule, severity=raise_severity(cfg.severity),
                             entity=f"PIN {r.pin_code}", day=latest,
                             reason=f"{place} has no sales at all up to {ddmmm(latest)}.",
                             details=details_json("Data", {}, r.pin_code, None,
                                                  last_sale=None, latest=latest)))
            continue
        gap = int((latest - pd.Timestamp(r.last_date).normalize()).days)
        if gap >= gap_days:
            rows.append(dict(
                rule=cfg.rule, severity=cfg.severity, entity=f"PIN {r.pin_code}",
                day=r.last_date,
                reason=(f"No sales uploaded for {place} since {ddmmm(r.last_date)}: {gap} days "
                        f"behind the newest sales in the warehouse ({ddmmm(latest)})."),
                details=details_json("Data", {}, r.pin_code, None, last_sale=r.last_date,
                                     latest=latest, gap_days=gap)))
    age = int((today - latest).days)
    if age > int(cfg.params["max_age_days"]):
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity="All PINs", day=latest,
            reason=(f"The newest sales in the warehouse are from {ddmmm(latest)}, {age} days "
                    f"before {ddmmm(today)}: upload recent sales."),
            details=details_json("Data", {}, None, None, latest=latest, age_days=age)))
    return candidates(rows)


# ---- demand anomalies ---------------------------------------------------------------------------
def demand_anomalies(sales: pd.DataFrame, cfg: RuleConfig, as_of,
                     names: pd.DataFrame | None = None) -> pd.DataFrame:
    """Spikes and drops on the last `lookback_days` days (see the module docstring)."""
    from statsmodels.tsa.seasonal import STL

    if sales.empty:
        raise RuleSkipped("no sales in the checked period")
    p = cfg.params
    as_of = pd.Timestamp(as_of).normalize()
    look = int(p["lookback_days"])
    days = pd.date_range(as_of - pd.Timedelta(days=int(p["history_days"]) - 1), as_of)
    mat = sales.pivot_table(index=KEY, columns="date", values="quantity", aggfunc="sum")
    mat = mat.reindex(columns=days, fill_value=0.0).fillna(0.0)
    values = mat.to_numpy(float)
    base_end = len(days) - look
    started = (np.cumsum(values, axis=1) > 0).argmax(axis=1)   # first day with a sale
    label = _names(mat.index.to_frame(index=False), names).set_index(KEY)["name"]
    rows = []
    for i, (sku, pin) in enumerate(mat.index):
        base = values[i, started[i]:base_end]
        if len(base) < 28 or base[-28:].mean() < p["min_mean"]:
            continue
        seasonal = STL(base, period=7).fit().seasonal
        deseason = base[-28:] - seasonal[-28:]
        level = float(np.median(deseason))
        resid = deseason - level
        scale = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))),
                    float(np.sqrt(max(level, 1.0))))
        for k in range(look):
            day = days[base_end + k]
            weekday_pos = len(base) + k - 7 * (1 + k // 7)          # same weekday, last cycle
            expected = max(level + seasonal[weekday_pos], 0.0)
            actual = values[i, base_end + k]
            z = (actual - expected) / scale
            if abs(z) < p["z_threshold"] or abs(actual - expected) < p["min_units"]:
                continue
            kind = "spike" if z > 0 else "drop"
            ratio = actual / expected if expected > 0 else np.inf
            level_txt = (f"{ratio:.1f}x the usual level" if kind == "spike" and np.isfinite(ratio)
                         else f"{1 - ratio:.0%} below the usual level" if kind == "drop"
                         else "far above the usual level")
            rows.append(dict(
                rule=cfg.rule, severity=cfg.severity, entity=series_entity(sku, pin), day=day,
                reason=(f"Sales of {sku_label(label.get((sku, pin)), sku)} at {pin} were "
                        f"{level_txt} on {ddmmm(day)}: {num(actual)} units vs about "
                        f"{num(expected)} expected (robust z {z:+.1f})."),
                details=details_json("Forecast", _forecast_link(sku, pin), pin, sku,
                                     kind=kind, actual=float(actual),
                                     expected=float(expected), z=float(z))))
    return candidates(rows)


# ---- forecasts ----------------------------------------------------------------------------------
def _to_daily(fc: pd.DataFrame) -> pd.DataFrame:
    """Weekly runs become daily rows (a week's value spread over its 7 days, the forecast
    date being the week's last day), so they compare with daily sales."""
    weekly = fc["grain"].fillna("daily").str.lower().str.startswith("w")
    if not weekly.any():
        return fc
    parts = [fc[~weekly]]
    for k in range(7):
        part = fc[weekly].copy()
        part["date"] = part["date"] - pd.Timedelta(days=6 - k)
        part["forecast"] = part["forecast"] / 7.0
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def matched_forecasts(forecasts: pd.DataFrame, sales: pd.DataFrame, start, end) -> pd.DataFrame:
    """For each series x day in start..end, the freshest run's forecast next to the actual
    (zero when no sale was recorded)."""
    fc = _to_daily(forecasts)
    fc = fc[(fc["date"] >= pd.Timestamp(start)) & (fc["date"] <= pd.Timestamp(end))]
    fc = fc.sort_values("created_at").drop_duplicates(KEY + ["date"], keep="last")
    actual = sales.groupby(KEY + ["date"], as_index=False)["quantity"].sum()
    out = fc.merge(actual, on=KEY + ["date"], how="left")
    out["actual"] = out["quantity"].fillna(0.0)
    return out.drop(columns="quantity")


def forecast_deviation(matched: pd.DataFrame, cfg: RuleConfig, as_of,
                       names: pd.DataFrame | None = None) -> pd.DataFrame:
    """Series whose actual sales over the window miss the forecast by > threshold."""
    p = cfg.params
    g = matched.groupby(KEY).agg(forecast=("forecast", "sum"), actual=("actual", "sum"),
                                 n=("date", "nunique"), first=("date", "min"),
                                 last=("date", "max"), run_id=("run_id", "last")).reset_index()
    g = g[g["n"] >= p["min_days"]]
    gap = g["actual"] - g["forecast"]
    dev = gap / g["forecast"].where(g["forecast"] > 0)
    hit = (gap.abs() >= p["min_units"]) & ((dev.abs() >= p["threshold_pct"] / 100)
                                           | (g["forecast"] <= 0))
    g = _names(g.assign(dev=dev)[hit], names)
    rows = []
    for r in g.itertuples(index=False):
        where = "above" if r.actual > r.forecast else "below"
        pct = "" if not np.isfinite(r.dev) else f"{abs(r.dev):.0%} "
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(r.sku_id, r.pin_code),
            day=r.last,
            reason=(f"Sales of {sku_label(r.name, r.sku_id)} at {r.pin_code} over "
                    f"{ddmmm(r.first)}–{ddmmm(r.last)} were {pct}{where} the forecast "
                    f"({num(r.actual)} vs {num(r.forecast)} units, run {r.run_id})."),
            details=details_json("Forecast", _forecast_link(r.sku_id, r.pin_code), r.pin_code,
                                 r.sku_id, actual=float(r.actual), forecast=float(r.forecast),
                                 run_id=r.run_id, days=int(r.n))))
    return candidates(rows)


def series_wape(frame: pd.DataFrame) -> pd.Series:
    """WAPE per series (NaN where all actuals are zero), as in engine.forecast.metrics."""
    err = (frame["actual"] - frame["forecast"]).abs().groupby([frame[k] for k in KEY]).sum()
    tot = frame["actual"].abs().groupby([frame[k] for k in KEY]).sum()
    return err / tot.where(tot > 0)


def backtest_wape(backtests: pd.DataFrame, models: pd.DataFrame) -> pd.Series:
    """Per series: the backtest WAPE of the 'routed' choice if the run has one, else of the
    model the forecast used."""
    if backtests.empty:
        return pd.Series(dtype=float)
    routed = backtests[backtests["model"] == "routed"]
    pick = models.drop_duplicates(KEY).merge(backtests, on=KEY + ["model"])
    rest = pick[~pick.set_index(KEY).index.isin(routed.set_index(KEY).index)]
    return series_wape(pd.concat([routed, rest], ignore_index=True))


def forecast_accuracy(matched: pd.DataFrame, bt_wape: pd.Series, cfg: RuleConfig, as_of,
                      names: pd.DataFrame | None = None) -> pd.DataFrame:
    """Series whose live WAPE is worse than `factor` x their backtest WAPE."""
    p = cfg.params
    n = matched.groupby(KEY)["date"].nunique()
    live = series_wape(matched)[n >= p["min_days"]].dropna()
    frame = pd.DataFrame({"live": live}).join(bt_wape.rename("bt"), how="inner").dropna()
    frame = frame[(frame["live"] >= p["factor"] * frame["bt"].clip(lower=0.01))
                  & (frame["live"] >= p["min_wape_pct"] / 100)].reset_index()
    frame = _names(frame, names)
    day = pd.Timestamp(matched["date"].max()) if len(matched) else pd.Timestamp(as_of)
    rows = []
    for r in frame.itertuples(index=False):
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(r.sku_id, r.pin_code),
            day=day,
            reason=(f"Forecast error for {sku_label(r.name, r.sku_id)} at {r.pin_code} over the "
                    f"last {int(n.get((r.sku_id, r.pin_code), 0))} forecast days is WAPE "
                    f"{r.live:.0%}, {r.live / max(r.bt, 0.01):.1f}x its backtest WAPE of "
                    f"{r.bt:.0%}."),
            details=details_json("Forecast", _forecast_link(r.sku_id, r.pin_code), r.pin_code,
                                 r.sku_id, live_wape=float(r.live),
                                 backtest_wape=float(r.bt))))
    return candidates(rows)


# ---- stock ---------------------------------------------------------------------------------------
NO_DEMAND = 0.05     # units a day below which a line has no demand worth projecting


def stock_reason(r, critical: bool) -> str:
    """'Amul Gold 500 ml (DA-0004) at 560015: 3 units on hand + 12 on order, at or below
    the reorder point of 15 units. At about 2.5 units a day it runs out around 24-Nov, ...'"""
    on_hand, on_order = max(float(r.on_hand), 0.0), float(r.on_order)
    ordered = round(on_order, 1) > 0
    if round(on_hand, 1) <= 0:
        stock = "out of stock" + (f" ({num(on_order)} on order)" if ordered else "")
    else:
        stock = f"{units(on_hand)} on hand" + (f" + {num(on_order)} on order" if ordered else "")
    lead = int(r.lead_time_days)
    text = (f"{sku_label(getattr(r, 'name', None), r.sku_id)} at {r.pin_code}: {stock}, at or "
            f"below the reorder point of {units(r.reorder_point)}.")
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


def stock_alerts(plan: pd.DataFrame, cfg: RuleConfig, as_of) -> pd.DataFrame:
    """Plan lines at or below the reorder point ('high' urgency) or running out before an
    order placed today arrives ('critical', one severity level up)."""
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
                                 order_qty=float(r.order_qty))))
    return candidates(rows)
