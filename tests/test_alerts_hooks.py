"""Alerts are re-checked after each upload (issue 10: generated after uploads and runs)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.alerts import refresh_after
from engine.warehouse.db import Warehouse

REPO = Path(__file__).resolve().parents[1]


def _sales_csv(path: Path) -> Path:
    path.write_text("date,sku_id,pin_code,quantity,price\n"
                    "2025-01-06,SKU-A,560001,4,20\n"
                    "2025-01-07,SKU-A,560001,5,20\n", encoding="utf-8")
    return path


def test_cli_upload_refreshes_alerts_and_audits_it(tmp_path):
    wh_path = tmp_path / "hooks.duckdb"
    out = subprocess.run([sys.executable, "-m", "engine", "ingest", "sales",
                          str(_sales_csv(tmp_path / "s.csv")), "--warehouse", str(wh_path)],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Alerts refreshed after the upload" in out.stderr
    wh = Warehouse(wh_path)
    actions = wh.query("SELECT action FROM audit_log")["action"].tolist()
    wh.close()
    assert "alerts_generated" in actions


def test_cli_upload_can_skip_alerts(tmp_path):
    wh_path = tmp_path / "hooks.duckdb"
    out = subprocess.run([sys.executable, "-m", "engine", "ingest", "sales",
                          str(_sales_csv(tmp_path / "s.csv")), "--warehouse", str(wh_path),
                          "--no-alerts"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Alerts refreshed" not in out.stderr


def test_refresh_failure_is_reported_not_raised(empty_warehouse, monkeypatch):
    import engine.alerts as alerts

    def boom(*args, **kwargs):
        raise RuntimeError("rule store unavailable")

    monkeypatch.setattr(alerts, "generate_alerts", boom)
    sentence = refresh_after(empty_warehouse, "forecast run")
    assert sentence.startswith("Alerts were not refreshed after the forecast run")
    assert "rule store unavailable" in sentence
