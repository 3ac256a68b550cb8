"""Warehouse-facing entry points shared by the CLI and the Sourcing page.

Thin: read through engine.warehouse.mandi and engine.warehouse.locations, then call the pure
functions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine import geo
from engine.sourcing.prepare import SourcingError, commodity_key
from engine.sourcing.ranking import Destination, RankConfig, rank_mandis
from engine.tracing import traced
from engine.warehouse.locations import is_valid_pin, store_locations
from engine.warehouse.mandi import mandi_commodities, mandi_prices, mandis


def resolve_destination(pin_code, locations: pd.DataFrame | None = None) -> Destination:
    """A 6-digit PIN from India Post's reference (or the warehouse's locations) -> lat/lon."""
    pin = str(pin_code).strip() if pin_code is not None else ""
    if not is_valid_pin(pin):
        raise SourcingError(f"{pin!r} is not a PIN code: use 6 digits, not starting with 0 "
                            "(e.g. 560001).", evidence=pin)
    ref = geo.pin_reference()
    hit = ref[ref["pin_code"] == pin]
    if not hit.empty and pd.notna(hit["lat"].iloc[0]):
        row = hit.iloc[0]
        return Destination(float(row["lat"]), float(row["lon"]), pin,
                           f"{row['locality']}, {row['district']} ({pin})")
    if locations is not None and not locations.empty:
        loc = locations[(locations["pin_code"] == pin) & locations["lat"].notna()]
        if not loc.empty:
            row = loc.iloc[0]
            return Destination(float(row["lat"]), float(row["lon"]), pin,
                               f"{row.get('city') or pin} ({pin})")
    if hit.empty:
        raise SourcingError(f"PIN code {pin} is not in India Post's directory.", evidence=pin)
    raise SourcingError(f"PIN code {pin} has no map location in India Post's directory; "
                        "choose a nearby PIN.", evidence=pin)


def available_commodities(wh) -> list[str]:
    return mandi_commodities(wh)["commodity"].astype(str).tolist()


def commodity_prices(wh, commodity: str) -> pd.DataFrame:
    """All stored price rows for `commodity`, matched ignoring case/spacing/underscores."""
    names = available_commodities(wh)
    if not names:
        raise SourcingError("The warehouse has no mandi prices yet: load the demo "
                            "(python -m engine init --demo) or upload an Agmarknet file.")
    wanted = [n for n in names if commodity_key(n) == commodity_key(commodity)]
    if not wanted:
        raise SourcingError(f"Unknown commodity {commodity!r}. Available: "
                            + ", ".join(names) + ".", evidence=names)
    return mandi_prices(wh, wanted)


@traced("sourcing.rank_mandis", lambda a: {"commodity": a["commodity"],
                                           "pin_code": a["pin_code"],
                                           "quantity_qtl": a["quantity_qtl"]},
        lambda ranked: {"mandis": len(ranked)})
def rank_for_pin(wh, commodity: str, pin_code: str, quantity_qtl: float,
                 cfg: RankConfig = RankConfig()) -> pd.DataFrame:
    """rank_mandis for a commodity in the warehouse and a destination PIN."""
    if quantity_qtl is None or not np.isfinite(quantity_qtl) or quantity_qtl <= 0:
        raise SourcingError("The quantity must be a positive number of quintals.", quantity_qtl)
    dest = resolve_destination(pin_code, store_locations(wh))
    prices = commodity_prices(wh, commodity)
    ranked = rank_mandis(prices, mandis(wh), dest, quantity_qtl, cfg)
    ranked.attrs["destination"] = {"pin_code": dest.pin_code, "lat": dest.lat, "lon": dest.lon,
                                   "label": dest.label}
    return ranked


def market_outlook(wh, commodity: str, mandi_id: str, horizon: int = 14) -> dict:
    """Price history, a `horizon`-day forecast with 95% interval and the monthly pattern for
    one mandi (ids come from the ranked table)."""
    from engine.sourcing.analytics import forecast_prices, price_history, seasonal_pattern
    from engine.sourcing.prepare import clean_prices

    clean, _ = clean_prices(commodity_prices(wh, commodity))
    ckey = commodity_key(commodity)
    history = price_history(clean, mandi_id, ckey)
    if history.empty:
        raise SourcingError(f"No {commodity} prices for this mandi.", evidence=mandi_id)
    fc = forecast_prices(history, horizon=horizon)
    return {"history": history, "forecast": fc.frame, "model": fc.model, "reason": fc.reason,
            "level": fc.level, "pattern": seasonal_pattern(clean, ckey, mandi_id),
            "national_pattern": seasonal_pattern(clean, ckey)}
