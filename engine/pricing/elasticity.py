"""Own-price elasticity per SKU from the daily sales history.

Method (one Poisson pseudo-maximum-likelihood fit per SKU, then shrinkage by category):

* The panel is every active SKU x PIN x day (from the series' first to its last sale),
  with the days the warehouse does not list filled with zero units (their price is that
  day's price at the SKU's other PINs, else the last known one). PPML on these counts gives
  the elasticity directly as the coefficient on log(price / reference), reference = the
  SKU's latest regular price (a constant per SKU, so promotions AND regular-price changes
  both identify it), and is consistent under any over-dispersion.
* Controls: PIN fixed effects, day of week, yearly Fourier terms, a linear trend,
  log(festival uplift) for the row's state/category/date, and temperature (with its square)
  and rainfall for the row's city.
* Standard errors are cluster-robust by date (days share shocks across PINs).
* Empirical-Bayes partial pooling: within each category the SKU estimates are shrunk
  towards the precision-weighted category mean, with the between-SKU variance estimated by
  DerSimonian-Laird (closed form). Thin SKUs borrow strength; precise ones barely move.
* A SKU with too little price variation (few discounted days, tiny spread) is flagged
  `sufficient = False` and gets the category value and its predictive interval instead.

All functions are pure: frames in, frames out.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

Z95 = 1.959963984540054


class PricingError(Exception):
    """A pricing problem a category manager can act on."""


class InsufficientPriceVariationError(PricingError):
    """No SKU has enough price movement to estimate an elasticity from."""


@dataclass(frozen=True)
class ElasticityConfig:
    min_price_days: int = 14        # days priced >= `price_step` away from the usual price
    price_step: float = 0.02        # what counts as a price move (2%)
    min_price_sd: float = 0.01      # spread of log(price / regular) over the panel
    max_se: float = 0.6             # a raw estimate less precise than this is not used
    fourier_order: int = 3
    max_iter: int = 30
    tol: float = 1e-9
    shrink: bool = True


@dataclass(frozen=True)
class PanelInputs:
    """Long frames the estimator needs (see engine.pricing.inputs.load_pricing_inputs)."""
    sales: pd.DataFrame        # sku_id, pin_code, date, quantity, price, regular_price
    skus: pd.DataFrame         # sku_id, category
    locations: pd.DataFrame    # pin_code, state, city
    weather: pd.DataFrame | None = None    # city, date, temp_c, rainfall_mm
    festival: pd.DataFrame | None = None   # date, state, category, factor


# ----------------------------------------------------------------------------------------
# Poisson PPML with cluster-robust covariance
# ----------------------------------------------------------------------------------------
def ppml(y: np.ndarray, X: np.ndarray, groups: np.ndarray, clusters: np.ndarray,
         max_iter: int = 30, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, bool]:
    """Poisson PPML with one absorbed fixed effect per `groups` value (the PIN).

    Newton on the concentrated likelihood: given beta, each group's effect is closed form,
    log(sum y / sum exp(X beta)); the Hessian uses X demeaned within groups (mu-weighted).
    Returns (beta, covariance clustered on `clusters`, converged). `groups` and `clusters`
    are integer codes starting at 0.
    """
    n, k = X.shape
    n_g = int(groups.max()) + 1
    y_g = np.bincount(groups, weights=y, minlength=n_g)
    usable = y_g[groups] > 0                 # an all-zero group carries no information
    y, X, groups, clusters = y[usable], X[usable], groups[usable], clusters[usable]
    y_g = np.bincount(groups, weights=y, minlength=n_g)
    pos = y > 0
    ylogy = np.sum(y[pos] * np.log(y[pos]))

    def fitted(beta):
        eta = np.clip(X @ beta, -30, 30)
        e = np.exp(eta)
        s = np.bincount(groups, weights=e, minlength=n_g)
        alpha = np.log(np.where(y_g > 0, y_g, 1.0)) - np.log(np.where(s > 0, s, 1.0))
        return e * np.exp(alpha)[groups]

    def deviance(mu):
        return 2 * (ylogy - np.sum(y[pos] * np.log(mu[pos])) - np.sum(y - mu))

    def demeaned(mu):
        w = np.bincount(groups, weights=mu, minlength=n_g)
        w = np.where(w > 0, w, 1.0)
        means = np.column_stack([np.bincount(groups, weights=X[:, j] * mu, minlength=n_g)
                                 for j in range(k)]) / w[:, None]
        return X - means[groups]

    beta = np.zeros(k)
    mu = fitted(beta)
    dev = deviance(mu)
    converged = False
    for _ in range(max_iter):
        Xd = demeaned(mu)
        grad = Xd.T @ (y - mu)
        hess = (Xd * mu[:, None]).T @ Xd
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        while True:                          # step-halving keeps the deviance falling
            cand = beta + t * step
            mu_c = fitted(cand)
            dev_c = deviance(mu_c)
            if dev_c <= dev + 1e-9 * abs(dev) or t < 1e-3:
                break
            t /= 2
        beta, mu = cand, mu_c
        done = abs(dev - dev_c) <= tol * (abs(dev_c) + 1.0)
        dev = dev_c
        if done:
            converged = True
            break
    Xd = demeaned(mu)
    bread = np.linalg.pinv((Xd * mu[:, None]).T @ Xd)
    scores = Xd * (y - mu)[:, None]
    n_c = int(clusters.max()) + 1
    summed = np.column_stack([np.bincount(clusters, weights=scores[:, j], minlength=n_c)
                              for j in range(k)])
    g = int(np.count_nonzero(np.bincount(clusters, minlength=n_c)))
    meat = summed.T @ summed * (g / max(g - 1, 1))
    return beta, bread @ meat @ bread, converged


# ----------------------------------------------------------------------------------------
# Panel construction (numpy, one SKU at a time)
# ----------------------------------------------------------------------------------------
def _fourier(day_of_year: np.ndarray, order: int) -> np.ndarray:
    w = 2 * np.pi * day_of_year / 365.25
    cols = []
    for k in range(1, order + 1):
        cols += [np.sin(k * w), np.cos(k * w)]
    return np.column_stack(cols) if cols else np.empty((len(day_of_year), 0))


class _Context:
    """Date-indexed matrices shared by every SKU (weather by city, festival by key)."""

    def __init__(self, inputs: PanelInputs, cfg: ElasticityConfig):
        self.price_step = cfg.price_step
        sales = inputs.sales
        self.dates = pd.date_range(sales["date"].min(), sales["date"].max(), freq="D")
        self.n_days = len(self.dates)
        d = self.dates
        years = (d - d[0]).days.to_numpy() / 365.25
        dow = np.eye(7)[d.dayofweek.to_numpy()][:, 1:]
        self.time_block = np.column_stack([dow, _fourier(d.dayofyear.to_numpy(), cfg.fourier_order),
                                           years - years.mean()])
        loc = inputs.locations.drop_duplicates("pin_code").set_index("pin_code")
        self.pin_state = loc["state"].to_dict() if "state" in loc else {}
        self.pin_city = loc["city"].to_dict() if "city" in loc else {}
        self.weather: dict[str, np.ndarray] = {}
        if inputs.weather is not None and len(inputs.weather):
            w = inputs.weather.copy()
            w["date"] = pd.to_datetime(w["date"])
            for city, grp in w.groupby("city"):
                g = grp.set_index("date").reindex(self.dates)
                temp = g["temp_c"].interpolate(limit_direction="both").to_numpy(dtype=float)
                rain = g["rainfall_mm"].fillna(0.0).to_numpy(dtype=float) \
                    if "rainfall_mm" in g else np.zeros(self.n_days)
                if np.isnan(temp).all():
                    continue
                self.weather[city] = np.column_stack([temp, rain])
        self.festival: dict[tuple[str, str], np.ndarray] = {}
        if inputs.festival is not None and len(inputs.festival):
            f = inputs.festival.copy()
            f["date"] = pd.to_datetime(f["date"])
            pos = self.dates.get_indexer(f["date"])
            f = f.assign(_pos=pos)[pos >= 0]
            for (state, cat), grp in f.groupby(["state", "category"]):
                arr = np.zeros(self.n_days)
                arr[grp["_pos"].to_numpy()] = np.log(np.clip(grp["factor"].to_numpy(float), 1e-3, None))
                self.festival[(state, cat)] = arr


def _sku_design(sku_sales: pd.DataFrame, category: str, ctx: _Context
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict] | None:
    """y, X (column 0 = log relative price), PIN codes, day codes and stats for one SKU."""
    pins = np.sort(sku_sales["pin_code"].unique())
    p_idx = np.searchsorted(pins, sku_sales["pin_code"].to_numpy())
    d_idx = ctx.dates.get_indexer(sku_sales["date"])
    P, D = len(pins), ctx.n_days
    qty = np.zeros((P, D))
    qty[p_idx, d_idx] = sku_sales["quantity"].to_numpy(float)
    # Price relative to one constant per SKU (its latest regular price), so both
    # promotions and regular-price changes identify the response.
    last = sku_sales["date"] == sku_sales["date"].max()
    regular = sku_sales["regular_price"].where(sku_sales["regular_price"] > 0, sku_sales["price"])
    ref = float(np.nanmedian(regular[last].to_numpy(float)))
    rel = np.full((P, D), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = sku_sales["price"].to_numpy(float) / ref
    rel[p_idx, d_idx] = np.where(np.isfinite(r) & (r > 0), r, np.nan)
    # Zero-sale days carry no price: use that day's price at the SKU's other PINs, then
    # carry the last known price forward (and the first one backward).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        day_price = np.nanmedian(rel, axis=0)
    rel = np.where(np.isnan(rel), day_price[None, :], rel)
    rel = pd.DataFrame(rel.T).ffill().bfill().to_numpy().T
    rel = np.where(np.isnan(rel), 1.0, rel)
    # active window per series: first to last sale
    active = np.zeros((P, D), dtype=bool)
    sold = qty > 0
    first = sold.argmax(axis=1)
    last = D - 1 - sold[:, ::-1].argmax(axis=1)
    for i in range(P):
        active[i, first[i]:last[i] + 1] = True
    keep = active.ravel()
    n = int(keep.sum())
    if n < 30:
        return None
    log_rel = np.log(rel)
    cols = [log_rel]
    time_cols = [np.broadcast_to(ctx.time_block[:, j][None, :], (P, D)) for j in range(ctx.time_block.shape[1])]
    cols += time_cols
    fest = np.zeros((P, D))
    temp = np.full((P, D), np.nan)
    rain = np.zeros((P, D))
    for i, pin in enumerate(pins):
        state = ctx.pin_state.get(pin)
        if (state, category) in ctx.festival:
            fest[i] = ctx.festival[(state, category)]
        wx = ctx.weather.get(ctx.pin_city.get(pin))
        if wx is not None:
            temp[i], rain[i] = wx[:, 0], wx[:, 1]
    if np.any(fest != 0):
        cols.append(fest)
    if not np.isnan(temp).all():
        tmean = np.nanmean(temp)
        temp = np.where(np.isnan(temp), tmean, temp) - tmean
        cols += [temp / 10.0, (temp / 10.0) ** 2, rain / 10.0]
    X = np.column_stack([c.ravel()[keep] for c in cols])
    y = qty.ravel()[keep]
    clusters = np.broadcast_to(np.arange(D)[None, :], (P, D)).ravel()[keep]
    groups = np.broadcast_to(np.arange(P)[:, None], (P, D)).ravel()[keep]
    lr = log_rel.ravel()[keep]
    typical = np.median(lr)
    moved = np.abs(lr - typical) >= np.log1p(ctx.price_step)
    moved_days = np.unique(clusters[moved]).size
    stats = {"n_obs": n, "price_days": int(moved_days), "price_sd": float(lr.std()),
             "n_pins": int(P), "units": float(y.sum())}
    return y, X, groups, clusters, stats


# ----------------------------------------------------------------------------------------
# Estimation
# ----------------------------------------------------------------------------------------
def fit_raw_elasticities(inputs: PanelInputs, cfg: ElasticityConfig = ElasticityConfig()
                         ) -> pd.DataFrame:
    """Unpooled PPML elasticity per SKU: sku_id, category, raw_elasticity, raw_se, stats."""
    sales = inputs.sales.copy()
    sales["date"] = pd.to_datetime(sales["date"])
    if sales.empty:
        raise PricingError("There are no sales to estimate price elasticity from.")
    ctx = _Context(PanelInputs(sales, inputs.skus, inputs.locations, inputs.weather,
                               inputs.festival), cfg)
    cats = inputs.skus.drop_duplicates("sku_id").set_index("sku_id")["category"].to_dict()
    with threadpool_limits(1):               # small matrices: BLAS threads only contend
        rows = [_fit_one(sku_id, grp, cats.get(sku_id, "Unknown"), ctx, cfg)
                for sku_id, grp in sales.groupby("sku_id", sort=True)]
    return pd.DataFrame(rows)


def _fit_one(sku_id: str, grp: pd.DataFrame, category: str, ctx: _Context,
             cfg: ElasticityConfig) -> dict:
    design = _sku_design(grp, category, ctx)
    if design is None:
        return {"sku_id": sku_id, "category": category, "raw_elasticity": np.nan,
                "raw_se": np.nan, "n_obs": int(len(grp)), "price_days": 0, "price_sd": 0.0,
                "n_pins": grp["pin_code"].nunique(), "units": float(grp["quantity"].sum()),
                "converged": False}
    y, X, groups, clusters, stats = design
    if stats["price_sd"] < 1e-9:
        beta0, se0, ok = np.nan, np.nan, False
    else:
        beta, cov, ok = ppml(y, X, groups, clusters, cfg.max_iter, cfg.tol)
        beta0, se0 = float(beta[0]), float(np.sqrt(max(cov[0, 0], 0.0)))
    return {"sku_id": sku_id, "category": category, "raw_elasticity": beta0,
            "raw_se": se0, **stats, "converged": bool(ok)}


def _dersimonian_laird(b: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Category mean, its variance, and the between-SKU variance tau^2."""
    w = 1.0 / se ** 2
    k = len(b)
    mu_fe = np.sum(w * b) / np.sum(w)
    if k < 2:
        return float(mu_fe), float(1.0 / np.sum(w)), 0.0
    q = np.sum(w * (b - mu_fe) ** 2)
    denom = np.sum(w) - np.sum(w ** 2) / np.sum(w)
    tau2 = max(0.0, (q - (k - 1)) / denom) if denom > 0 else 0.0
    w_re = 1.0 / (se ** 2 + tau2)
    mu = np.sum(w_re * b) / np.sum(w_re)
    return float(mu), float(1.0 / np.sum(w_re)), float(tau2)


def pool_elasticities(raw: pd.DataFrame, cfg: ElasticityConfig = ElasticityConfig()
                      ) -> pd.DataFrame:
    """Flag sufficiency, shrink towards the category mean, attach 95% intervals."""
    out = raw.copy()
    out["sufficient"] = (
        out["raw_elasticity"].notna() & out["raw_se"].gt(0)
        & (out["price_days"] >= cfg.min_price_days)
        & (out["price_sd"] >= cfg.min_price_sd)
        & (out["raw_se"] <= cfg.max_se)
    )
    good = out[out["sufficient"]]
    if good.empty:
        raise InsufficientPriceVariationError(
            "No SKU has enough price variation to estimate an elasticity: every SKU needs at "
            f"least {cfg.min_price_days} days priced {cfg.price_step:.0%} or more away from "
            "its usual price (promotions or price changes). Load a longer sales history "
            "that includes promotions."
        )
    overall = _dersimonian_laird(good["raw_elasticity"].to_numpy(), good["raw_se"].to_numpy())
    cat_stats = {}
    for cat, grp in good.groupby("category"):
        cat_stats[cat] = _dersimonian_laird(grp["raw_elasticity"].to_numpy(), grp["raw_se"].to_numpy())
    est, lo, hi, se_post, method, note, cat_mean = [], [], [], [], [], [], []
    for row in out.itertuples(index=False):
        mu, var_mu, tau2 = cat_stats.get(row.category, overall)
        pooled_from = "category" if row.category in cat_stats else "all categories"
        cat_mean.append(mu)
        if row.sufficient:
            b, s2 = row.raw_elasticity, row.raw_se ** 2
            if cfg.shrink and tau2 > 0:
                shrink = s2 / (s2 + tau2)
                post = (1 - shrink) * b + shrink * mu
                var = tau2 * shrink + shrink ** 2 * var_mu
                m, nt = "ppml+eb", f"own estimate shrunk {shrink:.0%} towards the {pooled_from} mean"
            elif cfg.shrink:
                post, var = mu, var_mu
                m, nt = "ppml+eb", f"SKUs in the {pooled_from} share one elasticity (no spread detected)"
            else:
                post, var = b, s2
                m, nt = "ppml", "own estimate"
        else:
            post, var = mu, tau2 + var_mu
            m = "category_fallback"
            if row.price_days < cfg.min_price_days:
                why = f"only {row.price_days} days with a price move"
            elif row.price_sd < cfg.min_price_sd:
                why = f"too little price spread ({row.price_sd:.1%})"
            else:
                why = f"own estimate too noisy (standard error {row.raw_se:.2f})"
            nt = f"{why}; using the {pooled_from} value"
        s = float(np.sqrt(var))
        est.append(post)
        se_post.append(s)
        lo.append(post - Z95 * s)
        hi.append(post + Z95 * s)
        method.append(m)
        note.append(nt)
    out["elasticity"] = est
    out["se"] = se_post
    out["lo"] = lo
    out["hi"] = hi
    out["method"] = method
    out["note"] = note
    out["category_elasticity"] = cat_mean
    cols = ["sku_id", "category", "elasticity", "lo", "hi", "se", "n_obs", "method",
            "sufficient", "price_days", "price_sd", "raw_elasticity", "raw_se",
            "category_elasticity", "n_pins", "units", "note"]
    return out[cols].sort_values("sku_id").reset_index(drop=True)


def estimate_elasticities(inputs: PanelInputs, cfg: ElasticityConfig = ElasticityConfig()
                          ) -> pd.DataFrame:
    """Own-price elasticity per SKU with 95% interval, sufficiency flag and method."""
    return pool_elasticities(fit_raw_elasticities(inputs, cfg), cfg)
