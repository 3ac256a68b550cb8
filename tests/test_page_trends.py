"""AppTest of pages/57_Trends.py on a copy of the small demo: emerging / declining items
with their reasons, the what-changed bridge, store clusters with their descriptions, the
digest buttons; a store user sees only their PIN codes' clusters; the cluster filter
narrows the PIN codes the page reads."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine import auth
from engine.intel import clusters as C
from engine.warehouse.db import Warehouse
from tests.test_auth_support import copy_warehouse, seed_users, session_for, store_pins

PAGE = Path(__file__).resolve().parents[1] / "pages" / "57_Trends.py"
TIMEOUT = 180


@pytest.fixture(scope="module")
def trends_path(small_warehouse_path, tmp_path_factory) -> Path:
    path = copy_warehouse(small_warehouse_path, tmp_path_factory.mktemp("trends") / "t.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auth, "BCRYPT_ROUNDS", 4)
        wh = Warehouse(path)
        try:
            wh.apply_schema()
            seed_users(wh)
        finally:
            wh.close()
    return path


@pytest.fixture()
def env(trends_path, monkeypatch):
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(trends_path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    monkeypatch.setattr(auth, "failure_delay", lambda n: 0.0)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield trends_path
    st.cache_resource.clear()


def _run(username: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    if username:
        at.session_state["auth_user"] = session_for(username)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def test_trends_page_shows_movers_what_changed_clusters_and_digest(env):
    at = _run()
    assert [h.value for h in at.subheader] == ["Emerging and declining", "What changed",
                                               "Store clusters", "Weekly digest"]
    text = _text(at)
    assert "false-discovery rate" in text
    assert "The parts add up exactly to the change." in text
    wh = Warehouse(env)
    try:
        rows = C.store_clusters(wh)
    finally:
        wh.close()
    for name in rows["cluster_name"].unique():
        assert f"Cluster {name}" in text
    labels = [b.label for b in at.get("download_button")]
    assert "Weekly digest (HTML)" in labels and "Weekly digest (Excel)" in labels
    at.selectbox(key="trends_level").set_value("brand").run()
    assert not at.exception
    assert "brand items" in _text(at)
    at.selectbox(key="wc_category").set_value("Dairy").run()
    assert not at.exception
    assert any(m.value.startswith("Dairy: revenue ₹") for m in at.markdown)


def test_store_user_sees_only_their_pins_clusters(env, monkeypatch):
    monkeypatch.delenv("MICROPULSE_AUTH")
    wh = Warehouse(env)
    try:
        pins = set(store_pins(wh))
        everyone = C.store_clusters(wh)
    finally:
        wh.close()
    at = _run("shop")
    shown = set(at.dataframe[-1].value.iloc[:, 0].astype(str))
    assert shown == pins
    assert len(everyone) > len(shown)


def test_cluster_filter_narrows_the_pin_codes(env):
    at = _run()
    pick = at.sidebar.multiselect(key="_w_mp_filter_clusters")
    first = pick.options[0]
    pick.select(first).run()
    assert not at.exception
    wh = Warehouse(env)
    try:
        rows = C.store_clusters(wh)
    finally:
        wh.close()
    in_cluster = set(rows.loc[rows["cluster"] == 1, "pin_code"])
    at.selectbox(key="trends_level").set_value("pin_code").run()
    with_all = at.expander[0]
    table = with_all.dataframe[0].value
    assert set(table.iloc[:, 0].str[:6]) <= in_cluster


def test_empty_warehouse_says_what_to_do(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    Warehouse(path).close()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = _run()
    assert [i.value for i in at.info] == [
        "No sales in the warehouse yet: load the demo on the Overview page or upload sales "
        "on the Data page."]
    st.cache_resource.clear()
