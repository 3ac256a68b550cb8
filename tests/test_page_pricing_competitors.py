"""AppTest of the Pricing page's competitor section on a copy of the small demo (whose
feed lists BigBasket, DMart and a kirana): price index by SKU / category / city, the
review list and a remembered decision, the cross-elasticity table, the optimiser rules."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.warehouse.db import Warehouse
from tests.test_auth_support import copy_warehouse

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "3_Pricing.py")


@pytest.fixture()
def page_env(small_warehouse_path, tmp_path, monkeypatch):
    path = copy_warehouse(small_warehouse_path, tmp_path / "pricing.duckdb")
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    return path


def test_price_index_by_sku_category_and_city(page_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    assert "Competitor prices" in [h.value for h in at.subheader]
    assert any("competitor prices;" in c.value and "wait for review" in c.value
               for c in at.caption)
    table = next(d.value for d in at.dataframe if "Price index" in d.value.columns)
    assert {"SKU", "Our price", "Cheapest competitor"} <= set(table.columns)
    assert table["Our price"].str.startswith("₹").all()
    at.radio(key="cp_level").set_value("City").run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "Price index" in d.value.columns)
    assert "City" in table.columns and len(table) == 4      # the small demo's four cities


def test_review_decision_is_saved_and_remembered(page_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    before = at.selectbox(key="cp_item").options
    at.button(key="cp_save").click().run()
    assert not at.exception and not at.error
    assert any("confirmed" in s.value for s in at.success)
    assert len(at.selectbox(key="cp_item").options) == len(before) - 1
    wh = Warehouse(page_env)          # the app's own connection is in this process
    try:
        n = wh.scalar("SELECT count(*) FROM competitor_matches WHERE status = 'confirmed'")
    finally:
        wh.close()
    assert n == 1


def test_cross_elasticity_and_optimiser_competitor_rule(page_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.button(key="cp_cross_go").click().run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "Cross-elasticity" in d.value.columns)
    assert len(table) and {"95% interval", "Weeks of competitor prices",
                           "Specification"} <= set(table.columns)
    estimated = table[table["Cross-elasticity"] != "—"]["Specification"]
    assert len(estimated) and estimated.str.contains("SE clustered by week").all()
    assert estimated.str.contains("cheapest competitor's price").all()
    at.number_input(key="pr_opt_match_within").set_value(0.0)
    at.button(key="FormSubmitter:pr_opt_form-Optimise prices").click().run()
    assert not at.exception          # DMart's deep cuts cannot be matched within ±10%
    assert "the rule 'within ₹0 of the cheapest competitor'" in at.error[0].value
    at.number_input(key="pr_opt_match_within").set_value(None)
    at.number_input(key="pr_opt_above_cheapest").set_value(10.0)
    at.number_input(key="pr_opt_max_change").set_value(25)
    at.button(key="FormSubmitter:pr_opt_form-Optimise prices").click().run()
    assert not at.exception and not at.error
    recs = next(d.value for d in at.dataframe if "Recommended price" in d.value.columns)
    priced = recs[recs["Cheapest competitor"] != "—"]
    assert len(priced)
    to_num = lambda s: s.str.replace("₹", "").str.replace(",", "").astype(float)  # noqa: E731
    assert (to_num(priced["Recommended price"])
            <= to_num(priced["Cheapest competitor"]) * 1.10 + 1e-9).all()


def test_an_automatic_match_can_be_corrected(page_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    n_review = len(at.selectbox(key="cp_item").options)
    at.toggle(key="cp_all").set_value(True).run()
    assert not at.exception
    items = at.selectbox(key="cp_item")
    assert len(items.options) > n_review
    at.selectbox(key="cp_item").set_value(n_review).run()     # the first matched item
    box = next(b for b in at.selectbox if b.key and b.key.startswith("cp_sku_"))
    other = next(o for o in box.options if o != box.value and o != "Not one of ours")
    box.set_value(other).run()
    at.button(key="cp_save").click().run()
    assert not at.exception and not at.error
    assert any("corrected" in s.value for s in at.success)
