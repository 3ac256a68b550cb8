"""Own-price elasticity per SKU x region, shrunk towards the SKU's national value.

Every SKU x region cell is estimated with the national design (engine.pricing.fits) on
that region's stores only: the SKU's own week effects when its stores in the region are
priced apart, else week effects shared with the category's other SKUs in the region (a
joint fit of the category on the region's stores). A cell is fitted when it passes every
data-sufficiency rule in `RegionalConfig`:

* at least `min_obs` SKU x PIN x period rows in the region (default 180, about six months
  of one store's days),
* at least `min_price_periods` days / weeks with a price move of at least `price_step`
  that its comparison group did not make (default 14, 2%), and a spread of those moves
  >= `min_price_sd` (1%),
* a raw standard error no larger than `max_se` (0.6).

Empirical-Bayes shrinkage towards the SKU: within a SKU the between-region variance tau^2
is estimated by Paule-Mandel over its sufficient regions (engine.pricing.pooling: the
tau^2 at which Q, each region weighted by 1 / (s^2 + tau^2), equals its degrees of
freedom; DerSimonian-Laird's 1 / s^2 weights let the most precise regions decide it), and
each regional estimate b (standard error s) is pulled towards the SKU's national estimate
m (standard error s_m) by B = s^2 / (s^2 + tau^2):
    posterior = (1 - B) b + B m,   variance = tau^2 B + B^2 s_m^2.
No detectable spread (tau^2 = 0) gives every region the SKU value. A cell that fails a
rule is flagged `sufficient = False`, gets the SKU's national value and interval, and its
note says which rule failed (method "sku_fallback").

The national value is correlated with each regional estimate (it uses the same rows);
the closed form ignores that, so regional intervals are slightly conservative.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.pricing.elasticity import (Z95, ElasticityConfig, PanelInputs, PricingError,
                                       category_panels, estimate_elasticities)
from engine.pricing.fits import sku_estimates
from engine.pricing.pooling import paule_mandel

REGIONAL_COLUMNS = ["sku_id", "region", "elasticity", "lo", "hi", "n_obs", "method",
                    "sufficient", "note", "category", "se", "spec", "price_periods",
                    "price_sd", "raw_elasticity", "raw_se", "national_elasticity", "n_pins",
                    "units"]


@dataclass(frozen=True)
class RegionalConfig:
    min_obs: int = 180              # SKU x PIN x period rows in the region's panel
    min_price_periods: int = 14     # periods with a move the comparison group did not make
    min_price_sd: float = 0.01      # spread of those moves (log price)
    max_se: float = 0.6             # a noisier raw estimate is not used
    shrink: bool = True


def fit_raw_regional(inputs: PanelInputs, cfg: RegionalConfig = RegionalConfig(),
                     ecfg: ElasticityConfig = ElasticityConfig()) -> pd.DataFrame:
    """Unpooled elasticity per SKU x region with the statistics the rules use."""
    if "region" not in inputs.locations.columns:
        raise PricingError("Regional elasticities need a region for each PIN code "
                           "(locations.region); none is loaded.")
    region_of = (inputs.locations.dropna(subset=["region"]).drop_duplicates("pin_code")
                 .set_index("pin_code")["region"].astype(str))
    sales = inputs.sales[inputs.sales["pin_code"].isin(region_of.index)]
    if sales.empty:
        raise PricingError("There are no sales to estimate price elasticity from.")
    _, panels = category_panels(PanelInputs(sales, inputs.skus, inputs.locations,
                                            inputs.weather, inputs.festival))
    rules = ecfg.rules()
    rows: list[dict] = []
    with threadpool_limits(1):
        for panel in panels:
            pin_region = region_of.reindex(panel.pins).to_numpy()
            row_region = pin_region[panel.pin]
            for region in sorted(set(pin_region)):
                mine = np.flatnonzero(row_region == region)
                rows += [{**r, "region": region} for r in sku_estimates(panel, rules, mine)]
    return pd.DataFrame(rows)


def _why_insufficient(row, cfg: RegionalConfig) -> str:
    unit = row.unit
    if row.n_obs < cfg.min_obs:
        return f"only {row.n_obs} store-{unit}s in the region (needs {cfg.min_obs})"
    if row.price_periods < cfg.min_price_periods:
        return (f"only {row.price_periods} {unit}s with a price move of its own "
                f"(needs {cfg.min_price_periods})")
    if row.price_sd < cfg.min_price_sd:
        return f"too little price spread of its own ({row.price_sd:.1%})"
    if row.fe == "none" or not row.identified:
        return ("its price moves in the region are the same as its comparison group's, so "
                "the common time effects absorb them")
    return f"regional estimate too noisy (standard error {row.raw_se:.2f})"


def pool_regional(raw: pd.DataFrame, national: pd.DataFrame,
                  cfg: RegionalConfig = RegionalConfig()) -> pd.DataFrame:
    """Flag sufficiency, shrink each region towards the SKU's national estimate."""
    nat = national.set_index("sku_id")
    out = raw[raw["sku_id"].isin(nat.index)].copy()
    out["sufficient"] = (out["raw_elasticity"].notna() & out["raw_se"].gt(0)
                         & (out["n_obs"] >= cfg.min_obs)
                         & (out["price_periods"] >= cfg.min_price_periods)
                         & (out["price_sd"] >= cfg.min_price_sd)
                         & (out["raw_se"] <= cfg.max_se))
    # the uncertainty of each cell's estimate: sampling and specification (see
    # engine.pricing.elasticity); sufficiency reads the sampling error alone
    out["total_se"] = np.sqrt(out["raw_se"] ** 2 + out["spec_se"] ** 2)
    tau2 = {}
    for sku_id, grp in out[out["sufficient"]].groupby("sku_id"):
        tau2[sku_id] = paule_mandel(grp["raw_elasticity"].to_numpy(),
                                    grp["total_se"].to_numpy())
    est, se, method, note, spec = [], [], [], [], []
    for row in out.itertuples(index=False):
        m, s_m = float(nat.at[row.sku_id, "elasticity"]), float(nat.at[row.sku_id, "se"])
        sku_note = ("the SKU's national value" if nat.at[row.sku_id, "sufficient"]
                    else "the SKU's value (itself its category's value)")
        t2 = tau2.get(row.sku_id, 0.0)
        if not row.sufficient:
            post, var, meth = m, s_m ** 2, "sku_fallback"
            nt = f"{_why_insufficient(row, cfg)}; using {sku_note}"
            sp = "SKU's national value"
        elif not cfg.shrink:
            post, var, meth = row.raw_elasticity, row.total_se ** 2, "pml"
            nt = "own regional estimate"
            sp = row.spec
        elif t2 > 0:
            b = row.total_se ** 2 / (row.total_se ** 2 + t2)
            post = (1 - b) * row.raw_elasticity + b * m
            var = t2 * b + b ** 2 * s_m ** 2
            meth, nt = "pml+eb", f"regional estimate shrunk {b:.0%} towards {sku_note}"
            sp = f"{row.spec}, eb-shrunk {b:.0%} towards the SKU"
        else:
            post, var, meth = m, s_m ** 2, "pml+eb"
            nt = f"no regional spread detected for this SKU; using {sku_note}"
            sp = f"{row.spec}, eb-pooled (SKU value)"
        est.append(post)
        se.append(float(np.sqrt(var)))
        method.append(meth)
        note.append(nt)
        spec.append(sp)
    out["elasticity"] = est
    out["se"] = se
    out["lo"] = out["elasticity"] - Z95 * out["se"]
    out["hi"] = out["elasticity"] + Z95 * out["se"]
    out["method"] = method
    out["note"] = note
    out["spec"] = spec
    out["national_elasticity"] = out["sku_id"].map(nat["elasticity"])
    return out[REGIONAL_COLUMNS].sort_values(["sku_id", "region"]).reset_index(drop=True)


def estimate_regional_elasticities(inputs: PanelInputs, national: pd.DataFrame | None = None,
                                   cfg: RegionalConfig = RegionalConfig(),
                                   ecfg: ElasticityConfig = ElasticityConfig()) -> pd.DataFrame:
    """Elasticity per SKU x region (one row per region where the SKU sold): sku_id, region,
    elasticity, lo, hi, n_obs, method, sufficient, note (+ diagnostics). `national` is
    estimate_elasticities' table (computed when not given)."""
    if national is None:
        national = estimate_elasticities(inputs, ecfg)
    return pool_regional(fit_raw_regional(inputs, cfg, ecfg), national, cfg)
