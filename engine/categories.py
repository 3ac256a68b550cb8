"""The product-category vocabulary shared by the demo generator, festival effects,
weather response and every page. Names are shown to users as they are."""
from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "Cold Beverages",
    "Ice Cream",
    "Tea & Coffee",
    "Sweets",
    "Dairy",
    "Staples",
    "Edible Oil",
    "Fresh Vegetables",
    "Snacks",
    "Personal Care",
    "Festive Gifts",
    "Holi Colours",
)

# How a category's demand responds to weather (used by demo planting and by features).
WEATHER_RESPONSE: dict[str, str] = {
    "Cold Beverages": "hot",   # more demand when hot (sigmoid in temperature)
    "Ice Cream": "hot",
    "Tea & Coffee": "cold",    # more demand when cool / rainy
}

PERISHABLE: frozenset[str] = frozenset({"Dairy", "Fresh Vegetables", "Ice Cream", "Sweets"})
