"""Price endings a retailer prints on a shelf label: the sets of allowed prices the optimiser
picks from (its candidate grid is built from them, so every rule still holds for the
rounded price; nothing is rounded after the solve).

- "retail" (default): whole rupees, or ₹0.50 steps below ₹100 (₹39, ₹39.50, ₹40, ₹149);
- "whole": whole rupees (₹39, ₹40, ₹149);
- "nine": prices ending in 9: ₹x.90 below ₹20, then whole rupees ending in 9
  (₹19, ₹29, ₹49, ₹199);
- "paise": any price to the paisa (₹39.79).

`floor_price` / `ceil_price` give the nearest allowed price at or below / at or above a
price (NaN when there is none below), vectorised over numpy arrays.
"""
from __future__ import annotations

import numpy as np

from engine.pricing.elasticity import PricingError

PRICE_ENDINGS = {
    "retail": "whole rupees, or ₹0.50 steps below ₹100",
    "whole": "whole rupees",
    "nine": "ending in 9 (₹x.90 below ₹20, then ₹19, ₹29, ₹49, ₹199)",
    "paise": "any price (to the paisa)",
}
DEFAULT_ENDINGS = "retail"
_EPS = 1e-6


def check_endings(endings: str) -> str:
    """The scheme's name, or a PricingError that lists the choices."""
    if endings not in PRICE_ENDINGS:
        choices = "; ".join(f"'{k}' = {v}" for k, v in PRICE_ENDINGS.items())
        raise PricingError(f"Price endings must be one of: {choices} (not {endings!r}).")
    return endings


def floor_price(prices, endings: str) -> np.ndarray:
    """The highest allowed price at or below each price (NaN when none is allowed)."""
    x = np.round(np.asarray(prices, dtype=float), 6)
    check_endings(endings)
    if endings == "paise":
        out = np.floor(x * 100 + _EPS) / 100
        low = 0.01
    elif endings == "whole":
        out, low = np.floor(x + _EPS), 1.0
    elif endings == "retail":
        out = np.where(x < 100 - _EPS, np.floor(2 * x + _EPS) / 2, np.floor(x + _EPS))
        low = 0.5
    else:                                              # nine
        tens = 10 * np.floor((x + 1 + _EPS) / 10) - 1  # ..., 19, 29, 39
        tenths = np.minimum(np.floor(x - 0.9 + _EPS) + 0.9, 19.9)
        tens = np.where(tens >= 19, tens, -np.inf)
        tenths = np.where(tenths >= 0.9, tenths, -np.inf)
        out, low = np.maximum(tens, tenths), 0.9
    out = np.round(out, 2)
    return np.where(out >= low - _EPS, out, np.nan)


def ceil_price(prices, endings: str) -> np.ndarray:
    """The lowest allowed price at or above each price."""
    x = np.round(np.asarray(prices, dtype=float), 6)
    check_endings(endings)
    if endings == "paise":
        out = np.maximum(np.ceil(x * 100 - _EPS) / 100, 0.01)
    elif endings == "whole":
        out = np.maximum(np.ceil(x - _EPS), 1.0)
    elif endings == "retail":
        out = np.where(x <= 99.5 + _EPS, np.ceil(2 * x - _EPS) / 2, np.ceil(x - _EPS))
        out = np.maximum(out, 0.5)
    else:                                              # nine
        tens = np.maximum(10 * np.ceil((x + 1 - _EPS) / 10) - 1, 19.0)
        tenths = np.maximum(np.ceil(x - 0.9 - _EPS), 0.0) + 0.9
        out = np.where(tenths <= 19.9 + _EPS, np.minimum(tens, tenths), tens)
    return np.round(out, 2)


def is_allowed(prices, endings: str) -> np.ndarray:
    """Whether each price is one of the scheme's allowed prices."""
    x = np.asarray(prices, dtype=float)
    return np.abs(floor_price(x, endings) - x) < 1e-6


def nearest_price(prices, endings: str) -> np.ndarray:
    """The allowed price nearest each price (ties go up), e.g. to round a list afterwards."""
    x = np.asarray(prices, dtype=float)
    lo, hi = floor_price(x, endings), ceil_price(x, endings)
    return np.where(np.isnan(lo) | (hi - x <= x - lo + 1e-9), hi, lo)
