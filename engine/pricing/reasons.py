"""The recommended price list and a reason per SKU a category manager can read."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.pricing.endings import PRICE_ENDINGS, ceil_price, floor_price, is_allowed
from engine.textfmt import inr


def elasticity_label(e: float) -> str:
    if e > -0.9:
        kind = "Inelastic"
    elif e < -1.1:
        kind = "Elastic"
    else:
        kind = "Unit-elastic"
    return f"{kind} ({e:.1f})"


def _signed_pct(x: float) -> str:
    """'+10%', or '+0.4%' for moves under 1% (a whole-rupee step is often one)."""
    return f"{x:+.1%}" if abs(x) < 0.0095 else f"{x:+.0%}"


def price_text(price: float) -> str:
    """'₹40' for whole rupees, '₹39.50' otherwise (a shelf label's price)."""
    return inr(price, 0 if abs(price - round(price)) < 0.005 else 2)


def _blocking_rule(item, price: float, up: bool, cfg) -> str | None:
    """Which rule stops the next ladder step (with price endings: the next allowed price)
    in the profitable direction."""
    ratio = price / item.price
    endings = cfg.endings()
    if endings == "paise":
        nxt_ratio = ratio + (cfg.step if up else -cfg.step)
        nxt = item.price * nxt_ratio
    else:
        nxt = float((ceil_price(price + 0.005, endings) if up
                     else floor_price(price - 0.005, endings)))
        if np.isnan(nxt):
            return f"the price endings ({PRICE_ENDINGS[endings]})"
        nxt_ratio = nxt / item.price
    if up and nxt_ratio - 1 > cfg.ladder_max + 1e-9:
        return f"the ladder's +{cfg.ladder_max:.0%} limit"
    if not up and nxt_ratio - 1 < cfg.ladder_min - 1e-9:
        return f"the ladder's {cfg.ladder_min:.0%} limit"
    if cfg.max_change is not None and abs(nxt_ratio - 1) > cfg.max_change + 1e-9:
        return f"the ±{cfg.max_change:.0%} max change"
    comp = getattr(item, "competitor_price", np.nan)
    if up and pd.notna(comp) and comp > 0:
        if cfg.above_cheapest is not None and nxt > comp * (1 + cfg.above_cheapest) + 1e-9:
            return (f"the {cfg.above_cheapest:.0%} ceiling over the cheapest competitor "
                    f"({price_text(comp)})")
        if cfg.match_within is not None and nxt > comp + cfg.match_within + 1e-9:
            return (f"the ₹{cfg.match_within:g} ceiling over the cheapest competitor "
                    f"({price_text(comp)})")
    if up and pd.notna(item.mrp) and nxt > item.mrp + 1e-9:
        return f"MRP {price_text(item.mrp)}"
    if not up and cfg.min_margin is not None and cfg.margin_scope == "sku" \
            and nxt - item.unit_cost < cfg.min_margin * nxt:
        return f"the {cfg.min_margin:.0%} minimum margin"
    return None


def recommendation_table(items: pd.DataFrame, cand: pd.DataFrame, chosen: np.ndarray,
                         cfg) -> pd.DataFrame:
    """One row per SKU: current vs recommended price, impact vs baseline, reason."""
    pick = cand.loc[chosen].reset_index(drop=True)
    best_own = cand.loc[cand.groupby("row")[cfg.objective].idxmax().sort_index()].reset_index(drop=True)
    q0 = items["baseline_units"].to_numpy(float)
    p0 = items["price"].to_numpy(float)
    cost = items["unit_cost"].to_numpy(float)
    out = pd.DataFrame({
        "sku_id": items["sku_id"],
        "name": items["name"] if "name" in items else items["sku_id"],
        "category": items["category"],
        "current_price": p0,
        "recommended_price": pick["price"].to_numpy(),
        "change_pct": pick["ratio"].to_numpy() - 1,
        "elasticity": items["elasticity"].to_numpy(float),
        "baseline_units": q0,
        "units": pick["units"].to_numpy(),
        "baseline_revenue": p0 * q0,
        "revenue": pick["revenue"].to_numpy(),
        "baseline_margin": (p0 - cost) * q0,
        "margin": pick["margin"].to_numpy(),
    })
    if "competitor_price" in items:
        out["competitor_cheapest"] = items["competitor_price"].to_numpy(float)
    kept = pick["off_grid"].to_numpy(bool) if "off_grid" in pick else np.zeros(len(out), bool)
    out["allowed_ending"] = ~kept
    out["units_change_pct"] = np.where(q0 > 0, out["units"] / np.where(q0 > 0, q0, 1) - 1, 0.0)
    out["revenue_change"] = out["revenue"] - out["baseline_revenue"]
    out["margin_change"] = out["margin"] - out["baseline_margin"]
    per_month = 30.0 / max(cfg.horizon_days, 1)
    reasons, binding = [], []
    coupled = pick["price"].to_numpy() != best_own["price"].to_numpy()
    held = [name for name, on in (
        (f"the {cfg.min_margin:.0%} price-list margin" if cfg.min_margin is not None else "",
         cfg.min_margin is not None and cfg.margin_scope == "total"),
        ("the category volume floor", cfg.volume_floor is not None),
        ("the competitor price index", cfg.competitor_index is not None)) if on]
    coupled_rules = " / ".join(held) or "the other rules"
    for i, item in enumerate(items.itertuples(index=False)):
        e, price = item.elasticity, out.at[i, "recommended_price"]
        label = elasticity_label(e)
        gain = out.at[i, f"{cfg.objective}_change"] * per_month
        du = out.at[i, "units_change_pct"]
        slope = (1 + e * (price - item.unit_cost) / price) if cfg.objective == "margin" else (1 + e)
        rule = _blocking_rule(item, price, slope > 0, cfg) if abs(slope) > 1e-9 else None
        if coupled[i]:
            rule = coupled_rules
        if kept[i]:
            rule = f"the price endings ({PRICE_ENDINGS[cfg.endings()]})"
        binding.append(rule or "")
        chg = out.at[i, "change_pct"]
        off_grid = cfg.endings() != "paise" and not bool(is_allowed(item.price, cfg.endings()))
        note = (f"; {price_text(item.price)} today is not an allowed price ending"
                if off_grid else "")
        if kept[i]:
            reasons.append(f"{label}: keep {price_text(price)}; no price with the allowed "
                           f"endings ({PRICE_ENDINGS[cfg.endings()]}) meets its rules")
            continue
        if abs(chg) < 1e-9:
            why = f"held by {rule}" if rule else "already the best price on the ladder"
            reasons.append(f"{label}: keep {price_text(price)}; {why}")
            continue
        verb = "lifts" if gain >= 0 else "costs"
        text = (f"{label}: {_signed_pct(chg)} {verb} {cfg.objective} {inr(abs(gain))}/month; "
                f"units {_signed_pct(du)}")
        if rule:
            text += f"; limited by {rule}"
        reasons.append(text + note)
    out["binding_rule"] = binding
    out["reason"] = reasons
    return out
