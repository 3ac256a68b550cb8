"""UI building blocks that do not need a running app: spreadsheet-safe exports, ₹ axis
scaling, the trend figure and the PIN-code map."""
from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

from components.charts import axis_scale, category_figure, trend_figure
from components.maps import pin_scatter_deck
from components.tables import neutralise_formulas, to_csv_bytes, to_excel_bytes

HOSTILE = pd.DataFrame({
    "=cmd|' /C calc'!A0": ["x", "y", "z", "w", "v"],
    "name": ["=HYPERLINK(\"http://evil\",\"click\")", "+91 98450 12345", "-2+3", "@SUM(A1)",
             "Amul Butter 100 g"],
    "revenue": [-5.0, 10.0, 0.0, 1e5, 2.5],
})


def test_neutralise_formulas_quotes_text_that_a_spreadsheet_would_run():
    safe = neutralise_formulas(HOSTILE)
    assert safe["name"].tolist() == ["'=HYPERLINK(\"http://evil\",\"click\")",
                                     "'+91 98450 12345", "'-2+3", "'@SUM(A1)",
                                     "Amul Butter 100 g"]
    assert safe.columns[0] == "'=cmd|' /C calc'!A0"
    assert safe["revenue"].tolist() == [-5.0, 10.0, 0.0, 1e5, 2.5]  # numbers stay numbers
    assert HOSTILE["name"].iloc[0].startswith("=")  # the input is not mutated


def test_excel_export_holds_text_not_formulas():
    book = openpyxl.load_workbook(io.BytesIO(to_excel_bytes(HOSTILE)))
    sheet = book.active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert sheet["B2"].value == "'=HYPERLINK(\"http://evil\",\"click\")"
    assert sheet["C2"].value == -5.0 and sheet["C2"].data_type == "n"


def test_excel_export_drops_control_characters_openpyxl_rejects():
    df = pd.DataFrame({"name": ["Kaju\x07 Katli"]})
    book = openpyxl.load_workbook(io.BytesIO(to_excel_bytes(df)))
    assert book.active["A2"].value == "Kaju Katli"


def test_csv_export_has_bom_and_quoted_formulas():
    raw = to_csv_bytes(HOSTILE)
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert back["name"].iloc[3] == "'@SUM(A1)"


@pytest.mark.parametrize("peak, measure, expected", [
    (3.2e7, "revenue", (1e7, "Revenue (₹ crore)")),
    (4.5e5, "revenue", (1e5, "Revenue (₹ lakh)")),
    (8450, "revenue", (1.0, "Revenue (₹)")),
    (2.3e5, "units", (1e5, "Units (lakh)")),
    (900, "units", (1.0, "Units")),
])
def test_axis_scale_reads_in_lakh_and_crore(peak, measure, expected):
    assert axis_scale(peak, measure) == expected


def _trend(with_last_year: bool) -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2025-10-01", "2025-10-04", "2025-10-11"]),
        "days": [3, 7, 7],
        "revenue": [3e5, 8e5, 9e5], "units": [300.0, 800.0, 900.0],
        "revenue_ly": [2e5, 7e5, 1e6] if with_last_year else [float("nan")] * 3,
        "units_ly": [200.0, 700.0, 1000.0] if with_last_year else [float("nan")] * 3,
    })


def test_trend_figure_uses_lakh_axis_ddmmm_ticks_and_marks_the_part_week():
    fig = trend_figure(_trend(True), "revenue", "W")
    assert fig.layout.yaxis.title.text == "Revenue (₹ lakh)"
    assert fig.layout.xaxis.tickformat == "%d-%b"
    last_year, this_year = fig.data
    assert list(this_year.y) == pytest.approx([3.0, 8.0, 9.0])
    assert list(this_year.marker.symbol) == ["circle-open", "circle", "circle"]
    assert this_year.customdata[0][0] == "week from 01-Oct-2025 (part week: 3 days)"
    assert this_year.customdata[2][1] == "₹9.00 lakh" and this_year.customdata[2][2] == "-10.0%"
    assert "vs last year" in fig.layout.title.text


def test_trend_figure_without_last_year_says_nothing_about_it():
    fig = trend_figure(_trend(False), "units", "W")
    assert len(fig.data) == 1 and "last year" not in fig.layout.title.text


def test_category_figure_largest_on_top_with_rupee_labels():
    mix = pd.DataFrame({"category": ["Dairy", "Sweets"], "revenue": [2e7, 5e6],
                        "units": [1.0, 2.0], "share": [0.8, 0.2], "growth": [0.1, None]})
    bar = category_figure(mix, "revenue").data[0]
    assert list(bar.y) == ["Sweets", "Dairy"]  # plotly draws the last bar on top
    assert list(bar.text) == ["₹50.00 lakh", "₹2.00 crore"]


def _pins() -> pd.DataFrame:
    return pd.DataFrame({
        "pin_code": ["400001", "560001", "110001", "999999"],
        "locality": ["Fort", "MG Road", "Connaught Place", None],
        "city": ["Mumbai", "Bengaluru", "Delhi", None], "state": ["Maharashtra",
                                                                "Karnataka", "Delhi", None],
        "lat": [18.93, 12.97, 28.63, None], "lon": [72.83, 77.60, 77.22, None],
        "revenue": [4.5e5, 1.2e7, 9e4, 100.0], "units": [1e3, 2e4, 300, 1],
        "growth": [0.1, None, -0.2, None],
    })


def test_pin_map_fits_every_pin_and_explains_in_rupees():
    deck = pin_scatter_deck(_pins(), "revenue")
    data = pd.DataFrame(deck.layers[0].data)  # pydeck keeps layer data as records
    assert sorted(data["pin_code"]) == ["110001", "400001", "560001"]  # no coordinates: off
    view = deck.initial_view_state
    assert 12.97 < view.latitude < 28.63 and 72.83 < view.longitude < 77.60
    assert 3 <= view.zoom <= 6
    row = data.set_index("pin_code").loc["560001"]
    assert row["revenue_label"] == "₹1.20 crore" and row["growth_label"] == "no comparison"
    assert data.set_index("pin_code").loc["110001", "growth_label"] == "-20.0%"
    assert deck.map_style is None
    assert "{revenue_label}" in deck._tooltip["html"]
    assert sorted(pd.DataFrame(deck.layers[1].data)["city"]) == ["Bengaluru", "Delhi", "Mumbai"]


def test_labels_that_would_overlap_go_below_or_are_left_out_heaviest_first():
    from components.maps import place_labels

    # Two cities a few pixels apart at zoom 5, a third on top of both, one far away.
    names = pd.DataFrame({"city": ["Mumbai", "Thane", "Navi Mumbai", "Delhi"],
                          "lat": [18.93, 18.95, 18.94, 28.63], "lon": [72.83, 72.86, 72.84, 77.22],
                          "weight": [10, 5, 1, 3]})
    shown = place_labels(names, "city", zoom=5, weight_col="weight").set_index("city")
    assert shown.loc["Mumbai", "offset"] == [0, -20]     # heaviest: above its point
    assert shown.loc["Thane", "offset"] == [0, 20]       # above is taken: below
    assert "Navi Mumbai" not in shown.index              # fits neither way
    assert shown.loc["Delhi", "offset"] == [0, -20]
    far = place_labels(names, "city", zoom=14, weight_col="weight")
    assert len(far) == 4 and all(o == [0, -20] for o in far["offset"])   # zoomed in: room


def test_pin_map_draws_area_outlines_underneath_when_given():
    import geopandas as gpd
    import shapely

    states = gpd.GeoDataFrame({"state": ["Box"]}, geometry=[shapely.box(72, 12, 78, 29)],
                              crs=4326)
    deck = pin_scatter_deck(_pins(), "revenue", context=states)
    assert [layer.type for layer in deck.layers] == ["PolygonLayer", "ScatterplotLayer",
                                                     "TextLayer"]
    assert pin_scatter_deck(_pins(), "revenue").layers[0].type == "ScatterplotLayer"


def test_pin_map_is_none_without_coordinates():
    df = _pins().iloc[[3]]
    assert pin_scatter_deck(df, "revenue") is None


def test_pin_map_biggest_seller_gets_the_biggest_darkest_circle():
    data = pd.DataFrame(pin_scatter_deck(_pins(), "revenue").layers[0].data).set_index("pin_code")
    assert data["radius"].idxmax() == "560001"
    assert data.loc["560001", "colour"][:3] == [165, 0, 38]
    assert data.loc["110001", "colour"][:3] == [254, 224, 139]



def test_festival_labels_a_few_days_apart_go_on_different_rows():
    import pandas as pd

    from components.forecast_views import label_rows

    dates = pd.to_datetime(["2026-10-18", "2026-10-20", "2026-11-08", "2026-12-25"])
    rows = label_rows(pd.Series(dates))
    assert rows[0] != rows[1]          # Dhanteras and Diwali-like pair
    assert rows[2] == 0 and rows[3] == 0  # far apart: back on the first row


def test_attempt_gives_the_typed_errors_sentence_and_names_unexpected_ones():
    from components.errors import attempt

    class UserFacing(Exception):
        pass

    def boom(kind):
        raise (UserFacing("No sales in these dates.") if kind == "typed" else KeyError("x"))

    assert attempt(lambda a, b=0: a + b, 2, b=3) == (5, None)
    assert attempt(boom, "typed", expected=(UserFacing,)) == (None, "No sales in these dates.")
    result, err = attempt(boom, "other", expected=(UserFacing,), failed="The map could not be drawn")
    assert result is None and err == "The map could not be drawn (KeyError: 'x')."
