"""What a forecast reads besides the sales history: the side information its features use,
assembled from the warehouse's reads (storage returns frames; the domain's Signals type
is built here, so engine/warehouse/ never imports engine.forecast)."""
from __future__ import annotations

from engine.forecast.features import Signals
from engine.warehouse.catalog import read_skus
from engine.warehouse.db import Warehouse
from engine.warehouse.festivals import read_festivals
from engine.warehouse.locations import read_locations
from engine.warehouse.weather import read_weather

# What the features read of the catalog and the places.
SKU_FIELDS = ("sku_id", "name", "category", "subcategory", "brand", "mrp", "unit_cost",
              "shelf_life_days")
PLACE_FIELDS = ("pin_code", "city", "district", "state", "region", "urban_rural")


def read_signals(wh: Warehouse) -> Signals:
    """Signals (skus, locations, weather, festival calendar and effects) for features."""
    calendar, effects = read_festivals(wh)
    return Signals(skus=read_skus(wh, SKU_FIELDS), locations=read_locations(wh, PLACE_FIELDS),
                   weather=read_weather(wh),
                   festivals=calendar if len(calendar) else None,
                   festival_effects=effects if len(effects) else None)
