"""Festival reference data and festival signals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.categories import CATEGORIES
from engine.signals.festivals import (CALENDAR_COLUMNS, FEATURE_CAP_DAYS, HOLIDAYS_NAMES,
                                      festival_calendar, festival_effects, festival_features,
                                      festival_shape, festival_uplift, festivals_in_range,
                                      holidays_dates, load_festival_reference)
from engine.warehouse.festivals import read_festivals

# Where the curated date deliberately differs from the `holidays` package, by one day, and
# why. Everything else must agree exactly.
KNOWN_DIFFERENCES = {
    # The package (central-government restricted list) puts Chhath 2025 on the morning
    # arghya, 28 Oct; the main evening arghya (Shashthi) was 27 Oct, as in every other year.
    ("Chhath Puja", 2025): "2025-10-28",
    # The package's Haryana list has Parshuram Jayanti's date (29 Apr, tritiya at dusk);
    # Akshaya Tritiya itself (tritiya at sunrise) was 30 Apr 2025.
    ("Akshaya Tritiya", 2025): "2025-04-29",
    # The central list has Magh Bihu 2023 on 14 Jan (Uruka, the eve); Assam's own list in the
    # same package (subdiv AS) has 15 Jan, which we follow (checked below).
    ("Magh Bihu", 2023): "2023-01-14",
}
MUST_BE_CROSS_CHECKED = ["Diwali", "Holi", "Eid al-Fitr", "Eid al-Adha", "Dussehra",
                         "Janmashtami", "Makar Sankranti", "Pongal", "Christmas", "Onam",
                         "Raksha Bandhan", "Karwa Chauth", "Ganesh Chaturthi", "Navratri",
                         "Durga Puja", "Chhath Puja", "Ugadi", "Gudi Padwa", "Baisakhi",
                         "Bihu", "Akshaya Tritiya"]


def _frame(rows):
    return pd.DataFrame(rows, columns=["date", "state", "category"]).assign(
        date=lambda d: pd.to_datetime(d["date"]))


def _cal(rows):
    cal = pd.DataFrame(rows, columns=["name", "date", "festival_type", "states", "pre_days",
                                      "post_days"])
    return cal.assign(date=pd.to_datetime(cal["date"]), source="curated")


# ---- reference data -------------------------------------------------------------------------
def test_curated_dates_agree_with_holidays_package_2023_to_2027():
    cal = festival_calendar(2023, 2027)
    hol = holidays_dates(2023, 2027)
    both = cal.assign(year=cal["date"].dt.year).merge(hol, on=["name", "year"],
                                                      suffixes=("", "_hol"))
    for name in MUST_BE_CROSS_CHECKED:
        assert sorted(both.loc[both["name"] == name, "year"]) == [2023, 2024, 2025, 2026,
                                                                  2027], name
    mismatches = []
    for r in both.itertuples(index=False):
        known = KNOWN_DIFFERENCES.get((r.name, r.year))
        if known is not None:
            assert r.date_hol == pd.Timestamp(known), (r.name, r.year)
            assert abs((r.date - r.date_hol).days) == 1
        elif r.date != r.date_hol:
            mismatches.append((r.name, r.date.date(), r.date_hol.date()))
    assert mismatches == []


def test_magh_bihu_2023_follows_assams_own_list():
    import holidays

    assam = holidays.India(years=2023, subdiv="AS")
    cal = festival_calendar()
    magh = cal[(cal["name"] == "Magh Bihu") & (cal["date"].dt.year == 2023)]["date"].iloc[0]
    assert "Magh Bihu" in assam.get(magh.date(), "")


def test_calendar_covers_every_festival_every_year_once():
    cal = festival_calendar()
    assert list(cal.columns) == CALENDAR_COLUMNS
    assert cal["date"].dtype == "datetime64[ns]"
    assert not cal.duplicated(["name", "date"]).any()
    per_year = cal.groupby([cal["name"], cal["date"].dt.year]).size()
    assert (per_year == 1).all()
    wanted = {"Diwali", "Dhanteras", "Navratri", "Durga Puja", "Onam", "Karwa Chauth",
              "Raksha Bandhan", "Akshaya Tritiya", "Chhath Puja", "Ganesh Chaturthi",
              "Pongal", "Makar Sankranti", "Ugadi", "Gudi Padwa", "Bihu", "Lohri", "Baisakhi",
              "Janmashtami", "Holi", "Eid al-Fitr", "Eid al-Adha", "Dussehra", "Christmas"}
    assert wanted <= set(cal["name"])
    assert (cal.groupby("name")["date"].count() == 5).all()
    assert cal.equals(cal.sort_values(["date", "name"]).reset_index(drop=True))
    assert set(cal.loc[cal["name"] == "Dhanteras", "source"]) == {"curated"}
    assert set(cal.loc[cal["name"] == "Diwali", "source"]) == {"both"}


def test_dhanteras_is_two_days_before_diwali_and_navratri_ends_before_dussehra():
    cal = festival_calendar()
    by = cal.assign(year=cal["date"].dt.year).set_index(["name", "year"])["date"]
    for year in range(2023, 2028):
        assert (by["Diwali", year] - by["Dhanteras", year]).days == 2
        assert 9 <= (by["Dussehra", year] - by["Navratri", year]).days <= 10
        assert 0 < (by["Chhath Puja", year] - by["Diwali", year]).days <= 7


def test_calendar_outside_curated_years_comes_from_holidays_with_curated_windows():
    cal = festival_calendar(2021, 2022)
    assert set(cal["source"]) == {"holidays"}
    diwali = cal[cal["name"] == "Diwali"]
    assert list(diwali["date"].dt.date.astype(str)) == ["2021-11-04", "2022-10-24"]
    onam = cal[cal["name"] == "Onam"].iloc[0]
    assert (onam["states"], onam["pre_days"]) == ("Kerala", 10)


def test_calendar_states_are_real_state_names():
    from engine.geo import pin_reference

    known = set(pin_reference()["state"].dropna())
    used = {s for v in festival_calendar()["states"] if v != "ALL" for s in v.split(",")}
    assert used and used <= known, used - known


def test_effects_use_known_categories_plausible_multipliers_and_festivals():
    eff = festival_effects()
    assert list(eff.columns) == ["name", "category", "multiplier"]
    assert set(eff["category"]) <= set(CATEGORIES)
    assert eff["multiplier"].between(1.1, 5.0).all()
    assert set(eff["name"]) == set(festival_calendar()["name"])
    seed = eff.set_index(["name", "category"])["multiplier"]
    assert seed["Diwali", "Sweets"] == 3.5
    assert seed["Diwali", "Festive Gifts"] == 2.8
    assert seed["Holi", "Holi Colours"] == 5.0
    assert seed["Eid al-Fitr", "Sweets"] == 2.5


def test_holidays_mapping_only_names_curated_festivals():
    assert set(HOLIDAYS_NAMES) <= set(festival_calendar()["name"])


# ---- shape and uplift -------------------------------------------------------------------------
def test_shape_is_zero_outside_window_one_on_day_and_ramps_monotonically():
    k = np.arange(-15, 8)
    s = festival_shape(k, pre_days=10, post_days=3)
    assert np.all(s[k < -10] == 0) and np.all(s[k > 3] == 0)
    assert s[k == 0][0] == 1.0
    ramp = s[(k >= -10) & (k <= 0)]
    assert np.all(ramp > 0) and np.all(np.diff(ramp) > 0)
    assert np.all(np.diff(s[(k >= 0) & (k <= 4)]) < 0)
    assert festival_shape([-10], 10, 3)[0] == pytest.approx((1 - 10 / 11) ** 2)
    assert festival_shape([2], 10, 3)[0] == pytest.approx(1 - 2 / 4)  # linear decay


def test_uplift_is_one_outside_windows_and_multiplier_on_the_day():
    cal = festival_calendar()
    eff = festival_effects()
    frame = _frame([
        ("2025-10-20", "Maharashtra", "Sweets"),          # Diwali day
        ("2025-10-20", "Maharashtra", "Festive Gifts"),
        ("2025-10-20", "Maharashtra", "Tea & Coffee"),    # no Diwali effect
        ("2025-07-15", "Maharashtra", "Sweets"),          # no festival near
        ("2025-03-14", "Delhi", "Holi Colours"),          # Holi day
        ("2025-03-02", "Delhi", "Holi Colours"),          # 12 days before: outside pre=10
    ])
    u = festival_uplift(frame, cal, eff)
    assert u == pytest.approx([3.5, 2.8, 1.0, 1.0, 5.0, 1.0])


def test_uplift_ramps_up_before_diwali_and_decays_after():
    # Edible Oil in Karnataka: Diwali (1.5x, pre 21, post 3) is the only festival moving it.
    cal = festival_calendar()
    days = pd.date_range("2025-09-20", "2025-10-30")
    frame = _frame([(d, "Karnataka", "Edible Oil") for d in days])
    u = festival_uplift(frame, cal, festival_effects())
    diwali = list(days).index(pd.Timestamp("2025-10-20"))
    assert u[diwali] == pytest.approx(1.5) and u.max() == pytest.approx(1.5)
    assert np.all(u[:diwali - 21] == 1.0) and np.all(u[diwali + 4:] == 1.0)
    assert np.all(np.diff(u[diwali - 22:diwali + 1]) > 0)
    assert np.all(np.diff(u[diwali:diwali + 5]) < 0)


def test_regional_festival_does_not_apply_to_another_state():
    cal = festival_calendar()
    frame = _frame([("2025-09-05", "Kerala", "Fresh Vegetables"),       # Onam (Kerala)
                    ("2025-09-05", "Tamil Nadu", "Fresh Vegetables"),
                    ("2025-09-05", None, "Fresh Vegetables")])
    u = festival_uplift(frame, cal, festival_effects())
    assert u == pytest.approx([2.0, 1.0, 1.0])


def test_overlapping_festivals_combine_by_max_not_product():
    cal = _cal([("Big", "2025-05-10", "national", "ALL", 5, 0),
                ("Small", "2025-05-10", "regional", "Goa", 5, 0),
                ("Late", "2025-05-12", "regional", "Goa", 5, 0)])
    eff = pd.DataFrame({"name": ["Big", "Small", "Late"], "category": ["Sweets"] * 3,
                        "multiplier": [2.0, 3.0, 1.5]})
    frame = _frame([("2025-05-10", "Goa", "Sweets"), ("2025-05-10", "Kerala", "Sweets"),
                    ("2025-05-12", "Goa", "Sweets")])
    u = festival_uplift(frame, cal, eff)
    assert u[0] == pytest.approx(3.0)   # max(2, 3), not 6
    assert u[1] == pytest.approx(2.0)   # only the national one applies in Kerala
    assert u[2] == pytest.approx(1.5)   # Big/Small have no post window; Late peaks at 1.5


def test_uplift_keeps_row_order_and_unknown_category_is_unaffected():
    cal = festival_calendar()
    frame = _frame([("2024-03-25", "Punjab", "Mystery"), ("2024-03-25", "Punjab", "Sweets")])
    frame.index = [10, 3]
    assert festival_uplift(frame, cal, festival_effects()) == pytest.approx([1.0, 2.0])


# ---- features --------------------------------------------------------------------------------
def test_features_on_a_hand_made_frame():
    cal = _cal([("Alpha", "2025-01-10", "national", "ALL", 3, 2),
                ("Beta", "2025-01-20", "regional", "Goa", 4, 0)])
    eff = pd.DataFrame({"name": ["Alpha", "Beta"], "category": ["Sweets", "Sweets"],
                        "multiplier": [2.0, 3.0]})
    frame = _frame([("2025-01-01", "Goa", "Sweets"),     # 0: 9 days to Alpha, none before
                    ("2025-01-08", "Goa", "Sweets"),     # 1: Alpha pre window
                    ("2025-01-10", "Goa", "Sweets"),     # 2: Alpha day
                    ("2025-01-12", "Goa", "Sweets"),     # 3: Alpha post window
                    ("2025-01-16", "Goa", "Sweets"),     # 4: Beta pre window
                    ("2025-01-16", "Kerala", "Sweets"),  # 5: Beta does not apply
                    ("2025-01-21", "Goa", "Dairy")])     # 6: after everything
    frame.index = list("abcdefg")
    f = festival_features(frame, cal, eff)
    assert list(f.index) == list("abcdefg")
    assert list(f["days_to_next_festival"]) == [9, 2, 0, 8, 4, FEATURE_CAP_DAYS,
                                                FEATURE_CAP_DAYS]
    assert list(f["days_since_last_festival"]) == [FEATURE_CAP_DAYS, FEATURE_CAP_DAYS, 0, 2, 6,
                                                   6, 1]
    assert list(f["next_festival"]) == ["Alpha", "Alpha", "Alpha", "Beta", "Beta", None, None]
    assert list(f["festival_type_next"]) == ["national", "national", "national", "regional",
                                             "regional", None, None]
    assert list(f["in_pre_window"]) == [False, True, True, False, True, False, False]
    assert list(f["in_post_window"]) == [False, False, False, True, False, False, False]
    expected = [1.0, 1 + (1 - 2 / 4) ** 2, 2.0, 1 + 1 * (1 - 2 / 3), 1 + 2 * (1 - 4 / 5) ** 2,
                1.0, 1.0]
    assert np.exp(f["festival_intensity"].to_numpy()) == pytest.approx(expected)


def test_festivals_in_range_filters_dates_and_state():
    cal = festival_calendar()
    oct25 = festivals_in_range(cal, "2025-10-01", "2025-10-31")
    assert {"Diwali", "Dussehra", "Karwa Chauth", "Dhanteras", "Chhath Puja"} <= set(
        oct25["name"])
    kerala = festivals_in_range(cal, "2025-10-01", "2025-10-31", state="Kerala")
    assert "Karwa Chauth" not in set(kerala["name"]) and "Diwali" in set(kerala["name"])
    assert kerala["date"].is_monotonic_increasing


# ---- warehouse ---------------------------------------------------------------------------------
def test_festival_reference_round_trips_through_warehouse(empty_warehouse):
    before = empty_warehouse.data_version()
    n = load_festival_reference(empty_warehouse, 2023, 2027)
    assert n == len(festival_calendar(2023, 2027))
    assert empty_warehouse.data_version() != before
    cal, eff = read_festivals(empty_warehouse)
    pd.testing.assert_frame_equal(cal, festival_calendar(2023, 2027))
    pd.testing.assert_frame_equal(eff, festival_effects())
    # loading again replaces rather than appends
    assert load_festival_reference(empty_warehouse, 2024, 2025) == len(cal[
        cal["date"].dt.year.between(2024, 2025)])
    assert empty_warehouse.count("festivals") == len(festival_calendar(2024, 2025))
    assert empty_warehouse.count("festival_effects") == len(eff)
