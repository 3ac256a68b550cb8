"""Weather (`weather`): city x day temperature and rainfall, for the forecast's
signals and the pricing panel."""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse


def read_weather(wh: Warehouse) -> pd.DataFrame:
    """city, date, temp_c, rainfall_mm, humidity of every stored city x day."""
    return wh.query("SELECT city, CAST(date AS TIMESTAMP) AS date, temp_c, rainfall_mm, "
                    "humidity FROM weather ORDER BY city, date")
