"""Own-price elasticity per SKU from the sales history.

Method (engine.pricing.fits has the details; `spec` says which design each SKU got):

* The panel (engine.pricing.panel) keeps the data's grain: weekly rows stay weekly; daily
  rows are filled with zero-sale days within each SKU x PIN's active span.
* Poisson pseudo-maximum likelihood of units on log(price / the SKU's latest regular price)
  with store (SKU x PIN) effects and **common time effects**: the SKU's own week effects
  when its prices differ between stores, else week effects shared with the other SKUs of
  its category (a joint category fit with each SKU's own slope, controls and trend).
  Controls: promotion flags (promo, feature, display, tpr) when the data carries them,
  festival uplift and weather, day of week for daily data. Only price moves the comparison
  group did not make identify the slope, so chain-wide promotion weeks, seasons and shocks
  are not read as price response, and a promotion's display or feature lift is not read as
  a price effect. PPML is consistent under any over-dispersion; standard errors are
  clustered by period.
* Empirical-Bayes partial pooling: within each category the SKU estimates are shrunk
  towards the precision-weighted category mean, with the between-SKU variance estimated by
  DerSimonian-Laird (closed form). Thin SKUs borrow strength; precise ones barely move.
* A SKU with too little price variation of its own (few periods with a move the comparison
  group did not make, tiny spread) or an imprecise estimate is flagged `sufficient = False`
  and gets the category value and its predictive interval instead.

All functions are pure: frames in, frames out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.pricing.fits import FitRules, sku_estimates
from engine.pricing.panel import CategoryPanel, PanelContext, build_panels

Z95 = 1.959963984540054


class PricingError(Exception):
    """A pricing problem a category manager can act on."""


class InsufficientPriceVariationError(PricingError):
    """No SKU has enough price movement to estimate an elasticity from."""


@dataclass(frozen=True)
class ElasticityConfig:
    min_price_periods: int = 14     # days / weeks with a move the comparison group lacked
    price_step: float = 0.02        # what counts as a price move (2%)
    min_price_sd: float = 0.01      # spread of those moves (log price, net of the effects)
    max_se: float = 0.6             # a raw estimate less precise than this is not used
    max_iter: int = 50
    tol: float = 1e-2               # Newton decrement (deviance units) that ends a fit
    shrink: bool = True

    def rules(self) -> FitRules:
        return FitRules(self.min_price_periods, self.price_step, self.min_price_sd,
                        self.max_se, self.max_iter, self.tol)


@dataclass(frozen=True)
class PanelInputs:
    """Long frames the estimator needs (see engine.pricing.inputs.load_panel_inputs)."""
    sales: pd.DataFrame        # sku_id, pin_code, date, quantity, price, regular_price
    #                            (+ promo, feature, display, tpr when the data has them)
    skus: pd.DataFrame         # sku_id, category
    locations: pd.DataFrame    # pin_code, state, city
    weather: pd.DataFrame | None = None    # city, date, temp_c, rainfall_mm
    festival: pd.DataFrame | None = None   # date, state, category, factor


def category_panels(inputs: PanelInputs) -> tuple[PanelContext, list[CategoryPanel]]:
    """The estimation panel of every category with sales (engine.pricing.panel)."""
    if inputs.sales.empty:
        raise PricingError("There are no sales to estimate price elasticity from.")
    return build_panels(inputs.sales, inputs.skus, inputs.locations, inputs.weather,
                        inputs.festival)


# ----------------------------------------------------------------------------------------
# Estimation
# ----------------------------------------------------------------------------------------
RAW_COLUMNS = ["sku_id", "category", "raw_elasticity", "raw_se", "n_obs", "price_periods",
               "price_sd", "n_pins", "units", "converged", "fe", "identified", "spec", "unit"]


def fit_raw_elasticities(inputs: PanelInputs, cfg: ElasticityConfig = ElasticityConfig()
                         ) -> pd.DataFrame:
    """Unpooled PPML elasticity per SKU: sku_id, category, raw_elasticity, raw_se, the
    design used (`fe` own / category / none, `spec`) and the price-variation statistics."""
    _, panels = category_panels(inputs)
    rules = cfg.rules()
    rows: list[dict] = []
    with threadpool_limits(1):               # small matrices: BLAS threads only contend
        for panel in panels:
            rows += sku_estimates(panel, rules)
    return pd.DataFrame(rows, columns=RAW_COLUMNS)


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


def _why_insufficient(row, cfg: ElasticityConfig) -> str:
    unit = row.unit
    if row.price_periods < cfg.min_price_periods:
        return f"only {row.price_periods} {unit}s with a price move of its own"
    if row.price_sd < cfg.min_price_sd:
        return f"too little price spread of its own ({row.price_sd:.1%})"
    if row.fe == "none":
        return ("no comparison for its price moves (it sells at one store, or at the same "
                "price everywhere, and no other SKU of its category sells with it)")
    if not row.identified:
        return ("its price moves are the same as its comparison group's, so the common time "
                "effects absorb them")
    return f"own estimate too noisy (standard error {row.raw_se:.2f})"


POOLED_COLUMNS = ["sku_id", "category", "elasticity", "lo", "hi", "se", "n_obs", "method",
                  "sufficient", "spec", "price_periods", "price_sd", "raw_elasticity",
                  "raw_se", "category_elasticity", "n_pins", "units", "note"]


@dataclass(frozen=True)
class Pooling:
    """Two-level normal model of the sufficient estimates: SKU elasticities scatter around
    their category's mean (within-category variance `tau2_sku`, one for all categories),
    category means around the overall mean `mu` (`tau2_cat`). `category` maps each category
    with an estimate to its mean shrunk towards `mu` and that mean's variance."""
    mu: float
    var_mu: float
    tau2_sku: float
    tau2_cat: float
    df: int                                   # degrees of freedom behind tau2_sku
    category: dict[str, tuple[float, float]]
    spread: dict[str, tuple[float, int]]      # own tau2 and df of categories with >= MIN_OWN


MIN_OWN = 8     # sufficient SKUs a category needs for its own within-category spread
#                 (a variance from fewer estimates is too noisy to trust; below, the pooled one)


def pooling(good: pd.DataFrame) -> Pooling:
    """Moment (DerSimonian-Laird) estimates of the two-level model from the sufficient
    SKUs' raw estimates and standard errors."""
    b, s2 = good["raw_elasticity"].to_numpy(), good["raw_se"].to_numpy() ** 2
    cat = good["category"].to_numpy()
    q = denom = 0.0
    df = 0
    spread = {}
    for c in np.unique(cat):                  # within-category spread, pooled
        mine = cat == c
        w = 1.0 / s2[mine]
        m = np.sum(w * b[mine]) / np.sum(w)
        q_c = np.sum(w * (b[mine] - m) ** 2)
        d_c = np.sum(w) - np.sum(w ** 2) / np.sum(w)
        k = int(mine.sum())
        if k >= MIN_OWN and d_c > 0:
            spread[c] = (max(0.0, (q_c - (k - 1)) / d_c), k - 1)
        q += q_c
        denom += d_c
        df += k - 1
    tau2_sku = max(0.0, (q - df) / denom) if denom > 0 else 0.0
    means, variances, names = [], [], list(np.unique(cat))
    for c in names:                           # category means given tau2_sku
        w = 1.0 / (s2[cat == c] + tau2_sku)
        means.append(np.sum(w * b[cat == c]) / np.sum(w))
        variances.append(1.0 / np.sum(w))
    mu, var_mu, tau2_cat = _dersimonian_laird(np.array(means), np.sqrt(np.array(variances)))
    shrunk = {}
    for c, m, v in zip(names, means, variances):
        pull = v / (v + tau2_cat) if tau2_cat > 0 else 1.0
        shrunk[c] = (m + pull * (mu - m), tau2_cat * pull + pull ** 2 * var_mu)
    return Pooling(mu, var_mu, tau2_sku, tau2_cat, df, shrunk, spread)


def _posterior(b: float, s2: float, mean: float, var_mean: float, tau2: float, df: int
               ) -> tuple[float, float, float]:
    """Empirical-Bayes posterior mean and variance of one estimate pulled towards `mean`
    (itself estimated, variance `var_mean`), and the pull. Morris's (1983) corrections for
    having estimated tau^2 with `df` degrees of freedom: less pull than the plug-in, and a
    wider interval the further the estimate lies from the mean."""
    pull = s2 / (s2 + tau2) * max(df - 2, 0) / max(df, 1)
    post = b + pull * (mean - b)
    var = (s2 * (1 - pull) + pull ** 2 * var_mean
           + (2 / (df - 2) * pull ** 2 * (b - mean) ** 2 if df > 2 else 0.0))
    return post, var, pull


def pool_elasticities(raw: pd.DataFrame, cfg: ElasticityConfig = ElasticityConfig()
                      ) -> pd.DataFrame:
    """Flag sufficiency, shrink each estimate towards its category's mean (itself shrunk
    towards the mean of all categories), attach 95% intervals."""
    out = raw.copy()
    out["sufficient"] = (
        out["raw_elasticity"].notna() & out["raw_se"].gt(0)
        & (out["price_periods"] >= cfg.min_price_periods)
        & (out["price_sd"] >= cfg.min_price_sd)
        & (out["raw_se"] <= cfg.max_se)
    )
    good = out[out["sufficient"]]
    if good.empty:
        unit = str(out["unit"].iat[0]) if len(out) else "day"
        raise InsufficientPriceVariationError(
            "No SKU has enough price variation to estimate an elasticity: every SKU needs at "
            f"least {cfg.min_price_periods} {unit}s priced {cfg.price_step:.0%} or more away "
            "from where its stores or the other SKUs of its category were priced (its own "
            "promotions or price changes). Load a longer sales history that includes "
            "promotions, or more SKUs of the same category."
        )
    pool = pooling(good)
    counts = good["category"].value_counts()
    est, se_post, method, note, spec, cat_mean = [], [], [], [], [], []
    for row in out.itertuples(index=False):
        if row.category in pool.category:
            mean, var_mean = pool.category[row.category]
            where = f"category mean ({int(counts[row.category])} SKUs, shrunk towards all)"
            short = "category"
        else:
            mean, var_mean = pool.mu, pool.tau2_cat + pool.var_mu
            where, short = "mean of all categories", "all categories"
        cat_mean.append(mean)
        tau2, df = pool.spread.get(row.category, (pool.tau2_sku, pool.df))
        if row.sufficient and cfg.shrink and df > 2:
            post, var, pull = _posterior(row.raw_elasticity, row.raw_se ** 2, mean, var_mean,
                                         tau2, df)
            m = "pml+eb"
            nt = f"own estimate shrunk {pull:.0%} towards the {where}"
            sp = f"{row.spec}, eb-shrunk {pull:.0%}"
        elif row.sufficient:
            post, var, m, sp = row.raw_elasticity, row.raw_se ** 2, "pml", row.spec
            nt = "own estimate" + ("" if not cfg.shrink else
                                   " (too few SKUs with an estimate to learn how far they "
                                   "spread, so not shrunk)")
        else:
            post, var = mean, pool.spread.get(row.category, (pool.tau2_sku, 0))[0] + var_mean
            m = "category_fallback"
            nt = f"{_why_insufficient(row, cfg)}; using the {short} value"
            sp = f"{short} value (eb mean)"
        est.append(post)
        se_post.append(float(np.sqrt(var)))
        method.append(m)
        note.append(nt)
        spec.append(sp)
    out["elasticity"] = est
    out["se"] = se_post
    out["lo"] = out["elasticity"] - Z95 * out["se"]
    out["hi"] = out["elasticity"] + Z95 * out["se"]
    out["method"] = method
    out["note"] = note
    out["spec"] = spec
    out["category_elasticity"] = cat_mean
    return out[POOLED_COLUMNS].sort_values("sku_id").reset_index(drop=True)


def estimate_elasticities(inputs: PanelInputs, cfg: ElasticityConfig = ElasticityConfig()
                          ) -> pd.DataFrame:
    """Own-price elasticity per SKU with 95% interval, sufficiency flag, method and the
    specification (`spec`) it came from."""
    return pool_elasticities(fit_raw_elasticities(inputs, cfg), cfg)
