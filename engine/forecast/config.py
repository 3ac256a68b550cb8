"""Forecast configuration and the typed errors a user can meet while forecasting."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date

import pandas as pd

DEFAULT_MODELS: tuple[str, ...] = ("seasonal_naive", "moving_average", "ets", "lightgbm")
GRAINS = ("D", "W")


class ForecastError(Exception):
    """A forecasting problem a user can act on; `evidence` holds the offending values."""

    def __init__(self, message: str, evidence=None, code: str = "forecast_error"):
        super().__init__(message)
        self.evidence = evidence
        self.code = code


class ForecastConfigError(ForecastError):
    """The forecast settings are not usable (bad horizon, unknown model, ...)."""


@dataclass(frozen=True)
class ForecastConfig:
    """Everything that decides a forecast run. Frozen, hashable, so pages can cache on it.

    `horizon` and `step` count periods of the data's grain (days for daily data, weeks for
    weekly data); `grain=None` detects it from the dates.
    """

    horizon: int = 28
    cutoff: date | None = None           # last date the models may see (default: last sale)
    grain: str | None = None             # "D", "W" or None (detect)
    models: tuple[str, ...] = DEFAULT_MODELS
    route: bool = True                   # pick the best model per series from the backtest
    ensemble: bool = True                # allow an inverse-error weighted blend of the top two
    folds: int = 3                       # rolling-origin folds for backtest and routing
    step: int | None = None              # periods between fold origins (default: horizon)
    stat_top_n: int = 150                # ETS / ARIMA run on the top-N series by volume
    prophet_top_n: int = 20              # Prophet (only when listed in models) on the top-N
    ma_window: int | None = None         # moving-average window (default 28 days / 8 weeks)
    lgb_rounds: int = 150
    lgb_objective: str = "tweedie"       # "tweedie" or "poisson"
    lgb_max_rows: int = 500_000          # LightGBM trains on a seeded sample beyond this
    lgb_train_periods: int | None = None  # recent periods LightGBM trains on (default 1.1y)
    min_route_points: int = 28           # series with fewer backtest points route by segment
    seed: int = 42
    workers: int = 2
    params: tuple[tuple[str, object], ...] = field(default_factory=tuple)

    def __post_init__(self):
        if not isinstance(self.horizon, int) or self.horizon < 1:
            raise ForecastConfigError(
                f"The forecast horizon must be a whole number of periods of at least 1, "
                f"got {self.horizon!r}.", evidence={"horizon": self.horizon},
                code="bad_horizon")
        if self.grain not in (None, *GRAINS):
            raise ForecastConfigError(
                f"Grain must be 'D' (daily) or 'W' (weekly), got {self.grain!r}.",
                evidence={"grain": self.grain}, code="bad_grain")
        if self.folds < 1:
            raise ForecastConfigError(f"A backtest needs at least 1 fold, got {self.folds}.",
                                      evidence={"folds": self.folds}, code="bad_folds")
        if self.lgb_objective not in ("tweedie", "poisson"):
            raise ForecastConfigError(
                f"LightGBM objective must be 'tweedie' or 'poisson', got {self.lgb_objective!r}.",
                evidence={"lgb_objective": self.lgb_objective}, code="bad_objective")
        if not self.models:
            raise ForecastConfigError("Choose at least one model.", code="no_models")
        if self.cutoff is not None:
            object.__setattr__(self, "cutoff", pd.Timestamp(self.cutoff).date())
        object.__setattr__(self, "models", tuple(self.models))

    # ---- derived values -------------------------------------------------------------
    def with_(self, **changes) -> "ForecastConfig":
        return replace(self, **changes)

    @property
    def period_days(self) -> int:
        return 7 if self.grain == "W" else 1

    @property
    def season_length(self) -> int:
        return 52 if self.grain == "W" else 7

    @property
    def fold_step(self) -> int:
        return self.step or self.horizon

    @property
    def moving_average_window(self) -> int:
        return self.ma_window or (8 if self.grain == "W" else 28)

    @property
    def train_periods(self) -> int:
        return self.lgb_train_periods or (60 if self.grain == "W" else 400)

    def param(self, key: str, default=None):
        return dict(self.params).get(key, default)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cutoff"] = None if self.cutoff is None else self.cutoff.isoformat()
        out["models"] = list(self.models)
        out["params"] = {k: v for k, v in self.params}
        return out


@dataclass(frozen=True)
class ScenarioConfig:
    """A what-if on top of a base forecast (see `engine.forecast.drivers.scenario`)."""

    price_change_pct: float = 0.0     # +10 = price 10% higher than planned
    temp_anomaly_c: float = 0.0       # degrees C above the expected temperature
    rain_anomaly_mm: float = 0.0      # mm/day above the expected rainfall
    festival_intensity: float = 1.0   # 1 = festivals as usual, 0 = none, 1.5 = 50% stronger
    promo: bool = False               # run a promotion (typical discount of the category)
