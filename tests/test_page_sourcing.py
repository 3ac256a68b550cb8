"""AppTest of pages/5_Sourcing.py on the small demo warehouse."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "5_Sourcing.py")


def _submit(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Optimise purchase").click().run()


def test_sourcing_page_ranks_and_allocates(app_env):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert not at.error
    assert at.dataframe[0].value["Mandi"].size >= 3         # ranked table rendered
    at.selectbox(key="src_commodity").set_value("Tomato")
    at.text_input(key="src_pin").set_value("560001")
    at.number_input(key="src_qty").set_value(120.0)
    at.run()
    assert not at.exception and not at.error
    at.number_input(key="src_max_mandis").set_value(2)
    at.slider(key="src_min_quality").set_value(20)
    at = _submit(at)
    assert not at.exception and not at.error
    assert any("Buy 120 quintals" in s.value for s in at.success)
    assert len(at.dataframe) >= 2                            # ranked + allocation tables
    assert at.get("download_button")


def test_sourcing_page_explains_infeasible_budget_and_bad_pin(app_env):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.number_input(key="src_budget").set_value(1000.0)
    at = _submit(at)
    assert not at.exception
    assert any("raise the budget from ₹1,000" in w.value for w in at.warning)
    at.text_input(key="src_pin").set_value("12345").run()
    assert not at.exception
    assert at.error[0].value.startswith("'12345' is not a PIN code")
