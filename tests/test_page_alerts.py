"""AppTest of the Alerts page: generate, acknowledge one alert, change a rule, no exception.

The app_env warehouse is shared by the test session: this test writes to it only through
the page and asserts only on alerts it acted on."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "7_Alerts.py")


def _texts(at) -> str:
    parts = [e.value for e in at.success] + [e.value for e in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_alerts_page_generates_and_acknowledges(app_env):
    from engine.alerts import list_alerts
    from engine.warehouse.db import Warehouse

    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not at.exception
    at.button(key="al_generate").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert "alert(s) found" in _texts(at)
    assert at.metric[0].label == "Open alerts"

    at.selectbox(key="al_status").select("new").run()
    pick = at.multiselect(key="al_pick")
    label = pick.options[0]
    alert_id = label.split(" · ")[0]
    pick.select(label).run()
    at.button(key="al_ack").click().run()
    assert not at.exception
    assert "1 alert(s) acknowledged by demo." in _texts(at)

    wh = Warehouse(app_env)
    row = list_alerts(wh).set_index("alert_id").loc[alert_id]
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "demo"


def test_alerts_page_saves_rule_settings(app_env):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    at.selectbox(key="al_cfg_rule").select("data_freshness").run()
    at.number_input(key="al_cfg_data_freshness_max_gap_days").set_value(4).run()
    at.button[-1].click().run()          # the form's submit button is the last button
    assert not at.exception
    assert "Saved the settings of 'Sales data missing'." in _texts(at)


def test_top_alerts_panel_lists_most_severe_open_alerts_first():
    def script():
        import pandas as pd

        from components.alerts_views import top_alerts_panel

        df = pd.DataFrame({
            "alert_id": ["a1", "a2", "a3"], "severity": ["medium", "critical", "high"],
            "status": ["new", "acknowledged", "resolved"],
            "entity": ["SKU-1 @ 560001", "SKU-2 @ 560002", "SKU-3 @ 560003"],
            "day": pd.to_datetime(["2025-11-20"] * 3), "created_at": pd.Timestamp.now(),
            "reason": ["medium one", "critical one", "resolved one"],
            "link": ["/Forecast?sku_id=SKU-1&pin_code=560001", "/Reorder", None]})
        top_alerts_panel(df, n=5)

    at = AppTest.from_function(script).run()
    assert not at.exception
    lines = [m.value for m in at.markdown]
    assert "critical one" in lines[0] and "medium one" in lines[1]
    assert not any("resolved one" in t for t in lines)
    # Severity as a coloured word (emoji fonts are missing in many browsers), and the
    # entity is not printed next to a reason that already names the SKU and PIN.
    assert lines[0].startswith(":red-badge[:material/error: Critical]")
    assert lines[1].startswith(":yellow-badge[:material/report: Medium]")
    assert not any(ch in "".join(lines) for ch in "🔴🟠🟡⚪")
    assert not any("SKU-2 @ 560002" in t for t in lines)


def test_alerts_table_shows_words_title_case_status_and_blank_acknowledger():
    def script():
        import pandas as pd

        from components.alerts_views import alerts_table

        df = pd.DataFrame({
            "alert_id": ["a1", "a2"], "severity": ["high", "critical"], "rule": ["r1", "r2"],
            "status": ["new", "acknowledged"], "acknowledged_by": [None, "asha"],
            "entity": ["SKU-1 @ 560001", "SKU-2 @ 560002"],
            "day": pd.to_datetime(["2025-11-20"] * 2), "created_at": pd.Timestamp.now(),
            "reason": ["high one", "critical one"], "link": ["/Reorder", None]})
        alerts_table(df, {"r1": "Rule one", "r2": "Rule two"})

    at = AppTest.from_function(script).run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert shown["Severity"].tolist() == [["Critical"], ["High"]]
    assert shown["Status"].tolist() == ["Acknowledged", "New"]
    assert shown["Acknowledged by"].tolist() == ["asha", "—"]
    assert shown["Rule"].tolist() == ["Rule two", "Rule one"]
