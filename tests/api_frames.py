"""A warehouse for the REST API tests: a copy of the session's small demo with one cheap
forecast run (tests/forecast_page_frames.py), alerts generated, and one user per role.
Never touches the shared session file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from engine import auth
from engine.warehouse.db import Warehouse, copy_warehouse

PASSWORDS = {"admin": "admin-pass-123", "manager": "manager-pass-123",
             "analyst": "analyst-pass-123", "store": "store-pass-123",
             "service": "service-pass-123"}
FAST_ROUNDS = 4   # bcrypt cost for test users (the real default is 12)


@dataclass
class ApiWorld:
    path: Path
    store_pins: tuple[str, ...]
    other_pin: str            # a PIN with forecasts that the store user may not see
    series: list[tuple[str, str]]   # (sku_id, pin_code) with a stored forecast


def build_world(src: Path, dst: Path, with_alerts: bool = True) -> ApiWorld:
    """Copy `src` (a warehouse with a forecast run) to `dst`, add users and alerts."""
    from engine.alerts import generate_alerts

    copy_warehouse(src, dst)
    wh = Warehouse(dst)
    try:
        rounds, auth.BCRYPT_ROUNDS = auth.BCRYPT_ROUNDS, FAST_ROUNDS
        try:
            admin = auth.create_first_admin(wh, "admin", PASSWORDS["admin"])
            series = wh.query("SELECT DISTINCT sku_id, pin_code FROM forecasts "
                              "ORDER BY pin_code, sku_id")
            pins = sorted(series["pin_code"].unique()) or \
                wh.query("SELECT pin_code FROM locations ORDER BY 1")["pin_code"].tolist()
            store_pins, other = (pins[0],), pins[-1]
            for role in ("manager", "analyst", "store"):
                auth.create_user(wh, admin, role, PASSWORDS[role], role,
                                 store_pins if role == "store" else ())
            auth.create_user(wh, admin, "service", PASSWORDS["service"], "analyst")
        finally:
            auth.BCRYPT_ROUNDS = rounds
        if with_alerts:
            generate_alerts(wh)
    finally:
        wh.close()
    return ApiWorld(dst, store_pins, other, list(series.itertuples(index=False, name=None)))


def token_headers(client: TestClient, username: str) -> dict:
    res = client.post("/v1/auth/token", json={"username": username,
                                              "password": PASSWORDS[username]})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


def headers_by_role(client: TestClient):
    """headers(role) -> the Authorization header of that demo user, signed in once."""
    cache = {}

    def headers(role: str) -> dict:
        if role not in cache:
            cache[role] = token_headers(client, role)
        return cache[role]
    return headers
