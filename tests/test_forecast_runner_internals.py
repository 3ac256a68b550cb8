"""Runner helpers that the routed pipeline relies on at scale: matching model outputs to
their future rows, picking the top-volume series, and cutting history at a cutoff."""
import numpy as np
import pandas as pd

from engine.forecast.features import cut_history
from engine.forecast.runner import _with_positions, top_series


def _future() -> pd.DataFrame:
    return pd.DataFrame({"sku_id": ["A", "A", "B", "B"], "pin_code": ["560001"] * 4,
                         "date": pd.to_datetime(["2025-01-01", "2025-01-02"] * 2),
                         "sid": [0, 0, 1, 1], "pos": [10, 11, 5, 6]},
                        index=[40, 41, 42, 43])


def test_outputs_keeping_the_future_index_get_sid_and_pos_by_position():
    fut = _future()
    out = fut.loc[[43, 40], ["sku_id", "pin_code", "date"]].assign(forecast=[1.0, 2.0])
    got = _with_positions(out, fut)
    assert got["sid"].tolist() == [1, 0] and got["pos"].tolist() == [6, 10]
    assert got["forecast"].tolist() == [1.0, 2.0]


def test_reindexed_outputs_are_matched_on_keys_and_date_not_on_position():
    fut = _future()
    # a model that renumbered its rows 0..n-1: positions 0/1 do not exist in the future
    # index, and rows 40/41 given in the wrong order must not be taken by position
    out = pd.DataFrame({"sku_id": ["B", "A"], "pin_code": ["560001"] * 2,
                        "date": pd.to_datetime(["2025-01-02", "2025-01-01"]),
                        "forecast": [3.0, 4.0]}, index=[40, 41])
    got = _with_positions(out, fut)
    assert got["sid"].tolist() == [1, 0] and got["pos"].tolist() == [6, 10]


def test_top_series_ranks_recent_volume_with_ties_to_the_smaller_sid():
    hist = pd.DataFrame({"sid": [0, 0, 0, 1, 1, 2, 2, 3],
                         "pos": [0, 1, 2, 0, 1, 0, 1, 0],
                         "quantity": [100.0, 0.0, 1.0, 5.0, 1.0, 0.0, 2.0, 2.0]})
    # last 2 periods: sid0 -> 0 + 1 = 1 (the 100 is too old), sid1 -> 6, sid2 -> 2, sid3 -> 2
    assert top_series(hist, 3, periods=2).tolist() == [1, 2, 3]


def test_cut_history_returns_the_same_frame_when_nothing_is_later():
    h = pd.DataFrame({"date": pd.to_datetime(["2025-01-01", "2025-01-03"]), "q": [1, 2]})
    assert cut_history(h, "2025-01-03") is h
    cut = cut_history(h, "2025-01-02")
    assert cut["q"].tolist() == [1] and np.all(cut["date"] <= pd.Timestamp("2025-01-02"))
