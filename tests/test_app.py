"""AppTest of the overview page (app.py) on the small demo warehouse and on an empty one."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.warehouse.db import copy_warehouse

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
TIMEOUT = 120
STATES, CATEGORIES = "_w_mp_filter_states", "_w_mp_filter_categories"


def _run_app(path: Path = APP) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    yield


def test_overview_renders_kpis_charts_map_and_top_skus(app_env):
    at = _run_app()
    labels = [m.label for m in at.metric]
    assert labels == ["Revenue", "Units sold", "Active SKUs", "Active PIN codes"]
    assert _metric(at, "Revenue").startswith("₹")
    assert int(_metric(at, "Active PIN codes").replace(",", "")) > 0
    # The default period is the last 90 days of data.
    start, end = at.date_input(key="_w_mp_filter_dates").value
    assert (end - start).days == 89
    assert len(at.get("plotly_chart")) == 2
    assert len(at.get("deck_gl_json_chart")) == 1
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 10
    assert not at.error


def test_state_filter_changes_the_kpis(app_env):
    at = _run_app()
    before = (_metric(at, "Revenue"), _metric(at, "Active PIN codes"))
    states = at.multiselect(key=STATES).options
    assert len(states) >= 2
    at.multiselect(key=STATES).select(states[0]).run()
    assert not at.exception
    after = (_metric(at, "Revenue"), _metric(at, "Active PIN codes"))
    assert after != before
    assert int(after[1].replace(",", "")) < int(before[1].replace(",", ""))


def test_city_choices_follow_the_selected_state(app_env):
    at = _run_app()
    all_cities = at.multiselect(key="_w_mp_filter_cities").options
    state = at.multiselect(key=STATES).options[0]
    at.multiselect(key=STATES).select(state).run()
    cities = at.multiselect(key="_w_mp_filter_cities").options
    assert 0 < len(cities) < len(all_cities)


def test_category_filter_changes_the_kpis(app_env):
    at = _run_app()
    before = _metric(at, "Revenue")
    category = at.multiselect(key=CATEGORIES).options[0]
    at.multiselect(key=CATEGORIES).select(category).run()
    assert not at.exception
    assert _metric(at, "Revenue") != before
    assert at.session_state["mp_filter_categories"] == [category]


def test_units_toggle_keeps_the_page_working(app_env):
    at = _run_app()
    at.radio(key="mp_overview_measure").set_value("units").run()
    assert not at.exception
    assert any("Units by PIN code" in h.value for h in at.subheader)


def test_filters_persist_when_switching_pages(app_env, tmp_path):
    """A second page that calls sidebar_filters shows the selection made on the first."""
    shutil.copy(APP, tmp_path / "app.py")
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "other.py").write_text(
        "import streamlit as st\n"
        "from components.filters import sidebar_filters\n"
        "from components.session import get_warehouse\n"
        "f = sidebar_filters(get_warehouse())\n"
        "st.write(f'states={list(f.states)}')\n")
    at = _run_app(tmp_path / "app.py")
    state = at.multiselect(key=STATES).options[-1]
    at.multiselect(key=STATES).select(state).run()
    at.switch_page("pages/other.py").run()
    assert not at.exception
    assert at.multiselect(key=STATES).value == [state]
    assert any(f"states=['{state}']" in m.value for m in at.markdown)


def test_warehouse_error_is_shown_as_a_message_not_a_traceback(app_env, monkeypatch):
    from engine.warehouse import sales_summary
    from engine.warehouse.db import WarehouseError

    def broken(*args, **kwargs):
        raise WarehouseError("The warehouse file is damaged; restore it from a backup.")

    monkeypatch.setattr(sales_summary, "kpis", broken)
    at = _run_app()
    assert [e.value for e in at.error] == [
        "The warehouse file is damaged; restore it from a backup."]
    assert not at.metric


def test_an_engine_errors_evidence_is_shown_under_its_sentence(app_env, monkeypatch):
    """Any engine error on the Overview: the sentence, and the rows behind it in an
    expander, in Indian formats (lakh grouping, ₹, DD-MMM-YYYY)."""
    import pandas as pd

    from engine.errors import MicroPulseError
    from engine.warehouse import sales_summary

    def broken(*args, **kwargs):
        raise MicroPulseError(
            "2 sales rows are priced above MRP; fix the price file and upload it again.",
            pd.DataFrame({"sku_id": ["SKU1", "SKU2"], "date": pd.to_datetime(
                ["2026-11-05", "2026-11-06"]), "price_inr": [1234567.0, 250.0],
                "quantity": [150000, 3]}), code="price_above_mrp")

    monkeypatch.setattr(sales_summary, "kpis", broken)
    at = _run_app()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "2 sales rows are priced above MRP; fix the price file and upload it again."]
    assert [x.label for x in at.expander] == ["Show the 2 rows behind this"]
    shown = at.dataframe[0].value
    assert shown.to_dict("records") == [
        {"SKU": "SKU1", "Date": "05-Nov-2026", "Price (₹)": "₹12,34,567",
         "Quantity": "1,50,000"},
        {"SKU": "SKU2", "Date": "06-Nov-2026", "Price (₹)": "₹250", "Quantity": "3"}]
    assert "price_above_mrp" in " ".join(c.value for c in at.caption)


def test_empty_warehouse_offers_the_demo_and_loads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(tmp_path / "empty.duckdb"))
    monkeypatch.setenv("MICROPULSE_DEMO_SCALE", "small")
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = _run_app()
    assert not at.metric
    assert "no sales yet" in at.info[0].value
    button = next(b for b in at.button if b.label == "Load demo data")
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric][:2] == ["Revenue", "Units sold"]
    assert not any(b.label == "Load demo data" for b in at.button)



def test_session_pin_scope_limits_the_overview_and_the_filter_choices(app_env):
    from engine.warehouse.db import Warehouse

    wh = Warehouse(app_env)
    pins = wh.query("SELECT l.pin_code, l.state FROM locations l WHERE l.pin_code IN "
                    "(SELECT DISTINCT pin_code FROM sales_daily) ORDER BY 1")
    state = pins["state"].iloc[0]
    scope = tuple(pins.loc[pins["state"] == state, "pin_code"][:2])
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["mp_pin_scope"] = scope
    at.run()
    assert not at.exception
    assert at.multiselect(key=STATES).options == [state]
    assert int(_metric(at, "Active PIN codes")) == len(scope)


@pytest.fixture()
def alerts_env(small_warehouse_path, tmp_path, monkeypatch):
    """A private copy of the small demo with the alert rules run on it."""
    from engine.alerts import generate_alerts
    from engine.warehouse.db import Warehouse

    path = tmp_path / "alerts.duckdb"
    copy_warehouse(small_warehouse_path, path)
    wh = Warehouse(path)
    generate_alerts(wh)
    wh.close()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    return path


SEVERITY_BADGES = (":red-badge[", ":orange-badge[", ":yellow-badge[", ":gray-badge[")


def _alert_lines(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith(SEVERITY_BADGES)]


def _shown(open_, lines: list[str]):
    """The open alerts whose reason appears in one of the panel's lines."""
    return open_[open_["reason"].map(lambda r: any(r in line for line in lines))]


def test_overview_shows_the_most_severe_open_alerts(alerts_env):
    from engine.alerts import list_alerts
    from engine.warehouse.db import Warehouse

    wh = Warehouse(alerts_env)
    open_ = list_alerts(wh, status=("new", "acknowledged"))
    wh.close()
    critical = set(open_.loc[open_["severity"] == "critical", "entity"])
    assert len(open_) > 5 and len(critical) >= 5, "the small demo should raise alerts"
    at = _run_app()
    assert "Needs attention" in [s.value for s in at.subheader]
    lines = _alert_lines(at)
    assert len(lines) == 5
    assert all(line.startswith(":red-badge[:material/error: Critical]") for line in lines)
    shown = _shown(open_, lines)
    assert len(shown) == 5 and set(shown["entity"]) <= critical
    assert any(f"All {len(open_)} open alerts" in m.value for m in at.markdown)


def test_overview_alerts_follow_the_pin_scope(alerts_env):
    from engine.alerts import list_alerts
    from engine.warehouse.db import Warehouse

    wh = Warehouse(alerts_env)
    open_ = list_alerts(wh, status=("new", "acknowledged"))
    wh.close()
    pin = open_["pin_code"].dropna().value_counts().index[0]
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["mp_pin_scope"] = (pin,)
    at.run()
    assert not at.exception
    shown = _shown(open_, _alert_lines(at))
    assert len(shown) and all(e.endswith(f"@ {pin}") for e in shown["entity"])


def test_overview_without_open_alerts_links_to_the_alerts_page(alerts_env):
    from engine.alerts import list_alerts, resolve
    from engine.warehouse.db import Warehouse

    at = _run_app()
    assert _alert_lines(at)
    wh = Warehouse(alerts_env)
    resolve(wh, list_alerts(wh)["alert_id"].tolist(), "tester")
    wh.close()
    at.run()
    assert not at.exception and not _alert_lines(at)
    assert "Needs attention" not in [s.value for s in at.subheader]
    note = [link for link in at.page_link if "No open alerts" in link.value]
    assert len(note) == 1 and note[0].proto.page == "Alerts"
