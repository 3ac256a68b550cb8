"""Per-series statistical models (statsmodels): ETS and (seasonal) ARIMA, fitted in
parallel over series with joblib. Series too short or too flat for the model fall back to a
flat mean, so every series gets a finite, non-negative forecast."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from engine.forecast.config import ForecastConfig
from engine.forecast.registry import ForecastModel, register

MAX_FIT_PERIODS = {"D": 365, "W": 156}


def _flat(y: np.ndarray, h: int, window: int = 28) -> np.ndarray:
    tail = y[-window:]
    return np.full(h, float(tail.mean()) if len(tail) else 0.0)


def _fit_ets(y: np.ndarray, h: int, m: int) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = "add" if len(y) >= 2 * m + 2 else None
    model = ExponentialSmoothing(y, trend=None, seasonal=seasonal,
                                 seasonal_periods=m if seasonal else None,
                                 initialization_method="estimated")
    return np.asarray(model.fit(optimized=True).forecast(h))


def _fit_arima(y: np.ndarray, h: int, m: int) -> np.ndarray:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = (1, 0, 1, m) if len(y) >= 3 * m and m <= 12 else (0, 0, 0, 0)
    res = SARIMAX(y, order=(1, 0, 1), seasonal_order=seasonal, trend="c",
                  enforce_stationarity=False, enforce_invertibility=False).fit(disp=False,
                                                                               maxiter=50)
    return np.asarray(res.forecast(h))


FITTERS = {"ets": _fit_ets, "arima": _fit_arima}


def _run_chunk(kind: str, chunk: list[tuple[int, np.ndarray]], h: int, m: int):
    fitter = FITTERS[kind]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sid, y in chunk:
            fc = None
            if len(y) >= 10 and np.ptp(y) > 0:
                try:
                    fc = fitter(y, h, m)
                except Exception:   # numerical failure on an odd series: flat fallback
                    fc = None
            if fc is None or not np.all(np.isfinite(fc)):
                fc = _flat(y, h)
            out.append((sid, np.clip(fc, 0, None)))
    return out


class _PerSeries(ForecastModel):
    cost = "statistical"
    kind = ""

    def fit(self, history: pd.DataFrame, cfg: ForecastConfig) -> "_PerSeries":
        self.cfg = cfg
        grain = "W" if cfg.grain == "W" else "D"
        cap = MAX_FIT_PERIODS[grain]
        h = history[["sid", "pos", "quantity"]].sort_values(["sid", "pos"])
        sids, first = np.unique(h["sid"].to_numpy(), return_index=True)
        ends = np.append(first[1:], len(h))
        y = h["quantity"].to_numpy(dtype=float)
        self.series = [(int(s), y[max(a, b - cap):b]) for s, a, b in zip(sids, first, ends)]
        self.last_pos = dict(zip(sids.tolist(), h["pos"].to_numpy()[ends - 1].tolist()))
        return self

    def predict(self, horizon: int, future: pd.DataFrame) -> pd.DataFrame:
        m = self.cfg.season_length
        n_jobs = max(1, min(self.cfg.workers, len(self.series) // 20 or 1))
        chunks = [self.series[i::n_jobs * 4] for i in range(n_jobs * 4)]
        chunks = [c for c in chunks if c]
        if n_jobs == 1:
            results = [_run_chunk(self.kind, c, horizon, m) for c in chunks]
        else:
            results = Parallel(n_jobs=n_jobs)(
                delayed(_run_chunk)(self.kind, c, horizon, m) for c in chunks)
        fc = {sid: values for part in results for sid, values in part}
        fut = future[future["sid"].isin(fc)]
        step = fut["pos"].to_numpy() - fut["sid"].map(self.last_pos).to_numpy()
        vals = np.array([fc[s][k - 1] if 1 <= k <= horizon else np.nan
                         for s, k in zip(fut["sid"].to_numpy(), step)])
        out = fut[["sku_id", "pin_code", "date"]].copy()
        out["forecast"] = np.nan_to_num(vals)
        return out


@register("ets")
class ETSModel(_PerSeries):
    """Holt-Winters: level plus additive weekly (or yearly-in-weeks) season. No trend term:
    an additive damped trend cost ~4x the fit time (0.39 s vs 0.09 s per 365-day series,
    measured here) and the level adapts within a 4-week horizon anyway. Fitted on the last
    year (daily) / three years (weekly) of each series."""

    kind = "ets"


@register("arima")
class ARIMAModel(_PerSeries):
    """SARIMA(1,0,1)(1,0,1,7) with a constant on the last year of each daily series;
    ARIMA(1,0,1) for weekly series (a 52-week seasonal ARIMA is too slow to be useful)."""

    kind = "arima"
