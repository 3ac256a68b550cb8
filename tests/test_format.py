"""Indian number and date formatting shown to users."""
from __future__ import annotations

from datetime import date

from components.format import dd_mmm, indian_grouping, inr, inr_compact, pct, units


def test_indian_digit_grouping():
    assert indian_grouping(12345678.9) == "1,23,45,679"
    assert indian_grouping(999) == "999"
    assert indian_grouping(100000) == "1,00,000"
    assert indian_grouping(-1234567) == "-12,34,567"


def test_rupees_in_lakh_and_crore():
    assert inr(1234567) == "₹12,34,567"
    assert inr_compact(1_240_000) == "₹12.40 lakh"
    assert inr_compact(31_000_000) == "₹3.10 crore"
    assert inr_compact(8450) == "₹8,450"
    assert inr(float("nan")) == "—"


def test_units_and_percent():
    assert units(235000) == "2.35 lakh units"
    assert units(950) == "950 units"
    assert pct(0.123) == "+12.3%"
    assert pct(-0.05, signed=True) == "-5.0%"


def test_dates_are_dd_mmm():
    assert dd_mmm(date(2026, 11, 5)) == "05-Nov"
    assert dd_mmm("2026-01-26", with_year=True) == "26-Jan-2026"


def test_negative_rupees_put_the_sign_first():
    assert inr(-1234567) == "-₹12,34,567"
    assert inr_compact(-2_500_000) == "-₹25.00 lakh"


def test_every_plotly_figure_keeps_its_title_below_the_chart_toolbar():
    """Issue 26: the toolbar (modebar) covered chart titles. Importing any part of the UI
    library layers the MicroPulse template over Streamlit's, so a figure built anywhere,
    even with its own small top margin, puts its title in a band below the toolbar and
    grows the margin to fit it."""
    import plotly.graph_objects as go

    import components.tables  # noqa: F401  (any part of the UI library)
    from components.charts import MODEBAR_BAND_PX

    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    fig.update_layout(title={"text": "Units by week, a long title that runs to the right"},
                      margin={"t": 20})
    title = fig.layout.template.layout.title
    assert title.yref == "container" and title.y == 1 and title.yanchor == "top"
    assert title.automargin is True
    assert title.pad.t == MODEBAR_BAND_PX >= 24
    assert fig.layout.template.layout.colorway[0] == "#000001"   # Streamlit's theme beneath


def test_plain_labels_for_column_headers():
    from engine.textfmt import plain_label

    assert plain_label("sku_id") == "SKU"
    assert plain_label("units_change_pct") == "Units change %"
    assert plain_label("road_km") == "Road (km)"
    assert plain_label("Bill Qty") == "Bill Qty"               # already words: unchanged
    assert plain_label("unit_cost") == "Unit cost"
