"""Reorder policy per SKU x PIN: safety stock, reorder point, order-up-to, cover, urgency.

Method (daily review, lost sales):

* demand over the lead time L is the sum of the daily demand path (forecast or empirical)
  over the next L days; its error is `sigma_L = sigma_daily * sqrt(L)`, with sigma_daily
  from the forecast's backtest residuals (or its interval width, or the 8-week spread);
* the service level is a fill-rate target (share of demand served from the shelf). The
  safety factor z solves `sigma_L * G(z) = (1 - service_level) * Q`, where G is the
  standard normal loss function and Q the expected order size (one order cycle of demand,
  at least the MOQ / one case). z is never below 0, so safety stock is never negative;
* safety stock = z * sigma_L, reorder point = lead-time demand + safety stock, order-up-to
  = reorder point + demand over the order cycle (`review_days`). When the inventory
  position (on hand + on order) is at or below the reorder point, the order brings it up
  to the order-up-to level, rounded up to whole cases and at least the MOQ.

Higher service level -> smaller G(z) -> larger z -> more safety stock. Longer lead time ->
more lead-time demand and larger sigma_L -> higher reorder point.

Urgency (what a manager can trust; the plan's "today" is the day after the last known
demand, or `PolicyConfig.today` when that is later):

* critical: the line sells, its reorder point is above zero, and even with open orders at
  least one whole unit of expected demand goes unserved before an order placed today
  could arrive (lead-time demand - (on hand + on order) >= 1). A slow line with an empty
  shelf that sells less than a unit over the lead time is not critical;
* high: at or below the reorder point (reorder point above zero);
* medium: the reorder point is reached within `soon_days`, the shelf runs out within the
  lead time and only open orders save it, or a line whose reorder point is 0 (under one
  unit of demand over the lead time) needs an order;
* low: everything else, and every line with no demand.

Stock-out dates are never before today: a shelf that is already empty is "out of stock
now" (`out_of_stock_now`), dated today. `sales_at_risk` is the expected demand that goes
unserved over the lead time + order cycle if nothing is ordered today (normal loss
function over the protection period), valued at MRP (unit cost when there is no MRP).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

from engine.inventory.demand import KEY, DemandModel, InventoryInputError, keys_as_text

URGENCY_ORDER = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class PolicyConfig:
    service_level: float = 0.95          # target fill rate
    review_days: int = 7                 # order cycle covered beyond the reorder point
    lead_time_change_days: int = 0       # what-if: added to every lead time
    demand_shock_pct: float = 0.0        # what-if: +20 means demand 20% above forecast
    default_lead_time_days: int = 7      # for lines without a lead time
    overstock_days: float = 60.0         # on-hand cover above this is overstock
    promo_cover_days: float = 30.0       # declining trend + cover above this -> discount
    decline_ratio: float = 0.85          # last 4 weeks / previous 4 weeks below this
    bundle_multiplier: float = 1.5       # festival uplift at least this -> bundle
    promo_discount: float = 0.10         # discount used to size promotion impact
    festival_lookahead_days: int = 30
    soon_days: int = 7                   # 'medium': reorder point reached within this
    today: date | None = None            # the day the plan is read; stock-out dates before
                                         # it are "out of stock now" (None: day after as_of)

    def validate(self) -> None:
        if not 0.5 <= self.service_level < 1.0:
            raise InventoryInputError(
                f"Service level must be between 50% and 99.9%; got {self.service_level:.1%}.")
        if self.review_days < 1:
            raise InventoryInputError("The order cycle (review_days) must be at least 1 day.")
        if self.demand_shock_pct <= -100:
            raise InventoryInputError("A demand shock of -100% or less leaves no demand.")


# ---- numeric core ------------------------------------------------------------------------
_Z = np.linspace(-6.0, 8.0, 14001)
_G = norm.pdf(_Z) - _Z * norm.sf(_Z)           # standard normal loss, decreasing in z


def safety_factor(service_level: float, sigma_l, expected_order) -> np.ndarray:
    """z >= 0 with sigma_L * G(z) = (1 - service_level) * Q (fill-rate target)."""
    sigma_l = np.asarray(sigma_l, dtype=float)
    q = np.asarray(expected_order, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(sigma_l > 0, (1.0 - service_level) * q / sigma_l, np.inf)
    z = np.interp(np.clip(g, _G[-1], _G[0]), _G[::-1], _Z[::-1])
    return np.where(np.isfinite(g), np.maximum(z, 0.0), 0.0)


def policy_levels(mu_l, sigma_l, mu_r, moq, case_pack, service_level: float):
    """Vectorised (safety_stock, reorder_point, order_up_to) in whole units."""
    mu_l = np.asarray(mu_l, dtype=float)
    sigma_l = np.asarray(sigma_l, dtype=float)
    q = np.maximum.reduce([np.asarray(mu_r, float), np.asarray(moq, float),
                           np.asarray(case_pack, float)])
    ss_raw = safety_factor(service_level, sigma_l, q) * sigma_l
    ss = np.maximum(np.ceil(ss_raw - 1e-9), 0.0) + 0.0
    rop = np.ceil(mu_l + ss_raw - 1e-9)
    s = np.ceil(mu_l + ss_raw + np.asarray(mu_r, float) - 1e-9)
    return ss, rop, np.maximum(s, rop)


def expected_shortfall(stock, mu, sigma) -> np.ndarray:
    """E[(D - stock)^+] for D ~ Normal(mu, sigma) (max(mu - stock, 0) where sigma is 0)."""
    stock = np.asarray(stock, dtype=float)
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    safe = np.where(sigma > 0, sigma, 1.0)
    z = (stock - mu) / safe
    loss = safe * (norm.pdf(z) - z * norm.sf(z))
    return np.where(sigma > 0, np.maximum(loss, 0.0), np.maximum(mu - stock, 0.0))


def unit_price(lines: pd.DataFrame) -> np.ndarray:
    """Price a lost unit is valued at: MRP, else unit cost, else NaN."""
    mrp = pd.to_numeric(lines.get("mrp"), errors="coerce") if "mrp" in lines else None
    cost = pd.to_numeric(lines["unit_cost"], errors="coerce") if "unit_cost" in lines else None
    out = np.full(len(lines), np.nan)
    if cost is not None:
        out = np.where(cost.to_numpy(float) > 0, cost.to_numpy(float), out)
    if mrp is not None:
        out = np.where(mrp.to_numpy(float) > 0, mrp.to_numpy(float), out)
    return out


def plan_day(as_of, cfg: PolicyConfig) -> pd.Timestamp:
    """The plan's 'today': the day after the last known demand, or cfg.today if later."""
    start = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    return max(start, pd.Timestamp(cfg.today).normalize()) if cfg.today else start


def round_order(need, moq, case_pack) -> np.ndarray:
    """Units to order for a need: 0 if need <= 0, else at least the MOQ, whole cases."""
    need = np.asarray(need, dtype=float)
    pack = np.maximum(np.asarray(case_pack, dtype=float), 1.0)
    qty = np.maximum(need, np.asarray(moq, dtype=float))
    return np.where(need > 0, np.ceil(qty / pack - 1e-9) * pack, 0.0)


def demand_matrix(lines: pd.DataFrame, model: DemandModel, days: int,
                  shock_pct: float = 0.0) -> np.ndarray:
    """Expected daily demand (lines x days) starting the day after model.as_of; days past
    the model's horizon repeat the line's average daily demand."""
    path = keys_as_text(model.path)
    start = pd.Timestamp(model.as_of) + pd.Timedelta(days=1)
    horizon = max(int((pd.to_datetime(path["date"]).max() - start).days) + 1, 1) \
        if len(path) else 1
    mat = np.zeros((len(lines), horizon))
    if len(path):
        idx = pd.MultiIndex.from_frame(lines[KEY])
        pos = idx.get_indexer(pd.MultiIndex.from_frame(path[KEY]))
        col = (pd.to_datetime(path["date"]) - start).dt.days.to_numpy()
        ok = (pos >= 0) & (col >= 0) & (col < horizon)
        np.add.at(mat, (pos[ok], col[ok]), path["forecast"].to_numpy(float)[ok])
    mat *= 1.0 + shock_pct / 100.0
    if days <= horizon:
        return mat[:, :days]
    mean = mat.mean(axis=1, keepdims=True)
    return np.hstack([mat, np.repeat(mean, days - horizon, axis=1)])


def cover_days(stock, cum: np.ndarray) -> np.ndarray:
    """Days until cumulative demand exceeds `stock` (fractional; inf if demand is zero)."""
    stock = np.asarray(stock, dtype=float)
    n, t = cum.shape
    k = (cum <= stock[:, None] + 1e-9).sum(axis=1)
    rows = np.arange(n)
    prev = np.where(k > 0, cum[rows, np.maximum(k - 1, 0)], 0.0)
    nxt = cum[rows, np.minimum(k, t - 1)]
    step = nxt - prev
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where((k < t) & (step > 0), (stock - prev) / step, 0.0)
        mean = cum[:, -1] / t
        beyond = np.where(mean > 0, t + (stock - cum[:, -1]) / mean, np.inf)
    out = np.where(k < t, k + np.clip(frac, 0, 1), beyond)
    return np.where(stock <= 0, 0.0, out)


# ---- the plan ----------------------------------------------------------------------------
def prepare_lines(lines: pd.DataFrame, cfg: PolicyConfig) -> pd.DataFrame:
    """Clean inventory lines: string keys, numeric fields, effective lead time."""
    need = KEY + ["on_hand"]
    missing = [c for c in need if c not in lines.columns]
    if missing:
        raise InventoryInputError(f"The inventory table is missing columns {missing}.")
    out = keys_as_text(lines).drop_duplicates(KEY).reset_index(drop=True)
    defaults = {"on_order": 0.0, "moq": 1, "case_pack": 1, "unit_cost": 0.0, "mrp": np.nan,
                "unit_volume_l": 0.0, "shelf_life_days": np.nan,
                "lead_time_days": cfg.default_lead_time_days}
    for col, val in defaults.items():
        if col not in out:
            out[col] = val
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float).fillna(val)
    bad = out[pd.to_numeric(out["on_hand"], errors="coerce").isna()]
    if len(bad):
        raise InventoryInputError(
            f"{len(bad)} inventory lines have no usable on-hand quantity (e.g. "
            f"{bad.iloc[0]['sku_id']} at {bad.iloc[0]['pin_code']}).", bad)
    out["on_hand"] = out["on_hand"].astype(float).clip(lower=0)
    out["on_order"] = out["on_order"].astype(float).clip(lower=0)
    out["moq"] = out["moq"].clip(lower=1)
    out["case_pack"] = out["case_pack"].clip(lower=1)
    out["lead_time_days"] = (out["lead_time_days"] + cfg.lead_time_change_days).clip(lower=1)
    out["lead_time_days"] = out["lead_time_days"].round().astype(int)
    return out


def plan_levels(lines: pd.DataFrame, model: DemandModel, cfg: PolicyConfig) -> pd.DataFrame:
    """The numeric plan (no reasons): levels, order quantity, cover, urgency per line."""
    cfg.validate()
    out = prepare_lines(lines, cfg)
    lead = out["lead_time_days"].to_numpy()
    days = int(max(lead.max() + cfg.review_days, cfg.overstock_days,
                   np.nan_to_num(out["shelf_life_days"].max(), nan=0), 120) + 1)
    mat = demand_matrix(out, model, days, cfg.demand_shock_pct)
    cum = np.cumsum(mat, axis=1)
    rows = np.arange(len(out))
    mu_l = cum[rows, lead - 1]
    mu_p = cum[rows, lead + cfg.review_days - 1]
    mu_r = mu_p - mu_l
    sig = out[KEY].merge(model.sigma, on=KEY, how="left")
    sigma_d = sig["sigma_daily"].to_numpy(float)
    sigma_d = np.where(np.isfinite(sigma_d), sigma_d, np.sqrt(mat[:, :28].mean(axis=1)))
    sigma_d *= 1.0 + cfg.demand_shock_pct / 100.0
    sigma_l = sigma_d * np.sqrt(lead)
    ss, rop, s = policy_levels(mu_l, sigma_l, mu_r, out["moq"], out["case_pack"],
                               cfg.service_level)
    ip = (out["on_hand"] + out["on_order"]).to_numpy()
    qty = round_order(np.where(ip <= rop, s - ip, 0.0), out["moq"], out["case_pack"])
    cover = cover_days(out["on_hand"].to_numpy(), cum)
    pos_cover = cover_days(ip, cum)
    soon = cum[:, cfg.soon_days - 1]
    has_demand = cum[:, -1] > 0
    short_lead = mu_l - ip               # expected units unserved before a new order lands
    urgency = np.select(
        [~has_demand,
         (rop > 0) & (short_lead >= 1.0),
         (rop > 0) & (ip <= rop),
         (ip <= rop + soon) | (cover < lead)],
        ["low", "critical", "high", "medium"], default="low")
    start = pd.Timestamp(model.as_of).normalize() + pd.Timedelta(days=1)
    today = plan_day(model.as_of, cfg)
    passed = float((today - start).days)          # plan days already gone by today
    out_now = has_demand & (cover <= passed + 1e-9)
    stockout = [pd.NaT if not has or not np.isfinite(c) or c >= 365
                else max(start + pd.Timedelta(days=int(np.floor(c))), today)
                for c, has in zip(pos_cover, has_demand)]
    stockout = pd.to_datetime(pd.Series(stockout, dtype="datetime64[ns]"))
    stockout = stockout.mask(pd.Series(out_now), today)
    protect_sigma = sigma_d * np.sqrt(lead + cfg.review_days)
    at_risk = np.where(has_demand, expected_shortfall(ip, mu_p, protect_sigma), 0.0)
    out["daily_demand"] = mu_p / (lead + cfg.review_days)
    out["lead_time_demand"] = mu_l
    out["sigma_lead_time"] = sigma_l
    out["protect_demand"] = mu_p
    out["protect_sigma"] = protect_sigma
    out["safety_stock"] = ss
    out["reorder_point"] = rop
    out["order_up_to"] = s
    out["inventory_position"] = ip
    out["days_of_cover"] = cover
    out["position_cover"] = pos_cover
    out["stockout_date"] = stockout.to_numpy()
    out["out_of_stock_now"] = out_now
    out["lead_time_shortfall"] = np.maximum(short_lead, 0.0) * has_demand
    out["at_risk_units"] = at_risk
    out["unit_price"] = unit_price(out)
    out["sales_at_risk"] = at_risk * out["unit_price"].to_numpy(float)
    out["plan_day"] = today
    out["urgency"] = urgency
    out["order_qty"] = qty
    out["order_cases"] = qty / out["case_pack"]
    out["order_value"] = qty * out["unit_cost"]
    out["order_volume_l"] = qty * out["unit_volume_l"]
    out["demand_30d"] = cum[:, 29]
    out["demand_overstock"] = cum[rows, int(cfg.overstock_days) - 1]
    life = out["shelf_life_days"].to_numpy(float)
    life_idx = np.clip(np.nan_to_num(life, nan=1).astype(int), 1, days) - 1
    sells_in_life = cum[rows, life_idx]
    out["expiry_units"] = np.where(np.isfinite(life) & (life > 0),
                                   np.maximum(out["on_hand"] - sells_in_life, 0.0), 0.0)
    src_cols = [c for c in ("error_source", "demand_source") if c in sig.columns]
    out = out.merge(sig[KEY + src_cols], on=KEY, how="left")
    if "demand_source" not in out:
        out["demand_source"] = model.source
    out["demand_source"] = out["demand_source"].fillna(model.source)
    out["error_source"] = out["error_source"].fillna("Poisson (no error data)")
    return out


def projected_stock(line: pd.Series, model: DemandModel, cfg: PolicyConfig,
                    horizon: int = 28, order_qty: float | None = None) -> pd.DataFrame:
    """Day-by-day expected on-hand stock for one plan line: without a new order, and with
    `order_qty` (default: the plan's) ordered today, arriving after the lead time. Open
    orders are assumed to arrive with the lead time too."""
    one = pd.DataFrame([line])[KEY]
    demand = demand_matrix(one, model, horizon, cfg.demand_shock_pct)[0]
    lead = int(line["lead_time_days"])
    qty = float(line["order_qty"] if order_qty is None else order_qty)
    day = np.arange(1, horizon + 1)
    arrivals = np.where(day == lead, float(line.get("on_order", 0.0)), 0.0)
    cum = np.cumsum(demand)
    no_order = float(line["on_hand"]) + np.cumsum(arrivals) - cum
    with_order = no_order + np.where(day >= lead, qty, 0.0)
    dates = pd.Timestamp(model.as_of) + pd.to_timedelta(day, unit="D")
    return pd.DataFrame({"date": dates, "demand": demand,
                         "stock_no_order": no_order, "stock_with_order": with_order,
                         "safety_stock": float(line["safety_stock"]),
                         "reorder_point": float(line["reorder_point"])})


def urgency_rank(urgency: pd.Series) -> pd.Series:
    return urgency.map({u: i for i, u in enumerate(URGENCY_ORDER)}).fillna(len(URGENCY_ORDER))
