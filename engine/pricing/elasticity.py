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
* Specification uncertainty: the slope is refitted at the two ends of the NB family
  (Poisson PML and the log-scale end, engine.pricing.pml) from its own fit; the larger gap
  (`spec_se`) joins the sampling variance wherever the estimate's uncertainty is used
  (pooling weights, the spread between SKUs, the interval). Sufficiency reads the sampling
  standard error alone: the gap says the model fits some weeks worse, not that the price
  moves are too few.
* Empirical-Bayes partial pooling: within each category the SKU estimates are shrunk
  towards the precision-weighted category mean, with the between-SKU variance estimated by
  Paule-Mandel (engine.pricing.pooling). Thin SKUs borrow strength; precise ones barely move.
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

from engine.errors import MicroPulseError
from engine.pricing.fits import FitRules, sku_estimates
from engine.pricing.panel import CategoryPanel, PanelContext, build_panels
from engine.pricing.pooling import Pooling

Z95 = 1.959963984540054


class PricingError(MicroPulseError):
    """A pricing problem a category manager can act on."""

    code = "pricing_error"


class InsufficientPriceVariationError(PricingError):
    """No SKU has enough price movement to estimate an elasticity from."""

    code = "insufficient_price_variation"


@dataclass(frozen=True)
class ElasticityConfig:
    min_price_periods: int = 14     # days / weeks with a move the comparison group lacked
    price_step: float = 0.02        # what counts as a price move (2%)
    min_price_sd: float = 0.01      # spread of those moves (log price, net of the effects)
    max_se: float = 0.6             # a raw estimate less precise than this is not used
    max_iter: int = 50
    tol: float = 1e-2               # Newton decrement (deviance units) that ends a fit
    shrink: bool = True
    lagged_price: bool = False      # the previous period's price as a control (post-deal dip)

    def rules(self) -> FitRules:
        return FitRules(self.min_price_periods, self.price_step, self.min_price_sd,
                        self.max_se, self.max_iter, self.tol, self.lagged_price)


@dataclass(frozen=True)
class PanelInputs:
    """Long frames the estimator needs (see engine.pricing.inputs.load_panel_inputs)."""
    sales: pd.DataFrame        # sku_id, pin_code, date, quantity, price, regular_price
    #                            (+ promo, feature, display, tpr when the data has them)
    skus: pd.DataFrame         # sku_id, category (+ subcategory for cross-price)
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
RAW_COLUMNS = ["sku_id", "category", "raw_elasticity", "raw_se", "spec_se", "n_obs",
               "price_periods", "price_sd", "n_pins", "units", "converged", "fe",
               "identified", "spec", "unit"]


def fit_raw_elasticities(inputs: PanelInputs, cfg: ElasticityConfig = ElasticityConfig()
                         ) -> pd.DataFrame:
    """Unpooled elasticity per SKU: sku_id, category, raw_elasticity, raw_se, the design
    used (`fe` own / category / none, `spec`) and the price-variation statistics."""
    _, panels = category_panels(inputs)
    rules = cfg.rules()
    rows: list[dict] = []
    with threadpool_limits(1):               # small matrices: BLAS threads only contend
        for panel in panels:
            rows += sku_estimates(panel, rules)
    return pd.DataFrame(rows, columns=RAW_COLUMNS)


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


def pool_elasticities(raw: pd.DataFrame, cfg: ElasticityConfig = ElasticityConfig()
                      ) -> pd.DataFrame:
    """Flag sufficiency, shrink each estimate towards its category's mean, itself shrunk
    towards the mean of all categories (engine.pricing.pooling), attach 95% intervals."""
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
    pool = Pooling(good.assign(raw_se=np.sqrt(good["raw_se"] ** 2 + good["spec_se"] ** 2)))
    est, se_post, method, note, spec, cat_mean = [], [], [], [], [], []
    for row in out.itertuples(index=False):
        prior = pool.prior(row.category)
        cat_mean.append(prior.mean)
        where = (f"category mean ({prior.n} SKUs)" if prior.where == "category"
                 else "mean of all categories")
        v_own = row.raw_se ** 2 + row.spec_se ** 2
        if row.sufficient and cfg.shrink and prior.df > 2:
            post, var, pull = pool.posterior(row.raw_elasticity, v_own, prior)
            m = "pml+eb"
            nt = f"own estimate shrunk {pull:.0%} towards the {where}"
            sp = f"{row.spec}, eb-shrunk {pull:.0%}"
        elif row.sufficient:
            post, var, m, sp = row.raw_elasticity, v_own, "pml", row.spec
            nt = "own estimate" + ("" if not cfg.shrink else
                                   " (too few SKUs with an estimate to learn how far they "
                                   "spread, so not shrunk)")
        else:
            post, var = prior.mean, pool.predictive_var(prior)
            m = "category_fallback"
            nt = f"{_why_insufficient(row, cfg)}; using the {where}"
            sp = f"{prior.where} value (eb mean of {prior.n} SKUs)"
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
