"""Shared helpers for the sign-in, roles and scoping tests (no tests here).

Each test works on its own copy of the small demo warehouse (sign-ins write to it) with
four users, one per role; bcrypt runs at its lowest cost so hashing is instant.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine import auth
from engine.auth import User
from engine.warehouse.db import Warehouse, copy_warehouse

PASSWORD = {"boss": "boss-secret-1", "mgr": "manager-secret-2", "ana": "analyst-secret-3",
            "shop": "store-secret-4"}
ROLE = {"boss": "admin", "mgr": "manager", "ana": "analyst", "shop": "store"}




def store_pins(wh) -> tuple[str, str]:
    """Two PIN codes with sales in two different states (the store user's scope)."""
    df = wh.query("SELECT l.state, min(s.pin_code) AS pin_code FROM sales_daily s "
                  "JOIN locations l USING (pin_code) GROUP BY 1 ORDER BY 1")
    assert len(df) >= 3, "the small demo should cover at least three states"
    return tuple(df["pin_code"].iloc[:2])


def seed_users(wh) -> dict[str, User]:
    """First admin 'boss', then a manager, an analyst and a store user with two PINs."""
    boss = auth.create_first_admin(wh, "boss", PASSWORD["boss"])
    users = {"boss": boss}
    for name in ("mgr", "ana", "shop"):
        pins = store_pins(wh) if ROLE[name] == "store" else ()
        users[name] = auth.create_user(wh, boss, name, PASSWORD[name], ROLE[name], pins)
    return users


def session_for(username: str, age_s: float = 0.0) -> dict:
    """What the sign-in form leaves in st.session_state["auth_user"]."""
    now = time.time() - age_s
    return {"username": username, "signed_in_at": now, "last_seen": now}


@pytest.fixture()
def fast_bcrypt(monkeypatch):
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)


@pytest.fixture()
def auth_wh_path(small_warehouse_path, tmp_path, fast_bcrypt) -> Path:
    """A private copy of the small demo with one user per role."""
    path = copy_warehouse(small_warehouse_path, tmp_path / "auth.duckdb")
    wh = Warehouse(path)
    try:
        seed_users(wh)
    finally:
        wh.close()
    return path


@pytest.fixture()
def auth_wh(auth_wh_path):
    wh = Warehouse(auth_wh_path)
    yield wh
    wh.close()
