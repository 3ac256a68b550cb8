"""One error family (engine/errors.py): every engine error is a MicroPulseError with a code,
a sentence and its evidence; the API answers each with its own status and code (never a
bare 500), the command line with one `error:` line (never a traceback)."""
from __future__ import annotations

import importlib
import math
import pickle
import pkgutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import engine
from engine.errors import (EVIDENCE_LIMIT, MicroPulseError, error_classes, evidence_json,
                           evidence_table, offending_rows)

REPO = Path(__file__).resolve().parents[1]
PLANTED = "Column 'pin_code' has 2 values that are not 6-digit PIN codes (e.g. '56001')."


def _all_error_classes() -> list[type]:
    """Every MicroPulseError class in the engine (each engine module imported first)."""
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    return error_classes()


def _planted(cls: type) -> MicroPulseError:
    """An instance of `cls` with the planted sentence and two evidence rows, whatever its
    own constructor takes (some build their sentence from fields)."""
    exc = cls.__new__(cls)
    MicroPulseError.__init__(exc, PLANTED, pd.DataFrame({"line": [9, 12],
                                                         "pin_code": ["56001", "5600"]}))
    return exc


# ---- the family ---------------------------------------------------------------------------
ROOTS = [("engine.warehouse.db", "WarehouseError", None),
         ("engine.alerts_rules", "AlertError", ValueError),
         ("engine.geo_polygons", "GeoBuildError", RuntimeError),
         ("engine.export", "ExportError", ValueError),
         ("engine.scenarios.model", "ScenarioError", ValueError),
         ("engine.signals.festivals", "FestivalDataError", ValueError),
         ("engine.inventory.demand", "InventoryInputError", ValueError),
         ("engine.forecast.config", "ForecastError", None),
         ("engine.forecast.whatif", "ScenarioInputError", ValueError),
         ("engine.ingest.errors", "IngestError", None),
         ("engine.sourcing.prepare", "SourcingError", ValueError),
         ("engine.pricing.elasticity", "PricingError", None),
         ("engine.map_metrics", "MetricUnavailable", None),
         ("engine.alerts_rules", "RuleSkipped", None)]


@pytest.mark.parametrize("module,name,builtin", ROOTS, ids=[r[1] for r in ROOTS])
def test_every_engine_error_root_is_a_micropulse_error_and_keeps_its_builtin_base(
        module, name, builtin):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, MicroPulseError)
    if builtin is not None:     # callers that catch ValueError / RuntimeError still do
        assert issubclass(cls, builtin)


def test_every_error_class_has_a_snake_case_code_and_an_http_status():
    classes = _all_error_classes()
    assert len(classes) >= 35
    for cls in classes:
        assert cls.code.replace("_", "").isalpha() and cls.code == cls.code.lower(), cls
        assert 400 <= cls.http_status <= 599, cls
    codes = {c.code for c in classes if c is not MicroPulseError}
    assert {"missing_columns", "disk_full", "forbidden", "pricing_error", "sourcing_error",
            "inventory_input", "alert_error", "geo_build_error",
            "metric_unavailable"} <= codes


def test_existing_fields_keep_working():
    from engine.ingest.errors import MissingColumnsError, SheetNotFoundError
    from engine.pricing.optimize import InfeasiblePricingError
    from engine.scenarios.model import ScenarioError
    from engine.signals.festivals import FestivalDataError
    from engine.warehouse.db import DiskFullError

    missing = MissingColumnsError("sales", ["quantity"], ["qty_x", "date"])
    assert missing.missing == ["quantity"] and missing.code == "missing_columns"
    assert missing.evidence == {"missing": ["quantity"], "found": ["qty_x", "date"]}
    assert str(missing).startswith("This sales file has no column for 'quantity'.")
    assert SheetNotFoundError("Jan", ["Feb"]).sheets == ["Feb"]
    rows = pd.DataFrame({"festival": ["Diwali", "Diwali"]})
    fest = FestivalDataError("Diwali is listed twice on one date.", rows)
    assert fest.rows is rows and fest.evidence is rows and fest.http_status == 500
    gone = ScenarioError("not_found", "There is no saved scenario called 'x'.", "x")
    assert (gone.code, gone.http_status, gone.message) == ("not_found", 404, str(gone))
    assert ScenarioError("bad_assumption", "Price change must be -50..50%.").http_status == 422
    infeasible = InfeasiblePricingError("No price list fits.", ["price_endings"])
    assert infeasible.relax == ["price_endings"] and infeasible.evidence.empty
    full = DiskFullError("The disk is full.", {"storage": "disk_full", "file": "w.duckdb"})
    again = full.again()
    assert type(again) is DiskFullError and again.evidence == full.evidence


def test_every_error_survives_pickling_whatever_its_constructor_takes():
    """st.cache_data and worker processes pickle errors; a MissingColumnsError (built from
    kind, missing, found) used to fail to unpickle and crash the Data page on a rerun."""
    from engine.ingest.errors import MissingColumnsError

    for exc in [MissingColumnsError("sales", ["quantity"], ["qty_x"])] + \
            [_planted(cls) for cls in _all_error_classes()]:
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert back.code == exc.code and back.http_status == exc.http_status
        assert back.evidence_table().equals(exc.evidence_table())
    assert pickle.loads(pickle.dumps(MissingColumnsError("sales", ["quantity"], []))) \
        .missing == ["quantity"]


def test_to_dict_caps_the_evidence_rows_and_makes_them_json_safe():
    frame = pd.DataFrame({"line": range(2, 2 + 120), "quantity": [math.nan] * 120,
                          "date": pd.Timestamp("2026-11-05")})
    out = MicroPulseError("Column 'qty' has 120 blank values.", frame,
                          code="missing_value").to_dict()
    assert out["code"] == "missing_value" and len(out["evidence"]) == EVIDENCE_LIMIT
    assert out["evidence_total"] == 120
    assert out["evidence"][0] == {"line": 2, "quantity": None,
                                  "date": "2026-11-05T00:00:00.000"}
    assert MicroPulseError("x", {"service_level": 1.5}).to_dict()["evidence"] == \
        {"service_level": 1.5}
    assert evidence_json(float("nan")) == ({"value": None}, None)
    assert evidence_json([{"when": datetime(2026, 11, 5)}])[0] == \
        [{"when": "2026-11-05T00:00:00"}]
    assert "evidence" not in MicroPulseError("no evidence").to_dict()


def test_offending_rows_number_the_lines_as_in_the_file():
    frame = pd.DataFrame({"pin_code": ["560001", "56001", "110001", "5600"],
                          "quantity": [3, 4, 5, 6]})
    rows = offending_rows(frame, ~frame["pin_code"].str.fullmatch(r"[1-9]\d{5}"),
                          ["pin_code"], line_offset=2)
    assert rows.to_dict("records") == [{"line": 3, "pin_code": "56001"},
                                       {"line": 5, "pin_code": "5600"}]


def test_a_forecast_of_a_negative_quantity_carries_the_rows_as_evidence():
    from engine.forecast.config import ForecastError
    from engine.forecast.features import normalize_history

    history = pd.DataFrame({"sku_id": ["S1", "S1", "S2"], "pin_code": ["560001"] * 3,
                            "date": pd.to_datetime(["2026-11-01", "2026-11-02",
                                                    "2026-11-01"]),
                            "quantity": [4, -2, 3], "note": ["", "return", ""]})
    with pytest.raises(ForecastError) as caught:
        normalize_history(history)
    assert caught.value.code == "bad_quantity"
    assert caught.value.to_dict()["evidence"] == [
        {"sku_id": "S1", "pin_code": "560001", "date": "2026-11-02T00:00:00.000",
         "quantity": -2}]


def test_evidence_table_shapes():
    assert evidence_table(None).empty
    assert list(evidence_table({"missing": ["quantity", "date"]}).iloc[0]) == \
        ["missing", "quantity, date"]
    assert evidence_table([{"a": 1}, {"a": 2}])["a"].tolist() == [1, 2]
    assert evidence_table("56001")["value"].tolist() == ["56001"]


def test_the_error_family_does_not_import_pandas():
    """The warehouse handle (and so every command) imports engine.errors; a table is only
    made where one is shown, so a command that fails early stays quick to start."""
    proc = subprocess.run([sys.executable, "-c", "import sys, engine.warehouse.db; "
                           "print('pandas' in sys.modules)"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


# ---- API: one handler for the base class ------------------------------------------------
@pytest.fixture(scope="module")
def raising_client(tmp_path_factory):
    from api.main import create_app
    from api.security import Settings

    classes = _all_error_classes()
    app = create_app(tmp_path_factory.mktemp("err") / "w.duckdb",
                     Settings(jwt_secret="e" * 48))

    def boom(i: int):
        raise _planted(classes[i])

    app.add_api_route("/raise/{i}", boom)
    client = TestClient(app, raise_server_exceptions=False)
    yield client, classes
    app.state.micropulse.close()


def test_every_engine_error_maps_to_its_status_and_code_never_a_bare_500(raising_client):
    from engine.warehouse.db import WarehouseLockedError

    client, classes = raising_client
    for i, cls in enumerate(classes):
        res = client.get(f"/raise/{i}")
        body = res.json()["error"]
        assert res.status_code == cls.http_status, (cls, res.status_code, body)
        assert body["code"] == cls.code != "internal_error", cls
        if issubclass(cls, WarehouseLockedError):      # a fixed sentence, no path in it
            assert body["message"].startswith("The warehouse is in use"), cls
            assert res.headers["Retry-After"] == "5"
        else:
            assert body["message"] == PLANTED, cls
            assert body["details"] == [{"line": 9, "pin_code": "56001"},
                                       {"line": 12, "pin_code": "5600"}], cls


def test_evidence_in_an_error_response_is_capped(tmp_path):
    from api.main import create_app
    from api.security import Settings
    from engine.ingest.errors import MappingError

    app = create_app(tmp_path / "w.duckdb", Settings(jwt_secret="e" * 48))

    def boom():
        raise MappingError("Column 'qty' has 300 values that are not numbers.",
                           pd.DataFrame({"line": range(2, 302), "qty": "ten"}))

    app.add_api_route("/raise", boom)
    res = TestClient(app, raise_server_exceptions=False).get("/raise")
    err = res.json()["error"]
    assert res.status_code == 422 and err["code"] == "bad_mapping"
    assert len(err["details"]) == EVIDENCE_LIMIT and err["details_total"] == 300
    assert err["details"][0] == {"line": 2, "qty": "ten"}


# ---- command line -------------------------------------------------------------------------
def test_cli_prints_every_engine_error_as_one_line(capsys):
    from engine.__main__ import EXIT_STORAGE, _one_line_error
    from engine.warehouse.db import WarehouseStorageError

    for cls in _all_error_classes():
        exc = _planted(cls)
        exc.message = "The file has\ntwo lines."
        code = _one_line_error(exc)
        err = capsys.readouterr().err
        assert code == (EXIT_STORAGE if issubclass(cls, WarehouseStorageError) else 2), cls
        assert err == "error: The file has two lines.\n", cls


def test_cli_process_ends_an_engine_error_with_one_line_and_exit_2(tmp_path):
    """`scenario show` of an unknown name: the ScenarioError reaches engine/__main__.py."""
    wh = tmp_path / "w.duckdb"
    cmd = [sys.executable, "-m", "engine"]
    subprocess.run(cmd + ["init", "--warehouse", str(wh)], check=True, capture_output=True,
                   cwd=REPO, timeout=120)
    proc = subprocess.run(cmd + ["scenario", "show", "nosuch", "--warehouse", str(wh)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("error: There is no saved scenario called 'nosuch' that you can "
                           "see.\n")
