"""Which rows, time effects and columns identify each SKU's price slope, and the fits.

Only price moves that the comparison group did not make identify a slope, because common
time effects (one per period) absorb everything the group shares: chain-wide promotion
weeks, seasons, festivals, shocks. Two comparison groups, tried in this order:

* **own** (store + week effects): the SKU's own stores. Its time effects are its own, so
  its slope comes from price differences between its stores in the same period. Used
  when its prices differ between stores on enough periods and the fit is precise.
* **category** (store + category x week effects): the other SKUs of its category at the
  same stores. One joint PPML per category with every SKU's own slope, controls and
  linear trend; the SKUs share the period effects. A SKU sold at one store, or priced the
  same everywhere on each day, gets its slope from moving its price when the rest of the
  category did not.

Controls enter when they vary within the SKU: promotion flags (promo, feature, display,
tpr), log festival uplift and weather (which still vary across states and cities within a
period), day of week for daily data. Standard errors are clustered by period; each
own-price slope also carries its spread over the NB family (`spec_se`: Poisson PML and the
log-scale end refitted from the fit, engine.pricing.pml), which the interval adds.

With `FitRules.lagged_price`, the SKU's own **lagged price** enters too, as log(previous
period's price / this period's): a post-promotion dip (shoppers stocked up during the
deal) is then its coefficient, and the price slope is the response to a price that stays
where it is moved (the sum of the immediate and the next period's response), which is
what a regular-price change gets. Without it, the slope is mostly the immediate response
to temporary deals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.pricing.panel import UNIT, CategoryPanel
from engine.pricing.pml import FEFit, pml_fe, recode

_CONTROL_LABEL = {"promo": "promo", "feature": "feature", "display": "display",
                  "tpr": "tpr", "lag_price": "lagged price", "festival": "festival",
                  "temp": "weather"}


@dataclass(frozen=True)
class FitRules:
    min_price_periods: int
    price_step: float
    min_price_sd: float
    max_se: float
    max_iter: int
    tol: float
    lagged_price: bool = False     # the previous period's price as a control (see below)


def demean_two_way(x: np.ndarray, a: np.ndarray, b: np.ndarray, sweeps: int = 50
                   ) -> np.ndarray:
    """x minus its `a` and `b` group effects (alternating projections, unweighted)."""
    r = np.asarray(x, float).copy()
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    ca = np.maximum(np.bincount(a, minlength=na), 1)
    cb = np.maximum(np.bincount(b, minlength=nb), 1)
    for _ in range(sweeps):
        r -= (np.bincount(a, weights=r, minlength=na) / ca)[a]
        m = np.bincount(b, weights=r, minlength=nb) / cb
        r -= m[b]
        if np.abs(m).max() < 1e-10:
            break
    return r


def price_variation(panel: CategoryPanel, rows: np.ndarray, cells: np.ndarray, step: float
                    ) -> dict[int, tuple[int, float]]:
    """Per SKU code in `rows`: (dates with a price move of at least `step` that the
    comparison group did not make, spread of those moves), the moves being log price net
    of series and time-cell (`cells`, one per row of `rows`) effects."""
    sku = panel.sku[rows]
    s_code, c_code = recode(panel.series[rows]), recode(cells)
    resid = demean_two_way(panel.XT[0, rows], s_code, c_code)
    moved = np.abs(resid) >= np.log1p(step)
    frame = pd.DataFrame({"sku": sku, "date": np.where(moved, panel.date[rows], -1),
                          "resid": resid})
    dates = frame[moved].groupby("sku")["date"].nunique()
    spread = frame.groupby("sku")["resid"].std(ddof=0)
    return {int(c): (int(dates.get(c, 0)), float(spread[c])) for c in spread.index}


SEASON = ("season_sin", "season_cos")


def _usable_columns(XT: np.ndarray, names: list[str], block: np.ndarray, series: np.ndarray,
                    day: np.ndarray, n_blocks: int) -> np.ndarray:
    """(blocks, k): the column of XT varies within some series of the block (and, for the
    yearly season terms, the block's rows span a year: over a shorter history a season is
    only a bend in the trend). Rows come grouped by series."""
    starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
    n = np.diff(np.r_[starts, len(series)])
    total = np.add.reduceat(XT, starts, axis=1)
    squares = np.add.reduceat(XT * XT, starts, axis=1)
    ss = squares - total ** 2 / n
    varies = ss > 1e-10 * (1.0 + squares)
    out = np.zeros((n_blocks, len(XT)), dtype=bool)
    blk = block[starts]
    for j in range(len(XT)):
        out[:, j] = np.bincount(blk, weights=varies[j], minlength=n_blocks) > 0
    span = pd.Series(day).groupby(block).agg(["min", "max"]).reindex(range(n_blocks))
    short = ~((span["max"] - span["min"]).to_numpy() >= 365)
    for j, name in enumerate(names):
        if name in SEASON:
            out[short, j] = False
    return out


def fit_rows(panel: CategoryPanel, rows: np.ndarray, cells: np.ndarray, block: np.ndarray,
             n_blocks: int, columns: list[str], rules: FitRules,
             extra: np.ndarray | None = None, family: bool = False
             ) -> tuple[FEFit, np.ndarray, list[str]]:
    """PPML over `rows` with store effects, time effects `cells` (one code per row, shared
    by every block) and one slope vector per `block` code (columns that do not vary within
    a block are left out for it); clusters are periods. `extra` (m, n_rows) appends
    columns. `lag_price` is dropped unless the rules ask for it. `family` adds the slopes'
    spread over the NB family (engine.pricing.pml). Returns (fit, usable (blocks, k),
    column names)."""
    if not rules.lagged_price:
        columns = [c for c in columns if c != "lag_price"]
    XT = panel.XT[np.ix_([panel.col(c) for c in columns], rows)]
    names = list(columns)
    if extra is not None:
        XT = np.vstack([XT, extra])
        names += [f"extra_{j}" for j in range(len(extra))]
    series = panel.series[rows]
    usable = _usable_columns(XT, names, block, series, panel.date[rows], n_blocks)
    XT *= usable[block].T
    nested, crossed = series, cells
    if n_blocks == 1 and np.unique(series).size < np.unique(cells).size:
        nested, crossed = cells, series       # the smaller set explicit: cheaper, same fit
    fit = pml_fe(panel.y[rows], XT, block, nested, crossed, panel.period[rows], n_blocks,
                  rules.max_iter, rules.tol, family=family)
    return fit, usable, names


def _spec(panel: CategoryPanel, kind: str, n_skus: int, used: list[str], phi: float,
          spread: float = 0.0) -> str:
    period = UNIT["W" if panel.grain == "D" else panel.grain]
    parts = ["ppml" if phi <= 0 else f"nb-pml (phi {phi:.2g})"]
    if kind == "own":
        parts.append(f"store + {UNIT[panel.grain]} FE")
    else:
        parts += [f"store + category x {period} FE ({n_skus} SKUs jointly)", "SKU trend"]
        if panel.grain == "D":
            parts.append("day of week")
    labels = list(dict.fromkeys(_CONTROL_LABEL[c] for c in used if c in _CONTROL_LABEL))
    if labels:
        parts.append("/".join(labels) + " controls")
    parts.append(f"SE clustered by {period}")
    if spread >= 0.005:
        parts.append(f"SE + {spread:.2f} PPML-to-log-scale spread")
    return ", ".join(parts)


def slope_spec(panel: CategoryPanel, fit: FEFit, b: int, j: int, usable: np.ndarray,
               names: list[str], kind: str, n_skus: int) -> tuple[float, str]:
    """(spread, spec) of block `b`'s slope on column `j` of a fit_rows(family=True) fit:
    its PPML-to-log-scale spread (0 when not identified) and the design in words
    (estimator, fixed effects of `kind` own / category of `n_skus` SKUs, the controls the
    block used, the clustering, the spread when not negligible)."""
    spread = float(fit.spread[b, j]) if fit.identified[b, j] and fit.spread is not None \
        else 0.0
    used = [n for i, n in enumerate(names) if usable[b, i] and fit.identified[b, i]
            and n != "price"]
    return spread, _spec(panel, kind, n_skus, used, fit.dispersion, spread)


def _row(info: dict, panel: CategoryPanel, fit: FEFit | None, b: int, usable, names,
         kind: str, stats: tuple[int, float], n_skus: int) -> dict:
    row = {**info, "category": panel.category, "raw_elasticity": np.nan, "raw_se": np.nan,
           "spec_se": 0.0, "price_periods": stats[0], "price_sd": stats[1],
           "converged": False, "fe": kind, "identified": False, "spec": "",
           "unit": UNIT[panel.grain]}
    if fit is None:
        return row
    ok = bool(fit.identified[b, 0])
    spread, spec = slope_spec(panel, fit, b, 0, usable, names, kind, n_skus)
    row.update(raw_elasticity=float(fit.beta[b, 0]) if ok else np.nan,
               raw_se=float(fit.se()[b, 0]) if ok else np.nan, spec_se=spread,
               converged=fit.converged, identified=ok, spec=spec)
    return row


def sku_estimates(panel: CategoryPanel, rules: FitRules, rows: np.ndarray | None = None
                  ) -> list[dict]:
    """One raw estimate per SKU of the panel (restricted to `rows`): own time effects
    where they identify the slope precisely, else the category's joint fit. `spec_se` is
    the slope's spread over the NB family (PPML to log scale: the specification
    uncertainty engine.pricing.elasticity adds to the sampling variance)."""
    rows = np.arange(len(panel.y)) if rows is None else rows
    if len(rows) == 0:
        return []
    own_columns = [c for c in panel.columns if c not in ("trend", *SEASON)]
    skus = np.unique(panel.sku[rows])
    cat_fit = cat_usable = None
    cat_names: list[str] = []
    cat_stats = price_variation(panel, rows, panel.period[rows], rules.price_step)
    if len(skus) >= 2:
        cat_fit, cat_usable, cat_names = fit_rows(panel, rows, panel.period[rows],
                                                  panel.sku[rows], len(panel.sku_ids),
                                                  list(panel.columns), rules, family=True)
    # own time effects (one per SKU x date): SKUs whose stores priced apart on some dates
    own_stats = price_variation(panel, rows, panel.sku[rows].astype(np.int64)
                                * (panel.date.max() + 1) + panel.date[rows], rules.price_step)
    out = []
    for code in skus:
        mine = rows[panel.sku[rows] == code]
        info = {"sku_id": panel.sku_ids[code], "n_obs": len(mine),
                "units": float(panel.y[mine].sum()),
                "n_pins": int(np.unique(panel.pin[mine]).size)}
        own = None
        stats = own_stats[int(code)]
        if (stats[0] >= rules.min_price_periods and stats[1] >= rules.min_price_sd
                and np.unique(panel.series[mine]).size >= 2):
            fit, usable, names = fit_rows(panel, mine, panel.date[mine],
                                          np.zeros(len(mine), dtype=int), 1, own_columns,
                                          rules, family=True)
            own = _row(info, panel, fit, 0, usable, names, "own", stats, 1)
        cat = None
        if cat_fit is not None:
            cat = _row(info, panel, cat_fit, int(code), cat_usable, cat_names, "category",
                       cat_stats[int(code)], len(skus))
        out.append(_choose(own, cat, rules)
                   or _row(info, panel, None, 0, None, [], "none", cat_stats[int(code)], 1))
    return out


def _precise(row: dict | None, rules: FitRules) -> bool:
    return (row is not None and row["identified"] and row["raw_se"] <= rules.max_se
            and row["price_periods"] >= rules.min_price_periods
            and row["price_sd"] >= rules.min_price_sd)


def _choose(own: dict | None, cat: dict | None, rules: FitRules) -> dict | None:
    for row in (own, cat):
        if _precise(row, rules):
            return row
    for row in (own, cat):
        if row is not None and row["identified"]:
            return row
    return cat or own
