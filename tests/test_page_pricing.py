"""AppTest of pages/3_Pricing.py on the small demo warehouse."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

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
    assert "region" not in at.dataframe[0].value.columns
    at.toggle(key="pr_by_region").set_value(True).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"region", "national_elasticity"} <= set(table.columns)
    assert not table.duplicated(["sku_id", "region"]).any()
    assert any("SKU x region cells" in c.value for c in at.caption)
    at.slider(key="pr_sim_pct").set_value(-10).run()
    assert any(c.value.startswith("Elasticity used: the region's own value") for c in at.caption)
