"""Contract of `python -m engine trends ...` and GET /v1/trends: JSON shapes, files
written, one-line errors (exit 2) and 422 codes, store users limited to their PIN codes."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.__main__ import main
from tests.api_frames import build_world, token_headers


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    return build_world(small_warehouse_path, tmp_path_factory.mktemp("trends_api") / "t.duckdb",
                       with_alerts=False)


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_items_changed_clusters_and_digest(world, capsys, tmp_path):
    wh = str(world.path)
    code, out, _ = _run(capsys, "trends", "--level", "brand", "--json", "--warehouse", wh)
    body = json.loads(out)
    assert code == 0 and body["level"] == "brand" and body["items"]
    assert {"item", "status", "growth_yoy", "slope_pct_week", "q_value", "reason"} <= \
        set(body["items"][0])
    code, out, _ = _run(capsys, "trends", "changed", "--category", "Dairy", "--json",
                        "--warehouse", wh)
    body = json.loads(out)
    steps = {s["step"]: s["amount"] for s in body["bridge"]}
    assert sum(v for k, v in steps.items() if k not in ("revenue_a", "revenue_b")) == \
        pytest.approx(steps["revenue_b"] - steps["revenue_a"], abs=0.05)
    code, out, _ = _run(capsys, "trends", "clusters", "--json", "--warehouse", wh)
    body = json.loads(out)
    assert code == 0 and body["k"] >= 2 and len(body["pins"]) >= 6
    for ext in ("html", "xlsx"):
        target = tmp_path / f"digest.{ext}"
        code, _, _ = _run(capsys, "trends", "digest", "--out", str(target), "--warehouse", wh)
        assert code == 0 and target.stat().st_size > 1000
    assert "Weekly trends digest" in (tmp_path / "digest.html").read_text(encoding="utf-8")
    csv = tmp_path / "items.csv"
    assert _run(capsys, "trends", "--out", str(csv), "--warehouse", wh)[0] == 0
    assert csv.read_text(encoding="utf-8-sig").startswith("item,label,weeks")


@pytest.mark.parametrize("argv, message", [
    (["--level", "galaxy"], "Level must be one of"),
    (["changed", "--category", "Nope"], "no category called 'Nope'"),
    (["digest", "--out", "x.pdf"], "needs --out FILE.html or FILE.xlsx"),
    (["--out", "x.docx"], "use a file name ending in .csv, .xlsx or .json"),
])
def test_cli_errors_are_one_line_exit_2(world, capsys, argv, message):
    code, _, err = _run(capsys, "trends", *argv, "--warehouse", str(world.path))
    assert code == 2 and err.startswith("error: ") and message in err


def test_cli_process_never_prints_a_traceback(world):
    proc = subprocess.run([sys.executable, "-m", "engine", "trends", "changed", "--category",
                           "Nope", "--warehouse", str(world.path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world.path, Settings(jwt_secret="t" * 48, rate_per_minute=10_000))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.micropulse.close()


def test_api_trends_with_what_changed_and_clusters(client):
    res = client.get("/v1/trends", params={"level": "category", "category": "all",
                                           "include_clusters": True},
                     headers=token_headers(client, "analyst"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["items"] and body["what_changed"]["bridge"][0]["step"] == "revenue_a"
    assert sum(len(c["pin_codes"]) for c in body["clusters"]) >= 6


def test_api_store_user_sees_only_their_pins(client, world):
    res = client.get("/v1/trends", params={"level": "pin_code", "include_clusters": True},
                     headers=token_headers(client, "store"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert {i["item"] for i in body["items"]} <= set(world.store_pins)
    assert {p for c in body["clusters"] for p in c["pin_codes"]} == set(world.store_pins)


def test_api_errors_have_codes(client):
    h = token_headers(client, "analyst")
    res = client.get("/v1/trends", params={"category": "Nope"}, headers=h)
    assert res.status_code == 422 and res.json()["error"]["code"] == "unknown_category"
    assert client.get("/v1/trends", params={"weeks": 3}, headers=h).status_code == 422
    assert client.get("/v1/trends").status_code == 401
