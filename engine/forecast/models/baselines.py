"""Vectorised baselines over all series at once: seasonal naive and moving average
(the moving average doubles as the cold-start model: a category x city profile for series
with little history)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.forecast.config import ForecastConfig
from engine.forecast.registry import ForecastModel, register

OUT = ["sku_id", "pin_code", "date", "forecast"]


def _series_arrays(history: pd.DataFrame):
    """Per series (by sid): position of the last observed period and the values, as a
    padded matrix of the last `width` periods (NaN where the series had not started)."""
    h = history                  # read column by column: no copy of the (large) frame
    sid, pos = h["sid"].to_numpy(), h["pos"].to_numpy()
    ordered = len(h) < 2 or bool(np.all((np.diff(sid) > 0) | ((np.diff(sid) == 0)
                                                               & (np.diff(pos) > 0))))
    if not ordered:   # the panel is built sorted; only foreign frames need sorting
        h = h.sort_values(["sid", "pos"])
        sid = h["sid"].to_numpy()
    first = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if len(sid) else \
        np.array([], dtype=np.int64)
    sids = sid[first]
    counts = np.diff(np.append(first, len(h)))
    last_pos = h["pos"].to_numpy()[first + counts - 1]
    return h, sids, first, counts, last_pos


def _tail_matrix(values: np.ndarray, first: np.ndarray, counts: np.ndarray, width: int):
    m = np.full((len(first), width), np.nan)
    for j in range(width):   # j = periods before the last one (loop over width, not series)
        ok = counts > j
        m[ok, width - 1 - j] = values[first[ok] + counts[ok] - 1 - j]
    return m


class _TailModel(ForecastModel):
    cost = "cheap"

    def _steps(self, future: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        rows = np.searchsorted(self.sids, future["sid"].to_numpy())
        rows = np.clip(rows, 0, max(len(self.sids) - 1, 0))
        known = self.sids[rows] == future["sid"].to_numpy() if len(self.sids) else \
            np.zeros(len(future), bool)
        step = future["pos"].to_numpy() - self.last_pos[rows]
        return rows, step, known

    def _frame(self, future, values, known) -> pd.DataFrame:
        out = future.loc[known, ["sku_id", "pin_code", "date"]].copy()
        out["forecast"] = np.clip(np.nan_to_num(values[known]), 0, None)
        return out


@register("seasonal_naive")
class SeasonalNaive(_TailModel):
    """Same period one season ago (7 days / 52 weeks); the mean of the available history
    when a series is younger than one season. Only routed to for series with two full
    seasons of history: one noisy year-ago week is no forecast for a young weekly series."""

    min_seasons = 2

    def fit(self, history: pd.DataFrame, cfg: ForecastConfig) -> "SeasonalNaive":
        self.m = cfg.season_length
        h, self.sids, first, counts, self.last_pos = _series_arrays(history)
        self.tail = _tail_matrix(h["quantity"].to_numpy(dtype=float), first, counts, self.m)
        self.mean = np.nanmean(np.where(np.isnan(self.tail), np.nan, self.tail), axis=1) \
            if len(self.sids) else np.array([])
        self.full = counts >= self.m
        return self

    def predict(self, horizon: int, future: pd.DataFrame) -> pd.DataFrame:
        rows, step, known = self._steps(future)
        col = (np.clip(step, 1, None) - 1) % self.m
        values = np.where(self.full[rows], self.tail[rows, col], self.mean[rows])
        return self._frame(future, values, known)


@register("moving_average")
class MovingAverage(_TailModel):
    """Flat mean of the last `cfg.moving_average_window` periods. Series younger than
    `COLD_START` periods (or than the window, when it is shorter) are shrunk towards the
    category x city profile (mean demand per series of that category in that city over the
    same window), weight age / that threshold on their own mean."""

    COLD_START = 14

    def fit(self, history: pd.DataFrame, cfg: ForecastConfig) -> "MovingAverage":
        w = cfg.moving_average_window
        h, self.sids, first, counts, self.last_pos = _series_arrays(history)
        tail = _tail_matrix(h["quantity"].to_numpy(dtype=float), first, counts, w)
        with np.errstate(invalid="ignore"):
            own = np.nanmean(tail, axis=1) if len(self.sids) else np.array([])
        profile = self._profile(h, first, own, counts)
        # a series is "young" for COLD_START periods, or one window when that is shorter
        # (8 weeks of weekly data are a full window, not a cold start)
        weight = np.clip(counts / min(self.COLD_START, w), 0, 1)
        self.level = np.where(np.isnan(profile), own, weight * own + (1 - weight) * profile)
        return self

    def _profile(self, h, first, own, counts) -> np.ndarray:
        if "category" not in h.columns or "city" not in h.columns:
            return np.full(len(own), np.nan)
        seg = pd.DataFrame({"category": np.asarray(h["category"].iloc[first], dtype=object),
                            "city": np.asarray(h["city"].iloc[first], dtype=object), "own": own,
                            "mature": counts >= self.COLD_START})
        mature = seg[seg["mature"]]
        # category x city means, looked up by index position; a series with no category
        # or no city has no such profile (it falls back to its category's mean)
        by_cc = mature.groupby(["category", "city"])["own"].mean()
        by_c = mature.groupby("category", dropna=False)["own"].mean()
        at = by_cc.index.get_indexer(pd.MultiIndex.from_frame(seg[["category", "city"]])) \
            if len(by_cc) else np.full(len(seg), -1)
        at[(seg["category"].isna() | seg["city"].isna()).to_numpy()] = -1
        means = np.r_[by_cc.to_numpy(dtype=float), np.nan]      # position -1 -> NaN
        prof = means[np.where(at >= 0, at, len(by_cc))]
        fallback = seg["category"].map(by_c).to_numpy(dtype=float)
        return np.where(np.isnan(prof), fallback, prof)

    def predict(self, horizon: int, future: pd.DataFrame) -> pd.DataFrame:
        rows, _, known = self._steps(future)
        return self._frame(future, self.level[rows], known)
