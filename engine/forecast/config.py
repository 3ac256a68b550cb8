"""Forecast configuration and the typed errors a user can meet while forecasting."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from engine.errors import MicroPulseError

# The models a run tries when none are named, per grain of the data. Every one fits every
# series: the vectorised baselines, the global LightGBM and, from statsforecast, TSB
# (~0.2 ms a series) and on weekly data IMAPA (~0.5 ms a weekly series; on a daily panel
# of 100,000 series it would add a minute a fit). ETS, Theta, ARIMA, CES, Croston, SES and
# Prophet run on request (`python -m engine forecast --models ...`). CES is left out of
# the defaults because its forecasts ran 10-18% low on every real-data backtest window.
DEFAULT_MODELS_BY_GRAIN: dict[str, tuple[str, ...]] = {
    "D": ("seasonal_naive", "moving_average", "tsb", "lightgbm"),
    "W": ("seasonal_naive", "moving_average", "tsb", "imapa", "lightgbm"),
}
DEFAULT_HORIZON = {"D": 28, "W": 13}     # four weeks of days, a quarter of weeks
GRAINS = ("D", "W")


class ForecastError(MicroPulseError):
    """A forecasting problem a user can act on; `evidence` holds the offending values."""

    code = "forecast_error"

    def __init__(self, message: str, evidence=None, code: str | None = None):
        super().__init__(message, evidence, code=code)


class ForecastConfigError(ForecastError):
    """The forecast settings are not usable (bad horizon, unknown model, ...)."""

    code = "forecast_config_error"


@dataclass(frozen=True)
class ForecastConfig:
    """Everything that decides a forecast run. Frozen, hashable, so pages can cache on it.

    `horizon` and `step` count periods of the data's grain (days for daily data, weeks for
    weekly data); `grain=None` detects it from the dates. `horizon`, `models` and `folds`
    left at None take the grain's defaults once the grain is known (`for_grain`).
    """

    horizon: int | None = None           # default: 28 days / 13 weeks
    cutoff: date | None = None           # last date the models may see (default: last sale)
    grain: str | None = None             # "D", "W" or None (detect)
    models: tuple[str, ...] | None = None  # default: DEFAULT_MODELS_BY_GRAIN
    route: bool = True                   # pick the best model or mix per segment (backtest)
    ensemble: bool = True                # allow equal-weight mixes of the segment's best models
    folds: int | None = None             # rolling-origin folds (default: see `for_grain`)
    step: int | None = None              # periods between fold origins (default: horizon)
    stat_top_n: int = 150                # ETS / ARIMA run on the top-N series by volume
    prophet_top_n: int = 20              # Prophet (only when listed in models) on the top-N
    ma_window: int | None = None         # moving-average window (default 28 days / 8 weeks)
    lgb_rounds: int = 150
    lgb_objective: str = "tweedie"       # "tweedie" or "poisson"
    lgb_max_rows: int = 500_000          # LightGBM trains on a seeded sample beyond this
    lgb_train_periods: int | None = None  # recent periods LightGBM trains on (see train_periods)
    lgb_half_life: int | None = None     # periods over which a training row's weight halves
    seed: int = 42
    workers: int = 2
    params: tuple[tuple[str, object], ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.horizon is not None and (not isinstance(self.horizon, int) or self.horizon < 1):
            raise ForecastConfigError(
                f"The forecast horizon must be a whole number of periods of at least 1, "
                f"got {self.horizon!r}.", evidence={"horizon": self.horizon},
                code="bad_horizon")
        if self.grain not in (None, *GRAINS):
            raise ForecastConfigError(
                f"Grain must be 'D' (daily) or 'W' (weekly), got {self.grain!r}.",
                evidence={"grain": self.grain}, code="bad_grain")
        if self.folds is not None and self.folds < 1:
            raise ForecastConfigError(f"A backtest needs at least 1 fold, got {self.folds}.",
                                      evidence={"folds": self.folds}, code="bad_folds")
        if self.lgb_objective not in ("tweedie", "poisson"):
            raise ForecastConfigError(
                f"LightGBM objective must be 'tweedie' or 'poisson', got {self.lgb_objective!r}.",
                evidence={"lgb_objective": self.lgb_objective}, code="bad_objective")
        if self.models is not None and not self.models:
            raise ForecastConfigError("Choose at least one model.", code="no_models")
        if self.cutoff is not None:
            object.__setattr__(self, "cutoff", pd.Timestamp(self.cutoff).date())
        if self.models is not None:
            object.__setattr__(self, "models", tuple(self.models))
        if self.grain is not None:
            self._fill_defaults()

    def _fill_defaults(self) -> None:
        """Grain defaults for what was left at None (the config stays frozen to callers)."""
        g = self.grain
        if self.horizon is None:
            object.__setattr__(self, "horizon", DEFAULT_HORIZON[g])
        if self.models is None:
            object.__setattr__(self, "models", DEFAULT_MODELS_BY_GRAIN[g])
        if self.folds is None:
            # weekly: enough folds for the backtest to span a year (every season's errors
            # calibrate the intervals and judge the models), at least 3, at most 8
            folds = 3 if g == "D" else int(np.clip(np.ceil(52 / self.horizon), 3, 8))
            object.__setattr__(self, "folds", folds)

    def for_grain(self, grain: str) -> "ForecastConfig":
        """This config with the grain set and its defaults filled in."""
        return replace(self, grain=grain)

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
        """Daily data: the last 400 days (a year and a season of weekdays). Weekly data:
        three years, weighted by recency (`half_life`): a weekly series has only 52 points
        a year, so one year of training rows holds each promotion and season once; older
        years add their promotions and seasons at a lower weight. Measured on the real
        dunnhumby file (benchmarks/bench_real_accuracy.py): 60 weeks unweighted 35.4% WAPE,
        104 weeks 34.9%, 156 weeks unweighted 36.5% (old seasons count as much as the
        last one), 156 weeks with a 52-week half-life 34.7%."""
        return self.lgb_train_periods or (156 if self.grain == "W" else 400)

    @property
    def half_life(self) -> int | None:
        """Periods over which a LightGBM training row's weight halves (None: equal
        weights). Default: one year on weekly data, none on daily data."""
        if self.lgb_half_life is not None:
            return self.lgb_half_life or None
        return 52 if self.grain == "W" else None

    def param(self, key: str, default=None):
        return dict(self.params).get(key, default)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cutoff"] = None if self.cutoff is None else self.cutoff.isoformat()
        out["models"] = None if self.models is None else list(self.models)
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
