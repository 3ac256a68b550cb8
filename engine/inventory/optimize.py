"""Purchase-plan optimisation (PuLP MILP solved by the bundled CBC).

Mode 1, `optimize_orders`: for every plan line the policy wants to order, choose an integer
number of cases n (0, or from the MOQ up to the policy's order) to minimise

    lost-sales cost + holding cost + fixed ordering cost

subject to a purchase budget (sum unit_cost * qty) and a truck / warehouse volume
capacity (sum unit_volume_l * qty). Expected lost sales over the protection period
(lead time + order cycle) are E[(D - IP - q)^+] = sigma * G((IP + q - mu) / sigma), a
convex function of q; it enters as the maximum of tangent lines (an exact epigraph for a
convex cost, so the model stays a MILP and needs no extra binaries). The tangents sit at
every feasible case count for small lines and at `breakpoints` evenly spaced counts for
big ones.

Mode 2, `allocate_dc_stock`: share scarce DC stock of each SKU across the PIN codes that
need it, in whole cases, minimising the same expected lost-sales cost.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp
from scipy.special import erfc

from engine.inventory.demand import InventoryInputError


_SQRT2PI = math.sqrt(2 * math.pi)
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class OptimizeConfig:
    budget: float | None = None              # ₹ purchase budget (None: unlimited)
    volume_capacity_l: float | None = None   # litres of truck / store space (None: unlimited)
    order_cost: float = 50.0                 # ₹ fixed cost per ordered line
    holding_rate_annual: float = 0.24        # holding cost as a share of unit cost per year
    goodwill_pct: float = 0.25               # lost sale costs margin + this share of MRP
    breakpoints: int = 6                     # tangent lines per large line
    gap_rel: float = 0.01
    time_limit_s: float = 25.0
    must_order_critical: bool = False        # every critical line gets at least its MOQ


@dataclass(frozen=True)
class PlanSolution:
    lines: pd.DataFrame      # plan lines + opt_qty, opt_cases, opt_value, opt_volume_l,
                             # expected_lost_units
    status: str              # optimal | feasible | infeasible | not solved | nothing to order
    gap: float | None        # relative MIP gap at the end (0 when proven optimal)
    seconds: float           # CBC wall time
    build_seconds: float     # model construction time
    total_value: float
    total_volume_l: float
    n_candidates: int
    expected_fill_rate: float
    explanation: str         # one sentence for the user


def rupees(value: float) -> str:
    v = abs(float(value))
    sign = "-" if value < 0 else ""
    if v >= 1e7:
        return f"{sign}₹{v / 1e7:.2f} crore"
    if v >= 1e5:
        return f"{sign}₹{v / 1e5:.2f} lakh"
    return f"{sign}₹{v:,.0f}"


def expected_lost(stock, mu, sigma) -> np.ndarray:
    """E[(D - stock)^+] for D ~ Normal(mu, sigma)."""
    sigma = np.maximum(np.asarray(sigma, float), 1e-9)
    z = (np.asarray(stock, float) - np.asarray(mu, float)) / sigma
    return sigma * (np.exp(-0.5 * z * z) / _SQRT2PI - z * 0.5 * erfc(z / _SQRT2))


def _candidates(plan: pd.DataFrame) -> pd.DataFrame:
    c = plan[plan["order_qty"] > 0].copy()
    c["pack"] = c["case_pack"].clip(lower=1).astype(float)
    c["max_cases"] = np.ceil(c["order_qty"] / c["pack"] - 1e-9).astype(int)
    c["min_cases"] = np.maximum(np.ceil(c["moq"] / c["pack"] - 1e-9), 1).astype(int)
    c["min_cases"] = np.minimum(c["min_cases"], c["max_cases"])
    c["mu"] = c["protect_demand"].astype(float)
    c["sigma"] = np.maximum(c["protect_sigma"].astype(float),
                            np.maximum(0.05 * c["mu"], 0.5))
    return c


def _unit_costs(c: pd.DataFrame, cfg: OptimizeConfig) -> tuple[np.ndarray, np.ndarray]:
    cost = c["unit_cost"].astype(float).to_numpy()
    mrp = c["mrp"].astype(float).fillna(c["unit_cost"] * 1.3).to_numpy()
    lost = np.maximum(mrp - cost, 0.1 * cost) + cfg.goodwill_pct * mrp
    days = c["lead_time_days"].to_numpy(float) + 7.0     # lead time + one order cycle
    hold = cost * cfg.holding_rate_annual * days / 365.0
    return np.maximum(lost, 1e-6), hold


def _segments(c: pd.DataFrame, k: int, from_moq: bool):
    """Per candidate: (f0, f_min, lengths in cases, slopes per case) of a piecewise-linear
    expected-lost-sales curve through breakpoints min_cases = p0 < ... < pK = max_cases
    (exact at every breakpoint; at every case count when a line has at most `k` + 1).
    f0 is the value with no order, f_min at the MOQ (0 cases unless `from_moq`)."""
    ip = c["inventory_position"].to_numpy(float)
    mu, sg, pack = (c[col].to_numpy(float) for col in ("mu", "sigma", "pack"))
    lo = c["min_cases"].to_numpy(int) if from_moq else np.zeros(len(c), dtype=int)
    hi = c["max_cases"].to_numpy(int)
    # k + 1 evenly spaced case counts per line, rounded; duplicates removed below
    frac = np.linspace(0.0, 1.0, k + 1)
    pts = np.round(lo[:, None] + (hi - lo)[:, None] * frac[None, :])
    val = expected_lost(ip[:, None] + pts * pack[:, None], mu[:, None], sg[:, None])
    f0 = expected_lost(ip, mu, sg)
    out = []
    for i in range(len(c)):
        p, keep = np.unique(pts[i], return_index=True)
        v = val[i, keep]
        out.append((float(f0[i]), float(v[0]), np.diff(p), np.diff(v) / np.diff(p)))
    return out


def greedy_cases(c: pd.DataFrame, lost: np.ndarray, hold: np.ndarray,
                 cfg: OptimizeConfig) -> np.ndarray:
    """A good feasible start: fund case increments in order of cost saved per unit of
    scarce resource (budget and volume shares), the first increment of a line being its
    whole MOQ chunk with the fixed ordering cost. Ratios are made non-increasing within a
    line, so increments of a line come in order; an increment that does not fit blocks the
    rest of its line. Several budget/volume weightings are tried; the best start wins."""
    mx = c["max_cases"].to_numpy(int)
    mn = c["min_cases"].to_numpy(int)
    pack = c["pack"].to_numpy(float)
    ip = c["inventory_position"].to_numpy(float)
    mu, sg = c["mu"].to_numpy(float), c["sigma"].to_numpy(float)
    steps = mx - mn + 1
    line = np.repeat(np.arange(len(c)), steps)
    first = np.concatenate([[0], np.cumsum(steps)[:-1]])
    k = np.arange(steps.sum()) - np.repeat(first, steps)           # 0 = the MOQ chunk
    hi_cases = mn[line] + k
    lo_cases = np.where(k == 0, 0, hi_cases - 1)
    def cost_at(cases):
        q = cases * pack[line]
        return (lost[line] + hold[line]) * expected_lost(ip[line] + q, mu[line], sg[line]) \
            + hold[line] * q
    saving = cost_at(lo_cases) - cost_at(hi_cases) - np.where(k == 0, cfg.order_cost, 0.0)
    units = (hi_cases - lo_cases) * pack[line]
    value = units * c["unit_cost"].to_numpy(float)[line]
    volume = units * c["unit_volume_l"].fillna(0).to_numpy(float)[line]
    cum_saving = pd.Series(saving).groupby(line).cumsum().to_numpy()
    best, best_saving = np.zeros(len(c), dtype=int), 0.0
    for wb, wv in ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 3.0), (3.0, 1.0)):
        weight = np.zeros_like(value)
        if cfg.budget:
            weight += wb * value / cfg.budget
        if cfg.volume_capacity_l:
            weight += wv * volume / cfg.volume_capacity_l
        if not weight.any():
            weight = value + volume + 1.0
        cases = _greedy_pass(saving, weight, line, hi_cases, value, volume, len(c), cfg)
        got = _total_saving(cases, mn, first, cum_saving)
        if got > best_saving:
            best, best_saving = cases, got
    return best


def _total_saving(cases, mn, first, cum_saving) -> float:
    took = cases > 0
    return float(cum_saving[first[took] + cases[took] - mn[took]].sum())


def _greedy_pass(saving, weight, line, hi_cases, value, volume, n_lines, cfg) -> np.ndarray:
    """One greedy pass. A line's first item is the chunk from 0 to the case count with the
    best average saving per weight (so a fixed cost is spread over enough cases); later
    cases follow one by one with non-increasing ratios."""
    frame = pd.DataFrame({"line": line, "saving": saving, "weight": np.maximum(weight, 1e-12),
                          "value": value, "volume": volume, "cases": hi_cases})
    grp = frame.groupby("line", sort=False)
    avg = grp["saving"].cumsum() / grp["weight"].cumsum()
    pos = np.arange(len(frame)) - grp.cumcount().to_numpy()      # first row of each line
    head_end = avg.fillna(-np.inf).groupby(frame["line"]).idxmax().reindex(line).to_numpy(int)
    in_head = np.arange(len(frame)) <= head_end
    frame["item"] = np.where(in_head, pos, np.arange(len(frame)))
    items = frame.groupby("item", sort=False).agg(
        line=("line", "first"), saving=("saving", "sum"), weight=("weight", "sum"),
        value=("value", "sum"), volume=("volume", "sum"), cases=("cases", "max"))
    ratio = items["saving"] / items["weight"]
    ratio = ratio.groupby(items["line"]).cummin().to_numpy()
    rank = np.arange(len(items))
    order = np.lexsort((rank, -ratio))
    order = order[ratio[order] > 0]
    budget = cfg.budget if cfg.budget is not None else np.inf
    room = cfg.volume_capacity_l if cfg.volume_capacity_l is not None else np.inf
    cases = np.zeros(n_lines, dtype=int)
    blocked = np.zeros(n_lines, dtype=bool)
    spent = used = 0.0
    lines_ = items["line"].to_numpy(int)
    for li, v, vol, cs in zip(lines_[order].tolist(), items["value"].to_numpy()[order].tolist(),
                              items["volume"].to_numpy()[order].tolist(),
                              items["cases"].to_numpy()[order].tolist()):
        if blocked[li]:
            continue
        if spent + v > budget + 1e-6 or used + vol > room + 1e-6:
            blocked[li] = True          # later items of this line need this one
            continue
        spent += v
        used += vol
        cases[li] = cs
    return cases


def _exact_cost(cases, c, lost, hold, cfg) -> float:
    q = cases * c["pack"].to_numpy(float)
    els = expected_lost(c["inventory_position"].to_numpy(float) + q, c["mu"], c["sigma"])
    return float(((lost + hold) * els + hold * q + cfg.order_cost * (q > 0)).sum())


def _parse_gap(log_path: str) -> float | None:
    try:
        text = open(log_path, encoding="utf-8", errors="replace").read()
    except OSError:
        return None
    obj = re.search(r"Objective value:\s+([-\d.eE+]+)", text)
    bound = re.search(r"(?:Lower|Upper) bound:\s+([-\d.eE+]+)", text)
    if "Optimal solution found" in text and "within gap" not in text:
        return 0.0
    if not obj or not bound:
        return None
    o, b = float(obj.group(1)), float(bound.group(1))
    return abs(o - b) / max(abs(o), 1e-9)


def _solve(prob: pulp.LpProblem, cfg: OptimizeConfig,
           warm: bool = False) -> tuple[str, float | None, float]:
    fd, log = tempfile.mkstemp(prefix="micropulse_cbc_", suffix=".log")
    os.close(fd)
    solver = pulp.PULP_CBC_CMD(msg=False, gapRel=cfg.gap_rel, timeLimit=cfg.time_limit_s,
                               logPath=log, warmStart=warm)
    started = time.perf_counter()
    prob.solve(solver)
    seconds = time.perf_counter() - started
    gap = _parse_gap(log)
    os.unlink(log)
    if prob.status == pulp.LpStatusInfeasible:
        return "infeasible", None, seconds
    if prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal", gap if gap is not None else 0.0, seconds
    if prob.sol_status == pulp.LpSolutionIntegerFeasible or \
            prob.status == pulp.LpStatusOptimal:
        return "feasible", gap, seconds
    return "not solved", None, seconds


def _infeasible_reason(c: pd.DataFrame, cfg: OptimizeConfig) -> str | None:
    if not cfg.must_order_critical:
        return None
    crit = c[c["urgency"] == "critical"]
    min_units = crit["min_cases"] * crit["pack"]
    need_value = float((min_units * crit["unit_cost"]).sum())
    need_vol = float((min_units * crit["unit_volume_l"]).sum())
    if cfg.budget is not None and need_value > cfg.budget + 1e-6:
        return (f"The budget of {rupees(cfg.budget)} cannot cover even the minimum orders "
                f"(MOQ, whole cases) of the {len(crit)} critical lines, which need "
                f"{rupees(need_value)}; raise the budget by at least "
                f"{rupees(need_value - cfg.budget)} or stop forcing critical lines.")
    if cfg.volume_capacity_l is not None and need_vol > cfg.volume_capacity_l + 1e-6:
        return (f"The capacity of {cfg.volume_capacity_l:,.0f} litres cannot hold even the "
                f"minimum orders of the {len(crit)} critical lines, which take "
                f"{need_vol:,.0f} litres; add {need_vol - cfg.volume_capacity_l:,.0f} "
                "litres of capacity or stop forcing critical lines.")
    return None


def _result(plan, c, qty, status, gap, seconds, build, explanation) -> PlanSolution:
    lines = plan.copy()
    lines["opt_qty"] = 0.0
    lines.loc[c.index, "opt_qty"] = qty
    lines["opt_cases"] = lines["opt_qty"] / lines["case_pack"].clip(lower=1)
    lines["opt_value"] = lines["opt_qty"] * lines["unit_cost"]
    lines["opt_volume_l"] = lines["opt_qty"] * lines["unit_volume_l"]
    sigma = np.maximum(lines["protect_sigma"], np.maximum(0.05 * lines["protect_demand"], 0.5))
    lines["expected_lost_units"] = expected_lost(
        lines["inventory_position"] + lines["opt_qty"], lines["protect_demand"], sigma)
    demand = float(lines["protect_demand"].sum())
    fill = 1.0 - float(lines["expected_lost_units"].sum()) / demand if demand > 0 else 1.0
    return PlanSolution(lines=lines, status=status, gap=gap, seconds=seconds,
                        build_seconds=build, total_value=float(lines["opt_value"].sum()),
                        total_volume_l=float(lines["opt_volume_l"].sum()),
                        n_candidates=len(c), expected_fill_rate=fill,
                        explanation=explanation)


def optimize_orders(plan: pd.DataFrame, cfg: OptimizeConfig = OptimizeConfig()) -> PlanSolution:
    """Choose case counts for the policy's order lines under budget and capacity."""
    for name, value in (("budget", cfg.budget), ("capacity", cfg.volume_capacity_l)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise InventoryInputError(f"The {name} must be zero or more; got {value}.")
    started = time.perf_counter()
    c = _candidates(plan)
    if c.empty:
        return _result(plan, c, [], "nothing to order", 0.0, 0.0, 0.0,
                       "No line is at or below its reorder point, so nothing needs ordering.")
    reason = _infeasible_reason(c, cfg)
    if reason:
        return _result(plan, c, np.zeros(len(c)), "infeasible", None, 0.0,
                       time.perf_counter() - started, reason)
    lost, hold = _unit_costs(c, cfg)
    prob = pulp.LpProblem("purchase_plan", pulp.LpMinimize)
    pack = c["pack"].to_numpy(float)
    mn = c["min_cases"].to_numpy(int)
    mx = c["max_cases"].to_numpy(int)
    crit = (c["urgency"] == "critical").to_numpy()
    segs = _segments(c, cfg.breakpoints, from_moq=True)
    start = greedy_cases(c, lost, hold, cfg)
    if cfg.must_order_critical:
        start = np.where(crit, np.maximum(start, mn), start)
    # Expected lost sales = f0 + (f_min - f0) * y + sum_s slope_s * w_s, with
    # cases n = min_cases * y + sum_s w_s: the convex hull of {0} u [MOQ, max]. Convexity
    # (slopes rising) makes the solver fill segments in order, so no extra binaries.
    n, y, obj = [], [], []
    for i, (f0, fmin, lens, slopes) in enumerate(segs):
        ni = pulp.LpVariable(f"n{i}", 0, int(mx[i]), cat="Integer")
        yi = pulp.LpVariable(f"y{i}", 0, 1, cat="Integer")
        unit = lost[i] + hold[i]
        obj += [(yi, unit * (fmin - f0) + cfg.order_cost), (ni, hold[i] * pack[i])]
        link = [(ni, 1.0), (yi, -float(mn[i]))]
        left = max(int(start[i]) - int(mn[i]), 0)
        for s_, (ln, sl) in enumerate(zip(lens, slopes)):
            w = pulp.LpVariable(f"w{i}_{s_}", 0, float(ln))
            w.setInitialValue(float(min(ln, left)))
            left -= min(ln, left)
            obj.append((w, unit * float(sl)))
            link.append((w, -1.0))
        prob.addConstraint(pulp.LpAffineExpression(link) == 0)
        prob.addConstraint(pulp.LpAffineExpression([(ni, 1.0), (yi, -float(mx[i]))]) <= 0)
        if cfg.must_order_critical and crit[i]:
            yi.lowBound = 1
        ni.setInitialValue(int(start[i]))
        yi.setInitialValue(int(start[i] > 0))
        n.append(ni)
        y.append(yi)
    prob.setObjective(pulp.LpAffineExpression(obj))
    if cfg.budget is not None:
        coef = (c["unit_cost"].to_numpy(float) * pack)
        prob.addConstraint(pulp.LpAffineExpression(list(zip(n, coef))) <= cfg.budget)
    if cfg.volume_capacity_l is not None:
        coef = (c["unit_volume_l"].fillna(0).to_numpy(float) * pack)
        prob.addConstraint(pulp.LpAffineExpression(list(zip(n, coef))) <= cfg.volume_capacity_l)
    build = time.perf_counter() - started
    status, gap, seconds = _solve(prob, cfg, warm=True)
    if status in ("infeasible", "not solved"):
        why = ("The solver found no plan that meets every rule (budget, capacity, MOQ and "
               "case packs) together." if status == "infeasible" else
               f"The solver stopped after {seconds:.0f} s without a usable plan; raise the "
               "time limit or plan fewer lines.")
        return _result(plan, c, np.zeros(len(c)), status, gap, seconds, build, why)
    qty = np.array([round(v.value() or 0) for v in n]) * pack
    res = _result(plan, c, qty, status, gap, seconds, build, "")
    return _explain(res, c, cfg)


def _explain(res: PlanSolution, c: pd.DataFrame, cfg: OptimizeConfig) -> PlanSolution:
    wanted = float((c["order_qty"] * c["unit_cost"]).sum())
    funded = int((res.lines.loc[c.index, "opt_qty"] > 0).sum())
    gap = "proven optimal" if res.status == "optimal" and (res.gap or 0) <= 1e-6 else \
        f"{res.status}, gap {100 * (res.gap or 0):.2f}%"
    text = (f"Ordering {funded} of {len(c)} lines for {rupees(res.total_value)} "
            f"(the policy asked for {rupees(wanted)}); expected fill rate "
            f"{res.expected_fill_rate:.1%}; {gap} in {res.seconds:.1f} s.")
    if cfg.budget is not None and wanted > cfg.budget:
        text += (f" The budget of {rupees(cfg.budget)} is short by "
                 f"{rupees(wanted - cfg.budget)}, so lines with the least lost sales per "
                 "rupee were trimmed or dropped.")
    return PlanSolution(**{**res.__dict__, "explanation": text})


def allocate_dc_stock(plan: pd.DataFrame, dc_stock: pd.DataFrame,
                      cfg: OptimizeConfig = OptimizeConfig()) -> PlanSolution:
    """Share each SKU's DC stock (dc_stock: sku_id, available) across the PIN codes whose
    plan asks for it, in whole cases, minimising expected lost-sales cost. Never allocates
    more than is available or more than a line asked for."""
    if not {"sku_id", "available"} <= set(dc_stock.columns):
        raise InventoryInputError("DC stock needs columns sku_id and available.")
    bad = dc_stock[pd.to_numeric(dc_stock["available"], errors="coerce").fillna(-1) < 0]
    if len(bad):
        raise InventoryInputError(
            f"{len(bad)} SKUs have negative or missing DC stock (e.g. "
            f"{bad.iloc[0]['sku_id']}: {bad.iloc[0]['available']!r}).", bad)
    started = time.perf_counter()
    stock = dc_stock.assign(sku_id=dc_stock["sku_id"].astype(str)).groupby("sku_id")[
        "available"].sum()
    c = _candidates(plan)
    c = c[c["sku_id"].isin(stock.index)]
    if c.empty:
        return _result(plan, c, [], "nothing to order", 0.0, 0.0, 0.0,
                       "No PIN code that needs these SKUs is below its reorder point.")
    lost, hold = _unit_costs(c, cfg)
    prob = pulp.LpProblem("dc_allocation", pulp.LpMinimize)
    pack = c["pack"].to_numpy(float)
    n, obj = [], []
    for i, (_f0, _fmin, lens, slopes) in enumerate(_segments(c, cfg.breakpoints, False)):
        ni = pulp.LpVariable(f"n{i}", 0, int(c["max_cases"].iat[i]), cat="Integer")
        unit = lost[i] + hold[i]
        link = [(ni, 1.0)]
        obj.append((ni, hold[i] * pack[i]))
        for s_, (ln, sl) in enumerate(zip(lens, slopes)):
            w = pulp.LpVariable(f"w{i}_{s_}", 0, float(ln))
            obj.append((w, unit * float(sl)))
            link.append((w, -1.0))
        prob.addConstraint(pulp.LpAffineExpression(link) == 0)
        n.append(ni)
    prob.setObjective(pulp.LpAffineExpression(obj))
    for sku, rows in c.groupby("sku_id").indices.items():
        prob.addConstraint(pulp.LpAffineExpression(
            [(n[i], float(pack[i])) for i in rows]) <= float(stock[sku]))
    build = time.perf_counter() - started
    status, gap, seconds = _solve(prob, cfg)
    if status in ("infeasible", "not solved"):
        return _result(plan, c, np.zeros(len(c)), status, gap, seconds, build,
                       "The solver could not find an allocation within the time limit.")
    qty = np.array([round(v.value() or 0) for v in n]) * pack
    res = _result(plan, c, qty, status, gap, seconds, build, "")
    asked = float(c["order_qty"].sum())
    text = (f"Allocated {qty.sum():,.0f} of {float(stock[c['sku_id'].unique()].sum()):,.0f} "
            f"DC units across {int((qty > 0).sum())} PIN lines (they asked for {asked:,.0f}); "
            f"{status} in {seconds:.1f} s.")
    return PlanSolution(**{**res.__dict__, "explanation": text})
