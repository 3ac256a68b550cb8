"""Replay check: does the policy deliver the service level it promises?

Replays the last `weeks` weeks of actual daily sales with the policy:

* every `replan_days` days the reorder point and order-up-to level are recomputed from the
  trailing `history_weeks` of sales only (the empirical model: no peeking at the replay);
* each day: open orders due that day arrive, demand is served from stock (unserved demand
  is lost, not back-ordered), then the inventory position (on hand + open orders) is
  reviewed and, at or below the reorder point, an order up to the order-up-to level is
  placed (whole cases, at least the MOQ) and arrives `lead_time_days` later;
* every line starts at its order-up-to level with nothing on order.

Fill rate = units served / units demanded, over all lines and days.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from engine.inventory.demand import KEY, InventoryInputError, keys_as_text, demand_from_sales
from engine.inventory.policy import PolicyConfig, plan_levels, prepare_lines, round_order


@dataclass(frozen=True)
class ReplayResult:
    target: float            # service level asked for (fill-rate target)
    fill_rate: float         # achieved, units served / units demanded
    start: date
    end: date
    n_lines: int
    demand_units: float
    lost_units: float
    orders_placed: int
    stockout_line_days: float  # share of line-days that ended with demand unserved
    lines: pd.DataFrame      # per line: demand, served, lost, fill_rate, orders

    def summary(self) -> str:
        return (f"Replay {self.start:%d-%b-%Y} to {self.end:%d-%b-%Y}, {self.n_lines} lines: "
                f"fill rate {self.fill_rate:.1%} against a {self.target:.0%} target "
                f"({self.fill_rate - self.target:+.1%} points), {self.orders_placed} orders, "
                f"{self.lost_units:,.0f} of {self.demand_units:,.0f} units lost.")


def replay_policy(sales: pd.DataFrame, lines: pd.DataFrame, cfg: PolicyConfig = PolicyConfig(),
                  weeks: int = 8, history_weeks: int = 8, replan_days: int = 7,
                  festivals: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> ReplayResult:
    """Replay the last `weeks` of `sales` (sku_id, pin_code, date, quantity) for `lines`
    (sku_id, pin_code, lead_time_days, moq, case_pack; on_hand is ignored)."""
    cfg.validate()
    if sales.empty:
        raise InventoryInputError("There are no sales to replay.")
    base = lines.copy()
    if "on_hand" not in base:
        base["on_hand"] = 0.0
    prepared = prepare_lines(base, cfg)
    sales = keys_as_text(sales)
    sales["date"] = pd.to_datetime(sales["date"])
    end = sales["date"].max().normalize()
    days = 7 * weeks
    start = end - pd.Timedelta(days=days - 1)
    if sales["date"].min() > start - pd.Timedelta(days=7 * history_weeks - 1):
        raise InventoryInputError(
            f"The replay needs {weeks + history_weeks} weeks of sales; the data starts "
            f"{sales['date'].min():%d-%b-%Y}.")
    n = len(prepared)
    idx = pd.MultiIndex.from_frame(prepared[KEY])
    win = sales[sales["date"] >= start]
    actual = np.zeros((n, days))
    pos = idx.get_indexer(pd.MultiIndex.from_frame(win[KEY]))
    ok = pos >= 0
    np.add.at(actual, (pos[ok], (win["date"] - start).dt.days.to_numpy()[ok]),
              win["quantity"].to_numpy(float)[ok])

    lead = prepared["lead_time_days"].to_numpy(int)
    moq, pack = prepared["moq"].to_numpy(float), prepared["case_pack"].to_numpy(float)
    arrivals = np.zeros((n, days + int(lead.max()) + 1))
    served = np.zeros((n, days))
    on_hand = np.zeros(n)
    orders = np.zeros(n, dtype=int)
    rows = np.arange(n)
    rop = s = None
    for t in range(days):
        if t % replan_days == 0:
            as_of = start + pd.Timedelta(days=t - 1)
            model = demand_from_sales(sales[sales["date"] <= as_of], prepared, as_of=as_of,
                                      horizon=int(lead.max()) + cfg.review_days + 1,
                                      weeks=history_weeks, festivals=festivals)
            levels = plan_levels(prepared, model, cfg)
            rop = levels["reorder_point"].to_numpy(float)
            s = levels["order_up_to"].to_numpy(float)
            if t == 0:
                on_hand = s.copy()
        on_hand += arrivals[:, t]
        served[:, t] = np.minimum(on_hand, actual[:, t])
        on_hand -= served[:, t]
        position = on_hand + arrivals[:, t + 1:].sum(axis=1)
        qty = round_order(np.where(position <= rop, s - position, 0.0), moq, pack)
        placed = qty > 0
        arrivals[rows[placed], t + lead[placed]] += qty[placed]
        orders += placed
    demand = actual.sum(axis=1)
    got = served.sum(axis=1)
    per_line = prepared[KEY].assign(
        demand=demand, served=got, lost=demand - got, orders=orders,
        fill_rate=np.where(demand > 0, got / np.where(demand > 0, demand, 1), np.nan))
    total = float(demand.sum())
    short_days = float(((actual - served) > 1e-9).sum()) / max(n * days, 1)
    return ReplayResult(target=cfg.service_level,
                        fill_rate=float(got.sum()) / total if total > 0 else 1.0,
                        start=start.date(), end=end.date(), n_lines=n, demand_units=total,
                        lost_units=float(total - got.sum()), orders_placed=int(orders.sum()),
                        stockout_line_days=short_days, lines=per_line)
