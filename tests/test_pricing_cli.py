"""`python -m engine elasticity` and `price-optimize` on the small demo warehouse."""
from __future__ import annotations

import json

import pandas as pd

from engine.__main__ import main


def test_elasticity_cli_writes_contract_columns(small_warehouse_path, tmp_path, capsys):
    out = tmp_path / "el.csv"
    assert main(["elasticity", "--warehouse", str(small_warehouse_path), "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out, dtype={"sku_id": str})
    assert list(table.columns[:8]) == ["sku_id", "elasticity", "lo", "hi", "n_obs", "method",
                                       "sufficient", "spec"]
    assert table["spec"].str.startswith(("ppml", "nb-pml", "category value",
                                         "all categories value")).all()
    assert summary["skus"] == len(table) and summary["sufficient"] == int(table["sufficient"].sum())
    assert (table["lo"] <= table["elasticity"]).all() and (table["elasticity"] <= table["hi"]).all()
    assert (table["elasticity"] < 0).mean() > 0.9


def test_price_optimize_cli_respects_max_change(small_warehouse_path, tmp_path, capsys):
    out = tmp_path / "recs.csv"
    code = main(["price-optimize", "--warehouse", str(small_warehouse_path), "--objective",
                 "margin", "--min-margin", "0.15", "--max-change", "0.1", "--out", str(out),
                 "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["status"] == "Optimal"
    assert "naive baseline" in summary["baseline"] or "forecast run" in summary["baseline"]
    recs = pd.read_csv(out)
    assert (recs["change_pct"].abs() <= 0.1 + 1e-9).all()
    assert summary["margin"] >= summary["baseline_margin"]
    assert recs["reason"].str.len().gt(10).all()


def test_price_optimize_cli_explains_infeasible_rules(small_warehouse_path, capsys):
    code = main(["price-optimize", "--warehouse", str(small_warehouse_path), "--min-margin",
                 "0.9", "--margin-scope", "sku", "--max-change", "0.05", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 1 and payload["status"] == "infeasible"
    assert "min_margin" in payload["relax"]
    assert payload["message"].startswith("No price list meets every rule. Relax ")


def test_elasticity_cli_by_region_writes_one_row_per_sku_and_region(small_warehouse_path, tmp_path,
                                                                    capsys):
    out = tmp_path / "el_region.csv"
    assert main(["elasticity", "--by", "region", "--warehouse", str(small_warehouse_path),
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out, dtype={"sku_id": str})
    assert list(table.columns[:9]) == ["sku_id", "region", "elasticity", "lo", "hi", "n_obs",
                                       "method", "sufficient", "note"]
    assert summary["cells"] == len(table) and not table.duplicated(["sku_id", "region"]).any()
    assert set(table["method"]) <= {"pml+eb", "sku_fallback"}
    fallback = table[~table["sufficient"]]
    assert (fallback["elasticity"] == fallback["national_elasticity"]).all()
    assert (table["lo"] <= table["elasticity"]).all() and (table["elasticity"] <= table["hi"]).all()


def test_elasticity_cli_by_subcategory_reports_cross_elasticities(small_warehouse_path, tmp_path,
                                                                  capsys):
    out = tmp_path / "cross.csv"
    assert main(["elasticity", "--by", "subcategory", "--warehouse", str(small_warehouse_path),
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out)
    assert list(table.columns[:5]) == ["category", "subcategory", "cross_elasticity", "lo", "hi"]
    assert summary["subcategories"] == len(table) and (table["n_skus"] >= 0).all()
    est = table[table["cross_elasticity"].notna()]
    assert (est["lo"] <= est["cross_elasticity"]).all() and (est["cross_elasticity"] <= est["hi"]).all()
    # the design of each pooled value, with its specification term where not negligible
    assert len(est) and est["spec"].str.contains("SE clustered by").all()
    assert est["spec"].str.contains("random-effects pooled over").all()
    spread = est["spec"].str.extract(r"SE \+ ([0-9.]+) PPML-to-log-scale spread")[0]
    assert spread.notna().any()
