"""Choropleth builder, colour classes, legend and tooltips (components/maps.py)."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import MultiPolygon, box

from components.maps import (DIVERGING, NO_DATA, SEQUENTIAL, choropleth_deck, colour_breaks,
                             format_value, legend_html, legend_spec)


def _pins() -> gpd.GeoDataFrame:
    geoms = [box(72.80, 18.90, 72.85, 18.95),
             MultiPolygon([box(77.55, 12.95, 77.60, 13.00), box(77.70, 13.10, 77.72, 13.12)]),
             box(77.20, 28.60, 77.25, 28.65)]
    return gpd.GeoDataFrame({
        "pin_code": ["400001", "560001", "110001"],
        "name": ["PIN 400001 · Fort", "PIN 560001 · Bangalore GPO", "PIN 110001 · Parliament"],
        "place": ["Mumbai, Maharashtra", "Bengaluru Urban, Karnataka", "New Delhi, Delhi"],
        "lat": [18.93, 12.97, 28.63], "lon": [72.83, 77.58, 77.22],
        "city": ["Mumbai", "Bengaluru", "Delhi"],
        "value": [4.5e5, 1.2e7, float("nan")]}, geometry=geoms, crs=4326)


def test_choropleth_has_polygons_and_pin_dots_with_formatted_tooltips():
    deck = choropleth_deck(_pins(), "value", "Sales", "inr", label_col="city")
    assert [layer.id for layer in deck.layers] == ["areas", "pins", "labels"]
    areas = pd.DataFrame(deck.layers[0].data)
    assert len(areas) == 4                                     # the MultiPolygon's 2 parts
    row = areas[areas["pin_code"] == "560001"].iloc[0]
    assert row["value_label"] == "₹1.20 crore"
    assert areas[areas["pin_code"] == "110001"]["value_label"].iloc[0] == "no data"
    assert areas[areas["pin_code"] == "110001"]["fill"].iloc[0][:3] == list(NO_DATA)
    assert row["polygon"][0][0] == [77.6, 12.95] or len(row["polygon"][0]) == 5
    assert "Sales: <b>{value_label}</b>" in deck._tooltip["html"]
    assert "{name}" in deck._tooltip["html"] and "{place}" in deck._tooltip["html"]
    assert deck.map_style is None


def test_choropleth_view_fits_the_data_bounds():
    view = choropleth_deck(_pins(), "value", "Sales", "inr").initial_view_state
    assert 12.95 < view.latitude < 28.65 and 72.80 < view.longitude < 77.72
    assert 3 <= view.zoom <= 6
    one = choropleth_deck(_pins().iloc[[0]], "value", "Sales", "inr").initial_view_state
    assert one.zoom > 9                                        # one PIN: zoomed right in


def test_biggest_value_gets_the_darkest_sequential_colour():
    deck = choropleth_deck(_pins(), "value", "Sales", "inr")
    areas = pd.DataFrame(deck.layers[0].data).drop_duplicates("pin_code").set_index("pin_code")
    assert areas.loc["560001", "fill"][:3] == list(SEQUENTIAL[-1])
    assert areas.loc["400001", "fill"][:3] == list(SEQUENTIAL[0])


def test_diverging_scale_is_symmetric_so_decline_is_red_and_growth_blue():
    gdf = _pins().assign(value=[-0.20, 0.05, 0.0])
    edges, colours = colour_breaks(gdf["value"], diverging=True)
    assert edges[0] == pytest.approx(-0.20) and edges[-1] == pytest.approx(0.20)
    deck = choropleth_deck(gdf, "value", "Growth vs last year", "pct", diverging=True)
    areas = pd.DataFrame(deck.layers[0].data).drop_duplicates("pin_code").set_index("pin_code")
    assert areas.loc["400001", "fill"][:3] == list(DIVERGING[0])        # -20%: deep red
    assert areas.loc["110001", "fill"][:3] == list(DIVERGING[3])        # 0%: neutral
    assert areas.loc["560001", "value_label"] == "+5.0%"


def test_context_and_selected_pin_are_extra_layers():
    context = gpd.GeoDataFrame({"state": ["X"]}, geometry=[box(68, 8, 97, 35)], crs=4326)
    deck = choropleth_deck(_pins(), "value", "Sales", "inr", context=context,
                           selected="400001")
    ids = [layer.id for layer in deck.layers]
    assert ids[0] == "context" and "selected" in ids
    assert pd.DataFrame(deck.layers[ids.index("selected")].data)["pin_code"].tolist() == ["400001"]


def test_area_level_tooltip_counts_pin_codes_and_has_no_dots():
    gdf = _pins().drop(columns=["pin_code", "lat", "lon"]).assign(n_pins=[3, 1, 2])
    deck = choropleth_deck(gdf, "value", "Sales", "inr")
    assert [layer.id for layer in deck.layers] == ["areas"]
    details = set(pd.DataFrame(deck.layers[0].data)["detail"])
    assert {"3 PIN codes with data", "1 PIN code with data"} <= details


def test_legend_lists_classes_in_rupees_and_counts_missing():
    spec = legend_spec(_pins()["value"], "Sales", "inr")
    assert spec["no_data"] == 1
    assert spec["items"][0]["label"].startswith("₹4.50 lakh – ")
    assert spec["items"][-1]["label"].endswith(" – ₹1.20 crore")
    assert spec["items"][-1]["colour"] == SEQUENTIAL[-1]
    html = legend_html(spec)
    assert "no data (1)" in html and "<b>Sales</b>" in html


def test_format_value_speaks_rupees_units_and_percent():
    assert format_value(1.2e7, "inr") == "₹1.20 crore"
    assert format_value(2340, "units") == "2,340 units"
    assert format_value(0.185, "pct") == "18.5%"
    assert format_value(-0.042, "pct", signed=True) == "-4.2%"
    assert format_value(float("nan"), "inr") == "no data"
    with pytest.raises(ValueError):
        format_value(1, "usd")


def test_nothing_to_draw_is_none():
    assert choropleth_deck(_pins().iloc[:0], "value", "Sales", "inr") is None
