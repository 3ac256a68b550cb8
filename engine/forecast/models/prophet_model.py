"""Prophet per series (only on request, on the top-volume series: ~0.3 s per daily
2-year series on this hardware). Festivals enter as holidays with their pre/post windows,
temperature and relative price as regressors. Uncertainty sampling is off (it dominates
predict time); intervals come from the conformal step like every other model."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from engine.forecast.config import ForecastConfig
from engine.forecast.parallel import joblib_map
from engine.forecast.registry import ForecastModel, register

REGRESSORS = ("temp_c", "price_ratio")


def _holidays(festivals: pd.DataFrame | None) -> pd.DataFrame | None:
    if festivals is None or len(festivals) == 0:
        return None
    f = festivals
    return pd.DataFrame({"holiday": f["name"].astype(str), "ds": pd.to_datetime(f["date"]),
                         "lower_window": -f["pre_days"].fillna(0).astype(int).clip(0, 15),
                         "upper_window": f["post_days"].fillna(0).astype(int).clip(0, 7)})


def _fit_one(hist: pd.DataFrame, fut: pd.DataFrame, holidays, weekly: bool, seed: int):
    import cmdstanpy
    from prophet import Prophet

    cmdstanpy.disable_logging()
    logging.getLogger("prophet").setLevel(logging.ERROR)
    y = hist["y"].to_numpy(dtype=float)
    if len(y) < 10 or np.ptp(y) == 0:
        return np.full(len(fut), float(y[-28:].mean()) if len(y) else 0.0)
    m = Prophet(holidays=holidays, uncertainty_samples=0,
                weekly_seasonality=not weekly, daily_seasonality=False,
                yearly_seasonality=len(hist) >= (104 if weekly else 365))
    regs = [r for r in REGRESSORS if r in hist and hist[r].notna().all() and fut[r].notna().all()
            and hist[r].std() > 0]
    for r in regs:
        m.add_regressor(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.random.seed(seed)
        m.fit(hist[["ds", "y", *regs]], algorithm="LBFGS")
        pred = m.predict(fut[["ds", *regs]])["yhat"].to_numpy()
    return np.clip(np.nan_to_num(pred), 0, None)


@register("prophet")
class ProphetModel(ForecastModel):
    cost = "prophet"
    top_n = "prophet_top_n"
    needs_features = True      # temperature and price regressors on every history row
    needs_festivals = True
    worker_processes = True
    festivals: pd.DataFrame | None = None   # set by the pipeline from Signals

    def fit(self, history: pd.DataFrame, cfg: ForecastConfig) -> "ProphetModel":
        self.cfg = cfg
        cols = ["sid", "date", "quantity", *[r for r in REGRESSORS if r in history], "state"]
        self.history = history[[c for c in cols if c in history]].rename(
            columns={"date": "ds", "quantity": "y"})
        return self

    def _holidays_for(self, state) -> pd.DataFrame | None:
        f = self.festivals
        if f is None or len(f) == 0:
            return None
        states = f["states"].astype(str)
        ok = (states == "ALL") | states.str.split(",").apply(
            lambda xs: state in [x.strip() for x in xs])
        return _holidays(f[ok])

    def predict(self, horizon: int, future: pd.DataFrame) -> pd.DataFrame:
        fut = future.rename(columns={"date": "ds"})
        jobs = []
        for sid, hist in self.history.groupby("sid", sort=True):
            f = fut[fut["sid"] == sid]
            if len(f) == 0:
                continue
            state = hist["state"].iloc[0] if "state" in hist else None
            jobs.append((sid, hist, f, self._holidays_for(state)))
        weekly = self.cfg.grain == "W"
        n_jobs = max(1, min(self.cfg.workers, len(jobs)))
        # workers that end with this process (engine.forecast.parallel)
        preds = joblib_map(_fit_one, [(h, f, hol, weekly, self.cfg.seed)
                                      for _, h, f, hol in jobs], n_jobs)
        parts = []
        for (sid, _, f, _), p in zip(jobs, preds):
            part = f[["sku_id", "pin_code", "ds"]].rename(columns={"ds": "date"})
            part["forecast"] = p
            parts.append(part)
        if not parts:
            return pd.DataFrame(columns=["sku_id", "pin_code", "date", "forecast"])
        return pd.concat(parts, ignore_index=True)
