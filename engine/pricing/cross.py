"""Cross-price elasticity within a subcategory (substitutes).

Same design as the own-price estimate's joint category fit (engine.pricing.fits): store
effects, category x period effects shared by the category's SKUs, each SKU's own slope,
controls, trend and season. Every SKU in a subcategory with two or more SKUs gets one more
regressor: the average, over the OTHER SKUs of its subcategory, of their log relative price
at the same PIN in the same period (where one did not sell there, its price that day at its
other PINs, else its last known price). Its coefficient is the SKU's cross-price
elasticity: +0.5 means a 10% price rise at the competitors on the shelf lifts this SKU's
units by about 5%. Because the category's time effects absorb everything its SKUs share,
the cross effect is identified by the rest of the category (SKUs outside the subcategory)
and by prices that differ between stores; when neither exists the fit says so instead of
guessing. The SKU estimates are pooled per subcategory (random-effects mean, the between-SKU
spread by Paule-Mandel as in engine.pricing.pooling) into `cross_elasticity` with a 95%
interval.

Specification uncertainty, as for the own-price slopes: the joint fit is refitted at the two
ends of the NB family (Poisson PML and the log-scale end, engine.pricing.pml's `family`)
and each SKU's cross slope carries the larger gap (`cross_spec_se`), which joins its
sampling variance in the pooling weights, the between-SKU spread and the interval. `spec`
names the design and the largest gap among the pooled SKUs. Sufficiency reads the pooled
sampling standard error alone (the gap says the model fits some weeks worse, not that the
prices move too little).

`sufficient` is False (and the note says why) when the subcategory has fewer than two SKUs
with an estimate, the others' average price hardly moves apart from the category's common
time effects (`min_price_sd`), it moves in lock-step with the SKU's own price
(|correlation| > `max_corr`, the two effects cannot be told apart), or the pooled interval
is too wide (`max_se`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.pricing.elasticity import (Z95, ElasticityConfig, PanelInputs, PricingError,
                                       category_panels)
from engine.pricing.fits import demean_two_way, fit_rows, slope_spec
from engine.pricing.panel import CategoryPanel
from engine.pricing.pml import recode
from engine.pricing.pooling import random_effects

CROSS_COLUMNS = ["category", "subcategory", "cross_elasticity", "lo", "hi", "se", "n_skus",
                 "sufficient", "note", "spec"]
SKU_COLUMNS = ["sku_id", "category", "subcategory", "cross_raw", "cross_se", "cross_spec_se",
               "other_sd", "corr", "identified", "spec"]
CROSS_TERM = "cross term: the other SKUs' average price in the subcategory"


@dataclass(frozen=True)
class CrossConfig:
    min_price_sd: float = 0.01      # spread of the others' average log relative price
    max_corr: float = 0.9           # own vs others' price correlation above this: collinear
    max_se: float = 0.5             # pooled standard error above this: not reported as known


def others_price(panel: CategoryPanel, groups: dict[int, list[int]]) -> np.ndarray:
    """(n,) per row of a SKU in `groups` (SKU code -> the other SKU codes of its
    subcategory): the mean log relative price of those others at the row's PIN and date,
    else their price that day elsewhere, else their last known one; 0 for other rows."""
    lp = panel.XT[panel.col("price")]
    n_days, n_pins = int(panel.date.max()) + 1, len(panel.pins)
    needed = sorted({o for others in groups.values() for o in others})
    at_pin, by_day = {}, {}
    for other in needed:
        mine = panel.sku == other
        grid = np.full((n_pins, n_days), np.nan)
        grid[panel.pin[mine], panel.date[mine]] = lp[mine]
        at_pin[other] = grid
        day = pd.Series(lp[mine]).groupby(panel.date[mine]).median().reindex(range(n_days))
        by_day[other] = day.ffill().bfill().to_numpy()
    out = np.zeros(len(lp))
    for code, others in groups.items():
        mine = np.flatnonzero(panel.sku == code)
        pin, date = panel.pin[mine], panel.date[mine]
        total = np.zeros(len(mine))
        for other in others:
            here = at_pin[other][pin, date]
            total += np.where(np.isnan(here), by_day[other][date], here)
        out[mine] = total / len(others)
    return out


def _category_cross(panel: CategoryPanel, subcategory: dict, ecfg: ElasticityConfig
                    ) -> list[dict]:
    sub = np.array([subcategory.get(s) for s in panel.sku_ids], dtype=object)
    groups = {}
    for name in {s for s in sub if s is not None}:
        members = [int(c) for c in np.flatnonzero(sub == name)]
        if len(members) >= 2:
            groups.update({c: [o for o in members if o != c] for c in members})
    if not groups or len(panel.sku_ids) < 2:
        return []
    rows = np.arange(len(panel.y))
    other = others_price(panel, groups)
    fit, usable, names = fit_rows(panel, rows, panel.period, panel.sku, len(panel.sku_ids),
                                  list(panel.columns), ecfg.rules(), extra=other[None, :],
                                  family=True)
    se = fit.se()
    s_code, c_code = recode(panel.series), recode(panel.period)
    own_net = demean_two_way(panel.XT[panel.col("price")], s_code, c_code)
    other_net = demean_two_way(other, s_code, c_code)
    out = []
    for code in sorted(groups):
        mine = panel.sku == code
        row = {"sku_id": panel.sku_ids[code], "category": panel.category,
               "subcategory": sub[code], "cross_raw": np.nan, "cross_se": np.nan,
               "cross_spec_se": 0.0, "other_sd": float(other_net[mine].std()),
               "corr": np.nan, "identified": bool(fit.identified[code, -1]), "spec": ""}
        if row["other_sd"] > 1e-9 and own_net[mine].std() > 1e-9:
            row["corr"] = float(np.corrcoef(own_net[mine], other_net[mine])[0, 1])
        if row["identified"] and usable[code, -1]:
            spread, spec = slope_spec(panel, fit, code, -1, usable, names, "category",
                                      len(panel.sku_ids))
            row.update(cross_raw=float(fit.beta[code, -1]), cross_se=float(se[code, -1]),
                       cross_spec_se=spread, spec=f"{spec}, {CROSS_TERM}")
        out.append(row)
    return out


def sku_cross_estimates(inputs: PanelInputs, ecfg: ElasticityConfig = ElasticityConfig()
                        ) -> pd.DataFrame:
    """Per SKU: sku_id, category, subcategory, cross_raw, cross_se, cross_spec_se (its
    PPML-to-log-scale spread), other_sd (spread of the others' price net of the store and
    period effects), corr (with its own, likewise), identified, spec (the design)."""
    if "subcategory" not in inputs.skus.columns:
        raise PricingError("Cross-price elasticity needs each SKU's subcategory in the catalog.")
    _, panels = category_panels(inputs)
    subcategory = inputs.skus.drop_duplicates("sku_id").set_index("sku_id")["subcategory"]
    subcategory = subcategory.dropna().to_dict()
    rows: list[dict] = []
    with threadpool_limits(1):
        for panel in panels:
            rows += _category_cross(panel, subcategory, ecfg)
    return pd.DataFrame(rows, columns=SKU_COLUMNS)


def estimate_cross_elasticities(inputs: PanelInputs, cfg: CrossConfig = CrossConfig(),
                                ecfg: ElasticityConfig = ElasticityConfig()) -> pd.DataFrame:
    """One row per subcategory with two or more SKUs: category, subcategory,
    cross_elasticity, lo, hi, se (sampling and specification), n_skus, sufficient, note,
    spec."""
    return pool_cross_elasticities(sku_cross_estimates(inputs, ecfg), cfg)


def pool_cross_elasticities(per_sku: pd.DataFrame, cfg: CrossConfig = CrossConfig()
                            ) -> pd.DataFrame:
    """sku_cross_estimates' rows pooled per subcategory (columns CROSS_COLUMNS): the SKUs
    whose cross effect can be told apart from their own price and the period effects, by
    their random-effects mean weighted by sampling and specification variance."""
    out = []
    for (category, sub), grp in per_sku.groupby(["category", "subcategory"], sort=True):
        usable = grp[grp["cross_se"].gt(0) & (grp["other_sd"] >= cfg.min_price_sd)
                     & (grp["corr"].abs() <= cfg.max_corr)]
        row = {"category": category, "subcategory": sub, "cross_elasticity": np.nan,
               "lo": np.nan, "hi": np.nan, "se": np.nan, "n_skus": int(len(usable)),
               "sufficient": False, "spec": ""}
        if len(usable) < 2:
            if (grp["other_sd"] < cfg.min_price_sd).all():
                why = ("the other SKUs' prices hardly move apart from the category's "
                       "common time effects")
            elif (grp["corr"].abs() > cfg.max_corr).any():
                why = ("prices in the subcategory move together, so own and cross effects "
                       "cannot be separated")
            elif not grp["identified"].any():
                why = ("the subcategory's price moves cannot be told apart from the "
                       "category's common time effects (no other SKUs of the category to "
                       "compare with, and prices do not differ between stores)")
            else:
                why = "fewer than two SKUs with an estimate"
            row["note"] = f"not estimated: {why}"
        else:
            b, s = usable["cross_raw"].to_numpy(), usable["cross_se"].to_numpy()
            spread = usable["cross_spec_se"].to_numpy()
            mu, var, _ = random_effects(b, np.sqrt(s ** 2 + spread ** 2))
            se = float(np.sqrt(var))
            sampling_se = float(np.sqrt(random_effects(b, s)[1]))
            row.update(cross_elasticity=mu, se=se, lo=mu - Z95 * se, hi=mu + Z95 * se,
                       sufficient=sampling_se <= cfg.max_se,
                       spec=_pooled_spec(usable))
            kind = ("substitutes" if mu - Z95 * se > 0 else
                    "complements" if mu + Z95 * se < 0 else "no clear cross effect")
            row["note"] = (f"{kind} (pooled over {len(usable)} SKUs)" if row["sufficient"]
                           else f"too uncertain (standard error {sampling_se:.2f}); treat "
                                "as unknown")
        out.append(row)
    return pd.DataFrame(out, columns=CROSS_COLUMNS)


def _pooled_spec(usable: pd.DataFrame) -> str:
    """The design of the pooled SKUs' fits (one joint fit per category: the texts differ
    only in each SKU's controls and spread): the text of the SKU with the largest spread,
    and the pooling."""
    top = usable.loc[usable["cross_spec_se"].idxmax()]
    return (f"{top['spec']}; random-effects pooled over {len(usable)} SKUs (the spread "
            "shown is the largest of theirs)")
