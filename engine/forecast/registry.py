"""The model registry: every model registers under a name and shares one interface.

```python
@register("ets")
class ETSModel(ForecastModel):
    def fit(self, history, cfg): ...      # history: panel rows up to the cutoff
    def predict(self, horizon, future): ...  # future: panel rows after the cutoff
```
`predict` returns `sku_id, pin_code, date, forecast` (non-negative). The router, backtest
and pages only use the registry, so adding a model is one file plus one decorator.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import pandas as pd

from engine.forecast.config import ForecastConfig, ForecastConfigError

_MODELS: dict[str, type] = {}

KEYS = ["sku_id", "pin_code"]


class ForecastModel(ABC):
    """Base class. A model declares what it can do on the class; the runner and the
    execution backends read these capabilities and never test a model's name or kind:
    - `scope`: "per_series" (each series' forecast depends on that series alone, so any
      partition of the series gives the same numbers) or "global" (one model learns
      across all series: fitted once on the pooled training rows of every partition);
    - `top_n`: None = fitted on every series; else the ForecastConfig field holding how
      many top-volume series it runs on ("stat_top_n", "prophet_top_n");
    - `needs_features`: it takes the feature panel's rows (a global model: the training
      rows; a per-series model: every featurised history row), not just demand;
    - `needs_festivals`: it is handed the festival calendar (`model.festivals`);
    - `future_covariates`: it reads the horizon's planned prices and promotions (the
      plan) itself. A global one's plan response (forecast with / without the plan)
      scales the forecasts of the models that cannot read it; a per-series one (Prophet)
      returns its own `forecast_no_plan` on the rows it read the plan on;
    - `worker_processes`: it fits in worker processes of its own (engine.forecast
      .parallel), so nothing may run on a helper thread alongside it (no fork then);
    - `min_seasons`: full seasons of history a series needs before the model's forecast
      is worth routing to (seasonal naive: 2); shorter series get no forecast from it;
    - `cost`: kept for readers of the older attribute ("cheap", "statistical",
      "prophet"); the runner reads the capabilities above."""

    name: str = "base"
    scope: str = "per_series"
    top_n: str | None = None
    needs_features: bool = False
    needs_festivals: bool = False
    future_covariates: bool = False
    worker_processes: bool = False
    cost: str = "cheap"
    min_seasons: int = 0

    @abstractmethod
    def fit(self, history: pd.DataFrame, cfg: ForecastConfig) -> "ForecastModel":
        """Learn from the long history frame (sku_id, pin_code, date, quantity, ...)."""

    @abstractmethod
    def predict(self, horizon: int, future: pd.DataFrame) -> pd.DataFrame:
        """Forecast frame (sku_id, pin_code, date, forecast) for rows of `future`. Keeping
        `future`'s index on those rows lets the runner match them by position; a frame
        with a new index is matched on the keys and date instead (slower)."""


def register(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        cls.name = name
        _MODELS[name] = cls
        return cls
    return deco


def _load_builtin() -> None:
    import engine.forecast.models  # noqa: F401  (registers the built-in models)


def available_models() -> list[str]:
    _load_builtin()
    return sorted(_MODELS)


def model_class(name: str) -> type:
    _load_builtin()
    if name not in _MODELS:
        raise ForecastConfigError(
            f"Unknown forecast model {name!r}. Available: {', '.join(sorted(_MODELS))}.",
            evidence={"model": name}, code="unknown_model")
    return _MODELS[name]


def make_model(name: str) -> ForecastModel:
    return model_class(name)()
