"""An alert's link never names a PIN outside the reader's scope and never targets a page
their role cannot open (issue 25, item 5), in the engine, the REST API and the Alerts
page, tested with a store user whose PINs are not the lowest of their states."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
import streamlit as st
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from engine import auth
from engine.alerts import list_alerts
from engine.alerts_detect import mandi_spike, stock_alerts
from engine.alerts_rules import RULES, RuleConfig, alert_link, details_json
from engine.warehouse import alerts as store
from engine.warehouse.db import Warehouse
from engine.warehouse.scoped import ScopedWarehouse
from tests.test_auth_support import copy_warehouse, session_for

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "7_Alerts.py")
DAY = pd.Timestamp("2025-11-20")
PASSWORD = {"boss": "boss-secret-1", "mgr": "manager-secret-2", "shop": "store-secret-4"}


def _cfg(rule: str) -> RuleConfig:
    spec = RULES[rule]
    return RuleConfig(rule, True, spec.severity, spec.defaults())


def _mandi_alert() -> pd.DataFrame:
    """A real detector's alert: Azadpur (Delhi) onion jumps 50% on DAY."""
    days = pd.date_range(DAY - pd.Timedelta(days=10), DAY)
    prices = pd.DataFrame({"market": "Azadpur", "state": "Delhi", "commodity": "Onion",
                           "date": days, "modal_price": [2000.0] * 10 + [3000.0]})
    return mandi_spike(prices, _cfg("mandi_spike"), DAY)


def _legacy_mandi_alert(pin: str) -> pd.DataFrame:
    """As stored before the fix: the state's lowest PIN baked into the link."""
    return pd.DataFrame([dict(
        rule="mandi_spike", severity="medium", entity="Okhla / tomato", day=DAY,
        reason="Tomato at Okhla mandi traded 40% above its 7-day average.",
        details=details_json("Sourcing", {"commodity": "Tomato", "pin": pin}, None, None,
                             market="Okhla", commodity="Tomato", state="Delhi"))])


def _pin_alerts(pin: str) -> pd.DataFrame:
    """A stock alert (Reorder page) and a missing-data alert (Data page) for `pin`."""
    plan = pd.DataFrame([dict(sku_id="DA-0001", pin_code=pin, name="Amul Taaza", on_hand=0.0,
                              on_order=0.0, reorder_point=12.0, lead_time_days=4,
                              daily_demand=3.0, stockout_date=DAY, urgency="critical",
                              order_qty=24.0, sales_at_risk=1500.0, at_risk_units=30.0,
                              unit_price=50.0, mrp=50.0)])
    stock = stock_alerts(plan, _cfg("stock_reorder"), DAY)
    data = pd.DataFrame([dict(rule="data_freshness", severity="high", entity=f"PIN {pin}",
                              day=DAY, reason=f"No sales uploaded for PIN {pin}.",
                              details=details_json("Data", {}, pin, None))])
    return pd.concat([stock, data], ignore_index=True)


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    """A copy of the small demo with a store user holding the *second* PIN of Delhi and of
    Maharashtra, a manager, and planted alerts."""
    path = copy_warehouse(small_warehouse_path, tmp_path_factory.mktemp("links") / "l.duckdb")
    wh = Warehouse(path)
    with wh.transaction() as cur:        # other tests may have generated alerts in the source
        cur.execute("DELETE FROM alerts")
    states = wh.query("SELECT state, list(pin_code ORDER BY pin_code) AS pins FROM locations "
                      "GROUP BY 1 ORDER BY 1").set_index("state")["pins"]
    delhi = list(states["Delhi"])
    mine = (delhi[1], list(states["Maharashtra"])[1])
    rounds, auth.BCRYPT_ROUNDS = auth.BCRYPT_ROUNDS, 4
    try:
        boss = auth.create_first_admin(wh, "boss", PASSWORD["boss"])
        auth.create_user(wh, boss, "mgr", PASSWORD["mgr"], "manager", ())
        shop = auth.create_user(wh, boss, "shop", PASSWORD["shop"], "store", mine)
    finally:
        auth.BCRYPT_ROUNDS = rounds
    planted = pd.concat([_mandi_alert(), _legacy_mandi_alert(delhi[0]), _pin_alerts(mine[0]),
                         _pin_alerts(delhi[0])], ignore_index=True)
    store.insert_alerts(wh, planted, "test", {"as_of": str(DAY.date())})
    wh.close()
    return {"path": path, "delhi": delhi, "mine": mine, "shop": shop}


def _params(link: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}


def _assert_fits(links, pins, pages) -> None:
    for link in links:
        if link is None:
            continue
        page = urlparse(link).path.strip("/")
        assert page in pages, link
        named = {v for k, v in _params(link).items() if k in ("pin", "pin_code")}
        assert named <= set(pins), link


def test_store_user_links_never_leave_their_pins_or_their_pages(world):
    base = Warehouse(world["path"], read_only=True)
    try:
        scoped = ScopedWarehouse(base, world["mine"])
        for viewer in (world["shop"], None):        # explicit, or told by the handle
            df = list_alerts(scoped, viewer=viewer)
            _assert_fits(df["link"], world["mine"], auth.PAGES["store"])
            mandi = df[df["rule"] == "mandi_spike"]
            assert len(mandi) == 2 and mandi["link"].isna().all()   # Sourcing: not theirs
            assert df.loc[df["rule"] == "data_freshness", "link"].isna().all()
            stock = df[df["rule"] == "stock_reorder"]
            assert stock["link"].tolist() == [
                f"/Reorder?sku_id=DA-0001&pin_code={world['mine'][0]}"]
    finally:
        base.close()


def test_a_manager_gets_the_lowest_pin_of_the_mandis_state(world):
    base = Warehouse(world["path"], read_only=True)
    try:
        df = list_alerts(base)
        links = df.loc[df["rule"] == "mandi_spike", "link"].tolist()
        assert sorted(links) == sorted([f"/Sourcing?commodity=Onion&pin={world['delhi'][0]}",
                                        f"/Sourcing?commodity=Tomato&pin={world['delhi'][0]}"])
        assert df.loc[df["rule"] == "data_freshness", "link"].eq("/Data").all()
    finally:
        base.close()


def test_a_scoped_reader_who_may_open_sourcing_gets_their_own_pin_of_the_state(world):
    delhi = world["delhi"]
    state_pins = {"Delhi": delhi}
    fresh = json.loads(_mandi_alert()["details"].iloc[0])
    legacy = json.loads(_legacy_mandi_alert(delhi[0])["details"].iloc[0])
    for details in (fresh, legacy):
        assert alert_link(details, {"Sourcing"}, (delhi[1],), state_pins) == \
            f"/Sourcing?commodity={details['commodity']}&pin={delhi[1]}"
        # no PIN of theirs in the state: the link names none (the page asks for one)
        assert alert_link(details, {"Sourcing"}, ("400069",), state_pins) == \
            f"/Sourcing?commodity={details['commodity']}"
        assert alert_link(details, {"Reorder", "Alerts"}, (delhi[1],), state_pins) is None


def test_the_api_gives_a_store_user_only_links_they_can_follow(world):
    from api.main import create_app
    from api.security import Settings

    app = create_app(world["path"], Settings(jwt_secret="t" * 48, rate_per_minute=10_000))
    try:
        client = TestClient(app, raise_server_exceptions=False)
        heads = {}
        for user in ("shop", "mgr"):
            res = client.post("/v1/auth/token", json={"username": user,
                                                      "password": PASSWORD[user]})
            assert res.status_code == 200, res.text
            heads[user] = {"Authorization": f"Bearer {res.json()['access_token']}"}
        mine = client.get("/v1/alerts", headers=heads["shop"]).json()["alerts"]
        assert {a["rule"] for a in mine} == {"mandi_spike", "stock_reorder", "data_freshness"}
        _assert_fits([a["link"] for a in mine], world["mine"], auth.PAGES["store"])
        assert all(a["link"] is None for a in mine if a["rule"] == "mandi_spike")
        everyone = client.get("/v1/alerts", headers=heads["mgr"]).json()["alerts"]
        assert any(a["link"] == f"/Sourcing?commodity=Onion&pin={world['delhi'][0]}"
                   for a in everyone)
        # the API lists them in the engine's order: most rupees at stake first
        base = Warehouse(world["path"])
        try:
            ranked = list_alerts(base)
        finally:
            base.close()
        assert [a["alert_id"] for a in everyone] == ranked["alert_id"].tolist()
        assert everyone[0]["rule"] == "mandi_spike"          # ₹50,000 at stake
        stakes = ranked["at_stake"].fillna(-1).tolist()
        assert stakes == sorted(stakes, reverse=True)
    finally:
        app.state.micropulse.close()


def test_the_alerts_page_shows_a_store_user_only_links_they_can_follow(world, monkeypatch):
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(world["path"]))
    monkeypatch.delenv("MICROPULSE_AUTH", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(PAGE, default_timeout=120)
        at.session_state["auth_user"] = session_for("shop")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        table = at.dataframe[0].value
        assert len(table) == 4          # 2 mandi alerts + the store's stock and data alerts
        _assert_fits([v if isinstance(v, str) else None for v in table["Open"]],
                     world["mine"], auth.PAGES["store"])
        assert not any(isinstance(v, str) and "Sourcing" in v for v in table["Open"])
    finally:
        st.cache_resource.clear()
