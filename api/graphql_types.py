"""GraphQL types of /graphql (api/routes_graphql.py), made from the REST API's own pydantic
models (api/schemas.py) so both APIs answer with the same fields, names and descriptions.

Names stay snake_case (`sku_id`, `pin_code`), the vocabulary of the REST API, the
warehouse and the exports. Free-form objects of the REST answers (scenario selections and
assumptions, totals, per-step tables) are the `JSON` scalar. Resolvers return the pydantic
objects themselves (strawberry reads their attributes).
"""
from __future__ import annotations

from typing import NewType, Optional

import strawberry
from strawberry.experimental.pydantic import input as from_input
from strawberry.experimental.pydantic import type as from_model
from strawberry.scalars import JSON

from api import schemas as S
from api.graphql_exec import row_field


# ---- forecasts and accuracy ---------------------------------------------------------------
@from_model(model=S.ForecastPoint, all_fields=True, description="one day of a forecast")
class ForecastPoint:
    pass


@from_model(model=S.Accuracy, all_fields=True,
            description="backtest accuracy of the model a series' forecast used")
class SeriesAccuracy:
    pass


Numbers = strawberry.scalar(
    NewType("Numbers", list), name="Numbers", serialize=list, parse_value=list,
    description="a list of numbers (null where there is none), one per day")
Dates = strawberry.scalar(
    NewType("Dates", list), name="Dates", parse_value=list,
    serialize=lambda days: [d.isoformat() for d in days],
    description="a list of dates written YYYY-MM-DD")


@strawberry.type(description="a forecast as columns, one value per day: the same figures "
                             "as `forecast`, far cheaper to send for many series")
class ForecastColumns:
    date: Dates
    forecast: Numbers
    lo: Numbers = strawberry.field(description="lower bounds of the 95% prediction interval")
    hi: Numbers = strawberry.field(description="upper bounds of the 95% prediction interval")


@from_model(model=S.SeriesForecast, all_fields=True,
            description="one SKU at one PIN code: the latest stored run's forecast with its "
                        "95% prediction interval")
class SeriesForecast:
    @strawberry.field(description="the forecast's days as columns (dashboards asking for "
                                  "many series: one field per column, not per day)")
    @row_field
    def columns(self) -> ForecastColumns:
        points = self.forecast
        return ForecastColumns(date=[p.date for p in points],
                               forecast=[p.forecast for p in points],
                               lo=[p.lo for p in points], hi=[p.hi for p in points])


@from_model(model=S.BatchError, all_fields=True)
class BatchError:
    pass


@from_model(model=S.BatchResponse, all_fields=True)
class BatchForecasts:
    pass


@from_model(model=S.AccuracyRow, all_fields=True)
class AccuracyRow:
    pass


@from_model(model=S.AccuracyResponse, all_fields=True,
            description="backtest accuracy per model and category or state")
class BacktestAccuracy:
    group_by: str = strawberry.field(description="category or state")


@from_input(model=S.BatchItem, all_fields=True)
class SeriesRequest:
    pass


# ---- planning -----------------------------------------------------------------------------
@from_model(model=S.ReorderLine, all_fields=True)
class ReorderLine:
    pass


@from_model(model=S.InventoryResponse, all_fields=True)
class InventoryRecommendations:
    pass


@from_model(model=S.PricingSku, all_fields=True)
class PricingSku:
    pass


@from_model(model=S.PricingResponse, all_fields=True)
class PricingSimulation:
    totals: JSON


@from_input(model=S.PriceChangeIn, all_fields=True)
class PriceChangeInput:
    pass


@from_model(model=S.MandiRow, all_fields=True)
class MandiRow:
    pass


@from_model(model=S.SourcingResponse, all_fields=True)
class MandiRanking:
    pass


# ---- alerts -------------------------------------------------------------------------------
@from_model(model=S.AlertOut, all_fields=True)
class Alert:
    pass


@from_model(model=S.AlertsResponse, all_fields=True)
class Alerts:
    pass


# ---- scenarios ----------------------------------------------------------------------------
@from_model(model=S.ScenarioOut, all_fields=True)
class Scenario:
    selection: JSON
    assumptions: JSON
    summary: Optional[JSON]


@from_model(model=S.ScenarioList, all_fields=True)
class ScenarioList:
    pass


@from_model(model=S.ScenarioStep, all_fields=True)
class ScenarioStep:
    step: str = strawberry.field(description="demand, pricing, reorder or sourcing")
    extras: JSON


@from_model(model=S.ScenarioDemand, all_fields=True)
class ScenarioDemand:
    totals: JSON
    periods: JSON
    by_category: JSON


@from_model(model=S.ScenarioPricing, all_fields=True)
class ScenarioPricing:
    totals: JSON
    by_sku: JSON


@from_model(model=S.ScenarioReorder, all_fields=True)
class ScenarioReorder:
    baseline: Optional[JSON]
    scenario: Optional[JSON]
    lines: JSON


@from_model(model=S.ScenarioSourcing, all_fields=True)
class ScenarioSourcing:
    commodities: JSON
    unlinked: JSON


@from_model(model=S.ScenarioResultOut, all_fields=True)
class ScenarioResult:
    levers: JSON


# ---- live accuracy (engine.forecast.live.summaries) ---------------------------------------
@strawberry.type(description="live scores of one group of a run (a category, a state or a "
                             "horizon step)")
class LiveGroup:
    group: str = strawberry.field(description="the category, state or horizon step")
    n_series: int
    n_periods: int
    n_points: int
    wape: Optional[float] = strawberry.field(description="%")
    bias_pct: Optional[float] = strawberry.field(description="% (> 0 = over-forecast)")
    coverage80: Optional[float]
    coverage95: Optional[float]
    backtest_wape: Optional[float] = strawberry.field(
        description="the run's own backtest WAPE % on the same group")
    drift: bool = strawberry.field(description="live WAPE well above the backtest's")


@strawberry.type(description="a stored forecast run scored on the sales that arrived for "
                             "its horizon")
class LiveRun:
    run_id: str
    created_at: str
    cutoff: Optional[str]
    grain: str
    horizon: Optional[int]
    periods_covered: int
    actuals_through: str
    n_series: int
    n_periods: int
    n_points: int
    wape: Optional[float]
    bias_pct: Optional[float]
    coverage80: Optional[float]
    coverage95: Optional[float]
    backtest_wape: Optional[float]
    drift: bool
    drift_groups: list[str]
    sentence: str
    by_category: list[LiveGroup]
    by_state: list[LiveGroup]
    by_step: list[LiveGroup]


@strawberry.type
class LiveAccuracy:
    drift_ratio: float = strawberry.field(description="MICROPULSE_DRIFT_RATIO")
    drift_min_points: float = strawberry.field(description="MICROPULSE_DRIFT_MIN_POINTS")
    runs: list[LiveRun]


def live_run(summary: dict) -> LiveRun:
    """A LiveRun from one dict of engine.forecast.live.summaries."""
    def groups(dim: str) -> list[LiveGroup]:
        return [LiveGroup(group=str(g[dim]), **{k: v for k, v in g.items() if k != dim})
                for g in summary[f"by_{dim}"]]
    plain = {k: v for k, v in summary.items() if not k.startswith("by_")}
    return LiveRun(**plain, by_category=groups("category"), by_state=groups("state"),
                   by_step=groups("step"))
