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
