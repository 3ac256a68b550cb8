"""Accuracy metrics against small hand-computed cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast.metrics import score, seasonal_scale


def _frame(actual, forecast, model="m", **extra):
    n = len(actual)
    df = pd.DataFrame({"model": model, "fold": 0, "sku_id": "A", "pin_code": "110001",
                       "date": pd.date_range("2025-01-01", periods=n), "step": np.arange(1, n + 1),
                       "actual": actual, "forecast": forecast})
    for k, v in extra.items():
        df[k] = v
    return df


def test_wape_mae_rmse_bias_match_hand_computation():
    s = score(_frame([10, 0, 5, 5], [8, 1, 5, 7]), by=[]).iloc[0]
    # errors: 2, -1, 0, -2 -> |e| sum 5, sum |a| 20
    assert s["wape"] == pytest.approx(25.0)
    assert s["mae"] == pytest.approx(5 / 4)
    assert s["rmse"] == pytest.approx(np.sqrt((4 + 1 + 0 + 4) / 4))
    assert s["bias_pct"] == pytest.approx(100 * (21 - 20) / 20)


def test_mape_skips_zero_actuals_and_smape_counts_them():
    s = score(_frame([10, 0, 5, 0], [8, 1, 5, 0]), by=[]).iloc[0]
    # MAPE on non-zero actuals only: (2/10 + 0/5) / 2
    assert s["mape"] == pytest.approx(100 * (0.2 + 0.0) / 2)
    # sMAPE: 2*2/18, 2*1/1, 0, and 0 for the a = f = 0 row
    assert s["smape"] == pytest.approx(100 * (4 / 18 + 2 + 0 + 0) / 4)


def test_mape_is_undefined_when_every_actual_is_zero():
    s = score(_frame([0, 0], [1, 2]), by=[]).iloc[0]
    assert np.isnan(s["mape"]) and np.isnan(s["wape"])


def test_coverage_counts_actuals_inside_the_bounds():
    df = _frame([1, 5, 9, 20], [5, 5, 5, 5], lo=[0, 0, 0, 0], hi=[10, 10, 10, 10],
                lo80=[2, 2, 2, 2], hi80=[8, 8, 8, 8])
    s = score(df, by=[]).iloc[0]
    assert s["coverage95"] == pytest.approx(75.0)
    assert s["coverage80"] == pytest.approx(25.0)


def test_mase_uses_the_scale_column():
    s = score(_frame([4, 6], [5, 5], scale=2.0), by=[]).iloc[0]
    assert s["mase"] == pytest.approx(0.5)
    assert np.isnan(s["rmsse"])               # RMSSE needs its own scale2


def test_rmsse_is_the_mean_over_series_of_each_series_rmsse():
    # series A: errors -1, 1 -> MSE 1, scale2 4 -> 0.5; series B: errors 0, 3 -> MSE 4.5,
    # scale2 2 -> 1.5; mean over the two series 1.0 (a pooled ratio would give 0.73)
    a = _frame([4, 6], [5, 5], scale2=4.0)
    b = _frame([2, 5], [2, 2], scale2=2.0).assign(sku_id="B")
    s = score(pd.concat([a, b]), by=[]).iloc[0]
    assert s["rmsse"] == pytest.approx(1.0)
    by_sku = score(pd.concat([a, b]), by=["sku_id"]).set_index("sku_id")["rmsse"]
    assert by_sku.to_dict() == pytest.approx({"A": 0.5, "B": 1.5})


def test_fva_compares_against_seasonal_naive_on_the_same_points():
    model = _frame([10, 10], [9, 11], model="lightgbm")
    naive = _frame([10, 10], [6, 14], model="seasonal_naive")
    s = score(pd.concat([model, naive]), by=["model"]).set_index("model")
    assert s.loc["lightgbm", "fva_pct"] == pytest.approx(100 * (1 - 2 / 8))
    assert s.loc["seasonal_naive", "fva_pct"] == pytest.approx(0.0)


def test_directional_accuracy_compares_moves_from_the_previous_actual():
    # actual moves: 10->12 up, 12->8 down, 8->8 flat; forecasts move up, up, flat
    s = score(_frame([10, 12, 8, 8], [10, 13, 13, 8]), by=[]).iloc[0]
    assert s["directional_accuracy"] == pytest.approx(100 * 2 / 3)


def test_score_groups_by_any_column_and_does_not_mutate_input():
    df = pd.concat([_frame([1, 2], [1, 2], category="Dairy"),
                    _frame([2, 2], [0, 0], category="Sweets")])
    before = df.copy()
    s = score(df, by=["category"]).set_index("category")
    assert s.loc["Dairy", "wape"] == 0 and s.loc["Sweets", "wape"] == 100
    pd.testing.assert_frame_equal(df, before)


def test_seasonal_scale_is_the_mean_absolute_seasonal_difference():
    y = np.array([1, 2, 3, 4, 5, 6, 7, 3, 2, 3, 4, 5, 6, 7], dtype=float)
    assert seasonal_scale(y, 7) == pytest.approx(np.mean(np.abs(y[7:] - y[:-7])))
