"""`python -m engine scenario ...` on the small demo warehouse with a forecast: create,
list, show, run (chain printed, result stored, comparison exported), rename, duplicate,
delete; errors as one `error:` line with exit 2, a bad --out refused before the run."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import openpyxl
import pytest

from engine.__main__ import main


@pytest.fixture(scope="module")
def wh_path(small_warehouse_path, tmp_path_factory):
    from engine.scenarios import saved as scenario_store
    from engine.warehouse.db import Warehouse
    from tests.forecast_page_frames import copy_warehouse, forecast_copy

    path = copy_warehouse(forecast_copy(str(small_warehouse_path)),
                          tmp_path_factory.mktemp("scn_cli") / "fc.duckdb")
    wh = Warehouse(path)       # the shared copy may hold other modules' saved scenarios
    try:
        for s in scenario_store.list_scenarios(wh):
            scenario_store.delete(wh, s.scenario_id, "test")
    finally:
        wh.close()
    return path


def _run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:          # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_show_run_rename_duplicate_delete(wh_path, capsys, tmp_path):
    w = ["--warehouse", str(wh_path)]
    code, out, err = _run(capsys, "scenario", "create", "Oil cut", "--category", "Edible Oil",
                          "--price-change", "-10", "--mandi-shock", "10", "--user", "asha",
                          "--json", *w)
    assert code == 0, err
    made = json.loads(out)
    assert made["name"] == "Oil cut" and made["created_by"] == "asha"
    assert made["selection"]["categories"] == ["Edible Oil"]
    assert made["assumptions"]["price_change_pct"] == -10
    assert made["assumptions"]["mandi_price_shock_pct"] == 10

    code, out, _ = _run(capsys, "scenario", "list", *w)
    assert code == 0 and "Oil cut" in out and "price change -10%" in out

    # run: the chain on stdout, the comparison written, the summary stored
    xlsx = tmp_path / "oil.xlsx"
    code, out, err = _run(capsys, "scenario", "run", "oil cut", "--out", str(xlsx), *w)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Scenario 'Oil cut': Edible Oil")
    for label in ("Demand", "Margin", "Orders", "Mandi buying"):
        assert any(line.strip().startswith(label) and "->" in line for line in lines), label
    assert f"Wrote {xlsx}" in out
    book = openpyxl.load_workbook(io.BytesIO(xlsx.read_bytes()))
    assert book.sheetnames == ["Summary", "Demand", "Pricing", "Reorder", "Sourcing"]

    code, out, _ = _run(capsys, "scenario", "show", "Oil cut", "--json", *w)
    shown = json.loads(out)
    steps = {s["step"]: s for s in shown["summary"]["steps"]}
    assert list(steps) == ["demand", "pricing", "reorder", "sourcing"]
    assert steps["demand"]["scenario"] > steps["demand"]["baseline"]   # a price cut
    assert shown["data_version"] == shown["summary"]["version"]
    # the workbook holds the same numbers as the stored summary
    ws = book["Summary"]
    row = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 2).value == "Margin")
    assert ws.cell(row, 5).value == pytest.approx(steps["pricing"]["scenario"], abs=0.01)

    # --json run and an HTML one-pager
    html = tmp_path / "oil.html"
    code, out, err = _run(capsys, "scenario", "run", "Oil cut", "--json", "--out",
                          str(html), *w)
    assert code == 0, err
    body = json.loads(out)
    assert body["out"] == str(html)
    [one] = body["scenarios"]
    assert [s["step"] for s in one["steps"]] == ["demand", "pricing", "reorder", "sourcing"]
    assert one["steps"][1]["scenario"] == pytest.approx(steps["pricing"]["scenario"], abs=0.01)
    assert "Oil cut" in html.read_text(encoding="utf-8")

    code, out, _ = _run(capsys, "scenario", "duplicate", "Oil cut", "Oil copy", *w)
    assert code == 0 and "Copied 'Oil cut' as 'Oil copy'" in out
    code, out, _ = _run(capsys, "scenario", "rename", "Oil copy", "Oil deeper", "--json", *w)
    assert code == 0 and json.loads(out)["name"] == "Oil deeper"
    code, out, _ = _run(capsys, "scenario", "list", "--json", *w)
    assert [s["name"] for s in json.loads(out)] == ["Oil cut", "Oil deeper"]
    for name in ("Oil cut", "Oil deeper"):
        code, out, _ = _run(capsys, "scenario", "delete", name, *w)
        assert code == 0 and out.startswith(f"Deleted scenario '{name}'")
    code, out, _ = _run(capsys, "scenario", "list", "--json", *w)
    assert json.loads(out) == []


@pytest.mark.parametrize("argv, message", [
    (["create", "Bad", "--price-change", "abc"], "--price-change needs a number; got 'abc'."),
    (["create", "Bad", "--service-level", "1.5"], "The service level must be between"),
    (["create", "Bad", "--start", "2026-06-10", "--end", "2026-06-01"], "ends (01-Jun-2026)"),
    (["create", " "], "Give the scenario a name."),
    (["show", "nosuch"], "There is no saved scenario called 'nosuch'"),
    (["run", "nosuch"], "There is no saved scenario called 'nosuch'"),
    (["delete", "nosuch"], "There is no saved scenario called 'nosuch'"),
    (["run", "a", "b", "c", "d"], "Compare at most 3 scenarios"),
])
def test_errors_are_one_sentence_and_exit_2(wh_path, capsys, argv, message):
    code, out, err = _run(capsys, "scenario", *argv, "--warehouse", str(wh_path))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_bad_out_is_refused_before_the_run(wh_path, capsys, tmp_path):
    w = ["--warehouse", str(wh_path)]
    assert _run(capsys, "scenario", "create", "Snacks up", "--category", "Snacks",
                "--demand-shock", "20", *w)[0] == 0
    for bad, why in ((tmp_path / "x.pdf", "use a file name ending in .xlsx or .html"),
                     (tmp_path / "missing" / "x.xlsx", "does not exist"),
                     (tmp_path, "use a file name")):
        code, out, err = _run(capsys, "scenario", "run", "Snacks up", "--out", str(bad), *w)
        assert code == 2 and why in err and out == ""
    code, out, _ = _run(capsys, "scenario", "show", "Snacks up", "--json", *w)
    assert "summary" not in json.loads(out)            # nothing was computed
    code, _out, err = _run(capsys, "scenario", "create", "SNACKS UP", *w)
    assert code == 2 and "already exists" in err
    assert _run(capsys, "scenario", "delete", "Snacks up", *w)[0] == 0


def test_command_line_process_never_prints_a_traceback(wh_path):
    proc = subprocess.run([sys.executable, "-m", "engine", "scenario", "run", "nosuch",
                           "--warehouse", str(wh_path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("error: There is no saved scenario called 'nosuch' that "
                                   "you can see.")
