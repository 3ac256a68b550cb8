"""Cross-price elasticity within a subcategory (substitutes).

For every SKU in a subcategory with at least two SKUs, the own-price PPML of
engine.pricing.elasticity (same panel and controls) gets one extra regressor: the average,
over the OTHER SKUs of the subcategory, of their log relative price that day (each SKU's
price over its latest regular price, median across PINs; days it did not sell carry the last
known price). Its coefficient is the SKU's cross-price elasticity: +0.5 means a 10% price
rise at the competitors in the shelf lifts this SKU's units by about 5%. The SKU estimates
are pooled per subcategory (DerSimonian-Laird random-effects mean, closed form) into
`cross_elasticity` with a 95% interval.

`sufficient` is False (and the note says why) when the subcategory has fewer than two SKUs
with an estimate, the others' average price hardly moves (`min_price_sd`), it moves in
lock-step with the SKU's own price (|correlation| > `max_corr`, the two effects cannot be
told apart), or the pooled interval is too wide (`max_se`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.pricing.elasticity import (Z95, ElasticityConfig, PanelInputs, PricingError,
                                       _Context, _dersimonian_laird, _sku_design, ppml)

CROSS_COLUMNS = ["category", "subcategory", "cross_elasticity", "lo", "hi", "se", "n_skus",
                 "sufficient", "note"]


@dataclass(frozen=True)
class CrossConfig:
    min_price_sd: float = 0.01      # spread of the others' average log relative price
    max_corr: float = 0.9           # own vs others' price correlation above this: collinear
    max_se: float = 0.5             # pooled standard error above this: not reported as known


def _daily_log_rel(sales: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """dates x sku_id: log(median price that day / latest regular price), gaps filled."""
    s = sales[["sku_id", "date", "price", "regular_price"]]
    last = s["date"] == s.groupby("sku_id")["date"].transform("max")
    regular = s["regular_price"].where(s["regular_price"] > 0, s["price"])
    ref = regular[last].groupby(s.loc[last, "sku_id"]).median()
    daily = s.groupby(["date", "sku_id"])["price"].median().unstack("sku_id").reindex(dates)
    daily = daily.ffill().bfill()
    return np.log(daily / ref.reindex(daily.columns))


def sku_cross_estimates(inputs: PanelInputs, ecfg: ElasticityConfig = ElasticityConfig()
                        ) -> pd.DataFrame:
    """Per SKU: sku_id, category, subcategory, cross_raw, cross_se, other_sd, corr."""
    if "subcategory" not in inputs.skus.columns:
        raise PricingError("Cross-price elasticity needs each SKU's subcategory in the catalog.")
    sales = inputs.sales.copy()
    if sales.empty:
        raise PricingError("There are no sales to estimate price elasticity from.")
    sales["date"] = pd.to_datetime(sales["date"])
    ctx = _Context(PanelInputs(sales, inputs.skus, inputs.locations, inputs.weather,
                               inputs.festival), ecfg)
    lr = _daily_log_rel(sales, ctx.dates)
    cat = inputs.skus.drop_duplicates("sku_id").set_index("sku_id")
    rows = []
    by_sku = dict(tuple(sales.groupby("sku_id", sort=True)))
    with threadpool_limits(1):
        for (category, sub), members in cat.groupby(["category", "subcategory"]):
            skus = [s for s in members.index if s in by_sku]
            if len(skus) < 2:
                continue
            for sku in skus:
                design = _sku_design(by_sku[sku], category, ctx)
                if design is None:
                    continue
                y, X, groups, clusters, _ = design
                others = lr[[s for s in skus if s != sku]].mean(axis=1).to_numpy()
                other = others[clusters]
                row = {"sku_id": sku, "category": category, "subcategory": sub,
                       "cross_raw": np.nan, "cross_se": np.nan,
                       "other_sd": float(np.std(other)), "corr": np.nan}
                if row["other_sd"] > 1e-9 and np.std(X[:, 0]) > 1e-9:
                    row["corr"] = float(np.corrcoef(X[:, 0], other)[0, 1])
                    beta, cov, _ = ppml(y, np.column_stack([X, other]), groups, clusters,
                                        ecfg.max_iter, ecfg.tol)
                    row["cross_raw"] = float(beta[-1])
                    row["cross_se"] = float(np.sqrt(max(cov[-1, -1], 0.0)))
                rows.append(row)
    return pd.DataFrame(rows, columns=["sku_id", "category", "subcategory", "cross_raw",
                                       "cross_se", "other_sd", "corr"])


def estimate_cross_elasticities(inputs: PanelInputs, cfg: CrossConfig = CrossConfig(),
                                ecfg: ElasticityConfig = ElasticityConfig()) -> pd.DataFrame:
    """One row per subcategory with two or more SKUs: category, subcategory,
    cross_elasticity, lo, hi, se, n_skus, sufficient, note."""
    per_sku = sku_cross_estimates(inputs, ecfg)
    out = []
    for (category, sub), grp in per_sku.groupby(["category", "subcategory"], sort=True):
        usable = grp[grp["cross_se"].gt(0) & (grp["other_sd"] >= cfg.min_price_sd)
                     & (grp["corr"].abs() <= cfg.max_corr)]
        row = {"category": category, "subcategory": sub, "cross_elasticity": np.nan,
               "lo": np.nan, "hi": np.nan, "se": np.nan, "n_skus": int(len(usable)),
               "sufficient": False}
        if len(usable) < 2:
            if (grp["other_sd"] < cfg.min_price_sd).all():
                why = "the other SKUs' prices hardly move"
            elif (grp["corr"].abs() > cfg.max_corr).any():
                why = "prices in the subcategory move together, so own and cross effects cannot be separated"
            else:
                why = "fewer than two SKUs with an estimate"
            row["note"] = f"not estimated: {why}"
        else:
            mu, var, _ = _dersimonian_laird(usable["cross_raw"].to_numpy(),
                                            usable["cross_se"].to_numpy())
            se = float(np.sqrt(var))
            row.update(cross_elasticity=mu, se=se, lo=mu - Z95 * se, hi=mu + Z95 * se,
                       sufficient=se <= cfg.max_se)
            kind = ("substitutes" if mu - Z95 * se > 0 else
                    "complements" if mu + Z95 * se < 0 else "no clear cross effect")
            row["note"] = (f"{kind} (pooled over {len(usable)} SKUs)" if row["sufficient"]
                           else f"too uncertain (standard error {se:.2f}); treat as unknown")
        out.append(row)
    return pd.DataFrame(out, columns=CROSS_COLUMNS)
