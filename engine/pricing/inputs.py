"""Load what the pricing engine needs from the warehouse (the only pricing module that
touches a Warehouse; the estimator, simulator and optimiser take frames)."""
from __future__ import annotations

import pandas as pd

from engine.pricing.elasticity import PanelInputs, PricingError
from engine.pricing.simulate import Baseline, naive_baseline
from engine.signals.festivals import festival_calendar, festival_effects, festival_uplift
from engine.warehouse.catalog import sku_catalog
from engine.warehouse.db import Warehouse
from engine.warehouse.forecasts import forecast_rows
from engine.warehouse.locations import read_locations
from engine.warehouse.runs import latest_forecast_run
from engine.warehouse.sales_history import sales_history
from engine.warehouse.weather import read_weather

PLACE_FIELDS = ("pin_code", "city", "state", "region")    # what the panel reads of a place


def festival_factors(dates: pd.Series, states, categories, pad_days: int = 0) -> pd.DataFrame:
    """date, state, category, factor for every day in the range widened by `pad_days` each
    side (factor 1 rows dropped)."""
    pad = pd.Timedelta(days=pad_days)
    days = pd.date_range(pd.Timestamp(dates.min()) - pad, pd.Timestamp(dates.max()) + pad,
                         freq="D")
    grid = pd.MultiIndex.from_product(
        [days, sorted(set(states) - {None}), sorted(set(categories) - {None})],
        names=["date", "state", "category"]).to_frame(index=False)
    if grid.empty:
        return grid.assign(factor=[])
    cal = festival_calendar(days[0].year, days[-1].year)
    grid["factor"] = festival_uplift(grid, cal, festival_effects())
    return grid[grid["factor"] != 1.0].reset_index(drop=True)


def load_panel_inputs(wh: Warehouse, sku_ids: list[str] | None = None) -> PanelInputs:
    """Sales history (with the promotion columns the warehouse has) with the catalog,
    locations, city weather and festival factors."""
    sales = sales_history(wh, sku_ids)
    if sales.empty:
        raise PricingError("The warehouse has no sales yet: load the demo or upload a sales "
                           "file before estimating price elasticity.")
    skus = sku_catalog(wh)[["sku_id", "category", "subcategory"]]
    locations = read_locations(wh, PLACE_FIELDS)
    weather = read_weather(wh)       # the cities of the (scope's) locations
    weather = (weather.loc[weather["city"].isin(locations["city"]),
                           ["city", "date", "temp_c", "rainfall_mm"]].reset_index(drop=True))
    # padded by a month: a weekly or monthly row's festival factor is its period's mean
    festival = festival_factors(sales["date"], locations["state"].dropna().unique(),
                                skus["category"].dropna().unique(), pad_days=31)
    return PanelInputs(sales, skus, locations, weather, festival)


def load_catalog(wh: Warehouse) -> pd.DataFrame:
    """sku_id, name, category, subcategory, brand, mrp, unit_cost, price (current regular)."""
    cat = sku_catalog(wh)
    if cat.empty:
        raise PricingError("The warehouse has no SKUs with sales; nothing to price.")
    return cat


def load_locations(wh: Warehouse) -> pd.DataFrame:
    return read_locations(wh, PLACE_FIELDS)


def load_baseline(wh: Warehouse, horizon: int = 28, sales: pd.DataFrame | None = None,
                  sku_ids: list[str] | None = None) -> Baseline:
    """The latest stored forecast run (its whole horizon), else the naive baseline; only
    `sku_ids` when given."""
    run = latest_forecast_run(wh)
    if run is not None:
        rows = forecast_rows(wh, run["run_id"], sku_ids)
        if not rows.empty:
            models = sorted(rows["model"].dropna().unique())
            model = ", ".join(models) if len(models) <= 2 else f"{len(models)} models routed per series"
            weekly = str(run.get("grain") or "D").upper().startswith("W")
            periods = rows["date"].nunique()
            unit = "weeks" if weekly else "days"
            label = (f"forecast run {run['run_id']} ({model}; {periods} {unit} from "
                     f"{pd.Timestamp(rows['date'].min()):%d-%b-%Y})")
            return Baseline(rows[["sku_id", "pin_code", "date", "forecast", "lo", "hi"]],
                            "forecast", label, run["run_id"],
                            horizon_days=periods * (7 if weekly else 1))
    window = 28
    if sales is None:       # the naive baseline reads only the last `window` days
        sales = sales_history(wh, sku_ids, last_days=window)
    return naive_baseline(sales, horizon=horizon, window=window)
