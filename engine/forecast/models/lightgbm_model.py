"""Global LightGBM over all series: Tweedie (or Poisson) objective for count demand,
categorical category / city / state, calendar, recent-demand, price, festival and weather
features (engine.forecast.features). One model per run serves every horizon step because
demand lags start at the horizon. The reference festival effects enter as a log offset
(a prior the trees correct), because a festival like Diwali occurs once a year and two
years of history hold too few festival days for trees to learn a 3x peak on their own."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from engine.forecast.config import ForecastConfig
from engine.forecast.features import (ATTRIBUTES, CALENDAR, CATEGORICAL, FESTIVAL, PRICE,
                                      WEATHER)
from engine.forecast.registry import ForecastModel, register

# OpenMP threads that wait for work sleep instead of spinning. LightGBM's training opens
# thousands of short parallel regions; with the default (spin for ~300,000 iterations at
# every barrier) a thread that another process has pushed off its core holds the others
# spinning, and on a shared 2-core machine a 2-thread fit ran 5x slower than 1 thread
# (259 s vs 55 s on 300,000 rows); passive waiting: 31-48 s. The trees are the same
# (deterministic=True; checked identical across thread counts and wait policies). Read
# by libgomp when LightGBM loads it, so set here, before the first `import lightgbm`; a
# value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEMAND = ["step", "lag_origin", "roll_mean_7", "roll_mean_28", "roll_mean_91", "roll_mean_4",
          "roll_mean_13", "roll_mean_26", "zero_frac", "momentum", "expanding_mean",
          "same_dow_mean", "yoy_mean", "sku_level", "sku_momentum", "pin_level",
          "pin_momentum"]
GROUPS = {
    "recent_demand": DEMAND,
    "trend_seasonality": CALENDAR + ["age"] + ATTRIBUTES,
    "price": PRICE,
    "festival": FESTIVAL,
    "weather": WEATHER,
}


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for group in GROUPS.values() for c in group if c in frame.columns]


@register("lightgbm")
class LightGBMModel(ForecastModel):
    cost = "cheap"
    scope = "global"           # one model over every series' rows
    needs_features = True      # the runner passes the panel's featurised training rows
    future_covariates = True   # reads the plan's prices and promotions


    def fit(self, history: pd.DataFrame, cfg: ForecastConfig) -> "LightGBMModel":
        import lightgbm as lgb

        self.cfg = cfg
        self.features = feature_columns(history)
        self.categorical = [c for c in CATEGORICAL if c in self.features]
        train = self.training_rows(history, cfg)
        if len(train) > cfg.lgb_max_rows:   # a seeded uniform sample keeps fits fast
            keep = np.random.default_rng(cfg.seed).choice(len(train), cfg.lgb_max_rows,
                                                          replace=False)
            train = train.iloc[np.sort(keep)]
        X = train[self.features].astype(float)
        y = train["quantity"].to_numpy(dtype=float)
        params = {
            "objective": cfg.lgb_objective, "learning_rate": cfg.param("lgb_learning_rate", 0.15),
            "num_leaves": cfg.param("lgb_num_leaves", 31),
            "min_data_in_leaf": int(np.clip(len(train) // 2000, 10, 100)),
            "feature_fraction": cfg.param("lgb_feature_fraction", 0.8),
            "bagging_fraction": cfg.param("lgb_bagging_fraction", 0.5),
            "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 63, "seed": cfg.seed,
            # OpenMP threads busy-wait: on small data or a shared 2-core box one thread
            # is several times faster than two.
            "num_threads": max(1, cfg.workers) if len(train) > 200_000 else 1, "verbose": -1, "deterministic": True,
            "force_row_wise": True,
        }
        if cfg.lgb_objective == "tweedie":
            params["tweedie_variance_power"] = cfg.param("lgb_tweedie_power", 1.2)
        self.constant = None
        if len(y) == 0 or np.ptp(y) == 0:   # nothing to learn: flat forecast
            self.constant = float(y[0]) if len(y) else 0.0
            self.booster = None
            return self
        offset = self.offset(train)
        weight = None
        if cfg.half_life:        # recent periods count more (see ForecastConfig.train_periods)
            last = self.train_end(history)
            age = (last - pd.to_datetime(train["date"])).dt.days.to_numpy() / cfg.period_days
            weight = np.power(0.5, np.maximum(age, 0.0) / float(cfg.half_life))
        # LightGBM does not boost from the average when given an init score: do it here
        self.init_base = float(np.log(max(np.average(y / np.exp(offset), weights=weight), 1e-6)))
        data = lgb.Dataset(X, label=y, categorical_feature=self.categorical, weight=weight,
                           init_score=offset + self.init_base, free_raw_data=True)
        self.booster = lgb.train(params, data, num_boost_round=cfg.lgb_rounds)
        return self

    @staticmethod
    def train_end(history: pd.DataFrame) -> pd.Timestamp:
        """The last period LightGBM may learn from: the run's cutoff (else the last date)."""
        return pd.Timestamp(history.attrs.get("cutoff", history["date"].max()))

    @staticmethod
    def training_rows(history: pd.DataFrame, cfg: ForecastConfig) -> pd.DataFrame:
        """The rows `fit` learns from (before its seeded sample): the last
        `cfg.train_periods` periods before the cutoff with a forecast origin; all rows
        when that leaves fewer than 50 (very young data)."""
        last = LightGBMModel.train_end(history)
        start = last - pd.Timedelta(days=cfg.train_periods * cfg.period_days)
        train = history[(history["date"] > start) & history["lag_origin"].notna()] \
            if "lag_origin" in history else history
        return history if len(train) < 50 else train

    def predict(self, horizon: int, future: pd.DataFrame) -> pd.DataFrame:
        """The expected forecast; the forecast at the rows' own prices (no unplanned
        promotions mixed in) is kept as `own_forecast` for the drivers."""
        out = future[["sku_id", "pin_code", "date"]].copy()
        self.own_forecast, out["forecast"] = self.expected_parts(future)
        return out

    def expected(self, future: pd.DataFrame, X: np.ndarray | None = None,
                 offset: np.ndarray | None = None) -> np.ndarray:
        """Forecast of future rows. A row without a planned price or promotion is the
        mixture (1 - rate) x f(regular price, no promotion) + rate x f(promoted at the
        series' usual promotional price), rate = the series' recent share of promoted
        periods (features.exp_promo_rate): promotions will come, only not on known dates.
        f(promoted) is predicted with the promotion features set (see expected_parts).
        `X` / `offset` may be given (e.g. a matrix already built)."""
        return self.expected_parts(future, X, offset)[1]

    def expected_parts(self, future: pd.DataFrame, X: np.ndarray | None = None,
                       offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(forecast at the rows' own prices and promotions - the plan's where planned,
        regular price and none elsewhere; the expected forecast: planned rows as planned,
        unplanned rows with unplanned promotions mixed in). Also sets `no_plan_forecast`,
        the expected forecast had there been no plan (None when nothing is planned): the
        planned rows at regular price with the mixture, which is what scales the models
        that cannot read a plan, and what the Forecast page compares with.
        The promoted scenario costs one more prediction on the rows with a promotion
        rate above zero."""
        own_matrix = X is None             # built here: free to modify, no restore
        X = self.feature_matrix(future) if X is None else X
        offset = self.offset(future) if offset is None else offset
        f = self.predict_matrix(X, offset)
        self.no_plan_forecast = None
        if self.booster is None:
            return f, f
        cols = {c: j for j, c in enumerate(self.features)}
        planned = (future["planned"].to_numpy(dtype=bool) if "planned" in future
                   else np.zeros(len(f), dtype=bool))
        regular = f
        if planned.any():                 # the planned rows at regular price, no promotion
            Xr = X[planned]
            for col, value in (("promo_flag", 0.0), ("price_ratio", 1.0),
                               ("discount_depth", 0.0), ("feature_flag", 0.0),
                               ("display_flag", 0.0), ("tpr_flag", 0.0)):
                if col in cols:
                    Xr[:, cols[col]] = value
            regular = f.copy()
            regular[planned] = self.predict_matrix(Xr, offset[planned])
        rate = (future["exp_promo_rate"].to_numpy(dtype=float) if "exp_promo_rate" in future
                else np.zeros(len(f)))
        expected = regular
        if (rate > 0).any() and "promo_flag" in cols:
            # every row that may see a promotion, predicted promoted at the series' usual
            # promotional price (reading the lift at a few steps per series instead ran
            # 1.6 points of bias higher on the real weekly benchmark)
            probe = np.flatnonzero(rate > 0)
            ratio = future["exp_price_ratio"].to_numpy(dtype=float)[probe]
            usual = {f"{k}_flag": future[f"exp_{k}"].to_numpy(dtype=float)[probe]
                     for k in ("feature", "display", "tpr") if f"exp_{k}" in future}
            setting = [(cols[col], value) for col, value in (
                ("promo_flag", 1.0), ("price_ratio", ratio),
                ("discount_depth", np.clip(1.0 - ratio, 0, 1)),
                *usual.items()) if col in cols]       # promoted as the series usually is
            promoted = regular.copy()
            if len(probe) >= 0.9 * len(f):
                # (nearly) every row: set the promoted values in X itself and predict all
                # rows, instead of a copy of the matrix (each row is scored on its own, so
                # the probed rows get the same numbers); the caller's X is restored
                saved = {} if own_matrix else {j: X[probe, j] for j, _ in setting}
                for j, value in setting:
                    X[probe, j] = value
                try:
                    promoted[probe] = self.predict_matrix(X, offset)[probe]
                finally:
                    for j, values in saved.items():
                        X[probe, j] = values
            else:
                Xp = X[probe]                            # a copy (fancy indexing)
                for j, value in setting:
                    Xp[:, j] = value
                promoted[probe] = self.predict_matrix(Xp, offset[probe])
            expected = (1 - rate) * regular + rate * promoted
        if planned.any():
            self.no_plan_forecast = expected
        return f, np.where(planned, f, expected)

    def feature_matrix(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The model's features of `frame` as one float matrix (None for a flat model)."""
        if self.booster is None:
            return None
        # column by column into one C-ordered matrix (LightGBM's row-major layout), not
        # through the frame's block consolidation
        X = np.empty((len(frame), len(self.features)))
        for j, col in enumerate(self.features):
            X[:, j] = frame[col].to_numpy(dtype=float)
        return X

    def predict_matrix(self, X: np.ndarray | None, offset: np.ndarray) -> np.ndarray:
        """Forecast (units, >= 0) from a feature matrix and the log festival offset."""
        if self.booster is None:
            return np.full(len(offset), self.constant, dtype=float)
        raw = self.booster.predict(X, raw_score=True)
        pred = np.exp(raw + self.init_base + offset)
        return np.clip(np.nan_to_num(pred, posinf=0.0), 0, None)

    @staticmethod
    def offset(frame: pd.DataFrame) -> np.ndarray:
        """Log-scale prior: the festival uplift of the reference effects table
        (festival_intensity = log multiplier for the row's category, state and date). The
        trees learn corrections on top, so history can overrule the table."""
        if "festival_intensity" not in frame:
            return np.zeros(len(frame))
        return np.nan_to_num(frame["festival_intensity"].to_numpy(dtype=float))

    def contributions(self, future: pd.DataFrame) -> pd.DataFrame:
        """Per-row feature contributions (`pred_contrib`, TreeSHAP) summed by driver group,
        in the model's log scale: forecast = exp(base + sum of groups)."""
        out = future[["sku_id", "pin_code", "date"]].copy()
        if self.booster is None:
            out["base"] = np.log(max(self.constant, 1e-9))
            for g in GROUPS:
                out[g] = 0.0
            return out
        contrib = self.booster.predict(future[self.features].astype(float), pred_contrib=True)
        cols = {f: i for i, f in enumerate(self.features)}
        out["base"] = contrib[:, -1] + self.init_base
        for group, members in GROUPS.items():
            idx = [cols[f] for f in members if f in cols]
            out[group] = contrib[:, idx].sum(axis=1) if idx else 0.0
        out["festival"] = out["festival"] + self.offset(future)
        return out
