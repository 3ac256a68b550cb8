"""Price and promotion plans as forecast inputs.

A plan row names products (a SKU, or a whole category), places (a PIN code, a city, a
state, or everywhere), days (`date_from`..`date_to`, inclusive) and what will happen: a
planned selling price and/or a discount %, and a promotion type (none, price_cut,
feature, display, bundle, other). `resolve` turns stored plan rows into one row per series
and forecast period:

- the newest plan version wins for a (SKU, PIN, day); within one version the most
  specific row wins (SKU over category; PIN over city over state over everywhere; then the
  later file line);
- weekly data: a week (labelled by its last day, as the sales) is planned when the plan
  covers any of its 7 days; its price is the mean over the week, the covered days at the
  planned price and the others at the regular price (`price` is then given for the
  covered share via `plan_share`); a single-day row on weekly data plans that whole week
  (a weekly promotion calendar lists one date per week);
- a discount % becomes a price once the regular price is known (in the feature panel).

`actual_plan(history, cutoff, horizon, grain, whole)` is the plan a backtest fold uses: the
prices and promotion flags that really happened after the fold's cutoff. That is what a
plan is, so a run that uses a plan is judged with the prices that were actually charged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.forecast.features import WholeFile, chain_wide_at

KEYS = ["sku_id", "pin_code"]
PROMO_TYPES = ("none", "price_cut", "feature", "display", "bundle", "other")
PLAN_COLUMNS = ["sku_id", "pin_code", "date", "price", "discount_pct", "promo",
                "promo_type", "plan_share", "plan_version"]
_PLACE_RANK = {"pin_code": 3, "city": 2, "state": 1}


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        PLAN_COLUMNS, [object, object, "datetime64[ns]", float, float, float, object, float,
                       "Int64"])})


def resolve(rows: pd.DataFrame, series: pd.DataFrame, dates, grain: str) -> pd.DataFrame:
    """Plan rows -> one row per (series, forecast period) the plan covers.

    rows: plan rows (sku_id or category; pin_code, city, state or none; date_from,
    date_to; price, discount_pct, promo_type; plan_version; row_no).
    series: sku_id, pin_code, category, city, state of the series to forecast.
    dates: the forecast periods (days, or week labels = the week's last day).
    Returns PLAN_COLUMNS: price (NaN when only a discount or a promotion type is
    planned), discount_pct, promo (1 / 0 from the promotion type or a discount; NaN for a
    bare price: a promotion when below the regular price), promo_type, plan_share
    (the share of the period the plan covers: 1 for days), plan_version."""
    if rows is None or len(rows) == 0 or len(series) == 0:
        return _empty()
    r = rows.copy()
    for col in ("sku_id", "category", "pin_code", "city", "state", "promo_type"):
        if col not in r:
            r[col] = None
        r[col] = r[col].astype(object).where(r[col].notna(), None)
    for col in ("price", "discount_pct"):
        r[col] = pd.to_numeric(r[col], errors="coerce") if col in r else np.nan
    if "date_from" not in r:
        r["date_from"] = r["date"]
    if "date_to" not in r:
        r["date_to"] = r["date_from"]
    r["date_from"] = pd.to_datetime(r["date_from"]).dt.normalize()
    r["date_to"] = pd.to_datetime(r["date_to"]).dt.normalize()
    r["plan_version"] = r["plan_version"] if "plan_version" in r else 1
    r["row_no"] = r["row_no"] if "row_no" in r else np.arange(len(r))
    r["rule"] = np.arange(len(r))
    s = series[[c for c in ("sku_id", "pin_code", "category", "city", "state")
                if c in series]].drop_duplicates(KEYS).copy()
    for col in ("category", "city", "state"):
        if col not in s:
            s[col] = None
    s["sku_id"] = s["sku_id"].astype(str)
    s["pin_code"] = s["pin_code"].astype(str)

    # products: SKU rows match their SKU, category rows every SKU of the category
    by_sku = r[r["sku_id"].notna()].assign(sku_id=lambda d: d["sku_id"].astype(str))
    m_sku = s.merge(by_sku.drop(columns=["category", "pin_code", "city", "state"]),
                    on="sku_id").assign(product_rank=2)
    by_cat = r[r["sku_id"].isna() & r["category"].notna()].drop(
        columns=["sku_id", "pin_code", "city", "state"])
    m_cat = s.merge(by_cat, on="category").assign(product_rank=1)
    cand = pd.concat([m_sku, m_cat], ignore_index=True)
    if cand.empty:
        return _empty()
    # places: the most specific place column the rule names must equal the series'
    rule_place = r.set_index("rule")[["pin_code", "city", "state"]]
    place_rank = np.zeros(len(cand), dtype=int)
    ok = np.ones(len(cand), dtype=bool)
    for col, rank in _PLACE_RANK.items():
        want = rule_place[col].reindex(cand["rule"]).to_numpy()
        named = pd.notna(want)
        have = cand[col].astype(object).to_numpy()
        eq = np.array([str(a).strip().lower() == str(b).strip().lower()
                       for a, b in zip(want[named], have[named])], dtype=bool)
        ok[np.flatnonzero(named)] &= eq
        place_rank = np.where(named & (place_rank == 0), rank, place_rank)
    cand = cand[ok].assign(place_rank=place_rank[ok])
    if cand.empty:
        return _empty()

    periods = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dt.normalize().unique()
                               ).sort_values()
    if grain == "W":
        first_day = periods - pd.Timedelta(days=6)
    else:
        first_day = periods
    p_first = first_day.to_numpy().astype("datetime64[D]").astype(np.int64)
    p_last = periods.to_numpy().astype("datetime64[D]").astype(np.int64)
    c_from = cand["date_from"].to_numpy().astype("datetime64[D]").astype(np.int64)
    c_to = cand["date_to"].to_numpy().astype("datetime64[D]").astype(np.int64)
    single = c_from == c_to
    # candidate x period overlap (candidates are few per series; periods are the horizon)
    lo = np.maximum(c_from[:, None], p_first[None, :])
    hi = np.minimum(c_to[:, None], p_last[None, :])
    days = np.clip(hi - lo + 1, 0, None)
    share = days / (p_last - p_first + 1)[None, :]
    if grain == "W":                       # one date per week plans the whole week
        share = np.where(single[:, None] & (days > 0), 1.0, share)
    ci, pi = np.nonzero(share > 0)
    if len(ci) == 0:
        return _empty()
    out = cand.iloc[ci].reset_index(drop=True)
    out["date"] = periods[pi]
    out["plan_share"] = share[ci, pi]
    # newest version, then the most specific rule, then the later line wins
    out = out.sort_values(["plan_version", "product_rank", "place_rank", "row_no"],
                          ascending=False, kind="stable")
    out = out.drop_duplicates(KEYS + ["date"], keep="first")
    given = out["promo_type"].notna().to_numpy()
    ptype = out["promo_type"].fillna("none").astype(str).str.lower()
    disc = out["discount_pct"].to_numpy(dtype=float)
    # no type given: a discount is a price cut; a bare price is a promotion when it is
    # below the regular price, which the feature panel decides (promo = NaN here)
    implied = ~given & (np.nan_to_num(disc) > 0)
    ptype = ptype.where(~implied, "price_cut")
    out["promo_type"] = ptype.to_numpy()
    out["promo"] = np.where(given | implied, (ptype != "none").to_numpy().astype(float),
                            np.nan)
    out["plan_version"] = out["plan_version"].astype("Int64")
    return out[PLAN_COLUMNS].sort_values(KEYS + ["date"]).reset_index(drop=True)


def planned_ratio(price: np.ndarray, discount_pct: np.ndarray, regular: np.ndarray
                  ) -> np.ndarray:
    """A plan row's price over the regular price: 1 - discount when the row gives a
    discount (with a price too, the two name the period's list price and the discount is
    off it: see features._price_features), else the planned price over the series'
    regular price; NaN when the row gives neither."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(~np.isnan(discount_pct), 1 - discount_pct / 100.0, price / regular)


def discount_off(price: np.ndarray, regular: np.ndarray) -> np.ndarray:
    """The discount % of `price` off the list price `regular`, as a plan row states it:
    0 to 99, one decimal; a price at or above the list price is 0% off (that price is the
    list price then). NaN where either is missing or the list price is not positive."""
    price, regular = np.asarray(price, dtype=float), np.asarray(regular, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.clip(100 * (1 - price / regular), 0, 99).round(1)
    return np.where(regular > 0, off, np.nan)


def actual_plan(history: pd.DataFrame, cutoff, horizon: int, grain: str,
                whole: WholeFile | None = None) -> pd.DataFrame:
    """What was charged after `cutoff` for `horizon` periods (a backtest fold's 'plan'),
    for every series with history up to `cutoff` and every period, as a retailer's plan
    covers every week of what it stocks: a sales row gives its price (when recorded),
    promotion flag and kinds; a period without a sales row was a promotion when its SKU
    was promoted chain-wide then (features.chain_wide_at: most of its sales rows of the
    period promoted; at their mean price and usual kinds), else no promotion at the
    regular price. Planning only the periods that sold would tell the model which
    periods sold. `whole`: the whole file's sums (features.WholeFile; None: those of
    `history`): the chain-wide rule and whether the file records promotions at all are
    judged on them, so a partition of the file (a Dask run) plans as the local run does."""
    cut = pd.Timestamp(cutoff)
    step = 7 if grain == "W" else 1
    end = cut + pd.Timedelta(days=horizon * step)
    whole = whole if whole is not None else WholeFile.of(history)
    d = history["date"].to_numpy()
    h = history[(d > np.datetime64(cut)) & (d <= np.datetime64(end))]
    kinds = [c for c in ("feature", "display", "tpr") if c in h]
    n = len(h)
    sold = pd.DataFrame({"sku_id": h["sku_id"].to_numpy(), "pin_code": h["pin_code"].to_numpy(),
                         "date": h["date"].to_numpy()})
    sold["price"] = h["price"].to_numpy(dtype=float) if "price" in h else np.nan
    promo = h["promo"].fillna(False).to_numpy(dtype=bool) if "promo" in h else \
        np.zeros(n, dtype=bool)
    # a file without promotion flags up to the fold's end: the price and kinds decide
    # (as in its history)
    flagged = whole.promoted(end)
    sold["promo"] = promo.astype(float) if flagged else np.nan
    for col in kinds:            # the promotion kinds as recorded
        sold[col] = np.nan_to_num(pd.to_numeric(h[col], errors="coerce").to_numpy(dtype=float))
    # every series x period without a sales row, on the cutoff's period lattice
    period = -((cut - pd.to_datetime(sold["date"])).dt.days // step).to_numpy()
    series = history.loc[d <= np.datetime64(cut), KEYS].drop_duplicates()
    grid = pd.DataFrame({"sku_id": np.repeat(series["sku_id"].to_numpy(), horizon),
                         "pin_code": np.repeat(series["pin_code"].to_numpy(), horizon),
                         "period": np.tile(np.arange(1, horizon + 1), len(series))})
    have = pd.MultiIndex.from_arrays([sold["sku_id"], sold["pin_code"], period])
    missing = grid[~pd.MultiIndex.from_frame(grid).isin(have)]
    dates = (cut + pd.to_timedelta(missing["period"].to_numpy() * step, unit="D")).to_numpy()
    on, paid, kind = chain_wide_at(whole, cut, step, missing["sku_id"].to_numpy(), dates,
                                   kinds, first=cut, last=end)
    gap = pd.DataFrame({"sku_id": missing["sku_id"].to_numpy(),
                        "pin_code": missing["pin_code"].to_numpy(), "date": dates,
                        "price": paid, "promo": on.astype(float)})
    for col in kinds:
        gap[col] = kind[col]
    # column by column: an all-NaN price column (no chain-wide promotion) keeps its dtype
    out = pd.DataFrame({c: np.concatenate([sold[c].to_numpy(), gap[c].to_numpy()])
                        for c in sold.columns})
    # the list price too, as the discount off the row's regular price, for the series
    # whose regular price is recorded (it differs from the price paid somewhere up to the
    # fold's end; else the upload filled it with the price paid and the features take the
    # recent highest price instead)
    out["discount_pct"] = np.nan
    if "regular_price" in h and "price" in h and n:
        upto = history[d <= np.datetime64(end)]
        differs = (upto["regular_price"] - upto["price"]).abs().to_numpy(dtype=float) > 1e-9
        recorded = pd.MultiIndex.from_frame(upto.loc[differs, KEYS]).unique()
        off = discount_off(sold["price"].to_numpy(), h["regular_price"].to_numpy())
        use = pd.MultiIndex.from_frame(sold[KEYS]).isin(recorded) & np.isfinite(off)
        out.loc[np.flatnonzero(use), "discount_pct"] = off[use]
    out["promo_type"] = np.where(out["promo"].to_numpy() > 0, "other",
                                 np.where(out["promo"].isna(), None, "none"))
    out["plan_share"] = 1.0
    out["plan_version"] = pd.array([pd.NA] * len(out), dtype="Int64")
    return out[PLAN_COLUMNS + kinds]


def horizon_plan(rows: pd.DataFrame, history: pd.DataFrame, signals, cutoff, horizon: int,
                 grain: str) -> pd.DataFrame:
    """`resolve` for a forecast run: the series of `history` (with their category from
    signals.skus and city / state from signals.locations) over the `horizon` periods after
    `cutoff`."""
    series = history[KEYS].drop_duplicates().astype(str)
    if signals is not None and getattr(signals, "skus", None) is not None \
            and "category" in signals.skus:
        cats = signals.skus[["sku_id", "category"]].drop_duplicates("sku_id")
        series = series.merge(cats.assign(sku_id=cats["sku_id"].astype(str)), on="sku_id",
                              how="left")
    if signals is not None and getattr(signals, "locations", None) is not None:
        locs = signals.locations[[c for c in ("pin_code", "city", "state")
                                  if c in signals.locations]].drop_duplicates("pin_code")
        series = series.merge(locs.assign(pin_code=locs["pin_code"].astype(str)),
                              on="pin_code", how="left")
    step = pd.Timedelta(days=7 if grain == "W" else 1)
    dates = [pd.Timestamp(cutoff) + step * k for k in range(1, horizon + 1)]
    return resolve(rows, series, dates, grain)


def respond(base: pd.DataFrame, rows: pd.DataFrame, response, regular: pd.DataFrame,
            grain: str = "D") -> pd.DataFrame:
    """A plan applied to STORED forecasts without a refit (the batch API's inline plan):
    each planned row of `base` (sku_id, pin_code, date, forecast, optional lo / hi,
    category) is scaled by the estimated responses (drivers.ResponseCurves, the what-if
    panel's): (planned price / regular price) ** elasticity, times exp(promo_coef) for a
    promotion; a price cut with neither price nor discount takes the category's typical
    discount. `regular`: sku_id, pin_code, regular_price (the last known). Returns `base`
    with forecast_no_plan (the stored forecast), planned, and forecast / lo / hi scaled."""
    out = base.copy()
    series = out[KEYS + (["category"] if "category" in out else [])].drop_duplicates(KEYS)
    plan = resolve(rows, series, pd.to_datetime(out["date"]).unique(), grain)
    out["date"] = pd.to_datetime(out["date"])
    m = out[KEYS + ["date"]].merge(plan, on=KEYS + ["date"], how="left").merge(
        regular, on=KEYS, how="left")
    from engine.forecast.drivers import response_terms

    planned = m["plan_share"].notna().to_numpy()
    el, coef = response_terms(out, response)
    promo_coef, typical = coef["promo_coef"], coef["typical_discount"]
    reg = m["regular_price"].to_numpy(dtype=float)
    price = m["price"].to_numpy(dtype=float)
    disc = m["discount_pct"].to_numpy(dtype=float)
    ratio = planned_ratio(price, disc, reg)
    from engine.forecast.features import plan_type_has

    cut = plan_type_has(m["promo_type"].astype(object).to_numpy(), "price_cut") > 0
    ratio = np.where(np.isnan(ratio) & cut, 1 - typical, ratio)
    ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
    promo = m["promo"].to_numpy(dtype=float)
    promo = np.where(np.isnan(promo), ratio < 0.98, promo > 0)
    share = np.nan_to_num(m["plan_share"].to_numpy(dtype=float))
    mult = ratio ** el * np.where(promo, np.exp(promo_coef), 1.0)
    mult = np.where(planned, 1 + share * (mult - 1), 1.0)
    out["forecast_no_plan"] = out["forecast"].to_numpy(dtype=float)
    out["planned"] = planned
    for col in ("forecast", "lo", "hi", "lo80", "hi80"):
        if col in out:
            out[col] = out[col].to_numpy(dtype=float) * mult
    return out
