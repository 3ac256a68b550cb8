"""Multi-criteria ranking of mandis for a commodity, a quantity and a destination.

Score = weighted mean of four 0-100 components (default weights price 40, quality 25,
logistics 20, reliability 15; any non-negative weights, normalised to sum 1):

- price: landed price (modal + transport) vs the cheapest landed price among candidates
  (100 at the cheapest, 0 at `price_span` = 50% dearer), blended 80/20 with the modal
  price vs the mandi's own seasonal norm (50 at the norm, +1 point per 1% below it).
- quality: the mandis table's quality_index when present, the share of FAQ/A-grade
  rows when grades are reported, and the price spread (max-min)/modal as a proxy for a
  uniform lot (0% spread -> 100, 50% -> 0); mean of what is available.
- logistics: road distance (0 km -> 100, `max_road_km` -> 0), lead time in truck days
  (`truck_km_per_day`; 1 day -> 100, -20 per extra day) and transport's share of the
  landed price (0 -> 100, 30% -> 0); weights 40/30/30.
- reliability: days reported out of market days in the last 30 (35%), freshness (25%;
  0-1 days -> 100, 14+ days -> 0), price volatility (20%; CV 0 -> 100, 30% -> 0),
  arrivals consistency (20%; CV 0 -> 100, 150% -> 0); blended 70/30 with the mandis
  table's reliability_index when present.

Transport per quintal = haversine km x road_factor x rs_per_qtl_km. Default Rs 1.0 per
quintal-km (a 10-tonne truck at ~Rs 100/km loaded), road factor 1.3.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import geo
from engine.sourcing.analytics import market_metrics
from engine.sourcing.prepare import (SourcingError, clean_prices, commodity_key,
                                     locate_mandis, map_unique, placement_summary)
from engine.sourcing.text import inr, pct_text


@dataclass(frozen=True)
class Destination:
    lat: float
    lon: float
    pin_code: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class RankConfig:
    w_price: float = 40.0
    w_quality: float = 25.0
    w_logistics: float = 20.0
    w_reliability: float = 15.0
    road_factor: float = 1.3
    rs_per_qtl_km: float = 1.0
    truck_km_per_day: float = 400.0
    max_road_km: float = 2000.0
    price_span: float = 0.5
    max_stale_days: int = 45
    as_of: str | None = None

    def weights(self) -> dict[str, float]:
        w = {"price": self.w_price, "quality": self.w_quality,
             "logistics": self.w_logistics, "reliability": self.w_reliability}
        if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
            raise SourcingError("Ranking weights must be non-negative and not all zero.",
                                evidence=w)
        total = sum(w.values())
        return {k: v / total for k, v in w.items()}


SUPPLY_SHARE = 0.10   # share of a week's arrivals a buyer can take, for the reason text only

RANK_COLUMNS = ["rank", "market", "state", "district", "score", "price_score", "quality_score",
                "logistics_score", "reliability_score", "modal_price", "transport_per_qtl",
                "landed_price", "distance_km", "road_km", "lead_time_days", "arrivals_tpd",
                "arrivals_qtl_per_day", "last_date", "freshness_days", "change_7d",
                "change_30d", "vs_norm", "volatility", "reason", "price_reason",
                "quality_reason", "logistics_reason", "reliability_reason", "location_note",
                "location_source",
                "lat", "lon", "mandi_id", "commodity"]


def _clip(x) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=float), 0.0, 100.0)


def _nanmean(*arrays) -> np.ndarray:
    stack = np.vstack([np.asarray(a, dtype=float) for a in arrays])
    with np.errstate(all="ignore"):
        count = np.sum(~np.isnan(stack), axis=0)
        out = np.nansum(stack, axis=0) / np.where(count == 0, 1, count)
    return np.where(count == 0, 50.0, out)


def _index_0_100(values: pd.Series) -> np.ndarray:
    """Quality/reliability indices may arrive as 0-1 or 0-100."""
    v = values.astype(float)
    return (v * 100 if v.max(skipna=True) <= 1.0 else v).to_numpy()


def select_commodity(prices: pd.DataFrame, commodity: str | None) -> pd.DataFrame:
    """Rows of one commodity (matched ignoring case/spacing/underscores)."""
    keys = map_unique(prices["commodity"], commodity_key)
    available = sorted(prices["commodity"].dropna().astype(str).str.strip().unique(), key=str.lower)
    if commodity is None:
        if keys.nunique() > 1:
            raise SourcingError("Choose a commodity: " + ", ".join(available) + ".", available)
        return prices
    mask = keys == commodity_key(commodity)
    if not mask.any():
        raise SourcingError(f"No mandi prices for commodity {commodity!r}. Available: "
                            + (", ".join(available) or "none") + ".", evidence=available)
    return prices[mask]


def rank_mandis(prices: pd.DataFrame, mandis: pd.DataFrame | None, destination,
                quantity_qtl: float, cfg: RankConfig = RankConfig(),
                commodity: str | None = None) -> pd.DataFrame:
    """Score every mandi with recent data for one commodity; best first.

    `prices` is mandi_prices-shaped (raw text prices allowed), `mandis` the mandis table
    (may be None/empty), `destination` a Destination or (lat, lon). Returns RANK_COLUMNS;
    `attrs["excluded"]` lists mandis left out with the reason (`attrs["unplaced"]` those
    with recent prices that could not be placed on the map), `attrs["placement"]` says how
    the mandis with recent prices were placed (prepare.placement_summary),
    `attrs["clean_report"]` the cleaning summary, `attrs["as_of"]` the data date.
    """
    weights = cfg.weights()
    if quantity_qtl is None or not np.isfinite(quantity_qtl) or quantity_qtl <= 0:
        raise SourcingError("The required quantity must be a positive number of quintals.",
                            evidence=quantity_qtl)
    dest = destination if isinstance(destination, Destination) else Destination(*destination)
    sel = select_commodity(prices, commodity)
    clean, report = clean_prices(sel)
    if clean.empty:
        raise SourcingError("No usable prices for this commodity (all blank or 'NR').",
                            evidence=report)
    metrics = market_metrics(clean, as_of=cfg.as_of)
    stale = metrics["freshness_days"] > cfg.max_stale_days
    recent = metrics.loc[~stale, "mandi_id"]
    locs = locate_mandis(clean[clean["mandi_id"].isin(recent)], mandis)
    df = metrics.merge(locs.drop(columns=["market", "state", "district"]), on="mandi_id",
                       how="left")
    excluded, unplaced = [], []
    stale = df["freshness_days"] > cfg.max_stale_days
    no_xy = (df["lat"].isna() | df["lon"].isna()) & ~stale
    for _, r in df[stale].iterrows():
        excluded.append({"market": r["market"], "state": r["state"],
                         "reason": f"last price {r['freshness_days']} days old "
                                   f"(limit {cfg.max_stale_days})"})
    for _, r in df[no_xy].iterrows():
        unplaced.append({"market": r["market"], "state": r["state"],
                         "reason": r["location_note"] or "not placed: no coordinates"})
    excluded += unplaced
    placement = placement_summary(locs) if len(locs) else None
    df = df[~stale & ~no_xy].copy()
    if df.empty:
        if not len(locs):
            raise SourcingError(f"No mandi has reported {commodity or 'this commodity'} in "
                                f"the {cfg.max_stale_days} days before the latest price.",
                                evidence=excluded)
        first = unplaced[0]
        raise SourcingError(
            f"None of the {len(unplaced)} mandi(s) with recent prices could be placed on the "
            f"map, so none can be ranked: e.g. {first['market']} ({first['state']}): "
            f"{first['reason']}. Add their coordinates or district to the mandis table, or "
            "check the market and state names.", evidence=excluded)

    df["distance_km"] = geo.haversine_km(dest.lat, dest.lon, df["lat"], df["lon"])
    df["road_km"] = df["distance_km"] * cfg.road_factor
    df["transport_per_qtl"] = df["road_km"] * cfg.rs_per_qtl_km
    df["modal_price"] = df["latest_modal"]
    df["landed_price"] = df["modal_price"] + df["transport_per_qtl"]
    df["lead_time_days"] = np.maximum(1, np.ceil(df["road_km"] / cfg.truck_km_per_day)).astype(int)
    df["arrivals_qtl_per_day"] = df["arrivals_tpd"] * 10.0

    # Price
    cheapest = df["landed_price"].min()
    above = df["landed_price"] / cheapest - 1
    rel = _clip(100 * (1 - above / cfg.price_span))
    hist = np.where(df["vs_norm"].notna(), _clip(50 - 100 * df["vs_norm"].fillna(0)), 50.0)
    df["price_score"] = 0.8 * rel + 0.2 * hist
    # Quality
    q_index = _index_0_100(df["quality_index"]) if df["quality_index"].notna().any() \
        else np.full(len(df), np.nan)
    q_grade = (df["graded_share"] * 100).to_numpy(dtype=float)
    q_spread = np.where(df["spread"].notna(), _clip(100 * (1 - df["spread"].fillna(0) / 0.5)),
                        np.nan)
    df["quality_score"] = _nanmean(q_index, q_grade, q_spread)
    # Logistics
    s_dist = _clip(100 * (1 - df["road_km"] / cfg.max_road_km))
    s_lead = _clip(100 - 20 * (df["lead_time_days"] - 1))
    s_share = _clip(100 * (1 - (df["transport_per_qtl"] / df["landed_price"]) / 0.3))
    df["logistics_score"] = 0.4 * s_dist + 0.3 * s_lead + 0.3 * s_share
    # Reliability
    r_cov = _clip(100 * df["coverage"])
    r_fresh = _clip(100 * (1 - (df["freshness_days"] - 1).clip(lower=0) / 13))
    r_vol = np.where(df["volatility"].notna(), _clip(100 * (1 - df["volatility"].fillna(0) / 0.3)),
                     50.0)
    r_arr = np.where(df["arrivals_cv"].notna(),
                     _clip(100 * (1 - df["arrivals_cv"].fillna(0) / 1.5)), 50.0)
    r_data = 0.35 * r_cov + 0.25 * r_fresh + 0.20 * r_vol + 0.20 * r_arr
    r_index = _index_0_100(df["reliability_index"]) if df["reliability_index"].notna().any() \
        else np.full(len(df), np.nan)
    df["reliability_score"] = np.where(np.isnan(r_index), r_data, 0.7 * r_data + 0.3 * r_index)

    df["score"] = (weights["price"] * df["price_score"] + weights["quality"] * df["quality_score"]
                   + weights["logistics"] * df["logistics_score"]
                   + weights["reliability"] * df["reliability_score"])
    for col in ("score", "price_score", "quality_score", "logistics_score", "reliability_score"):
        df[col] = df[col].round(1)
    df = df.sort_values(["score", "landed_price", "mandi_id"], ascending=[False, True, True],
                        kind="stable").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    _add_reasons(df, cheapest, df["quality_index"].notna(), float(quantity_qtl))
    out = df[RANK_COLUMNS].copy()
    out.attrs["excluded"] = excluded
    out.attrs["unplaced"] = unplaced
    out.attrs["placement"] = placement
    out.attrs["clean_report"] = report.sentence()
    out.attrs["as_of"] = str(pd.Timestamp(metrics["as_of"].iloc[0]).date())
    out.attrs["quantity_qtl"] = float(quantity_qtl)
    return out


def _add_reasons(df: pd.DataFrame, cheapest: float, q_index_present: pd.Series,
                 quantity_qtl: float) -> None:
    price, qual, logi, rel, summary = [], [], [], [], []
    for i, r in df.iterrows():
        above = r["landed_price"] / cheapest - 1
        vs_cheap = "cheapest landed" if above < 0.005 else f"{pct_text(above)} above the cheapest"
        if pd.isna(r["vs_norm"]):
            norm = ""
        elif abs(r["vs_norm"]) < 0.005:
            norm = ", modal at its seasonal norm"
        else:
            norm = (f", modal {pct_text(r['vs_norm'])} "
                    f"{'below' if r['vs_norm'] < 0 else 'above'} its seasonal norm")
        price.append(f"landed {inr(r['landed_price'])}/qtl = {inr(r['modal_price'])} modal + "
                     f"{inr(r['transport_per_qtl'])} transport; {vs_cheap}{norm}")
        parts = []
        if q_index_present.iloc[i]:
            parts.append("mandi quality index")
        if pd.notna(r["graded_share"]):
            parts.append("grade mix")
        parts.append(f"price spread {pct_text(r['spread'])}" if pd.notna(r.get("spread"))
                     else "no spread data")
        qual.append("quality from " + ", ".join(parts))
        logi.append(f"{r['road_km']:,.0f} km by road, about {r['lead_time_days']} day"
                    f"{'s' if r['lead_time_days'] > 1 else ''} by truck")
        vol = f", price swings {pct_text(r['volatility'])}" if pd.notna(r["volatility"]) else ""
        fresh = ("last on the latest date" if r["freshness_days"] == 0 else
                 f"last {r['freshness_days']} day{'s' if r['freshness_days'] != 1 else ''} ago")
        rel.append(f"reported {r['days_reported']} of {r['market_days']} market days, "
                   f"{fresh}{vol}")
        comps = {"price": r["price_score"], "quality": r["quality_score"],
                 "logistics": r["logistics_score"], "reliability": r["reliability_score"]}
        best = max(comps, key=comps.get)
        worst = min(comps, key=comps.get)
        texts = {"price": price[-1], "quality": qual[-1], "logistics": logi[-1],
                 "reliability": rel[-1]}
        line = f"Strongest on {best} ({texts[best]})"
        if worst != best:
            line += f"; weakest on {worst} ({texts[worst]})"
        weekly = r["arrivals_qtl_per_day"] * SUPPLY_SHARE * 7
        if pd.notna(weekly) and weekly < quantity_qtl:
            line += (f"; small market: about {weekly:,.0f} qtl a week at "
                     f"{SUPPLY_SHARE:.0%} of arrivals, less than the {quantity_qtl:,.0f} needed")
        if r["location_note"]:
            line += f"; {r['location_note']}"
        summary.append(line)
    df["price_reason"], df["quality_reason"] = price, qual
    df["logistics_reason"], df["reliability_reason"], df["reason"] = logi, rel, summary
