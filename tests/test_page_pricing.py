"""AppTest of pages/3_Pricing.py on the small demo warehouse."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from components import pricing_views as pv
from components.tables import to_csv_bytes
from engine.pricing.endings import is_allowed
from engine.pricing.optimize import OptimizeConfig, optimize_prices

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "3_Pricing.py")


def _delta(at, label: str) -> float:
    metric = next(m for m in at.metric if m.label == label)
    return float(metric.delta.split("%")[0])


def test_pricing_page_simulator_and_optimiser(app_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    assert at.dataframe, "elasticity table missing"
    assert _delta(at, "Units") == 0.0
    at.slider(key="pr_sim_pct").set_value(-10).run()
    assert not at.exception
    assert _delta(at, "Units") > 0            # a price cut sells more
    at.slider(key="pr_sim_pct").set_value(12).run()
    assert _delta(at, "Units") < 0            # a price rise sells less
    at.selectbox(key="pr_sim_category").set_value("Snacks").run()
    assert any("on Snacks" in c.value for c in at.caption)
    at.button(key="FormSubmitter:pr_opt_form-Optimise prices").click().run()
    assert not at.exception and not at.error
    assert any("status Optimal" in c.value for c in at.caption)
    assert any("SKUs repriced" == m.label for m in at.metric)


def test_pricing_page_shows_infeasible_rules_as_a_sentence(app_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.number_input(key="pr_opt_min_margin").set_value(60)
    at.checkbox(key="pr_opt_per_sku").check()
    at.number_input(key="pr_opt_max_change").set_value(2)
    at.button(key="FormSubmitter:pr_opt_form-Optimise prices").click().run()
    assert not at.exception
    assert at.error, [c.value for c in at.caption]
    assert "Relax the minimum margin (60% on every SKU)" in at.error[0].value


def test_pricing_page_elasticity_table_by_region(app_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert "Region" not in at.dataframe[0].value.columns
    at.toggle(key="pr_by_region").set_value(True).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"Region", "SKU (national)"} <= set(table.columns)
    assert not table.duplicated(["SKU", "Region"]).any()
    assert any("SKU x region cells" in c.value for c in at.caption)
    at.slider(key="pr_sim_pct").set_value(-10).run()
    assert any(c.value.startswith("Elasticity used: the region's own value") for c in at.caption)


def _number(text: str) -> float:
    """'₹1,23,456.50' / '+4.2%' / '2.35 lakh units' -> a float (lakh/crore expanded)."""
    scale = 1e5 if "lakh" in text else 1e7 if "crore" in text else 1.0
    return float(re.sub(r"[^0-9.+-]", "", text.split(" lakh")[0].split(" crore")[0])) * scale


def test_simulator_tiles_total_the_chosen_category_with_the_whole_store_second(app_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not any(m.value.startswith("**For ") for m in at.markdown)   # everything: no scope
    assert not any(c.value.startswith("Whole store:") for c in at.caption)
    at.selectbox(key="pr_sim_category").set_value("Snacks").run()
    at.slider(key="pr_sim_pct").set_value(-10).run()
    assert not at.exception
    assert any(m.value.startswith("**For Snacks, ") for m in at.markdown)
    whole = [c.value for c in at.caption if c.value.startswith("Whole store:")]
    assert len(whole) == 3                     # one second line per tile
    scope_units = _delta(at, "Units")
    whole_units_pct = float(re.search(r"\(([+-][0-9.]+)% vs", whole[0]).group(1))
    assert scope_units > whole_units_pct > 0   # the category moves more than the store
    units_tile = next(m for m in at.metric if m.label == "Units")
    whole_units = _number(whole[0].split("Whole store: ")[1].split(" (")[0])
    assert _number(units_tile.value) < whole_units


def test_optimiser_defaults_to_retail_price_endings_with_plain_headers(app_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert at.selectbox(key="pr_opt_endings").value == "retail"
    at.button(key="FormSubmitter:pr_opt_form-Optimise prices").click().run()
    assert not at.exception and not at.error
    assert any("Prices: whole rupees, or ₹0.50 steps below ₹100." in c.value for c in at.caption)
    recs = next(d.value for d in at.dataframe if "Recommended price" in d.value.columns)
    prices = np.array([_number(p) for p in recs["Recommended price"]])
    assert is_allowed(prices, "retail").all()
    assert all(re.fullmatch(r"₹[0-9,]+(\.[05]0)?", p) for p in recs["Recommended price"])
    assert all(re.fullmatch(r"[+-]?₹[0-9,]+", m) for m in recs["Margin change (horizon)"])
    headers = [c for d in at.dataframe for c in d.value.columns]
    assert not [c for c in headers if re.search(r"[a-z]_[a-z]", c)], headers
    at.selectbox(key="pr_opt_endings").set_value("whole")
    at.button(key="FormSubmitter:pr_opt_form-Optimise prices").click().run()
    recs = next(d.value for d in at.dataframe if "Recommended price" in d.value.columns)
    assert all(re.fullmatch(r"₹[0-9,]+", p) for p in recs["Recommended price"])


def test_price_list_download_has_plain_headers_and_rounded_numbers():
    items = pd.DataFrame({"sku_id": ["A1", "B2"], "name": ["Atta 5 kg", "Biscuits"],
                          "category": ["Staples", "Snacks"], "price": [263.37, 39.79],
                          "unit_cost": [190.11, 27.3], "mrp": [300.0, 45.0],
                          "elasticity": [-0.7, -2.3], "baseline_units": [1234.567, 987.654]})
    recs = optimize_prices(items, OptimizeConfig()).recommendations
    text = to_csv_bytes(pv.recommendations_export(recs)).decode("utf-8-sig")
    header, *rows = text.strip().splitlines()
    assert header.startswith("SKU,Name,Category,Current price (₹),Recommended price (₹),"
                             "Change (%),Elasticity,Baseline units,Expected units")
    assert "_" not in header
    numbers = [v for row in rows for v in row.split(",") if re.fullmatch(r"-?[0-9.]+", v)]
    assert numbers and all(len(v.split(".")[1]) <= 2 for v in numbers if "." in v)
    out = pv.recommendations_export(recs).set_index("SKU")
    assert out.loc["A1", "Current price (₹)"] == 263.37
    assert out["Expected margin (₹)"].dtype.kind == "i"       # money in whole rupees
