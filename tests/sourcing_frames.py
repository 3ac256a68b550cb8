"""Synthetic mandi frames with planted effects for the sourcing tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

END = pd.Timestamp("2024-06-30")


def prices_frame(markets: dict[str, dict], days: int = 420, commodity: str = "Onion",
                 seed: int = 7) -> pd.DataFrame:
    """One row per market x day. Per market: price (modal level), state, arrivals (t/day),
    spread (share of modal), drop_last (recent days not reported), noise (sd share)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=END, periods=days, freq="D")
    frames = []
    for name, m in markets.items():
        n = len(dates)
        noise = m.get("noise", 0.01)
        modal = m["price"] * (1 + rng.normal(0, noise, n))
        spread = m.get("spread", 0.1)
        keep = np.ones(n, dtype=bool)
        if m.get("drop_last"):
            keep[-m["drop_last"]:] = False
        frames.append(pd.DataFrame({
            "market": name, "state": m.get("state", "Karnataka"),
            "district": m.get("district"), "commodity": commodity, "variety": "Local",
            "grade": "FAQ", "date": dates, "min_price": modal * (1 - spread),
            "max_price": modal * (1 + spread), "modal_price": modal,
            "arrivals_tonnes": m.get("arrivals", 50.0) * (1 + rng.normal(0, 0.05, n)),
        })[keep])
    return pd.concat(frames, ignore_index=True)


def mandis_frame(coords: dict[str, tuple[float, float]], quality=None,
                 reliability=None) -> pd.DataFrame:
    return pd.DataFrame([{"market": k, "district": None, "state": "Karnataka", "lat": v[0],
                          "lon": v[1], "quality_index": (quality or {}).get(k),
                          "reliability_index": (reliability or {}).get(k)}
                         for k, v in coords.items()])
