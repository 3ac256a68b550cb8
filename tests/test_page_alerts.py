"""AppTest of the Alerts page: generate, acknowledge one alert, change a rule, no exception.

The app_env warehouse is shared by the test session: this test writes to it only through
the page and asserts only on alerts it acted on."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
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


# ---- rupees at stake, business words -----------------------------------------------------------
STAKES = [("SKU-1 @ 110002", "low", 250000.0), ("SKU-2 @ 110002", "critical", 1200.0),
          ("SKU-3 @ 110002", "high", 1200.0), ("SKU-4 @ 110002", "medium", None),
          ("Azadpur / onion", "medium", 49000.0)]


@pytest.fixture()
def staked_env(small_warehouse_path, tmp_path, monkeypatch):
    """A private copy of the small demo holding five planted alerts with known stakes."""
    from engine.alerts_rules import details_json, stake
    from engine.warehouse import alerts as store
    from engine.warehouse.db import Warehouse
    from tests.test_auth_support import copy_warehouse

    path = copy_warehouse(small_warehouse_path, tmp_path / "staked.duckdb")
    wh = Warehouse(path)
    with wh.transaction() as cur:        # other tests may have generated alerts in the source
        cur.execute("DELETE FROM alerts")
    rows = [dict(rule="demand_anomaly", severity=sev, entity=entity,
                 day=pd.Timestamp("2025-11-20"), reason=f"Planted {entity}.",
                 details=details_json("Forecast", {}, None, None,
                                      **stake(value, f"Planted: {value} rupees.")))
            for entity, sev, value in STAKES]
    store.insert_alerts(wh, pd.DataFrame(rows), "asha", {"as_of": "2025-11-20",
                                                         "found": {"demand_anomaly": 5},
                                                         "skipped": {"mandi_spike": "x"}})
    wh.close()
    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    yield path
    st.cache_resource.clear()


def test_alerts_page_ranks_by_rupees_at_stake_and_says_how(staked_env):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert shown["Entity"].tolist() == ["SKU-1 @ 110002", "Azadpur / onion", "SKU-2 @ 110002",
                                        "SKU-3 @ 110002", "SKU-4 @ 110002"]
    assert shown["₹ at stake"].tolist() == ["₹2.50 lakh", "₹49,000", "₹1,200", "₹1,200", "—"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["₹ at stake"] == "₹3.01 lakh" and metrics["Open alerts"] == "5"
    assert "5 alert(s), most rupees at stake first." in _texts(at)
    at.session_state["al_table"] = {"selection": {"rows": [1], "columns": []}}
    at.run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert "**₹ at stake: ₹49,000.** Planted: 49000.0 rupees." in texts
    at.session_state["al_table"] = {"selection": {"rows": [4], "columns": []}}
    at.run()
    assert any(t.startswith("**₹ at stake: not estimated.**") for t in
               (m.value for m in at.markdown))


def test_alerts_audit_trail_is_sentences_not_json(staked_env):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    audit = at.dataframe[-1].value
    assert "Checked the rules" in audit["Action"].tolist()
    details = " ".join(audit["Details"])
    assert "As of 20-Nov: 5 found, 5 new; skipped Mandi price spike" in details
    assert not any(ch in details for ch in "{}[]\"")


def test_rule_change_audit_lists_what_changed_in_words():
    from components.alerts_views import audit_sentence

    text = json.dumps({"rule": "mandi_spike",
                       "before": {"enabled": True, "severity": "medium",
                                  "params": {"threshold_pct": 25, "purchase_qtl": 50}},
                       "after": {"enabled": False, "severity": "high",
                                 "params": {"threshold_pct": 30, "purchase_qtl": 50}}})
    assert audit_sentence("alert_rule_changed", text, {"mandi_spike": "Mandi price spike"}) == \
        ("Mandi price spike: enabled on → off; severity medium → high; threshold pct 25 → 30")


def test_top_alerts_panel_puts_the_most_rupees_first_within_a_severity_and_shows_them():
    def script():
        import pandas as pd

        from components.alerts_views import top_alerts_panel

        df = pd.DataFrame({
            "alert_id": ["a1", "a2", "a3"], "severity": ["critical", "medium", "critical"],
            "status": ["new", "new", "new"], "entity": ["e1", "e2", "e3"],
            "day": pd.to_datetime(["2025-11-20"] * 3), "created_at": pd.Timestamp.now(),
            "reason": ["small critical", "medium one", "big critical"],
            "link": [None, None, None], "at_stake": [500.0, 9e9, 1250000.0]})
        top_alerts_panel(df, n=5)

    at = AppTest.from_function(script).run()
    assert not at.exception
    lines = [m.value for m in at.markdown]
    assert "big critical" in lines[0] and "**₹12.50 lakh at stake**" in lines[0]
    assert "small critical" in lines[1] and "**₹500 at stake**" in lines[1]
    assert "medium one" in lines[2]
