"""Prophet per series (only on request, on the top-volume series: ~0.3 s per daily
2-year series on this hardware). Festivals enter as holidays with their pre/post windows,
temperature, relative price and the promotion flag as regressors. Uncertainty sampling is
off (it dominates predict time); intervals come from the conformal step like every other
model.

Prophet reads a price / promotion plan itself (`future_covariates`): a planned period
is predicted at its planned price ratio and promotion flag. A period no plan covers is
predicted at the series' usual promotion mix (features._expected_promotion): promotion
flag = its recent promoted share, price ratio = 1 - share + share x its usual promoted
ratio. Prophet is additive in its regressors, so that is exactly the mean of the
promoted and regular forecasts weighted by the share (the mixture LightGBM computes with
two predictions). With a plan the same fitted model also predicts every period at the
mix, `forecast_no_plan`, so the runner does not scale Prophet by another model's lift."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from engine.forecast.config import ForecastConfig
from engine.forecast.parallel import joblib_map
from engine.forecast.registry import ForecastModel, register

REGRESSORS = ("temp_c", "price_ratio", "promo_flag")


def _holidays(festivals: pd.DataFrame | None) -> pd.DataFrame | None:
    if festivals is None or len(festivals) == 0:
        return None
    f = festivals
    return pd.DataFrame({"holiday": f["name"].astype(str), "ds": pd.to_datetime(f["date"]),
                         "lower_window": -f["pre_days"].fillna(0).astype(int).clip(0, 15),
                         "upper_window": f["post_days"].fillna(0).astype(int).clip(0, 7)})


def _future_regressors(fut: pd.DataFrame, plan: bool) -> pd.DataFrame:
    """`fut` with its price ratio and promotion flag at the series' usual promotion mix
    (see the module docstring), except planned rows when `plan` (their planned values)."""
    out = fut.copy()
    rate = (fut["exp_promo_rate"].to_numpy(dtype=float) if "exp_promo_rate" in fut
            else np.zeros(len(fut)))
    ratio = (fut["exp_price_ratio"].to_numpy(dtype=float) if "exp_price_ratio" in fut
             else np.ones(len(fut)))
    keep = (fut["planned"].to_numpy(dtype=bool) if plan and "planned" in fut
            else np.zeros(len(fut), dtype=bool))
    mix = {"promo_flag": rate, "price_ratio": 1.0 - rate + rate * ratio}
    for col, value in mix.items():
        if col in out:
            out[col] = np.where(keep, out[col].to_numpy(dtype=float), value)
    return out


def _fit_one(hist: pd.DataFrame, fut: pd.DataFrame, fut_no_plan: pd.DataFrame | None,
             holidays, weekly: bool, seed: int):
    """(the forecast of `fut`, the same fitted model's forecast of `fut_no_plan` or None)."""
    import cmdstanpy
    from prophet import Prophet

    cmdstanpy.disable_logging()
    logging.getLogger("prophet").setLevel(logging.ERROR)
    y = hist["y"].to_numpy(dtype=float)
    if len(y) < 10 or np.ptp(y) == 0:
        flat = np.full(len(fut), float(y[-28:].mean()) if len(y) else 0.0)
        return flat, None if fut_no_plan is None else flat
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
        preds = [m.predict(f[["ds", *regs]])["yhat"].to_numpy()
                 for f in (fut, fut_no_plan) if f is not None]
    preds = [np.clip(np.nan_to_num(p), 0, None) for p in preds]
    return preds[0], preds[1] if fut_no_plan is not None else None


@register("prophet")
class ProphetModel(ForecastModel):
    cost = "prophet"
    top_n = "prophet_top_n"
    needs_features = True      # temperature and price regressors on every history row
    needs_festivals = True
    worker_processes = True
    future_covariates = True   # reads the plan's price and promotion as regressors
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
        """Forecast rows; with a plan on any row also `forecast_no_plan` (every row at
        the series' usual promotion mix)."""
        fut = future.rename(columns={"date": "ds"})
        planned = "planned" in fut and bool(fut["planned"].any())
        with_plan = _future_regressors(fut, plan=True)
        no_plan = _future_regressors(fut, plan=False) if planned else None
        jobs = []
        for sid, hist in self.history.groupby("sid", sort=True):
            rows = (fut["sid"] == sid).to_numpy()
            if not rows.any():
                continue
            state = hist["state"].iloc[0] if "state" in hist else None
            jobs.append((hist, with_plan[rows], None if no_plan is None else no_plan[rows],
                         self._holidays_for(state)))
        weekly = self.cfg.grain == "W"
        n_jobs = max(1, min(self.cfg.workers, len(jobs)))
        # workers that end with this process (engine.forecast.parallel)
        preds = joblib_map(_fit_one, [(h, f, fn, hol, weekly, self.cfg.seed)
                                      for h, f, fn, hol in jobs], n_jobs)
        parts = []
        for (_, f, _, _), (p, p_no_plan) in zip(jobs, preds):
            part = f[["sku_id", "pin_code", "ds"]].rename(columns={"ds": "date"})
            part["forecast"] = p
            if planned:
                part["forecast_no_plan"] = p_no_plan
            parts.append(part)
        if not parts:
            return pd.DataFrame(columns=["sku_id", "pin_code", "date", "forecast"])
        return pd.concat(parts, ignore_index=True)
