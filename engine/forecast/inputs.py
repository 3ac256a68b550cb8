"""What a forecast reads besides the sales history: the side information its features use,
assembled from the warehouse's reads (storage returns frames; the domain's Signals type
is built here, so engine/warehouse/ never imports engine.forecast)."""
from __future__ import annotations

from engine.forecast.features import Signals
from engine.warehouse.db import Warehouse
from engine.warehouse.festivals import read_festivals
from engine.warehouse.forecast_store import read_locations, read_skus, read_weather


def read_signals(wh: Warehouse) -> Signals:
    """Signals (skus, locations, weather, festival calendar and effects) for features."""
    calendar, effects = read_festivals(wh)
    return Signals(skus=read_skus(wh), locations=read_locations(wh), weather=read_weather(wh),
                   festivals=calendar if len(calendar) else None,
                   festival_effects=effects if len(effects) else None)
