"""Why a forecast is what it is, and what-if scenarios on top of it (no refit).

Drivers: per forecast row of the LightGBM model, log-scale effects of trend/seasonality,
festival, weather, price and recent demand (ablation against neutral values, see
`driver_frame`; exact TreeSHAP via LightGBMModel.contributions for a few rows), adding up
to the forecast: forecast = exp(base + sum of groups) (+ a 0.05 unit offset), so
`multipliers()` turns each group into a factor ("festival x1.8") and `unit_effects()` into
units.

Scenarios: `estimate_response(history, signals)` fits, per category, a log-linear demand
regression on history with series x month fixed effects (demeaned), on days with sales:
    log q = b_price * log(price / regular price) + b_promo * promo
            + b_temp * temperature anomaly + b_rain * rainfall anomaly + FE
(the promo term is dropped when promotions are just price cuts, corr > 0.9 with the
price term); then, per SKU with enough price variation, its own price slope (shrunk towards the
category's by the number of discounted days). `scenario(base, response, ScenarioConfig)`
scales the base forecast multiplicatively:
    price:    (1 + price_change_pct / 100) ** elasticity
    weather:  exp(b_temp * temp_anomaly_c + b_rain * rain_anomaly_mm)
    festival: (1 + (u - 1) * intensity) / u, with u the base forecast's festival uplift
    promo:    exp(b_promo) * (1 - typical discount) ** elasticity
No model is refitted, so a single series answers in milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.forecast.config import ScenarioConfig

GROUPS = ["trend_seasonality", "festival", "weather", "price", "recent_demand"]
KEYS = ["sku_id", "pin_code"]


def _neutral(future: pd.DataFrame, group: str) -> dict[str, object]:
    """The feature values that make one driver group neutral for the rows of `future`:
    column -> a constant or an array (columns absent from `future` are skipped)."""
    from engine.signals.weather import weather_response

    out: dict[str, object] = {}
    if group == "festival":
        out.update(festival_intensity=0.0, in_pre_window=0.0, in_post_window=0.0,
                   days_to_next_festival=60.0, days_since_last_festival=60.0)
    elif group == "weather":       # the city's average weather over the year
        for col in ("temp_c", "rainfall_mm", "humidity"):
            if col in future:
                out[col] = (future.groupby("city", dropna=False)[col].transform("mean")
                            if "city" in future
                            else pd.Series(future[col].mean(), index=future.index))
        out.update(temp_anom=0.0, rain_anom=0.0)
        if "temp_c" in out and "temp_vs_recent" in future:   # the average day vs the window
            out["temp_vs_recent"] = future["temp_vs_recent"] + (out["temp_c"] - future["temp_c"])
        if "temp_c" in out and "category" in future:
            out["weather_resp"] = weather_response(future["category"], out["temp_c"])
    elif group == "price":
        out.update(price_ratio=1.0, discount_depth=0.0, promo_flag=0.0, price_index=1.0,
                   category_promo_share=0.0, feature_flag=0.0, display_flag=0.0,
                   tpr_flag=0.0)
    elif group == "recent_demand":  # recent demand replaced by the series' long-run mean
        if "expanding_mean" in future:
            level = future["expanding_mean"]
            for col in ("lag_origin", "roll_mean_7", "roll_mean_28", "roll_mean_91", "roll_mean_4",
                        "roll_mean_13", "roll_mean_26", "same_dow_mean"):
                out[col] = level
        out["momentum"] = 1.0
    return {c: (v.to_numpy(dtype=float) if isinstance(v, pd.Series) else v)
            for c, v in out.items() if c in future}


def _predict_neutral(model, X: np.ndarray | None, col_of: dict, neutral: dict,
                     offset: np.ndarray) -> np.ndarray:
    """The model's forecast with the `neutral` columns set in X (in place, restored)."""
    neutral = {c: v for c, v in neutral.items() if c in col_of}
    saved = {c: X[:, col_of[c]].copy() for c in neutral} if X is not None else {}
    for col, value in neutral.items():
        X[:, col_of[col]] = value
    try:
        return model.predict_matrix(X, offset)
    finally:
        for col, values in saved.items():
            X[:, col_of[col]] = values


def driver_frame(model, future: pd.DataFrame, forecast: np.ndarray | None = None,
                 own: np.ndarray | None = None) -> pd.DataFrame:
    """Drivers for every future row of a fitted LightGBMModel, by ablation: for each group
    g in festival, weather, price, recent_demand, c_g = log f - log f(g neutral), with
    neutral = no festival window / the city's average weather / regular price, no promo /
    the series' long-run mean demand. `base` = log of the series' long-run mean demand and
    trend_seasonality = log f - base - sum of the other groups (calendar, season, trend and
    interactions), so f = exp(base + sum of groups) exactly. `forecast` (and `own`, the
    forecast at the rows' own prices) is the model's forecast for these rows when the
    caller has it (else it is predicted); each group
    costs one more prediction, on the float feature matrix with that group's columns set
    to neutral (and restored afterwards), times the row's unplanned-promotion factor;
    the price group's neutral is the forecast at regular price without that factor.
    LightGBMModel.contributions gives exact TreeSHAP for a few rows instead (it costs
    ~30 us per row and tree). Also carries the signal values scenarios need
    (festival_uplift, temp_c, rainfall_mm, planned_price)."""
    eps = 0.05
    X = model.feature_matrix(future)
    offset = model.offset(future)
    if forecast is None:           # at the rows' own prices; with unplanned promotions mixed
        own, full = model.expected_parts(future, X, offset)
    else:
        full = np.asarray(forecast, dtype=float)
        own = model.predict_matrix(X, offset) if own is None else np.asarray(own, dtype=float)
    # the unplanned-promotion mix multiplies a row's forecast by full / own; the ablations
    # of the other groups keep that factor (one prediction each instead of two)
    mix = np.where(own > 0, full / np.maximum(own, 1e-12), 1.0)
    out = future[KEYS + ["date"]].copy().reset_index(drop=True)
    logf = np.log(full + eps)
    total = np.zeros(len(future))
    col_of = {f: i for i, f in enumerate(getattr(model, "features", []))}
    planned = "planned" in future and bool(future["planned"].any())
    for g in ("festival", "weather", "price", "recent_demand"):
        if g == "price" and not planned:    # regular price, no promotion: `own`, unmixed
            alt = own
        elif g == "price":
            alt = _predict_neutral(model, X, col_of, _neutral(future, g), offset)
        else:
            alt_offset = np.zeros(len(future)) if g == "festival" else offset
            alt = _predict_neutral(model, X, col_of, _neutral(future, g), alt_offset) * mix
        out[g] = logf - np.log(alt + eps)
        total += out[g].to_numpy()
    level = future["expanding_mean"].to_numpy(dtype=float) if "expanding_mean" in future \
        else np.full(len(future), np.nan)
    level = np.where(np.isfinite(level), level, full)
    out["base"] = np.log(level + eps)
    out["trend_seasonality"] = logf - out["base"].to_numpy() - total
    out["festival_uplift"] = future["festival_uplift"].to_numpy(dtype=float) \
        if "festival_uplift" in future else 1.0
    for col, src in (("temp_c", "temp_c"), ("rainfall_mm", "rainfall_mm"),
                     ("planned_price", "price")):
        out[col] = future[src].to_numpy(dtype=float) if src in future else np.nan
    return out


def multipliers(drivers: pd.DataFrame) -> pd.DataFrame:
    """exp(effect) per group: the factor by which each driver moves the forecast
    relative to its neutral value."""
    out = drivers[KEYS + ["date"]].copy()
    for g in GROUPS:
        out[g] = np.exp(drivers[g].to_numpy(dtype=float))
    return out


def unit_effects(drivers: pd.DataFrame, forecast: pd.Series | np.ndarray) -> pd.DataFrame:
    """Units each driver adds (+) or removes (-) vs its neutral value: f - f / exp(c_g)."""
    f = np.asarray(forecast, dtype=float)
    out = drivers[KEYS + ["date"]].copy()
    for g in GROUPS:
        out[g] = f - f / np.exp(drivers[g].to_numpy(dtype=float))
    return out


# ---- response curves and scenarios -----------------------------------------------------
@dataclass(frozen=True)
class ResponseCurves:
    sku: pd.DataFrame        # sku_id, category, elasticity, n_discount_days
    category: pd.DataFrame   # category, elasticity, promo_coef, temp_coef, rain_coef,
                             # typical_discount, n_obs


def _response_rows(history: pd.DataFrame, signals) -> dict[str, np.ndarray]:
    """Columns (numpy arrays) the response regression uses: sku_id, pin_code, date,
    quantity, price, regular_price, promo, category, temp_anom, rain_anom (weather joined
    from `signals` when absent). Weather is looked up once per distinct PIN x date rather
    than once per row: the lookup depends on the PIN and the date alone, so the values
    are the same."""
    from engine.forecast.features import normalize_history
    from engine.signals.weather import weather_for

    h = history if "temp_anom" in history else normalize_history(history)
    cols = {c: h[c].to_numpy() for c in h.columns if c in (
        "sku_id", "pin_code", "date", "quantity", "price", "regular_price", "promo",
        "category", "temp_anom", "rain_anom")}
    if h is not history and "category" in history:   # same rows unless duplicates summed
        cols["category"] = history["category"].to_numpy() if len(h) == len(history) \
            else h["sku_id"].map(history.drop_duplicates("sku_id")
                                 .set_index("sku_id")["category"]).to_numpy()
    if "temp_anom" not in cols:
        pin, pins = pd.factorize(cols["pin_code"], use_na_sentinel=False)
        day = pd.factorize(cols["date"], use_na_sentinel=False)[0].astype(np.int64)
        pair = pd.factorize(pin.astype(np.int64) * (int(day.max(initial=0)) + 1) + day)[0]
        first = np.unique(pair, return_index=True)[1]     # first row of each PIN x date
        wx = weather_for(pd.DataFrame({"pin_code": np.asarray(pins, dtype=object)[pin[first]],
                                       "date": cols["date"][first]}),
                         getattr(signals, "weather", None), getattr(signals, "locations", None))
        cols["temp_anom"] = wx["temp_anom"].to_numpy(dtype=float)[pair]
        cols["rain_anom"] = wx["rain_anom"].to_numpy(dtype=float)[pair]
    if "category" not in cols and signals is not None and signals.skus is not None:
        cols["category"] = pd.Series(cols["sku_id"]).map(
            signals.skus.set_index("sku_id")["category"]).to_numpy()
    return cols


def _codes(values: np.ndarray, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """int64 codes and the distinct values (sorted when `sort`: only the distinct values
    are sorted, then the codes remapped) of `values`; missing values get a code too."""
    codes, uniques = pd.factorize(values, sort=sort, use_na_sentinel=False)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _group_demean(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """values (n x k) minus their mean within each group (integer codes 0..n_groups-1)."""
    count = np.bincount(group, minlength=n_groups).astype(float)
    out = np.empty_like(values)
    for j in range(values.shape[1]):
        mean = np.bincount(group, weights=values[:, j], minlength=n_groups) / count
        out[:, j] = values[:, j] - mean[group]
    return out


def estimate_response(history: pd.DataFrame, signals=None, min_obs: int = 200,
                      shrink_days: float = 30.0) -> ResponseCurves:
    """Per-category and per-SKU response coefficients from history (see module doc).
    `history` may already carry temp_anom / rain_anom (e.g. a feature panel); otherwise
    they are joined from `signals` (weather per PIN via its city). Vectorised: the
    series x month fixed effect is an integer code (SKU code, PIN code, year * 12 + month)
    and the within transformation and per-SKU slopes are bincount sums."""
    h = _response_rows(history, signals)
    sold = h["quantity"].astype(float) > 0
    qty = h["quantity"][sold].astype(float)
    price = h["price"][sold].astype(float)
    reg = h["regular_price"][sold].astype(float)
    reg = np.where(np.isnan(reg), price, reg)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.log(np.clip(np.where(np.isnan(price), reg, price) / reg, 0.2, 5))
    rel = np.where(np.isnan(rel), 0.0, rel)
    promo = pd.Series(h["promo"][sold]).astype(float).to_numpy() if "promo" in h \
        else np.zeros(len(qty))
    temp = np.nan_to_num(h["temp_anom"][sold].astype(float), nan=0.0)
    rain = np.nan_to_num(h["rain_anom"][sold].astype(float), nan=0.0)
    V = np.column_stack([np.log(qty), rel, promo, temp, rain])   # logq, then the x terms

    sku, skus = _codes(h["sku_id"][sold], sort=True)
    pin = _codes(h["pin_code"][sold])[0]
    month = pd.to_datetime(h["date"][sold]).to_numpy().astype("datetime64[M]").astype(np.int64)
    month = month - month.min(initial=0)
    key = (sku * (int(pin.max(initial=0)) + 1) + pin) * (int(month.max(initial=0)) + 1) + month
    fe, fes = pd.factorize(key)
    W = _group_demean(V, fe, len(fes))
    cat_all = pd.Series(h["category"][sold] if "category" in h else [None] * len(qty),
                        dtype=object).fillna("unknown").to_numpy()
    cat, cats = pd.factorize(cat_all, sort=True)
    disc = rel < -0.01

    cat_rows, betas = [], np.zeros((len(cats), 4))
    order = np.argsort(cat, kind="stable")
    bounds = np.searchsorted(cat[order], np.arange(len(cats) + 1))
    for k, name in enumerate(cats):
        rows = order[bounds[k]:bounds[k + 1]]
        X, y = W[rows, 1:], W[rows, 0]
        keep = X.std(axis=0) > 1e-9
        if keep[0] and keep[1] and abs(np.corrcoef(X[:, 0], X[:, 1])[0, 1]) > 0.9:
            keep[1] = False   # promo = a price cut here: the price term carries its effect
        if len(rows) >= min_obs and keep.any():
            betas[k, keep] = np.linalg.lstsq(X[:, keep], y, rcond=None)[0]
        d = -rel[rows][disc[rows]]
        typical = float(1 - np.exp(-np.median(d))) if len(d) else 0.1
        b = betas[k]
        # demand never rises with its own price: a positive estimate is noise (or a
        # price moved by demand); the category then has no measurable price response
        b[0] = min(b[0], 0.0)
        cat_rows.append({"category": name, "elasticity": b[0], "promo_coef": b[1],
                         "temp_coef": b[2], "rain_coef": b[3],
                         "typical_discount": typical, "n_obs": len(rows)})
    category = pd.DataFrame(cat_rows, columns=["category", "elasticity", "promo_coef",
                                               "temp_coef", "rain_coef", "typical_discount",
                                               "n_obs"])

    # per SKU: own price slope on the residual after the category's other terms, shrunk
    # towards the category's elasticity (the SKU's category = that of its first row)
    n_sku = len(skus)
    first = np.unique(sku, return_index=True)[1]
    sku_cat = cat[first]
    b = betas[sku_cat]
    resid = W[:, 0] - (W[:, 2:] * b[sku, 1:]).sum(axis=1)
    x = W[:, 1]
    sxy = np.bincount(sku, weights=x * resid, minlength=n_sku)
    sxx = np.bincount(sku, weights=x * x, minlength=n_sku)
    n_disc = np.bincount(sku, weights=disc, minlength=n_sku).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(sxx > 1e-9, sxy / sxx, b[:, 0])
    k = n_disc / (n_disc + shrink_days)
    shrunk = k * own + (1 - k) * b[:, 0]
    sku_frame = pd.DataFrame({"sku_id": np.asarray(skus, dtype=object),
                              "category": np.asarray(cats, dtype=object)[sku_cat],
                              # an SKU whose own slope comes out positive (demand rising
                              # with its price) takes its category's elasticity instead
                              "elasticity": np.where(shrunk > 0, b[:, 0], shrunk),
                              "n_discount_days": n_disc})
    return ResponseCurves(sku=sku_frame, category=category)


def response_terms(rows: pd.DataFrame, response: ResponseCurves
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per row of `rows` (sku_id, optional category): the price elasticity (the SKU's,
    else its category's, else 0) and the category's promo_coef, temp_coef, rain_coef and
    typical_discount (0 when unknown)."""
    cat = rows["category"] if "category" in rows else rows["sku_id"].map(
        response.sku.set_index("sku_id")["category"])
    cats = response.category.set_index("category")
    el = rows["sku_id"].map(response.sku.set_index("sku_id")["elasticity"])
    el = el.fillna(cat.map(cats["elasticity"])).fillna(0.0).to_numpy(dtype=float)
    coef = {c: cat.map(cats[c]).fillna(0.0).to_numpy(dtype=float)
            for c in ("promo_coef", "temp_coef", "rain_coef", "typical_discount")}
    return el, coef


def scenario(base: pd.DataFrame, response: ResponseCurves, cfg: ScenarioConfig
             ) -> pd.DataFrame:
    """Baseline and scenario demand per row of `base` (sku_id, pin_code, date, forecast,
    optional lo, hi, category, festival_uplift). Adds: baseline, scenario, delta_units,
    multiplier (the product of the factors in the module doc)."""
    out = base.copy()
    el, coef = response_terms(out, response)
    mult = (1 + cfg.price_change_pct / 100.0) ** el
    mult = mult * np.exp(coef["temp_coef"] * cfg.temp_anomaly_c
                         + coef["rain_coef"] * cfg.rain_anomaly_mm)
    u = out["festival_uplift"].to_numpy(dtype=float) if "festival_uplift" in out else \
        np.ones(len(out))
    u = np.where(np.isfinite(u) & (u > 0), u, 1.0)
    mult = mult * (1 + (u - 1) * cfg.festival_intensity) / u
    if cfg.promo:
        mult = mult * np.exp(coef["promo_coef"]) * (1 - coef["typical_discount"]) ** el
    mult = np.clip(mult, 0, None)
    out["baseline"] = out["forecast"].to_numpy(dtype=float)
    out["multiplier"] = mult
    out["scenario"] = out["baseline"] * mult
    out["delta_units"] = out["scenario"] - out["baseline"]
    for col in ("lo", "hi", "lo80", "hi80"):
        if col in out:
            out[f"scenario_{col}"] = out[col].to_numpy(dtype=float) * mult
    return out
