"""Competitive cross-elasticity: how our units of a SKU respond to the cheapest competitor's
price for it, holding our own price and the usual controls.

The same design as the own-price estimate's joint category fit (engine.pricing.fits): PPML
with store effects, category x period effects shared by the category's SKUs, each SKU's own
price slope, promotion / festival / weather controls, trend and season; one more regressor
per SKU: the log of the cheapest competitor's in-stock price for it in the row's city that
day (the latest weekly observation carried forward up to `carry_days`), relative to its
median. Only rows with a competitor price enter. Because the category's period effects
absorb whatever its SKUs share, the competitor effect is identified by competitor prices
that differ between cities or move apart from the rest of the category.

Its coefficient is the cross-elasticity: +0.3 means a 10% cut at the competitor costs us
about 3% of units. `sufficient` is False (the note says "not enough history" and why) when
the SKU has fewer than `min_weeks` weeks with a competitor price, the competitor's price
hardly moves (`min_price_sd` of the log price net of the store and period effects), the
fit cannot separate it, or its sampling standard error is too large (`max_se`).

Specification uncertainty, as for the own-price slopes: the fit is refitted at the two ends
of the NB family (Poisson PML and the log-scale end, engine.pricing.pml's `family`); the
larger gap in the competitor slope (`spec_se`) joins its sampling variance in `se` and the
interval, and `spec` names the design (with the gap when it is not negligible).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.pricing.elasticity import Z95, ElasticityConfig, PanelInputs, category_panels
from engine.pricing.fits import demean_two_way, fit_rows, slope_spec
from engine.pricing.pml import recode

COMPETITIVE_COLUMNS = ["sku_id", "category", "cross_elasticity", "lo", "hi", "se", "spec_se",
                       "weeks", "n_obs", "sufficient", "note", "spec"]
COMPETITOR_TERM = "cross term: the cheapest competitor's price in the city"


@dataclass(frozen=True)
class CompetitiveConfig:
    min_weeks: int = 8            # weeks with a competitor price before we estimate
    carry_days: int = 6           # a weekly observation holds for the days after it
    min_price_sd: float = 0.01    # spread of the competitor's log price net of the effects
    max_se: float = 0.5           # standard error above this: not reported as known


def _competitor_column(panel, comp: pd.DataFrame, pin_city: dict, origin: pd.Timestamp,
                       carry: int) -> np.ndarray:
    """(n,) log competitor price per panel row (NaN where none is known)."""
    out = np.full(len(panel.y), np.nan)
    if comp.empty:
        return out
    sku_code = {s: i for i, s in enumerate(panel.sku_ids)}
    c = comp[comp["sku_id"].isin(sku_code)]
    if c.empty:
        return out
    cities = sorted({v for v in pin_city.values() if isinstance(v, str)})
    city_code = {c_: i for i, c_ in enumerate(cities)}
    n_days = int(panel.date.max()) + 1
    day = (pd.to_datetime(c["date"]) - origin).dt.days.to_numpy()
    keep = (day >= 0) & (day < n_days) & c["city"].isin(city_code).to_numpy()
    c, day = c[keep], day[keep]
    grid = np.full((len(panel.sku_ids), max(len(cities), 1), n_days), np.nan)
    grid[c["sku_id"].map(sku_code).to_numpy(), c["city"].map(city_code).to_numpy(), day] = \
        np.log(c["price"].to_numpy(float))
    # carry each observation forward up to `carry` days
    filled = pd.DataFrame(grid.reshape(-1, n_days)).T.ffill(limit=carry).T.to_numpy()
    grid = filled.reshape(grid.shape)
    row_city = np.array([city_code.get(pin_city.get(p), -1) for p in panel.pins])[panel.pin]
    ok = row_city >= 0
    out[ok] = grid[panel.sku[ok], row_city[ok], panel.date[ok]]
    return out


def competitive_elasticities(inputs: PanelInputs, comp: pd.DataFrame,
                             cfg: CompetitiveConfig = CompetitiveConfig(),
                             ecfg: ElasticityConfig = ElasticityConfig()) -> pd.DataFrame:
    """comp: sku_id, city, date, price (the cheapest competitor's, per day observed;
    engine.warehouse.competitors.competitor_price_panel). One row per SKU with a
    competitor price, columns COMPETITIVE_COLUMNS."""
    out: list[dict] = []
    if comp.empty:
        return pd.DataFrame(columns=COMPETITIVE_COLUMNS)
    ctx, panels = category_panels(inputs)
    pin_city = inputs.locations.drop_duplicates("pin_code").set_index("pin_code")[
        "city"].to_dict()
    weeks = (pd.to_datetime(comp["date"]).dt.to_period("W").groupby(comp["sku_id"])
             .nunique())
    with threadpool_limits(1):
        for panel in panels:
            col = _competitor_column(panel, comp, pin_city, ctx.origin, cfg.carry_days)
            rows = np.flatnonzero(np.isfinite(col))
            if not len(rows):
                continue
            lcomp = col[rows] - pd.Series(col[rows]).groupby(panel.sku[rows]).transform(
                "median").to_numpy()
            fit, usable, names = fit_rows(panel, rows, panel.period[rows], panel.sku[rows],
                                          len(panel.sku_ids), list(panel.columns),
                                          ecfg.rules(), extra=lcomp[None, :], family=True)
            se = fit.se()
            net = demean_two_way(lcomp, recode(panel.series[rows]), recode(panel.period[rows]))
            for code in np.unique(panel.sku[rows]):
                sku = panel.sku_ids[code]
                mine = panel.sku[rows] == code
                row = {"sku_id": sku, "category": panel.category, "cross_elasticity": np.nan,
                       "lo": np.nan, "hi": np.nan, "se": np.nan, "spec_se": np.nan,
                       "weeks": int(weeks.get(sku, 0)), "n_obs": int(mine.sum()),
                       "sufficient": False, "spec": ""}
                spread = float(net[mine].std())
                if row["weeks"] < cfg.min_weeks:
                    row["note"] = (f"not enough history: {row['weeks']} weeks of competitor "
                                   f"prices (needs {cfg.min_weeks})")
                elif spread < cfg.min_price_sd:
                    row["note"] = ("not enough history: the competitor's price hardly moves "
                                   "apart from the category's common time effects")
                elif not (fit.identified[code, -1] and usable[code, -1]):
                    row["note"] = ("not enough history: the competitor's price moves cannot "
                                   "be told apart from ours and the category's")
                else:
                    b, s = float(fit.beta[code, -1]), float(se[code, -1])
                    gap, spec = slope_spec(panel, fit, code, -1, usable, names, "category",
                                           len(panel.sku_ids))
                    total = float(np.hypot(s, gap))
                    row.update(cross_elasticity=b, se=total, spec_se=gap, lo=b - Z95 * total,
                               hi=b + Z95 * total, sufficient=s <= cfg.max_se,
                               spec=f"{spec}, {COMPETITOR_TERM}")
                    kind = ("their cuts take our units" if row["lo"] > 0 else
                            "no clear effect of their price on our units"
                            if row["hi"] >= 0 else "our units fall when their price rises")
                    row["note"] = (kind if row["sufficient"] else
                                   f"too uncertain (standard error {s:.2f}); treat as unknown")
                out.append(row)
    return pd.DataFrame(out, columns=COMPETITIVE_COLUMNS).sort_values(
        "sku_id", ignore_index=True)
