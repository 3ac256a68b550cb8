"""`python -m engine alerts --json` generates, then prints a JSON list of alerts."""
from __future__ import annotations

import json

from engine.__main__ import main
from tests.alerts_frames import AS_OF, build


def test_alerts_cli_json_lists_generated_alerts(empty_warehouse, capsys):
    build(empty_warehouse, planted=True)
    path = str(empty_warehouse.path)
    assert main(["alerts", "--json", "--as-of", str(AS_OF.date()), "--warehouse", path]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"alert_id", "rule", "severity", "entity", "reason", "status",
            "created_at"} <= set(out[0])
    rules = {row["rule"] for row in out}
    assert {"mandi_spike", "price_above_mrp", "demand_anomaly"} <= rules
    stakes = [row["at_stake"] for row in out]
    assert all(isinstance(v, (int, float)) for v in stakes)
    assert stakes == sorted(stakes, reverse=True)          # most rupees at stake first
    assert all(row["at_stake_how"] for row in out)
    mandi = [row for row in out if row["rule"] == "mandi_spike"][0]
    assert mandi["entity"] == "Azadpur / onion" and mandi["day"] == str(AS_OF.date())
    assert mandi["status"] == "new"
    # a second run finds the same alerts and adds none
    assert main(["alerts", "--json", "--as-of", str(AS_OF.date()), "--warehouse", path]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == len(out)
    assert ", 0 new" in captured.err


def test_alerts_cli_rejects_bad_date(empty_warehouse, capsys):
    assert main(["alerts", "--as-of", "21/13/2025",
                 "--warehouse", str(empty_warehouse.path)]) == 2
    assert "is not a date" in capsys.readouterr().err
