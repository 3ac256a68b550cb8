"""Placing Agmarknet markets (no coordinates, no district) by the India Post office or
district they are named after (engine/sourcing/places.py), and what the CLI says about the
ones it cannot place."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.__main__ import main
from engine.sourcing.places import (Locator, candidate_names, shared_locator, sound_key,
                                    spelling_key)
from engine.sourcing.prepare import clean_prices, locate_mandis, placement_summary


@pytest.fixture(scope="module")
def locator() -> Locator:
    return shared_locator()


def test_candidate_names_try_the_town_before_the_bracket_and_renamed_cities():
    assert candidate_names("LASALGAON(NIPHAD)")[:3] == ["LASALGAONNIPHAD", "LASALGAON",
                                                        "NIPHAD"]
    assert "VASHI" in candidate_names("Vashi New Mumbai")
    assert candidate_names("Amrawati(Frui & Veg. Market)")[:2] == ["AMRAWATIFRUIVEGMARKET",
                                                                  "AMRAWATI"]
    assert candidate_names("BANGALORE")[-1] == "BENGALURU"


def test_spellings_and_sounds_of_one_name_share_a_key():
    assert spelling_key("KALVAN") == spelling_key("Kalwan")
    assert spelling_key("GAZIPUR") == spelling_key("Ghazipur")
    assert sound_key("AMARAWATI") == sound_key("Amravati")
    assert sound_key("SINNER") == sound_key("Sinnar")
    assert sound_key("SHAHPUR") == sound_key("Sahupuri")      # the skeleton alone is not enough


@pytest.mark.parametrize("market, state, office, pin", [
    ("LASALGAON(NIPHAD)", "Maharashtra", "Lasalgaon post office", "422306"),
    ("BANGALORE", "Karnataka", "Bengaluru head post office", "560001"),     # renamed city
    ("AMARAWATI", "Maharashtra", "Amravati head post office", "444601"),    # spelt otherwise
    ("SINNER", "Maharashtra", "Sinnar post office", "422103"),
    ("GAZIPUR", "Uttar Pradesh", "Ghazipur head post office", "233001"),
])
def test_market_is_placed_at_the_post_office_of_its_town(locator, market, state, office, pin):
    p = locator.locate(market, state)
    assert p.placed and p.method == "post office"
    assert p.note.startswith(f"placed at {office}, PIN {pin}")
    assert p.note.endswith("(India Post directory)")
    from engine import geo

    ref = geo.pin_reference().set_index("pin_code")
    # within the PIN code's own area: a few km from its centroid
    assert geo.haversine_km(p.lat, p.lon, ref.loc[pin, "lat"], ref.loc[pin, "lon"]) < 15


def test_a_market_named_after_its_district_stands_in_that_district(locator):
    p = locator.locate("Mainpuri", "Uttar Pradesh")
    assert p.placed and "Mainpuri district" in p.note


def test_known_district_keeps_the_match_inside_it(locator):
    # 'Gangapur' names places in several Maharashtra districts; the data's district decides.
    p = locator.locate("Gangapur", "Maharashtra", "Aurangabad")
    assert p.note.startswith("placed at Gangapur") and "Aurangabad district" in p.note
    p = locator.locate("Gangapur", "Maharashtra", "Nashik")
    assert p.note.startswith("placed at Gangapur branch post office, PIN 422222, Nashik")
    p = locator.locate("Lasalgaon", "Maharashtra", "Pune")
    assert not p.placed and p.note == "no post office called 'Lasalgaon' in Pune district"
    # ... and then the market stands at its district's centre, saying so.
    clean = pd.DataFrame({"mandi_id": ["LASALGAON|Maharashtra"], "market": ["Lasalgaon"],
                          "state": ["Maharashtra"], "district": ["Pune"]})
    row = locate_mandis(clean, None).iloc[0]
    assert row["location_source"] == "district"
    assert row["location_note"] == "location approximated by the centre of Pune district"


def test_unknown_town_and_missing_state_say_why(locator):
    p = locator.locate("Qwzx", "Karnataka")
    assert not p.placed and np.isnan(p.lat)
    assert p.note == "no post office or district called 'Qwzx' in Karnataka"
    assert locator.locate("Lasalgaon", None).note == \
        "no state, so its name cannot be looked up"
    assert locator.locate("Lasalgaon", "Atlantis").note == \
        "state 'Atlantis' is not in the India Post directory"


def _agmarknet(markets: dict[str, str], days: int = 40, commodity: str = "ONION") -> pd.DataFrame:
    """Agmarknet's published shape: no coordinates, no district column."""
    dates = pd.date_range(end="2021-05-09", periods=days, freq="D")
    rows = []
    for i, (market, state) in enumerate(markets.items()):
        for j, d in enumerate(dates):
            price = 1000.0 + 50 * i + (j % 5) * 10
            rows.append({"DATE": d.date().isoformat(), "STATE": state, "MARKET": market,
                         "COMMODITY": commodity, "ARRIVAL_TONNES": 20.0 + i,
                         "MIN_PRICE_RS_QTL": price - 100, "MAX_PRICE_RS_QTL": price + 100,
                         "MODAL_PRICE_RS_QTL": price})
    return pd.DataFrame(rows)


MARKETS = {"LASALGAON(NIPHAD)": "MAHARASHTRA", "PIMPALGAON BASWANT(SAYKHEDA)": "MAHARASHTRA",
           "SINNER": "MAHARASHTRA", "QWZX": "MAHARASHTRA"}


def test_agmarknet_frame_without_coordinates_is_placed_and_summarised():
    raw = _agmarknet(MARKETS)
    prices = pd.DataFrame({"market": raw.MARKET, "state": raw.STATE,
                           "commodity": raw.COMMODITY, "date": raw.DATE,
                           "min_price": raw.MIN_PRICE_RS_QTL, "max_price": raw.MAX_PRICE_RS_QTL,
                           "modal_price": raw.MODAL_PRICE_RS_QTL,
                           "arrivals_tonnes": raw.ARRIVAL_TONNES})
    clean, _ = clean_prices(prices)
    locs = locate_mandis(clean, None).set_index("market")
    assert locs.loc["Lasalgaon(Niphad)", "location_source"] == "post office"
    assert "Nashik district" in locs.loc["Pimpalgaon Baswant(Saykheda)", "location_note"]
    assert locs.loc["Qwzx", "location_source"] == ""
    summary = placement_summary(locs.reset_index())
    assert summary["share_placed"] == 0.75 and summary["unplaced"] == ["Qwzx (Maharashtra)"]


def test_rank_mandis_cli_ranks_an_agmarknet_file_and_names_the_unplaced(tmp_path, capsys):
    wh = tmp_path / "wh.duckdb"
    src = tmp_path / "onion_agmarknet.csv"
    _agmarknet(MARKETS).to_csv(src, index=False)
    assert main(["ingest", "mandi", str(src), "--warehouse", str(wh), "--json",
                 "--no-alerts"]) == 0
    capsys.readouterr()
    assert main(["rank-mandis", "--commodity", "onion", "--pin", "422001", "--quantity",
                 "20", "--warehouse", str(wh)]) == 0
    out = capsys.readouterr().out
    assert "3 of 4 mandis placed on the map (3 from an India Post office of its name)." in out
    assert "Not placed (1): Qwzx (Maharashtra)." in out
    assert ("  not ranked: Qwzx (Maharashtra): not placed: no post office or district "
            "called 'Qwzx' in Maharashtra") in out
    assert main(["rank-mandis", "--commodity", "onion", "--pin", "422001", "--quantity",
                 "20", "--warehouse", str(wh), "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert {r["market"] for r in rows} == {"Lasalgaon(Niphad)", "Pimpalgaon Baswant(Saykheda)",
                                           "Sinner"}
    assert {r["location_source"] for r in rows} == {"post office"}
    assert "Not placed (1): Qwzx (Maharashtra)." in captured.err


def test_file_whose_mandis_cannot_be_placed_gets_a_specific_error(tmp_path, capsys):
    wh = tmp_path / "wh.duckdb"
    src = tmp_path / "nowhere.csv"
    _agmarknet({"QWZX": "MAHARASHTRA", "ZZYQ": "KARNATAKA"}).to_csv(src, index=False)
    assert main(["ingest", "mandi", str(src), "--warehouse", str(wh), "--no-alerts"]) == 0
    capsys.readouterr()
    assert main(["rank-mandis", "--commodity", "onion", "--pin", "422001", "--quantity",
                 "20", "--warehouse", str(wh)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: None of the 2 mandi(s) with recent prices could be placed "
                          "on the map, so none can be ranked: e.g. ")
    assert "no post office or district called" in err
