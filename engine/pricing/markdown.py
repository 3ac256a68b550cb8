"""Markdown optimisation: the price path that clears stock which must go, for the most
recovered margin.

Which stock must go (`classify_lines`):
- **short shelf life**: the catalog's `shelf_life_days` (else `SHELF_LIFE_DEFAULTS` for
  the category, which the user can override) is at most `short_life_days` (30). The
  inventory snapshot has no batch dates, so counted stock is taken as fresh on the count
  date: days left = shelf life - days since the count (set `days_left` when the batch's
  expiry is known). At zero or below the stock is expired: nothing to price.
- **end of season**: the category's biggest festival multiplier in the warehouse's
  `festival_effects` is at least `season_multiplier` (2.0: Holi Colours at Holi, Festive
  Gifts at Diwali / Dhanteras / Raksha Bandhan). The season ends on the latest such
  festival (in the line's state) + its post window; the stock should be cleared within
  `clearance_days` (42) of that. A line whose next such festival starts (pre window)
  before that deadline is not a candidate: hold it for the season.
  Stock left at the deadline is worth `salvage_pct` of its unit cost (default 0 for
  short-life stock, which spoils; 30% for seasonal stock: a clearance outlet, a return
  to the supplier or carrying it to next season, net of holding cost).

Demand: the baseline (stored forecast run, else the naive baseline) per day at today's
price, scaled by (price / current price) ^ elasticity (the SKU's stored estimate); days
past the baseline's end repeat its last week's mean. Sales in a step are
min(stock left, expected demand): the expected-value (fluid) model.

The path (`plan_markdown`): one price per step of `step_days` days, chosen from a ladder of
discounts (0, 5%, ... `max_discount`) replaced by the allowed prices at or below each
(engine/pricing/endings.py), plus the lowest allowed price at or above the unit cost; no
price below the unit cost unless `allow_below_cost`. It maximises recovered margin =
revenue + salvage x units left - unit cost x stock.

Why a dynamic programme and not a MILP: sales are min(stock, demand), a kinked function of
the stock carried in, and the steps chain through that stock; a MILP needs a binary per
step x price plus big-M linearisation of the min, while the DP over (step, units left[,
last price]) is exact for the step's choice given the stock, needs no solver and runs in
milliseconds: value V_t(s, k) = max over prices k' (k' no higher than k when `monotone`, so
the price never goes back up) of p_k' x min(s, d_tk') + V_t+1(s - min(s, d_tk'), k'),
V_T(s) = salvage x s. Stock is a grid of `grid_step` (0.05) units (at most `grid_points`
points, linear interpolation between them); the path is then followed forward from the
exact stock and its figures are computed exactly. `exhaustive_best` enumerates every path
of the ladder (small cases) to check it (tests, benchmarks/bench_markdown.py).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.pricing.elasticity import PricingError
from engine.pricing.endings import DEFAULT_ENDINGS, ceil_price, check_endings, floor_price
from engine.textfmt import dd_mmm, indian_grouping, inr

# Shelf life (days) by category for SKUs the catalog gives none; override per category
# with MarkdownConfig.shelf_life. Categories not listed count as long-life.
SHELF_LIFE_DEFAULTS: dict[str, int] = {
    "Dairy": 7, "Fresh Vegetables": 5, "Fruits": 5, "Bakery": 4, "Meat & Fish": 2,
    "Sweets": 21, "Ice Cream": 180, "Cold Beverages": 180, "Snacks": 120,
}
KINDS = {"short_life": "Short shelf life", "end_of_season": "End of season",
         "clearance": "Clearance"}
DEFAULT_SALVAGE = {"short_life": 0.0, "end_of_season": 0.3, "clearance": 0.3}


class MarkdownError(PricingError):
    """A markdown that cannot be planned: `code` says why, `evidence` holds the facts."""

    def __init__(self, message: str, code: str, evidence: dict | None = None):
        super().__init__(message, evidence or {}, code=code)


@dataclass(frozen=True)
class MarkdownConfig:
    step_days: int = 7                  # a price holds for this many days
    max_discount: float = 0.5           # deepest markdown, as a share of today's price
    discount_step: float = 0.05         # ladder spacing before the price endings
    price_endings: str = DEFAULT_ENDINGS
    monotone: bool = True               # never raise the price back up
    allow_below_cost: bool = False
    salvage_pct: float | None = None    # of unit cost; None = DEFAULT_SALVAGE by kind
    short_life_days: int = 30
    season_multiplier: float = 2.0
    clearance_days: int = 42
    shelf_life: tuple[tuple[str, int], ...] = ()   # (category, days) overriding the defaults
    days_left: int | None = None        # the user's own deadline for one line
    grid_step: float = 0.05             # units between the DP's stock grid points ...
    grid_points: int = 4001             # ... at most this many points

    def validate(self) -> "MarkdownConfig":
        check_endings(self.price_endings)
        problems = []
        if not 1 <= self.step_days <= 90:
            problems.append(f"a step of {self.step_days} days (use 1 to 90)")
        if not 0 < self.max_discount < 1:
            problems.append(f"a deepest markdown of {self.max_discount:.0%} (use 1% to 99%)")
        if not 0 < self.discount_step <= self.max_discount:
            problems.append(f"a ladder step of {self.discount_step:.0%}")
        if self.salvage_pct is not None and not 0 <= self.salvage_pct <= 1:
            problems.append(f"a salvage value of {self.salvage_pct:.0%} of cost (use 0-100%)")
        if not 1 <= self.clearance_days <= 365:
            problems.append(f"a clearance window of {self.clearance_days} days (use 1 to 365)")
        if not self.season_multiplier > 1:
            problems.append(f"a season multiplier of {self.season_multiplier} (use more than 1)")
        if self.days_left is not None and not -3650 <= self.days_left <= 365:
            problems.append(f"{self.days_left} days left (use at most 365)")
        if problems:
            raise MarkdownError("The markdown settings are not usable: " + "; ".join(problems)
                                + ".", "bad_settings", {"problems": problems})
        return self

    def shelf_life_table(self) -> dict[str, int]:
        return {**SHELF_LIFE_DEFAULTS, **{c: int(d) for c, d in self.shelf_life}}


@dataclass(frozen=True)
class MarkdownLine:
    """One SKU x PIN's stock that must go, with what the plan needs."""
    sku_id: str
    pin_code: str
    name: str
    category: str
    kind: str                     # "short_life" | "end_of_season" | "clearance"
    on_hand: float
    unit_cost: float
    price: float                  # today's regular price
    elasticity: float
    days_left: int
    deadline: pd.Timestamp        # last day to sell (the plan runs from the day after as-of)
    why: str                      # where the deadline comes from, in words
    demand: np.ndarray = field(repr=False)   # baseline units per day, days_left long
    city: str = ""

    def salvage_value(self, cfg: MarkdownConfig) -> float:
        pct = DEFAULT_SALVAGE[self.kind] if cfg.salvage_pct is None else cfg.salvage_pct
        return pct * max(self.unit_cost, 0.0)


@dataclass(frozen=True)
class MarkdownPlan:
    line: MarkdownLine
    steps: pd.DataFrame           # step, start, end, days, price, discount, demand, units,
                                  # revenue, stock_start, stock_left
    totals: dict
    reason: str
    config: MarkdownConfig


# ---- which stock must go ------------------------------------------------------------------
def parse_shelf_life(text: str) -> tuple[tuple[str, int], ...]:
    """'Dairy=5, Bakery=3' (or one per line) -> (("Dairy", 5), ("Bakery", 3)); a
    MarkdownError naming the part that is not CATEGORY=DAYS."""
    out = []
    for part in [p.strip() for p in str(text or "").replace("\n", ",").split(",")]:
        if not part:
            continue
        cat, _, days = part.rpartition("=")
        if not cat.strip() or not days.strip().isdigit() or not 1 <= int(days) <= 3650:
            raise MarkdownError(f"Shelf life {part!r} should be CATEGORY=DAYS with 1 to 3650 "
                                "days, e.g. 'Dairy=5'.", "bad_settings", {"value": part})
        out.append((cat.strip(), int(days)))
    return tuple(out)


def seasonal_categories(effects: pd.DataFrame, cfg: MarkdownConfig) -> dict[str, list[str]]:
    """category -> festivals whose multiplier for it is at least cfg.season_multiplier."""
    big = effects[effects["multiplier"] >= cfg.season_multiplier]
    return {c: sorted(g["name"].unique()) for c, g in big.groupby("category")}


def _applies(states: str, state) -> bool:
    s = str(states or "")
    return s.strip().upper() == "ALL" or (isinstance(state, str) and state in
                                           [x.strip() for x in s.split(",")])


def _season(calendar: pd.DataFrame, festivals: list[str], state, as_of: pd.Timestamp,
            cfg: MarkdownConfig) -> tuple[pd.Timestamp, str] | None:
    """(clearance deadline, sentence) for a seasonal line, or None when no season ended
    within the clearance window or the next one starts before the deadline."""
    cal = calendar[calendar["name"].isin(festivals)]
    cal = cal[[_applies(s, state) for s in cal["states"]]]
    if cal.empty:
        return None
    day = pd.to_datetime(cal["date"])
    ends = day + pd.to_timedelta(cal["post_days"].astype(int), unit="D")
    starts = day - pd.to_timedelta(cal["pre_days"].astype(int), unit="D")
    past = ends < as_of
    if not past.any():
        return None
    last = int(ends[past].to_numpy().argmax())
    end = ends[past].iloc[last]
    name = cal[past]["name"].iloc[last]
    deadline = end + pd.Timedelta(days=cfg.clearance_days)
    if deadline <= as_of or ((starts > as_of) & (starts <= deadline)).any() \
            or ((starts <= as_of) & (ends >= as_of)).any():
        return None
    return deadline, (f"{name} season ended {dd_mmm(end)}; clear by {dd_mmm(deadline)} "
                      f"({cfg.clearance_days} days after)")


def classify_lines(lines: pd.DataFrame, calendar: pd.DataFrame, effects: pd.DataFrame,
                   as_of, cfg: MarkdownConfig = MarkdownConfig()) -> pd.DataFrame:
    """Inventory lines (sku_id, pin_code, category, state, shelf_life_days, snapshot_date,
    on_hand) with kind ('short_life' / 'end_of_season' / None), deadline, days_left
    (negative: expired that many days ago) and why (the deadline in words)."""
    as_of = pd.Timestamp(as_of).normalize()
    table = cfg.shelf_life_table()
    seasonal = seasonal_categories(effects, cfg)
    life = pd.to_numeric(lines["shelf_life_days"], errors="coerce") \
        if "shelf_life_days" in lines else pd.Series(np.nan, index=lines.index)
    from_catalog = life.notna() & (life > 0)
    life = life.where(from_catalog, lines["category"].map(table))
    counted = pd.to_datetime(lines["snapshot_date"]) if "snapshot_date" in lines \
        else pd.Series(pd.NaT, index=lines.index)
    counted = counted.fillna(as_of).dt.normalize()
    states = lines["state"] if "state" in lines else pd.Series(None, index=lines.index)
    kind, deadline, why, seasons = [], [], [], {}
    for cat, state, days, count, own in zip(lines["category"], states, life, counted,
                                            from_catalog):
        if pd.notna(days) and days <= cfg.short_life_days:
            end = count + pd.Timedelta(days=int(days))
            source = "catalog" if own else "category default"
            kind.append("short_life")
            deadline.append(end)
            why.append(f"shelf life {int(days)} days ({source}) from the {dd_mmm(count)} "
                       f"count: sell by {dd_mmm(end)}")
            continue
        if cat in seasonal and (cat, state) not in seasons:
            seasons[cat, state] = _season(calendar, seasonal[cat], state, as_of, cfg)
        season = seasons.get((cat, state))
        kind.append("end_of_season" if season else None)
        deadline.append(season[0] if season else pd.NaT)
        why.append(season[1] if season else "")
    out = lines.copy()
    out["kind"] = kind
    out["deadline"] = pd.to_datetime(pd.Series(deadline, index=lines.index, dtype="datetime64[ns]"))
    out["days_left"] = (out["deadline"] - as_of).dt.days
    out["why"] = why
    return out


def daily_demand(baseline: pd.DataFrame, keys: pd.DataFrame, as_of, days: int) -> np.ndarray:
    """Baseline units per day for each (sku_id, pin_code) of `keys`, for the `days` days
    after `as_of`: a weekly row is spread evenly over its date and the 6 days after it; days
    past the baseline's end repeat the mean of its last 7 days; a line without baseline
    rows sells nothing."""
    as_of = pd.Timestamp(as_of).normalize()
    days = max(int(days), 0)
    out = np.zeros((len(keys), days))
    if baseline.empty or days == 0:
        return out
    b = baseline[["sku_id", "pin_code", "date", "forecast"]].copy()
    b["date"] = pd.to_datetime(b["date"]).dt.normalize()
    step = b["date"].drop_duplicates().sort_values().diff().dt.days.min()
    if pd.notna(step) and step >= 7:            # weekly rows: units per day of the week
        b["forecast"] = b["forecast"] / 7.0
        b = pd.concat([b.assign(date=b["date"] + pd.Timedelta(days=i)) for i in range(7)])
    wide = b.pivot_table(index=["sku_id", "pin_code"], columns="date", values="forecast",
                         aggfunc="sum").sort_index(axis=1)
    dates = pd.date_range(as_of + pd.Timedelta(days=1), periods=days, freq="D")
    idx = pd.MultiIndex.from_frame(keys[["sku_id", "pin_code"]].astype(str))
    wide = wide.reindex(idx)
    tail = wide.iloc[:, -7:].mean(axis=1).fillna(0.0).to_numpy()
    grid = wide.reindex(columns=dates).to_numpy(dtype=float)
    past_end = dates > wide.columns.max()
    grid[:, past_end] = tail[:, None]
    return np.nan_to_num(np.clip(grid, 0.0, None), nan=0.0)


# ---- the price path -----------------------------------------------------------------------
def price_ladder(price: float, unit_cost: float, cfg: MarkdownConfig) -> np.ndarray:
    """Allowed prices from today's (first) down to the deepest markdown, highest first."""
    n = int(round(cfg.max_discount / cfg.discount_step))
    points = price * (1 - cfg.discount_step * np.arange(1, n + 1))
    cand = [floor_price(points, cfg.price_endings)]
    if unit_cost > 0:
        cand.append(ceil_price([unit_cost], cfg.price_endings))
    prices = np.concatenate(cand)
    prices = prices[np.isfinite(prices) & (prices < price - 1e-9)
                    & (prices >= price * (1 - cfg.max_discount) - 1e-9)]
    if not cfg.allow_below_cost:
        prices = prices[prices >= unit_cost - 1e-9]
    return np.concatenate([[price], np.unique(np.round(prices, 2))[::-1]])


def _steps(days: int, step_days: int) -> list[tuple[int, int]]:
    """(first day, number of days) of each step."""
    return [(d, min(step_days, days - d)) for d in range(0, days, step_days)]


def step_demand(line: MarkdownLine, prices: np.ndarray, cfg: MarkdownConfig
                ) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(steps, expected demand [step, price]) at each ladder price."""
    steps = _steps(line.days_left, cfg.step_days)
    base = np.array([line.demand[a:a + n].sum() for a, n in steps])
    ratio = prices / line.price
    return steps, base[:, None] * ratio[None, :] ** line.elasticity


def simulate_paths(stock: float, prices: np.ndarray, demand: np.ndarray, paths: np.ndarray,
                   salvage: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paths (n, steps) of ladder indices -> (revenue, units sold, units left) per path."""
    paths = np.atleast_2d(paths)
    left = np.full(len(paths), float(stock))
    revenue = np.zeros(len(paths))
    for t in range(paths.shape[1]):
        sold = np.minimum(left, demand[t, paths[:, t]])
        revenue += prices[paths[:, t]] * sold
        left -= sold
    return revenue, stock - left, left


def _dp_path(stock: float, prices: np.ndarray, demand: np.ndarray, salvage: float,
             cfg: MarkdownConfig) -> np.ndarray:
    """Ladder index per step maximising revenue + salvage x left (see the module doc)."""
    n_steps, n_prices = demand.shape
    size = int(min(math.floor(stock / cfg.grid_step) + 1, cfg.grid_points))
    grid = np.unique(np.r_[np.linspace(0.0, stock, max(size, 2)), stock])
    values = [None] * (n_steps + 1)
    values[n_steps] = np.repeat((salvage * grid)[:, None], n_prices, axis=1)

    def options(t: int, s: np.ndarray) -> np.ndarray:
        """Value [state, k'] of charging price k' in step t with s units left."""
        sold = np.minimum(s[:, None], demand[t][None, :])
        after = s[:, None] - sold
        cont = np.column_stack([np.interp(after[:, k], grid, values[t + 1][:, k])
                                for k in range(n_prices)])
        return prices[None, :] * sold + cont

    for t in range(n_steps - 1, -1, -1):
        val = options(t, grid)
        if cfg.monotone:   # from last price k, any k' >= k: running max from the right
            values[t] = np.maximum.accumulate(val[:, ::-1], axis=1)[:, ::-1]
        else:
            values[t] = np.repeat(val.max(axis=1, keepdims=True), n_prices, axis=1)
    path, left, last = [], float(stock), 0
    for t in range(n_steps):
        val = options(t, np.array([left]))[0]
        allowed = np.arange(n_prices) >= (last if cfg.monotone else 0)
        val = np.where(allowed, val, -np.inf)
        best = val.max()
        k = int(np.flatnonzero(val >= best - 1e-9 * max(1.0, abs(best)))[0])  # ties: dearer
        path.append(k)
        left -= min(left, demand[t, k])
        last = k
    return np.array(path, dtype=int)


def exhaustive_best(line: MarkdownLine, cfg: MarkdownConfig = MarkdownConfig(),
                    max_paths: int = 5_000_000) -> tuple[np.ndarray, float]:
    """(ladder index per step, recovered margin) of the best path by trying every path
    (monotone paths only when cfg.monotone). For checking the DP on small cases."""
    prices = price_ladder(line.price, line.unit_cost, cfg)
    _, demand = step_demand(line, prices, cfg)
    n_steps = demand.shape[0]
    k = len(prices)
    count = math.comb(k + n_steps - 1, n_steps) if cfg.monotone else k ** n_steps
    if count > max_paths:
        raise MarkdownError(f"{k} prices over {n_steps} steps is too many paths to try one "
                            "by one.", "too_many_paths")
    # monotone: ladder indices never decrease (prices never rise)
    walk = (itertools.combinations_with_replacement(range(k), n_steps) if cfg.monotone
            else itertools.product(range(k), repeat=n_steps))
    paths = np.array(list(walk), dtype=int).reshape(-1, n_steps)
    salvage = line.salvage_value(cfg)
    revenue, _, left = simulate_paths(line.on_hand, prices, demand, paths, salvage)
    value = revenue + salvage * left - line.unit_cost * line.on_hand
    best = int(np.argmax(value))
    return paths[best], float(value[best])


def check_line(line: MarkdownLine) -> None:
    """MarkdownError (with a code) for a line that cannot be planned."""
    where = f"{line.name or line.sku_id} ({line.sku_id}) at PIN {line.pin_code}"
    facts = {"sku_id": line.sku_id, "pin_code": line.pin_code}
    if not np.isfinite(line.elasticity):
        raise MarkdownError(
            f"{where} has no price elasticity estimate, so what a markdown would sell cannot "
            "be worked out. Estimate elasticities first (Pricing page, or `python -m engine "
            "elasticity`); a SKU with sales but no price moves gets its category's value.",
            "no_elasticity", facts)
    if not line.on_hand > 0:
        raise MarkdownError(f"{where} has no stock on hand: there is nothing to mark down.",
                            "no_stock", {**facts, "on_hand": float(line.on_hand)})
    if line.days_left <= 0:
        raise MarkdownError(
            f"{where}: the {indian_grouping(line.on_hand)} units are past their last selling "
            f"day ({dd_mmm(line.deadline, True)}; {line.why}). "
            "Nothing to price: write them off, or upload a newer inventory count if they "
            "were sold or replaced.", "expired",
            {**facts, "units": float(line.on_hand),
             "last_day": str(pd.Timestamp(line.deadline).date())})
    if not line.price > 0:
        raise MarkdownError(f"{where} has no current selling price.", "no_price", facts)


def recommend_path(line: MarkdownLine, cfg: MarkdownConfig = MarkdownConfig()
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]], dict]:
    """(ladder prices, the recommended ladder index per step, demand [step, price], steps,
    totals) for one line: numbers only (the candidate list plans every line with this)."""
    cfg.validate()
    check_line(line)
    prices = price_ladder(line.price, line.unit_cost, cfg)
    steps, demand = step_demand(line, prices, cfg)
    salvage = line.salvage_value(cfg)
    path = _dp_path(line.on_hand, prices, demand, salvage, cfg)
    both = np.vstack([path, np.zeros(len(steps), dtype=int)])   # and today's price throughout
    revenue, sold, left = simulate_paths(line.on_hand, prices, demand, both, salvage)
    cost = line.unit_cost * line.on_hand
    totals = {
        "stock": float(line.on_hand), "sold": float(sold[0]), "left": float(left[0]),
        "sell_through": float(sold[0] / line.on_hand), "revenue": float(revenue[0]),
        "salvage": float(salvage * left[0]), "salvage_per_unit": salvage, "cost": cost,
        "recovered_margin": float(revenue[0] + salvage * left[0] - cost),
        "keep_price_sold": float(sold[1]), "keep_price_left": float(left[1]),
        "keep_price_margin": float(revenue[1] + salvage * left[1] - cost),
        "first_price": float(prices[path[0]]), "lowest_price": float(prices[path].min()),
        "ladder_prices": len(prices), "steps": len(steps),
    }
    totals["gain"] = totals["recovered_margin"] - totals["keep_price_margin"]
    return prices, path, demand, steps, totals


def plan_markdown(line: MarkdownLine, cfg: MarkdownConfig = MarkdownConfig()) -> MarkdownPlan:
    """The recommended price path for one line, with sell-through per step and what is left."""
    prices, path, demand, steps, totals = recommend_path(line, cfg)
    rows, left = [], float(line.on_hand)
    start = line.deadline - pd.Timedelta(days=line.days_left)
    for t, ((first, n), k) in enumerate(zip(steps, path)):
        sold = min(left, float(demand[t, k]))
        rows.append({"step": t + 1, "start": start + pd.Timedelta(days=first + 1),
                     "end": start + pd.Timedelta(days=first + n), "days": n,
                     "price": float(prices[k]), "discount": 1 - prices[k] / line.price,
                     "demand": float(demand[t, k]), "units": sold,
                     "revenue": sold * prices[k], "stock_start": left,
                     "stock_left": left - sold})
        left -= sold
    table = pd.DataFrame(rows)
    return MarkdownPlan(line, table, totals, _reason(line, table, totals, cfg), cfg)


def _reason(line: MarkdownLine, steps: pd.DataFrame, t: dict, cfg: MarkdownConfig) -> str:
    """The plan in a manager's words."""
    def money(v: float) -> str:
        return inr(v, 0 if abs(v) >= 100 else 2)

    first = steps.iloc[0]
    moves = steps[steps["price"].diff().fillna(0) != 0]
    path = f"{money(first['price'])}" + ("" if first["discount"] < 1e-9 else
                                          f" ({first['discount']:.0%} off)")
    for r in moves.itertuples(index=False):
        path += f", {money(r.price)} from {dd_mmm(r.start)} ({r.discount:.0%} off)"
    text = (f"{KINDS[line.kind]}: {line.why}. Sell {indian_grouping(t['stock'])} units in "
            f"{line.days_left} days at {path}: about {indian_grouping(t['sold'])} sell "
            f"({t['sell_through']:.0%}), {indian_grouping(t['left'])} left")
    text += (f" (salvage {money(t['salvage_per_unit'])} each)" if t["salvage_per_unit"] > 0
             and t["left"] >= 0.5 else "")
    text += (f". Recovered margin {money(t['recovered_margin'])} against "
             f"{money(t['keep_price_margin'])} at today's price "
             f"({indian_grouping(t['keep_price_left'])} left)")
    if not cfg.allow_below_cost and line.price < line.unit_cost:
        text += (f"; today's price is already below the unit cost of "
                 f"{money(line.unit_cost)}, so no markdown is allowed (allow prices below "
                 "cost to plan one)")
    elif not cfg.allow_below_cost and line.unit_cost > 0:
        text += f"; no price below the unit cost of {money(line.unit_cost)}"
    if line.elasticity > -0.05:
        text += "; its price barely moves its sales, so a markdown adds little"
    return text + "."
