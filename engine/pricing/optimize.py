"""Recommended prices under business rules: one price per SKU from a discrete ladder,
chosen by a mixed-integer programme (PuLP + the bundled CBC solver).

units(p) = baseline_units x (p / current_price) ^ elasticity over the horizon.
Decision: x[s, k] = 1 when SKU s takes ladder point k (exactly one per SKU).
Objective: total margin sum (p - unit_cost) x units, or total revenue sum p x units.
Price endings: the ladder's points are replaced by the allowed prices just below and just
above each of them (engine/pricing/endings.py: whole rupees, or ₹0.50 steps below ₹100, by
default), so every rule below is checked on the price a shelf label would show, and the
list is at least as good as rounding the paise answer (whose rounded prices are in the grid).
Rules: maximum change % and the MRP ceiling remove ladder points per SKU; the minimum
margin % holds over the whole price list (margin >= m x revenue, a linear constraint) or,
with margin_scope="sku", on every SKU (removes points). The category volume floor (units >=
floor x baseline units in each category) and an optional competitor price-index ceiling
(baseline-volume-weighted) are linear constraints. The competitor positioning rules (no more
than X% above the cheapest competitor, within ₹Y of it) remove ladder points per SKU that
has a competitor price (`competitor_price`: the cheapest competitor's, from the stored
competitor prices); SKUs without one are not bound by them.
Infeasible rule sets are diagnosed by relaxing each rule in turn.

Speed: ladder points another point of the same SKU beats on the objective and on every
coupling constraint are dropped first. With coupling constraints the LP relaxation is solved,
rounded to a feasible list (a basic solution has at most one fractional SKU per coupling
constraint) and, if that list is within the optimality gap of the LP bound, accepted as
optimal; otherwise it is CBC's warm start for the MILP. Deterministic: sorted input, one
thread, fixed seeds.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp

from engine.pricing.elasticity import PricingError
from engine.pricing.endings import (DEFAULT_ENDINGS, PRICE_ENDINGS, ceil_price, check_endings,
                                    floor_price)
from engine.pricing.reasons import recommendation_table

RULE_NAMES = {
    "min_margin": "minimum margin",
    "max_change": "maximum price change",
    "mrp": "MRP ceiling",
    "volume_floor": "category volume floor",
    "competitor_index": "competitor price-index ceiling",
    "above_cheapest": "no more than X% above the cheapest competitor",
    "match_within": "within ₹Y of the cheapest competitor",
    "price_endings": "price endings",
}


class InfeasiblePricingError(PricingError):
    """No price list satisfies every rule; `relax` names the rules whose removal helps."""

    code = "infeasible_pricing"

    def __init__(self, message: str, relax: list[str], evidence: pd.DataFrame | None = None):
        super().__init__(message, evidence if evidence is not None else pd.DataFrame())
        self.relax = relax


@dataclass(frozen=True)
class OptimizeConfig:
    objective: str = "margin"                 # "margin" | "revenue"
    min_margin: float | None = None           # 0.15 -> margin >= 15% of revenue ...
    margin_scope: str = "total"               # ... over the whole price list, or "sku": each
    max_change: float | None = 0.10           # 0.10 -> within +-10% of the current price
    volume_floor: float | None = None         # 0.95 -> each category keeps >= 95% of units
    competitor_index: float | None = None     # 1.05 -> weighted price / competitor <= 1.05
    above_cheapest: float | None = None       # 0.05 -> price <= cheapest competitor x 1.05
    match_within: float | None = None         # 5.0 -> price <= cheapest competitor + ₹5
    ladder_min: float = -0.25
    ladder_max: float = 0.15
    step: float = 0.01
    price_endings: str = DEFAULT_ENDINGS      # "retail" | "whole" | "nine" | "paise"
    snap_9: bool = False                      # older switch: the same as price_endings="nine"
    horizon_days: int = 28
    time_limit: float = 60.0
    gap: float = 1e-4                         # relative optimality gap CBC may stop at

    def ladder(self) -> np.ndarray:
        n = int(round((self.ladder_max - self.ladder_min) / self.step)) + 1
        return np.round(self.ladder_min + self.step * np.arange(n), 6)

    def endings(self) -> str:
        """The price-endings scheme in force (snap_9 wins, as it did before endings)."""
        return "nine" if self.snap_9 else self.price_endings


@dataclass(frozen=True)
class OptimizeResult:
    recommendations: pd.DataFrame
    status: str
    solve_seconds: float
    build_seconds: float
    totals: dict
    config: OptimizeConfig


def snap_to_9(prices: np.ndarray) -> np.ndarray:
    """Nearest price point ending in 9: whole rupees ending in 9 from ₹20, else x.9."""
    prices = np.asarray(prices, float)
    big = np.round((prices + 1) / 10) * 10 - 1
    small = np.round(prices + 0.1) - 0.1
    return np.where(prices >= 20, np.maximum(big, 9.0), np.maximum(small, 0.9))


def _rule_edges(items: pd.DataFrame, cfg: OptimizeConfig, skip: frozenset) -> np.ndarray:
    """Per SKU, the prices where a per-SKU rule binds (MRP, the maximum change either way,
    the per-SKU minimum margin) and the SKU's own best margin price c·e/(1+e) (elastic SKUs);
    NaN where there is none."""
    p0 = items["price"].to_numpy(float)
    cost = items["unit_cost"].to_numpy(float)
    e = items["elasticity"].to_numpy(float)
    nan = np.full(len(items), np.nan)
    mrp = items["mrp"].to_numpy(float) if "mrp" not in skip else nan
    up = down = nan
    if cfg.max_change is not None and "max_change" not in skip:
        up, down = p0 * (1 + cfg.max_change), p0 * (1 - cfg.max_change)
    floor_margin = nan
    if cfg.min_margin is not None and cfg.margin_scope == "sku" and "min_margin" not in skip \
            and cfg.min_margin < 1:
        floor_margin = cost / (1 - cfg.min_margin)
    with np.errstate(divide="ignore", invalid="ignore"):
        best = np.where((e < -1) & (cost > 0), cost * e / (1 + e), np.nan)
    return np.column_stack([mrp, up, down, floor_margin, best,
                            _competitor_ceiling(items, cfg, skip)])


def _competitor_ceiling(items: pd.DataFrame, cfg: OptimizeConfig, skip: frozenset
                        ) -> np.ndarray:
    """Per SKU the highest price the competitor positioning rules allow (NaN: no bound)."""
    out = np.full(len(items), np.nan)
    if "competitor_price" not in items:
        return out
    comp = items["competitor_price"].to_numpy(float)
    comp = np.where(comp > 0, comp, np.nan)
    if cfg.above_cheapest is not None and "above_cheapest" not in skip:
        out = np.fmin(out, comp * (1 + cfg.above_cheapest))
    if cfg.match_within is not None and "match_within" not in skip:
        out = np.fmin(out, comp + cfg.match_within)
    return out


def _candidates(items: pd.DataFrame, cfg: OptimizeConfig, skip: frozenset = frozenset()
                ) -> pd.DataFrame:
    """Long frame of allowed ladder points per SKU with units, revenue and margin."""
    ladder = cfg.ladder()
    p0 = items["price"].to_numpy(float)
    prices = p0[:, None] * (1 + ladder[None, :])
    endings = "paise" if "price_endings" in skip else cfg.endings()
    if endings == "paise":
        prices = np.round(prices, 2)
    else:   # the allowed prices either side of each ladder point, inside the ladder's range
        prices = np.column_stack([floor_price(prices, endings), ceil_price(prices, endings)])
    # where a rule or the SKU's own optimum puts a boundary, the allowed prices either side
    # of it too (e.g. the highest allowed price under the MRP, which no ladder point hits)
    edges = _rule_edges(items, cfg, skip)
    prices = np.column_stack([prices, floor_price(edges, endings), ceil_price(edges, endings)])
    low = p0[:, None] * (1 + cfg.ladder_min) - 1e-9
    high = p0[:, None] * (1 + cfg.ladder_max) + 1e-9
    prices = np.where((prices >= low) & (prices <= high), prices, np.nan)
    cost = items["unit_cost"].to_numpy(float)[:, None]
    mrp = items["mrp"].to_numpy(float)[:, None]
    ceiling = _competitor_ceiling(items, cfg, skip)[:, None]

    def meets_rules(prices: np.ndarray) -> np.ndarray:
        ok = np.isfinite(prices)
        ratio = prices / p0[:, None]
        if cfg.max_change is not None and "max_change" not in skip:
            ok &= np.abs(ratio - 1) <= cfg.max_change + 1e-9
        if cfg.min_margin is not None and cfg.margin_scope == "sku" and "min_margin" not in skip:
            ok &= (prices - cost) >= cfg.min_margin * prices - 1e-9
        if "mrp" not in skip:
            ok &= ~(prices > mrp + 1e-9)          # NaN MRP never forbids
        ok &= ~(prices > ceiling + 1e-9)          # NaN: no competitor bound
        return ok

    allowed = meets_rules(prices)
    keep_only = np.zeros(prices.shape[1], dtype=bool)
    if endings != "paise":
        # a SKU no allowed price fits keeps today's price (on the shelf already), if that
        # meets the rules; the reason says so. Otherwise the rules are diagnosed as usual.
        stuck = ~allowed.any(axis=1)
        if stuck.any():
            prices = np.column_stack([prices, np.where(stuck, p0, np.nan)])
            allowed = meets_rules(prices)
            keep_only = np.r_[keep_only, True]
    ratio = prices / p0[:, None]
    units = items["baseline_units"].to_numpy(float)[:, None] * \
        ratio ** items["elasticity"].to_numpy(float)[:, None]
    sku_idx, pt_idx = np.nonzero(allowed)
    out = pd.DataFrame({
        "row": sku_idx, "point": pt_idx, "price": prices[sku_idx, pt_idx],
        "ratio": ratio[sku_idx, pt_idx], "units": units[sku_idx, pt_idx],
        "off_grid": keep_only[pt_idx],
    })
    out["revenue"] = out["price"] * out["units"]
    out["margin"] = (out["price"] - cost[sku_idx, 0]) * out["units"]
    # equal snapped prices give equal outcomes: keep one point per distinct price
    return out.drop_duplicates(["row", "price"]).reset_index(drop=True)


def _pareto(items: pd.DataFrame, cand: pd.DataFrame, cfg: OptimizeConfig,
            skip: frozenset) -> pd.DataFrame:
    """Drop ladder points another point of the same SKU beats on the objective and on every
    active coupling constraint (they can never be in an optimal price list). Without coupling
    constraints this leaves each SKU's best point(s); with them it shrinks the MILP a lot."""
    crit = [cand[cfg.objective].to_numpy()]
    if cfg.volume_floor is not None and "volume_floor" not in skip:
        crit.append(cand["units"].to_numpy())
    if cfg.min_margin is not None and cfg.margin_scope == "total" and "min_margin" not in skip:
        crit.append(cand["margin"].to_numpy() - cfg.min_margin * cand["revenue"].to_numpy())
    if cfg.competitor_index is not None and "competitor_index" not in skip \
            and "competitor_price" in items:
        crit.append(-cand["price"].to_numpy())
    rows, n_rows = cand["row"].to_numpy(), len(items)
    slot = cand.groupby("row").cumcount().to_numpy()
    width = int(slot.max()) + 1
    grid = np.full((n_rows, width, len(crit)), -np.inf)
    grid[rows, slot] = np.column_stack(crit)
    ge = (grid[:, :, None, :] >= grid[:, None, :, :]).all(axis=3)      # [r, i, j]: i >= j
    gt = (grid[:, :, None, :] > grid[:, None, :, :]).any(axis=3)
    dominated = (ge & gt).any(axis=1)                                  # [r, j]
    return cand[~dominated[rows, slot]].reset_index(drop=True)


def _check_items(items: pd.DataFrame) -> pd.DataFrame:
    need = ["sku_id", "category", "price", "unit_cost", "elasticity", "baseline_units"]
    missing = [c for c in need if c not in items.columns]
    if missing:
        raise PricingError(f"The optimiser needs columns {missing} in its input.")
    items = items.copy()
    if "mrp" not in items:
        items["mrp"] = np.nan
    bad = items[~(items["price"] > 0) | items["elasticity"].isna()]
    if len(bad):
        raise PricingError(
            f"{len(bad)} SKU(s) have no current price or no elasticity (e.g. {bad['sku_id'].iloc[0]}); "
            "they cannot be priced.")
    items["unit_cost"] = items["unit_cost"].fillna(0.0)
    items["baseline_units"] = items["baseline_units"].fillna(0.0).clip(lower=0.0)
    return items.sort_values("sku_id").reset_index(drop=True)


def _solve(items: pd.DataFrame, cand: pd.DataFrame, cfg: OptimizeConfig,
           skip: frozenset = frozenset(), feasibility_only: bool = False
           ) -> tuple[str, np.ndarray | None, float, float]:
    """Build and solve; returns (status, chosen candidate index per row, build s, solve s)."""
    t0 = time.perf_counter()
    value = cand[cfg.objective].to_numpy()
    scale = max(float(np.abs(value).max()), 1.0)
    # tie-break towards the current price so equal-value choices are stable and minimal
    score = value / scale - 1e-7 * np.abs(cand["ratio"].to_numpy() - 1)
    if feasibility_only:
        score = np.zeros(len(cand))
    prob = pulp.LpProblem("pricing", pulp.LpMaximize)
    names = [f"x{i}" for i in range(len(cand))]
    x = [pulp.LpVariable(nm, cat=pulp.LpBinary) for nm in names]
    prob += pulp.LpAffineExpression(zip(x, score))
    rows = cand["row"].to_numpy()
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(len(items) + 1))
    for r in range(len(items)):
        idx = order[bounds[r]:bounds[r + 1]]
        prob += pulp.LpAffineExpression((x[i], 1.0) for i in idx) == 1, f"one_{r}"
    if cfg.min_margin is not None and cfg.margin_scope == "total" and "min_margin" not in skip:
        slack = cand["margin"].to_numpy() - cfg.min_margin * cand["revenue"].to_numpy()
        norm = max(float(np.abs(slack).max()), 1.0)
        prob += pulp.LpAffineExpression(zip(x, slack / norm)) >= 0, "min_margin_total"
    if cfg.volume_floor is not None and "volume_floor" not in skip:
        cats = items["category"].to_numpy()[rows]
        base = items.groupby("category")["baseline_units"].sum()
        units = cand["units"].to_numpy()
        for c_i, (cat, b) in enumerate(base.items()):
            idx = np.nonzero(cats == cat)[0]
            if b > 0:
                prob += (pulp.LpAffineExpression((x[i], units[i] / b) for i in idx)
                         >= cfg.volume_floor), f"floor_{c_i}"
    if cfg.competitor_index is not None and "competitor_index" not in skip \
            and "competitor_price" in items:
        comp = items["competitor_price"].to_numpy(float)
        q0 = items["baseline_units"].to_numpy(float)
        has = np.isfinite(comp) & (comp > 0) & (q0 > 0)
        if has.any():
            denom = float(np.sum(comp[has] * q0[has]))
            use = np.nonzero(has[rows])[0]
            coef = cand["price"].to_numpy()[use] * q0[rows[use]] / denom
            prob += (pulp.LpAffineExpression((x[i], c) for i, c in zip(use, coef))
                     <= cfg.competitor_index), "competitor_index"
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    warm = None
    coupling = [c for name, c in prob.constraints.items() if not name.startswith("one_")]
    if coupling and not feasibility_only:
        prob.solve(pulp.PULP_CBC_CMD(msg=False, mip=False, timeLimit=cfg.time_limit))
        if pulp.LpStatus[prob.status] == "Infeasible":     # LP infeasible -> MILP infeasible
            return "Infeasible", None, build, time.perf_counter() - t1
        if pulp.LpStatus[prob.status] == "Optimal":
            bound = float(np.dot(score, [v.varValue or 0.0 for v in x]))
            warm = _warm_start(x, rows, coupling, score)
            if warm is not None and bound - warm <= cfg.gap * max(abs(warm), 1e-9):
                # the rounded list is within the gap of the LP bound: optimal within the
                # tolerance CBC itself would stop at, no branching needed
                prob.status = pulp.LpStatusOptimal
                warm = "bound"
    if warm != "bound":
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=cfg.time_limit, threads=1,
                                   warmStart=warm is not None, gapRel=cfg.gap,
                                   options=["randomSeed 42", "randomCbcSeed 42"])
        prob.solve(solver)
    solve = time.perf_counter() - t1
    status = pulp.LpStatus[prob.status]
    if status != "Optimal":
        return status, None, build, solve
    vals = np.array([v.varValue or 0.0 for v in x])
    chosen = np.full(len(items), -1)
    picked = np.nonzero(vals > 0.5)[0]
    chosen[rows[picked]] = picked
    return status, chosen, build, solve


def _warm_start(x: list, rows: np.ndarray, coupling: list, objective: np.ndarray,
                max_combos: int = 16384) -> float | None:
    """Round the LP relaxation to a feasible price list and hand it to CBC as its first
    incumbent; returns its objective value, or None when rounding found nothing feasible. A basic LP solution has at most one fractional SKU per
    coupling constraint, so every combination of their fractional points is tried and the
    best feasible one is kept."""
    vals = np.array([v.varValue or 0.0 for v in x])
    index = {v.name: i for i, v in enumerate(x)}
    A = np.zeros((len(coupling), len(x)))
    const = np.zeros(len(coupling))
    for k, con in enumerate(coupling):
        sign = 1.0 if con.sense >= 0 else -1.0           # store every row as g >= 0
        for var, coef in con.items():
            A[k, index[var.name]] = sign * coef
        const[k] = sign * con.constant
    order = np.lexsort((-vals, rows))
    first = np.r_[True, rows[order][1:] != rows[order][:-1]]
    pick = np.zeros(len(x), dtype=bool)
    pick[order[first]] = True                              # argmax x per SKU
    fractional = np.unique(rows[(vals > 1e-6) & (vals < 1 - 1e-6)])
    supports = [np.nonzero((rows == r) & (vals > 1e-6))[0] for r in fractional]
    if int(np.prod([len(sup) for sup in supports], dtype=float)) > max_combos:
        return None
    fixed = pick.copy()
    for sup in supports:
        fixed[sup] = False
    g_fixed = A[:, fixed].sum(axis=1) + const
    obj_fixed = objective[fixed].sum()
    best, best_obj = None, -np.inf
    for combo in itertools.product(*supports):
        idx = list(combo)
        if np.all(g_fixed + A[:, idx].sum(axis=1) >= -1e-9):
            value = obj_fixed + objective[idx].sum()
            if value > best_obj:
                best, best_obj = idx, value
    if best is None:
        return None
    fixed[best] = True
    for i, v in enumerate(x):
        v.setInitialValue(1.0 if fixed[i] else 0.0)
    return float(best_obj)


def _describe_rule(rule: str, cfg: OptimizeConfig) -> str:
    value = {"min_margin": cfg.min_margin, "max_change": cfg.max_change,
             "volume_floor": cfg.volume_floor, "competitor_index": cfg.competitor_index}.get(rule)
    if rule == "min_margin":
        scope = "on every SKU" if cfg.margin_scope == "sku" else "over the price list"
        return f"the minimum margin ({value:.0%} {scope})"
    if rule == "max_change":
        return f"the maximum price change (±{value:.1%})" if value < 0.0095 else \
            f"the maximum price change (±{value:.0%})"
    if rule == "volume_floor":
        return f"the category volume floor ({value:.0%} of baseline units)"
    if rule == "competitor_index":
        return f"the competitor price-index ceiling ({value:.2f})"
    if rule == "above_cheapest":
        return f"the rule 'no more than {cfg.above_cheapest:.0%} above the cheapest competitor'"
    if rule == "match_within":
        return f"the rule 'within ₹{cfg.match_within:g} of the cheapest competitor'"
    if rule == "price_endings":
        return f"the price endings ({PRICE_ENDINGS[cfg.endings()]}; 'paise' allows any price)"
    return "the MRP ceiling (it is the law: check the catalog's MRP and cost instead)"


def _active_rules(items: pd.DataFrame, cfg: OptimizeConfig) -> list[str]:
    rules = [r for r in ("min_margin", "max_change", "volume_floor") if getattr(cfg, r) is not None]
    if items["mrp"].notna().any():
        rules.append("mrp")
    if cfg.competitor_index is not None and "competitor_price" in items:
        rules.append("competitor_index")
    has_comp = "competitor_price" in items and items["competitor_price"].gt(0).any()
    rules += [r for r in ("above_cheapest", "match_within")
              if getattr(cfg, r) is not None and has_comp]
    if cfg.endings() != "paise":
        rules.append("price_endings")
    return rules


def _diagnose(items: pd.DataFrame, cfg: OptimizeConfig, evidence: pd.DataFrame) -> InfeasiblePricingError:
    """Relax each rule in turn; name those whose removal makes the problem solvable."""
    relax = []
    for rule in _active_rules(items, cfg):
        skip = frozenset({rule})
        cand = _candidates(items, cfg, skip)
        if cand["row"].nunique() < len(items):
            continue
        status, _, _, _ = _solve(items, cand, cfg, skip, feasibility_only=True)
        if status == "Optimal":
            relax.append(rule)
    if len(relax) > 1 and "mrp" in relax:
        relax.remove("mrp")     # MRP is the law: suggest the business rules first
    if relax:
        names = " or ".join(_describe_rule(r, cfg) for r in relax)
        msg = f"No price list meets every rule. Relax {names}."
    else:
        msg = ("No price list meets every rule, and relaxing any single rule is not enough: "
               "relax two or more of " + ", ".join(_describe_rule(r, cfg) for r in _active_rules(items, cfg)) + ".")
    if len(evidence):
        ex = evidence.iloc[0]
        msg += (f" {len(evidence)} SKU(s) have no allowed price, e.g. {ex['sku_id']} "
                f"(price ₹{ex['price']:,.2f}, unit cost ₹{ex['unit_cost']:,.2f}, MRP "
                + (f"₹{ex['mrp']:,.2f})." if pd.notna(ex["mrp"]) else "not set)."))
    return InfeasiblePricingError(msg, relax, evidence)


def optimize_prices(items: pd.DataFrame, cfg: OptimizeConfig = OptimizeConfig()) -> OptimizeResult:
    """items: sku_id, category, price (current), unit_cost, mrp, elasticity, baseline_units
    (over the horizon), optional name and competitor_price (the cheapest competitor's
    price, for the competitor rules). Raises InfeasiblePricingError."""
    if cfg.objective not in ("margin", "revenue"):
        raise PricingError(f"Objective must be 'margin' or 'revenue', not {cfg.objective!r}.")
    if cfg.margin_scope not in ("total", "sku"):
        raise PricingError(f"Margin scope must be 'total' or 'sku', not {cfg.margin_scope!r}.")
    check_endings(cfg.endings())
    items = _check_items(items)
    if items.empty:
        raise PricingError("There are no SKUs to price.")
    cand = _candidates(items, cfg)
    missing = np.setdiff1d(np.arange(len(items)), cand["row"].unique())
    if len(missing):
        raise _diagnose(items, cfg, items.iloc[missing][["sku_id", "price", "unit_cost", "mrp"]])
    t0 = time.perf_counter()
    cand = _pareto(items, cand, cfg, frozenset())
    prune = time.perf_counter() - t0
    status, chosen, build, solve = _solve(items, cand, cfg)
    build += prune
    if status == "Infeasible":
        raise _diagnose(items, cfg, pd.DataFrame())
    if chosen is None or (chosen < 0).any():
        raise PricingError(f"The solver stopped without a price list (status: {status}). "
                           "Try a longer time limit or fewer SKUs.")
    recs = recommendation_table(items, cand, chosen, cfg)
    totals = {k: float(recs[k].sum()) for k in
              ("baseline_units", "units", "baseline_revenue", "revenue", "baseline_margin", "margin")}
    totals["skus"] = int(len(recs))
    totals["skus_changed"] = int((recs["change_pct"].abs() > 1e-9).sum())
    totals["skus_off_ending"] = int((~recs["allowed_ending"]).sum())
    return OptimizeResult(recs, status, solve, build, totals, cfg)



def build_items(catalog: pd.DataFrame, elasticities: pd.DataFrame, baseline: pd.DataFrame
                ) -> pd.DataFrame:
    """Optimiser input from the catalog, the elasticity table and a baseline frame
    (sku_id, pin_code, date, forecast): baseline_units = forecast summed over the horizon."""
    units = baseline.groupby("sku_id", as_index=False)["forecast"].sum().rename(
        columns={"forecast": "baseline_units"})
    cols = [c for c in ("sku_id", "name", "category", "price", "unit_cost", "mrp",
                        "competitor_price") if c in catalog]
    items = catalog[cols].merge(elasticities[["sku_id", "elasticity"]], on="sku_id")
    items = items.merge(units, on="sku_id", how="inner")
    return items[items["baseline_units"] > 0].reset_index(drop=True)
