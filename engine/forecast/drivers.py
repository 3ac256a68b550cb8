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


def _neutral(future: pd.DataFrame, group: str) -> pd.DataFrame:
    """Copy of `future` with one driver group set to its neutral value."""
    from engine.signals.weather import weather_response

    f = future.copy()
    if group == "festival":
        f["festival_intensity"] = 0.0
        f["in_pre_window"] = 0.0
        f["in_post_window"] = 0.0
        f["days_to_next_festival"] = 60.0
        f["days_since_last_festival"] = 60.0
    elif group == "weather":       # the city's average weather over the year
        for col in ("temp_c", "rainfall_mm", "humidity"):
            f[col] = f.groupby("city", dropna=False)[col].transform("mean") \
                if "city" in f else f[col].mean()
        f["temp_anom"] = 0.0
        f["rain_anom"] = 0.0
        f["weather_resp"] = weather_response(f["category"], f["temp_c"])
    elif group == "price":
        f["price_ratio"] = 1.0
        f["discount_depth"] = 0.0
        f["promo_flag"] = 0
        f["price_index"] = 1.0
    elif group == "recent_demand":  # recent demand replaced by the series' long-run mean
        level = f["expanding_mean"]
        for col in ("lag_h", "roll_mean_7", "roll_mean_28", "roll_mean_91", "roll_mean_4",
                    "roll_mean_13", "roll_mean_26", "same_dow_mean"):
            if col in f:
                f[col] = level
        f["momentum"] = 1.0
    return f


def driver_frame(model, future: pd.DataFrame) -> pd.DataFrame:
    """Drivers for every future row of a fitted LightGBMModel, by ablation: for each group
    g in festival, weather, price, recent_demand, c_g = log f - log f(g neutral), with
    neutral = no festival window / the city's average weather / regular price, no promo /
    the series' long-run mean demand. `base` = log of the series' long-run mean demand and
    trend_seasonality = log f - base - sum of the other groups (calendar, season, trend and
    interactions), so f = exp(base + sum of groups) exactly. Four extra predictions of the
    fitted model; LightGBMModel.contributions gives exact TreeSHAP for a few rows instead
    (it costs ~30 us per row and tree). Also carries the signal values scenarios need
    (festival_uplift, temp_c, rainfall_mm, planned_price)."""
    eps = 0.05
    full = model.predict(0, future)["forecast"].to_numpy(dtype=float)
    out = future[KEYS + ["date"]].copy().reset_index(drop=True)
    logf = np.log(full + eps)
    total = np.zeros(len(future))
    for g in ("festival", "weather", "price", "recent_demand"):
        alt = model.predict(0, _neutral(future, g))["forecast"].to_numpy(dtype=float)
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


def _within(df: pd.DataFrame, cols: list[str], group: pd.Series) -> pd.DataFrame:
    return df[cols] - df[cols].groupby(group).transform("mean")


def estimate_response(history: pd.DataFrame, signals=None, min_obs: int = 200,
                      shrink_days: float = 30.0) -> ResponseCurves:
    """Per-category and per-SKU response coefficients from history (see module doc).
    `history` may already carry temp_anom / rain_anom (e.g. a feature panel); otherwise
    they are joined from `signals` (weather per PIN via its city)."""
    from engine.forecast.features import normalize_history
    from engine.signals.weather import weather_for

    h = history.copy()
    if "temp_anom" not in h:
        base = normalize_history(h)
        extra = [c for c in ("category",) if c in h]
        h = base.join(h[extra]) if extra else base
        wx = weather_for(h[["pin_code", "date"]], getattr(signals, "weather", None),
                         getattr(signals, "locations", None))
        h["temp_anom"] = wx["temp_anom"].to_numpy()
        h["rain_anom"] = wx["rain_anom"].to_numpy()
    if "category" not in h and signals is not None and signals.skus is not None:
        h["category"] = h["sku_id"].map(signals.skus.set_index("sku_id")["category"])
    h = h[(h["quantity"] > 0)].copy()
    reg = h["regular_price"].fillna(h["price"])
    h["log_rel_price"] = np.log((h["price"].fillna(reg) / reg).clip(0.2, 5)).fillna(0.0)
    h["promo_f"] = h["promo"].astype(float) if "promo" in h else 0.0
    h["temp_anom"] = h["temp_anom"].fillna(0.0)
    h["rain_anom"] = h["rain_anom"].fillna(0.0)
    h["logq"] = np.log(h["quantity"])
    h["fe"] = (h["sku_id"] + "|" + h["pin_code"] + "|"
               + pd.to_datetime(h["date"]).dt.strftime("%Y-%m"))
    cols = ["logq", "log_rel_price", "promo_f", "temp_anom", "rain_anom"]
    w = _within(h, cols, h["fe"])
    w["category"] = h["category"].fillna("unknown").to_numpy()
    w["sku_id"] = h["sku_id"].to_numpy()
    disc = (h["log_rel_price"] < -0.01)
    cat_rows, beta_of = [], {}
    for cat, part in w.groupby("category"):
        X = part[["log_rel_price", "promo_f", "temp_anom", "rain_anom"]].to_numpy()
        keep = X.std(axis=0) > 1e-9
        if keep[0] and keep[1] and abs(np.corrcoef(X[:, 0], X[:, 1])[0, 1]) > 0.9:
            keep[1] = False   # promo = a price cut here: the price term carries its effect
        beta = np.zeros(4)
        if len(part) >= min_obs and keep.any():
            beta[keep] = np.linalg.lstsq(X[:, keep], part["logq"].to_numpy(), rcond=None)[0]
        d = -h.loc[part.index, "log_rel_price"][disc.loc[part.index]]
        typical = float(1 - np.exp(-d.median())) if len(d) else 0.1
        beta_of[cat] = beta
        cat_rows.append({"category": cat, "elasticity": beta[0], "promo_coef": beta[1],
                         "temp_coef": beta[2], "rain_coef": beta[3],
                         "typical_discount": typical, "n_obs": len(part)})
    category = pd.DataFrame(cat_rows)
    sku_rows = []
    for sku, part in w.groupby("sku_id"):
        cat = part["category"].iloc[0]
        b = beta_of.get(cat, np.zeros(4))
        resid = part["logq"] - part[["promo_f", "temp_anom", "rain_anom"]].to_numpy() @ b[1:]
        x = part["log_rel_price"].to_numpy()
        n_disc = int(disc.loc[part.index].sum())
        own = float(x @ resid / (x @ x)) if x @ x > 1e-9 else b[0]
        k = n_disc / (n_disc + shrink_days)
        sku_rows.append({"sku_id": sku, "category": cat, "elasticity": k * own + (1 - k) * b[0],
                         "n_discount_days": n_disc})
    return ResponseCurves(sku=pd.DataFrame(sku_rows), category=category)


def scenario(base: pd.DataFrame, response: ResponseCurves, cfg: ScenarioConfig
             ) -> pd.DataFrame:
    """Baseline and scenario demand per row of `base` (sku_id, pin_code, date, forecast,
    optional lo, hi, category, festival_uplift). Adds: baseline, scenario, delta_units,
    multiplier (the product of the factors in the module doc)."""
    out = base.copy()
    cat = out["category"] if "category" in out else out["sku_id"].map(
        response.sku.set_index("sku_id")["category"])
    cats = response.category.set_index("category")
    el = out["sku_id"].map(response.sku.set_index("sku_id")["elasticity"])
    el = el.fillna(cat.map(cats["elasticity"])).fillna(0.0).to_numpy(dtype=float)
    coef = {c: cat.map(cats[c]).fillna(0.0).to_numpy(dtype=float)
            for c in ("promo_coef", "temp_coef", "rain_coef", "typical_discount")}
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
