"""Own-price elasticity per SKU x region, shrunk towards the SKU's national value.

For every SKU the national panel (engine.pricing.elasticity._sku_design: PIN fixed
effects, day of week, yearly Fourier terms, trend, festival and weather controls) is built
once and split by the region of each PIN (`locations.region`: North, South, East, West,
...). One PPML is fitted per SKU x region cell that passes every data-sufficiency rule in
`RegionalConfig`:

* at least `min_obs` SKU x PIN x day rows in the region's active panel (default 180, about
  six months of one store),
* at least `min_price_days` days priced `price_step` or more away from the usual price
  (default 14 days, 2%), and a spread of log relative price >= `min_price_sd` (1%),
* a raw standard error no larger than `max_se` (0.6).

Empirical-Bayes shrinkage (same closed form as the category shrinkage): within a SKU the
between-region variance tau^2 is estimated by DerSimonian-Laird over its sufficient
regions, and each regional estimate b (standard error s) is pulled towards the SKU's
national estimate m (standard error s_m) by B = s^2 / (s^2 + tau^2):
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
                                       _Context, _dersimonian_laird, _sku_design,
                                       estimate_elasticities, ppml)

REGIONAL_COLUMNS = ["sku_id", "region", "elasticity", "lo", "hi", "n_obs", "method",
                    "sufficient", "note", "category", "se", "price_days", "price_sd",
                    "raw_elasticity", "raw_se", "national_elasticity", "n_pins", "units"]


@dataclass(frozen=True)
class RegionalConfig:
    min_obs: int = 180              # SKU x PIN x day rows in the region's active panel
    min_price_days: int = 14        # days priced >= price_step away from the usual price
    min_price_sd: float = 0.01      # spread of log(price / reference) in the region
    max_se: float = 0.6             # a noisier raw estimate is not used
    shrink: bool = True


def _cell_stats(lr: np.ndarray, days: np.ndarray, step: float) -> tuple[int, float]:
    typical = np.median(lr)
    moved = np.abs(lr - typical) >= np.log1p(step)
    return int(np.unique(days[moved]).size), float(lr.std())


def fit_raw_regional(inputs: PanelInputs, cfg: RegionalConfig = RegionalConfig(),
                     ecfg: ElasticityConfig = ElasticityConfig()) -> pd.DataFrame:
    """Unpooled PPML elasticity per SKU x region with the statistics the rules use."""
    if "region" not in inputs.locations.columns:
        raise PricingError("Regional elasticities need a region for each PIN code "
                           "(locations.region); none is loaded.")
    sales = inputs.sales.copy()
    if sales.empty:
        raise PricingError("There are no sales to estimate price elasticity from.")
    sales["date"] = pd.to_datetime(sales["date"])
    region_of = (inputs.locations.dropna(subset=["region"]).drop_duplicates("pin_code")
                 .set_index("pin_code")["region"].astype(str).to_dict())
    sales = sales[sales["pin_code"].isin(region_of.keys())]
    ctx = _Context(PanelInputs(sales, inputs.skus, inputs.locations, inputs.weather,
                               inputs.festival), ecfg)
    cats = inputs.skus.drop_duplicates("sku_id").set_index("sku_id")["category"].to_dict()
    rows: list[dict] = []
    with threadpool_limits(1):
        for sku_id, grp in sales.groupby("sku_id", sort=True):
            rows += _fit_sku_regions(sku_id, grp, cats.get(sku_id, "Unknown"), region_of,
                                     ctx, cfg, ecfg)
    return pd.DataFrame(rows)


def _fit_sku_regions(sku_id: str, grp: pd.DataFrame, category: str, region_of: dict,
                     ctx: _Context, cfg: RegionalConfig, ecfg: ElasticityConfig) -> list[dict]:
    pins = np.sort(grp["pin_code"].unique())           # the group order _sku_design uses
    group_region = np.array([region_of[p] for p in pins])
    design = _sku_design(grp, category, ctx)
    out = []
    for region in np.unique(group_region):
        in_region = group_region == region
        row = {"sku_id": sku_id, "region": str(region), "category": category,
               "raw_elasticity": np.nan, "raw_se": np.nan, "n_obs": 0, "price_days": 0,
               "price_sd": 0.0, "n_pins": int(in_region.sum()), "units": 0.0}
        if design is None:
            row["units"] = float(grp.loc[grp["pin_code"].isin(pins[in_region]), "quantity"].sum())
        else:
            y, X, groups, clusters, _ = design
            mask = in_region[groups]
            row["n_obs"] = int(mask.sum())
            row["units"] = float(y[mask].sum())
            if row["n_obs"]:
                row["price_days"], row["price_sd"] = _cell_stats(X[mask, 0], clusters[mask],
                                                                 ecfg.price_step)
            if (row["n_obs"] >= cfg.min_obs and row["price_days"] >= cfg.min_price_days
                    and row["price_sd"] >= cfg.min_price_sd):
                beta, cov, _ = ppml(y[mask], X[mask], groups[mask], clusters[mask],
                                    ecfg.max_iter, ecfg.tol)
                row["raw_elasticity"] = float(beta[0])
                row["raw_se"] = float(np.sqrt(max(cov[0, 0], 0.0)))
        out.append(row)
    return out


def _why_insufficient(row, cfg: RegionalConfig) -> str:
    if row.n_obs < cfg.min_obs:
        return f"only {row.n_obs} store-days in the region (needs {cfg.min_obs})"
    if row.price_days < cfg.min_price_days:
        return f"only {row.price_days} days with a price move (needs {cfg.min_price_days})"
    if row.price_sd < cfg.min_price_sd:
        return f"too little price spread ({row.price_sd:.1%})"
    return f"regional estimate too noisy (standard error {row.raw_se:.2f})"


def pool_regional(raw: pd.DataFrame, national: pd.DataFrame,
                  cfg: RegionalConfig = RegionalConfig()) -> pd.DataFrame:
    """Flag sufficiency, shrink each region towards the SKU's national estimate."""
    nat = national.set_index("sku_id")
    out = raw[raw["sku_id"].isin(nat.index)].copy()
    out["sufficient"] = (out["raw_elasticity"].notna() & out["raw_se"].gt(0)
                         & (out["n_obs"] >= cfg.min_obs)
                         & (out["price_days"] >= cfg.min_price_days)
                         & (out["price_sd"] >= cfg.min_price_sd)
                         & (out["raw_se"] <= cfg.max_se))
    tau2 = {}
    for sku_id, grp in out[out["sufficient"]].groupby("sku_id"):
        tau2[sku_id] = _dersimonian_laird(grp["raw_elasticity"].to_numpy(),
                                          grp["raw_se"].to_numpy())[2]
    est, se, method, note = [], [], [], []
    for row in out.itertuples(index=False):
        m, s_m = float(nat.at[row.sku_id, "elasticity"]), float(nat.at[row.sku_id, "se"])
        sku_note = ("the SKU's national value" if nat.at[row.sku_id, "sufficient"]
                    else "the SKU's value (itself its category's value)")
        t2 = tau2.get(row.sku_id, 0.0)
        if not row.sufficient:
            post, var, meth = m, s_m ** 2, "sku_fallback"
            nt = f"{_why_insufficient(row, cfg)}; using {sku_note}"
        elif not cfg.shrink:
            post, var, meth, nt = row.raw_elasticity, row.raw_se ** 2, "ppml", "own regional estimate"
        elif t2 > 0:
            b = row.raw_se ** 2 / (row.raw_se ** 2 + t2)
            post = (1 - b) * row.raw_elasticity + b * m
            var = t2 * b + b ** 2 * s_m ** 2
            meth, nt = "ppml+eb", f"regional estimate shrunk {b:.0%} towards {sku_note}"
        else:
            post, var, meth = m, s_m ** 2, "ppml+eb"
            nt = f"no regional spread detected for this SKU; using {sku_note}"
        est.append(post)
        se.append(float(np.sqrt(var)))
        method.append(meth)
        note.append(nt)
    out["elasticity"] = est
    out["se"] = se
    out["lo"] = out["elasticity"] - Z95 * out["se"]
    out["hi"] = out["elasticity"] + Z95 * out["se"]
    out["method"] = method
    out["note"] = note
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
