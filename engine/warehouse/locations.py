"""The places (`locations`): one row per PIN code with the columns a caller names,
the places of given PINs, the places the assistant can name, and the store PINs by state.
On a store user's scoped handle only their PIN codes come back."""
from __future__ import annotations

import re

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.sql import read_columns, run_query


PIN_PATTERN = re.compile(r"^[1-9][0-9]{5}$")     # the pin_code key: 6 digits, no leading 0


def is_valid_pin(value: str) -> bool:
    return bool(PIN_PATTERN.match(str(value)))


LOCATION_COLUMNS = ("pin_code", "store_id", "locality", "city", "district", "state",
                    "region", "lat", "lon", "urban_rural")


def read_locations(wh: Warehouse, columns=LOCATION_COLUMNS) -> pd.DataFrame:
    """One row per PIN code, by pin_code, with `columns` (of LOCATION_COLUMNS)."""
    return read_columns(wh, "locations", LOCATION_COLUMNS, tuple(columns))


def pin_places(wh: Warehouse, pins: list[str]) -> pd.DataFrame:
    """Locality, city, district, state for the given PINs as the warehouse knows them."""
    return run_query(wh, """
        SELECT pin_code, locality, city, district, state FROM locations
        WHERE list_contains(CAST(? AS VARCHAR[]), pin_code) ORDER BY pin_code""",
        [list(pins)], "PIN code places")


def places(wh) -> "pd.DataFrame":
    """pin_code, locality, city, state of every location the handle can see (a store
    user's handle: only their PIN codes)."""
    return wh.query("SELECT pin_code, locality, city, state FROM locations "
                    "WHERE city IS NOT NULL ORDER BY pin_code")


def store_locations(wh: Warehouse) -> pd.DataFrame:
    """Store PINs (rows with a store_id) first, then other known locations."""
    return wh.query("SELECT pin_code, store_id, city, district, state, lat, lon FROM locations "
                    "ORDER BY store_id IS NULL, store_id, pin_code")


def store_pins_by_state(wh: Warehouse) -> pd.DataFrame:
    """state, pin_code: every store PIN (a row of `locations`) with its state. On a scoped
    handle only the reader's own PINs come back, which is what alert links may name."""
    return wh.query("SELECT state, pin_code FROM locations "
                    "WHERE state IS NOT NULL ORDER BY state, pin_code")
