"""Optimal purchase split across ranked mandis (PuLP MILP, CBC bundled with PuLP).

minimise   sum_i landed_i * q_i + truck_cost * sum_i t_i
subject to sum_i q_i = Q                                  (required quantity)
           q_i <= available_i * y_i                       (share of recent arrivals)
           q_i <= truck_capacity * t_i,  t_i integer       (whole trucks per mandi)
           sum_i y_i <= max_mandis,      y_i binary
           total cost <= budget                           (when a budget is given)
           y_i = 0 where quality_score_i < min_quality

available_i = availability_share x mean daily arrivals (tonnes x 10 = quintals) x
buying_window_days. When the model is infeasible each constraint is relaxed in turn (then
in pairs) and the message names what to change, with the number that would work.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from engine.sourcing.prepare import SourcingError
from engine.sourcing.text import inr


@dataclass(frozen=True)
class AllocationConfig:
    quantity_qtl: float
    budget: float | None = None
    min_quality: float = 0.0
    max_mandis: int = 3
    truck_capacity_qtl: float = 100.0
    truck_cost: float = 3000.0
    availability_share: float = 0.10
    buying_window_days: int = 7
    time_limit_s: float = 20.0


@dataclass(frozen=True)
class AllocationResult:
    status: str                    # PuLP status: Optimal, Infeasible, Not Solved, ...
    feasible: bool
    lines: pd.DataFrame            # one row per mandi bought from
    totals: dict
    message: str
    solve_seconds: float
    binding: tuple[str, ...] = ()
    config: AllocationConfig | None = field(default=None, compare=False)


LINE_COLUMNS = ["market", "state", "quantity_qtl", "trucks", "modal_price", "transport_per_qtl",
                "landed_price", "goods_cost", "transport_cost", "truck_cost", "total_cost",
                "quality_score", "score", "available_qtl", "distance_km", "road_km", "lat",
                "lon", "mandi_id"]
CONSTRAINT_LABELS = {"budget": "budget", "min_quality": "minimum quality score",
                     "max_mandis": "maximum number of mandis",
                     "availability": "per-mandi available quantity"}


def available_qtl(ranked: pd.DataFrame, cfg: AllocationConfig) -> pd.Series:
    """What each mandi can supply in the buying window (NaN arrivals -> 0)."""
    return (ranked["arrivals_qtl_per_day"].fillna(0.0).clip(lower=0)
            * cfg.availability_share * cfg.buying_window_days)


def _solve(ranked: pd.DataFrame, cfg: AllocationConfig, relax: frozenset = frozenset()):
    import pulp

    df = ranked.sort_values("mandi_id", kind="stable").reset_index(drop=True)
    avail = available_qtl(df, cfg).to_numpy()
    if "availability" in relax:
        avail = np.full(len(df), cfg.quantity_qtl)
    ok_quality = (df["quality_score"].to_numpy() >= cfg.min_quality) | ("min_quality" in relax)
    prob = pulp.LpProblem("mandi_allocation", pulp.LpMinimize)
    idx = range(len(df))
    q = [pulp.LpVariable(f"q_{i}", lowBound=0) for i in idx]
    t = [pulp.LpVariable(f"t_{i}", lowBound=0, cat="Integer") for i in idx]
    y = [pulp.LpVariable(f"y_{i}", cat="Binary") for i in idx]
    landed = df["landed_price"].to_numpy(dtype=float)
    cost = pulp.lpSum(landed[i] * q[i] for i in idx) + cfg.truck_cost * pulp.lpSum(t)
    prob += cost
    prob += pulp.lpSum(q) == cfg.quantity_qtl, "required_quantity"
    for i in idx:
        prob += q[i] <= float(avail[i]) * y[i] if ok_quality[i] else q[i] == 0
        prob += q[i] <= cfg.truck_capacity_qtl * t[i]
        prob += t[i] <= float(np.ceil(cfg.quantity_qtl / cfg.truck_capacity_qtl)) * y[i]
    if "max_mandis" not in relax:
        prob += pulp.lpSum(y) <= cfg.max_mandis, "max_mandis"
    if cfg.budget is not None and "budget" not in relax:
        prob += cost <= cfg.budget, "budget"
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=cfg.time_limit_s, threads=1,
                               options=["randomSeed 42", "randomCbcSeed 42"])
    prob.solve(solver)
    status = pulp.LpStatus[prob.status]
    feasible = prob.status == pulp.LpStatusOptimal or (
        prob.status == pulp.LpStatusNotSolved and pulp.value(prob.objective) is not None)
    if status == "Optimal":
        # CBC reports "Optimal" for an integer-feasible incumbent; double-check the sum.
        feasible = abs(sum((v.value() or 0) for v in q) - cfg.quantity_qtl) < 1e-4
    sol = df.assign(quantity_qtl=[max(0.0, v.value() or 0.0) for v in q],
                    trucks=[int(round(v.value() or 0)) for v in t], available_qtl=avail)
    return status, feasible, sol, (pulp.value(cost) if feasible else None)


def allocate(ranked: pd.DataFrame, cfg: AllocationConfig) -> AllocationResult:
    """Split `cfg.quantity_qtl` across the ranked mandis at least landed + truck cost."""
    if ranked is None or ranked.empty:
        raise SourcingError("There are no ranked mandis to buy from.")
    for name, value in (("quantity", cfg.quantity_qtl), ("truck capacity", cfg.truck_capacity_qtl)):
        if value is None or not np.isfinite(value) or value <= 0:
            raise SourcingError(f"The {name} must be a positive number of quintals.", value)
    if cfg.max_mandis < 1:
        raise SourcingError("Allow at least one mandi.", cfg.max_mandis)
    started = time.perf_counter()
    status, feasible, sol, total = _solve(ranked, cfg)
    if not feasible:
        binding, message = _explain(ranked, cfg)
        return AllocationResult(status if status != "Optimal" else "Infeasible", False,
                                pd.DataFrame(columns=LINE_COLUMNS), {}, message,
                                round(time.perf_counter() - started, 3), binding, cfg)
    lines = sol[sol["quantity_qtl"] > 1e-6].copy()
    lines["quantity_qtl"] = lines["quantity_qtl"].round(2)
    lines["goods_cost"] = lines["quantity_qtl"] * lines["modal_price"]
    lines["transport_cost"] = lines["quantity_qtl"] * lines["transport_per_qtl"]
    lines["truck_cost"] = lines["trucks"] * cfg.truck_cost
    lines["total_cost"] = lines["goods_cost"] + lines["transport_cost"] + lines["truck_cost"]
    lines = lines.sort_values(["quantity_qtl", "mandi_id"], ascending=[False, True])
    lines = lines[LINE_COLUMNS].reset_index(drop=True)
    totals = {
        "quantity_qtl": float(lines["quantity_qtl"].sum()),
        "goods_cost": float(lines["goods_cost"].sum()),
        "transport_cost": float(lines["transport_cost"].sum()),
        "truck_cost": float(lines["truck_cost"].sum()),
        "total_cost": float(lines["total_cost"].sum()),
        "trucks": int(lines["trucks"].sum()),
        "mandis": int(len(lines)),
    }
    totals["cost_per_qtl"] = totals["total_cost"] / totals["quantity_qtl"]
    message = (f"Buy {totals['quantity_qtl']:,.0f} quintals from {totals['mandis']} mandi"
               f"{'s' if totals['mandis'] > 1 else ''} in {totals['trucks']} truck"
               f"{'s' if totals['trucks'] != 1 else ''} for {inr(totals['total_cost'])} "
               f"({inr(totals['cost_per_qtl'])}/qtl landed).")
    return AllocationResult(status, True, lines, totals, message,
                            round(time.perf_counter() - started, 3), (), cfg)


def _explain(ranked: pd.DataFrame, cfg: AllocationConfig) -> tuple[tuple[str, ...], str]:
    """Name the constraint(s) whose relaxation makes the plan feasible, with a number."""
    names = ["budget", "max_mandis", "min_quality", "availability"]
    if cfg.budget is None:
        names.remove("budget")
    for combo_size in (1, 2, 3):
        hits = []
        for combo in itertools.combinations(names, combo_size):
            _, ok, sol, total = _solve(ranked, cfg, frozenset(combo))
            if ok:
                hits.append((combo, sol, total))
        if hits:
            combo, sol, total = hits[0]
            return combo, _sentence(ranked, cfg, combo, sol, total, [h[0] for h in hits])
    return tuple(names), ("No purchase plan is possible even with budget, quality, mandi count "
                          "and availability relaxed; check the required quantity.")


def _sentence(ranked, cfg, combo, sol, total, alternatives) -> str:
    need = f"{cfg.quantity_qtl:,.0f} quintals"
    used = sol[sol["quantity_qtl"] > 1e-6]
    avail = available_qtl(ranked, cfg)
    eligible = ranked["quality_score"] >= cfg.min_quality
    top = avail[eligible].sort_values(ascending=False)
    k_min = int(np.searchsorted(top.cumsum().to_numpy(), cfg.quantity_qtl - 1e-6) + 1)
    details = {
        "budget": f"raise the budget from {inr(cfg.budget)} to at least {inr(total)} "
                  "(the cheapest plan meeting the other constraints)" if total else
                  "raise the budget",
        "max_mandis": f"allow at least {max(k_min, cfg.max_mandis + 1)} mandis (now {cfg.max_mandis}); the largest "
                      f"{cfg.max_mandis} eligible mandis can supply only "
                      f"{avail[eligible].nlargest(cfg.max_mandis).sum():,.0f} quintals",
        "min_quality": f"lower the minimum quality score from {cfg.min_quality:.0f} to "
                       f"{_quality_threshold(ranked, cfg, combo, used):.1f} or less",
        "availability": f"mandis meeting the quality bar can supply only "
                        f"{avail[eligible].sum():,.0f} quintals in {cfg.buying_window_days} "
                        f"days at a {cfg.availability_share:.0%} share of arrivals; lower the "
                        "quantity or raise the share of arrivals you can buy",
    }
    labels = " and ".join(CONSTRAINT_LABELS[c] for c in combo)
    text = f"No plan buys {need} within these limits: relax the {labels} — " \
           + "; ".join(details[c] for c in combo) + "."
    others = [a for a in alternatives if a != combo]
    if others:
        text += " Alternatively relax the " + " or the ".join(
            " and ".join(CONSTRAINT_LABELS[c] for c in a) for a in others) + "."
    return text


def _quality_threshold(ranked, cfg, combo, used, max_solves: int = 25) -> float:
    """The highest minimum quality that is feasible once the other relaxations in `combo`
    apply (scans the mandis' own scores downwards)."""
    others = frozenset(c for c in combo if c != "min_quality")
    fallback = float(np.floor(used["quality_score"].min() * 10) / 10)
    scores = sorted({float(v) for v in ranked["quality_score"] if v < cfg.min_quality},
                    reverse=True)
    for score in scores[:max_solves]:
        _, ok, _, _ = _solve(ranked, replace(cfg, min_quality=score), others)
        if ok:
            return float(np.floor(score * 10) / 10)
    return fallback


def purchase_order(result: AllocationResult, commodity: str, destination_pin: str | None,
                   as_of: str | None = None) -> pd.DataFrame:
    """A purchase-order draft: one line per mandi, quantities in quintals and kg, ₹ costs."""
    if not result.feasible or result.lines.empty:
        return pd.DataFrame()
    lines = result.lines
    return pd.DataFrame({
        "line": np.arange(1, len(lines) + 1),
        "commodity": commodity,
        "mandi": lines["market"],
        "state": lines["state"],
        "quantity_qtl": lines["quantity_qtl"],
        "quantity_kg": (lines["quantity_qtl"] * 100).round(0),
        "trucks": lines["trucks"],
        "modal_price_rs_per_qtl": lines["modal_price"].round(2),
        "transport_rs_per_qtl": lines["transport_per_qtl"].round(2),
        "truck_cost_rs": lines["truck_cost"].round(2),
        "line_total_rs": lines["total_cost"].round(2),
        "deliver_to_pin": destination_pin,
        "price_date": pd.Timestamp(as_of) if as_of else pd.NaT,
    })

