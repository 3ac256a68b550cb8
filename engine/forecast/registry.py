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
    """Base class. A model declares what it can do on the class (the pipeline reads it):
    - `cost`: which series it runs on: "cheap" = all series, "statistical" = the top
      `cfg.stat_top_n` by recent volume, "prophet" = the top `cfg.prophet_top_n`;
    - `needs_features`: it takes the feature panel's rows (LightGBM), not just demand;
    - `min_seasons`: full seasons of history a series needs before the model's forecast
      is worth routing to (seasonal naive: 2); shorter series get no forecast from it."""

    name: str = "base"
    cost: str = "cheap"
    needs_features: bool = False
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
