"""The Admin page: add users, change roles and PIN codes, disable, reset passwords, and
read the audit log - every change visible in audit_log."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine import auth
from engine.warehouse.audit import read_audit_log
from engine.warehouse.db import Warehouse
from engine.warehouse.users import get_user_row
from tests.test_auth_support import (PASSWORD, auth_wh_path, fast_bcrypt,  # noqa: F401
                                     session_for)

PAGE = Path(__file__).resolve().parents[1] / "pages" / "9_Admin.py"


@pytest.fixture(autouse=True)
def _env(auth_wh_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(auth_wh_path))
    monkeypatch.delenv("MICROPULSE_AUTH", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture()
def admin_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["auth_user"] = session_for("boss")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _row(path, username):
    wh = Warehouse(path)
    try:
        return get_user_row(wh, username)
    finally:
        wh.close()


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_admin_page_lists_users_without_password_hashes(admin_page):
    table = admin_page.dataframe[0].value
    assert set(table["Username"]) == {"boss", "mgr", "ana", "shop"}
    assert list(table.columns) == ["Username", "Role", "PIN codes (store users)", "Status",
                                   "Last sign-in", "Added by"]
    assert set(table["Role"]) == {"Admin", "Manager", "Analyst", "Store user"}


def test_admin_adds_a_store_user_with_pins(admin_page, auth_wh_path):  # noqa: F811
    at = admin_page
    at.text_input(key="adm_new_name").input("Kirana1")
    at.selectbox(key="adm_new_role").select("store")
    at.text_input(key="adm_new_pins").input("560001, 560034")
    at.text_input(key="adm_new_pw").input("kirana-password")
    at.text_input(key="adm_new_pw2").input("kirana-password")
    _click(at, "Add user")
    assert any("Added kirana1 (Store user)." in s.value for s in at.success)
    row = _row(auth_wh_path, "kirana1")
    assert row["role"] == "store" and row["pin_codes"] == "560001,560034"
    assert row["password_hash"].startswith("$2b$")


def test_store_user_without_pins_is_refused_with_a_sentence(admin_page, auth_wh_path):  # noqa: F811
    at = admin_page
    at.text_input(key="adm_new_name").input("kirana2")
    at.selectbox(key="adm_new_role").select("store")
    at.text_input(key="adm_new_pw").input("kirana-password")
    at.text_input(key="adm_new_pw2").input("kirana-password")
    _click(at, "Add user")
    assert [e.value for e in at.error] == ["A store user needs at least one PIN code to see."]
    assert _row(auth_wh_path, "kirana2") is None


def test_admin_changes_role_disables_and_resets_password(admin_page, auth_wh_path):  # noqa: F811
    at = admin_page
    at.selectbox(key="adm_who").select("ana")
    at.run()
    at.selectbox(key="adm_role_role").select("store")
    at.text_input(key="adm_role_pins").input("110001")
    _click(at, "Save role and PIN codes")
    row = _row(auth_wh_path, "ana")
    assert (row["role"], row["pin_codes"]) == ("store", "110001")
    _click(at, "Disable ana")
    assert bool(_row(auth_wh_path, "ana")["disabled"])
    at.text_input(key="adm_reset_pw").input("fresh-password-9")
    at.text_input(key="adm_reset_pw2").input("fresh-password-9")
    _click(at, "Reset password")
    assert any("New password set for ana" in s.value for s in at.success)
    wh = Warehouse(auth_wh_path)
    try:
        actions = read_audit_log(wh, "user.", actor="boss")["action"].tolist()
        assert {"user.role", "user.disable", "user.password_reset"} <= set(actions)
        auth.set_disabled(wh, auth.User("boss", "admin"), "ana", False)
        assert auth.authenticate(wh, "ana", "fresh-password-9").role == "store"
    finally:
        wh.close()


def test_admin_cannot_disable_themselves(admin_page, auth_wh_path):  # noqa: F811
    at = admin_page
    at.selectbox(key="adm_who").select("boss")
    at.run()
    _click(at, "Disable boss")
    assert [e.value for e in at.error] == ["You cannot disable your own account."]
    assert not _row(auth_wh_path, "boss")["disabled"]


def test_audit_log_tab_shows_sign_ins_and_filters_by_user(admin_page, auth_wh_path):  # noqa: F811
    wh = Warehouse(auth_wh_path)
    auth.authenticate(wh, "mgr", PASSWORD["mgr"])
    wh.close()
    at = admin_page
    at.selectbox(key="adm_audit_kind").select("auth")
    at.text_input(key="adm_audit_actor").input("mgr")
    at.run()
    log = at.dataframe[-1].value
    assert list(log["What"]) == ["Signed in"] and set(log["Who"]) == {"mgr"}
    assert re.fullmatch(r"\d{2}-[A-Z][a-z]{2}-\d{4}, \d{2}:\d{2}:\d{2}", log["When"].iloc[0])


def test_add_a_user_defaults_to_the_least_privileged_role(admin_page, auth_wh_path):  # noqa: F811
    at = admin_page
    role = at.selectbox(key="adm_new_role")
    assert role.value == "store" and role.options[0] == "Store user"
    assert role.options == ["Store user", "Analyst", "Manager", "Admin"]
    at.text_input(key="adm_new_name").input("viewer1")
    at.text_input(key="adm_new_pins").input("560001")
    at.text_input(key="adm_new_pw").input("viewer-password")
    at.text_input(key="adm_new_pw2").input("viewer-password")
    _click(at, "Add user")      # nothing chosen: a store user, not an admin
    assert any("Added viewer1 (Store user)." in s.value for s in at.success)
    assert _row(auth_wh_path, "viewer1")["role"] == "store"


def test_audit_log_reads_as_sentences_without_json(admin_page, auth_wh_path):  # noqa: F811
    at = admin_page
    at.selectbox(key="adm_who").select("ana")
    at.run()
    at.selectbox(key="adm_role_role").select("store")
    at.text_input(key="adm_role_pins").input("110001")
    _click(at, "Save role and PIN codes")
    at.selectbox(key="adm_audit_kind").select("user")
    at.run()
    log = at.dataframe[-1].value
    assert list(log.columns) == ["When", "Who", "What", "Details"]
    row = log[log["What"] == "Changed a role and PIN codes"].iloc[0]
    assert row["Who"] == "boss"
    assert row["Details"] == ("Username: ana · Previous role: Analyst · Role: Store user · "
                              "PIN codes: 110001")
    assert not log["Details"].str.contains(r"[{}\[\]\"]").any()
    assert any(c.value.endswith("most recent entries (up to 1,000).") for c in at.caption)


def test_audit_details_and_times_are_spelled_out():
    from components.admin_views import action_text, details_text, when
    assert details_text('{"run_id": "bt_1", "n_series": 29030, "rows": {"skus": 180}}') == \
        "Run: bt_1 · Series: 29,030 · Rows: SKUs 180"
    assert details_text('{"locked_until": "2026-11-05 14:32:00", "first_run": true}') == \
        "Locked until: 05-Nov-2026, 14:32 · First run: yes"
    assert action_text("ingest_sales") == "Uploaded a sales file"
    assert action_text("auth.sign_in_failed") == "Sign-in failed (wrong username or password)"
    assert when("2026-11-05 00:00:00") == "05-Nov-2026" and details_text(None) == ""
