"""Mandi analytics and ranking on synthetic frames with planted effects."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.sourcing.analytics import forecast_prices, market_metrics, seasonal_pattern
from engine.sourcing.prepare import SourcingError, clean_prices
from engine.sourcing.ranking import Destination, RankConfig, rank_mandis
from tests.sourcing_frames import END, mandis_frame, prices_frame

BENGALURU = Destination(12.97, 77.59, "560001")
# Near: ~30 km from Bengaluru. Far: ~560 km north (about 0.1 deg lat per 11 km).
COORDS = {"Near Mandi": (13.2, 77.7), "Far Mandi": (17.97, 77.59)}


def test_cheaper_far_mandi_wins_only_when_freight_is_cheap():
    prices = prices_frame({"Near Mandi": {"price": 1500}, "Far Mandi": {"price": 1000}})
    mandis = mandis_frame(COORDS)
    cheap = rank_mandis(prices, mandis, BENGALURU, 50, RankConfig(rs_per_qtl_km=0.1))
    dear = rank_mandis(prices, mandis, BENGALURU, 50, RankConfig(rs_per_qtl_km=1.5))
    assert cheap.iloc[0]["market"] == "Far Mandi"
    assert dear.iloc[0]["market"] == "Near Mandi"
    far = dear.set_index("market").loc["Far Mandi"]
    assert far["landed_price"] == pytest.approx(far["modal_price"] + far["road_km"] * 1.5)
    assert far["road_km"] == pytest.approx(far["distance_km"] * 1.3)


def test_mandi_with_missing_recent_days_loses_reliability():
    prices = prices_frame({"Steady": {"price": 1200}, "Gappy": {"price": 1200, "drop_last": 10}})
    mandis = mandis_frame({"Steady": (13.0, 77.6), "Gappy": (13.0, 77.61)})
    ranked = rank_mandis(prices, mandis, BENGALURU, 50).set_index("market")
    assert ranked.loc["Gappy", "reliability_score"] < ranked.loc["Steady", "reliability_score"] - 20
    assert "10 days ago" in ranked.loc["Gappy", "reliability_reason"]


def test_price_weight_alone_orders_by_landed_price():
    prices = prices_frame({"A": {"price": 1000}, "B": {"price": 1100}, "C": {"price": 1300}})
    mandis = mandis_frame({"A": (13.0, 77.6), "B": (13.0, 77.6), "C": (13.0, 77.6)})
    ranked = rank_mandis(prices, mandis, BENGALURU, 50,
                         RankConfig(w_price=1, w_quality=0, w_logistics=0, w_reliability=0))
    assert ranked["market"].tolist() == ["A", "B", "C"]
    assert ranked["score"].tolist() == ranked["price_score"].tolist()
    assert all(isinstance(r, str) and r for r in ranked["reason"])


def test_wide_price_spread_lowers_quality():
    prices = prices_frame({"Uniform": {"price": 1000, "spread": 0.05},
                           "Mixed": {"price": 1000, "spread": 0.3}})
    mandis = mandis_frame({"Uniform": (13.0, 77.6), "Mixed": (13.0, 77.6)})
    ranked = rank_mandis(prices, mandis, BENGALURU, 50).set_index("market")
    assert ranked.loc["Uniform", "quality_score"] > ranked.loc["Mixed", "quality_score"]


def test_messy_agmarknet_frame_is_cleaned_and_located():
    prices = prices_frame({"Azadpur": {"price": 1500, "state": "NCT OF DELHI"},
                           "Lasalgaon": {"price": 900, "state": "MAHARASHTRA",
                                         "district": "Nashik"},
                           "Nowhere": {"price": 1000, "state": "Maharashtra"}}, days=60)
    prices["modal_price"] = prices["modal_price"].round(0).astype(object)
    prices.loc[prices.index[::7], "modal_price"] = "NR"
    prices.loc[prices.index[3::7], "modal_price"] = ""
    prices.loc[prices.index[3::7], "min_price"] = np.nan     # no mid-price fallback either
    dupes = prices[prices["market"] == "Azadpur"].head(20).copy()
    dupes["market"] = " AZAD  PUR "                           # same market, other spelling
    prices = pd.concat([prices, dupes], ignore_index=True)
    mandis = pd.DataFrame([{"market": "AZADPUR", "district": "North West", "state": "Delhi",
                            "lat": 28.71, "lon": 77.18, "quality_index": 0.8,
                            "reliability_index": 0.9}])
    clean, report = clean_prices(prices)
    # 'NR' modal with min/max present -> mid price; blank modal and no min -> unusable.
    assert report.rows_without_price == int((prices["modal_price"] == "").sum())
    assert report.merged_names == 1
    assert clean.groupby(["mandi_id", "date"]).size().max() == 1
    assert set(clean["state"]) == {"Delhi", "Maharashtra"}

    ranked = rank_mandis(prices, mandis, Destination(28.62, 77.21), 50)
    by = ranked.set_index("market")
    assert set(by.index) == {"Azadpur", "Lasalgaon"}
    # No coordinates in the data: placed at the India Post office of its name, in its district.
    assert by.loc["Lasalgaon", "location_note"] == \
        "placed at Lasalgaon post office, PIN 422306, Nashik district (India Post directory)"
    assert by.loc["Lasalgaon", "location_source"] == "post office"
    assert "Lasalgaon post office" in by.loc["Lasalgaon", "reason"]
    assert 19.5 < by.loc["Lasalgaon", "lat"] < 20.8
    assert by.loc["Azadpur", "location_note"] == ""
    assert by.loc["Azadpur", "location_source"] == "mandis"
    assert ranked.attrs["excluded"] == [{
        "market": "Nowhere", "state": "Maharashtra",
        "reason": "not placed: no post office or district called 'Nowhere' in Maharashtra"}]
    assert ranked.attrs["unplaced"] == ranked.attrs["excluded"]
    placement = ranked.attrs["placement"]
    assert placement["unplaced"] == ["Nowhere (Maharashtra)"]
    assert placement["sentence"].startswith("2 of 3 mandis placed on the map (1 from the "
                                            "mandis table, 1 from an India Post office")
    assert "Not placed (1): Nowhere (Maharashtra)." in placement["sentence"]


def test_unknown_town_with_a_district_falls_back_to_the_district_centre():
    prices = prices_frame({"Qwzx Yard": {"price": 900, "state": "MAHARASHTRA",
                                         "district": "Nashik"}}, days=30)
    ranked = rank_mandis(prices, None, Destination(19.99, 73.79), 10)
    row = ranked.iloc[0]
    assert row["location_note"] == "location approximated by the centre of Nashik district"
    assert row["location_source"] == "district"
    assert 19.5 < row["lat"] < 20.8 and 73.3 < row["lon"] < 74.8


def test_unknown_commodity_lists_available():
    prices = prices_frame({"A": {"price": 1000}})
    with pytest.raises(SourcingError, match=r"No mandi prices for commodity 'Banana'. "
                                            r"Available: Onion."):
        rank_mandis(prices, mandis_frame({"A": (13, 77.6)}), BENGALURU, 50, commodity="Banana")


def test_metrics_report_planted_change_and_freshness():
    prices = prices_frame({"A": {"price": 1000, "noise": 0.0, "drop_last": 3}}, days=120)
    last = prices["date"].max()
    prices.loc[prices["date"] == last, "modal_price"] = 1100.0
    m = market_metrics(clean_prices(prices)[0], as_of=END).iloc[0]
    assert m["change_7d"] == pytest.approx(0.10)
    assert m["freshness_days"] == 3
    assert m["days_reported"] == 27


def test_forecast_ets_interval_brackets_the_forecast():
    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=200, freq="D")
    hist = pd.DataFrame({"date": dates, "modal_price": 1000 * np.exp(np.cumsum(
        rng.normal(0, 0.01, 200)))})
    fc = forecast_prices(hist, horizon=14)
    assert fc.model.startswith("ETS")
    assert len(fc.frame) == 14 and fc.frame["date"].iloc[0] == dates[-1] + pd.Timedelta(days=1)
    assert (fc.frame["lo"] < fc.frame["forecast"]).all()
    assert (fc.frame["forecast"] < fc.frame["hi"]).all()
    width = fc.frame["hi"] - fc.frame["lo"]
    assert width.iloc[-1] > width.iloc[0]


def test_forecast_falls_back_to_naive_on_short_history():
    hist = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=20, freq="D"),
                         "modal_price": np.linspace(1000, 1100, 20)})
    fc = forecast_prices(hist, horizon=14)
    assert fc.model == "naive"
    assert "only 20 consecutive daily prices" in fc.reason
    assert np.allclose(fc.frame["forecast"], 1100)


def test_seasonal_pattern_finds_planted_october_peak():
    dates = pd.date_range("2022-01-01", "2023-12-31", freq="D")
    modal = np.where(dates.month == 10, 2000.0, 1000.0)
    prices = pd.DataFrame({"market": "A", "state": "Karnataka", "commodity": "Onion",
                           "date": dates, "modal_price": modal, "arrivals_tonnes": 10.0})
    pat = seasonal_pattern(clean_prices(prices)[0], "onion")
    assert pat.loc[pat["index"].idxmax(), "month_name"] == "Oct"
    assert pat["index"].mean() == pytest.approx(100)
